"""Properties of the CPU kernels' machine code that no output can show.

The backward's row pass is compiled without reference counting: numba placed the increfs and
decrefs of its ~15 array arguments by the process's string hash seed, and with one seed of
four tried they stayed inside its pixel loops, where each call spills the loops' registers
(W2's backward ran 2x slower, and the numba cache kept that code). The span loop of integer
images multiplies by weights broadcast from memory, not from registers, one-channel float32
rows gather the two corners of a cell row at once, and the backward's edge code is compiled
without constant flags."""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from numba import njit, types

from warpkit._coords import BILINEAR, NEAREST, ZEROS
from warpkit.backends._cpu import backward, common, gather


@njit
def _one_row(inp, gout, gin, px, py, dgx, dgy, cells, cval, mode, padding):
    flat = inp.reshape(inp.size)
    gflat = gout.reshape(gout.size)
    ginflat = gin.reshape(gin.size)
    backward._backward_row(inp, flat, gout, gflat, 0, 0, 0, px, py, mode, padding, cval, gin,
                           ginflat, True, True, 0, inp.shape[1], dgx, dgy, cells)


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


@njit
def _span(flat, oflat, offs, wts, n):
    gather._gather_span(flat, oflat, 0, 0, 9, offs, wts, 0, n, 3, False)


def test_the_span_loop_multiplies_by_weights_read_from_memory():
    """The integer span loop's 4-lane step broadcasts each weight from memory into its multiply
    (or a broadcast load); LLVM broadcast them from registers, 4 instructions more per pixel
    (W1u8 1.16x-1.30x the time on the Zen 4 machine), while the scalar fallback read the same
    weights in the same order and LLVM hoisted those reads above the branch."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("a property of x86 code")
    rng = np.random.default_rng(0)
    flat = rng.integers(0, 256, 27).astype(np.uint8)  # a 3x3 RGB image, rows of 9 values
    n = 2  # pixels in the cells whose top-left corners are pixels (0, 0) and (0, 1)
    offs = np.zeros(n + common.PREFETCH, np.int64)
    offs[:n] = [0, 3]
    wts = np.full((4, n), 0.25, np.float32)
    oflat = np.zeros(3 * n + 1, np.uint8)
    _span(flat, oflat, offs, wts, n)
    img = flat.reshape(3, 3, 3).astype(np.float64)
    want = np.rint([(img[0, j] + img[0, j + 1] + img[1, j] + img[1, j + 1]) / 4 for j in range(n)])
    np.testing.assert_array_equal(oflat[:3 * n].reshape(n, 3), want)  # it ran
    asm = next(iter(_span.overloads.values())).library.get_asm_str()
    spans = [f for f in re.split(r"\n(?=_Z\S+:)", asm) if "_gather_span_overload" in f[:200]]
    assert spans, "the span loop is not a function of its own any more"
    if "vcvtdq2ps" not in spans[0]:
        pytest.skip("no AVX on this CPU: broadcasts are shuffles there")
    for f in spans:  # vbroadcastss %xmm3, %xmm3: a broadcast from a register
        assert not re.search(r"vp?broadcast\w*\s+%[xy]mm", f)


@njit
def _grey(flat, oflat, offs, wts, cval, edges, n):
    return gather._gather1(flat, oflat, 0, 0, 5, BILINEAR, offs, wts, cval, edges, 0, 0, n)


def test_one_channel_float32_rows_gather_both_corners_of_a_cell_row_at_once():
    """lerp8 reads the two adjacent corners of each cell row with one gather of 8-byte elements
    (2 gathers per 8 pixels, not 4 of 4-byte elements: on the Zen 4 machine a grey float32
    image took 0.82x the time)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("a property of x86 code")
    rng = np.random.default_rng(0)
    flat = rng.random(20, dtype=np.float32)  # a 4x5 grey image
    n = 8
    offs = np.zeros(n + common.PREFETCH, np.int64)
    offs[:n] = [0, 1, 2, 3, 5, 6, 12, 13]  # cells whose 4 corners are inside
    wts = rng.random((4, n), dtype=np.float32)
    oflat = np.zeros(n, np.float32)
    _grey(flat, oflat, offs, wts, np.zeros(1), np.zeros(n, np.intp), n)
    f, w = flat.astype(np.float64), wts.astype(np.float64)
    want = [w[0, k] * f[o] + w[1, k] * f[o + 1] + w[2, k] * f[o + 5] + w[3, k] * f[o + 6]
            for k, o in enumerate(offs[:n])]
    np.testing.assert_allclose(oflat, want, rtol=1e-6)  # it ran
    asm = next(iter(_grey.overloads.values())).library.get_asm_str()
    if not re.search(r"\svp?gather", asm):
        pytest.skip("no gather instructions on this CPU")
    assert re.search(r"\svpgatherqq\s", asm)  # 8-byte elements: a corner pair each
    assert not re.search(r"\svgather\w*ps\s", asm)  # no 4-byte gathers left


def test_the_backward_edge_code_is_compiled_without_constant_flags():
    """The row pass hands its flags and input band to the edge function and to the general
    per-point code as run-time values (``_simd.dynamic``): were they literals again, each
    would be compiled once per combination the row pass is compiled for (twice as often). The
    row pass is compiled here (``_one_row``, with literal flags and band, as the kernels pass
    them), so that its callees are too, whatever numba's cache holds."""
    rng = np.random.default_rng(0)
    inp = rng.random((1, 6, 7, 3), dtype=np.float32)
    gout = rng.random((1, 1, 9, 3), dtype=np.float32)
    gin = np.zeros_like(inp)
    px = np.linspace(-0.75, 6.5, 9)  # edge pixels at both ends of the row
    py = np.linspace(-0.5, 5.5, 9)
    dgx, dgy = np.empty(9), np.empty(9)
    cells = (np.empty(9, np.int64), np.empty(9), np.empty(9), np.empty((4, 9), np.float32))
    for mode in (BILINEAR, NEAREST):  # nearest's edges go through the general per-point code
        _one_row(inp, gout, gin, px, py, dgx, dgy, cells, np.zeros(3), mode, ZEROS)
    for fn in (backward._edge_backward, common.backward_point_band):
        assert fn.signatures, fn
        for sig in fn.signatures:  # need_gin, y_lo, y_hi come last
            assert not any(isinstance(t, types.Literal) for t in sig[-3:]), (fn, sig)
