"""Core sampler timings: affine_sample forward and forward+backward next to PyTorch CPU.

Usage::

    python benchmarks/bench_core.py [--repeats 15] [--threads 2]

Shapes: (256, 60, 60, 1) float32 (an STN batch) and (1, 1024, 1024, 3) float32 (one image);
θ a rotation with noise. PyTorch runs ``affine_grid`` + ``grid_sample`` (+ ``backward``) on the
same data in NCHW. Runs are interleaved; medians in milliseconds.
"""

from __future__ import annotations

import argparse

import numpy as np

import warpkit
from warpkit._bench import interleaved, rotation_theta


def cases(shape, threads, repeats):
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    n = shape[0]
    theta = (rotation_theta(15.0, 0.9, n) + 0.02 * rng.standard_normal((n, 2, 3))).astype(
        np.float32)
    g = np.ones_like(x)
    fwd = {"warpkit": lambda: warpkit.affine_sample(x, theta)}
    both = {"warpkit": lambda: (warpkit.affine_sample(x, theta),
                                warpkit.affine_sample_backward(g, x, theta))}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)
        F = torch.nn.functional
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        tt = torch.from_numpy(theta).requires_grad_(True)

        def torch_fwd():
            with torch.no_grad():
                return F.grid_sample(xt, F.affine_grid(tt, list(xt.shape), align_corners=False),
                                     align_corners=False)

        def torch_both():
            xt.grad = tt.grad = None
            out = F.grid_sample(xt, F.affine_grid(tt, list(xt.shape), align_corners=False),
                                align_corners=False)
            out.backward(torch.ones_like(out))

        fwd["pytorch"] = torch_fwd
        both["pytorch"] = torch_both
    return {"forward": interleaved(fwd, repeats), "forward+backward": interleaved(both, repeats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for shape in [(256, 60, 60, 1), (1, 1024, 1024, 3)]:
        for what, times in cases(shape, args.threads, args.repeats).items():
            cells = "  ".join(f"{k} {v * 1e3:8.2f} ms" for k, v in times.items())
            print(f"{str(shape):<20} {what:<17} {cells}")


if __name__ == "__main__":
    main()
