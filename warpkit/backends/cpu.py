"""CPU kernels: ``@njit(parallel=True, cache=True)``, one per operation.

Every function here takes arrays that :mod:`warpkit.ops` has already validated (channels-last,
C-contiguous, float32 or float64, matching batch sizes) and preallocated outputs; nothing here
validates or raises. ``mode`` and ``padding`` are the integer codes of :mod:`warpkit._coords`.

Parallelism and determinism
---------------------------
Forward kernels split output rows across threads; every thread writes only its own rows.
The backward scatter into ``grad_input`` is where threads could race, so work is split by
*shape*, never by thread count, and no two threads ever add into the same cell:

* N >= 2: one task per sample; it alone writes that sample's ``grad_input``.
* N == 1: ``split`` tasks (a fixed number, ``SCATTER_SPLIT`` at most). Task k computes the
  grid/θ gradient of output-row chunk k, then walks *all* output pixels again and scatters only
  into input-row band k. Every cell therefore receives its additions in output-pixel order,
  exactly as a serial loop would, and no extra buffer is allocated.

θ gradients are summed per row (:func:`_theta_sums`, in an order fixed by the compiled code),
then per task in row order, and reduced in task order. Each task zeroes the rows of
``grad_input`` it scatters into before it starts. Results are bit-identical for any
``NUMBA_NUM_THREADS`` and from run to run, and the backward allocates only its outputs (plus
row buffers of a few output widths per task).

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
(``_sample_row``, ``_affine_rows_of``, the gather and backward row loops, the edge passes)
are plain ``@njit`` functions that LLVM inlines instead
(:func:`._simd.alwaysinline`): numba's inlining copies and types the callee again at every
call site, at a cost that grows with the callee's blocks times its variables, and the
backward's row loop, inlined into six specialisations per kernel, took most of the
backward's compile time. Now each is typed and compiled once per signature, and the affine
and grid backward share theirs. Outputs are identical and speed the same within noise. On the
Intel Xeon machine, the code before and after side by side (one process each, empty caches),
the first calls of affine_sample, warp of uint8, grid_sample, affine_sample_backward and
grid_sample_backward took 243 s -> 158 s, the two backward 130 s -> 62 s.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .._coords import BILINEAR, BORDER, CONSTANT, HUGE, REFLECTION, WRAP, ZEROS, build
from ._simd import (
    alwaysinline,
    borrow,
    grad8,
    head_view,
    lerp4,
    lerp4_writes,
    lerp8,
    muladd,
    noinline,
    prefer512,
    prefetch,
    restrict,
)


@njit(inline="always")
def _add(arr, n, y, x, c, value):
    arr[n, y, x, c] += value


_h = build(njit, _add)
base_coord = _h.base_coord
unnormalize = _h.unnormalize
unnormalize_scale = _h.unnormalize_scale
source_index = _h.source_index
grid_source = _h.grid_source
affine_coeffs = _h.affine_coeffs
sample_point = _h.sample_point
backward_point_band = _h.backward_point_band

#: Most tasks a single image's backward is cut into (see the module docstring).
SCATTER_SPLIT = 4


def _split(n: int, out_rows: int, in_rows: int) -> int:
    """Tasks per sample in the backward: 1 for a batch, a fixed split for a single image."""
    return 1 if n >= 2 else max(1, min(out_rows, in_rows, SCATTER_SPLIT))


# --------------------------------------------------------------------------- affine_grid
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


# --------------------------------------------------------------------------- forward row machinery
#: Output pixels per parallel forward task, at least one row (amortises the per-task row
#: buffers and calls: 4 rows of a 1024-wide image, a whole 60x60 image).
TASK_PIXELS = 4096


@njit(inline="always")
def _rows_per_task(Ho, Wo):
    """Output rows per forward task: ``TASK_PIXELS`` pixels' worth, between 1 and Ho."""
    return max(1, min(Ho, TASK_PIXELS // max(Wo, 1)))


_FASTMATH = {"contract"}  # fused multiply-add only: NaN and inf keep their IEEE meaning

#: Codes in the ``offs`` row buffer for pixels off the interior fast path.
FILL = -1  # entirely outside the image (zeros/constant padding): cval
EDGE = -2  # anything else: edges, NaN, wrap
#: Flag added to the offset of a pixel exactly on the last row or column (see _classify_row).
CHECK = 1 << 62
MASK = CHECK - 1


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
def _scratch(Wo, dtype):
    """Per-task row buffers: padded pixel coordinates (px, py), flat corner offsets (int64;
    ``FILL``/``EDGE`` codes for the rest, see :func:`_classify_row`), the 4 bilinear
    weights per pixel in the output dtype (float32 weights for float32 and integer images, as
    PyTorch), and the columns of the row's edge pixels."""
    return (np.empty(Wo), np.empty(Wo), np.zeros(Wo + PREFETCH, np.int64),
            np.empty((4, Wo), dtype), np.empty(Wo, np.intp))


@njit(inline="always")
def _scratch_view(scratch, m):
    """The first m pixels of row buffers of :func:`_scratch` (for a group of rows, see
    :func:`_group_rows`), C-contiguous like them."""
    px, py, offs, wts, edges = scratch
    return px[:m], py[:m], offs[:m + PREFETCH], _head(wts, (4, m)), edges[:m]


@njit(inline="always")
def _head(a, shape):
    """The first items of the C-contiguous ``a`` (in C order) as a C-contiguous array of
    ``shape``, checked against ``a``'s size, without a reshape's call
    (:func:`._simd.head_view`: W3 0.90x-0.92x the time, W2's forward 0.97x-0.98x)."""
    m = 1
    for d in shape:
        m *= d
    if m > a.size:
        raise ValueError("_head: the shape asks for more items than the array holds")
    return head_view(a, shape)


@njit(inline="always")
def _below(a, r, j, level, strict):
    """Whether a·j + r (computed as :func:`_affine_cols` does) is below ``level`` (``<`` when
    ``strict``, else ``<=``)."""
    v = muladd(a, 1.0 * np.int32(j), r)
    return v < level if strict else v <= level


@njit
def _where(a, r, level, strict, want, n):
    """The columns j0 <= j < j1 of [0, n) where :func:`_below` is ``want``, as (j0, j1).

    a·j + r, rounded once, is monotone in j, so the test changes value at most once along the
    row: the change is found from the exact solution and then checked against the computed
    coordinates, so that the columns agree with a per-pixel test bit for bit."""
    alwaysinline()
    p0 = _below(a, r, 0, level, strict)
    t = n  # first column whose test differs from column 0's
    if n > 1 and _below(a, r, n - 1, level, strict) != p0:  # it changes inside the row
        e = (level - r) / a  # a != 0 here, and the crossing lies within the row
        e = 1.0 if e < 1.0 else e
        e = n - 1.0 if e > n - 1.0 else e
        t = int(e)
        while _below(a, r, t, level, strict) == p0:  # stops at n - 1 at the latest
            t += 1
        while _below(a, r, t - 1, level, strict) != p0:  # stops at 1 at the latest
            t -= 1
    if p0 == want:
        return 0, t
    return t, n


@njit
def _affine_spans(ax, rx, ay, ry, W, H, n, fills):
    """Columns of an affine row (finite coefficients of :func:`_affine_cols`): with ``fills``
    (zeros or constant padding) pixels j < A and j >= B lie entirely outside the image
    (``cval``), else A = 0 and B = n; pixels b <= j < c lie strictly inside its last column
    and row (0 <= ix < W - 1, 0 <= iy < H - 1), with A <= b <= c <= B. Returns
    (A, b, c, B)."""
    A = 0
    B = n
    b = 0
    c = n
    for k in range(8):  # a loop, not 8 calls: _where is compiled and inlined once
        x = k < 4
        a = ax if x else ay
        r = rx if x else ry
        size = 1.0 * W if x else 1.0 * H
        test = k % 4
        # test 0: > -1, 1: < size (not outside); 2: >= 0, 3: < size - 1 (strictly inside)
        level = -1.0 if test == 0 else size if test == 1 else 0.0 if test == 2 else size - 1.0
        j0, j1 = _where(a, r, level, test != 0, test % 2 == 1, n)
        if test < 2 and fills:
            A, B = max(A, j0), min(B, j1)
        else:
            b, c = max(b, j0), min(c, j1)
    B = max(A, B)
    b = min(max(b, A), B)
    c = min(max(c, b), B)
    return A, b, c, B


@njit(inline="always")
def _weights(wts, j, fx, fy):
    """The four bilinear weights of column j from its float64 fractions (fx, fy), in the
    dtype of ``wts`` (the exact fractions rounded once)."""
    one = wts.dtype.type(1.0)
    fx = wts.dtype.type(fx)
    fy = wts.dtype.type(fy)
    gx = one - fx
    gy = one - fy
    wts[0, j] = gx * gy
    wts[1, j] = fx * gy
    wts[2, j] = gx * fy
    wts[3, j] = fx * fy


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
    gather sends it to the edge pass when its result holds a NaN.
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
        for jj in range(j0, j1):
            j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
            ix = px[j]
            iy = py[j]
            # on the last column (row) exactly, the cell before with fraction 1: its far
            # corner, the pixel itself, gets weight 1 (border padding clips to it)
            x0 = np.minimum(np.floor(ix), Wm2)
            y0 = np.minimum(np.floor(iy), Hm2)
            _weights(wts, j, ix - x0, iy - y0)
            inside = cells & (ix >= 0.0) & (ix <= Wm) & (iy >= 0.0) & (iy <= Hm)
            real = (ix == ix) & (iy == iy)  # NaN wins over outside: 0, not cval
            outside = fills & real & ((ix <= -1.0) | (ix >= Wf) | (iy <= -1.0) | (iy >= Hf))
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


@njit(fastmath=_FASTMATH)
def _classify_interior(W, H, C, offs, wts, j0, j1, ax, rx, ay, ry):
    """:func:`_classify_row` for columns j0 <= j < j1 of an affine row whose every pixel lies
    strictly inside the last column and row (0 <= ix < W - 1, 0 <= iy < H - 1, see
    :func:`_affine_spans`): the same offsets and weights, without the tests. The cell is
    still clipped to the image (two vectorised min/max per coordinate), so that no read can
    leave it whatever the coordinates."""
    prefer512()
    Wm2 = W - 2.0
    Hm2 = H - 2.0
    WCf = 1.0 * (W * C)
    Cf = 1.0 * C
    for jj in range(j0, j1):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
        jf = 1.0 * np.int32(jj)
        ix = muladd(ax, jf, rx)
        iy = muladd(ay, jf, ry)
        x0 = np.floor(ix)
        y0 = np.floor(iy)
        x0 = 0.0 if x0 < 0.0 else x0  # plain max and min (the coordinates are finite)
        y0 = 0.0 if y0 < 0.0 else y0
        x0 = Wm2 if x0 > Wm2 else x0
        y0 = Hm2 if y0 > Hm2 else y0
        _weights(wts, j, ix - x0, iy - y0)
        offs[j] = np.int64(y0 * WCf + x0 * Cf)


#: How many pixels ahead the gather asks for the source rows (a rotated row walks across many
#: source rows). On the Zen 4 machine: W1 float64 6.6-6.8 -> 4.7-5.0 ms, float32 0.85-1.0x,
#: uint8 1.07-1.09x (so integer images did not prefetch there); on the Intel Xeon machine,
#: integer images in the time of not prefetching: uint8 RGB 0.73-0.75x, uint16 RGB
#: 0.53-0.59x, uint8 grey 0.93-0.95x (64 pixels ahead: uint8 the same, float64 1.03x slower).
#: Every dtype prefetches.
PREFETCH = 32


def int_range(dtype: np.dtype) -> tuple[float, float]:
    """The float range [lo, hi] that casts into integer ``dtype`` without overflow."""
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:  # 64-bit maxima round up in floating point
        hi = float(np.nextafter(hi, -np.inf))
    return lo, hi


def _store(oflat, k, v, wts):
    """``oflat[k] = v`` for a float output. For an integer output (:func:`affine_sample_int`)
    v is taken to the dtype of the weights ``wts`` (the one the row is computed in), clipped to
    the range of ``oflat``'s dtype (:func:`int_range`), rounded half to even and stored; NaN (only
    from a NaN ``cval``) stores 0. An integer ``v`` of ``oflat``'s dtype that the computing dtype
    holds exactly (a nearest-mode read) is stored as it is."""
    raise NotImplementedError("compiled only: see _store_overload")


@overload(_store, inline="always")
def _store_overload(oflat, k, v, wts):
    dst = oflat.dtype
    work = as_dtype(wts.dtype).type
    if isinstance(dst, types.Float) or (
        isinstance(v, types.Integer) and v == dst and v.bitwidth < np.finfo(work).nmant
    ):
        def put(oflat, k, v, wts):
            oflat[k] = v

        return put
    lo, hi = (work(x) for x in int_range(as_dtype(dst)))
    zero = work(0)

    def put_rounded(oflat, k, v, wts):
        x = work(v)
        x = lo if x < lo else x
        x = hi if x > hi else x
        oflat[k] = np.rint(x) if x == x else zero

    return put_rounded


def _store_lerp(oflat, k, v, wts):
    """:func:`_store` of a bilinear value of the image's own integers (or floats): its weights
    are at least 0 and sum to 1 within a few units in the last place, so rounded it lies in the
    dtype's range and it is never NaN, so that for integers of up to 32 bits it is only
    rounded, not clipped (grey uint8 0.88x the time of clipping and testing for NaN)."""
    raise NotImplementedError("compiled only: see _store_lerp_overload")


@overload(_store_lerp, inline="always")
def _store_lerp_overload(oflat, k, v, wts):
    if isinstance(oflat.dtype, types.Float) or oflat.dtype.bitwidth > 32:
        def put(oflat, k, v, wts):
            _store(oflat, k, v, wts)

        return put
    work = as_dtype(wts.dtype).type

    def put_rounded(oflat, k, v, wts):
        oflat[k] = np.rint(work(v))

    return put_rounded


def _stored_point(oflat, q, out, j, wts):
    """After ``sample_point`` wrote ``out[0, 0, j, :]``: for an integer output, that pixel
    stored into ``oflat[q:]`` by :func:`_store` (``out`` is then the row's float buffer); for a
    float output nothing (``oflat`` is then ``out`` itself)."""
    raise NotImplementedError("compiled only: see _stored_point_overload")


@overload(_stored_point, inline="always")
def _stored_point_overload(oflat, q, out, j, wts):
    if isinstance(oflat.dtype, types.Float):
        def nothing(oflat, q, out, j, wts):
            pass

        return nothing

    def store(oflat, q, out, j, wts):
        for c in range(out.shape[3]):
            _store(oflat, q + c, out[0, 0, j, c], wts)

    return store


@njit(inline="always")
def _has_nan(oflat, q, C):
    """Whether one of the C values at ``oflat[q:]`` is NaN."""
    nan = False
    for c in range(C):
        v = oflat[q + np.uint64(c)]
        nan |= v != v
    return nan


@njit(inline="always")
def _lerp_scalar(flat, oflat, p, p2, uC, q, a, b, c_, d, C, wts):
    """Bilinear of one pixel, channel by channel (the rounding of :func:`._simd.lerp4`)."""
    for c in range(C):
        uc = np.uint64(c)
        _store_lerp(oflat, q + uc, (flat[p + uc] * a + flat[p + uC + uc] * b) + (
            flat[p2 + uc] * c_ + flat[p2 + uC + uc] * d), wts)


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
    last = offs.shape[0] - PREFETCH - 1
    # 3 or 4 channels of a float32 (or integer) image: 4 lanes per pixel (lerp4; float64
    # measured faster in scalars). With C = 3 the 4th lane is junk: it reads the next pixel's
    # first channel (so only while that stays inside the array: o < lim) and writes where the
    # next pixel of this row writes after it (so never for the row's last pixel)
    vector = (C == 3 or C == 4) and lanes4
    junk = vector and C == 3
    ulim = _lane_limit(flat, base, WC, C, junk)
    ulast = np.uint64(0) if junk else ulim
    for jj in range(j0, j1):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound
        o2 = offs[j + np.uint64(PREFETCH)]
        p3 = ub + np.uint64(o2 & MASK if o2 > 0 else 0)
        prefetch(flat, p3)
        prefetch(flat, p3 + uWC)
        o = offs[j]
        if vector and mode == BILINEAR and np.uint64(o) < (ulim if jj < last else ulast):
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


def _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """The gather pass of a row (:func:`_gather_row_C`) as a function of its own, so
    that its loop gets the registers to itself, specialised per call site (see the overload
    below)."""
    raise NotImplementedError("compiled only: see _gather_overload")


@overload(_gather, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather_overload(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
    """A constant ``C`` and the dtypes fix at compile time whether pixels take the 4-lane
    step (3 or 4 channels, float32 weights, see :func:`._simd.lerp4_writes`), so the loop
    carries no test for it. Other channel counts get one loop with ``C`` a run-time value."""
    if isinstance(C, types.IntegerLiteral):
        nc = C.literal_value
        lanes4 = nc in (3, 4) and wts.dtype.bitwidth == 32 and lerp4_writes(
            flat.dtype, oflat.dtype, wts.dtype)

        def gather_c(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
            return _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges,
                                 ne, j0, j1, nc, lanes4)

        return gather_c

    def gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C):
        return _gather_row_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                             j0, j1, C, False)

    return gather


@njit(inline="always")
def _edge_cell(ix, iy, W, H):
    """The cell of a finite (ix, iy) in (-1, W) x (-1, H): fractions (fx, fy), top-left corner
    (xa, ya), and which of its columns (xa, xa + 1) and rows (ya, ya + 1) are inside the
    image."""
    x0 = np.floor(ix)
    y0 = np.floor(iy)
    fx = ix - x0
    fy = iy - y0
    xa = int(x0)
    ya = int(y0)
    in_x0 = xa >= 0
    in_x1 = xa + 1 < W
    in_y0 = ya >= 0
    in_y1 = ya + 1 < H
    return fx, fy, xa, ya, in_x0, in_x1, in_y0, in_y1


@njit(fastmath=_FASTMATH)
def _edge_bilinear(flat, oflat, base, q, ix, iy, W, H, C, cval, wts):
    """Bilinear at a finite (ix, iy) in (-1, W) x (-1, H) with corners outside the image,
    which read ``cval`` (arithmetic in float64, as ``sample_point``; stored by
    :func:`_store`)."""
    alwaysinline()
    fx, fy, xa, ya, in_x0, in_x1, in_y0, in_y1 = _edge_cell(ix, iy, W, H)
    p = base + (ya * W + xa) * C
    for c in range(C):
        fill = cval[c]
        v00 = flat[p + c] if in_y0 and in_x0 else fill
        v01 = flat[p + C + c] if in_y0 and in_x1 else fill
        v10 = flat[p + W * C + c] if in_y1 and in_x0 else fill
        v11 = flat[p + W * C + C + c] if in_y1 and in_x1 else fill
        _store(oflat, q + c, v00 * ((1.0 - fx) * (1.0 - fy)) + v01 * (fx * (1.0 - fy))
               + v10 * ((1.0 - fx) * fy) + v11 * (fx * fy), wts)


def _gather1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, fill_lanes):
    """The gather pass of a one-channel row: for float images, bilinear, 8 pixels at a time
    (:func:`._simd.lerp8`); a block of 8 with a pixel off the interior fast path goes through
    :func:`_gather` (which computes its interior pixels again, to the same values), as do the
    last (j1 - j0) % 8 pixels and every other image. With ``fill_lanes`` (a constant: a row whose
    pixels entirely outside the image were not cut off as a span, so hold ``FILL``) lerp8 also
    stores their ``cval`` and only the lanes from the first to the last pixel it left go
    through :func:`_gather`: W2's forward 0.90x-0.91x the time with one thread (1.00x with
    two). Rows cut into spans keep the plain loop: the same loop with the fill lanes took a
    grey 1024x1024 image 1.15x-1.23x the time."""
    raise NotImplementedError("compiled only: see _gather1_overload")


@overload(_gather1, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather1_overload(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                      fill_lanes):
    if not (isinstance(oflat.dtype, types.Float) and flat.dtype == oflat.dtype):
        def gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                   fill_lanes):
            return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                           j1, 1)

        return gather

    with_fill = isinstance(fill_lanes, types.BooleanLiteral) and fill_lanes.literal_value

    def gather8(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, fill_lanes):
        if mode != BILINEAR:
            return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0,
                           j1, 1)
        ub = np.uint64(base)
        uW = np.uint64(WC)
        lim = np.uint64(CHECK)  # interior offsets without the flag: all four corners inside
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
            if with_fill:
                rest = lerp8(flat, oflat, offs, wts, ub, j, q, uW, lim, FILL, fill)
                if rest != 0:  # from the first to the last lane left, pixel by pixel
                    lo = 0
                    while not (rest >> lo) & 1:
                        lo += 1
                    hi = 8
                    while not (rest >> (hi - 1)) & 1:
                        hi -= 1
                    ne = _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne,
                                 jj + lo, jj + hi, 1)
            elif lerp8(flat, oflat, offs, wts, ub, j, q, uW, lim, None, None) != 0:
                ne = _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, jj,
                             jj + 8, 1)
            jj += 8
        return _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, jj, j1, 1)

    return gather8


@njit(inline="always")
def _gather_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C,
              fill_lanes):
    """:func:`_gather` with the channel count a constant for C = 1, 3 and 4 (and, for C = 1,
    whether the row may hold ``FILL`` pixels, see :func:`_gather1`)."""
    if C == 1:
        if fill_lanes:
            ne = _gather1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                          True)
        else:
            ne = _gather1(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1,
                          False)
    elif C == 3:
        ne = _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, 3)
    elif C == 4:
        ne = _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, 4)
    else:
        ne = _gather(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, j0, j1, C)
    return ne


def _gather_span(flat, oflat, base, obase, WC, offs, wts, j0, j1, C):
    """The gather pass over columns j0 <= j < j1 of an affine row of an integer image that
    all lie strictly inside the image (:func:`_classify_interior`'s): every pixel bilinear
    from its four corners, without the codes and flags of :func:`_gather_row_C`, and the
    source rows of the pixel ``PREFETCH`` columns ahead asked for only while that pixel is in
    the span too (its offset needs no test then). A function of its own
    (:func:`._simd.noinline`: LLVM inlined the short loop into the row's code, where it ran
    slower than the gather it replaces). On the Intel Xeon machine W1u8 took 0.93x-0.96x the
    time of the one gather over the row in 9 of 10 A/B runs, one and two threads (1.03x in
    one), outputs identical; unrolled by two, 1.08x-1.16x. Float images measured no gain (W1
    0.97x-1.00x, W3 1.00x-1.06x) and keep the one gather. Only for what :func:`_spans_apart`
    admits (C, a constant, 3 or 4); for other types, which are typed through it but never
    take it, a stub that raises."""
    raise NotImplementedError("compiled only: see _gather_span_overload")


def _span_loop(flat, oflat, wts) -> bool:
    """Whether the interior span of a row goes through :func:`_gather_span`, for the numba
    array types of the image, the output and the weights: an integer output that the 4-lane
    step writes (:func:`._simd.lerp4_writes`)."""
    return isinstance(oflat.dtype, types.Integer) and lerp4_writes(flat.dtype, oflat.dtype,
                                                                    wts.dtype)


@overload(_gather_span, prefer_literal=True, jit_options={"fastmath": _FASTMATH})
def _gather_span_overload(flat, oflat, base, obase, WC, offs, wts, j0, j1, C):
    nc = C.literal_value if isinstance(C, types.IntegerLiteral) else None
    if nc not in (3, 4) or not _span_loop(flat, oflat, wts):
        def unreachable(flat, oflat, base, obase, WC, offs, wts, j0, j1, C):
            raise AssertionError("the span loop does not take these types")

        return unreachable

    def span(flat, oflat, base, obase, WC, offs, wts, j0, j1, C):
        noinline()
        uC = np.uint64(nc)
        ub = np.uint64(base)
        uWC = np.uint64(WC)
        # every cell but the last one of the last image, with 3 channels
        ulim = _lane_limit(flat, base, WC, nc, nc == 3)
        q = np.uint64(obase + j0 * nc)
        ahead = max(j0, j1 - PREFETCH)
        for jj in range(j0, j1):
            j = np.uint64(jj)
            if jj < ahead:
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
    3 or 4 channels of the types of :func:`_span_loop` (those a constant at compile time)."""
    raise NotImplementedError("compiled only: see _spans_apart_overload")


@overload(_spans_apart, inline="always")
def _spans_apart_overload(flat, oflat, wts, C):
    if not _span_loop(flat, oflat, wts):
        return lambda flat, oflat, wts, C: False
    return lambda flat, oflat, wts, C: C == 3 or C == 4


@njit(fastmath=_FASTMATH)
def _sample_row(inp, flat, oflat, obase, n, mode, padding, align_corners, cval, points,
                scratch, aff):
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
    their coordinates); only the rest get coordinates in scratch's (px, py), padded, and
    :func:`_classify_row`'s tests. Else the coordinates are in (px, py) already, unpadded."""
    alwaysinline()
    px, py, offs, wts, edges = scratch
    H, W, C = inp.shape[1], inp.shape[2], inp.shape[3]
    Wo = px.shape[0]
    base = n * H * W * C
    WC = W * C
    fused, ax, rx, ay, ry = aff
    fills = padding == ZEROS or padding == CONSTANT
    if fused:
        A, b, c, B = _affine_spans(ax, rx, ay, ry, W, H, Wo, fills)
        if mode != BILINEAR or b == c:
            b = c = B  # no interior span: every column through the tests
        # coordinates in (px, py) only for the columns between; padding changes none inside
        _affine_cols(px, py, ax, rx, ay, ry, A, b)
        _affine_cols(px, py, ax, rx, ay, ry, c, B)
        if not fills:
            _pad(px[A:b], py[A:b], W, H, padding, align_corners)
            _pad(px[c:B], py[c:B], W, H, padding, align_corners)
        _classify(px, py, W, H, C, mode, padding, offs, wts, A, b)
        _classify_interior(W, H, C, offs, wts, b, c, ax, rx, ay, ry)
        _classify(px, py, W, H, C, mode, padding, offs, wts, c, B)
    else:
        A = Wo - Wo  # 0, typed as Wo (one compilation of the calls below)
        B = Wo
        _pad(px, py, W, H, padding, align_corners)
        _classify(px, py, W, H, C, mode, padding, offs, wts, A, B)
    none = np.intp(0)  # no edge pixels yet, typed as the count (a literal 0 is a type of its own)
    if fused and b < c and _spans_apart(flat, oflat, wts, C):
        ne = _gather_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none, A, b, C,
                       False)
        # with 3 channels lerp4 writes a 4th lane into the next pixel, which the gather after
        # the span or a fill writes after it, unless the span ends the row
        e = c - 1 if c == Wo and C == 3 else c
        if C == 3:
            _gather_span(flat, oflat, base, obase, WC, offs, wts, b, e, 3)
        else:
            _gather_span(flat, oflat, base, obase, WC, offs, wts, b, e, 4)
        ne = _gather_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, ne, e, B, C,
                       False)
    else:
        ne = _gather_C(flat, oflat, base, obase, WC, mode, offs, wts, cval, edges, none, A, B, C,
                       not fused)
    if fused and fills:  # after the gather: the junk 4th lane of pixel B - 1 may write into pixel B
        _fill(oflat, obase, obase + A * C, cval, wts)
        _fill(oflat, obase + B * C, obase + Wo * C, cval, wts)
    edge_inline = mode == BILINEAR and padding != WRAP
    out = _head(points, (1, 1, Wo, C))
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


#: Output rows at least this wide are cut into column spans (:func:`_affine_spans`); narrower
#: ones classify every column, which costs less than finding the spans (measured on the Intel
#: Xeon machine, time with spans / without, for C = 1 and 3: 32 px wide 1.59x and 1.35x,
#: 64 px 1.26x and 1.23x, 128 px 1.06x and 1.04x, 160 px 0.97x, 224 px 0.88x and 0.91x).
SPAN_COLUMNS = 144
#: Pixels in a group of narrow rows (:func:`_group_rows`) at most.
GROUP_PIXELS = 1024


@njit(inline="always")
def _row_coords(px, py, ax, bx, cx, ay, by, cy, i, padding):
    """The coordinates of affine output row i for :func:`_sample_row`, as ``aff``: the row's
    coefficients, fused, when they are finite, the padding is not wrap and the row has at
    least ``SPAN_COLUMNS`` columns; else they are computed into (px, py), which the padding
    then changes."""
    rx = bx * i + cx
    ry = by * i + cy
    fused = padding != WRAP and px.shape[0] >= SPAN_COLUMNS and np.isfinite(ax + rx + ay + ry)
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
    faster in groups (1.02x-1.05x; one run 0.87x) and stays row by row."""
    return max(1, GROUP_PIXELS // Wo) if Wo < SPAN_COLUMNS else 1


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
def _affine_cols(px, py, ax, rx, ay, ry, j0, j1):
    """Unpadded source pixel coordinates ix = ax·j + rx, iy = ay·j + ry of the columns
    j0 <= j < j1 of an affine output row, into (px, py)."""
    for jj in range(j0, j1):
        j = np.uint64(jj)  # unsigned: no negative-index wraparound, so the loop vectorises
        jf = 1.0 * np.int32(jj)  # int32 -> float64 vectorises (Wo < 2**31 always)
        px[j] = muladd(ax, jf, rx)  # as _below: fused or not, the same everywhere
        py[j] = muladd(ay, jf, ry)


@njit(inline="always")
def _affine_coords(px, py, ax, bx, cx, ay, by, cy, i):
    """Unpadded source pixel coordinates of every column of output row i (forward and
    backward; the coefficients come from ``affine_coeffs``)."""
    _affine_cols(px, py, ax, bx * i + cx, ay, by * i + cy, 0, px.shape[0])


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
    a, b, c, d, e = scratch
    return borrow(inp), borrow(out), borrow(cval), (borrow(a), borrow(b), borrow(c), borrow(d),
                                                     borrow(e))


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


@njit(fastmath=_FASTMATH)
def _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    row):
    """Rows i0 <= i < i1 of sample n of an affine forward, a group of rows at a time
    (:func:`_group_rows`); ``row`` is the float buffer of an integer ``out``, None for a float
    one (see :func:`_points`)."""
    alwaysinline()
    H, W = inp.shape[1], inp.shape[2]
    Ho, Wo, C = out.shape[1], out.shape[2], out.shape[3]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
    G = _group_rows(Wo)
    for i in range(i0, i1, G):
        m = min(G, i1 - i) * Wo
        view = _scratch_view(scratch, m)
        if G == 1:
            aff = _row_coords(view[0], view[1], ax, bx, cx, ay, by, cy, i, padding)
        else:
            _affine_rows(view[0], view[1], ax, bx, cx, ay, by, cy, i, m // Wo, Wo)
            aff = (False, 0.0, 0.0, 0.0, 0.0)
        obase = (n * Ho + i) * Wo * C
        _sample_row(inp, flat, oflat, obase, n, mode, padding, align_corners, cval,
                    _points(oflat, obase, row), view, aff)


@njit(fastmath=_FASTMATH)
def _affine_band(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch):
    """Rows i0 <= i < i1 of sample n of :func:`affine_sample` (not inlined, so that LLVM
    optimises and vectorises the row loops on their own, outside the parallel loop body)."""
    inp, out, cval, scratch = _borrowed(inp, out, cval, scratch)
    _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    None)


@njit(fastmath=_FASTMATH)
def _affine_band_int(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                     row):
    """Rows i0 <= i < i1 of :func:`affine_sample_int`: computed in the dtype of the weights
    and stored into the integer ``out`` rounded (:func:`_store`, :func:`._simd.lerp4`); the
    float buffer ``row`` (a group's values, :func:`_group_rows`) takes what the general
    per-point code writes."""
    inp, out, cval, scratch = _borrowed(inp, out, cval, scratch)
    row = borrow(row)
    _affine_rows_of(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch,
                    row)


@njit(fastmath=_FASTMATH)
def _grid_band(inp, grid, out, n, i0, i1, mode, padding, align_corners, cval, scratch):
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
                    oflat[obase:], view, (False, 0.0, 0.0, 0.0, 0.0))


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
    for task in prange(N * bands):
        n, i0, i1 = _band_of(task, bands, rpt, Ho)
        scratch = _scratch(_group_rows(Wo) * Wo, out.dtype)
        _affine_band(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval, scratch)


@njit(parallel=True, cache=True)
def affine_sample_int(inp, theta, out, mode, padding, align_corners, cval, work):
    """:func:`affine_sample` into an integer ``out`` of ``inp``'s dtype: computed in the dtype
    of ``work`` (an empty float32 or float64 array), then rounded half to even and clipped to
    the range of ``out``'s dtype pixel by pixel as it is stored (:func:`_store`), so no float
    image is ever allocated."""
    N, Ho, Wo, C = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    rpt = _rows_per_task(Ho, Wo)
    bands = (Ho + rpt - 1) // rpt
    for task in prange(N * bands):
        n, i0, i1 = _band_of(task, bands, rpt, Ho)
        G = _group_rows(Wo)
        scratch = _scratch(G * Wo, work.dtype)
        row = np.empty(G * Wo * C, dtype=work.dtype)
        _affine_band_int(inp, theta, out, n, i0, i1, mode, padding, align_corners, cval,
                         scratch, row)


@njit(parallel=True, cache=True)
def grid_sample(inp, grid, out, mode, padding, align_corners, cval):
    """out[n, i, j, :] = inp[n] sampled at grid[n, i, j]; out (N, Ho, Wo, C) filled in place."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    rpt = _rows_per_task(Ho, Wo)
    bands = (Ho + rpt - 1) // rpt
    for task in prange(N * bands):
        n, i0, i1 = _band_of(task, bands, rpt, Ho)
        scratch = _scratch(_group_rows(Wo) * Wo, out.dtype)
        _grid_band(inp, grid, out, n, i0, i1, mode, padding, align_corners, cval, scratch)


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


# --------------------------------------------------------------------------- backward row machinery
@njit(inline="always")
def _pad_row_grad(px, py, W, H, padding, align_corners, mx, my):
    """Apply the padding mode in place; d padded / d unpadded into (mx, my)."""
    if padding == ZEROS or padding == CONSTANT:
        for j in range(px.shape[0]):
            mx[j] = 1.0
            my[j] = 1.0
        return
    for j in range(px.shape[0]):
        px[j], mx[j] = source_index(px[j], W, padding, align_corners)
        py[j], my[j] = source_index(py[j], H, padding, align_corners)


@njit(fastmath=_FASTMATH)
def _backward_cells(px, py, W, H, C, mode, offs, fxs, fys, wts):
    """The vectorised pass of a backward row: for every bilinear pixel strictly inside the
    last column and row (0 <= ix < W - 1, 0 <= iy < H - 1) the flat offset of the top-left
    corner of its cell in ``offs`` (-1 for every other pixel), and for every pixel the
    float64 fractions (fx, fy) and the four weights in the dtype of ``wts``
    (:func:`_weights`; meaningless off the interior). Its buffers never overlap
    (:func:`._simd.restrict`: W2's backward 0.95x-0.97x the time, one thread)."""
    restrict()
    Wm = W - 1.0
    Hm = H - 1.0
    WCf = 1.0 * (W * C)
    Cf = 1.0 * C
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
        offs[j] = np.int64(y0 * WCf + x0 * Cf if inside else -1.0)


@njit(fastmath=_FASTMATH, _nrt=False)
def _backward_row_C(
    inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy, cells, C, lanes8,
):
    """Backward of one output row.

    Scatters into ``gin[n]`` rows y_lo <= y < y_hi (when ``need_gin``) and writes
    d loss / d (padded ix, iy) into (dgx, dgy) (when ``need_grad``). A vectorised pass
    (:func:`_backward_cells`, into the row buffers ``cells``) finds the interior bilinear
    pixels and their cells, fractions and weights; those then take a path without bounds
    checks (their coordinate gradients 8 at a time, :func:`._simd.grad8`, for one-channel float
    images: ``lanes8``), NaN and entirely outside pixels (which only read the fill value) get
    zero gradient at once, bilinear edge pixels go through :func:`_edge_backward` and the rest
    (wrap, nearest) through the general ``backward_point_band``, all in output-pixel order.
    All compute the same corners and weights.
    """
    alwaysinline()
    H, W = inp.shape[1], inp.shape[2]
    WC = W * C
    uWC = np.uint64(WC)
    uC = np.uint64(C)
    base = n * H * WC
    Wo = px.shape[0]
    obase = (n * gout.shape[1] + i) * Wo * C
    lo = y_lo * WC  # the band's rows as offsets of cells: y_lo <= y0 < y_hi <=> lo <= o < hi
    hi = y_hi * WC
    # the band is the whole image (one task per sample, as W2's): the scatter with its tests
    # constant, the same additions in the same order (W2 backward 0.93x-0.95x the time with
    # one thread, 0.97x-1.01x with two)
    whole = y_lo <= 0 and y_hi >= H
    offs, fxs, fys, wts = cells
    _backward_cells(px, py, W, H, C, mode, offs, fxs, fys, wts)
    done = 0  # the interior pixels before it have their gradient from grad8 already
    if lanes8 and need_grad and mode == BILINEAR:
        while done + 8 <= Wo:
            grad8(flat, gflat, offs, fxs, fys, dgx, dgy, np.uint64(base), np.uint64(done),
                  np.uint64(obase + done), uWC, np.uint64(CHECK))
            done += 8
    for jj in range(Wo):
        j = np.uint64(jj)  # unsigned flat indices: no negative-index wraparound code
        o = offs[j]
        if o >= 0:
            p = np.uint64(base + o)
            p2 = p + uWC
            q = np.uint64(obase + jj * C)
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
        ix = px[j]
        iy = py[j]
        if not (ix == ix and iy == iy) or (
            padding != WRAP and (ix <= -1.0 or ix >= W or iy <= -1.0 or iy >= H)
        ):  # NaN or entirely outside: reads only the constant fill, so no gradient at all
            dgx[j] = 0.0
            dgy[j] = 0.0
        else:
            if mode == BILINEAR and padding != WRAP:
                q = np.uint64(obase + jj * C)
                gx, gy = _edge_backward(flat, gflat, ginflat, base, q, ix, iy, W, H, C, cval,
                                        need_gin, y_lo, y_hi)
            else:  # wrap, nearest edges: the general per-point code
                gx, gy = backward_point_band(inp, n, ix, iy, mode, padding, cval, gout, n, i, jj,
                                             gin, n, need_gin, y_lo, y_hi)
            dgx[j] = gx
            dgy[j] = gy


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
    """``backward_point_band`` of a bilinear pixel at a finite (ix, iy) in (-1, W) x (-1, H)
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


def _backward_pass(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                   need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C):
    """The backward of a row (:func:`_backward_row_C`) as a function of its own, so that its
    loops get the registers to themselves, specialised per channel count (see the overload
    below)."""
    raise NotImplementedError("compiled only: see _backward_pass_overload")


@overload(_backward_pass, prefer_literal=True,
          jit_options={"fastmath": _FASTMATH, "_nrt": False})
def _backward_pass_overload(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin,
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

    def backward(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                 need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, C):
        _backward_row_C(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                        need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells,
                        C if nc is None else nc, lanes8)

    return backward


@njit(inline="always")
def _backward_row(
    inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy, cells,
):
    """:func:`_backward_pass` with the channel count a constant for 1 and 3."""
    C = inp.shape[3]
    if C == 1:
        _backward_pass(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                       need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, 1)
    elif C == 3:
        _backward_pass(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                       need_gin, need_grad, y_lo, y_hi, dgx, dgy, cells, 3)
    else:
        _backward_pass(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
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


# --------------------------------------------------------------------------- grid_sample
@njit(inline="always")
def _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my):
    for j in range(px.shape[0]):
        px[j] = unnormalize(grid[n, i, j, 0], W, align_corners)
        py[j] = unnormalize(grid[n, i, j, 1], H, align_corners)
    _pad_row_grad(px, py, W, H, padding, align_corners, mx, my)


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
    for task in prange(N * split):
        n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(np.int64(task), split, Ho, H, need_gin)
        _zero_rows(gin, n, scatter_now, y_lo, y_hi)
        px = np.empty(Wo)
        py = np.empty(Wo)
        mx = np.empty(Wo)
        my = np.empty(Wo)
        dgx = np.empty(Wo)
        dgy = np.empty(Wo)
        cells = _backward_cells_scratch(Wo, gin.dtype)
        for i in range(i0, i1):
            _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
            _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                          scatter_now, True, 0, H, dgx, dgy, cells)
            for j in range(Wo):
                grad_grid[n, i, j, 0] = dgx[j] * mx[j] * sx
                grad_grid[n, i, j, 1] = dgy[j] * my[j] * sy
        if y_hi > y_lo:
            for i in range(Ho):
                _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
                _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin,
                              ginflat, True, False, y_lo, y_hi, dgx, dgy, cells)


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


# --------------------------------------------------------------------------- affine_sample
@njit(inline="always")
def _affine_row(ax, bx, cx, ay, by, cy, i, W, H, padding, align_corners, px, py, mx, my):
    """Padded coordinates of output row i and their derivatives (mx, my) for the backward."""
    _affine_coords(px, py, ax, bx, cx, ay, by, cy, i)
    _pad_row_grad(px, py, W, H, padding, align_corners, mx, my)


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


@njit(fastmath={"contract", "reassoc"})
def _theta_sums(dgx, dgy, mx, my, xt, sx, sy):
    """Sums over a row of the θ gradient's terms: Σ gx·x_t, Σ gx, Σ gy·x_t, Σ gy, where
    gx = dgx·mx·sx and gy = dgy·my·sy. ``reassoc`` lets LLVM split each sum into vector
    lanes (the order of the additions is fixed by the compiled code, so the sums are still the
    same from run to run and for any number of threads); NaN and inf keep their meaning."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(dgx.shape[0]):
        gx = dgx[j] * mx[j] * sx
        gy = dgy[j] * my[j] * sy
        s0 += gx * xt[j]
        s1 += gx
        s2 += gy * xt[j]
        s3 += gy
    return s0, s1, s2, s3


@njit(fastmath=_FASTMATH)
def _affine_backward_task(
    gout, inp, theta, gin, mode, padding, align_corners, cval, n, i0, i1, scatter_now, y_lo,
    y_hi, scratch, cells,
):
    """One backward task of sample n (see :func:`_task_plan`); returns its θ-gradient sums.
    ``scratch`` holds seven row buffers of Wo float64 (:func:`_backward_scratch`).

    Not inlined, so that LLVM optimises the row loops on their own, outside the parallel loop.
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
    sx = unnormalize_scale(W, align_corners)
    sy = unnormalize_scale(H, align_corners)
    flat = inp.reshape(inp.size)
    gflat = gout.reshape(gout.size)
    ginflat = gin.reshape(gin.size)
    ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
    for j in range(Wo):
        xt[j] = base_coord(j, Wo, align_corners)
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    a4 = 0.0
    a5 = 0.0
    for i in range(i0, i1):
        yt = base_coord(i, Ho, align_corners)
        _affine_row(ax, bx, cx, ay, by, cy, i, W, H, padding, align_corners, px, py, mx, my)
        _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                      scatter_now, True, 0, H, dgx, dgy, cells)
        s0, s1, s2, s3 = _theta_sums(dgx, dgy, mx, my, xt, sx, sy)
        a0 += s0
        a1 += s1 * yt
        a2 += s1
        a3 += s2
        a4 += s3 * yt
        a5 += s3
    if y_hi > y_lo:
        for i in range(Ho):
            _affine_row(ax, bx, cx, ay, by, cy, i, W, H, padding, align_corners, px, py, mx, my)
            _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin,
                          ginflat, True, False, y_lo, y_hi, dgx, dgy, cells)
    return a0, a1, a2, a3, a4, a5


@njit(parallel=True, cache=True)
def _affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin, split
):
    N, Ho = gout.shape[0], gout.shape[1]
    H = inp.shape[1]
    partial = np.zeros((N * split, 6))
    for task in prange(N * split):
        t = np.int64(task)
        n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(t, split, Ho, H, need_gin)
        scratch = _backward_scratch(gout.shape[2])
        cells = _backward_cells_scratch(gout.shape[2], gin.dtype)
        sums = _affine_backward_task(gout, inp, theta, gin, mode, padding, align_corners, cval,
                                     n, i0, i1, scatter_now, y_lo, y_hi, scratch, cells)
        for q in range(6):
            partial[t, q] = sums[q]
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


def _zeroed(gin, inp) -> np.ndarray:
    """``gin``, which the kernel zeroes (:func:`_zero_rows`), or a 1-element dummy when
    grad_input is not wanted."""
    if gin is None:
        return np.zeros((1, 1, 1, 1), dtype=inp.dtype)
    return gin
