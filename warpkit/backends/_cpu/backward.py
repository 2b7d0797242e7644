"""The backward's rows and tasks: how a sample's work is cut into tasks that never add into the
same cell (:func:`_task_plan`, see :mod:`warpkit.backends.cpu` on determinism), the vectorised
cell pass and the per-channel-count row loop that computes the coordinate gradients and
scatters into grad_input (:func:`_backward_row_C`), and the θ sums of an affine row."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..._coords import BILINEAR, BORDER, CONSTANT, WRAP, ZEROS
from ..._tuning import GATHER_BLOCKS
from .._simd import alwaysinline, borrow, dynamic, grad4, grad8, grad8_loads, muladd, restrict
from .common import (
    _FASTMATH,
    CHECK,
    _affine_coords,
    _cell0_inside,
    _edge_cell,
    _grid_coords,
    _weights,
    affine_coeffs,
    backward_point_band,
    base_coord,
    source_index,
    unnormalize,
    unnormalize_scale,
    usable_coeffs,
)
from .indirect import MadeAddresses, call_at

#: The offset :func:`_backward_cells` gives a pixel that gets no gradient at all: NaN, or entirely
#: outside the image with any padding but wrap (it reads only the fill value).
NO_GRAD = -2

#: Most tasks a single image's backward is cut into (see the module docstring).
SCATTER_SPLIT = 4


def _split(n: int, out_rows: int, in_rows: int) -> int:
    """Tasks per sample in the backward: 1 for a batch, a fixed split for a single image."""
    return 1 if n >= 2 else max(1, min(out_rows, in_rows, SCATTER_SPLIT))


@njit(inline="always")
def _unit_grad(padding):
    """Whether padded coordinates are the unpadded ones, with derivative 1 (zeros and constant
    padding): :func:`_pad_row_grad` then leaves (mx, my) unwritten, and their readers use 1."""
    return padding == ZEROS or padding == CONSTANT


@njit(inline="always")
def _pad_row_grad(px, py, W, H, padding, align_corners, mx, my):
    """Apply the padding mode in place; d padded / d unpadded into (mx, my), except for zeros
    and constant padding, which change nothing and whose derivatives are 1 (see
    :func:`_unit_grad`): (mx, my) are left as they are. Not filling them with ones, W1's
    affine backward took 0.89x-0.93x the time in its scatter pass (where each of a single
    image's four tasks had filled them for every row it kept) and then 0.82x-0.92x in its first
    pass (see benchmarks/LOG.md, 2026-12-05, the fourth session)."""
    if _unit_grad(padding):
        return
    for j in range(px.shape[0]):
        px[j], mx[j] = source_index(px[j], W, padding, align_corners)
        py[j], my[j] = source_index(py[j], H, padding, align_corners)


@njit(fastmath=_FASTMATH)
def _backward_cells(px, py, W, H, C, mode, padding, offs, fxs, fys, wts):
    """The vectorised pass of a backward row: for every bilinear pixel strictly inside the
    last column and row (0 <= ix < W - 1, 0 <= iy < H - 1) the flat offset of the top-left
    corner of its cell in ``offs`` (:data:`NO_GRAD` for NaN and entirely outside pixels, -1
    for every other pixel), and for every pixel the float64 fractions (fx, fy) and the four
    weights in the dtype of ``wts`` (:func:`_weights`; meaningless off the interior). Its
    buffers never overlap (:func:`._simd.restrict`: W2's backward 0.95x-0.97x the time, one
    thread)."""
    restrict()
    Wm = W - 1.0
    Hm = H - 1.0
    WCf = 1.0 * (W * C)
    Cf = 1.0 * C
    Wf = 1.0 * W
    Hf = 1.0 * H
    fenced = padding != WRAP
    bilinear = mode == BILINEAR
    for jj in range(px.shape[0]):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
        ix = px[j]
        iy = py[j]
        x0 = np.floor(ix)
        y0 = np.floor(iy)
        fx = ix - x0
        fy = iy - y0
        fxs[j] = fx
        fys[j] = fy
        _weights(wts, j, fx, fy)
        inside = bilinear & (ix >= 0.0) & (ix < Wm) & (iy >= 0.0) & (iy < Hm)
        gone = ((ix != ix) | (iy != iy)) | (  # at -1 exactly the derivative reads pixel 0
            fenced & ((ix < -1.0) | (ix >= Wf) | (iy < -1.0) | (iy >= Hf)))
        offs[j] = np.int64(y0 * WCf + x0 * Cf if inside else 1.0 * NO_GRAD if gone else -1.0)


@njit(fastmath=_FASTMATH, _nrt=False)
def _backward_row_C(
    inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy, cells, C, lanes8, lanes4, loads8,
):
    """Backward of columns j0 <= j < j0 + len(px) of output row i (the row buffers px, py, dgx
    and dgy hold those columns only; the first pass gives whole rows, j0 = 0).

    Scatters into ``gin[n]`` rows y_lo <= y < y_hi (when ``need_gin``) and writes
    d loss / d (padded ix, iy) into (dgx, dgy) (when ``need_grad``). A vectorised pass
    (:func:`_backward_cells`, into the row buffers ``cells``) finds the interior bilinear
    pixels and their cells, fractions and weights; those then take a path without bounds
    checks (their coordinate gradients 8 at a time, :func:`._simd.grad8`, for one-channel float
    images: ``lanes8``; for float32 ones :func:`._simd.grad8_loads`, plain loads instead of
    gathers, where :data:`warpkit._tuning.GATHER_BLOCKS` is False and :func:`._cell0_inside`:
    ``loads8``, W2's backward 0.81x / 0.87x the time on the Zen 4 machine, one / two threads,
    for θ alone 0.77x, outputs identical; a pixel's channels as 4 lanes, :func:`._simd.grad4`,
    for 3- and 4-channel ones: ``lanes4``), NaN and entirely outside pixels (which only read
    the fill value) get zero gradient at once, bilinear edge pixels go through
    :func:`_edge_backward` and the rest (wrap, nearest) through the general
    ``backward_point_band``, all in output-pixel order. All compute the same corners and weights.

    With ``grad4`` (Zen 4 machine, one and two threads) W1's backward took 0.92x-0.95x the
    time, its grid backward 0.94x-0.96x, and a batch of 16 RGB 224x224 images, which scatters
    in the same pass, 0.96x-1.01x; θ gradients changed in the last bits. Its scatter as 4
    lanes too measured 1.46x-1.47x the time and stays scalar (see benchmarks/LOG.md).
    """
    alwaysinline()
    H, W = inp.shape[1], inp.shape[2]
    WC = W * C
    uWC = np.uint64(WC)
    uC = np.uint64(C)
    base = n * H * WC
    Wo = px.shape[0]
    obase = ((n * gout.shape[1] + i) * gout.shape[2] + j0) * C
    lo = y_lo * WC  # the band's rows as offsets of cells: y_lo <= y0 < y_hi <=> lo <= o < hi
    hi = y_hi * WC
    # the band is the whole image (one task per sample, as W2's): the scatter with its tests
    # constant, the same additions in the same order (W2 backward 0.93x-0.95x the time with
    # one thread, 0.97x-1.01x with two)
    whole = y_lo <= 0 and y_hi >= H
    offs, fxs, fys, wts = cells
    # grad4 with 3 channels reads a 4th lane past each corner and past g: an offset below
    # lim4 keeps the corners' 4th lanes inside flat, a q below qlim4 keeps g's inside gflat
    lim4 = max(flat.shape[0] - base - WC - 2 * C, 0) if C == 3 else flat.shape[0]
    qlim4 = np.uint64(gflat.shape[0] - 3 if C == 3 else gflat.shape[0])
    _backward_cells(px, py, W, H, C, mode, padding, offs, fxs, fys, wts)
    done = 0  # the interior pixels before it have their gradient from grad8 already
    if lanes8 and need_grad and mode == BILINEAR:
        if loads8 and _cell0_inside(flat, base, WC):  # lanes without a cell read cell 0
            while done + 8 <= Wo:
                grad8_loads(flat, gflat, offs, fxs, fys, dgx, dgy, np.uint64(base),
                            np.uint64(done), np.uint64(obase + done), uWC, np.uint64(CHECK))
                done += 8
        while done + 8 <= Wo:
            grad8(flat, gflat, offs, fxs, fys, dgx, dgy, np.uint64(base), np.uint64(done),
                  np.uint64(obase + done), uWC, np.uint64(CHECK))
            done += 8
    # runs of interior pixels scattered into a band that is the whole image (or not scattered:
    # θ's gradient alone), with their gradient done already (grad8, before ``done``), taken by
    # grad4 or not wanted, and runs of pixels without a gradient take a loop of their own with
    # nothing else in it (W2's backward 0.89x-0.93x the time, a batch of RGB images
    # 0.93x-0.94x; W2's backward for θ alone, an STN's whose input is the data, which sent every
    # pixel through the loop below until 2026-12-06, 0.82x-0.85x); the loop below gets the rest
    run_end = (Wo if lanes4 or not need_grad else done) if whole or not need_gin else 0
    jj = -1
    while jj + 1 < Wo:
        jj += 1
        if need_gin:  # two copies of the run loop, so that neither tests need_gin per pixel
            jj = _runs(flat, gflat, ginflat, offs, fxs, fys, wts, dgx, dgy, jj, run_end, base,
                       obase, uWC, lim4, qlim4, C, lanes4, need_grad, True)
        else:
            jj = _runs(flat, gflat, ginflat, offs, fxs, fys, wts, dgx, dgy, jj, run_end, base,
                       obase, uWC, lim4, qlim4, C, lanes4, need_grad, False)
        if jj >= Wo:
            break
        j = np.uint64(jj)  # unsigned flat indices: no negative-index wraparound code
        o = offs[j]
        if o >= 0:
            p = np.uint64(base + o)
            p2 = p + uWC
            q = np.uint64(obase + jj * C)
            # a pixel's channels as 4 lanes (grad4) only in the run loop, which every row that
            # wants gradients takes (they scatter into the whole image or not at all); here the
            # tail after grad8's blocks, and the pixels whose 4 lanes would leave the arrays
            if need_grad and jj >= done:
                fx = fxs[j]
                fy = fys[j]
                gx = 0.0
                gy = 0.0
                for c in range(C):
                    uc = np.uint64(c)
                    g = 1.0 * gflat[q + uc]
                    v00 = flat[p + uc]
                    v01 = flat[p + uC + uc]
                    v10 = flat[p2 + uc]
                    v11 = flat[p2 + uC + uc]
                    gx += g * ((v01 - v00) * (1.0 - fy) + (v11 - v10) * fy)
                    gy += g * ((v10 - v00) * (1.0 - fx) + (v11 - v01) * fx)
                dgx[j] = gx
                dgy[j] = gy
            if need_gin and whole:  # the task owns every row: no tests per corner
                _scatter_cell(ginflat, gflat, wts, j, p, p2, q, C, True, True)
            elif need_gin:
                _scatter_cell(ginflat, gflat, wts, j, p, p2, q, C, o >= lo and o < hi,
                              o + WC >= lo and o + WC < hi)
            continue
        if o == NO_GRAD:  # NaN or entirely outside: reads only the fill, so no gradient at all
            dgx[j] = 0.0
            dgy[j] = 0.0
        else:
            ix = px[j]
            iy = py[j]
            # the flags and band as run-time values (._simd.dynamic): the row pass is compiled
            # per literal combination of them (two call sites, three channel counts), but these
            # two need them constant nowhere, so they are compiled 3 and 1 times instead of 6
            # and 2 (a first affine_sample_backward with an empty cache 1.3-2.4 s shorter in two
            # arrangements, not shorter in a third; see benchmarks/LOG.md)
            if mode == BILINEAR and padding != WRAP:
                q = np.uint64(obase + jj * C)
                gx, gy = _edge_backward(flat, gflat, ginflat, base, q, ix, iy, W, H, C, cval,
                                        dynamic(need_gin), dynamic(y_lo), dynamic(y_hi))
            else:  # wrap, nearest edges: the general per-point code
                gx, gy = backward_point_band(inp, n, ix, iy, mode, padding, cval, gout, n, i,
                                             jj + j0, gin, n, dynamic(need_gin),
                                             dynamic(y_lo), dynamic(y_hi))
            dgx[j] = gx
            dgy[j] = gy


@njit(inline="always")
def _runs(flat, gflat, ginflat, offs, fxs, fys, wts, dgx, dgy, jj, run_end, base, obase, uWC,
          lim4, qlim4, C, lanes4, need_grad, scatter):
    """The run loop of :func:`_backward_row_C` from column jj: pixels without a gradient get
    zeros (when ``need_grad``), interior ones their gradient from grad4 (``lanes4`` and
    ``need_grad``) and, when ``scatter`` (a constant), their scatter, until ``run_end`` or the
    first pixel that needs more; returns its column."""
    uC = np.uint64(C)
    while jj < run_end:
        j = np.uint64(jj)
        o = offs[j]
        if o == NO_GRAD:  # NaN or entirely outside: nothing to scatter
            if need_grad:
                dgx[j] = 0.0
                dgy[j] = 0.0
            jj += 1
            continue
        if o < 0:  # an edge pixel
            break
        p = np.uint64(base + o)
        q = np.uint64(obase + jj * C)
        if lanes4 and need_grad:
            if not (o < lim4 and q < qlim4):
                break
            gx, gy = _grad4(flat, gflat, p, p + uWC, uC, q, fxs[j], fys[j], C)
            dgx[j] = gx
            dgy[j] = gy
        if scatter:
            _scatter_cell(ginflat, gflat, wts, j, p, p + uWC, q, C, True, True)
        jj += 1
    return jj


def _grad4(flat, gflat, p, p2, step, q, fx, fy, C):
    """:func:`._simd.grad4` for the channel counts it takes (a constant 3 or 4); for the others,
    which never take its branch but are typed through it, a stub that raises."""
    raise NotImplementedError("compiled only: see _grad4_overload")


@overload(_grad4, inline="always", prefer_literal=True)
def _grad4_overload(flat, gflat, p, p2, step, q, fx, fy, C):
    if isinstance(C, types.IntegerLiteral) and C.literal_value in (3, 4):
        nc = C.literal_value

        def lanes(flat, gflat, p, p2, step, q, fx, fy, C):
            return grad4(flat, gflat, p, p2, step, q, fx, fy, nc)

        return lanes

    def unreachable(flat, gflat, p, p2, step, q, fx, fy, C):
        if q >= 0:
            raise AssertionError("grad4 takes 3 or 4 channels")
        return fx, fy

    return unreachable


@njit(inline="always")
def _scatter_cell(ginflat, gflat, wts, j, p, p2, q, C, top, bottom):
    """Add the output gradient ``gflat[q:q+C]`` of interior pixel j, times its weights
    ``wts[:, j]``, into the cell whose rows start at p and p2 (in the image dtype: float32 in
    float32), its top corners only when ``top``, its bottom ones only when ``bottom``."""
    w00 = wts[0, j]
    w01 = wts[1, j]
    w10 = wts[2, j]
    w11 = wts[3, j]
    uC = np.uint64(C)
    for c in range(C):
        uc = np.uint64(c)
        g = gflat[q + uc]
        if top:
            ginflat[p + uc] += g * w00
            ginflat[p + uC + uc] += g * w01
        if bottom:
            ginflat[p2 + uc] += g * w10
            ginflat[p2 + uC + uc] += g * w11


@njit(fastmath=_FASTMATH, _nrt=False)
def _edge_backward(flat, gflat, ginflat, base, q, ix, iy, W, H, C, cval, need_gin, y_lo, y_hi):
    """``backward_point_band`` of a bilinear pixel at a finite (ix, iy) in [-1, W) x [-1, H)
    with corners outside the image (any padding but wrap, applied already), with the same
    arithmetic: corners outside read ``cval`` and receive nothing. Returns (d loss / d ix,
    d loss / d iy)."""
    alwaysinline()
    fx, fy, xa, ya, in_x0, in_x1, in_y0, in_y1 = _edge_cell(ix, iy, W, H)
    top = in_y0 and ya >= y_lo and ya < y_hi
    bottom = in_y1 and ya + 1 >= y_lo and ya + 1 < y_hi
    p = base + (ya * W + xa) * C
    p2 = p + W * C
    gx = 0.0
    gy = 0.0
    for c in range(C):
        g = 1.0 * gflat[q + np.uint64(c)]
        fill = cval[c]
        v00 = flat[p + c] if in_y0 and in_x0 else fill
        v01 = flat[p + C + c] if in_y0 and in_x1 else fill
        v10 = flat[p2 + c] if in_y1 and in_x0 else fill
        v11 = flat[p2 + C + c] if in_y1 and in_x1 else fill
        gx += g * ((v01 - v00) * (1.0 - fy) + (v11 - v10) * fy)
        gy += g * ((v10 - v00) * (1.0 - fx) + (v11 - v01) * fx)
        if need_gin:
            if top and in_x0:
                ginflat[p + c] += g * (1.0 - fx) * (1.0 - fy)
            if top and in_x1:
                ginflat[p + C + c] += g * fx * (1.0 - fy)
            if bottom and in_x0:
                ginflat[p2 + c] += g * (1.0 - fx) * fy
            if bottom and in_x1:
                ginflat[p2 + C + c] += g * fx * fy
    return gx, gy


def _backward_pass(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                   need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C):
    """The backward of a row (:func:`_backward_row_C`) as a function of its own, so that its
    loops get the registers to themselves, specialised per channel count (see the overload
    below)."""
    raise NotImplementedError("compiled only: see _backward_pass_overload")


@overload(_backward_pass, prefer_literal=True,
          jit_options={"fastmath": _FASTMATH, "_nrt": False})
def _backward_pass_overload(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin,
                            ginflat, need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C):
    """A constant ``C`` is compiled into the loops; other channel counts get one function with
    ``C`` a run-time value.

    Compiled without reference counting (``_nrt=False``: it allocates nothing and keeps or
    returns no array, and its caller holds every array it gets for the whole call): numba
    placed the increfs and decrefs of its ~15 array arguments by the process's string hash
    seed (``PYTHONHASHSEED``), with one seed of the four tried inside the pixel loops, where
    each call spills the loops' registers; W2's backward then took 2x the time, and the numba
    cache kept whichever code the first process made. Without them there is nothing left to
    place (``tests/test_compiled.py`` checks that the code calls no NRT function): seeds 1 and
    3 gave the same code, W2's backward 0.49x the time of seed 3's code before and 0.92x of
    seed 1's (one thread)."""
    nc = C.literal_value if isinstance(C, types.IntegerLiteral) else None
    lanes8 = nc == 1 and flat.dtype == gflat.dtype  # float images: grad8
    lanes4 = nc in (3, 4) and flat.dtype == gflat.dtype  # float images: grad4
    # float32 corners by plain loads where gathers are slow (see warpkit._tuning; float64 ones
    # keep the gathers: see grad8_loads)
    loads8 = lanes8 and not GATHER_BLOCKS and flat.dtype == types.float32

    def backward(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                 need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C):
        _backward_row_C(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                        need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells,
                        C if nc is None else nc, lanes8, lanes4, loads8)

    return backward


@njit(inline="always")
def _backward_row(
    inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy, cells,
):
    """:func:`_backward_pass` with the channel count a constant for 1 and 3."""
    C = inp.shape[3]
    if C == 1:
        _backward_pass(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                       need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, 1)
    elif C == 3:
        _backward_pass(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                       need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, 3)
    else:
        _backward_pass(inp, flat, gout, gflat, n, i, j0, px, py, mode, padding, cval, gin, ginflat,
                       need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C)


@njit(inline="always")
def _zero_rows(gin, n, scatter_now, y_lo, y_hi):
    """Zero the rows of ``gin[n]`` that backward task (n, scatter_now, y_lo, y_hi) of
    :func:`_task_plan` scatters into, which no other task writes: in parallel, and just before
    they are used (W2's backward 0.92-0.98x the time with one thread, 0.82-0.94x with two, of
    zeroing the whole array first)."""
    H, WC = gin.shape[1], gin.shape[2] * gin.shape[3]
    lo, hi = (0, H) if scatter_now else (y_lo, y_hi)
    if hi > lo:
        gin.reshape(gin.size)[(n * H + lo) * WC:(n * H + hi) * WC] = 0


@njit(inline="always")
def _task_plan(t, split, Ho, H, need_gin):
    """What backward task ``t`` does (see the module docstring on determinism).

    Returns (n, first output row, last output row, scatter in that same pass?,
    input band (y_lo, y_hi) to scatter in a second pass over all output rows, or (0, 0)).
    """
    n = t // split
    k = t % split
    if split == 1:
        return n, 0, Ho, need_gin, 0, 0
    band_lo = k * H // split if need_gin else 0
    band_hi = (k + 1) * H // split if need_gin else 0
    return n, k * Ho // split, (k + 1) * Ho // split, False, band_lo, band_hi


@njit(inline="always")
def _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my):
    """Padded coordinates of grid row i and their derivatives (mx, my) for the backward."""
    for j in range(px.shape[0]):
        px[j] = unnormalize(grid[n, i, j, 0], W, align_corners)
        py[j] = unnormalize(grid[n, i, j, 1], H, align_corners)
    _pad_row_grad(px, py, W, H, padding, align_corners, mx, my)


@njit(inline="always")
def _affine_row(coeffs, theta, n, i, W, H, Ho, padding, align_corners, px, py, mx, my):
    """Padded coordinates of output row i of sample n and their derivatives (mx, my) for the
    backward: from the coefficients ``coeffs`` (``affine_coeffs`` and ``usable_coeffs`` of
    them), or from the grid points where they do not stand for θ."""
    ax, bx, cx, ay, by, cy, usable = coeffs
    if usable:
        _affine_coords(px, py, ax, bx, cx, ay, by, cy, i)
    else:
        _grid_coords(px, py, theta, n, i, H, W, Ho, align_corners)
    _pad_row_grad(px, py, W, H, padding, align_corners, mx, my)


@njit(inline="always")
def _skips_rows(padding):
    """Whether a band's scatter pass may skip rows with ``padding``: zeros, constant and border
    keep a row's source rows in order (reflection and wrap fold them back)."""
    return padding == ZEROS or padding == CONSTANT or padding == BORDER


@njit(inline="always")
def _row_misses_band(ay, ry, Wo, H, padding, y_lo, y_hi):
    """Whether no pixel of an affine output row, at unpadded rows iy = ay·j + ry (j < Wo, as
    :func:`._affine_cols` computes them), reads or scatters into input rows y_lo <= y < y_hi.

    iy is monotone along the row, so its ends bound it; a pixel touches rows floor(iy) and the
    one below (bilinear: the cell before on the last row; nearest: the nearest row), so one
    row either side is a margin and two are kept. Zeros and constant padding use iy as it is,
    border padding clips it to [0, H - 1] (monotone too); for reflection and wrap, and for
    coefficients that give NaN, the answer is False. A single image's backward scatters in a
    second pass, each task into its band of input rows (:func:`_task_plan`), and skips the
    rows that miss it: the same additions in the same order."""
    if not _skips_rows(padding):
        return False
    first = muladd(ay, 1.0 * np.int32(0), ry)
    last = muladd(ay, 1.0 * np.int32(Wo - 1), ry)
    if not (first == first and last == last):
        return False
    lo = first if first < last else last
    hi = last if first < last else first
    return _rows_miss_band(lo, hi, H, padding, y_lo, y_hi)


@njit(inline="always")
def _rows_miss_band(lo, hi, H, padding, y_lo, y_hi):
    """Whether pixels at unpadded rows lo <= iy <= hi (zeros, constant or border padding) touch
    no input row y_lo <= y < y_hi (see :func:`_row_misses_band`)."""
    if padding == BORDER:  # clipped to [0, H - 1], which keeps the order
        lo = 0.0 if lo < 0.0 else H - 1.0 if lo > H - 1.0 else lo
        hi = 0.0 if hi < 0.0 else H - 1.0 if hi > H - 1.0 else hi
    return hi + 2.0 < y_lo or lo - 2.0 >= y_hi


@njit(inline="always")
def _grid_row_misses_band(grid, n, i, H, padding, align_corners, y_lo, y_hi):
    """:func:`_row_misses_band` for row i of a grid, bounded by its smallest and largest
    source row (NaN pixels, which scatter nothing, left out)."""
    if not _skips_rows(padding):
        return False
    lo = np.inf
    hi = -np.inf
    for j in range(grid.shape[2]):
        y = unnormalize(grid[n, i, j, 1], H, align_corners)
        lo = y if y < lo else lo
        hi = y if y > hi else hi
    return _rows_miss_band(lo, hi, H, padding, y_lo, y_hi)


@njit(inline="always")
def _band_cols(py, padding, y_lo, y_hi):
    """The columns j0 <= j < j1 of a row whose pixels, at padded rows ``py`` (as the row pass
    gets them), may read or scatter into input rows y_lo <= y < y_hi: a pixel touches rows
    floor(py) and the one below at most (bilinear; nearest: the nearest row), so those within
    [y_lo - 1, y_hi) do, and [y_lo - 2, y_hi + 1] keeps a row of margin either side. NaN
    pixels, which scatter nothing, are left out; with wrap padding, whose corners wrap around
    the image, the whole row is kept. A vectorised pass (a minimum and a maximum). Returns
    (j0, j1), j1 = j0 when no pixel touches the band."""
    Wo = py.shape[0]
    if padding == WRAP:
        return 0, Wo
    lo = y_lo - 2.0
    hi = y_hi + 1.0
    j0 = Wo
    j1 = 0
    for j in range(Wo):
        y = py[j]
        touch = (y >= lo) & (y <= hi)
        j0 = min(j0, j if touch else Wo)
        j1 = max(j1, j + 1 if touch else 0)
    return j0, max(j0, j1)


@njit(fastmath=_FASTMATH, cache=True)
def _scatter_band(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat, y_lo,
                  y_hi, dgx, dgy, cells):
    """The scatter of output row i, at padded coordinates (px, py), into input rows
    y_lo <= y < y_hi (a single image's second pass, see :func:`_task_plan`): only over the
    columns that may touch those rows (:func:`_band_cols`); the others would add nothing. W1's
    affine backward (one 1024x1024 RGB image turned 30°) took 0.74x-0.84x the time of the
    pass over whole rows, its grid backward 0.78x-0.79x (one and two threads), outputs
    identical.

    Compiled and cached on its own and called through its address (:func:`.indirect.call_at`,
    the address from :func:`scatter_address`), only by a single image's backward. Inlined
    into its callers, its row loop made LLVM spill the first pass's arguments in every row of
    that pass, and W2's backward (a batch, which never runs this) took 1.08x-1.27x the time in
    five A/B runs; linked into them as a function of its own, it was one more level at which
    numba optimises the scatter pass's row code again (a first backward with an empty cache
    0.4-1.3 s longer). Through its address, no level above it compiles that code (it is
    compiled for every backward's types all the same: the call needs its signature)."""
    j0, j1 = _band_cols(py, padding, y_lo, y_hi)
    if j1 > j0:
        _backward_row(inp, flat, gout, gflat, n, i, j0, px[j0:j1], py[j0:j1], mode, padding,
                      cval, gin, ginflat, True, False, y_lo, y_hi, dgx[j0:j1], dgy[j0:j1],
                      cells)


def _scatter_args(tg, ti, tgin, tcv) -> tuple:
    """The numba types of :func:`_scatter_band`'s arguments as the workers pass them, from
    those of the kernel's gout, inp, gin and cval."""
    i64 = types.int64
    row = types.Array(types.float64, 1, "C")
    cells = types.Tuple((types.Array(types.int64, 1, "C"), row, row,
                         types.Array(tgin.dtype, 2, "C")))
    return (ti, ti.copy(ndim=1), tg, tg.copy(ndim=1), i64, i64, row, row, i64, i64, tcv, tgin,
            tgin.copy(ndim=1), i64, i64, row, row, cells)


_SCATTER = MadeAddresses(_scatter_args)


def scatter_address(gout: np.ndarray, inp: np.ndarray, gin: np.ndarray,
                    cval: np.ndarray) -> int:
    """The address of :func:`_scatter_band`'s machine code for a backward of these arrays
    (compiled, or loaded from numba's cache, on first use), for the kernels to pass to their
    workers (:func:`.indirect.call_at` refuses to compile a call with other types)."""
    return _SCATTER.of(_scatter_band, gout, inp, gin, cval)


@njit(inline="always")
def _backward_cells_scratch(Wo, dtype):
    """Row buffers of :func:`_backward_cells`: offsets, fractions (fx, fy), weights."""
    return np.empty(Wo, np.int64), np.empty(Wo), np.empty(Wo), np.empty((4, Wo), dtype)


@njit(inline="always")
def _backward_scratch(Wo):
    """Row buffers of a backward task, allocated by its caller, which holds them while the task
    uses views of them that count no references (:func:`._simd.borrow`)."""
    return (np.empty(Wo), np.empty(Wo), np.empty(Wo), np.empty(Wo), np.empty(Wo), np.empty(Wo),
            np.empty(Wo))


@njit(inline="always")
def _backward_views(gout, inp, gin, align_corners):
    """(sx, sy, flat, gflat, ginflat): the scales from normalised to pixel coordinates of the
    input's width and height, and the input, output gradient and input gradient as flat
    views."""
    sx = unnormalize_scale(inp.shape[2], align_corners)
    sy = unnormalize_scale(inp.shape[1], align_corners)
    return sx, sy, inp.reshape(inp.size), gout.reshape(gout.size), gin.reshape(gin.size)


@njit(fastmath={"contract", "reassoc"})
def _theta_sums(dgx, dgy, mx, my, xt, sx, sy, unit):
    """Sums over a row of the θ gradient's terms: Σ gx·x_t, Σ gx, Σ gy·x_t, Σ gy, where
    gx = dgx·mx·sx and gy = dgy·my·sy (mx = my = 1 when ``unit``, see :func:`_unit_grad`:
    the same values, since multiplying by 1 is exact). ``reassoc`` lets LLVM split each sum
    into vector lanes (the order of the additions is fixed by the compiled code, so the sums
    are still the same from run to run and for any number of threads); NaN and inf keep their
    meaning."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(dgx.shape[0]):
        gx = dgx[j] * (1.0 if unit else mx[j]) * sx
        gy = dgy[j] * (1.0 if unit else my[j]) * sy
        s0 += gx * xt[j]
        s1 += gx
        s2 += gy * xt[j]
        s3 += gy
    return s0, s1, s2, s3


@njit(fastmath=_FASTMATH)
def _affine_backward_task(
    gout, inp, theta, gin, mode, padding, align_corners, cval, n, i0, i1, scatter_now, y_lo,
    y_hi, scratch, cells, scatter,
):
    """One backward task of sample n (see :func:`_task_plan`); returns its θ-gradient sums.
    ``scratch`` holds seven row buffers of Wo float64 (:func:`_backward_scratch`).

    Not inlined into :func:`.workers.affine_backward_worker`, so that LLVM optimises the row
    loops on their own.
    """
    gout, inp, gin, cval = borrow(gout), borrow(inp), borrow(gin), borrow(cval)
    px, py, mx, my, dgx, dgy, xt = scratch
    px, py, mx, my = borrow(px), borrow(py), borrow(mx), borrow(my)
    dgx, dgy, xt = borrow(dgx), borrow(dgy), borrow(xt)
    offs, fxs, fys, wts = cells
    cells = borrow(offs), borrow(fxs), borrow(fys), borrow(wts)
    _zero_rows(gin, n, scatter_now, y_lo, y_hi)
    Ho, Wo = gout.shape[1], gout.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    sx, sy, flat, gflat, ginflat = _backward_views(gout, inp, gin, align_corners)
    ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
    usable = usable_coeffs(ax, bx, cx, ay, by, cy)
    coeffs = (ax, bx, cx, ay, by, cy, usable)
    for j in range(Wo):
        xt[j] = base_coord(j, Wo, align_corners)
    unit = _unit_grad(padding)
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    a4 = 0.0
    a5 = 0.0
    for i in range(i0, i1):
        yt = base_coord(i, Ho, align_corners)
        _affine_row(coeffs, theta, n, i, W, H, Ho, padding, align_corners, px, py, mx, my)
        _backward_row(inp, flat, gout, gflat, n, i, 0, px, py, mode, padding, cval, gin, ginflat,
                      scatter_now, True, 0, H, dgx, dgy, cells)
        s0, s1, s2, s3 = _theta_sums(dgx, dgy, mx, my, xt, sx, sy, unit)
        a0 += s0
        a1 += s1 * yt
        a2 += s1
        a3 += s2
        a4 += s3 * yt
        a5 += s3
    if y_hi > y_lo:
        for i in range(Ho):
            if usable and _row_misses_band(ay, by * i + cy, Wo, H, padding, y_lo, y_hi):
                continue
            _affine_row(coeffs, theta, n, i, W, H, Ho, padding, align_corners, px, py, mx, my)
            call_at(_scatter_band, scatter, (inp, flat, gout, gflat, n, i, px, py, mode,
                                             padding, cval, gin, ginflat, y_lo, y_hi, dgx,
                                             dgy, cells))
    return a0, a1, a2, a3, a4, a5


def _zeroed(gin, inp) -> np.ndarray:
    """``gin``, which the kernel zeroes (:func:`_zero_rows`), or a 1-element dummy when
    grad_input is not wanted."""
    if gin is None:
        return np.zeros((1, 1, 1, 1), dtype=inp.dtype)
    return gin
