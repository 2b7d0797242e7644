"""CPU kernels: ``@njit(parallel=True, cache=True)``, one per operation.

Every function here takes arrays that :mod:`warpkit.ops` has already validated (channels-last,
C-contiguous, float32 or float64, matching batch sizes) and preallocated outputs; nothing here
validates or raises. ``mode`` and ``padding`` are the integer codes of :mod:`warpkit._coords`.

Layout
------
This module holds the parallel kernels; the work of their rows lives in
:mod:`warpkit.backends._cpu`, one module per pass, where the functions named below are:
``common`` (the helpers of :mod:`warpkit._coords` compiled for the CPU, the offset codes),
``classify`` (padding, the column spans of an affine row, corner offsets and weights),
``gather`` (the gather pass, the edge pixels' bilinear), ``store`` (what a float or integer
output stores), ``forward`` (row buffers, a row through the passes, the bands of rows of a task),
``backward`` (tasks, the cell pass, the row loop and its scatter, the θ sums) and ``schedule``
(how the threads claim the kernels' tasks).

Parallelism and determinism
---------------------------
Forward kernels cut the output into tasks (bands of rows, :func:`_band_of`), which the threads
claim a few at a time as they go (:mod:`._cpu.schedule`), so that a thread held up by anything
takes fewer of them; every task writes only its own rows. The backward's tasks are claimed
the same way. Its scatter into ``grad_input`` is where threads could race, so work is split by
*shape*, never by thread count, and no two tasks ever add into the same cell:

* N >= 2: one task per sample; it alone writes that sample's ``grad_input``.
* N == 1: ``split`` tasks (a fixed number, ``SCATTER_SPLIT`` at most). Task k computes the
  grid/θ gradient of output-row chunk k, then walks *all* output pixels again and scatters only
  into input-row band k. Every cell therefore receives its additions in output-pixel order,
  exactly as a serial loop would, and no extra buffer is allocated.

θ gradients are summed per row (:func:`_theta_sums`, in an order fixed by the compiled code),
then per task in row order, and reduced in task order. Each task zeroes the rows of
``grad_input`` it scatters into before it starts. Results are bit-identical for any
``NUMBA_NUM_THREADS``, whichever thread runs which task, and from run to run, and the
backward allocates only its outputs (plus row buffers of a few output widths per thread).

Speed
-----
The row work lives in small non-inlined ``@njit`` functions (``_affine_band``, ``_grid_band``,
``_affine_backward_task``, and the gather, ``_gather``) called from the parallel loop, so that
LLVM optimises and vectorises their loops on their own and the gather loop gets the registers
to itself (W1 0.81-0.94x the time of the same loop inlined into the row code). A forward row
goes through branch-free passes that vectorise (coordinates; padding for border/reflection;
corner offsets and weights), then a gather over the interior pixels with unsigned flat indices
(no bounds checks, no negative-index wraparound) and the channel loop specialised for C = 1, 3,
4 (one-channel float rows 8 pixels at a time with gathers, :func:`._simd.lerp8`). An affine row
at least ``SPAN_COLUMNS`` wide (narrower ones measured faster without) skips most of that
(:func:`_affine_spans`): its coordinates are monotone along the row, so the columns entirely
outside the image (a memset, zeros or constant padding) and those strictly inside (offsets and
weights without tests, :func:`_classify_interior`) are found once per row, and the coordinates
are computed inside the offsets pass instead of stored (W1 0.73-0.86x, W1u8 0.72-0.82x the time
of classifying every column). Narrower rows are sampled a group at a time in the forward: up to
``GROUP_PIXELS`` pixels of rows go through each pass as one row (:func:`_group_rows`). A 3- or
4-channel pixel of a float32 or integer image is one 4-lane step written in LLVM IR
(:func:`._simd.lerp4`; with 3 channels the 4th lane is junk, kept inside the arrays and
overwritten by the next pixel; float64 measured faster in scalars; integer images are stored
rounded from it and from the scalar paths, :func:`_store`, with no float row and rounding pass:
W1u8 0.91x the time), and the source rows of the pixel ``PREFETCH`` columns ahead are
prefetched. In integer images the strictly interior span of such a row has a gather loop of its
own, which skips the per-pixel codes (:func:`_gather_span`, W1u8 0.93x-0.96x). The gather fills
outside pixels with the fill value and lists the rest; only those go through a last pass: edge
pixels with checked reads, and only NaN, wrap and nearest-mode edges through the general
per-point code. A backward row works the same way: a vectorised pass finds the interior
pixels' cells, fractions and weights (:func:`_backward_cells`), then one
loop per channel count (:func:`_backward_pass`) computes the coordinate gradients and scatters,
in output-pixel order, with edge pixels inline (:func:`_edge_backward`). Weights are computed
in the output dtype from float64 fractions (coordinates stay float64, which integer images
need). A signed computed index (``a[base + k]``) costs a negative-index check per element and
keeps LLVM from vectorising the loop (a rounding pass of integer images, gone now, took 1.4 of
4.5 ms of W1u8): hot loops index with ``range`` variables, slices or unsigned integers.
``fastmath`` is limited to ``contract`` (fused multiply-add; the θ sums of a backward row also
``reassoc``): NaN and inf keep their IEEE meaning. The band and task functions work on views of
their arrays that count no references (:func:`._simd.borrow`), so that the calls and slices of
every row do no atomic reference counting. The vectorised passes of coordinates, offsets and
weights ask LLVM for 512-bit vectors where the CPU has them (:func:`._simd.prefer512`; W1u8
0.96x the time).

Compile time
------------
Small helpers are inlined by numba (``inline="always"``); the large row functions
(``_sample_row``, the gather and backward row loops, the edge passes)
are plain ``@njit`` functions that LLVM inlines instead
(:func:`._simd.alwaysinline`): numba's inlining copies and types the callee again at every
call site, at a cost that grows with the callee's blocks times its variables, and the
backward's row loop, inlined into six specialisations per kernel, took most of the
backward's compile time. Now each is typed and compiled once per signature, and the affine
and grid backward share theirs. Outputs are identical and speed the same within noise. On the
Intel Xeon machine, the code before and after side by side (one process each, empty caches),
the first calls of affine_sample, warp of uint8, grid_sample, affine_sample_backward and
grid_sample_backward took 243 s -> 158 s, the two backward 130 s -> 62 s.

Every ``@njit`` function numba compiles is optimised by LLVM and turned into machine code on
its own, and again inside every caller that links it (the band function, the parallel loop's
body, the kernel): ``_affine_rows_of``, a short loop called once per band function, is
therefore inlined by numba instead, which saves one such round. A first ``warp`` with an empty
cache (medians of three processes each, Zen 4 machine): float32 19.3 s -> 17.8 s, uint8
17.4 s -> 16.8 s. Doing the same for ``_sample_row`` or the backward's row loop took longer:
numba's typing of the merged function costs more than LLVM's round saves.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._cpu.backward import (
    _affine_backward_task,
    _backward_cells_scratch,
    _backward_row,
    _backward_scratch,
    _grid_row,
    _split,
    _task_plan,
    _zero_rows,
    _zeroed,
)
from ._cpu.common import base_coord, unnormalize_scale
from ._cpu.forward import (
    _affine_band,
    _affine_band_int,
    _band_of,
    _grid_band,
    _group_rows,
    _rows_per_task,
    _scratch,
)
from ._cpu.schedule import chunk_size, claim


@njit(parallel=True, cache=True)
def affine_grid(theta, grid, align_corners):
    """grid[n, i, j] = θ[n] · (x_t(j), y_t(i), 1); grid (N, Ho, Wo, 2) is filled in place."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    for t in prange(N * Ho):
        n = t // Ho
        i = t % Ho
        yt = base_coord(i, Ho, align_corners)
        for j in range(Wo):
            xt = base_coord(j, Wo, align_corners)
            grid[n, i, j, 0] = theta[n, 0, 0] * xt + theta[n, 0, 1] * yt + theta[n, 0, 2]
            grid[n, i, j, 1] = theta[n, 1, 0] * xt + theta[n, 1, 1] * yt + theta[n, 1, 2]


@njit(parallel=True, cache=True)
def affine_grid_backward(grad_grid, grad_theta, align_corners):
    """grad_theta[n, r] = Σ_ij grad_grid[n, i, j, r] · (x_t, y_t, 1); one task per (n, r)."""
    N, Ho, Wo = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    for t in prange(N * 2):
        n = t // 2
        r = t % 2
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for i in range(Ho):
            yt = base_coord(i, Ho, align_corners)
            for j in range(Wo):
                g = 1.0 * grad_grid[n, i, j, r]
                s0 += g * base_coord(j, Wo, align_corners)
                s1 += g * yt
                s2 += g
        grad_theta[n, r, 0] = s0
        grad_theta[n, r, 1] = s1
        grad_theta[n, r, 2] = s2


@njit(parallel=True, cache=True)
def affine_sample(inp, theta, out, mode, padding, align_corners, cval):
    """Fused affine_grid + grid_sample: out (N, Ho, Wo, C) filled in place, no grid made.

    Each task takes a band of output rows of one sample (about ``TASK_PIXELS`` pixels). Per
    row: a vectorised pass computes the source coordinates, a vectorised pass the corner
    offsets and weights, a gather pass reads the corners of interior pixels without bounds
    checks and fills the pixels outside, and a last pass samples the rest (edges, NaN) with
    checked reads.
    """
    N, Ho, Wo = out.shape[0], out.shape[1], out.shape[2]
    rpt = _rows_per_task(Ho, Wo)
    bands = (Ho + rpt - 1) // rpt
    tasks = N * bands
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    for _ in prange(tasks):  # see _cpu.schedule: a thread's first iteration does its tasks
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            scratch = _scratch(_group_rows(Wo) * Wo, out.dtype)
            while lo < hi:
                for task in range(lo, hi):
                    n, i0, i1 = _band_of(task, bands, rpt, Ho)
                    _affine_band(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval,
                                 scratch)
                lo, hi = claim(counter, k, tasks)


@njit(parallel=True, cache=True)
def affine_sample_int(inp, theta, out, mode, padding, align_corners, cval, work):
    """:func:`affine_sample` into an integer ``out`` of ``inp``'s dtype: computed in the dtype
    of ``work`` (an empty float32 or float64 array), then rounded half to even and clipped to
    the range of ``out``'s dtype pixel by pixel as it is stored (:func:`_store`), so no float
    image is ever allocated."""
    N, Ho, Wo, C = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    rpt = _rows_per_task(Ho, Wo)
    bands = (Ho + rpt - 1) // rpt
    tasks = N * bands
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    G = _group_rows(Wo)
    for _ in prange(tasks):
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            scratch = _scratch(G * Wo, work.dtype)
            row = np.empty(G * Wo * C, dtype=work.dtype)
            while lo < hi:
                for task in range(lo, hi):
                    n, i0, i1 = _band_of(task, bands, rpt, Ho)
                    _affine_band_int(inp, theta, out, n, i0, i1, mode, padding, align_corners,
                                     cval, scratch, row)
                lo, hi = claim(counter, k, tasks)


@njit(parallel=True, cache=True)
def grid_sample(inp, grid, out, mode, padding, align_corners, cval):
    """out[n, i, j, :] = inp[n] sampled at grid[n, i, j]; out (N, Ho, Wo, C) filled in place."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    rpt = _rows_per_task(Ho, Wo)
    bands = (Ho + rpt - 1) // rpt
    tasks = N * bands
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    for _ in prange(tasks):
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            scratch = _scratch(_group_rows(Wo) * Wo, out.dtype)
            while lo < hi:
                for task in range(lo, hi):
                    n, i0, i1 = _band_of(task, bands, rpt, Ho)
                    _grid_band(inp, grid, out, n, i0, i1, mode, padding, align_corners, cval,
                               scratch)
                lo, hi = claim(counter, k, tasks)


#: Below this many output pixels :func:`call` runs a forward kernel on the calling thread
#: alone: waking the worker threads costs ~50 µs on the 2-core machine, more than sampling a
#: 64x64x3 image takes (a 16x16x3 image: 58 µs with both threads, 9 µs with one).
SERIAL_PIXELS = 16384


def call(kernel, pixels: int, *args) -> None:
    """``kernel(*args)``, on the calling thread alone when the output has fewer than
    ``SERIAL_PIXELS`` pixels (N·Ho·Wo). The same compiled code runs either way and the kernels
    cut work by shape, not by thread count, so the results are the same bit for bit."""
    if pixels >= SERIAL_PIXELS:
        kernel(*args)
        return
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # per calling thread in numba: other threads are not affected
    try:
        kernel(*args)
    finally:
        numba.set_num_threads(threads)


@njit(parallel=True, cache=True)
def _grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin, split
):
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    sx = unnormalize_scale(W, align_corners)
    sy = unnormalize_scale(H, align_corners)
    flat = inp.reshape(inp.size)
    gflat = gout.reshape(gout.size)
    ginflat = gin.reshape(gin.size)
    tasks = N * split
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    for _ in prange(tasks):  # see _cpu.schedule: a thread's first iteration does its tasks
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            px = np.empty(Wo)
            py = np.empty(Wo)
            mx = np.empty(Wo)
            my = np.empty(Wo)
            dgx = np.empty(Wo)
            dgy = np.empty(Wo)
            cells = _backward_cells_scratch(Wo, gin.dtype)
            while lo < hi:
                for t in range(lo, hi):
                    n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(t, split, Ho, H, need_gin)
                    _zero_rows(gin, n, scatter_now, y_lo, y_hi)
                    for i in range(i0, i1):
                        _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
                        _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval,
                                      gin, ginflat, scatter_now, True, 0, H, dgx, dgy, cells)
                        for j in range(Wo):
                            grad_grid[n, i, j, 0] = dgx[j] * mx[j] * sx
                            grad_grid[n, i, j, 1] = dgy[j] * my[j] * sy
                    if y_hi > y_lo:
                        for i in range(Ho):
                            _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
                            _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding,
                                          cval, gin, ginflat, True, False, y_lo, y_hi, dgx, dgy,
                                          cells)
                lo, hi = claim(counter, k, tasks)


def grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_grid`` (N, Ho, Wo, 2) and, unless ``gin`` is None, ``gin`` (N, H, W, C)."""
    need_gin = gin is not None
    gin = _zeroed(gin, inp)
    split = _split(grid.shape[0], grid.shape[1], inp.shape[1])
    _grid_sample_backward(
        gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin, split
    )


@njit(parallel=True, cache=True)
def _affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin, split
):
    N, Ho = gout.shape[0], gout.shape[1]
    H = inp.shape[1]
    tasks = N * split
    partial = np.zeros((tasks, 6))
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    for _ in prange(tasks):  # see _cpu.schedule: a thread's first iteration does its tasks
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            scratch = _backward_scratch(gout.shape[2])
            cells = _backward_cells_scratch(gout.shape[2], gin.dtype)
            while lo < hi:
                for t in range(lo, hi):
                    n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(t, split, Ho, H, need_gin)
                    sums = _affine_backward_task(gout, inp, theta, gin, mode, padding,
                                                 align_corners, cval, n, i0, i1, scatter_now,
                                                 y_lo, y_hi, scratch, cells)
                    for q in range(6):
                        partial[t, q] = sums[q]
                lo, hi = claim(counter, k, tasks)
    for n in range(N):
        for q in range(6):
            acc = 0.0
            for k in range(split):
                acc += partial[n * split + k, q]
            grad_theta[n, q // 3, q % 3] = acc


def affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_theta`` (N, 2, 3) and, unless ``gin`` is None, ``gin`` (N, H, W, C)."""
    need_gin = gin is not None
    gin = _zeroed(gin, inp)
    split = _split(gout.shape[0], gout.shape[1], inp.shape[1])
    _affine_sample_backward(
        gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin, split
    )
