"""Slow, obvious, loop-based numpy reference of warpkit's core ops (forward and backward).

Written from the definitions (PyTorch's ``GridSampler.h`` semantics and ``shared/design.md``),
independently of ``warpkit/_coords.py``: every fast path is compared against this module.

Conventions (the same as warpkit's)
-----------------------------------
* Layout channels-last: input (N, H, W, C), grid (N, Ho, Wo, 2) with last axis (x, y) =
  (column, row), θ (N, 2, 3) mapping normalized *output* coords to normalized *input* coords.
* ``align_corners=False``: ``pixel = ((x + 1) * W - 1) / 2``;
  ``align_corners=True``: ``pixel = (x + 1) / 2 * (W - 1)``.
* Padding: zeros / constant (out-of-bounds corners read 0 / ``cval[c]``; one of weight exactly
  0 is not read, so that a NaN or infinite ``cval`` does not reach a point on the image's last
  row or column, as in scikit-image), border (clip the
  pixel coordinate to [0, W-1]), reflection (reflect about the outer pixel edges
  [-0.5, W-0.5] with ``align_corners=False`` or the corner centres [0, W-1] with
  ``align_corners=True``, then clip), wrap (each corner index taken modulo W, as
  scikit-image's ``mode="wrap"``).
* Bilinear reads the 4 corners ``floor`` / ``floor + 1``; nearest rounds half to even
  (``std::nearbyint``; Python's ``round`` does the same).
* A NaN coordinate contributes 0 and gets gradient 0. ±inf and huge (``|pixel| >= HUGE``)
  coordinates are outside for zeros/constant, the edge for border, NaN for reflection/wrap.

Everything is computed with Python floats (float64) whatever the input dtype; results are
float64 arrays.
"""

from __future__ import annotations

import contextlib
import math

import numba
import numpy as np

PADDINGS = ("zeros", "border", "reflection", "constant", "wrap")
MODES = ("bilinear", "nearest")
HUGE = 2.0**31  # |pixel coordinate| from which reflection/wrap count a value as NaN
_FAR = -16.0  # a pixel coordinate whose 4 corners are all outside any image


# --------------------------------------------------------------------------- coordinates
def unnormalize(coord: float, size: int, align_corners: bool) -> tuple[float, float]:
    """Pixel coordinate of a normalized one, and d pixel / d coord."""
    if align_corners:
        return (coord + 1.0) / 2.0 * (size - 1), (size - 1) / 2.0
    return ((coord + 1.0) * size - 1.0) / 2.0, size / 2.0


def clip(pix: float, size: int) -> tuple[float, float]:
    """Clip to [0, size-1]; derivative 0 on (and beyond) either bound, as PyTorch."""
    if pix <= 0.0:
        return 0.0, 0.0
    if pix >= size - 1:
        return float(size - 1), 0.0
    return pix, 1.0


def reflect(pix: float, twice_low: float, twice_high: float) -> tuple[float, float]:
    """Reflect ``pix`` into [twice_low/2, twice_high/2]; returns (value, derivative)."""
    if twice_low == twice_high:
        return 0.0, 0.0
    low = twice_low / 2.0
    span = (twice_high - twice_low) / 2.0
    d = pix - low
    sign = 1.0
    if d < 0:
        sign, d = -1.0, -d
    extra = math.fmod(d, span)
    flips = math.floor(d / span)
    if flips % 2 == 0:
        return extra + low, sign
    return span - extra + low, -sign


def source_index(
    coord: float, size: int, padding: str, align_corners: bool
) -> tuple[float | None, float]:
    """Pixel coordinate after the padding transform, and its derivative d pixel / d coord.

    Returns ``(None, 0.0)`` when the coordinate counts as NaN (contributes 0, gradient 0).
    For zeros/constant a coordinate far outside is replaced by a sentinel whose corners are
    all outside (its gradient is 0 there anyway).
    """
    coord = float(coord)
    if math.isnan(coord):
        return None, 0.0
    if math.isinf(coord):
        if padding == "border":
            return (float(size - 1) if coord > 0 else 0.0), 0.0
        if padding in ("zeros", "constant"):
            return _FAR, 0.0
        return None, 0.0
    pix, d = unnormalize(coord, size, align_corners)
    if math.isnan(pix):
        return None, 0.0
    if padding in ("zeros", "constant"):
        if pix < -2.0 or pix > size + 1.0:
            return _FAR, 0.0
        return pix, d
    if padding == "border":
        p, dc = clip(pix, size)
        return p, d * dc
    if abs(pix) >= HUGE:
        return None, 0.0
    if padding == "reflection":
        if align_corners:
            p, dr = reflect(pix, 0.0, 2.0 * (size - 1))
        else:
            p, dr = reflect(pix, -1.0, 2.0 * size - 1.0)
        p, dc = clip(p, size)
        return p, d * dr * dc
    if padding == "wrap":
        return pix, d
    raise ValueError(f"unknown padding {padding!r}")


def _read(img: np.ndarray, n: int, r: int, c: int, padding: str, cval: np.ndarray):
    """Value (vector of C) at integer (row r, col c), and the in-bounds cell it came from."""
    H, W = img.shape[1:3]
    if padding == "wrap":
        r, c = r % H, c % W
    if 0 <= r < H and 0 <= c < W:
        return img[n, r, c].astype(np.float64), (r, c)
    if padding == "constant":
        return cval.copy(), None
    return np.zeros(img.shape[3]), None


def _cvals(padding: str, cval, C: int) -> np.ndarray:
    if padding != "constant":
        return np.zeros(C)
    return np.broadcast_to(np.asarray(cval, dtype=np.float64), (C,)).copy()


def _point(img, n, gx, gy, mode, padding, align_corners, cval):
    """Sample one point: (value (C,), dvalue/dgx (C,), dvalue/dgy (C,), [(cell, weight)])."""
    H, W, C = img.shape[1:]
    zero = np.zeros(C)
    ix, mx = source_index(gx, W, padding, align_corners)
    iy, my = source_index(gy, H, padding, align_corners)
    if ix is None or iy is None:
        return zero, zero, zero, []
    if mode == "nearest":
        v, cell = _read(img, n, round(iy), round(ix), padding, cval)
        return v, zero, zero, ([(cell, 1.0)] if cell is not None else [])
    x0, y0 = math.floor(ix), math.floor(iy)
    x1, y1 = x0 + 1, y0 + 1
    fx, fy = ix - x0, iy - y0
    vnw, cnw = _read(img, n, y0, x0, padding, cval)
    vne, cne = _read(img, n, y0, x1, padding, cval)
    vsw, csw = _read(img, n, y1, x0, padding, cval)
    vse, cse = _read(img, n, y1, x1, padding, cval)
    wnw, wne, wsw, wse = (1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy
    terms = [np.zeros(C) if cell is None and w == 0 else w * v  # an outside corner of weight 0
             for v, cell, w in ((vnw, cnw, wnw), (vne, cne, wne), (vsw, csw, wsw),
                                (vse, cse, wse))]
    val = terms[0] + terms[1] + terms[2] + terms[3]
    dix = (1 - fy) * (vne - vnw) + fy * (vse - vsw)
    diy = (1 - fx) * (vsw - vnw) + fx * (vse - vne)
    cells = [(c, w) for c, w in ((cnw, wnw), (cne, wne), (csw, wsw), (cse, wse)) if c is not None]
    return val, dix * mx, diy * my, cells


# --------------------------------------------------------------------------- grid_sample
def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False, cval=0.0):
    """Reference ``grid_sample``: (N, H, W, C), (N, Ho, Wo, 2) -> (N, Ho, Wo, C) float64."""
    N, H, W, C = input.shape
    _, Ho, Wo, _ = grid.shape
    cv = _cvals(padding_mode, cval, C)
    out = np.zeros((N, Ho, Wo, C))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                gx, gy = grid[n, i, j]
                out[n, i, j] = _point(input, n, gx, gy, mode, padding_mode, align_corners, cv)[0]
    return out


def grid_sample_backward(
    grad_output, input, grid, mode="bilinear", padding_mode="zeros", align_corners=False, cval=0.0
):
    """Reference gradients of ``grid_sample``: returns (grad_input, grad_grid), float64."""
    N, H, W, C = input.shape
    _, Ho, Wo, _ = grid.shape
    cv = _cvals(padding_mode, cval, C)
    gin = np.zeros((N, H, W, C))
    ggrid = np.zeros((N, Ho, Wo, 2))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                gx, gy = grid[n, i, j]
                go = grad_output[n, i, j].astype(np.float64)
                _, dx, dy, cells = _point(input, n, gx, gy, mode, padding_mode, align_corners, cv)
                ggrid[n, i, j] = (np.dot(go, dx), np.dot(go, dy))
                for (r, c), w in cells:
                    gin[n, r, c] += w * go
    return gin, ggrid


# --------------------------------------------------------------------------- affine_grid
def base_coords(size: int, align_corners: bool) -> np.ndarray:
    """Normalized centres of ``size`` output pixels along one axis (0 when size == 1)."""
    if size == 1:
        return np.zeros(1)
    k = np.arange(size, dtype=np.float64)
    if align_corners:
        return 2.0 * k / (size - 1) - 1.0
    return (2.0 * k + 1.0) / size - 1.0


def affine_grid(theta, size, align_corners=False):
    """Reference ``affine_grid``: θ (N, 2, 3), size (N, H, W[, C]) -> grid (N, H, W, 2)."""
    N, H, W = size[:3]
    xs, ys = base_coords(W, align_corners), base_coords(H, align_corners)
    th = np.asarray(theta, dtype=np.float64)
    grid = np.zeros((N, H, W, 2))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for k in range(2):
                    grid[n, i, j, k] = th[n, k, 0] * xs[j] + th[n, k, 1] * ys[i] + th[n, k, 2]
    return grid


def affine_grid_backward(grad_grid, align_corners=False):
    """Reference gradient of ``affine_grid`` with respect to θ: (N, H, W, 2) -> (N, 2, 3)."""
    N, H, W, _ = grad_grid.shape
    xs, ys = base_coords(W, align_corners), base_coords(H, align_corners)
    gt = np.zeros((N, 2, 3))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for k in range(2):
                    g = float(grad_grid[n, i, j, k])
                    gt[n, k, 0] += g * xs[j]
                    gt[n, k, 1] += g * ys[i]
                    gt[n, k, 2] += g
    return gt


# --------------------------------------------------------------------------- affine_sample
def affine_sample(
    input, theta, out_size=None, mode="bilinear", padding_mode="zeros", align_corners=False,
    cval=0.0,
):
    """Reference ``affine_sample`` = ``grid_sample(input, affine_grid(theta))``."""
    N, H, W, C = input.shape
    Ho, Wo = (H, W) if out_size is None else out_size
    grid = affine_grid(theta, (N, Ho, Wo), align_corners)
    return grid_sample(input, grid, mode, padding_mode, align_corners, cval)


def affine_sample_backward(
    grad_output, input, theta, out_size=None, mode="bilinear", padding_mode="zeros",
    align_corners=False, cval=0.0,
):
    """Reference gradients of ``affine_sample``: returns (grad_input, grad_theta)."""
    N, H, W, C = input.shape
    Ho, Wo = (H, W) if out_size is None else out_size
    grid = affine_grid(theta, (N, Ho, Wo), align_corners)
    gin, ggrid = grid_sample_backward(
        grad_output, input, grid, mode, padding_mode, align_corners, cval
    )
    return gin, affine_grid_backward(ggrid, align_corners)


# --------------------------------------------------------------------------- test data
def normalize(pix, size: int, align_corners: bool):
    """Inverse of :func:`unnormalize` (for size == 1 with align_corners any value maps to 0)."""
    pix = np.asarray(pix, dtype=np.float64)
    if align_corners:
        return 2.0 * pix / max(size - 1, 1) - 1.0
    return (2.0 * pix + 1.0) / size - 1.0


def off_knot_pixels(rng: np.random.Generator, shape, size: int, margin=0.1, reach=None):
    """Pixel coordinates k + f away from every corner, clip, reflection and rounding knot.

    k is drawn in [-reach, size - 1 + reach] (default reach = size + 2, which reflects
    several times) and f in [margin, 1/2 - margin] or [1/2 + margin, 1 - margin]: the knots
    are all integers or half-integers.
    """
    reach = size + 2 if reach is None else reach
    k = rng.integers(-reach, size + reach, size=shape)
    f = rng.uniform(margin, 0.5 - margin, size=shape)
    f = np.where(rng.random(shape) < 0.5, f, f + 0.5)
    return k + f


def off_knot_grid(rng, n, ho, wo, h, w, align_corners, margin=0.1, reach=None):
    """A (n, ho, wo, 2) float64 grid whose pixel coordinates in an (h, w) image are off knots."""
    px = off_knot_pixels(rng, (n, ho, wo), w, margin, reach)
    py = off_knot_pixels(rng, (n, ho, wo), h, margin, reach)
    return np.stack([normalize(px, w, align_corners), normalize(py, h, align_corners)], axis=-1)


def tolerances(dtype) -> dict:
    """``rtol``/``atol`` for comparing an op of ``dtype`` against the float64 reference."""
    if np.dtype(dtype) == np.float32:
        return {"rtol": 1e-5, "atol": 1e-5}
    return {"rtol": 1e-10, "atol": 1e-10}


@contextlib.contextmanager
def numba_threads(n: int):
    """Run numba's parallel kernels on ``n`` threads inside the block.

    Test modules that make hundreds of tiny kernel calls use one thread: on a loaded 2-core
    machine waking the thread pool costs milliseconds per call. That the kernels give
    bit-identical results for any thread count is tested in ``test_determinism.py``.
    """
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)
