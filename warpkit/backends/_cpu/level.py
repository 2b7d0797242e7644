"""Rows at one height (a map without rotation: a zoom, a flip, a crop, a shift) of 1, 3 or 4
channels, 16 values at a time (AVX-512) or 8 (AVX2) from a table of their cells
(:func:`._simd.lerp_level`).

In such a row every pixel's cell lies in the same two source rows, and the columns' cells and
x fractions depend only on the row's x map (ix = ax·j + rx), which is the same for every row
of a map without shear. :func:`_level_blocks` makes that table once per thread and map
(:func:`_level_table`; a sheared map makes it again for each row) and then samples each row
from it: no per-pixel coordinates, offsets or weights in memory (:func:`.classify._classify_level`
and the window steps of :mod:`.gather` do that for each row). The table is in values, not
pixels: value k of pixel j has the cell x0·C + k and pixel j's fraction, so that ``LANES``
values are one step whatever the channels.

The table and the loop take the channel count as a run-time value, so that each image dtype
compiles them once: a first ``warp`` of a 64x64 image with an empty cache took 1.0-2.6 s longer
than before the table (grey float32 14.6-14.9 s against 13.0-13.6 s, RGB uint8 16.2-17.0 s
against 14.4-14.6 s; Zen 4, two alternating runs), and with a loop compiled for each channel
count it had taken 15.3-18.0 s and 17.6-18.7 s (against 13.7-14.3 s and 14.4-16.1 s, three
runs). With a warm cache, ``import warpkit`` and a first ``warp`` took 0.46-0.50 s (before:
0.50-0.54 s)."""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

from ..._tuning import LEVEL_TABLE, PERMUTE16
from .._simd import (
    alwaysinline,
    dynamic,
    lerp_level,
    muladd,
    noinline,
    prefer512,
    window_dtypes,
)
from .classify import _affine_spans
from .common import _FASTMATH, _rows_inside
from .gather import _as_weight, _edge_bilinear, _fill
from .store import _store_lerp

#: Values a step of :func:`._simd.lerp_level`, and values in each of its windows: 16 and 32
#: with AVX-512's two-source permute, else 8 and 16 (AVX2's one-source permute, twice a corner).
LANES = 16 if PERMUTE16 else 8
WINDOW = 2 * LANES
#: Fewer values a block may store (of the LANES it computes) where LANES values' cells spread
#: too far for a window (a shrink by more than 2, or by more than 1.6 with 3 channels): with
#: AVX-512 alone, whose masked stores are cheap (AVX2 has none for bytes).
SHORT = (12, 8) if LANES == 16 else ()


@njit(inline="always")
def _level_scratch(n):
    """A thread's table of n values (:func:`_level_table`): the cells (int32), the x fractions
    (float32) and the key it was made for (ax, rx, j0, j1; NaN: none yet). n = 0: none
    (:func:`_level_blocks` then takes no block)."""
    n = n + LANES if n else 0  # room for a short block's last step, which reads LANES values
    return np.empty(n, np.int32), np.empty(n, np.float32), np.full(4, np.nan)


@njit(fastmath=_FASTMATH)
def _level_table(cols, fxs, ax, rx, j0, j1, nc):
    """The cells and x fractions of the values of columns j0 <= j < j1 of an affine row of
    ``nc`` channels with ix = ax·j + rx: value k of pixel j at j·nc + k, its cell x0·nc + k
    (x0 the floor of ix) and its fraction the float32 of ix - x0, computed as
    :func:`.classify._classify_level` computes them (the same values to the bit)."""
    prefer512()
    # one channel: a loop of its own, which LLVM vectorises (1024 columns from Python, dispatch
    # included: 0.67 µs against 2.12 µs through the loop over channels;
    # benchmarks/LOG.md, twenty-third session's review)
    if nc == 1:
        for jj in range(j0, j1):
            j = np.uint64(jj)
            ix = muladd(ax, 1.0 * np.int32(jj), rx)
            x0 = np.floor(ix)
            fxs[j] = np.float32(ix - x0)
            cols[j] = np.int32(x0)
        return
    for jj in range(j0, j1):
        ix = muladd(ax, 1.0 * np.int32(jj), rx)
        x0 = np.floor(ix)
        fx = np.float32(ix - x0)
        cell = np.int32(x0) * np.int32(nc)
        for k in range(nc):
            v = np.uint64(jj * nc + k)
            fxs[v] = fx
            cols[v] = cell + np.int32(k)


@njit(inline="always")
def _fits(ax, nc, size):
    """Whether the cells of blocks of ``size`` values of a row with ix = ax·j + rx fit a window.
    Blocks start at value ``size``·m of the span, on a channel up to nc - gcd(size, nc), so
    their values span at most g + 1 pixels, g = (nc - gcd(size, nc) + size - 1) // nc, whose
    cells x0 (the floors of ix) lie at most ceil(g·|ax|) apart (floor(a + d) - floor(a) is
    floor(d) or, where d is not an integer, floor(d) + 1), their first cells nc times that; a
    block is taken when its first cells lie within WINDOW - 2·nc (its cells then within
    WINDOW - 1 - nc, the right corners nc further). Only a hint that spares a table no block
    would use; each block is checked, and where g·|ax| lies within 1e-9 above an integer, the
    coordinates' rounding may make a block fail it, which leaves the rest of the row to the
    classified cells (the same values, more slowly)."""
    common = nc if size % nc == 0 else 1  # gcd(size, nc) for nc = 1, 3, 4 and size 16, 12, 8
    gaps = (nc - common + size - 1) // nc
    return np.ceil(gaps * abs(ax) - 1e-9) * nc <= WINDOW - 2 * nc


@njit(inline="always")
def _block_values(ax, nc):
    """The values a block of a row with ix = ax·j + rx of ``nc`` channels takes: ``LANES``
    where their cells fit a window (:func:`_fits`: |ax| up to 2, a shrink by 2 included, and
    with 3 channels up to 1.6 with 16 lanes and 1 with 8), else the first of :data:`SHORT`
    whose cells fit (16 lanes: 12 values up to |ax| = 2.73 with one channel, 2.67 with three,
    3 with four; 8 values up to 4.29 with one, 6 with four), else 0 (no block)."""
    if _fits(ax, nc, LANES):
        return LANES
    for size in SHORT:
        if _fits(ax, nc, size):
            return size
    return 0


def _level_blocks(flat, oflat, base, obase, WC, table, j0, j1, ax, rx, ry, nc):
    """The ``LANES``-value blocks from column j0 of a row at one height of ``nc`` channels (1,
    3 or 4; ix = ax·j + rx, iy = ry), whose columns j0 <= j < j1 all lie strictly inside the
    image (the interior span of :func:`.classify._affine_spans`), through
    :func:`._simd.lerp_level` (``LANES`` values a block, or fewer where their cells spread
    too far: :func:`_block_values`) while each block's cells lie within WINDOW - 1 - nc values
    (its pixels' first cells within WINDOW - 2·nc) and its windows inside ``flat``; returns
    the first column left (a column whose values a block took in part is left whole), which
    the caller samples as before (its cells and weights from
    :func:`.classify._classify_level`). The table of the values (``table``, from
    :func:`_level_scratch`) is made again only when ax, rx, j0 or j1 differ from the last
    row's. Rows whose cells spread too far for the windows (:func:`_block_values`) take
    none; so do rows wider than the table.

    Compiled for the types of :func:`takes_table`; for others none are taken (j0)."""
    raise NotImplementedError("compiled only: see _level_blocks_overload")


@njit(fastmath=_FASTMATH)
def _level_loop(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, nc):
    """The loop of :func:`_level_blocks` over the values v0 <= v < v1 of a row, ``LANES``
    values a block, a function of its own (inlined into the row's code, it kept its values on
    the stack: more loads a step); returns the first value left. Written out twice, once for
    one channel with the count a constant (LLVM folds the channel steps away: with the count a
    run-time value, grey 1024² images zoomed took 1.07x-1.09x the time; a function compiled
    for each channel count made a first ``warp`` with an empty cache slower to compile, see
    above)."""
    noinline()
    if nc == 1:
        return _blocks_of(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, 1, LANES)
    return _blocks_of(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, nc, LANES)


@njit(fastmath=_FASTMATH)
def _short_loop(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, nc, size):
    """:func:`_level_loop` with blocks of ``size`` values (fewer than ``LANES``, from
    :data:`SHORT`): a function of its own, so that the loop of whole blocks keeps its block
    size a constant (with it a run-time value, zooms by 2 took 1.02x-1.06x the time)."""
    noinline()
    return _blocks_of(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, nc, size)


@njit(inline="always")
def _blocks_of(flat, oflat, base, obase, WC, cols, fxs, v0, v1, ry, nc, size):
    """The body of :func:`_level_loop`."""
    y0 = np.floor(ry)  # as _classify_level: iy = ry at every column
    fy = np.float32(ry - y0)
    gy = np.float32(1.0) - fy
    row = base + np.int64(y0) * WC
    urow = np.uint64(row)
    uW = np.uint64(WC)
    # the channels of a block's first and last values (v0 is a pixel's first value)
    kf = 0
    kl = (size - 1) % nc
    dk = size % nc
    vv = v0
    while vv + size <= v1:
        v = np.uint64(vv)
        # the first cells of the first and last values' pixels: the block's cells lie from
        # the lesser to the greater + nc - 1, its right corners nc further
        first = np.int64(cols[v]) - kf
        last = np.int64(cols[v + np.uint64(size - 1)]) - kl
        least = min(first, last)
        spread = max(first, last) - least
        if spread > WINDOW - 2 * nc or not _rows_inside(flat, row, least, WC, WINDOW):
            break
        q = np.uint64(obase + vv)
        # a block whose cells lie within LANES - 1 values reads each source row as two
        # windows of LANES values (the right corners from the second, nc values on) and picks
        # each corner by one permute; others read one window of WINDOW values and pick from
        # its halves (two permutes and a select with AVX2, one two-source permute with
        # AVX-512: with 16 lanes the narrow step took 0.91x-0.97x of that time on zooms by 2,
        # benchmarks/LOG.md, twenty-fifth session)
        if spread <= LANES - nc:
            lerp_level(flat, oflat, cols, fxs, urow, least, uW, gy, fy, v, q, nc, size, LANES,
                       LANES)
        else:
            lerp_level(flat, oflat, cols, fxs, urow, least, uW, gy, fy, v, q, nc, size, LANES,
                       WINDOW)
        vv += size
        kf += dk
        kf -= nc if kf >= nc else 0
        kl += dk
        kl -= nc if kl >= nc else 0
    return vv


def takes_table(src, dst) -> bool:
    """Whether rows from images of numba dtype ``src`` into ``dst`` take the table's blocks:
    those of :func:`._simd.window_dtypes`, where :data:`warpkit._tuning.LEVEL_TABLE` (AVX-512's
    two-source permute, or AVX2's one-source one)."""
    return LEVEL_TABLE and window_dtypes(src, dst)


@overload(_level_blocks, jit_options={"fastmath": _FASTMATH})
def _level_blocks_overload(flat, oflat, base, obase, WC, table, j0, j1, ax, rx, ry, nc):
    if not takes_table(flat.dtype, oflat.dtype):
        return lambda flat, oflat, base, obase, WC, table, j0, j1, ax, rx, ry, nc: j0

    def blocks(flat, oflat, base, obase, WC, table, j0, j1, ax, rx, ry, nc):
        alwaysinline()
        cols, fxs, key = table
        k = dynamic(nc)  # one compilation of the table and the loop for every channel count
        size = _block_values(ax, k)
        if size == 0 or (j1 - j0) * k < size or cols.shape[0] < j1 * k + LANES - size:
            return j0
        if not (key[0] == ax and key[1] == rx and key[2] == j0 and key[3] == j1):
            _level_table(cols, fxs, ax, rx, j0, j1, k)
            key[0], key[1], key[2], key[3] = ax, rx, j0, j1
        if size == LANES:
            return _level_loop(flat, oflat, base, obase, WC, cols, fxs, j0 * k, j1 * k, ry,
                               k) // k
        return _short_loop(flat, oflat, base, obase, WC, cols, fxs, j0 * k, j1 * k, ry, k,
                           size) // k

    return blocks


def _whole_rows(flat, oflat):
    """Whether rows from ``flat`` into ``oflat`` may be taken whole by :func:`_level_rows`:
    the dtypes of :func:`takes_table` (a constant at compile time)."""
    raise NotImplementedError("compiled only: see _whole_rows_overload")


@overload(_whole_rows, inline="always")
def _whole_rows_overload(flat, oflat):
    takes = takes_table(flat.dtype, oflat.dtype)
    return lambda flat, oflat: takes


@njit(fastmath=_FASTMATH)
def _level_rows(flat, oflat, table, n, i, i1, H, W, C, Ho, Wo, ax, rx, ay, by, cy, fills, edges,
                cval, wts):
    """Output rows i, i + 1, ... (below i1) of image n of a bilinear affine map at one height
    without shear (ay = 0: iy = by·i + cy at every column; ix = ax·j + rx in every row) whose
    coordinates are finite and whose interior span (:func:`.classify._affine_spans`: the
    columns strictly inside the image) is the whole row, or, with ``edges`` (zeros or constant
    padding, ``fills``, and no column exactly on the image's last column:
    :func:`_on_last_column`), holds a block's values at least and the columns around it lie
    partly outside the image: each straight from the table's blocks (:func:`_level_blocks`)
    and, for the columns they leave, :func:`_tail`; the columns around the span through
    :func:`.gather._edge_bilinear` and the columns entirely outside filled with ``cval``
    (:func:`.gather._fill`), as the row code's edge pass and fills do; without the row code of
    :mod:`.forward` (its spans, buffers and the calls around the span). Returns the first row
    not taken, which the caller samples as before. The blocks' values are the scalar code's to
    the bit, the tail rounds as they do, and the edges are the row code's.

    Takes none (returns i) where the blocks would leave most of the row (rows of fewer values
    than a block, cells too spread out for the windows: :func:`_block_values`, rows wider than
    the table), and where the row code would do a column around the span otherwise: a row on
    the image's last row exactly (its cells inside, gathered), or, with one channel, a column
    whose edge value is NaN (the general per-point code). ``wts`` is an array of the dtype the
    row is computed in (:func:`.store._store`)."""
    noinline()
    cols = table[0]
    size = _block_values(ax, C)
    if size == 0 or Wo * C < size or cols.shape[0] < Wo * C:
        return i
    WC = W * C
    base = n * H * WC
    while i < i1:
        ry = by * i + cy
        if not np.isfinite(ax + rx + ry):
            return i
        A, b, c, B = _affine_spans(ax, rx, ay, ry, W, H, Wo, fills)
        whole = b == 0 and c == Wo
        if not whole and (not edges or (c - b) * C < size or ry == H - 1.0):
            return i
        obase = (n * Ho + i) * Wo * C
        t = _level_blocks(flat, oflat, base, obase, WC, table, b, c, ax, rx, ry, C)
        if t < c:
            _tail(flat, oflat, base, obase, WC, table, t, c, ry, C)
        if not whole:
            if not _edges(flat, oflat, base, obase, ax, rx, ry, A, b, c, B, W, H, C, cval, wts):
                return i
            if A > 0:
                _fill(oflat, obase, obase + A * C, cval, wts)
            if B < Wo:
                _fill(oflat, obase + B * C, obase + Wo * C, cval, wts)
        i += 1
    return i


@njit(inline="always")
def _edge_column(A, b, c, k):
    """Column k of the columns A <= j < b, then c <= j < B, of a row (those around its interior
    span b <= j < c): one loop over them, without a pass over the span."""
    return A + k if k < b - A else c + k - (b - A)


@njit(inline="always")
def _edges(flat, oflat, base, obase, ax, rx, ry, A, b, c, B, W, H, C, cval, wts):
    """Columns A <= j < b and c <= j < B of a row at one height (ix = ax·j + rx, iy = ry)
    through :func:`.gather._edge_bilinear` (one loop: one copy of its code); False at the first
    one-channel value that is NaN, which the row code takes to the general per-point code
    instead."""
    for k in range((b - A) + (B - c)):
        j = _edge_column(A, b, c, k)
        q = obase + j * C
        _edge_bilinear(flat, oflat, base, q, muladd(ax, 1.0 * np.int32(j), rx), ry, W, H, C,
                       cval, wts)
        if C == 1 and oflat[q] != oflat[q]:
            return False
    return True


@njit(inline="always")
def _on_last_column(ax, rx, W, Wo):
    """Whether a column 0 <= j < Wo of a row with ix = ax·j + rx (as
    :func:`.common._affine_cols` computes it) lies on the image's last column exactly, where
    the row code gathers the cell before it rather than taking the column to its edge pass (a
    property of the map, not of the row: the caller tests it once, :func:`_level_rows` takes
    the edges of no row of such a map). A loop LLVM vectorises (no early exit)."""
    last = W - 1.0
    on = 0
    for j in range(Wo):
        on += muladd(ax, 1.0 * np.int32(j), rx) == last
    return on > 0


@njit(inline="always")
def _tail(flat, oflat, base, obase, WC, table, j0, j1, ry, nc):
    """Columns j0 <= j < j1 of a row at one height that the blocks left, from the table's cells
    and fractions (made by :func:`_level_blocks` for the row's columns from 0) and the row's y
    part as :func:`.classify._classify_level` computes it, with the blocks' rounding:
    ``(v00·w0 + v01·w1) + (v10·w2 + v11·w3)`` in float32, each row's first product fused
    (:func:`._simd.muladd`, as :func:`._simd._bilinear`), stored as the scalar code stores
    (:func:`.store._store_lerp`). Written out rather than through the scalar code
    (:func:`.gather._lerp_scalar`), whose sums LLVM fuses as it chooses at each call site: with
    3 channels it fused another product there, and the last pixel of a row came out 1 ulp away
    from the blocks' rounding in some rows."""
    cols, fxs, _ = table
    y0 = np.floor(ry)
    fy = np.float32(ry - y0)
    one = np.float32(1.0)
    gy = one - fy
    row = np.uint64(base + np.int64(y0) * WC)
    uW = np.uint64(WC)
    unc = np.uint64(nc)
    for j in range(j0, j1):
        v = np.uint64(j * nc)
        fx = fxs[v]
        gx = one - fx
        w0, w1, w2, w3 = gx * gy, fx * gy, gx * fy, fx * fy
        p = row + np.uint64(cols[v])
        for k in range(nc):
            uk = np.uint64(k)
            v00, v01 = _as_weight(flat[p + uk], w0), _as_weight(flat[p + unc + uk], w0)
            v10, v11 = _as_weight(flat[p + uW + uk], w0), _as_weight(flat[p + uW + unc + uk], w0)
            _store_lerp(oflat, np.uint64(obase) + v + uk,
                        muladd(v00, w0, v01 * w1) + muladd(v10, w2, v11 * w3), fxs)
