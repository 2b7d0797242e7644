"""Properties of the CPU kernels' machine code that no output can show.

The backward's row pass is compiled without reference counting: numba placed the increfs and
decrefs of its ~15 array arguments by the process's string hash seed, and with one seed of
four tried they stayed inside its pixel loops, where each call spills the loops' registers
(W2's backward ran 2x slower, and the numba cache kept that code)."""

from __future__ import annotations

import re

import numpy as np
from numba import njit

from warpkit._coords import BILINEAR, ZEROS
from warpkit.backends import cpu


@njit
def _one_row(inp, gout, gin, px, py, dgx, dgy, cells, cval, mode, padding):
    flat = inp.reshape(inp.size)
    gflat = gout.reshape(gout.size)
    ginflat = gin.reshape(gin.size)
    cpu._backward_row(inp, flat, gout, gflat, 0, 0, px, py, mode, padding, cval, gin, ginflat,
                      True, True, 0, inp.shape[1], dgx, dgy, cells)


def test_the_backward_row_pass_counts_no_references():
    rng = np.random.default_rng(0)
    inp = rng.random((1, 6, 7, 1), dtype=np.float32)
    gout = rng.random((1, 1, 9, 1), dtype=np.float32)
    gin = np.zeros_like(inp)
    px = np.linspace(-1.5, 7.5, 9)
    py = np.linspace(-0.5, 5.5, 9)
    dgx, dgy = np.empty(9), np.empty(9)
    cells = (np.empty(9, np.int64), np.empty(9), np.empty(9), np.empty((4, 9), np.float32))
    # mode and padding as run-time values, as the kernels pass them
    _one_row(inp, gout, gin, px, py, dgx, dgy, cells, np.zeros(1, np.float32), BILINEAR, ZEROS)
    assert np.any(gin != 0) and np.all(np.isfinite(dgx))  # it ran
    asm = next(iter(_one_row.overloads.values())).library.get_asm_str()
    passes = [f for f in re.split(r"\n(?=_Z\S+:)", asm) if "_backward_pass_overload" in f[:200]]
    assert passes, "the row pass is not a function of its own any more"
    for f in passes:  # a call loads the function's address first: movabsq $NRT_incref, %reg
        assert not re.search(r"\$NRT_(incref|decref)\b", f)
