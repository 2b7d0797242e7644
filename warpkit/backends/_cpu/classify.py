"""The vectorised passes of a forward row: padding of its coordinates, the columns of an affine
row that lie outside or strictly inside the image (:func:`_affine_spans`), and every pixel's
corner offset, code and weights (:func:`_classify_row`, :func:`_classify_interior`, and
:func:`_classify_level` for the rows of a map without rotation or shear)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..._coords import BILINEAR, BORDER, CONSTANT, HUGE, REFLECTION, WRAP, ZEROS
from .._simd import alwaysinline, muladd, prefer512
from .common import _FASTMATH, CHECK, EDGE, FILL, _weights, source_index


@njit(inline="always")
def _pad_row(px, py, W, H, padding, align_corners):
    """Apply the padding mode to a row of pixel coordinates in place (forward)."""
    if padding == ZEROS or padding == CONSTANT:
        return
    if padding == BORDER:  # clip_set_grad as selects, so that the loop vectorises
        Wm = W - 1.0
        Hm = H - 1.0
        for j in range(px.shape[0]):
            x = px[j]
            y = py[j]
            x = 0.0 if x <= 0.0 else x
            y = 0.0 if y <= 0.0 else y
            px[j] = Wm if x >= Wm else x  # NaN stays NaN
            py[j] = Hm if y >= Hm else y
        return
    if padding == REFLECTION:
        _reflect_row(px, W, align_corners)
        _reflect_row(py, H, align_corners)
        return
    for j in range(px.shape[0]):
        px[j], _ = source_index(px[j], W, padding, align_corners)
        py[j], _ = source_index(py[j], H, padding, align_corners)


@njit(fastmath=_FASTMATH)
def _pad(px, py, W, H, padding, align_corners):
    """:func:`_pad_row` as a function of its own (compiled once for the call sites of a
    row)."""
    prefer512()
    _pad_row(px, py, W, H, padding, align_corners)


@njit(inline="always")
def _reflect_row(px, size, align_corners):
    """Reflection padding of a row of pixel coordinates, in place and without branches.

    The same map as ``source_index`` (reflect about the outer pixel edges, or about the corner
    pixel centres with ``align_corners``, then clip; NaN, ±inf and ``|x| >= HUGE`` give NaN),
    with the number of flips taken from ``floor`` instead of ``%`` so that the loop vectorises;
    values agree up to rounding next to the mirror lines, where the reflection is continuous.
    """
    lo = 0.0 if align_corners else -0.5
    span = size - 1.0 if align_corners else 1.0 * size
    inv = 1.0 / span if span > 0.0 else 0.0
    hi = size - 1.0
    for j in range(px.shape[0]):
        x = px[j]
        ok = (x - x == 0.0) & (np.abs(x) < HUGE)
        t = np.abs(x - lo)
        k = np.floor(t * inv)
        extra = t - k * span
        odd = k - 2.0 * np.floor(0.5 * k)
        r = (span - extra if odd > 0.5 else extra) + lo
        r = 0.0 if r <= 0.0 else r
        r = hi if r >= hi else r
        px[j] = r if ok else np.nan


@njit(inline="always")
def _below(a, r, j, level, strict):
    """Whether a·j + r (computed as :func:`_affine_cols` does) is below ``level`` (``<`` when
    ``strict``, else ``<=``)."""
    v = muladd(a, 1.0 * np.int32(j), r)
    return v < level if strict else v <= level


@njit
def _where(a, inv, r, level, strict, want, n):
    """The columns j0 <= j < j1 of [0, n) where :func:`_below` is ``want``, as (j0, j1);
    ``inv`` is 1/a (any value where a = 0).

    a·j + r, rounded once, is monotone in j, so the test changes value at most once along the
    row: the change is found from the exact solution (its estimate (level - r)·inv, clamped to
    [1, n - 1], a NaN from 0·inf to 1) and then checked against the computed
    coordinates, so that the columns agree with a per-pixel test bit for bit. Inlined by LLVM
    at each call (compiled once)."""
    alwaysinline()
    p0 = _below(a, r, 0, level, strict)
    t = n  # first column whose test differs from column 0's
    if n > 1 and _below(a, r, n - 1, level, strict) != p0:  # it changes inside the row
        e = (level - r) * inv  # a != 0 here, and the crossing lies within the row
        e = e if e >= 1.0 else 1.0  # NaN (0 times an infinite 1/a) gives 1
        e = e if e <= n - 1.0 else n - 1.0
        t = int(e)
        while _below(a, r, t, level, strict) == p0:  # stops at n - 1 at the latest
            t += 1
        while _below(a, r, t - 1, level, strict) != p0:  # stops at 1 at the latest
            t -= 1
    if p0 == want:
        return 0, t
    return t, n


@njit(inline="always")
def _meet(lo, hi, cols):
    """The span [lo, hi) cut down to the columns ``cols`` = (j0, j1)."""
    return max(lo, cols[0]), min(hi, cols[1])


@njit
def _affine_spans(ax, rx, ay, ry, W, H, n, fills):
    """Columns of an affine row (finite coefficients of :func:`_affine_cols`): with ``fills``
    (zeros or constant padding) pixels j < A and j >= B lie entirely outside the image
    (``cval``; a bilinear pixel on -1 exactly still reads pixel 0, with weight 0, so it is not
    among them), else A = 0 and B = n; pixels b <= j < c lie strictly inside its last column
    and row (0 <= ix < W - 1, 0 <= iy < H - 1), with A <= b <= c <= B. Returns
    (A, b, c, B).

    The eight tests are written out, each a :func:`_where` of its own level, and share one
    reciprocal per axis: 18 ns a row on the Zen 4 machine, against 64 ns for a loop over the
    tests that chose each one's level and axis at run time (a row of a turned image, alone in
    a loop)."""
    vx = 1.0 / ax if ax != 0.0 else 0.0
    vy = 1.0 / ay if ay != 0.0 else 0.0
    Wf = 1.0 * W
    Hf = 1.0 * H
    A, B = 0, n
    if fills:  # not outside: x >= -1, x < W, y >= -1, y < H
        A, B = _meet(A, B, _where(ax, vx, rx, -1.0, True, False, n))
        A, B = _meet(A, B, _where(ax, vx, rx, Wf, True, True, n))
        A, B = _meet(A, B, _where(ay, vy, ry, -1.0, True, False, n))
        A, B = _meet(A, B, _where(ay, vy, ry, Hf, True, True, n))
    # strictly inside: x >= 0, x < W - 1, y >= 0, y < H - 1
    b, c = _meet(0, n, _where(ax, vx, rx, 0.0, True, False, n))
    b, c = _meet(b, c, _where(ax, vx, rx, Wf - 1.0, True, True, n))
    b, c = _meet(b, c, _where(ay, vy, ry, 0.0, True, False, n))
    b, c = _meet(b, c, _where(ay, vy, ry, Hf - 1.0, True, True, n))
    B = max(A, B)
    b = min(max(b, A), B)
    c = min(max(c, b), B)
    return A, b, c, B


@njit(inline="always")
def _classify_row(px, py, W, H, C, mode, padding, offs, wts, j0, j1):
    """Branch-free (vectorised) pass over a row of padded pixel coordinates.

    Bilinear: pixels in [0, W - 1] x [0, H - 1] get in ``offs`` the flat offset of the
    top-left corner of their cell and in ``wts`` their weights, computed in the output dtype
    from the float64 fractions (so float32 images keep float64 coordinates, which integer
    images need to round exactly, but do the weight arithmetic in float32). A pixel exactly
    on the last column or row (where border padding puts every pixel beyond it) takes the
    cell before with fraction 1, so that all four corners are inside; the corner it reads with
    weight 0 is not one the exact sampler reads, which matters only when that corner is
    ±inf or NaN (0·inf is NaN), so its offset gets the flag ``CHECK`` (bit 62) and the
    gather sends it to the edge pass when its result holds a NaN. With wrap padding such a
    pixel goes to the edge pass at once: there the exact sampler reads the corner past the
    last column, which wraps to the first, inside the image, whatever its weight (found by a
    fuzz of the CUDA simulator, which samples so, against the CPU).
    Nearest: pixels inside [0, W - 1] x [0, H - 1] get the offset of the nearest pixel (ties
    to even). For zeros and constant padding, pixels entirely outside the image get
    ``offs = FILL``; every other pixel (edges, NaN, wrap) gets ``offs = EDGE``. Offsets are
    computed in float64 (exact below 2**53) and converted to int64 in the same vectorised
    loop (the coordinates of outside pixels, which may be NaN or huge, are replaced by 0
    before the conversion), so that the gather does no conversions and tests the flag with
    one integer compare (W1 0.92x, border padding 0.87x the time of float offsets converted
    in the gather).
    """
    Wm = W - 1.0
    Hm = H - 1.0
    Wf = 1.0 * W
    Hf = 1.0 * H
    WCf = 1.0 * (W * C)
    Cf = 1.0 * C
    fills = padding == ZEROS or padding == CONSTANT
    if mode == BILINEAR:
        Wm2 = W - 2.0
        Hm2 = H - 2.0
        cells = W >= 2 and H >= 2
        # with wrap, the corner past the last column (row) is the first, inside the image, which
        # the exact sampler reads even with weight 0 (a NaN there is NaN): such pixels go to it
        wrap = padding == WRAP
        for jj in range(j0, j1):
            j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
            ix = px[j]
            iy = py[j]
            # on the last column (row) exactly, the cell before with fraction 1: its far
            # corner, the pixel itself, gets weight 1 (border padding clips to it)
            x0 = np.minimum(np.floor(ix), Wm2)
            y0 = np.minimum(np.floor(iy), Hm2)
            _weights(wts, j, ix - x0, iy - y0)
            inside = cells & (ix >= 0.0) & (ix <= Wm) & (iy >= 0.0) & (iy <= Hm) & ~(
                wrap & ((ix == Wm) | (iy == Hm)))
            real = (ix == ix) & (iy == iy)  # NaN wins over outside: 0, not cval
            # on -1 exactly the cell reads pixel 0 with weight 0, as PyTorch (0·NaN is NaN)
            outside = fills & real & ((ix < -1.0) | (ix >= Wf) | (iy < -1.0) | (iy >= Hf))
            code = FILL if outside else EDGE
            o = np.int64(y0 * WCf + x0 * Cf if inside else 0.0)
            o = o + CHECK if (ix == Wm) | (iy == Hm) else o  # see _gather_row_C
            offs[j] = o if inside else code
        return
    for jj in range(j0, j1):
        j = np.uint64(jj)
        ix = px[j]
        iy = py[j]
        inside = (ix >= 0.0) & (ix <= Wm) & (iy >= 0.0) & (iy <= Hm)
        real = (ix == ix) & (iy == iy)  # NaN wins over outside: 0, not cval
        outside = fills & real & ((ix <= -1.0) | (ix >= Wf) | (iy <= -1.0) | (iy >= Hf))
        code = FILL if outside else EDGE
        o = np.int64(np.rint(iy) * WCf + np.rint(ix) * Cf if inside else 0.0)  # ties to even
        offs[j] = o if inside else code


@njit(fastmath=_FASTMATH)
def _classify(px, py, W, H, C, mode, padding, offs, wts, j0, j1):
    """:func:`_classify_row` as a function of its own: its loops are compiled once for the
    call sites of a row."""
    prefer512()
    _classify_row(px, py, W, H, C, mode, padding, offs, wts, j0, j1)


@njit(inline="always")
def _last_cell(W, H, C):
    """The flat offset of the last cell's top-left corner, (H - 2)·W·C + (W - 2)·C, as the
    unsigned bound of :func:`_cell_offset` (0 for an image with fewer than two rows or
    columns, which has no interior span)."""
    return np.uint64(max((H - 2) * W * C + (W - 2) * C, 0))


@njit(inline="always")
def _cell_offset(o, last):
    """The flat offset ``o`` (a float64 integer) of a cell's top-left corner as int64, clipped
    to [0, ``last``] (:func:`_last_cell`) by one unsigned minimum, a negative ``o`` wrapping
    to a huge one: whatever the coordinates, every corner read lies inside the image.

    Inside a span of :func:`_affine_spans` (0 <= ix < W - 1, 0 <= iy < H - 1 for the
    coordinates computed as here) the floors are the cell already and the clip never acts. It
    stands in for clipping both floors, which on the Zen 4 machine made the vectorised pass
    1.4x as long: four minimums and maximums of 8 float64 lanes, against one of 8 integers
    (``_classify_interior`` alone, 256 pixels in L1: 2.48 against 1.75 cycles a pixel)."""
    return np.int64(min(np.uint64(np.int64(o)), last))


@njit(fastmath=_FASTMATH)
def _classify_interior(W, H, C, offs, wts, j0, j1, ax, rx, ay, ry):
    """:func:`_classify_row` for columns j0 <= j < j1 of an affine row whose every pixel lies
    strictly inside the last column and row (0 <= ix < W - 1, 0 <= iy < H - 1, see
    :func:`_affine_spans`): the same offsets and weights, without the tests. The offsets are
    still clipped to the image (:func:`_cell_offset`)."""
    prefer512()
    last = _last_cell(W, H, C)
    WCf = 1.0 * (W * C)
    Cf = 1.0 * C
    for jj in range(j0, j1):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
        jf = 1.0 * np.int32(jj)
        ix = muladd(ax, jf, rx)
        iy = muladd(ay, jf, ry)
        x0 = np.floor(ix)
        y0 = np.floor(iy)
        _weights(wts, j, ix - x0, iy - y0)
        offs[j] = _cell_offset(y0 * WCf + x0 * Cf, last)


@njit(fastmath=_FASTMATH)
def _classify_level(W, H, C, offs, wts, j0, j1, ax, rx, ry):
    """:func:`_classify_interior` for the columns j0 <= j < j1 of an affine row whose y is
    the same at every column (ay = 0: the map has no rotation or shear), with the row's y part
    (its cell row and fraction) computed once. The same offsets and weights: ``_weights`` of
    the same fractions, and offsets that are integers, exact in float64."""
    prefer512()
    y0 = np.floor(ry)  # iy = ry at every column (but for the sign of a zero)
    fy = ry - y0
    yo = y0 * (1.0 * (W * C))
    last = _last_cell(W, H, C)
    Cf = 1.0 * C
    for jj in range(j0, j1):
        j = np.uint64(jj)
        ix = muladd(ax, 1.0 * np.int32(jj), rx)
        x0 = np.floor(ix)
        _weights(wts, j, ix - x0, fy)
        offs[j] = _cell_offset(yo + x0 * Cf, last)
