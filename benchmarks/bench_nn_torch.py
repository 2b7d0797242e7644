"""Seconds per training epoch: warpkit.nn models vs the same models in PyTorch (CPU).

An epoch is ``--samples`` random (42, 42, 1) float32 images (the RTS canvas) with random
labels, in batches of 64; each batch is one forward, one backward and one Adam step (lr 1e-3)
on softmax cross-entropy. Both frameworks see the same data, the same architectures
(see :mod:`warpkit.nn.models`) and the same number of threads (``torch.set_num_threads``).
``--batches`` times only the first batches of the epoch and extrapolates (the per-batch cost is
constant for random data). The first ``--warmup`` batches (JIT compilation, allocator warm-up)
are not timed. The two frameworks take turns in ``--rounds`` chunks so that changes in machine
load hit both alike; the table shows the median round (and the best one). With ``--isolate``
every round of each framework runs in a fresh process: in one shared process PyTorch's speed
depends on the malloc state warpkit's steps left behind (PyTorch's large buffers come from mmap
and cost page faults each step), so ``--isolate`` is the fair comparison.

Usage::

    python benchmarks/bench_nn_torch.py --isolate --out nn_bench.json
    python benchmarks/bench_nn_torch.py --models st-fcn --batches 60 --out st_fcn.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def _thread_env(argv: list[str]) -> None:
    """Apply ``--threads N`` to numpy's BLAS and numba too; must run before they are imported."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else None
        if arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None:
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "NUMBA_NUM_THREADS"):
                os.environ[var] = value


_thread_env(sys.argv[1:])

# isort: off
import warpkit  # noqa: E402, F401  (before numpy, as the warpkit command: see warpkit._threads)
import numpy as np  # noqa: E402
# isort: on

from warpkit._bench import host_cpu  # noqa: E402
from warpkit.nn import Adam, models, softmax_cross_entropy  # noqa: E402


# --------------------------------------------------------------------------- warpkit
def warpkit_step_fn(name: str, shape: tuple[int, int, int], seed: int):
    model = models.build(name, shape, 10, seed)
    opt = Adam(model, lr=1e-3)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        model.zero_grad()
        loss, dlogits = softmax_cross_entropy(model.forward(xb, training=True), yb)
        model.backward(dlogits)
        opt.step()
        return loss

    return step


# --------------------------------------------------------------------------- torch
def torch_model(name: str, shape: tuple[int, int, int]):
    """The same architecture in PyTorch (NCHW); ST models use affine_grid + grid_sample."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    H, W, C = shape

    def out_len(n: int, convs: list[tuple[str, int]]) -> int:
        for kind, k in convs:
            n = n // 2 if kind == "pool" else n - k + 1
        return n

    def fcn():
        return nn.Sequential(
            nn.Flatten(), nn.Linear(H * W * C, 256), nn.ReLU(),
            nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10),
        )

    def cnn():
        h, w = H // 2 // 2, W // 2 // 2
        return nn.Sequential(
            nn.Conv2d(C, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * h * w, 256), nn.ReLU(), nn.Linear(256, 10),
        )

    class STN(nn.Module):
        def __init__(self, classifier: nn.Module) -> None:
            super().__init__()
            plan = [("pool", 2), ("conv", 5), ("pool", 2), ("conv", 5)]
            h, w = out_len(H, plan), out_len(W, plan)
            self.loc = nn.Sequential(
                nn.MaxPool2d(2), nn.Conv2d(C, 20, 5), nn.ReLU(),
                nn.MaxPool2d(2), nn.Conv2d(20, 20, 5), nn.ReLU(),
                nn.Flatten(), nn.Linear(20 * h * w, 50), nn.ReLU(), nn.Linear(50, 6),
            )
            with torch.no_grad():
                self.loc[-1].weight.zero_()
                self.loc[-1].bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))
            self.classifier = classifier

        def forward(self, x):
            theta = self.loc(x).view(-1, 2, 3)
            grid = F.affine_grid(theta, x.shape, align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros",
                              align_corners=False)
            return self.classifier(x)

    base = fcn() if name.endswith("fcn") else cnn()
    return STN(base) if name.startswith("st-") else base


def torch_step_fn(name: str, shape: tuple[int, int, int], seed: int):
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    model = torch_model(name, shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        x = torch.from_numpy(xb).permute(0, 3, 1, 2)  # NHWC -> NCHW view, as a user would
        y = torch.from_numpy(yb)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


# --------------------------------------------------------------------------- timing
def _timed_and_rounds(samples: int, batch: int, batches: int, rounds: int) -> tuple[int, int]:
    """(batches timed, rounds): ``batches`` of the epoch (all when 0), in at most as many
    rounds as batches."""
    n_batches = -(-samples // batch)
    timed = min(batches, n_batches) if batches > 0 else n_batches
    return timed, max(1, min(rounds, timed))


def time_interleaved(steps: dict, x: np.ndarray, y: np.ndarray, batch: int, batches: int,
                     warmup: int, rounds: int) -> dict:
    """Seconds per batch for each step function, timed in alternating rounds.

    The timed batches are cut into ``rounds`` chunks and the frameworks take turns chunk by
    chunk, so that a change in machine load hits both alike. Returns, per name, the median and
    the minimum over rounds of the mean seconds per batch.
    """
    timed, rounds = _timed_and_rounds(len(x), batch, batches, rounds)
    for step in steps.values():
        for i in range(warmup):
            step(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
    per_round: dict[str, list[float]] = {name: [] for name in steps}
    bounds = np.linspace(0, timed, rounds + 1).astype(int)
    for r in range(rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for i in range(bounds[r], bounds[r + 1]):
                step(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
            per_round[name].append((time.perf_counter() - t0) / (bounds[r + 1] - bounds[r]))
    return {name: (float(np.median(v)), float(np.min(v))) for name, v in per_round.items()}


def _data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int]]:
    rng = np.random.default_rng(args.seed)
    shape = (args.size, args.size, 1)
    x = rng.random((args.samples,) + shape, dtype=np.float32)
    return x, rng.integers(0, 10, args.samples).astype(np.int64), shape


def _worker(args: argparse.Namespace) -> int:
    """One round of one framework in this process: print its mean seconds per batch."""
    x, y, shape = _data(args)
    if args.worker == "torch":
        import torch

        torch.set_num_threads(args.threads)
        step = torch_step_fn(args.models[0], shape, args.seed)
    else:
        step = warpkit_step_fn(args.models[0], shape, args.seed)
    res = time_interleaved({args.worker: step}, x, y, args.batch, args.batches, args.warmup, 1)
    print(json.dumps({"s_per_batch": res[args.worker][0]}))
    return 0


def time_isolated(name: str, frameworks: list[str], args: argparse.Namespace) -> dict:
    """Like :func:`time_interleaved`, but every round of every framework runs in a fresh
    process (A B A B ...): PyTorch's speed here depends on the malloc state that the other
    framework left behind (its large buffers come from mmap, and page faults are costly)."""
    timed, rounds = _timed_and_rounds(args.samples, args.batch, args.batches, args.rounds)
    per_round: dict[str, list[float]] = {fw: [] for fw in frameworks}
    for _ in range(rounds):
        for fw in frameworks:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw, "--models", name,
                   "--batches", str(max(1, timed // rounds)), "--warmup", str(args.warmup),
                   "--size", str(args.size), "--samples", str(args.samples),
                   "--batch", str(args.batch), "--seed", str(args.seed),
                   "--threads", str(args.threads)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the {fw} worker for {name} failed:\n{done.stderr}")
            per_round[fw].append(json.loads(done.stdout.strip().splitlines()[-1])["s_per_batch"])
    return {fw: (float(np.median(v)), float(np.min(v))) for fw, v in per_round.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(models.MODEL_NAMES),
                   choices=list(models.MODEL_NAMES))
    p.add_argument("--samples", type=int, default=11_500)
    p.add_argument("--size", type=int, default=42, help="square image side (42 for RTS)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=0,
                   help="time only this many batches and extrapolate (0: the whole epoch)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=6,
                   help="alternate the frameworks in this many chunks of the timed batches")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for torch (set_num_threads); when given on the command line "
                   "also for numpy's BLAS and numba (environment set before import)")
    p.add_argument("--no-torch", action="store_true", help="time warpkit only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--isolate", action="store_true",
                   help="time every round of each framework in a fresh process, so that no "
                   "allocator, cache or thread-pool state passes from one to the other")
    p.add_argument("--worker", choices=["warpkit", "torch"], help=argparse.SUPPRESS)
    p.add_argument("--out", help="write the results as JSON to this path")
    args = p.parse_args(argv)
    if args.worker:
        return _worker(args)

    x, y, shape = _data(args)

    have_torch = False
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
            have_torch = True
        except ImportError:
            print("torch is not importable: timing warpkit only")

    rows = []
    n_per_epoch = args.samples / args.batch
    print(f"{'model':8} {'warpkit s/epoch':>16} {'torch s/epoch':>14} {'ratio':>7}"
          "   (median over rounds; best round in brackets)")
    for name in args.models:
        if args.isolate:
            res = time_isolated(name, ["warpkit", "torch"] if have_torch else ["warpkit"], args)
        else:
            steps = {"warpkit": warpkit_step_fn(name, shape, args.seed)}
            if have_torch:
                steps["torch"] = torch_step_fn(name, shape, args.seed)
            res = time_interleaved(steps, x, y, args.batch, args.batches, args.warmup,
                                   args.rounds)
        row = {"model": name}
        for fw, (med, best) in res.items():
            row[f"{fw}_s_per_epoch"] = med * n_per_epoch
            row[f"{fw}_s_per_epoch_best_round"] = best * n_per_epoch
            row[f"{fw}_ms_per_batch"] = med * 1e3
        ours = row["warpkit_s_per_epoch"]
        line = f"{name:8} {ours:8.2f} [{row['warpkit_s_per_epoch_best_round']:5.2f}]"
        if have_torch:
            theirs = row["torch_s_per_epoch"]
            row["ratio"] = ours / theirs
            line += f" {theirs:7.2f} [{row['torch_s_per_epoch_best_round']:5.2f}]"
            line += f" {ours / theirs:7.2f}"
        print(line, flush=True)
        rows.append(row)

    if args.out:
        meta = {
            "samples": args.samples, "image_shape": list(shape), "batch": args.batch,
            "timed_batches": args.batches or -(-args.samples // args.batch),
            "rounds": args.rounds, "isolated_processes": args.isolate,
            "torch_threads": args.threads if have_torch else None,
            "cpu_count": os.cpu_count(), "cpu": host_cpu(), "platform": platform.platform(),
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")},
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        }
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=2)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
