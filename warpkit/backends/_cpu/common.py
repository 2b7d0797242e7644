"""What the CPU row machinery shares: the coordinate helpers of :mod:`warpkit._coords`
compiled for the CPU, the codes of the forward's offsets buffer, small array helpers, and the
coordinates of an affine row."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..._coords import build
from .._simd import head_view, muladd


@njit(inline="always")
def _add(arr, n, y, x, c, value):
    arr[n, y, x, c] += value


_h = build(njit, _add)
base_coord = _h.base_coord
unnormalize = _h.unnormalize
unnormalize_scale = _h.unnormalize_scale
source_index = _h.source_index
affine_coeffs = _h.affine_coeffs
usable_coeffs = _h.usable_coeffs
grid_point = _h.grid_point
sample_point = _h.sample_point
backward_point_band = _h.backward_point_band


_FASTMATH = {"contract"}  # fused multiply-add only: NaN and inf keep their IEEE meaning

#: Codes in the ``offs`` row buffer for pixels off the interior fast path.
FILL = -1  # entirely outside the image (zeros/constant padding): cval
EDGE = -2  # anything else: edges, NaN, wrap
#: Flag added to the offset of a pixel exactly on the last row or column (see _classify_row).
CHECK = 1 << 62
MASK = CHECK - 1


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
def _rows_inside(flat, base, offset, WC, count):
    """Whether ``count`` values from ``flat[base + offset]``, and as many WC values further
    (the same columns of the next row of an image of rows of WC values), lie inside ``flat``."""
    return flat.shape[0] - base - offset >= WC + count


@njit(inline="always")
def _cell0_inside(flat, base, WC):
    """Whether the cell at offset 0 of the image starting at ``flat[base]`` (rows of WC values)
    lies inside ``flat``. The plain-load steps (:func:`._simd.lerp8_loads`,
    :func:`._simd.grad8_loads`) read it in the lanes that have no cell of their own, so they are
    taken only where this holds (not in a 1-pixel-high last image)."""
    return _rows_inside(flat, base, 0, WC, 2)


#: How many pixels ahead the gather asks for the source rows (a rotated row walks across many
#: source rows). On the Zen 4 machine: W1 float64 6.6-6.8 -> 4.7-5.0 ms, float32 0.85-1.0x,
#: uint8 1.07-1.09x (so integer images did not prefetch there); on the Intel Xeon machine,
#: integer images in the time of not prefetching: uint8 RGB 0.73-0.75x, uint16 RGB
#: 0.53-0.59x, uint8 grey 0.93-0.95x (64 pixels ahead: uint8 the same, float64 1.03x slower).
#: Every dtype prefetches.
PREFETCH = 32


@njit(inline="always")
def _edge_cell(ix, iy, W, H):
    """The cell of a finite (ix, iy) in [-1, W) x [-1, H): fractions (fx, fy), top-left corner
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


@njit
def _grid_coords(px, py, theta, n, i, H, W, Ho, align_corners):
    """Unpadded source pixel coordinates of every column of output row i of sample n from its
    grid points (``grid_point``), for samples whose coefficients do not stand for θ
    (``usable_coeffs``: the CUDA kernels take the same points pixel by pixel)."""
    Wo = px.shape[0]
    for j in range(Wo):
        px[j], py[j] = grid_point(theta, n, i, j, H, W, Ho, Wo, align_corners)
