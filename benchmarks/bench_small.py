"""Small images against OpenCV: one ``warp`` call per image, and the same images as one stack.

A ``warp`` call costs about 8 µs before its first pixel on the Zen 4 machine (validation,
finding the compiled kernel, numba's dispatch; 15-20 µs on the Intel Xeon machine in a slow
phase), which OpenCV's ``warpAffine`` does not, so one small image at a time OpenCV is faster;
as one stack (N, H, W[, C]) with θ (N, 2, 3) the call's cost is paid once:

    python benchmarks/bench_small.py [--rounds 200] [--count 256]

Prints, per image size, the median time of one image (warpkit and OpenCV) and of ``count``
images (a warpkit stack, a loop of warpkit calls, a loop of OpenCV calls). Bench-only: needs
``opencv-python-headless`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

import warpkit
from warpkit import transforms as T

SHAPES = [(28, 28), (32, 32, 3), (64, 64, 3), (128, 128, 3)]


def median_ms(fn, rounds: int) -> float:
    """Median wall time of ``fn()`` in ms, after five warm-up calls."""
    for _ in range(5):
        fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def line(shape: tuple, n: int, rounds: int, rng: np.random.Generator) -> str:
    """The timings of one image size, as a printed line."""
    images = (rng.random((n,) + shape) * 255).astype(np.uint8)
    thetas = np.stack([T.rotate(a, shape, scale=0.9) for a in rng.uniform(-30, 30, n)])
    mats = [T.to_opencv(th, shape) for th in thetas]
    size = (shape[1], shape[0])
    one_wk = median_ms(lambda: warpkit.warp(images[0], thetas[0]), rounds * 10)
    one_cv = median_ms(lambda: cv2.warpAffine(images[0], mats[0], size), rounds * 10)
    stack = median_ms(lambda: warpkit.warp(images, thetas), rounds)
    loop_wk = median_ms(lambda: [warpkit.warp(images[k], thetas[k]) for k in range(n)],
                        max(rounds // 10, 5))
    loop_cv = median_ms(lambda: [cv2.warpAffine(images[k], mats[k], size) for k in range(n)],
                        rounds)
    return (f"{'x'.join(map(str, shape)):>9} uint8  one image: warpkit {one_wk * 1e3:6.1f} us, "
            f"OpenCV {one_cv * 1e3:6.1f} us | {n} images: warpkit stack {stack:6.2f} ms, "
            f"warpkit loop {loop_wk:6.2f} ms, OpenCV loop {loop_cv:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--count", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        print(line(shape, args.count, args.rounds, rng))


if __name__ == "__main__":
    main()
