#!/usr/bin/python3
"""ddpm_toy.py - the demo's training core: a real, small DDPM on a 2-D toy
distribution (eight Gaussians on a ring), in numpy alone.

What it trains: an MLP eps_theta(x_t, t) (2 + 16 time features -> 128 ->
128 -> 2, ReLU) with the DDPM objective (Ho et al. 2020): pick t, noise
x_0 into x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, regress eps with
MSE. Adam, cosine learning-rate decay. The loss falls from ~1 to ~0.4;
at the end it samples 2000 points with the reverse process and says how
many land near one of the eight modes (about 5% would by chance).

How the hosts share the work (data parallel, honestly): the data set is
one fixed draw of 32000 points; host k of N trains on its shard, every
N-th point from k. The replicas start from the same weights and do not
exchange gradients (there is no all-reduce here): each learns the
distribution from its own quarter.

How it prints: as the trainer whose format --format names, so that the
agent's parsers meet the real byte streams (shared/formats.md):
  diffusers  tqdm bar "Steps" on stderr, postfix lr, step_loss; accelerate
             "Saved state to .../checkpoint-N"
  mindone    "Step i/N, size: (...), lr: ..., loss: ..., time cost: ... ms";
             "save checkpoint to .../ddpm_N.ckpt"
  kohya      tqdm bar "steps" on stderr, postfix avr_loss; "epoch e/E"
             lines; "saving checkpoint: .../ddpm-stepNNNNNNNN.npz"
  jsonl      one JSON object per step
Checkpoints are numpy .npz archives whatever their names say. A run that
finds a checkpoint in its directory resumes from the newest one.

--fail-at K makes it exit 1 after step K unless the file given with
--fail-marker exists (it creates the file first): the demo's scripted
failure, on the first attempt only, so that a relaunch succeeds.

  ddpm_toy.py --format FMT --node-rank K --nnodes N [--steps 240]
              [--batch 512] [--min-step-ms 90] [--ckpt-every 40]
              [--ckpt-dir DIR] [--fail-at K --fail-marker FILE]
"""
import argparse
import json
import math
import os
import sys
import time

try:
    import numpy as np
except ImportError:
    sys.stderr.write("ddpm_toy.py: numpy is missing; on Debian/Ubuntu: "
                     "apt-get install python3-numpy (and run this with "
                     "/usr/bin/python3)\n")
    sys.exit(2)

T = 100                 # diffusion steps
TEMB = 16               # time features
HID = 128
MODES = np.array([[2.0 * math.cos(a), 2.0 * math.sin(a)]
                  for a in np.arange(8) * (math.pi / 4)])


def dataset(node_rank, nnodes):
    rng = np.random.default_rng(1234)
    n = 32000
    idx = rng.integers(0, 8, n)
    x = MODES[idx] + 0.1 * rng.standard_normal((n, 2))
    return x[node_rank::nnodes]


def schedule():
    betas = np.linspace(1e-4, 0.1, T)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    return betas, alphas, abar


def temb(t):
    half = TEMB // 2
    freqs = np.exp(-math.log(1000.0) * np.arange(half) / half)
    a = t[:, None] * freqs[None, :]
    return np.concatenate([np.sin(a), np.cos(a)], axis=1)


def init_params(seed):
    rng = np.random.default_rng(seed)

    def lin(i, o):
        return rng.standard_normal((i, o)) * math.sqrt(2.0 / i), np.zeros(o)
    p = {}
    p["w1"], p["b1"] = lin(2 + TEMB, HID)
    p["w2"], p["b2"] = lin(HID, HID)
    p["w3"], p["b3"] = lin(HID, 2)
    p["w3"] *= 0.1
    return p


def forward(p, x, t):
    h0 = np.concatenate([x, temb(t)], axis=1)
    z1 = h0 @ p["w1"] + p["b1"]
    h1 = np.maximum(z1, 0)
    z2 = h1 @ p["w2"] + p["b2"]
    h2 = np.maximum(z2, 0)
    out = h2 @ p["w3"] + p["b3"]
    return out, (h0, z1, h1, z2, h2)


def loss_and_grads(p, x, t, eps):
    out, (h0, z1, h1, z2, h2) = forward(p, x, t)
    d = out - eps
    loss = float(np.mean(np.sum(d * d, axis=1)) / 2.0)
    g = {}
    dout = d / x.shape[0]
    g["w3"] = h2.T @ dout
    g["b3"] = dout.sum(0)
    dh2 = dout @ p["w3"].T * (z2 > 0)
    g["w2"] = h1.T @ dh2
    g["b2"] = dh2.sum(0)
    dh1 = dh2 @ p["w2"].T * (z1 > 0)
    g["w1"] = h0.T @ dh1
    g["b1"] = dh1.sum(0)
    return loss, g


def sample(p, n, seed):
    betas, alphas, abar = schedule()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    for i in reversed(range(T)):
        t = np.full(n, float(i))
        eps, _ = forward(p, x, t)
        x = (x - betas[i] / math.sqrt(1.0 - abar[i]) * eps) / math.sqrt(alphas[i])
        if i > 0:
            x = x + math.sqrt(betas[i]) * rng.standard_normal((n, 2))
    return x


def g3(v):
    # tqdm's postfix: .3g with the exponent's leading zero removed.
    s = "%.3g" % v
    if "e" in s:
        m, e = s.split("e")
        neg = e.startswith("-")
        e = e.lstrip("+-").lstrip("0") or "0"
        s = m + "e" + ("-" if neg else "") + e
    return s


def fmt_time(s):
    s = int(s)
    return "%02d:%02d" % (s // 60, s % 60) if s < 3600 else \
        "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def bar(desc, n, total, elapsed, postfix, initial=0):
    pct = int(100 * n / total)
    full = 10 * n / total
    blocks = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589"
    b = "\u2588" * int(full)
    if int(full) < 10:
        b += blocks[int((full - int(full)) * 8)]
    b = b.ljust(10)
    rate = (n - initial) / elapsed if elapsed > 0 else 0
    if rate <= 0:
        r, rem = "?it/s", "?"
    else:
        r = ("%5.2fit/s" % rate) if rate >= 1 else ("%5.2fs/it" % (1 / rate))
        rem = fmt_time((total - n) / rate)
    return "%s: %3d%%|%s| %d/%d [%s<%s, %s, %s]" % (
        desc, pct, b, n, total, fmt_time(elapsed), rem, r, postfix)


class Printer:
    """Progress in the format of one real trainer."""

    def __init__(self, fmt, total, batch, epochs, ckpt_dir):
        self.fmt, self.total, self.batch = fmt, total, batch
        self.epochs, self.ckpt_dir = epochs, ckpt_dir
        self.t0 = time.time()
        self.recent = []
        self.initial = 0

    def start(self, first):
        self.initial = first - 1   # tqdm(initial=...) on a resumed run
        now = time.strftime("%m/%d/%Y %H:%M:%S")
        if self.fmt == "diffusers":
            print("%s - INFO - __main__ - ***** Running training *****" % now)
            print("%s - INFO - __main__ -   Instantaneous batch size per "
                  "device = %d" % (now, self.batch))
            print("%s - INFO - __main__ -   Total optimization steps = %d"
                  % (now, self.total), flush=True)
        elif self.fmt == "mindone":
            print("The first step will be compiled for the graph, which may "
                  "take a long time; You can come back later :)", flush=True)
        elif self.fmt == "kohya":
            print("running training / \u5b66\u7fd2\u958b\u59cb")
            print("  total optimization steps / \u5b66\u7fd2\u30b9\u30c6"
                  "\u30c3\u30d7\u6570: %d" % self.total, flush=True)
        if first > 1:
            print("resuming from step %d" % (first - 1), flush=True)

    def epoch(self, e):
        if self.fmt == "kohya":
            print("\nepoch %d/%d" % (e, self.epochs), flush=True)

    def step(self, s, e, loss, lr, step_ms):
        if self.fmt == "diffusers":
            sys.stderr.write("\r" + bar("Steps", s, self.total,
                             time.time() - self.t0,
                             "lr=%s, step_loss=%s" % (g3(lr), g3(loss)),
                             self.initial))
            sys.stderr.flush()
        elif self.fmt == "kohya":
            self.recent = (self.recent + [loss])[-20:]
            avr = sum(self.recent) / len(self.recent)
            sys.stderr.write("\r" + bar("steps", s, self.total,
                             time.time() - self.t0, "avr_loss=%s" % g3(avr),
                             self.initial))
            sys.stderr.flush()
        elif self.fmt == "mindone":
            print("Step %d/%d, size: (%d, 2), lr: %r, loss: %.6f, time cost: "
                  "%.2f ms" % (s, self.total, self.batch,
                               float(np.float32(lr)), loss, step_ms),
                  flush=True)
        else:
            print(json.dumps({"step": s, "total_steps": self.total,
                              "epoch": e, "loss": round(loss, 6),
                              "lr": lr, "step_time_ms": round(step_ms, 2)}),
                  flush=True)

    def ckpt_path(self, s):
        d = self.ckpt_dir
        if self.fmt == "diffusers" or self.fmt == "jsonl":
            os.makedirs(os.path.join(d, "checkpoint-%d" % s), exist_ok=True)
            return (os.path.join(d, "checkpoint-%d" % s, "model.npz"),
                    "Saved state to %s" % os.path.join(d, "checkpoint-%d" % s))
        if self.fmt == "mindone":
            os.makedirs(os.path.join(d, "weights"), exist_ok=True)
            p = os.path.join(d, "weights", "ddpm_%d.ckpt" % s)
            return p, "save checkpoint to %s" % p
        p = os.path.join(d, "ddpm-step%08d.npz" % s)
        return p, "saving checkpoint: %s" % p

    def saved(self, line):
        if self.fmt in ("diffusers", "kohya"):
            sys.stderr.write("\n")
            sys.stderr.flush()
        print(line, flush=True)

    def end(self):
        if self.fmt in ("diffusers", "kohya"):
            sys.stderr.write("\n")
            sys.stderr.flush()


def save(path, latest, p, opt, step):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, step=step, **p,
                 **{"m_" + k: x for k, x in opt[0].items()},
                 **{"v_" + k: x for k, x in opt[1].items()})
    os.replace(tmp, path)
    with open(latest + ".tmp", "w") as f:
        f.write("%d %s\n" % (step, path))
    os.replace(latest + ".tmp", latest)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--format", required=True,
                    choices=["diffusers", "mindone", "kohya", "jsonl"])
    ap.add_argument("--node-rank", type=int, default=0)
    ap.add_argument("--nnodes", type=int, default=1)
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-step-ms", type=float, default=0,
                    help="pace: a step takes at least this long (so a "
                    "person can watch; the work in it is real)")
    ap.add_argument("--ckpt-every", type=int, default=40)
    ap.add_argument("--ckpt-dir", default=".")
    ap.add_argument("--fail-at", type=int, default=0)
    ap.add_argument("--fail-marker")
    a = ap.parse_args()
    if not 0 <= a.node_rank < a.nnodes:
        ap.error("--node-rank %d: expected 0..%d" % (a.node_rank, a.nnodes - 1))
    if a.fail_at and not a.fail_marker:
        ap.error("--fail-at needs --fail-marker (the failure is once only)")

    os.makedirs(a.ckpt_dir, exist_ok=True)
    latest = os.path.join(a.ckpt_dir, "latest-checkpoint")
    data = dataset(a.node_rank, a.nnodes)
    per_epoch = max(1, len(data) // a.batch)
    epochs = (a.steps + per_epoch - 1) // per_epoch
    p = init_params(42)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(v) for k, v in p.items()}
    first = 1
    if os.path.exists(latest):
        with open(latest) as f:
            step_s, path = f.read().split(" ", 1)
        z = np.load(path.strip())
        for k in p:
            p[k], m[k], v[k] = z[k], z["m_" + k], z["v_" + k]
        first = int(z["step"]) + 1
    _, _, abar = schedule()
    rng = np.random.default_rng(1000 + 17 * a.node_rank + first)
    out = Printer(a.format, a.steps, a.batch, epochs, a.ckpt_dir)
    out.start(first)
    fail = a.fail_at and not os.path.exists(a.fail_marker)
    b1, b2 = 0.9, 0.999
    epoch = 0
    for s in range(first, a.steps + 1):
        t0 = time.time()
        e = (s - 1) // per_epoch + 1
        if e != epoch:
            epoch = e
            out.epoch(e)
        i = (s - 1) % per_epoch
        perm = np.random.default_rng(e).permutation(len(data))
        x0 = data[perm[i * a.batch:(i + 1) * a.batch]]
        n = x0.shape[0]
        t = rng.integers(0, T, n)
        eps = rng.standard_normal((n, 2))
        xt = np.sqrt(abar[t])[:, None] * x0 + np.sqrt(1 - abar[t])[:, None] * eps
        loss, g = loss_and_grads(p, xt, t.astype(float), eps)
        lr = a.lr * 0.5 * (1 + math.cos(math.pi * (s - 1) / a.steps))
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
            mh = m[k] / (1 - b1 ** s)
            vh = v[k] / (1 - b2 ** s)
            p[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
        spent = time.time() - t0
        if a.min_step_ms > 0 and spent * 1000 < a.min_step_ms:
            time.sleep(a.min_step_ms / 1000 - spent)
        out.step(s, e, loss, lr, (time.time() - t0) * 1000)
        if a.ckpt_every and s % a.ckpt_every == 0 and s < a.steps:
            path, line = out.ckpt_path(s)
            save(path, latest, p, (m, v), s)
            out.saved(line)
        if fail and s == a.fail_at:
            open(a.fail_marker, "w").close()
            out.end()
            sys.stderr.write(
                "Traceback (most recent call last):\n"
                '  File "ddpm_toy.py", line 1, in <module>\n'
                "RuntimeError: scripted demo failure at step %d on node %d "
                "(first attempt only; relaunch it)\n" % (s, a.node_rank))
            sys.stderr.flush()
            sys.exit(1)
    out.end()
    xs = sample(p, 2000, 7 + a.node_rank)
    d = np.min(np.linalg.norm(xs[:, None, :] - MODES[None], axis=2), axis=1)
    near = float(np.mean(d < 0.5))
    print("sample check: %.0f%% of 2000 samples within 0.5 of a mode "
          "(about 5%% by chance)" % (100 * near), flush=True)


if __name__ == "__main__":
    main()
