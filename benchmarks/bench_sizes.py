"""warpkit's ``warp`` against OpenCV's ``warpAffine`` by image size, channels, dtype and threads.

The suite (``bench_suite.py``) times the issue's workloads with every peer in between, so each
call finds its input evicted from the caches by the others; this script times one
``warp``/``warpAffine`` pair at a time, back to back (A B A B ...), each call finding its
input where the previous call of the pair left it, for square images from 28x28 to 2048x2048,
1 and 3 channels, uint8 and float32, on one thread and on all of them:

    python benchmarks/bench_sizes.py [--sizes 28 64 128 256 512 1024 2048] [--map turn]
                                     [--channels 1 3] [--dtypes uint8 float32] [--out DIR]

The image is turned 20° and scaled by 0.9 about its centre (``--map turn``, the default),
zoomed by 2 about its centre (``zoom``) or shifted by 0.3 pixel along both axes (``shift``);
bilinear, zeros padding: the matrix OpenCV gets is ``transforms.to_opencv`` of warpkit's θ.
OpenCV reads the last two in order, which makes them its fastest maps. Prints the median time
of each and the ratio warpkit / OpenCV, and writes ``sizes.json`` into ``--out`` when given.
Bench-only: needs ``opencv-python-headless`` (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import cv2
import numba
import numpy as np

import warpkit
from warpkit import transforms as T


def pair_medians(fa, fb, budget_s: float) -> tuple[float, float]:
    """Medians in µs of ``fa()`` and ``fb()`` called in turns, for about ``budget_s`` seconds
    (at least 15 and at most 2,000 turns), after three warm-up turns."""
    for _ in range(3):
        fa()
        fb()
    t0 = time.perf_counter()
    fa()
    fb()
    turns = int(min(2000, max(15, budget_s / max(time.perf_counter() - t0, 1e-9))))
    ta, tb = [], []
    for _ in range(turns):
        t = time.perf_counter()
        fa()
        ta.append(time.perf_counter() - t)
        t = time.perf_counter()
        fb()
        tb.append(time.perf_counter() - t)
    return float(np.median(ta)) * 1e6, float(np.median(tb)) * 1e6


#: θ of each ``--map`` for an image of the given shape.
MAPS = {
    "turn": lambda shape: T.rotate(20.0, shape, scale=0.9),
    "zoom": lambda shape: T.scale(2.0, shape),
    "shift": lambda shape: T.translate(0.3, 0.3, shape),
}


def row(size: int, channels: int, dtype: np.dtype, budget_s: float, kind: str = "turn") -> dict:
    """Times of one image size, channel count and dtype (the current thread settings), for
    the map ``kind`` of :data:`MAPS`."""
    shape = (size, size) if channels == 1 else (size, size, channels)
    rng = np.random.default_rng(size)
    img = (rng.random(shape) * 255).astype(dtype)
    theta = MAPS[kind](shape)
    matrix = T.to_opencv(theta, shape)

    def run_warpkit():
        return warpkit.warp(img, theta)

    def run_opencv():
        return cv2.warpAffine(img, matrix, (size, size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    diff = np.abs(run_warpkit().astype(np.float64) - run_opencv().astype(np.float64))
    wk, cv = pair_medians(run_warpkit, run_opencv, budget_s)
    return {"size": size, "channels": channels, "dtype": np.dtype(dtype).name, "map": kind,
            "warpkit_us": wk, "opencv_us": cv, "ratio": wk / cv,
            "mean_abs_diff": float(diff.mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 64, 128, 256, 512, 1024,
                                                                  2048])
    parser.add_argument("--map", choices=sorted(MAPS), default="turn",
                        help="the map: a 20° turn with scale 0.9 (default), a zoom by 2, a shift")
    parser.add_argument("--channels", type=int, nargs="+", choices=(1, 3), default=[1, 3])
    parser.add_argument("--dtypes", nargs="+", choices=("uint8", "float32"),
                        default=["uint8", "float32"])
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of timing per line (default 1)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cores = numba.config.NUMBA_NUM_THREADS
    rows = []
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; OpenCV "
          f"{cv2.__version__}; warpkit / OpenCV, medians of back-to-back calls")
    for threads in sorted({1, cores}):
        numba.set_num_threads(threads)
        cv2.setNumThreads(threads)
        for channels in args.channels:
            for dtype in map(np.dtype, args.dtypes):
                for size in args.sizes:
                    r = row(size, channels, dtype, args.budget, args.map)
                    r["threads"] = threads
                    rows.append(r)
                    print(f"{args.map} threads {threads}  {size:>4}x{size:<4} C={channels} "
                          f"{r['dtype']:>7}: warpkit {r['warpkit_us']:9.1f} us  OpenCV "
                          f"{r['opencv_us']:9.1f} us  ratio {r['ratio']:5.2f}", flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sizes.json").write_text(json.dumps(
            {"cpu": platform.processor(), "cpus": os.cpu_count(), "opencv": cv2.__version__,
             "rows": rows}, indent=1))
        print(f"wrote {args.out / 'sizes.json'}")


if __name__ == "__main__":
    main()
