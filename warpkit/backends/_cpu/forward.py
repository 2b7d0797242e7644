"""The forward's rows: per-task row buffers, one row (or a group of narrow rows) through the
passes of :mod:`.classify` and :mod:`.gather` and the edge pass (:func:`_sample_row`), and the
bands of rows that the parallel kernels of :mod:`warpkit.backends.cpu` hand to each task."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..._coords import BILINEAR, CONSTANT, WRAP, ZEROS
from .._simd import alwaysinline, borrow
from .classify import _affine_spans, _classify, _classify_interior, _classify_level, _pad
from .common import (
    _FASTMATH,
    PREFETCH,
    _affine_cols,
    _grid_coords,
    _head,
    affine_coeffs,
    sample_point,
    unnormalize,
    usable_coeffs,
)
from .gather import (
    BLOCK_COLUMNS,
    _blocks1,
    _edge8,
    _edge_bilinear,
    _fill,
    _gather_call,
    _gather_span,
    _int_windows,
    _level_floats,
    _level_windows,
    _spans_apart,
    _takes_edge8,
    _whole_blocks,
)
from .level import (
    _level_blocks,
    _level_rows,
    _level_scratch,
    _on_last_column,
    _whole_rows,
    takes_table,
)
from .store import _stored_point

#: Output pixels per parallel forward task, at least one row (amortises the per-task row
#: buffers and calls: 4 rows of a 1024-wide image, a whole 60x60 image).
TASK_PIXELS = 4096


@njit(inline="always")
def _rows_per_task(Ho, Wo):
    """Output rows per forward task: ``TASK_PIXELS`` pixels' worth, between 1 and Ho."""
    return max(1, min(Ho, TASK_PIXELS // max(Wo, 1)))


@njit(inline="always")
def _forward_bands(out):
    """(rows per task, bands per sample) of a forward into ``out`` (N, Ho, Wo, C)."""
    Ho, Wo = out.shape[1], out.shape[2]
    rpt = _rows_per_task(Ho, Wo)
    return rpt, (Ho + rpt - 1) // rpt


@njit(inline="always")
def _scratch(Wo, dtype, values):
    """Per-task row buffers: padded pixel coordinates (px, py), flat corner offsets (int64;
    ``FILL``/``EDGE`` codes for the rest, see :func:`_classify_row`), the 4 bilinear
    weights per pixel in the output dtype (float32 weights for float32 and integer images, as
    PyTorch), the columns of the row's edge pixels, and the table of ``values`` values of rows
    at one height (:func:`.level._level_scratch`; see :func:`_table_values`)."""
    return (np.empty(Wo), np.empty(Wo), np.zeros(Wo + PREFETCH, np.int64),
            np.empty((4, Wo), dtype), np.empty(Wo, np.intp), _level_scratch(values))


def _table_values(coords, inp, out, align_corners):
    """The values of a thread's table for rows at one height (:func:`.level._level_blocks`):
    those of an output row (Wo·C) when ``coords`` is an affine θ (N, 2, 3) of which some
    image's rows lie at one height (ay = 0, as :func:`_sample_row` tests it), its rows have 1, 3
    or 4 channels and are wide enough to be cut into spans (``SPAN_COLUMNS``), and its dtypes
    take the table (:func:`.level.takes_table`); else 0 (a grid, or no such rows: no table, so
    that such calls allocate no more than before)."""
    raise NotImplementedError("compiled only: see _table_values_overload")


@overload(_table_values, inline="always")
def _table_values_overload(coords, inp, out, align_corners):
    if coords.ndim != 3 or not takes_table(inp.dtype, out.dtype):  # a grid, or no blocks
        return lambda coords, inp, out, align_corners: 0

    def columns(coords, inp, out, align_corners):
        H, W = inp.shape[1], inp.shape[2]
        Ho, Wo = out.shape[1], out.shape[2]
        C = out.shape[3]
        if not (C == 1 or C == 3 or C == 4) or Wo < LEVEL_COLUMNS:
            return 0
        for n in range(coords.shape[0]):
            if affine_coeffs(coords, n, H, W, Ho, Wo, align_corners)[3] == 0.0:
                return Wo * C
        return 0

    return columns


@njit(inline="always")
def _scratch_view(scratch, m):
    """The first m pixels of row buffers of :func:`_scratch` (for a group of rows, see
    :func:`_group_rows`), C-contiguous like them."""
    px, py, offs, wts, edges, table = scratch
    return px[:m], py[:m], offs[:m + PREFETCH], _head(wts, (4, m)), edges[:m], table


@njit(fastmath=_FASTMATH)
def _sample_row(inp, flat, oflat, obase, n, mode, padding, align_corners, cval, points,
                scratch, aff, gaddr):
    """Sample a row of image n into ``oflat[obase:]`` from its unpadded pixel coordinates
    (a row: Wo = ``px.shape[0]`` pixels, one output row or a group of them, see
    :func:`_group_rows`). The general per-point code writes into the flat ``points`` from its
    start: ``oflat[obase:]`` for a float output, a float buffer for an integer one (whose
    pixels :func:`_store` then stores, see :func:`_points`).

    ``aff = (fused, ax, rx, ay, ry)``: when ``fused`` (an affine row with finite coefficients
    and any padding but wrap, see :func:`_row_coords`) the coordinates are ix = ax·j + rx,
    iy = ay·j + ry, and the row is cut into columns (:func:`_affine_spans`): with zeros or
    constant padding those entirely outside the image get ``cval`` at once; those strictly
    inside, which no padding changes, go through :func:`_classify_interior` (which computes
    their coordinates), or, in a row at one height (ay = 0: no rotation or shear), through
    :func:`_classify_level` (the same values, the row's y part computed once); only the rest
    get coordinates in scratch's (px, py), padded, and :func:`_classify_row`'s tests. Else the
    coordinates are in (px, py) already, unpadded.

    ``gaddr``: the address of the gather of the image's rows (:func:`.gather.gather_address`),
    which 3-channel rows do not use (their gather is linked in, see
    :func:`.gather._gather_call`).

    The tests and the gather of the columns around the interior span are called only for
    columns there are: a row whose span fills it (a zoom, a flip, a crop inside the image) made
    four calls of nothing, each passing its arguments, about 50 values (2026-12-07, Zen 4
    machine, outputs identical, one / two threads): grey 1024x1024 images zoomed by 2
    0.82x-0.88x / 0.85x-0.87x the time, mirrored 0.82x (uint8) / 0.89x (float32), an RGB one
    zoomed 0.98x, 16 grey 256x256 uint8 images turned 20° inside the image 0.70x / 0.74x; fits
    of time against row width leave about 70-90 ns a row of 190-230 ns. Turned images, whose
    rows have columns on both sides, about the same (two threads: W1, W1u8, W3 0.99x-1.00x,
    G256u8 0.97x). A test for an empty fill inside :func:`.gather._fill` made W1u8
    1.007x-1.074x the time in eight runs (without it 0.97x-1.01x in five) and no zoom faster;
    once the rows at one height took their blocks from a table (below), the fills and the span
    gather after the blocks are called only for columns there are (2026-12-07, Zen 4, one
    thread, outputs identical: 16 grey 256x256 images zoomed by 2 0.77x-0.79x the time, a grey
    1024x1024 one 0.91x; W1, W1u8, G256u8, turned grey float32 0.99x-1.02x).

    In a row at one height of 1, 3 or 4 channels (float32, or integers of up to 16 bits), the
    interior span is first taken 16 values (AVX-512) or 8 (AVX2) at a time from a table of its
    columns' cells and x fractions that the thread keeps from row to row while the map is the
    same, after the
    gather of the columns before the span (whose 4th lane may fall into pixel b) and before
    the cells of the columns it leaves are classified (:func:`_level_start`,
    :func:`.level._level_blocks`, where :data:`warpkit._tuning.LEVEL_TABLE`; the same values to
    the bit). Against classifying every row's cells and picking them from windows (Zen 4
    machine, 2026-12-07, ``ab_kernels.py e9751ab``, one / two threads, outputs identical): W1's
    grey image zoomed by 2 or mirrored and scaled by 1.1 0.41x-0.44x / 0.46x-0.55x the time, 16
    grey 256x256 images zoomed 0.50x-0.51x / 0.54x-0.59x, RGB and RGBA ones 0.69x-0.83x /
    0.71x-0.87x; turned images 0.95x-1.01x / 0.90x-1.02x. What the blocks leave (a last part
    block), and the interior spans of other rows at one height, where
    :data:`warpkit._tuning.LEVEL_WINDOWS`, take blocks of 8 pixels that pick their corners from
    windows of each source row
    (:func:`.gather._level_windows`): one-channel rows in :func:`.gather._gather_span`, integer
    rows of 3 or 4 channels just before it (:func:`.gather._int_windows`), float32 ones of 3 or
    4 between the gathers of the columns around the span (:func:`.gather._level_floats`).

    The gather lists the row's edge pixels, which the edge pass then samples: those of a
    one-channel row, float or integer of up to 16 bits, 8 at a time (:func:`._simd.edge8`, the
    same arithmetic as :func:`.gather._edge_bilinear`'s and the same stores, so the same
    values; with one thread W2's forward 0.92x the time of one at a time, a batch of 256 grey
    28x28 uint8 images 0.97x)."""
    alwaysinline()
    px, py, offs, wts, edges, table = scratch
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    Wo = px.shape[0]
    base = n * H * W * C
    WC = W * C
    fused, ax, rx, ay, ry = aff
    level = fused and ay == 0.0  # a row at one height (θ[n, 1, 0] = 0: no rotation)
    fills = padding == ZEROS or padding == CONSTANT
    # an integer image of 1, 3 or 4 channels, or a float image of one
    apart = _spans_apart(flat, oflat, wts, C)
    floats34 = _level_floats(flat, oflat, C)  # a float32 image of 3 or 4
    if fused:
        A, b, c, B = _affine_spans(ax, rx, ay, ry, W, H, Wo, fills)
        if mode != BILINEAR or b == c:
            b = c = B  # no interior span: every column through the tests
        # coordinates in (px, py) only for the columns between; padding changes none inside
        _affine_cols(px, py, ax, rx, ay, ry, A, b)
        _affine_cols(px, py, ax, rx, ay, ry, c, B)
        # and the row's last pixel's when it lies inside: with 3 channels the gather flags it
        # (its junk lane) and sends it to the edge pass when its result holds a NaN
        if C == 3 and b < c == Wo:
            _affine_cols(px, py, ax, rx, ay, ry, c - 1, c)
        # calls only for columns there are (see above)
        if not fills:
            if A < b:
                _pad(px[A:b], py[A:b], W, H, padding, align_corners)
            if c < B:
                _pad(px[c:B], py[c:B], W, H, padding, align_corners)
        if A < b:
            _classify(px, py, W, H, C, mode, padding, offs, wts, A, b)
        if not level:
            _classify_interior(W, H, C, offs, wts, b, c, ax, rx, ay, ry)
        elif not (apart or floats34):  # else after the table's blocks (below)
            _classify_level(W, H, C, offs, wts, b, c, ax, rx, ry)
        if c < B:
            _classify(px, py, W, H, C, mode, padding, offs, wts, c, B)
    else:
        A = Wo - Wo  # 0, typed as Wo (one compilation of the calls below)
        B = Wo
        _pad(px, py, W, H, padding, align_corners)
        _classify(px, py, W, H, C, mode, padding, offs, wts, A, B)
    none = np.intp(0)  # no edge pixels yet, typed as the count (a literal 0 is a type of its own)
    if fused and b < c and apart:
        ne = _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none,
                          A, b, C)
        # with 3 channels lerp4 writes a 4th lane into the next pixel, which the gather after
        # the span or a fill writes after it, unless the span ends the row
        e = c - 1 if c == Wo and C == 3 else c
        t = b
        if level:  # the table's blocks first, then the cells of the columns they left
            t = _level_start(flat, oflat, base, obase, WC, table, offs, wts, W, H, C, b, e, c,
                             ax, rx, ry)
        if C == 3:
            s = _int_windows(flat, oflat, offs, wts, base, obase, WC, t, e, 3, level)
            if s < e:
                _gather_span(flat, oflat, base, obase, WC, offs, wts, s, e, 3, level)
        elif C == 1:
            if t < e:
                _gather_span(flat, oflat, base, obase, WC, offs, wts, t, e, 1, level)
        else:
            s = _int_windows(flat, oflat, offs, wts, base, obase, WC, t, e, 4, level)
            if s < e:
                _gather_span(flat, oflat, base, obase, WC, offs, wts, s, e, 4, level)
        ne = _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                          e, B, C)
    elif level and b < c and floats34:
        # float32 pixels of 3 or 4 channels at one height: the interior span's blocks from
        # windows, between the gathers of the columns around them (the 4th lane that the first
        # writes into pixel b with 3 channels, the windows then write over)
        ne = _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none,
                          A, b, C)
        t = _level_start(flat, oflat, base, obase, WC, table, offs, wts, W, H, C, b, c, c, ax, rx,
                         ry)
        if C == 3:
            e = _level_windows(flat, oflat, offs, wts, base, obase, WC, t, c, 3)
        else:
            e = _level_windows(flat, oflat, offs, wts, base, obase, WC, t, c, 4)
        ne = _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                          e, B, C)
    elif _whole_blocks(flat, oflat, wts, C) and mode == BILINEAR and B - A >= BLOCK_COLUMNS:
        ne = _blocks1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none, A, B)
    else:
        ne = _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none,
                          A, B, C)
    if fused and fills:  # after the gather: the junk 4th lane of pixel B - 1 may write into pixel B
        if A > 0:
            _fill(oflat, obase, obase + A * C, cval, wts)
        if B < Wo:
            _fill(oflat, obase + B * C, obase + Wo * C, cval, wts)
    edge_inline = mode == BILINEAR and padding != WRAP
    out = _head(points, (1, 1, Wo, C))
    if edge_inline and C == 1 and _takes_edge8(flat, oflat, wts):  # edge pixels 8 at a time
        for k in range(0, ne, 8):
            left = _edge8(flat, oflat, px, py, edges, k, ne, base, obase, W, H, cval[0], wts)
            for i in range(8):  # NaN: the general per-point code
                if (left >> np.uint64(i)) & np.uint64(1):
                    j = edges[k + i]
                    sample_point(inp, n, px[j], py[j], mode, padding, cval, out, 0, 0, j)
                    _stored_point(oflat, obase + j, out, j, wts)
        return
    for k in range(ne):  # the edge pixels
        j = edges[k]
        q = obase + j * C
        ix = px[j]
        iy = py[j]
        if edge_inline and ix == ix and iy == iy:
            _edge_bilinear(flat, oflat, base, q, ix, iy, W, H, C, cval, wts)
        else:  # NaN, wrap, nearest edges: the general per-point code
            sample_point(inp, n, ix, iy, mode, padding, cval, out, 0, 0, j)
            _stored_point(oflat, q, out, j, wts)


@njit(inline="always")
def _level_start(flat, oflat, base, obase, WC, table, offs, wts, W, H, C, b, e, c, ax, rx, ry):
    """The interior span b <= j < c of a row at one height of C = 1, 3 or 4 channels: the
    blocks of 16 values from the table of its columns up to column e (c, or c - 1 where the
    integer span loop leaves the row's last pixel to the gather after it) first
    (:func:`.level._level_blocks`), then the cells and weights of the columns they left
    (:func:`.classify._classify_level`), which the row's other steps take; returns the first
    of those."""
    t = _level_blocks(flat, oflat, base, obase, WC, table, b, e, ax, rx, ry, C)
    _classify_level(W, H, C, offs, wts, t, c, ax, rx, ry)
    return t


#: Output rows at least this wide are cut into column spans (:func:`_affine_spans`); narrower
#: ones classify every column, which costs less than finding the spans (measured on the Intel
#: Xeon machine, time with spans / without, for C = 1 and 3: 32 px wide 1.59x and 1.35x,
#: 64 px 1.26x and 1.23x, 128 px 1.06x and 1.04x, 160 px 0.97x, 224 px 0.88x and 0.91x).
SPAN_COLUMNS = 144
#: Pixels in a group of narrow rows (:func:`_group_rows`) at most.
GROUP_PIXELS = 1024
#: Rows at one height (an affine map without rotation) at least this wide are cut into spans
#: too, one by one, so that they take the table's blocks (:mod:`.level`) however narrow: those
#: of 1, 3 or 4 channels of the dtypes the table takes (others stay in groups: a float64 row's
#: coordinates, computed fused, would differ from the grouped rows' in the last bits). On the
#: Zen 3 machine (one thread, against grouped rows, outputs identical): 64 grey float32 128x128
#: images zoomed by 2 0.279x the time, 64 RGB uint8 ones 0.467x, 256 grey uint8 32x32 ones
#: 0.706x, the grey ones shifted by a fraction of a pixel (an edge column in every row) 0.581x.
LEVEL_COLUMNS = 16


@njit(inline="always")
def _row_coords(px, py, ax, bx, cx, ay, by, cy, i, padding, level):
    """The coordinates of affine output row i for :func:`_sample_row`, as ``aff``: the row's
    coefficients, fused, when they are finite, the padding is not wrap and the row has at
    least ``SPAN_COLUMNS`` columns, or lies at one height (``level``: see
    :data:`LEVEL_COLUMNS`); else they are computed into (px, py), which the padding then
    changes."""
    rx = bx * i + cx
    ry = by * i + cy
    fused = (padding != WRAP and (level or px.shape[0] >= SPAN_COLUMNS)
             and np.isfinite(ax + rx + ay + ry))
    if not fused:
        _affine_cols(px, py, ax, rx, ay, ry, 0, px.shape[0])
    return (fused, ax, rx, ay, ry)


@njit(inline="always")
def _group_rows(Wo):
    """Output rows of a forward task sampled as one row of Wo·rows pixels (:func:`_sample_row`),
    so that rows narrower than ``SPAN_COLUMNS`` (never cut into spans) go through each pass a
    group at a time instead of one by one: W2 forward 0.81x-0.87x the time of row by row (one
    thread, interleaved; groups of 512 pixels 0.86x). Groups hold at most ``GROUP_PIXELS``
    pixels, so that their buffers are no bigger than a 1024-wide row's (whole 60x60 images:
    0.76x-0.78x of row by row, 0.94x of 1024-pixel groups, but with the backward in such
    groups too W2's peak traced memory went from 7.4 to 8.1 MB). The backward measured no
    faster in groups (1.02x-1.05x; one run 0.87x) and stays row by row. Rows at one height of
    at least ``LEVEL_COLUMNS`` columns are not grouped (:func:`_affine_rows_of`)."""
    return max(1, GROUP_PIXELS // max(Wo, 1)) if Wo < SPAN_COLUMNS else 1  # Wo = 0: empty


@njit(inline="always")
def _affine_rows(px, py, ax, bx, cx, ay, by, cy, i, rows, Wo):
    """:func:`_row_coords`'s unfused coordinates of output rows i <= r < i + rows, one after
    the other in (px, py)."""
    for k in range(rows):
        r = i + k
        rx = bx * r + cx
        ry = by * r + cy
        _affine_cols(px[k * Wo:(k + 1) * Wo], py[k * Wo:(k + 1) * Wo], ax, rx, ay, ry, 0, Wo)


@njit(inline="always")
def _band_of(task, bands, rpt, Ho):
    """(n, i0, i1): the sample and output rows of forward task ``task``."""
    i0 = (task % bands) * rpt
    return task // bands, i0, min(Ho, i0 + rpt)


@njit(inline="always")
def _borrowed(inp, out, cval, scratch):
    """The arrays of a band as views that hold no reference (:func:`._simd.borrow`), so that
    the per-row calls and slices count no references: on the 2-core Intel Xeon machine, W2's
    forward 0.79-0.80x, its backward 0.90-1.00x, W3 0.92x the time of counting them
    (bit-identical)."""
    a, b, c, d, e, (f, g, h) = scratch
    return borrow(inp), borrow(out), borrow(cval), (borrow(a), borrow(b), borrow(c), borrow(d),
                                                     borrow(e), (borrow(f), borrow(g), borrow(h)))


def _points(oflat, obase, row):
    """Where the general per-point code writes a row starting at ``oflat[obase]``: there for a
    float output (``row`` is None), the float buffer ``row`` for an integer one (fixed at
    compile time by the output's dtype)."""
    raise NotImplementedError("compiled only: see _points_overload")


@overload(_points, inline="always")
def _points_overload(oflat, obase, row):
    if isinstance(oflat.dtype, types.Float):
        return lambda oflat, obase, row: oflat[obase:]
    return lambda oflat, obase, row: row


@njit(fastmath=_FASTMATH, inline="always")
def _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    row, gaddr):
    """Rows i0 <= i < i1 of sample n of an affine forward, a group of rows at a time
    (:func:`_group_rows`; rows at one height one by one, see :data:`LEVEL_COLUMNS`), those
    whose every column lies inside the image straight from the table
    (:func:`.level._level_rows`, on the Zen 3 machine 16 grey 256x256 images zoomed by 2 took
    0.67x-0.74x the time of the row code, a grey 1024x1024 one 0.89x-0.93x), with zeros or
    constant padding those with columns outside it too (Zen 4 machine: 64 grey 128x128 float32
    images shifted by a fraction of a pixel 0.75x, a grey 1024x1024 uint8 one shrunk by 1.25
    0.66x); ``row`` is the float buffer of an integer ``out``, None for a float one (see
    :func:`_points`)."""
    H, W = inp.shape[1], inp.shape[2]
    Ho, Wo, C = out.shape[1], out.shape[2], out.shape[3]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
    usable = usable_coeffs(ax, bx, cx, ay, by, cy)
    # rows one by one, cut into spans, where the table takes them (see LEVEL_COLUMNS)
    level = (usable and ay == 0.0 and Wo >= LEVEL_COLUMNS and _whole_rows(flat, oflat)
             and (C == 1 or C == 3 or C == 4))
    G = 1 if level else _group_rows(Wo)
    # a map at one height without shear: rows that lie inside the image (with zeros or
    # constant padding, rows with columns outside it too) go straight from the table
    # (_level_rows), the rest as below
    fills = padding == ZEROS or padding == CONSTANT
    edges = level and fills and not _on_last_column(ax, cx, W, Wo)
    whole = (level and mode == BILINEAR and bx == 0.0 and padding != WRAP
             and (edges or _inside_x(ax, cx, W, Wo)))
    i = i0
    while i < i1:
        if whole:
            i = _level_rows(flat, oflat, scratch[5], n, i, i1, H, W, C, Ho, Wo, ax, cx, ay, by,
                            cy, fills, edges, cval, scratch[3])
            if i >= i1:
                break
        m = min(G, i1 - i) * Wo
        view = _scratch_view(scratch, m)
        if not usable:  # the grid points, as affine_grid makes them (and CUDA samples them)
            for k in range(m // Wo):
                _grid_coords(view[0][k * Wo:(k + 1) * Wo], view[1][k * Wo:(k + 1) * Wo],
                             theta, n, i + k, H, W, Ho, align_corners)
            aff = (False, 0.0, 0.0, 0.0, 0.0)
        elif G == 1:
            aff = _row_coords(view[0], view[1], ax, bx, cx, ay, by, cy, i, padding, level)
        else:
            _affine_rows(view[0], view[1], ax, bx, cx, ay, by, cy, i, m // Wo, Wo)
            aff = (False, 0.0, 0.0, 0.0, 0.0)
        obase = (n * Ho + i) * Wo * C
        _sample_row(inp, flat, oflat, obase, n, mode, padding, align_corners, cval,
                    _points(oflat, obase, row), view, aff, gaddr)
        i += G


@njit(inline="always")
def _inside_x(ax, cx, W, Wo):
    """Whether the first and last of Wo columns at ix = ax·j + cx lie strictly inside an image
    W pixels wide, and so every column between (a hint for :func:`.level._level_rows`, which
    tests each row's interior span)."""
    first = cx
    last = ax * (Wo - 1) + cx
    return min(first, last) >= 0.0 and max(first, last) < W - 1.0


@njit(fastmath=_FASTMATH)
def _affine_band(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch, gaddr):
    """Rows i0 <= i < i1 of sample n of :func:`affine_sample`, for each task of
    :func:`.workers.affine_worker` (not inlined there, so that LLVM optimises and vectorises
    the row loops on their own; inlined by LLVM it measured the same and compiled no faster)."""
    inp, out, cval, scratch = _borrowed(inp, out, cval, scratch)
    _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    None, gaddr)


@njit(fastmath=_FASTMATH)
def _affine_band_int(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                     row, gaddr):
    """Rows i0 <= i < i1 of :func:`affine_sample_int`: computed in the dtype of the weights
    and stored into the integer ``out`` rounded (:func:`_store`, :func:`._simd.lerp4`); the
    float buffer ``row`` (a group's values, :func:`_group_rows`) takes what the general
    per-point code writes."""
    inp, out, cval, scratch = _borrowed(inp, out, cval, scratch)
    row = borrow(row)
    _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    row, gaddr)


@njit(fastmath=_FASTMATH)
def _grid_band(inp, grid, out, n, i0, i1, mode, padding, align_corners, cval, scratch, gaddr):
    """Rows i0 <= i < i1 of sample n of :func:`grid_sample` (see :func:`_affine_band`)."""
    inp, out, cval, scratch = _borrowed(inp, out, cval, scratch)
    grid = borrow(grid)
    H, W = inp.shape[1], inp.shape[2]
    Ho, Wo, C = out.shape[1], out.shape[2], out.shape[3]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    G = _group_rows(Wo)
    for i in range(i0, i1, G):
        rows = min(G, i1 - i)
        m = rows * Wo
        view = _scratch_view(scratch, m)
        px, py = view[0], view[1]
        g = grid[n, i:i + rows].reshape((m, 2))
        for j in range(m):
            px[j] = unnormalize(g[j, 0], W, align_corners)
            py[j] = unnormalize(g[j, 1], H, align_corners)
        obase = (n * Ho + i) * Wo * C
        _sample_row(inp, flat, oflat, obase, n, mode, padding, align_corners, cval,
                    oflat[obase:], view, (False, 0.0, 0.0, 0.0, 0.0), gaddr)
