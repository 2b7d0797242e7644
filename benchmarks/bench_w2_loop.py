"""W2's step (``affine_sample`` + ``affine_sample_backward`` of 256 60x60 images) back to back,
with the page faults and system time each step pays (``resource.getrusage``).

Each step makes new outputs of 3.7 MB; glibc's malloc may give them back to the kernel when
they are freed and map them again at the next step. Compare:

    python benchmarks/bench_w2_loop.py
    python benchmarks/bench_w2_loop.py --out     # the forward into an array kept (out=)
    export MALLOC_TRIM_THRESHOLD_=67108864 MALLOC_MMAP_THRESHOLD_=33554432
    python benchmarks/bench_w2_loop.py
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import warpkit
from warpkit._bench import rotation_theta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", action="store_true", help="the forward into a kept array")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.random((256, 60, 60, 1), dtype=np.float32)
    theta = (rotation_theta(10.0, 0.9, 256) + 0.05 * rng.standard_normal((256, 2, 3))).astype(
        np.float32)

    kept = np.empty_like(x) if args.out else None

    def step():
        out = warpkit.affine_sample(x, theta, out=kept)
        return warpkit.affine_sample_backward(out, x, theta)

    for _ in range(5):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = args.steps
    print(f"W2 step {np.median(times) * 1e3:.2f} ms (median of {n}), "
          f"{(after.ru_minflt - before.ru_minflt) / n:.0f} page faults and "
          f"{(after.ru_stime - before.ru_stime) / n * 1e3:.2f} ms of system time a step")


if __name__ == "__main__":
    main()
