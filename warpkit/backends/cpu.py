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

θ gradients are summed per task and reduced in task order. Results are bit-identical for any
``NUMBA_NUM_THREADS`` and from run to run, and the backward allocates only its outputs (plus
row buffers of a few output widths per task).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._coords import BILINEAR, CONSTANT, ZEROS, build


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
#: Output rows per parallel task (amortises the per-task row buffers).
ROWS_PER_TASK = 4


@njit(inline="always")
def _pad_row(px, py, W, H, padding, align_corners):
    """Apply the padding mode to a row of pixel coordinates in place (forward)."""
    if padding == ZEROS or padding == CONSTANT:
        return
    for j in range(px.shape[0]):
        px[j], _ = source_index(px[j], W, padding, align_corners)
        py[j], _ = source_index(py[j], H, padding, align_corners)


@njit(inline="always")
def _interior(ix, iy, W, H):
    """All four bilinear corners inside the image (False for NaN)."""
    return ix >= 0.0 and ix < W - 1 and iy >= 0.0 and iy < H - 1


@njit(inline="always")
def _scratch(Wo, dtype):
    """Per-task row buffers: coordinates, corner offsets, fractions, and 4 weights in the
    output dtype (float32 weights for float32 and integer images, as PyTorch)."""
    return (np.empty(Wo), np.empty(Wo), np.empty(Wo, np.int64), np.empty(Wo), np.empty(Wo),
            np.empty(4, dtype))


@njit(inline="always")
def _classify_row(px, py, W, H, C, offs, fxs, fys):
    """Vectorisable pass over a row of padded pixel coordinates (bilinear).

    For pixels whose four corners are inside the image, ``offs`` gets the flat offset of the
    top-left corner within its image and (fxs, fys) the fractions; every other pixel (outside,
    edge, NaN) gets ``offs = -1`` and is left to the general ``sample_point``.
    """
    Wm = W - 1.0
    Hm = H - 1.0
    for j in range(px.shape[0]):
        ix = px[j]
        iy = py[j]
        inside = (ix >= 0.0) & (ix < Wm) & (iy >= 0.0) & (iy < Hm)
        ix = ix if inside else 0.0
        iy = iy if inside else 0.0
        x0 = np.floor(ix)
        y0 = np.floor(iy)
        fxs[j] = ix - x0
        fys[j] = iy - y0
        offs[j] = (int(y0) * W + int(x0)) * C if inside else -1


@njit(inline="always")
def _gather_row_C(inp, flat, oflat, n, i, mode, padding, cval, out, scratch, C):
    px, py, offs, fxs, fys, w = scratch
    H, W = inp.shape[1], inp.shape[2]
    WC = W * C
    base = n * H * WC
    Wo = px.shape[0]
    obase = (n * out.shape[1] + i) * Wo * C
    if mode == BILINEAR:
        _classify_row(px, py, W, H, C, offs, fxs, fys)
        for j in range(Wo):
            o = offs[j]
            if o >= 0:
                fx = fxs[j]
                fy = fys[j]
                w[0] = (1.0 - fx) * (1.0 - fy)
                w[1] = fx * (1.0 - fy)
                w[2] = (1.0 - fx) * fy
                w[3] = fx * fy
                a = w[0]
                b = w[1]
                c_ = w[2]
                d = w[3]
                p = base + o
                p2 = p + WC
                q = obase + j * C
                for c in range(C):
                    oflat[q + c] = (flat[p + c] * a + flat[p + C + c] * b) + (
                        flat[p2 + c] * c_ + flat[p2 + C + c] * d
                    )
            else:
                sample_point(inp, n, px[j], py[j], mode, padding, cval, out, n, i, j)
        return
    for j in range(Wo):
        ix = px[j]
        iy = py[j]
        if ix >= 0.0 and ix <= W - 1 and iy >= 0.0 and iy <= H - 1:
            p = base + (int(np.rint(iy)) * W + int(np.rint(ix))) * C  # rint: ties to even
            q = obase + j * C
            for c in range(C):
                oflat[q + c] = flat[p + c]
        else:
            sample_point(inp, n, ix, iy, mode, padding, cval, out, n, i, j)


@njit(inline="always")
def _gather_row(inp, flat, oflat, n, i, mode, padding, cval, out, scratch):
    """Sample one output row from its padded pixel coordinates (scratch's px, py)."""
    C = inp.shape[3]
    if C == 1:
        _gather_row_C(inp, flat, oflat, n, i, mode, padding, cval, out, scratch, 1)
    elif C == 3:
        _gather_row_C(inp, flat, oflat, n, i, mode, padding, cval, out, scratch, 3)
    elif C == 4:
        _gather_row_C(inp, flat, oflat, n, i, mode, padding, cval, out, scratch, 4)
    else:
        _gather_row_C(inp, flat, oflat, n, i, mode, padding, cval, out, scratch, C)


@njit(parallel=True, cache=True)
def affine_sample(inp, theta, out, mode, padding, align_corners, cval):
    """Fused affine_grid + grid_sample: out (N, Ho, Wo, C) filled in place, no grid made.

    Each task takes ``ROWS_PER_TASK`` output rows: a vectorisable pass computes the row's
    source coordinates, then a gather pass reads the four corners of interior pixels without
    bounds checks and sends the rest (outside, edges, NaN) to the general ``sample_point``.
    """
    N, Ho, Wo = out.shape[0], out.shape[1], out.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    rows = N * Ho
    for task in prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        scratch = _scratch(Wo, out.dtype)
        px, py = scratch[0], scratch[1]
        for r in range(task * ROWS_PER_TASK, min(rows, (task + 1) * ROWS_PER_TASK)):
            n = r // Ho
            i = r % Ho
            ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
            rx = bx * i + cx
            ry = by * i + cy
            for j in range(Wo):
                px[j] = ax * j + rx
                py[j] = ay * j + ry
            _pad_row(px, py, W, H, padding, align_corners)
            _gather_row(inp, flat, oflat, n, i, mode, padding, cval, out, scratch)


@njit(parallel=True, cache=True)
def grid_sample(inp, grid, out, mode, padding, align_corners, cval):
    """out[n, i, j, :] = inp[n] sampled at grid[n, i, j]; out (N, Ho, Wo, C) filled in place."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    rows = N * Ho
    for task in prange((rows + ROWS_PER_TASK - 1) // ROWS_PER_TASK):
        scratch = _scratch(Wo, out.dtype)
        px, py = scratch[0], scratch[1]
        for r in range(task * ROWS_PER_TASK, min(rows, (task + 1) * ROWS_PER_TASK)):
            n = r // Ho
            i = r % Ho
            for j in range(Wo):
                px[j] = unnormalize(grid[n, i, j, 0], W, align_corners)
                py[j] = unnormalize(grid[n, i, j, 1], H, align_corners)
            _pad_row(px, py, W, H, padding, align_corners)
            _gather_row(inp, flat, oflat, n, i, mode, padding, cval, out, scratch)


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


@njit(inline="always")
def _backward_row_C(
    inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy, C,
):
    """Backward of one output row.

    Scatters into ``gin[n]`` rows y_lo <= y < y_hi (when ``need_gin``) and writes
    d loss / d (padded ix, iy) into (dgx, dgy) (when ``need_grad``). Interior bilinear pixels
    take a path without bounds checks; the rest go to the general ``backward_point_band``.
    Both compute the same corners and weights.
    """
    H, W = inp.shape[1], inp.shape[2]
    WC = W * C
    base = n * H * WC
    Wo = px.shape[0]
    obase = (n * gout.shape[1] + i) * Wo * C
    for j in range(Wo):
        ix = px[j]
        iy = py[j]
        if mode == BILINEAR and _interior(ix, iy, W, H):
            x0 = int(ix)
            y0 = int(iy)
            fx = ix - x0
            fy = iy - y0
            p = base + (y0 * W + x0) * C
            q = obase + j * C
            if need_grad:
                gx = 0.0
                gy = 0.0
                for c in range(C):
                    g = 1.0 * gflat[q + c]
                    v00 = flat[p + c]
                    v01 = flat[p + C + c]
                    v10 = flat[p + WC + c]
                    v11 = flat[p + WC + C + c]
                    gx += g * ((v01 - v00) * (1.0 - fy) + (v11 - v10) * fy)
                    gy += g * ((v10 - v00) * (1.0 - fx) + (v11 - v01) * fx)
                dgx[j] = gx
                dgy[j] = gy
            if need_gin:
                top = y0 >= y_lo and y0 < y_hi
                bottom = y0 + 1 >= y_lo and y0 + 1 < y_hi
                for c in range(C):
                    g = 1.0 * gflat[q + c]
                    if top:
                        ginflat[p + c] += g * (1.0 - fx) * (1.0 - fy)
                        ginflat[p + C + c] += g * fx * (1.0 - fy)
                    if bottom:
                        ginflat[p + WC + c] += g * (1.0 - fx) * fy
                        ginflat[p + WC + C + c] += g * fx * fy
        else:
            gx, gy = backward_point_band(
                inp, n, ix, iy, mode, padding, cval, gout, n, i, j, gin, n, need_gin, y_lo, y_hi
            )
            dgx[j] = gx
            dgy[j] = gy


@njit(inline="always")
def _backward_row(
    inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat, need_gin,
    need_grad, y_lo, y_hi, dgx, dgy,
):
    """:func:`_backward_row_C` with the channel count specialised for 1 and 3."""
    C = inp.shape[3]
    if C == 1:
        _backward_row_C(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                        need_gin, need_grad, y_lo, y_hi, dgx, dgy, 1)
    elif C == 3:
        _backward_row_C(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                        need_gin, need_grad, y_lo, y_hi, dgx, dgy, 3)
    else:
        _backward_row_C(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                        need_gin, need_grad, y_lo, y_hi, dgx, dgy, C)


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
        px = np.empty(Wo)
        py = np.empty(Wo)
        mx = np.empty(Wo)
        my = np.empty(Wo)
        dgx = np.empty(Wo)
        dgy = np.empty(Wo)
        for i in range(i0, i1):
            _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
            _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin, ginflat,
                          scatter_now, True, 0, H, dgx, dgy)
            for j in range(Wo):
                grad_grid[n, i, j, 0] = dgx[j] * mx[j] * sx
                grad_grid[n, i, j, 1] = dgy[j] * my[j] * sy
        if y_hi > y_lo:
            for i in range(Ho):
                _grid_row(grid, n, i, W, H, padding, align_corners, px, py, mx, my)
                _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin,
                              ginflat, True, False, y_lo, y_hi, dgx, dgy)


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
    rx = bx * i + cx
    ry = by * i + cy
    for j in range(px.shape[0]):
        px[j] = ax * j + rx
        py[j] = ay * j + ry
    _pad_row_grad(px, py, W, H, padding, align_corners, mx, my)


@njit(parallel=True, cache=True)
def _affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin, split
):
    N, Ho, Wo = gout.shape[0], gout.shape[1], gout.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    sx = unnormalize_scale(W, align_corners)
    sy = unnormalize_scale(H, align_corners)
    flat = inp.reshape(inp.size)
    gflat = gout.reshape(gout.size)
    ginflat = gin.reshape(gin.size)
    partial = np.zeros((N * split, 6))
    for task in prange(N * split):
        t = np.int64(task)
        n, i0, i1, scatter_now, y_lo, y_hi = _task_plan(t, split, Ho, H, need_gin)
        ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
        px = np.empty(Wo)
        py = np.empty(Wo)
        mx = np.empty(Wo)
        my = np.empty(Wo)
        dgx = np.empty(Wo)
        dgy = np.empty(Wo)
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
                          scatter_now, True, 0, H, dgx, dgy)
            for j in range(Wo):
                gx = dgx[j] * mx[j] * sx
                gy = dgy[j] * my[j] * sy
                xt = base_coord(j, Wo, align_corners)
                a0 += gx * xt
                a1 += gx * yt
                a2 += gx
                a3 += gy * xt
                a4 += gy * yt
                a5 += gy
        partial[t, 0] = a0
        partial[t, 1] = a1
        partial[t, 2] = a2
        partial[t, 3] = a3
        partial[t, 4] = a4
        partial[t, 5] = a5
        if y_hi > y_lo:
            for i in range(Ho):
                _affine_row(ax, bx, cx, ay, by, cy, i, W, H, padding, align_corners,
                            px, py, mx, my)
                _backward_row(inp, flat, gout, gflat, n, i, px, py, mode, padding, cval, gin,
                              ginflat, True, False, y_lo, y_hi, dgx, dgy)
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
    """``gin`` zeroed for the scatter, or a 1-element dummy when grad_input is not wanted."""
    if gin is None:
        return np.zeros((1, 1, 1, 1), dtype=inp.dtype)
    gin[...] = 0
    return gin
