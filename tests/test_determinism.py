"""The CPU backward ops give bit-identical results for any thread count and run.

The dU scatter is where a race would show: each configuration runs in a fresh subprocess with
``NUMBA_NUM_THREADS`` set (numba reads it at import), which prints a sha256 per result. The
forward ops, whose every output pixel one task writes, are checked in one process against one
thread (``test_serial.py``): compiling them here as well took the first subprocess, with an
empty numba cache, 189 s instead of 116 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import hashlib, json
import numpy as np
import warpkit as wk

def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()

out = {}
for n, (h, w, ho, wo) in ((1, (48, 40, 56, 44)), (3, (24, 20, 30, 18))):
    for dt in (np.float32, np.float64):
        rng = np.random.default_rng(n)
        x = rng.standard_normal((n, h, w, 3)).astype(dt)
        # a contraction: many output pixels scatter into the same input cells
        theta = (np.array([[0.6, 0.2, 0.1], [-0.1, 0.5, 0.0]])
                 + rng.uniform(-0.05, 0.05, (n, 2, 3))).astype(dt)
        grid = rng.uniform(-1.2, 1.2, (n, ho, wo, 2)).astype(dt)
        g = rng.standard_normal((n, ho, wo, 3)).astype(dt)
        for pad in ("zeros", "reflection", "wrap"):
            kw = dict(padding_mode=pad, align_corners=False)
            key = f"{n}-{np.dtype(dt).name}-{pad}"
            gi, gt = wk.affine_sample_backward(g, x, theta, (ho, wo), **kw)
            out[key + "-affine-gin"], out[key + "-affine-gtheta"] = digest(gi), digest(gt)
            gi, gg = wk.grid_sample_backward(g, x, grid, **kw)
            out[key + "-grid-gin"], out[key + "-grid-ggrid"] = digest(gi), digest(gg)
import numba
out["threads"] = numba.get_num_threads()
print(json.dumps(out))
"""


def _run(threads: int) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_backward_bit_identical_across_threads_and_runs():
    one, two_a, two_b = _run(1), _run(2), _run(2)
    assert one.pop("threads") == 1
    assert two_a.pop("threads") == 2 and two_b.pop("threads") == 2
    assert len(one) == 2 * 2 * 3 * 4
    for key in one:
        assert two_a[key] == one[key], f"{key}: 2 threads differ from 1 thread"
        assert two_b[key] == two_a[key], f"{key}: two runs with 2 threads differ"
