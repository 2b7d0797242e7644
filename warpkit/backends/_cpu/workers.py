"""What one thread of a parallel kernel does: run the tasks it claims, a few at a time, until
none are left (see :mod:`.schedule`), with row buffers of its own.

A kernel of :mod:`warpkit.backends.cpu` claims a thread's first tasks and, if it got any, calls
the worker through the worker's address (:func:`.indirect.call_at`), so that the worker is
compiled, and cached by numba, on its own. A worker's arguments are the kernel's, then the
claim counter, the count claimed at a time, the number of tasks and the first task of the
kernel's claim (:data:`CLAIM_TYPES`). Claiming in the kernel first keeps the loop's other
iterations, which find no tasks left, from calling the worker (and counting references to its
arguments) for nothing."""

from __future__ import annotations

import numpy as np
from numba import njit, types

from .backward import (
    _affine_backward_task,
    _backward_cells_scratch,
    _backward_row,
    _backward_scratch,
    _backward_views,
    _grid_row,
    _grid_row_misses_band,
    _scatter_band,
    _task_plan,
    _unit_grad,
    _zero_rows,
)
from .common import _FASTMATH
from .forward import (
    _affine_band,
    _affine_band_int,
    _band_of,
    _forward_bands,
    _grid_band,
    _group_rows,
    _scratch,
    _table_values,
)
from .indirect import call_at
from .schedule import claim

#: The numba types of the arguments every worker takes after the kernel's: the counter tasks
#: are claimed from, how many are claimed at a time, how many there are, and the first task
#: of the first claim (the kernel's, which calls the worker only when it got tasks).
CLAIM_TYPES = (types.Array(types.int64, 1, "C"), types.int64, types.int64, types.int64)


@njit(inline="always")
def _run_bands(band, inp, coords, out, mode, padding, align_corners, cval, gaddr, counter, k,
               tasks, lo):
    """The forward bands ``lo`` <= task < ``min(lo + k, tasks)``, then those a thread claims
    after them, each by ``band`` (:func:`_affine_band` or :func:`_grid_band`, which take the
    affine θ or the grid as ``coords``) with the thread's row buffers."""
    hi = min(lo + k, tasks)
    Ho, Wo = out.shape[1], out.shape[2]
    rpt, bands = _forward_bands(out)
    scratch = _scratch(_group_rows(Wo) * Wo, out.dtype,
                       _table_values(coords, inp, out, align_corners))
    while lo < hi:
        for task in range(lo, hi):
            n, i0, i1 = _band_of(task, bands, rpt, Ho)
            band(inp, coords, out, n, i0, i1, mode, padding, align_corners, cval, scratch, gaddr)
        lo, hi = claim(counter, k, tasks)


@njit(fastmath=_FASTMATH, cache=True)
def affine_worker(inp, theta, out, mode, padding, align_corners, cval, gaddr, counter, k, tasks,
                  lo):
    """The bands of an affine forward that one thread claims (:func:`_affine_band`);
    ``gaddr``: the address of the rows' gather (:func:`.gather.gather_address`)."""
    _run_bands(_affine_band, inp, theta, out, mode, padding, align_corners, cval, gaddr, counter,
               k, tasks, lo)


@njit(fastmath=_FASTMATH, cache=True)
def grid_worker(inp, grid, out, mode, padding, align_corners, cval, gaddr, counter, k, tasks,
                lo):
    """The bands of a grid forward that one thread claims (:func:`_grid_band`; ``gaddr`` as
    for :func:`affine_worker`)."""
    _run_bands(_grid_band, inp, grid, out, mode, padding, align_corners, cval, gaddr, counter, k,
               tasks, lo)


@njit(fastmath=_FASTMATH, cache=True)
def affine_int_worker(inp, theta, out, mode, padding, align_corners, cval, work, gaddr, counter,
                      k, tasks, lo):
    """The bands of an affine forward into an integer image that one thread claims
    (:func:`_affine_band_int`, computed in the dtype of ``work``, with a float row buffer for
    the general per-point code). The loop of :func:`_run_bands` written out again: passing the
    row buffer through it (``band(..., *extra)``) made the float workers 1-3% slower (W1,
    W3, grey float32, 120 rounds side by side)."""
    hi = min(lo + k, tasks)
    Ho, Wo, C = out.shape[1], out.shape[2], out.shape[3]
    rpt, bands = _forward_bands(out)
    G = _group_rows(Wo)
    scratch = _scratch(G * Wo, work.dtype, _table_values(theta, inp, out, align_corners))
    row = np.empty(G * Wo * C, dtype=work.dtype)
    while lo < hi:
        for task in range(lo, hi):
            n, i0, i1 = _band_of(task, bands, rpt, Ho)
            _affine_band_int(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval,
                             scratch, row, gaddr)
        lo, hi = claim(counter, k, tasks)


@njit(fastmath=_FASTMATH, cache=True)
def affine_backward_worker(gout, inp, theta, gin, mode, padding, align_corners, cval, need_gin,
                           split, scatter, partial, counter, k, tasks, lo):
    """The tasks of an affine backward that one thread claims (:func:`_task_plan`); task t's
    θ-gradient sums go to ``partial[t]``. ``scatter``: the address of :func:`_scatter_band`
    (:func:`.backward.scatter_address`), which a single image's second pass calls."""
    hi = min(lo + k, tasks)
    Ho, H = gout.shape[1], inp.shape[1]
    scratch = _backward_scratch(gout.shape[2])
    cells = _backward_cells_scratch(gout.shape[2], gin.dtype)
    while lo < hi:
        for t in range(lo, hi):
            n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(t, split, Ho, H, need_gin)
            sums = _affine_backward_task(gout, inp, theta, gin, mode, padding, align_corners,
                                         cval, n, i0, i1, scatter_now, y_lo, y_hi, scratch,
                                         cells, scatter)
            for q in range(6):
                partial[t, q] = sums[q]
        lo, hi = claim(counter, k, tasks)


@njit(cache=True)
def grid_backward_worker(gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval,
                         need_gin, split, scatter, counter, k, tasks, lo):
    """The tasks of a grid backward that one thread claims (:func:`_task_plan`); ``scatter``
    as for :func:`affine_backward_worker`."""
    hi = min(lo + k, tasks)
    Ho, Wo = grid.shape[1], grid.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    sx, sy, flat, gflat, ginflat = _backward_views(gout, inp, gin, align_corners)
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
                _backward_row(inp, flat, gout, gflat, n, i, 0, px, py, mode, padding, cval, gin,
                              ginflat, scatter_now, True, 0, H, dgx, dgy, cells)
                if _unit_grad(padding):  # (mx, my) unwritten: 1 (two loops: one with a
                    # select per pixel took W2's grid backward 1.03x-1.04x the time)
                    for j in range(Wo):
                        grad_grid[n, i, j, 0] = dgx[j] * sx
                        grad_grid[n, i, j, 1] = dgy[j] * sy
                else:
                    for j in range(Wo):
                        grad_grid[n, i, j, 0] = dgx[j] * mx[j] * sx
                        grad_grid[n, i, j, 1] = dgy[j] * my[j] * sy
            if y_hi > y_lo:
                for i in range(Ho):
                    if _grid_row_misses_band(grid, n, i, H, padding, align_corners, y_lo, y_hi):
                        continue
                    _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
                    call_at(_scatter_band, scatter, (inp, flat, gout, gflat, n, i, px, py, mode,
                                                     padding, cval, gin, ginflat, y_lo, y_hi,
                                                     dgx, dgy, cells))
        lo, hi = claim(counter, k, tasks)
