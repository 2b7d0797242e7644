"""One-channel rows at one height (a map without rotation: a zoom, a flip, a crop, a shift)
16 pixels at a time from a table of their columns (:func:`._simd.lerp16_level`).

In such a row every pixel's cell lies in the same two source rows, and the columns' cells and
x fractions depend only on the row's x map (ix = ax·j + rx), which is the same for every row
of a map without shear. :func:`_level_blocks` makes that table once per thread and map
(:func:`_level_table`; a sheared map makes it again for each row) and then samples each row
from it: no per-pixel coordinates, offsets or weights in memory (:func:`.classify._classify_level`
and the window step of :func:`.gather._gather_span` do that for each row)."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..._tuning import PERMUTE16
from .._simd import alwaysinline, lerp4_writes, lerp16_level, muladd, noinline, prefer512
from .common import _FASTMATH, _rows_inside

#: Pixels a step of :func:`._simd.lerp16_level`, and values in each of its windows.
LANES = 16
WINDOW = 32


@njit(inline="always")
def _level_scratch(Wo):
    """A thread's table of the columns of a row of Wo columns (:func:`_level_table`): the cells
    (int32), the x fractions (float32) and the key it was made for (ax, rx, j0, j1; NaN: none
    yet). Wo = 0: none (:func:`_level_blocks` then takes no block)."""
    return np.empty(Wo, np.int32), np.empty(Wo, np.float32), np.full(4, np.nan)


@njit(fastmath=_FASTMATH)
def _level_table(cols, fxs, ax, rx, j0, j1):
    """The cells (floor of ix) and x fractions (float32 of ix - floor) of columns j0 <= j < j1
    of an affine row with ix = ax·j + rx, computed as :func:`.classify._classify_level`
    computes them (the same values to the bit)."""
    prefer512()
    for jj in range(j0, j1):
        j = np.uint64(jj)
        ix = muladd(ax, 1.0 * np.int32(jj), rx)
        x0 = np.floor(ix)
        fxs[j] = np.float32(ix - x0)
        cols[j] = np.int32(x0)


def _level_blocks(flat, oflat, base, obase, W, table, j0, j1, ax, rx, ry):
    """The 16-pixel blocks from column j0 of a one-channel row at one height (ix = ax·j + rx,
    iy = ry), whose columns j0 <= j < j1 all lie strictly inside the image (the interior span
    of :func:`.classify._affine_spans`), through :func:`._simd.lerp16_level` while each
    block's cells lie within 31 columns and its windows inside ``flat``; returns the first
    column left, which the caller samples as before (its cells and weights from
    :func:`.classify._classify_level`). The table of the columns (``table``, from
    :func:`_level_scratch`) is made again only when ax, rx, j0 or j1 differ from the last
    row's. Rows whose cells spread too far for the windows (\\|ax\\| >= 2, a shrink by 2 or
    more) take none.

    Compiled for float32 images and integer ones of :func:`._simd.lerp8c`'s types where
    :data:`warpkit._tuning.PERMUTE16` (AVX-512's two-source permute); else none are taken
    (j0)."""
    raise NotImplementedError("compiled only: see _level_blocks_overload")


@njit(fastmath=_FASTMATH)
def _level_loop(flat, oflat, base, obase, W, cols, fxs, j0, j1, ry):
    """The loop of :func:`_level_blocks` over the blocks of a row, a function of its own."""
    noinline()
    y0 = np.floor(ry)  # as _classify_level: iy = ry at every column
    fy = np.float32(ry - y0)
    gy = np.float32(1.0) - fy
    row = base + np.int64(y0) * W
    urow = np.uint64(row)
    uW = np.uint64(W)
    jj = j0
    while jj + LANES <= j1:
        j = np.uint64(jj)
        first = np.int64(cols[j])
        last = np.int64(cols[j + np.uint64(LANES - 1)])
        least = min(first, last)
        if abs(last - first) > WINDOW - 2 or not _rows_inside(flat, row, least, W, WINDOW):
            break
        lerp16_level(flat, oflat, cols, fxs, urow, least, uW, gy, fy, j, np.uint64(obase + jj))
        jj += LANES
    return jj


@overload(_level_blocks, jit_options={"fastmath": _FASTMATH})
def _level_blocks_overload(flat, oflat, base, obase, W, table, j0, j1, ax, rx, ry):
    f32 = types.float32
    floats = flat.dtype == oflat.dtype == f32
    ints = isinstance(oflat.dtype, types.Integer) and lerp4_writes(flat.dtype, oflat.dtype, f32)
    if not (PERMUTE16 and (floats or ints)):
        return lambda flat, oflat, base, obase, W, table, j0, j1, ax, rx, ry: j0

    def blocks(flat, oflat, base, obase, W, table, j0, j1, ax, rx, ry):
        alwaysinline()
        cols, fxs, key = table
        if j1 - j0 < LANES or not abs(ax) < 2.0 or cols.shape[0] < j1:  # no table
            return j0
        if not (key[0] == ax and key[1] == rx and key[2] == j0 and key[3] == j1):
            _level_table(cols, fxs, ax, rx, j0, j1)
            key[0], key[1], key[2], key[3] = ax, rx, j0, j1
        return _level_loop(flat, oflat, base, obase, W, cols, fxs, j0, j1, ry)

    return blocks
