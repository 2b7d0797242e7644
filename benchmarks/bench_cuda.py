"""warpkit's CUDA kernels against PyTorch's CUDA ``affine_grid`` + ``grid_sample``, on a GPU.

    NUMBA_ENABLE_CUDASIM=0 python benchmarks/bench_cuda.py [--repeats 30]

Workloads, float32, θ a rotation with noise: W2 (256, 60, 60, 1) and W3 (64, 224, 224, 3),
each forward and forward + backward (dU and dθ); W1 (1, 1024, 1024, 3) forward. Inputs live on
the GPU (numba device arrays for warpkit, NCHW tensors for PyTorch), every timed call ends with
a synchronize, and the implementations are interleaved (``warpkit._bench.interleaved``);
medians in milliseconds. Before timing, each workload's GPU results are compared with
warpkit's CPU backend (and with PyTorch's, where it runs): the largest absolute difference is
printed. PyTorch is optional: without a CUDA build it is reported and skipped.

``--small`` runs tiny shapes instead, which numba's CUDA simulator can run
(``NUMBA_ENABLE_CUDASIM=1``; that is how the tests check this script).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
from numba import cuda

import warpkit
from warpkit._bench import interleaved, rotation_theta

FULL = {"W2": (256, 60, 60, 1), "W3": (64, 224, 224, 3), "W1": (1, 1024, 1024, 3)}
SMALL = {"W2": (2, 6, 5, 1), "W3": (2, 5, 6, 3), "W1": (1, 7, 6, 3)}


def _torch_device() -> str | None:
    """"cuda" if PyTorch is importable and sees a GPU, else None."""
    try:
        import torch
    except ImportError:
        return None
    return "cuda" if torch.cuda.is_available() else None


def _largest_difference(a: list, b: list) -> float:
    """The largest absolute difference between matching arrays of two lists."""
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def workload(name: str, shape: tuple, backward: bool, torch_device: str | None,
             repeats: int) -> list[str]:
    """Check and time one workload against PyTorch on ``torch_device`` (None: without
    PyTorch); returns its printed lines."""
    rng = np.random.default_rng(0)
    n = shape[0]
    x = rng.random(shape, dtype=np.float32)
    theta = (rotation_theta(15.0, 0.9, n) + 0.02 * rng.standard_normal((n, 2, 3))).astype(
        np.float32)
    g = rng.random(shape, dtype=np.float32)
    x_d, t_d, g_d = cuda.to_device(x), cuda.to_device(theta), cuda.to_device(g)

    def sync(fn: Callable[[], object]) -> Callable[[], object]:
        def run():
            out = fn()
            cuda.synchronize()
            return out

        return run

    if backward:
        def ours():
            return (warpkit.affine_sample(x_d, t_d),
                    *warpkit.affine_sample_backward(g_d, x_d, t_d))

        def on_cpu():
            return (warpkit.affine_sample(x, theta), *warpkit.affine_sample_backward(g, x, theta))
    else:
        def ours():
            return (warpkit.affine_sample(x_d, t_d),)

        def on_cpu():
            return (warpkit.affine_sample(x, theta),)

    fns = {"warpkit": sync(ours)}
    got = [r.copy_to_host() for r in fns["warpkit"]()]
    checks = [f"max |cuda - cpu| {_largest_difference(got, on_cpu()):.1e}"]
    if torch_device is not None:
        import torch
        import torch.nn.functional as F

        xt = torch.from_numpy(x).to(torch_device).permute(0, 3, 1, 2).contiguous()
        tt = torch.from_numpy(theta).to(torch_device)
        gt = torch.from_numpy(g).to(torch_device).permute(0, 3, 1, 2).contiguous()
        size = (n, shape[3], shape[1], shape[2])

        def theirs():
            xi = xt.detach().requires_grad_(backward)
            ti = tt.detach().requires_grad_(backward)
            grid = F.affine_grid(ti, size, align_corners=False)
            out = F.grid_sample(xi, grid, align_corners=False)
            if backward:
                out.backward(gt)
                result = (out.detach(), xi.grad, ti.grad)
            else:
                result = (out.detach(),)
            if torch_device == "cuda":
                torch.cuda.synchronize()
            return result

        fns["pytorch"] = theirs
        ref = theirs()
        ref = [ref[0].permute(0, 2, 3, 1), *([ref[1].permute(0, 2, 3, 1), ref[2]] if backward
                                             else [])]
        diff = _largest_difference(got, [r.cpu().numpy() for r in ref])
        checks.append(f"max |warpkit - pytorch| {diff:.1e}")
    times = interleaved(fns, repeats)
    what = f"{name} {'forward + backward' if backward else 'forward'} {shape}"
    lines = [f"{what}: {'; '.join(checks)}"]
    for impl, seconds in times.items():
        ratio = seconds / times["warpkit"]
        lines.append(f"  {impl:8s} {seconds * 1e3:9.3f} ms  {ratio:5.2f}x warpkit's time")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--small", action="store_true", help="tiny shapes, for the simulator")
    args = parser.parse_args()
    if not cuda.is_available():
        raise SystemExit("no CUDA device (set NUMBA_ENABLE_CUDASIM=1 with --small to try the "
                         "script in numba's simulator)")
    shapes = SMALL if args.small else FULL
    torch_device = _torch_device()
    name = getattr(cuda.get_current_device(), "name", "numba's CUDA simulator")
    print("GPU:", name.decode() if isinstance(name, bytes) else name)
    print("PyTorch CUDA:", "yes" if torch_device else "not importable or no GPU: skipped")
    for name, backward in (("W2", False), ("W2", True), ("W3", False), ("W3", True),
                           ("W1", False)):
        for line in workload(name, shapes[name], backward, torch_device, args.repeats):
            print(line, flush=True)


if __name__ == "__main__":
    main()
