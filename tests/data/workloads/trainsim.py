#!/usr/bin/env python3
"""trainsim.py - a stand-in training core for drover's integration tests.

It prints progress exactly as the real trainers do (formats.md): a diffusers
tqdm bar redrawn with '\r' on stderr, MindONE 'Step i/N' lines, kohya's bar,
or JSON lines, at a steady pace, so the agent's capture and parsers meet real
byte streams. Loss for step s is 1/(s+1), lr is 1e-4; tests check those.

  trainsim.py --format diffusers --steps 20 --interval 0.05
              [--fail-at STEP --exit-code N] [--ignore-term] [--start STEP]
              [--pidfile F] [--print-env NAME] [--print-argv]
"""
import argparse, os, signal, sys, time


def g3(v):
    # tqdm's postfix: .3g with the exponent's leading zero removed.
    s = "%.3g" % v
    if "e" in s:
        m, e = s.split("e")
        sign = e[0] if e[0] in "+-" else ""
        e = e.lstrip("+-").lstrip("0") or "0"
        s = m + "e" + ("-" if sign == "-" else "") + e
    return s


def bar(desc, n, total, rate, postfix):
    pct = int(100 * n / total) if total else 0
    filled = int(10 * n / total) if total else 0
    b = "\u2588" * filled + " " * (10 - filled)
    r = ("%5.2fit/s" % rate) if rate >= 1 else ("%5.2fs/it" % (1 / rate))
    return "%s: %3d%%|%s| %d/%d [00:01<00:02, %s, %s]" % (
        desc, pct, b, n, total, r, postfix)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--format", default="diffusers")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--start", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--fail-at", type=int, default=0)
    ap.add_argument("--exit-code", type=int, default=1)
    ap.add_argument("--ignore-term", action="store_true")
    ap.add_argument("--pidfile")
    ap.add_argument("--print-env")
    ap.add_argument("--print-argv", action="store_true")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args()
    if a.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(a.pidfile + ".tmp", a.pidfile)
    if a.print_env:
        print("env %s=%s" % (a.print_env, os.environ.get(a.print_env, "")))
    if a.print_argv:
        print("argv-hex " + " ".join(x.encode("utf-8", "surrogateescape").hex()
                                     for x in sys.argv[1:]))
    out = sys.stderr if a.format in ("diffusers", "kohya") else sys.stdout
    if a.format == "mindone":
        print("The first step will be compiled for the graph, which may take"
              " a long time; You can come back later :)")
    if a.format == "kohya":
        print("total optimization steps / \u5b66\u7fd2\u30b9\u30c6\u30c3\u30d7\u6570: %d" % a.steps)
        print("\nepoch 1/1")
    rate = 1.0 / a.interval
    for s in range(a.start, a.steps + 1):
        loss = 1.0 / (s + 1)
        time.sleep(a.interval)
        if a.format == "diffusers":
            # Two micro-steps per optimizer step: the last postfix counts.
            for micro in (2.0, 1.0):
                out.write("\r" + bar("Steps", s, a.steps, rate, "lr=%s, step_loss=%s"
                                     % (g3(1e-4), g3(loss * micro))))
                out.flush()
        elif a.format == "kohya":
            out.write("\r" + bar("steps", s, a.steps, rate, "avr_loss=%s" % g3(loss)))
            out.flush()
        elif a.format == "mindone":
            print("Step %d/%d, size: (4, 3, 1024, 1024), lr: 9.999999747378752e-05,"
                  " loss: %.6f, time cost: %.2f ms" % (s, a.steps, loss,
                                                        a.interval * 1000), flush=True)
        else:
            print('{"step": %d, "total_steps": %d, "loss": %r, "lr": 0.0001}'
                  % (s, a.steps, loss), flush=True)
        if a.fail_at and s == a.fail_at:
            sys.stderr.write("\nTraceback (most recent call last):\n"
                             '  File "train.py", line 42, in <module>\n'
                             "    main()\n"
                             "RuntimeError: simulated failure at step %d\n" % s)
            sys.stderr.flush()
            sys.exit(a.exit_code)
    if a.format in ("diffusers", "kohya"):
        out.write("\n")
        out.flush()
    print("done", flush=True)


if __name__ == "__main__":
    main()
