"""Test error of the same models written in PyTorch, trained on warpkit's exact protocol.

Usage::

    python benchmarks/train_torch_reference.py --model st-fcn --distortion rts --seeds 0 1 2

Each seed trains the PyTorch model of :mod:`bench_nn_torch` (identical architecture, PyTorch's
default initialisation, the identity start of the localization net) with Adam (lr 1e-3) and
batch 64 on the very arrays warpkit's trainer uses: ``warpkit.datasets.make_experiment`` draws
each epoch's distortions and the shuffle from ``np.random.default_rng(seed)``, and the test
set is the same 3,590 fixed distortions. With ``--warpkit`` it also trains warpkit's model on
the same seeds, so that the two columns differ only in the implementation. Prints one line
per seed and the mean, and writes ``--out`` (JSON) if given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# isort: off
import warpkit  # noqa: F401  (before numpy, as the warpkit command: see warpkit._threads)
import numpy as np
# isort: on

from warpkit.datasets import make_experiment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nn_torch import torch_model  # noqa: E402


def train_torch(model: str, distortion: str, epochs: int, seed: int, threads: int) -> float:
    """Final test error of the PyTorch model after ``epochs`` epochs of warpkit's protocol."""
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(threads)
    exp = make_experiment("digits", distortion)
    torch.manual_seed(seed)
    net = torch_model(model, exp.image_shape)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)  # the trainer's stream: distortions, then the shuffle
    for _ in range(epochs):
        x, y = exp.train_epoch(rng)
        order = rng.permutation(len(x))
        net.train()
        for b in range(-(-len(x) // 64)):
            idx = order[b * 64 : (b + 1) * 64]
            xb = torch.from_numpy(x[idx]).permute(0, 3, 1, 2)
            opt.zero_grad()
            F.cross_entropy(net(xb), torch.from_numpy(y[idx]).long()).backward()
            opt.step()
    net.eval()
    tx = torch.from_numpy(exp.test_x).permute(0, 3, 1, 2)
    with torch.no_grad():
        pred = torch.cat([net(tx[i : i + 512]).argmax(1) for i in range(0, len(tx), 512)])
    return float(np.mean(pred.numpy() != exp.test_y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="st-fcn")
    parser.add_argument("--distortion", default="rts")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warpkit", action="store_true", help="also train warpkit's model")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        row = {"seed": seed, "torch": train_torch(args.model, args.distortion, args.epochs,
                                                  seed, args.threads)}
        if args.warpkit:
            from warpkit.nn import train

            row["warpkit"] = train(distortion=args.distortion, model=args.model,
                                   epochs=args.epochs, seed=seed, show_progress=False)[
                "test_error"]
        rows.append(row)
        cells = "  ".join(f"{k} {100 * v:.2f}%" for k, v in row.items() if k != "seed")
        print(f"{args.model} {args.distortion} seed {seed}: {cells}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    for key in ("torch", "warpkit"):
        if key in rows[0]:
            values = [100 * r[key] for r in rows]
            print(f"{key}: mean {np.mean(values):.2f}% (min {min(values):.2f}%, "
                  f"max {max(values):.2f}%) over seeds {args.seeds}")
    if args.out:
        args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                        "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
