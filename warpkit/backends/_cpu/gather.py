"""The gather pass of a forward row: it reads the four corners of every interior pixel without
bounds checks (4 lanes a pixel for 3 and 4 channels; 8 pixels at a time for one float channel,
in the interior spans of integer images and in blocks of their 3- and 4-channel rows, those of
3 and 4 channels not on AMD Zen processors, where the cells of one-channel pixels are read by
plain loads instead of gathers: see :mod:`warpkit._tuning`), fills the pixels outside and lists
the rest for the edge pass (:func:`_gather_row_C`)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from ..._coords import BILINEAR
from ..._tuning import GATHER_BLOCKS, LEVEL_TABLE, LEVEL_WINDOWS
from .._simd import (
    alwaysinline,
    edge8,
    edge8_takes,
    lerp4,
    lerp4_writes,
    lerp8,
    lerp8_loads,
    lerp8_pairs,
    lerp8_window,
    lerp8c,
    lerp8c_loads,
    lerp8c_window,
    noinline,
    prefetch,
)
from .common import (
    _FASTMATH,
    CHECK,
    FILL,
    MASK,
    PREFETCH,
    _cell0_inside,
    _edge_cell,
    _rows_inside,
)
from .indirect import MadeAddresses, call_at
from .store import _store, _store_lerp

#: One-channel integer rows gathered whole (a group of narrow rows, or a row not cut into
#: spans) of at least this many columns go 8 pixels at a time (:func:`_blocks1`).
BLOCK_COLUMNS = 32


@njit(inline="always")
def _has_nan(oflat, q, C):
    """Whether one of the C values at ``oflat[q:]`` is NaN."""
    nan = False
    for c in range(C):
        v = oflat[q + np.uint64(c)]
        nan |= v != v
    return nan


def _as_weight(v, w):
    """The pixel value ``v`` in the float dtype of the weight ``w``, as :func:`._simd.lerp4`
    converts its lanes. Written out because numba's own promotion is not numpy's for every
    dtype: it types ``uint16 * float32`` as float64 (uint8 and int16 times float32 as
    float32)."""
    raise NotImplementedError("compiled only: see _as_weight_overload")


@overload(_as_weight, inline="always")
def _as_weight_overload(v, w):
    to = as_dtype(w).type

    def convert(v, w):
        return to(v)

    return convert


@njit(inline="always")
def _lerp_scalar(flat, oflat, p, p2, uC, q, a, b, c_, d, C, wts):
    """Bilinear of one pixel, channel by channel, in the dtype of the weights (the rounding of
    :func:`._simd.lerp4` and :func:`._simd.lerp8c`)."""
    for c in range(C):
        uc = np.uint64(c)
        v00, v01 = _as_weight(flat[p + uc], a), _as_weight(flat[p + uC + uc], a)
        v10, v11 = _as_weight(flat[p2 + uc], a), _as_weight(flat[p2 + uC + uc], a)
        _store_lerp(oflat, q + uc, (v00 * a + v01 * b) + (v10 * c_ + v11 * d), wts)


def _lerp4(flat, oflat, p, p2, step, q, a, b, c, d):
    """:func:`._simd.lerp4` for the dtypes it takes (:func:`._simd.lerp4_writes`); for the
    others, which never take the gather's 4-lane branch but are typed through it, a stub that
    raises."""
    raise NotImplementedError("compiled only: see _lerp4_overload")


@overload(_lerp4, inline="always")
def _lerp4_overload(flat, oflat, p, p2, step, q, a, b, c, d):
    if lerp4_writes(flat.dtype, oflat.dtype, a):
        def step4(flat, oflat, p, p2, step, q, a, b, c, d):
            lerp4(flat, oflat, p, p2, step, q, a, b, c, d)

        return step4

    def unreachable(flat, oflat, p, p2, step, q, a, b, c, d):
        raise AssertionError("lerp4 does not take these dtypes")

    return unreachable


@njit(inline="always")
def _lane_limit(flat, base, WC, C, junk):
    """The cell offsets (unsigned, from ``base``) below which :func:`._simd.lerp4` may read a
    cell of ``flat``: with a ``junk`` 4th lane (C = 3) it reads the next pixel's first channel
    after the cell's last corner, inside the array for every cell but the last one of the last
    image; without one, every cell (``CHECK``, which no plain offset reaches)."""
    return np.uint64(max(flat.shape[0] - base - WC - 2 * C, 0) if junk else CHECK)


@njit(fastmath=_FASTMATH)
def _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C,
                  lanes4):
    """Gather pass over columns j0 <= j < j1 of a row: every pixel with
    ``offs >= 0`` reads its corners without bounds checks (unsigned indices, so no
    negative-index wraparound either); ``FILL`` pixels get ``cval``; ``EDGE`` pixels are left
    for later: their columns are appended to ``edges`` after the first ``ne``, and the new
    count is returned (so that the edge pass does not scan the row again). A ``CHECK`` pixel
    (offset with bit 62 set, see :func:`_classify_row`) whose result holds a NaN goes there
    too: the edge pass recomputes it from the corners the exact sampler reads.

    The 4-lane path is one unsigned compare: an offset below ``lim`` is an interior pixel
    without the ``CHECK`` flag (negative codes and flagged offsets are huge as unsigned
    numbers) whose 4-lane step stays inside the image; everything else takes the branches
    below it (W1 0.86-0.90x the time of testing the codes, the flag and the 4-lane conditions
    one by one). ``offs`` holds ``PREFETCH`` entries past the row's pixels, so that the
    prefetch needs no test of the column."""
    alwaysinline()
    uC = np.uint64(C)
    ub = np.uint64(base)
    uWC = np.uint64(WC)
    q = np.uint64(obase + j0 * C)
    # 3 or 4 channels of a float32 (or integer) image: 4 lanes per pixel (lerp4; float64
    # measured faster in scalars). With C = 3 the 4th lane is junk: it reads the next pixel's
    # first channel (so only while that stays inside the array: o < lim) and writes where the
    # next pixel of this row writes after it (so never for the row's last pixel, whose offset
    # gets the CHECK flag here, before the loop: one compare per pixel instead of two, W1
    # 0.97x-0.98x the time of testing each pixel's column too)
    vector = (C == 3 or C == 4) and lanes4
    junk = vector and C == 3
    ulim = _lane_limit(flat, base, WC, C, junk)
    last = offs.shape[0] - PREFETCH - 1
    if junk and j0 <= last < j1 and offs[last] >= 0:
        offs[last] |= CHECK
    for jj in range(j0, j1):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound
        o2 = offs[j + np.uint64(PREFETCH)]
        p3 = ub + np.uint64(o2 & MASK if o2 > 0 else 0)
        prefetch(flat, p3)
        prefetch(flat, p3 + uWC)
        o = offs[j]
        if vector and mode == BILINEAR and np.uint64(o) < ulim:
            p = ub + np.uint64(o)
            _lerp4(flat, oflat, p, p + uWC, uC, q, wts[0, j], wts[1, j], wts[2, j], wts[3, j])
        elif o >= 0:  # channel by channel (also CHECK pixels, and where 4 lanes would leave)
            p = ub + np.uint64(o & MASK)
            if mode != BILINEAR:  # nearest: the offset is the pixel's
                for c in range(C):
                    _store(oflat, q + np.uint64(c), flat[p + np.uint64(c)], wts)
            else:
                _lerp_scalar(flat, oflat, p, p + uWC, uC, q, wts[0, j], wts[1, j], wts[2, j],
                             wts[3, j], C, wts)
                if o >= CHECK and _has_nan(oflat, q, C):
                    edges[ne] = jj
                    ne += 1
        elif o == FILL:
            for c in range(C):
                _store(oflat, q + np.uint64(c), cval[c], wts)
        else:
            edges[ne] = jj
            ne += 1
        q += uC
    return ne


def _lerp8c_block(flat, oflat, offs, wts, base, j, q, row, lim, nc):
    """:func:`._simd.lerp8c`, its one-channel cells read by plain loads instead of gathers
    (:func:`._simd.lerp8c_loads`) where :data:`warpkit._tuning.GATHER_BLOCKS` is False: chosen
    when compiled, so that only one of them is (with both, a first grey uint8 ``warp`` with an
    empty cache took 0.3-1.1 s longer)."""
    raise NotImplementedError("compiled only: see _lerp8c_block_overload")


@overload(_lerp8c_block, prefer_literal=True, inline="always")
def _lerp8c_block_overload(flat, oflat, offs, wts, base, j, q, row, lim, nc):
    literal = isinstance(nc, types.IntegerLiteral)
    step = lerp8c_loads if literal and nc.literal_value == 1 and not GATHER_BLOCKS else lerp8c
    return lambda flat, oflat, offs, wts, base, j, q, row, lim, nc: step(
        flat, oflat, offs, wts, base, j, q, row, lim, nc)


@njit(inline="always")
def _blocks8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, nc, lanes4):
    """:func:`_gather_row_C` over columns j0 <= j < j1 of a row of an integer image of ``nc``
    (a constant 1, 3 or 4) channels (those of :func:`_span_loop`), bilinear rows 8 pixels at a
    time where all 8 are plain interior ones (:func:`._simd.lerp8c`), each other block of 8 and
    the last (j1 - j0) % 8 pixels through the pixel loop."""
    ub = np.uint64(base)
    uWC = np.uint64(WC)
    lim = _lerp8c_limit(flat, base, WC, nc)
    stop = j1 if mode == BILINEAR else j0  # blocks up to here: bilinear rows only
    jj = j0
    while jj < j1:
        q = np.uint64(obase + jj * nc)
        while jj + 8 <= stop:  # blocks of 8 plain interior pixels
            j = np.uint64(jj)
            for k in range(8):  # the rows of each pixel PREFETCH ahead
                o2 = offs[j + np.uint64(PREFETCH + k)]
                p3 = ub + np.uint64(o2 & MASK if o2 > 0 else 0)
                prefetch(flat, p3)
                prefetch(flat, p3 + uWC)
            if not _lerp8c_block(flat, oflat, offs, wts, ub, j, q, uWC, lim, nc):
                break
            jj += 8
            q += np.uint64(8 * nc)
        # the block lerp8c left, or the last pixels, through the pixel loop (in order, so
        # that each 4th lane lerp4 writes past a pixel is written over after it)
        end = jj + 8 if jj + 8 <= stop else j1
        ne = _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, jj,
                           end, nc, lanes4)
        jj = end
    return ne


def _blocks1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
    """:func:`_blocks8` of a one-channel row of an integer image (those of :func:`_span_loop`),
    a function of its own (:func:`._simd.noinline`), which :func:`.forward._sample_row` calls
    for rows gathered whole (not cut into spans) of at least ``BLOCK_COLUMNS`` columns: groups
    of narrow rows above all. For other types, which are typed through it but never take it,
    a stub that raises.

    Called there rather than from :func:`gather_one` (which the columns around a wide row's
    span take, a few pixels a call): with the blocks in :func:`gather_one`, behind a test of
    the column count, a 256-wide grey uint8 image took 1.06x-1.20x the time, each short call
    paying for the function's larger set-up (Intel Xeon machine, one thread)."""
    raise NotImplementedError("compiled only: see _blocks1_overload")


@overload(_blocks1, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _blocks1_overload(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
    if not _span_loop(flat, oflat, wts):
        def unreachable(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
            if j1 >= 0:
                raise AssertionError("the blocks of one-channel rows do not take these types")
            return ne

        return unreachable

    def blocks(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
        noinline()
        return _blocks8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                        1, False)

    return blocks


def _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """The gather pass of a row (:func:`_gather_row_C`) as a function of its own, so
    that its loop gets the registers to itself, specialised per call site (see the overload
    below)."""
    raise NotImplementedError("compiled only: see _gather_overload")


@overload(_gather, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather_overload(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """A constant ``C`` and the dtypes fix at compile time whether pixels take the 4-lane
    step (3 or 4 channels, float32 weights, see :func:`._simd.lerp4_writes`), so the loop
    carries no test for it. Other channel counts get one loop with ``C`` a run-time value.

    Where :data:`warpkit._tuning.GATHER_BLOCKS` (not on AMD Zen processors), integer images of 3 or
    4 channels (those of :func:`_span_loop`) take bilinear rows 8 pixels at a time where all 8 are
    plain interior ones (:func:`._simd.lerp8c`), and each other block of 8 and the last (j1 - j0) %
    8 pixels through :func:`_gather_row_C`: rows narrower than ``SPAN_COLUMNS`` and the columns
    around the interior spans of wider ones (which take :func:`_gather_span`). B32u8 (256 RGB 32x32
    images, random θ) took 0.89x-0.93x the time of pixel by pixel (outputs identical); each such
    gather takes 0.4-0.9 s longer to compile (1.3-1.7 s before, alone). Writing the interior pixels
    of every block (masks) and the rest one at a time was no faster. One-channel rows keep the pixel
    loop here: in this gather the blocks made a grey 1024x1024 uint8 image 1.06x-1.08x slower (its
    rows' few pixels around the span); whole one-channel rows take :func:`_blocks1` instead."""
    if isinstance(C, types.IntegerLiteral):
        nc = C.literal_value
        lanes4 = nc in (3, 4) and wts.dtype.bitwidth == 32 and lerp4_writes(
            flat.dtype, oflat.dtype, wts.dtype)

        if not (GATHER_BLOCKS and nc in (3, 4) and _span_loop(flat, oflat, wts)):
            def gather_c(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                         C):
                return _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval,
                                     edges, ne, j0, j1, nc, lanes4)

            return gather_c

        def gather8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
            return _blocks8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                            j1, nc, lanes4)

        return gather8

    def gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
        return _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                             j0, j1, C, False)

    return gather


@njit(fastmath=_FASTMATH)
def _edge_bilinear(flat, oflat, base, q, ix, iy, W, H, C, cval, wts):
    """Bilinear at a finite (ix, iy) in [-1, W) x [-1, H) with corners outside the image,
    which read ``cval`` (arithmetic in float64, as ``sample_point``; stored by
    :func:`_store`)."""
    alwaysinline()
    fx, fy, xa, ya, in_x0, in_x1, in_y0, in_y1 = _edge_cell(ix, iy, W, H)
    p = base + (ya * W + xa) * C
    w00 = (1.0 - fx) * (1.0 - fy)
    w01 = fx * (1.0 - fy)
    w10 = (1.0 - fx) * fy
    w11 = fx * fy
    for c in range(C):
        fill = cval[c]  # an outside corner of weight 0 reads 0 (sample_point's weighed_fill)
        v00 = flat[p + c] if in_y0 and in_x0 else (fill if w00 != 0.0 else 0.0)
        v01 = flat[p + C + c] if in_y0 and in_x1 else (fill if w01 != 0.0 else 0.0)
        v10 = flat[p + W * C + c] if in_y1 and in_x0 else (fill if w10 != 0.0 else 0.0)
        v11 = flat[p + W * C + C + c] if in_y1 and in_x1 else (fill if w11 != 0.0 else 0.0)
        _store(oflat, q + c, v00 * w00 + v01 * w01 + v10 * w10 + v11 * w11, wts)


def _gather1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
    """The gather pass of a one-channel row: for float images, bilinear, 8 pixels at a time
    (:func:`._simd.lerp8`; :func:`._simd.lerp8_loads`, plain loads instead of gathers, where
    :data:`warpkit._tuning.GATHER_BLOCKS` is False and :func:`._cell0_inside`: W2's forward 0.82x
    the time on the Zen 4 machine, one thread; either also stores the ``cval`` of pixels
    entirely outside the image and computes the pixels with the ``CHECK`` flag, leaving those
    whose result is NaN); the pixels of a block of 8 that it leaves (edges, NaN) are appended
    to the edge list as they are, without a branch per pixel. The last (j1 - j0) % 8 pixels,
    and every other image, go through :func:`_gather`.

    Until 2026-12-06 such a block went through :func:`_gather` from the first to the last pixel
    left (a call, a loop with a test per pixel, interior pixels computed again): about a fifth
    of W2's blocks hold an edge pixel, and W2's forward took 1.15x the time of this (one
    thread; a grey 1024x1024 image 1.08x-1.09x), outputs identical."""
    raise NotImplementedError("compiled only: see _gather1_overload")


def _eight_lanes(flat, oflat) -> bool:
    """Whether one-channel rows of an image of numba array type ``flat`` into ``oflat`` are
    gathered 8 pixels at a time (:func:`._simd.lerp8`), their edge pixels too
    (:func:`._simd.edge8`): a float image into its own dtype."""
    return isinstance(oflat.dtype, types.Float) and flat.dtype == oflat.dtype


def _takes_edge8(flat, oflat, wts):
    """Whether the edge pixels of one-channel rows of ``flat`` into ``oflat`` with weights
    ``wts`` go 8 at a time (:func:`._simd.edge8_takes`): float images, and integer ones of at
    most 16 bits (a constant in compiled code)."""
    raise NotImplementedError("compiled only: see _takes_edge8_overload")


@overload(_takes_edge8, inline="always")
def _takes_edge8_overload(flat, oflat, wts):
    lanes = edge8_takes(flat.dtype, oflat.dtype, wts.dtype)
    return lambda flat, oflat, wts: lanes


def _edge8(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts):
    """:func:`._simd.edge8` for the images it takes (:func:`_takes_edge8`); for the others, which
    never call it but are typed through it, a stub that raises."""
    raise NotImplementedError("compiled only: see _edge8_overload")


@overload(_edge8, inline="always")
def _edge8_overload(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts):
    if edge8_takes(flat.dtype, oflat.dtype, wts.dtype):
        def lanes(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts):
            return edge8(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts)

        return lanes

    def unreachable(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts):
        if k >= 0:
            raise AssertionError("edge8 does not take these dtypes")
        return np.uint64(0)

    return unreachable


@overload(_gather1, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather1_overload(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
    if not _eight_lanes(flat, oflat):
        def gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
            return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                           j1, 1)

        return gather

    pairs = not GATHER_BLOCKS  # see _gather_span

    def gather8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1):
        if mode != BILINEAR:
            return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                           j1, 1)
        loads = pairs and _cell0_inside(flat, base, WC)  # lanes without a cell read cell 0
        ub = np.uint64(base)
        uW = np.uint64(WC)
        lim = np.uint64(CHECK)  # interior offsets without the flag: all four corners inside
        flag = np.uint64(CHECK)  # and with it (see _classify_row)
        fill = oflat.dtype.type(cval[0])  # what _store stores for FILL pixels
        jj = j0
        while jj + 8 <= j1:
            j = np.uint64(jj)
            # the rows of pixels PREFETCH and PREFETCH + 4 ahead, as _gather_row_C does (one
            # inline helper for both measured 1.02-1.18x the time on a grey 1024x1024 image)
            for k in range(2):
                o2 = offs[j + np.uint64(PREFETCH + 4 * k)]
                p3 = ub + np.uint64(o2 & MASK if o2 > 0 else 0)
                prefetch(flat, p3)
                prefetch(flat, p3 + uW)
            q = np.uint64(obase + jj)
            if loads:
                rest = lerp8_loads(flat, oflat, offs, wts, ub, j, q, uW, lim, flag, FILL, fill)
            else:
                rest = lerp8(flat, oflat, offs, wts, ub, j, q, uW, lim, flag, FILL, fill)
            if rest != 0:  # edge pixels, and CHECK pixels whose result is NaN: the edge pass's
                for k in range(8):
                    edges[ne] = jj + k
                    ne += np.intp((rest >> np.uint64(k)) & np.uint64(1))
            jj += 8
        return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, jj, j1, 1)

    return gather8


@njit(fastmath=_FASTMATH, cache=True)
def gather_one(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """:func:`_gather_call` of a one-channel row, compiled and cached on its own for
    :func:`gather_address`."""
    return _gather1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1)


@njit(fastmath=_FASTMATH, cache=True)
def gather_four(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """:func:`_gather_call` of a 4-channel row (see :func:`gather_one`)."""
    return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, 4)


@njit(fastmath=_FASTMATH, cache=True)
def gather_any(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """:func:`_gather_call` of a row of any other channel count (see :func:`gather_one`)."""
    return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C)


@njit(cache=True)
def _gather_abi(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """The signature of the gathers above and nothing else (their arguments and result), for
    :func:`_gather_call`'s :func:`.indirect.call_at`: a stub, quick to compile, compiled for the
    same argument types as the gather whose address the call gets, so that the call is typed
    without compiling a gather the row may not use."""
    return ne


#: The gather of a row with C channels called through its address (C = 1, 4;
#: :func:`gather_any` for the rest). 3-channel rows, the most common, keep theirs linked
#: (:func:`_gather_call`) and get the stub's address, which they never call.
GATHERS = {1: gather_one, 3: _gather_abi, 4: gather_four}


def _gather_args(ti, to, tc, tw) -> tuple:
    """The numba types of a gather's arguments as :func:`.forward._sample_row` passes them,
    from those of the kernel's inp, out and cval, and of an array of the weights' dtype (out
    for a float image, the integer kernel's work array for an integer one)."""
    i64 = types.int64
    return (ti.copy(ndim=1), to.copy(ndim=1), i64, i64, i64, i64, types.Array(types.int64, 1, "C"),
            types.Array(tw.dtype, 2, "C"), tc, types.Array(types.intp, 1, "C"), types.intp, i64,
            i64, i64)


_GATHER = MadeAddresses(_gather_args, typed_by=_gather_abi)


def gather_address(inp: np.ndarray, out: np.ndarray, cval: np.ndarray,
                   work: np.ndarray | None = None) -> int:
    """The address of the gather (:data:`GATHERS`) for the images ``inp`` (N, H, W, C) into
    ``out``, with weights in the dtype of ``work`` (the integer kernel's; ``out``'s for float
    images, when None), with argument types made from theirs as :func:`.forward._sample_row`
    calls it (compiled, or loaded from numba's cache, on first use, with :func:`_gather_abi`,
    whose signature it must share), for the kernels to pass down to their rows.

    The float workers then hold the gather of 3-channel rows only: a first float ``warp``
    compiles the gather of its own channel count and no other, and no level above the gather
    compiles its code again (see :mod:`.indirect`). With an empty cache, alternating with the
    code before (Zen 4 machine): a first float32 RGB ``warp`` 9.2 s against 11.7-12.0 s, the
    benchmark suite's cold start (a grey 32x32 image) 10.0-10.1 s against 11.9-12.3 s; kernel
    times the same within 1.5% either way."""
    return _GATHER.of(GATHERS.get(inp.shape[3], gather_any), inp, out, cval,
                      out if work is None else work)


def _gather_call(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                 C):
    """The gather pass of a row: for 3 channels the gather linked in, with C a constant; for
    any other channel count the gather compiled for it on its own (:data:`GATHERS`, with C a
    constant for 1 and 4), called through ``gaddr``, its address from :func:`gather_address`.

    3-channel rows keep theirs linked: a call through the address passes six arrays, about 50
    values, and W3's 224-pixel rows took up to 1.04x the time that way, W1u8, whose rows make
    up to three gather calls around their span, 1.04x. For integer images, which had every
    gather linked until 2026-12-05, a first uint8 RGB ``warp`` with an empty cache then took
    9.3-9.6 s instead of 12.1-12.4 s, grey uint8 10.0-10.1 s instead of 12.3-12.4 s, and the
    kernels 1.01x-1.03x the time (W1u8, grey uint8), RGBA uint8 1.03x-1.04x (Zen 4 machine,
    one and two threads).

    An inlined overload with one implementation: written as an ``inline="always"`` ``@njit``
    function instead, a first uint8 RGB ``warp`` took 9.3-11.2 s against 9.2-10.4 s (four
    alternating pairs; float32 9.1-10.4 s against 9.4-10.3 s)."""
    raise NotImplementedError("compiled only: see _gather_call_overload")


@overload(_gather_call, inline="always")
def _gather_call_overload(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                          j0, j1, C):
    def through(gaddr, flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
        if j1 <= j0:  # no columns (around a span that fills the row): no call (_sample_row)
            return ne
        if C == 3:
            return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                           j1, 3)
        return call_at(_gather_abi, gaddr, (flat, oflat, base, obase, WC, mode, offs, wts, cval,
                                            edges, ne, j0, j1, C))

    return through


def _gather_span(flat, oflat, base, obase, WC, offs, wts, j0, j1, C, level):
    """The gather pass over columns j0 <= j < j1 of an affine row of an integer image (or of a
    one-channel float image, below) that all lie strictly inside the image
    (:func:`_classify_interior`'s): every pixel bilinear from its four corners, without the codes
    and flags of :func:`_gather_row_C`, 8 pixels at a time (:func:`._simd.lerp8c`; with 3 or 4
    channels only where :data:`warpkit._tuning.GATHER_BLOCKS`, not on AMD Zen processors) and the
    rest of the row one at a time (:func:`._simd.lerp4`, or the scalar code with one channel): the
    last (j1 - j0) % 8 pixels, or all from a block that holds a cell past lerp8c's limit (the last
    image's last cells), and the source rows of each pixel ``PREFETCH`` columns ahead asked for
    only while that pixel is in the span too (its offset needs no test then). A function of its own
    (:func:`._simd.noinline`: LLVM inlined the short loop into the row's code, where it ran slower
    than the gather it replaces). On the Intel Xeon machine W1u8 took 0.93x-0.96x the time of the
    one gather over the row in 9 of 10 A/B runs, one and two threads (1.03x in one), outputs
    identical; unrolled by two, 1.08x-1.16x. Float images of 3 and 4 channels measured no gain (W1
    0.97x-1.00x, W3 1.00x-1.06x; on the Zen 4 machine W3 1.09x-1.11x) and keep the one gather. Only
    for what :func:`_spans_apart` admits (C, a constant, 1, 3 or 4); for other types, which are
    typed through it but never take it, a stub that raises.

    One-channel rows at one height (``level``: offsets from :func:`.classify._classify_level`,
    monotonic along the row) first take :func:`._simd.lerp8_window` where
    :data:`warpkit._tuning.LEVEL_WINDOWS` (:func:`_level_windows`), as float32 ones do below
    (grey uint8 images zoomed by 2 or mirrored 0.71x-0.78x the time, outputs identical); rows
    of 3 or 4 channels take :func:`._simd.lerp8c_window` before the span is called
    (:func:`_int_windows`).

    8 pixels at a time (2026-12-06, Intel Xeon machine, against one at a time, outputs identical):
    W1u8 0.82x-0.84x the time, RGBA uint8 0.75x-0.79x, uint16 RGB 0.86x-0.89x (one and two threads);
    on the Zen 4 machine 1.09x-1.35x, so not there (see :mod:`warpkit._tuning`). The pixels one at a
    time are written out in the loop: called as a function marked always-inline, the loop still made
    six calls through registers a pixel (reference counting of the arrays passed, it seems; seen in
    its machine code), and W1u8 one at a time took 2.8x-3.4x the time. It needs every pixel's rows
    prefetched: for 2 of each 8 pixels, as the one-channel gather does, W1u8 took 1.10x the time of
    every pixel's (its source rows change every 2 pixels or so); 64 or 96 pixels ahead instead of 32
    measured the same. One-channel rows, which until then took the general gather pixel by pixel: a
    grey 1024x1024 uint8 image 0.65x the time (outputs identical), uint16 0.54x (values then
    differed by 1 in a few pixels, 43 of 90000 in a test: numba computed a uint16 times a float32 in
    float64 in the scalar code, until :func:`_as_weight`).

    One-channel float images (those of :func:`_eight_lanes`) take :func:`._simd.lerp8` 8 pixels
    at a time without its codes, flags and fills (the span has none; or
    :func:`._simd.lerp8_pairs`, plain loads instead of gathers, where
    :data:`warpkit._tuning.GATHER_BLOCKS` is False: on the Zen 4 machine a grey 1024x1024
    float32 image 0.85x-0.86x the time, zoomed by 2 0.76x-0.81x, float64 0.79x, one and two
    threads, outputs identical; the masked :func:`._simd.lerp8_loads` measured 1.04x the time
    of that), then the last (j1 - j0) % 8 pixels one at a time. In a row at one height
    (``level``: offsets from :func:`.classify._classify_level`, monotonic along the row),
    float32 blocks whose cells lie within 15 columns first take :func:`._simd.lerp8_window`
    where :data:`warpkit._tuning.LEVEL_WINDOWS` (:func:`_level_windows`). The columns around
    the span keep :func:`_gather1`, rows narrower than ``SPAN_COLUMNS`` too. Against
    :func:`_gather1` over the whole row (Zen 4 machine, 2026-12-06, one / two threads, two
    runs, outputs identical): a grey 1024x1024 float32 image 0.92x-0.97x / 0.94x the time,
    float64 0.96x / 0.94x, zoomed by 2 0.88x-0.90x / 0.85x-0.95x; W2's forward (60-pixel rows)
    unchanged.
    Every float row function compiles this branch (the channel count is a run-time value
    there): a first grey float32 ``warp`` with an empty cache took 11.8-12.9 s against
    11.7-11.9 s, an RGB one 11.1-11.2 s against 10.2-11.8 s (three alternating pairs)."""
    raise NotImplementedError("compiled only: see _gather_span_overload")


@njit(inline="always")
def _window_fits(flat, offs, base, j, WC, nc):
    """Whether the window step of ``nc`` channels (:func:`._simd.lerp8_window` for one,
    :func:`._simd.lerp8c_window` for 3 or 4) may take the 8 pixels from column j of a row at
    one height (offsets from :func:`.classify._classify_level`, monotonic along the row): the
    first's and the last's offsets differ by at most 14 values with one channel (cells within
    15 columns), 32 - 2·nc with more, and the window's 16 values (32 with more channels) from
    the leftmost cell, in its row and the next (WC values on), lie inside ``flat``."""
    first = offs[j]
    last = offs[j + np.uint64(7)]
    count = 16 if nc == 1 else 32
    return abs(last - first) <= count - 2 * nc and _rows_inside(flat, base, min(first, last),
                                                                WC, count)


def _level_windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc):
    """The 8-pixel blocks from column j0 of a row at one height of ``nc`` channels (1, 3 or
    4, a literal) that :func:`._simd.lerp8_window` (one channel) or
    :func:`._simd.lerp8c_window` (3 or 4) takes, one after the other, while they fit
    (:func:`_window_fits`) and end by j1; returns the first column left. Without the prefetch:
    each source row is read once, in order (with it, a grey 1024x1024 float32 image zoomed by 2
    took 0.963x the time of the code before the windows, without it 0.917x, one thread; RGB
    float32 zoomed by 2 1.077x and 0.999x, mirrored and scaled by 1.1 0.989x). Compiled
    only where :data:`warpkit._tuning.LEVEL_WINDOWS` and for the types the steps take; else
    none are taken (j0)."""
    raise NotImplementedError("compiled only: see _level_windows_overload")


@overload(_level_windows, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _level_windows_overload(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc):
    k = nc.literal_value if isinstance(nc, types.IntegerLiteral) else None
    floats = flat.dtype == oflat.dtype == types.float32
    if not (LEVEL_WINDOWS and k in (1, 3, 4) and (floats or _span_loop(flat, oflat, wts))):
        return lambda flat, oflat, offs, wts, base, obase, WC, j0, j1, nc: j0

    step = {1: _window1, 3: _window3, 4: _window4}[k]

    def windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc):
        alwaysinline()
        ub = np.uint64(base)
        uW = np.uint64(WC)
        jj = j0
        while jj + 8 <= j1:
            j = np.uint64(jj)
            if not _window_fits(flat, offs, base, j, WC, k):
                break
            step(flat, oflat, offs, wts, ub, j, np.uint64(obase + jj * k), uW)
            jj += 8
        return jj

    return windows


def _int_windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc, level):
    """:func:`_level_windows` for the interior span of an integer row of ``nc`` = 3 or 4
    channels (a literal) when it lies at one height (``level``), called before
    :func:`_gather_span` takes the rest of the span: with the windows' loop in the span's own
    function, the one-pixel loop beside it ran slower (W1u8 1.06x-1.08x the time, one thread).
    j0 for float images, whose rows of 3 or 4 channels take their windows in
    :func:`.forward._sample_row` (:func:`_level_floats`)."""
    raise NotImplementedError("compiled only: see _int_windows_overload")


@overload(_int_windows, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _int_windows_overload(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc, level):
    if not _span_loop(flat, oflat, wts):
        return lambda flat, oflat, offs, wts, base, obase, WC, j0, j1, nc, level: j0

    def windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc, level):
        alwaysinline()
        if level:
            return _level_windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc)
        return j0

    return windows


@njit(inline="always")
def _no_windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc):
    """:func:`_level_windows` taking none (j0)."""
    return j0


@njit(inline="always")
def _window1(flat, oflat, offs, wts, base, j, q, step):
    lerp8_window(flat, oflat, offs, wts, base, j, q, step)


@njit(inline="always")
def _window3(flat, oflat, offs, wts, base, j, q, step):
    lerp8c_window(flat, oflat, offs, wts, base, j, q, step, 3)


@njit(inline="always")
def _window4(flat, oflat, offs, wts, base, j, q, step):
    lerp8c_window(flat, oflat, offs, wts, base, j, q, step, 4)


def _span_loop(flat, oflat, wts) -> bool:
    """Whether the interior span of a row goes through :func:`_gather_span`, for the numba
    array types of the image, the output and the weights: an integer output that the 4-lane
    step writes (:func:`._simd.lerp4_writes`)."""
    return isinstance(oflat.dtype, types.Integer) and lerp4_writes(flat.dtype, oflat.dtype,
                                                                    wts.dtype)


@njit(inline="always")
def _lerp8c_limit(flat, base, WC, C):
    """The cell offsets (unsigned, from ``base``) below which :func:`._simd.lerp8c` may read a
    cell of ``flat``, in an image of C channels and rows of WC values: with one channel, one-byte
    pixels read 2 bytes past each cell row, so every cell but the last one of the last image;
    two-byte ones, only the cell. With 3 or 4 channels, :func:`_lane_limit`'s for lerp4, which
    also holds for one-byte pixels of 3 channels, read 2 values past the cell (one more than
    lerp4): offsets and that limit are whole pixels, so an offset below it is at least a pixel
    below it."""
    if C == 1:
        return np.uint64(max(flat.shape[0] - base - WC - 3, 0) if flat.itemsize == 1 else CHECK)
    return _lane_limit(flat, base, WC, C, C == 3)


@overload(_gather_span, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather_span_overload(flat, oflat, base, obase, WC, offs, wts, j0, j1, C, level):
    nc = C.literal_value if isinstance(C, types.IntegerLiteral) else None
    if nc == 1 and _eight_lanes(flat, oflat):  # a float image: lerp8 without codes or flags
        # cells read with plain loads where gathers are slow (see _tuning)
        pairs = not GATHER_BLOCKS

        def span1(flat, oflat, base, obase, WC, offs, wts, j0, j1, C, level):
            noinline()
            ub = np.uint64(base)
            uW = np.uint64(WC)
            every = np.uint64(CHECK)  # every plain offset is below it
            jj = _level_windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, 1) if level else j0
            while jj + 8 <= j1:
                j = np.uint64(jj)
                if jj + PREFETCH + 8 <= j1:  # as _gather1: 2 of each 8 pixels
                    for k in range(2):
                        p3 = ub + np.uint64(offs[j + np.uint64(PREFETCH + 4 * k)])
                        prefetch(flat, p3)
                        prefetch(flat, p3 + uW)
                if pairs:
                    lerp8_pairs(flat, oflat, offs, wts, ub, j, np.uint64(obase + jj), uW)
                else:
                    lerp8(flat, oflat, offs, wts, ub, j, np.uint64(obase + jj), uW, every, None,
                          None, None)
                jj += 8
            for i in range(jj, j1):  # the last (j1 - j0) % 8
                j = np.uint64(i)
                p = ub + np.uint64(offs[j])
                _lerp_scalar(flat, oflat, p, p + uW, np.uint64(1), np.uint64(obase + i),
                             wts[0, j], wts[1, j], wts[2, j], wts[3, j], 1, wts)

        return span1
    if nc not in (1, 3, 4) or not _span_loop(flat, oflat, wts):
        def unreachable(flat, oflat, base, obase, WC, offs, wts, j0, j1, C, level):
            raise AssertionError("the span loop does not take these types")

        return unreachable

    blocks = nc == 1 or GATHER_BLOCKS  # 8 at a time (see _tuning)
    # one channel takes its windows here, 3 or 4 before the span is called (_int_windows)
    windows = _level_windows if nc == 1 else _no_windows

    def span(flat, oflat, base, obase, WC, offs, wts, j0, j1, C, level):
        noinline()
        uC = np.uint64(nc)
        ub = np.uint64(base)
        uWC = np.uint64(WC)
        lim8 = _lerp8c_limit(flat, base, WC, nc)
        # lerp4's: lerp8c's with 3 or 4 channels; none with one, which lerp4 does not take
        ulim = np.uint64(0) if nc == 1 else lim8
        jj = windows(flat, oflat, offs, wts, base, obase, WC, j0, j1, nc) if level else j0
        q = np.uint64(obase + jj * nc)
        while blocks and jj + 8 <= j1:
            j = np.uint64(jj)
            if jj + PREFETCH + 8 <= j1:  # the rows of every pixel PREFETCH ahead, as below
                for k in range(8):
                    p3 = ub + np.uint64(offs[j + np.uint64(PREFETCH + k)])
                    prefetch(flat, p3)
                    prefetch(flat, p3 + uWC)
            if not _lerp8c_block(flat, oflat, offs, wts, ub, j, q, uWC, lim8, nc):
                break  # a cell past lerp8c's limit (in the last image's last rows)
            jj += 8
            q += np.uint64(8) * uC
        ahead = max(jj, j1 - PREFETCH)
        for i in range(jj, j1):  # one at a time: the rest of the row
            j = np.uint64(i)
            if i < ahead:
                p3 = ub + np.uint64(offs[j + np.uint64(PREFETCH)])
                prefetch(flat, p3)
                prefetch(flat, p3 + uWC)
            o = np.uint64(offs[j])
            p = ub + o
            if o < ulim:
                lerp4(flat, oflat, p, p + uWC, uC, q, wts[0, j], wts[1, j], wts[2, j], wts[3, j])
            else:  # the weights read in another order: LLVM hoists reads common to both
                # branches above the branch, and lerp4 then broadcasts them from registers, 4
                # instructions more per pixel than its multiplies reading them from memory (on
                # the Zen 4 machine W1u8 0.77x-0.86x the time, uint16 RGB 0.87x, RGBA uint8
                # 0.89x; outputs identical)
                d = wts[3, j]
                c = wts[2, j]
                b = wts[1, j]
                a = wts[0, j]
                _lerp_scalar(flat, oflat, p, p + uWC, uC, q, a, b, c, d, nc, wts)
            q += uC

    return span


@njit
def _fill(oflat, lo, hi, cval, wts):
    """``oflat[lo:hi]`` gets ``cval`` repeated (hi - lo is a multiple of its length), each value
    as :func:`_store` stores it."""
    C = cval.shape[0]
    zero = True
    for k in range(C):  # +0.0 only: a fill of -0.0 keeps its sign
        zero &= cval[k] == 0.0 and math.copysign(1.0, cval[k]) > 0.0
    if zero:  # a vectorised memset
        oflat[lo:hi] = 0
        return
    for q in range(lo, hi, C):
        for k in range(C):
            _store(oflat, np.uint64(q + k), cval[k], wts)


def _spans_apart(flat, oflat, wts, C):
    """Whether :func:`_sample_row` gathers a row's interior span through :func:`_gather_span`:
    1, 3 or 4 channels of the types of :func:`_span_loop`, or one channel of a float image
    (those of :func:`_eight_lanes`; a constant at compile time)."""
    raise NotImplementedError("compiled only: see _spans_apart_overload")


@overload(_spans_apart, inline="always")
def _spans_apart_overload(flat, oflat, wts, C):
    if _eight_lanes(flat, oflat):
        return lambda flat, oflat, wts, C: C == 1
    if not _span_loop(flat, oflat, wts):
        return lambda flat, oflat, wts, C: False
    return lambda flat, oflat, wts, C: C == 1 or C == 3 or C == 4


def _level_floats(flat, oflat, C):
    """Whether :func:`.forward._sample_row` takes the interior span of a float row of C = 3 or 4
    channels at one height through the table's blocks (:mod:`.level`) and then
    :func:`_level_windows` (:func:`._simd.lerp8c_window`, where
    :data:`warpkit._tuning.LEVEL_WINDOWS`), between the gathers of the columns around it:
    float32 images where :data:`warpkit._tuning.LEVEL_TABLE` (the types are a constant at
    compile time, C a run-time value)."""
    raise NotImplementedError("compiled only: see _level_floats_overload")


@overload(_level_floats, inline="always")
def _level_floats_overload(flat, oflat, C):
    takes = LEVEL_TABLE and flat.dtype == oflat.dtype == types.float32
    return lambda flat, oflat, C: takes and (C == 3 or C == 4)


def _whole_blocks(flat, oflat, wts, C):
    """Whether :func:`_sample_row` gathers a whole one-channel row (not cut into spans) of at
    least ``BLOCK_COLUMNS`` columns through :func:`_blocks1`: one channel of the types of
    :func:`_span_loop` (integer images; float ones take :func:`_gather1`, 8 pixels at a time
    too)."""
    raise NotImplementedError("compiled only: see _whole_blocks_overload")


@overload(_whole_blocks, inline="always")
def _whole_blocks_overload(flat, oflat, wts, C):
    ints = _span_loop(flat, oflat, wts)
    return lambda flat, oflat, wts, C: ints and C == 1
