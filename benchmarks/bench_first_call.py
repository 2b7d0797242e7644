"""How long a first call takes with an empty numba cache, per operation and call depth.

Each measurement is a fresh process with its own empty ``NUMBA_CACHE_DIR`` that imports
warpkit, then makes one call on a small image from ``--depths`` frames deeper than the
script's top level, and reports the call's wall time with the process's system time and page
faults (``resource.getrusage``); each frame of depth holds ``--pad`` extra local variables,
so that the depths step through CPython 3.11's 16 KB frame-stack blocks. A first call's time
moved by seconds with the call depth before numba compiled from a roomy frame
(``warpkit/backends/_cpu/compiling.py``), with the system time as the sign of it.

    python benchmarks/bench_first_call.py --ops grid_sample_backward --depths 0,2,4,6,8,10,12,14
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

#: What one process runs: {op}, {depth}, {pad} and {padding} are filled in
CHILD = """
import resource, sys, time
import numpy as np
import warpkit
from warpkit.backends import cpu

theta = np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]])

def call(op):
    if op == "warp_f32":
        warpkit.warp(np.ones((32, 32, 3), np.float32), theta)
    elif op == "warp_u8":
        warpkit.warp(np.ones((32, 32, 3), np.uint8), theta)
    elif op == "affine_sample_backward":
        x = np.ones((2, 32, 32, 1), np.float32)
        cpu.affine_sample_backward(x, x, np.repeat(theta[None], 2, 0), np.zeros_like(x),
                                   np.zeros((2, 2, 3)), 0, 0, False, np.zeros(1))
    elif op == "grid_sample_backward":
        x = np.ones((2, 32, 32, 1), np.float32)
        grid = np.zeros((2, 32, 32, 2))
        cpu.grid_sample_backward(x, x, grid, np.zeros_like(x), np.zeros_like(grid), 0, 0,
                                 False, np.zeros(1))
    else:
        raise SystemExit(f"unknown op {{op!r}}")

def deeper(depth, op):
    if depth < 0:  # never: these locals only make each frame {pad} slots bigger
        {padding} = None
    return deeper(depth - 1, op) if depth else call(op)

before = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.perf_counter()
deeper({depth}, {op!r})
wall = time.perf_counter() - t0
after = resource.getrusage(resource.RUSAGE_SELF)
print(wall, after.ru_stime - before.ru_stime, after.ru_minflt - before.ru_minflt)
"""

OPS = ("warp_f32", "warp_u8", "affine_sample_backward", "grid_sample_backward")


def first_call(op: str, depth: int, pad: int = 128) -> dict:
    """One fresh process: the first call's wall time (s), system time (s) and page faults,
    made ``depth`` frames of ``pad`` (at least 1) extra local variables deeper than the top
    level."""
    padding = " = ".join(f"p{i}" for i in range(max(pad, 1)))
    code = CHILD.format(op=op, depth=depth, pad=pad, padding=padding)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True).stdout
    wall, system, faults = out.split()
    return {"op": op, "depth": depth, "wall_s": float(wall), "system_s": float(system),
            "page_faults": int(faults)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default=",".join(OPS), help=f"comma-separated, of {OPS}")
    parser.add_argument("--depths", default="0,4,8,12", help="comma-separated call depths")
    parser.add_argument("--pad", type=int, default=first_call.__defaults__[0],
                        help="extra local variables per frame of depth (8 bytes each: 128 "
                             "moves the call 1 KB along CPython's 16 KB frame-stack blocks)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = []
    for op in args.ops.split(","):
        for depth in (int(d) for d in args.depths.split(",")):
            r = first_call(op, depth, args.pad)
            results.append(r)
            print(f"{op:24s} depth {depth}  {r['wall_s']:6.2f} s  system {r['system_s']:5.2f} s"
                  f"  page faults {r['page_faults']:8d}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
