#!/usr/bin/env python3
"""train_ddpm.py - a small but real diffusion training, written the way the
diffusers example trainers are (train_text_to_image.py and friends):

- a UNet denoiser (ResNet blocks, GroupNorm, sinusoidal time embedding,
  skip connections) trained with the DDPM objective (predict the noise
  added at a uniformly drawn timestep t of a 1000-step linear schedule);
- data that exists offline: scikit-learn's bundled handwritten digits
  (8x8, upscaled to --resolution and scaled to [-1, 1]);
- `accelerate` for the processes, DDP and mixed precision (bf16);
- AdamW with linear warm-up then cosine decay, so lr changes every step;
- the diffusers progress bar: tqdm(desc="Steps"), update(1) once per
  optimizer step, then set_postfix(step_loss=..., lr=...);
- checkpoints every --checkpointing_steps with accelerator.save_state,
  logged "Saved state to <output_dir>/checkpoint-N";
- --resume_from_checkpoint latest|PATH (the first step run is the
  checkpoint's step + 1).

Besides its own output it writes a side file (--side_file, JSON lines, one
per optimizer step: step, loss, lr, step_time_ms, and the loss averaged
over all processes) so what drover parsed can be checked step by step.

The bar is made with smoothing=1, mininterval=0, miniters=1: the rate tqdm
draws is then the last step's, so the step time drover reads off the bar
can be compared per step. diffusers keeps tqdm's defaults (a moving
average over redraws at most every 0.1 s); drover then records that
average, which is what the user sees.

Without accelerate installed (for smoke tests on a CPU machine), a small
stand-in gives the same calls: one process, or torch.distributed over gloo
when RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT are set.
"""
import argparse
import json
import logging
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

try:
	from accelerate import Accelerator
	from accelerate.logging import get_logger
	from accelerate.utils import InitProcessGroupKwargs, set_seed
	HAVE_ACCELERATE = True
except ImportError:
	HAVE_ACCELERATE = False


def parse_args(argv=None):
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("--output_dir", required=True)
	p.add_argument("--side_file", default=None)
	p.add_argument("--resolution", type=int, default=32)
	p.add_argument("--base_channels", type=int, default=64)
	p.add_argument("--train_batch_size", type=int, default=128, help="per process")
	p.add_argument("--max_train_steps", type=int, default=600)
	p.add_argument("--learning_rate", type=float, default=3e-4)
	p.add_argument("--lr_warmup_steps", type=int, default=50)
	p.add_argument("--checkpointing_steps", type=int, default=100)
	p.add_argument("--checkpoints_total_limit", type=int, default=None)
	p.add_argument("--resume_from_checkpoint", default=None)
	p.add_argument("--mixed_precision", default=None, choices=["no", "fp16", "bf16"],
	    help="default: accelerate's (its config or --mixed_precision of accelerate launch)")
	p.add_argument("--seed", type=int, default=42)
	p.add_argument("--ddp_backend", default="nccl", choices=["nccl", "gloo"],
	    help="process group backend (gloo: several processes on one GPU)")
	p.add_argument("--nccl_timeout_s", type=int, default=600)
	p.add_argument("--sleep_ms", type=float, default=0.0,
	    help="extra sleep per step (slows a CPU smoke test down to be watchable)")
	return p.parse_args(argv)


# ---------------------------------------------------------------- the model

def timestep_embedding(t, dim):
	half = dim // 2
	freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
	a = t.float()[:, None] * freqs[None]
	return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
	def __init__(self, cin, cout, temb):
		super().__init__()
		self.n1 = nn.GroupNorm(min(32, cin // 4), cin)
		self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
		self.t = nn.Linear(temb, cout)
		self.n2 = nn.GroupNorm(min(32, cout // 4), cout)
		self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
		self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

	def forward(self, x, temb):
		h = self.c1(F.silu(self.n1(x)))
		h = h + self.t(F.silu(temb))[:, :, None, None]
		h = self.c2(F.silu(self.n2(h)))
		return h + self.skip(x)


class UNet(nn.Module):
	"""Three resolutions (C, 2C, 2C), two ResBlocks each way, skips."""

	def __init__(self, ch=64, cin=1):
		super().__init__()
		self.ch = ch
		temb = ch * 4
		self.temb = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
		self.cin = nn.Conv2d(cin, ch, 3, padding=1)
		mult = [1, 2, 2]
		self.down = nn.ModuleList()
		self.downsample = nn.ModuleList()
		c = ch
		skips = [c]
		for i, m in enumerate(mult):
			for _ in range(2):
				self.down.append(ResBlock(c, ch * m, temb))
				c = ch * m
				skips.append(c)
			if i < len(mult) - 1:
				self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
				skips.append(c)
		self.mid1 = ResBlock(c, c, temb)
		self.mid2 = ResBlock(c, c, temb)
		self.up = nn.ModuleList()
		self.upsample = nn.ModuleList()
		for i, m in reversed(list(enumerate(mult))):
			for _ in range(3):
				self.up.append(ResBlock(c + skips.pop(), ch * m, temb))
				c = ch * m
			if i > 0:
				self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
		self.nout = nn.GroupNorm(min(32, c // 4), c)
		self.cout = nn.Conv2d(c, cin, 3, padding=1)
		self.mult = mult

	def forward(self, x, t):
		temb = self.temb(timestep_embedding(t, self.ch))
		h = self.cin(x)
		hs = [h]
		di = 0
		for i in range(len(self.mult)):
			for _ in range(2):
				h = self.down[di](h, temb)
				di += 1
				hs.append(h)
			if i < len(self.mult) - 1:
				h = self.downsample[i](h)
				hs.append(h)
		h = self.mid2(self.mid1(h, temb), temb)
		ui = 0
		for k, i in enumerate(reversed(range(len(self.mult)))):
			for _ in range(3):
				h = self.up[ui](torch.cat([h, hs.pop()], dim=1), temb)
				ui += 1
			if i > 0:
				h = self.upsample[k](F.interpolate(h, scale_factor=2, mode="nearest"))
		return self.cout(F.silu(self.nout(h)))


# ----------------------------------------------------------------- the data

def load_digits_images(resolution):
	from sklearn.datasets import load_digits
	d = load_digits()
	x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16.0	# 1797x1x8x8 in [0, 1]
	x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
	return x.clamp(0, 1) * 2 - 1


# ------------------------------------- a stand-in for accelerate (CPU tests)

class _MiniAccelerator:
	def __init__(self, backend):
		self.num_processes = int(os.environ.get("WORLD_SIZE", "1"))
		self.process_index = int(os.environ.get("RANK", "0"))
		self.local_process_index = int(os.environ.get("LOCAL_RANK", "0"))
		self.is_main_process = self.process_index == 0
		self.is_local_main_process = self.local_process_index == 0
		self.device = torch.device("cpu")
		self.mixed_precision = "no"
		self.sync_gradients = True
		self._objs = []
		if self.num_processes > 1:
			import torch.distributed as dist
			dist.init_process_group("gloo")

	def prepare(self, *objs):
		out = []
		for o in objs:
			if isinstance(o, nn.Module) and self.num_processes > 1:
				o = nn.parallel.DistributedDataParallel(o)
			out.append(o)
			self._objs.append(o)
		return out

	def backward(self, loss):
		loss.backward()

	def clip_grad_norm_(self, params, v):
		return torch.nn.utils.clip_grad_norm_(params, v)

	def reduce(self, t, reduction="mean"):
		if self.num_processes > 1:
			import torch.distributed as dist
			t = t.clone()
			dist.all_reduce(t)
			if reduction == "mean":
				t /= self.num_processes
		return t

	def wait_for_everyone(self):
		if self.num_processes > 1:
			import torch.distributed as dist
			dist.barrier()

	def save_state(self, path):
		os.makedirs(path, exist_ok=True)
		if self.is_main_process:
			torch.save([o.state_dict() for o in self._objs], os.path.join(path, "state.pt"))
		self.wait_for_everyone()

	def load_state(self, path):
		for o, s in zip(self._objs, torch.load(os.path.join(path, "state.pt"))):
			o.load_state_dict(s)

	def print(self, *a):
		if self.is_main_process:
			print(*a)

	def end_training(self):
		if self.num_processes > 1:
			import torch.distributed as dist
			dist.destroy_process_group()


class _MainOnly(logging.LoggerAdapter):
	def log(self, level, msg, *a, main_process_only=True, **kw):
		if not main_process_only or int(os.environ.get("RANK", "0")) == 0:
			self.logger.log(level, msg, *a, **kw)


# --------------------------------------------------------------- training

def main(argv=None):
	args = parse_args(argv)
	logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
	    datefmt="%m/%d/%Y %H:%M:%S", level=logging.INFO)
	if HAVE_ACCELERATE:
		from datetime import timedelta
		logger = get_logger(__name__, log_level="INFO")
		kw = {}
		if args.mixed_precision is not None:
			kw["mixed_precision"] = args.mixed_precision
		accelerator = Accelerator(kwargs_handlers=[InitProcessGroupKwargs(
		    backend=args.ddp_backend, timeout=timedelta(seconds=args.nccl_timeout_s))], **kw)
		set_seed(args.seed)
	else:
		logger = _MainOnly(logging.getLogger(__name__), {})
		accelerator = _MiniAccelerator(args.ddp_backend)
		torch.manual_seed(args.seed)
		random.seed(args.seed)
		np.random.seed(args.seed)
	logger.info(accelerator.state if HAVE_ACCELERATE else "no accelerate: stand-in", main_process_only=False)
	device = accelerator.device

	data = load_digits_images(args.resolution).to(device)
	model = UNet(args.base_channels)
	nparams = sum(p.numel() for p in model.parameters())
	optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=1e-2)

	# accelerate steps a prepared scheduler once per process for each
	# optimizer step (diffusers scales its warm-up and total the same way).
	mult = accelerator.num_processes if HAVE_ACCELERATE else 1
	warmup, total = args.lr_warmup_steps * mult, args.max_train_steps * mult

	def lr_lambda(step):
		if step < warmup:
			return (step + 1) / warmup
		prog = (step - warmup) / max(1, total - warmup)
		return 0.5 * (1 + math.cos(math.pi * min(1.0, prog)))
	lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
	model, optimizer, lr_scheduler = accelerator.prepare(model, optimizer, lr_scheduler)

	# DDPM: 1000 steps, linear betas.
	T = 1000
	betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
	alphas_cumprod = torch.cumprod(1 - betas, 0).float().to(device)

	total_batch = args.train_batch_size * accelerator.num_processes
	logger.info("***** Running training *****")
	logger.info(f"  Num examples = {data.shape[0]}")
	logger.info(f"  Model parameters = {nparams}")
	logger.info(f"  Instantaneous batch size per device = {args.train_batch_size}")
	logger.info(f"  Total train batch size (w. parallel, distributed & accumulation) = {total_batch}")
	logger.info(f"  Total optimization steps = {args.max_train_steps}")

	global_step = 0
	initial_global_step = 0
	if args.resume_from_checkpoint:
		if args.resume_from_checkpoint != "latest":
			path = os.path.basename(args.resume_from_checkpoint)
		else:
			dirs = [d for d in os.listdir(args.output_dir) if d.startswith("checkpoint")] \
			    if os.path.isdir(args.output_dir) else []
			dirs = sorted(dirs, key=lambda x: int(x.split("-")[1]))
			path = dirs[-1] if dirs else None
		if path is None:
			accelerator.print(f"Checkpoint '{args.resume_from_checkpoint}' does not exist. Starting a new training run.")
			args.resume_from_checkpoint = None
		else:
			accelerator.print(f"Resuming from checkpoint {path}")
			accelerator.load_state(os.path.join(args.output_dir, path))
			global_step = int(path.split("-")[1])
			initial_global_step = global_step

	side = None
	if args.side_file and accelerator.is_local_main_process:
		os.makedirs(os.path.dirname(os.path.abspath(args.side_file)), exist_ok=True)
		side = open(args.side_file, "a", buffering=1)

	progress_bar = tqdm(range(0, args.max_train_steps), initial=initial_global_step, desc="Steps",
	    disable=not accelerator.is_local_main_process, smoothing=1.0, mininterval=0, miniters=1)
	t_prev = time.perf_counter()
	model.train()
	while global_step < args.max_train_steps:
		# The batch of step s on process r is a function of (seed, s, r):
		# a resumed run sees the batches the first run would have.
		g = torch.Generator(device="cpu").manual_seed(args.seed * 1000003 + global_step * 131 + accelerator.process_index)
		idx = torch.randint(0, data.shape[0], (args.train_batch_size,), generator=g)
		x0 = data[idx.to(device)]
		noise = torch.randn(x0.shape, generator=g).to(device)
		t = torch.randint(0, T, (args.train_batch_size,), generator=g).to(device)
		ab = alphas_cumprod[t][:, None, None, None]
		xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise

		pred = model(xt, t)
		loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
		accelerator.backward(loss)
		if accelerator.sync_gradients:
			accelerator.clip_grad_norm_(model.parameters(), 1.0)
		optimizer.step()
		lr_scheduler.step()
		optimizer.zero_grad(set_to_none=True)
		avg_loss = accelerator.reduce(loss.detach(), reduction="mean")
		if args.sleep_ms > 0:
			time.sleep(args.sleep_ms / 1000.0)

		if accelerator.sync_gradients:
			step_loss = loss.detach().item()
			lr = lr_scheduler.get_last_lr()[0]
			now = time.perf_counter()
			step_ms = (now - t_prev) * 1000.0
			t_prev = now
			progress_bar.update(1)
			global_step += 1
			if side is not None:
				side.write(json.dumps({"step": global_step, "loss": step_loss, "lr": lr,
				    "step_time_ms": round(step_ms, 4), "avg_loss": avg_loss.item(),
				    "rank": accelerator.process_index, "pid": os.getpid(), "t": time.time()}) + "\n")
			if global_step % args.checkpointing_steps == 0:
				save_path = os.path.join(args.output_dir, f"checkpoint-{global_step}")
				if accelerator.is_main_process and args.checkpoints_total_limit is not None:
					old = sorted([d for d in os.listdir(args.output_dir) if d.startswith("checkpoint")],
					    key=lambda x: int(x.split("-")[1])) if os.path.isdir(args.output_dir) else []
					for d in old[:max(0, len(old) - args.checkpoints_total_limit + 1)]:
						shutil.rmtree(os.path.join(args.output_dir, d))
				accelerator.save_state(save_path)
				logger.info(f"Saved state to {save_path}")
			progress_bar.set_postfix(step_loss=step_loss, lr=lr)

	progress_bar.close()
	accelerator.wait_for_everyone()
	logger.info(f"Training done at step {global_step}")
	if side is not None:
		side.close()
	accelerator.end_training()
	return 0


if __name__ == "__main__":
	sys.exit(main())
