"""W1 and W1u8, warpkit against OpenCV alone: ``warp()`` and ``cv2.warpAffine`` interleaved.

The full suite (``bench_suite.py``) interleaves every peer, so each warpkit call runs right
after SciPy's or scikit-image's and finds the 12 MB image out of cache. This script times
the two fastest implementations side by side with nothing in between, and counts the page
faults each call takes (0 means the output came from memory already mapped).

    python benchmarks/bench_w1_pair.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import warpkit
from warpkit._bench import host_cpu, opencv_rotation_matrix, rotation_theta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    import cv2

    rng = np.random.default_rng(0)
    theta = rotation_theta(30.0, 0.9)
    matrix = opencv_rotation_matrix(cv2, theta, (1024, 1024))
    f32 = rng.random((1024, 1024, 3), dtype=np.float32)
    u8 = (f32 * 255).astype(np.uint8)
    print(f"CPU: {host_cpu()}; {args.rounds} interleaved rounds")
    for name, img in (("W1", f32), ("W1u8", u8)):
        fns = {
            "warpkit": lambda img=img: warpkit.warp(img, theta[0]),
            "opencv": lambda img=img: cv2.warpAffine(img, matrix, (1024, 1024),
                                                     flags=cv2.INTER_LINEAR),
        }
        times = {k: [] for k in fns}
        faults = dict.fromkeys(fns, 0)
        for f in fns.values():
            f()
        for _ in range(args.rounds):
            for k, f in fns.items():
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
                faults[k] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        line = ", ".join(f"{k} {med[k]:.2f} ms ({faults[k] / args.rounds:.0f} faults/call)"
                         for k in fns)
        print(f"{name}: {line}; warpkit / opencv = {med['warpkit'] / med['opencv']:.2f}")


if __name__ == "__main__":
    main()
