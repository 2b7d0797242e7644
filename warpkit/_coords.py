"""Coordinate helpers and per-point sampling, written once for the CPU and CUDA targets.

Coordinate convention (fixed; see ``shared/design.md``)
-------------------------------------------------------
A grid holds *normalized* coordinates, last axis (x, y) = (column, row), where -1 and +1
are the image's edges. Normalized coordinates become pixel coordinates exactly as in
PyTorch's ``grid_sample``:

* ``align_corners=False``: -1/+1 are the outer edges of the corner pixels,
  ``pixel = ((x + 1) * W - 1) / 2``;
* ``align_corners=True``: -1/+1 are the centres of the corner pixels,
  ``pixel = (x + 1) / 2 * (W - 1)``.

Pixel ``k`` covers ``[k - 0.5, k + 0.5]`` and has its centre at ``k``. The affine grid of an
output of width ``Wo`` puts output column ``j`` at ``x_t = (2 j + 1) / Wo - 1``
(``align_corners=False``) or ``x_t = 2 j / (Wo - 1) - 1`` (``align_corners=True``), and at 0
when ``Wo == 1``; θ maps (x_t, y_t, 1) to the *input* position (x_s, y_s) (inverse mapping).

Padding modes act on pixel coordinates: ``zeros``/``constant`` read ``cval`` outside the
image, ``border`` clips, ``reflection`` reflects about the edges (about the outer pixel edges
with ``align_corners=False``, about the corner pixel centres with ``align_corners=True``) and
then clips, ``wrap`` takes each corner's (or the rounded nearest) index modulo W, as
scikit-image's ``mode='wrap'`` does.

Non-finite coordinates: a NaN coordinate contributes 0 and gets gradient 0 in every padding
mode. ±inf and huge values are "outside" for zeros/constant, the edge for border, and NaN for
reflection and wrap (as is any |pixel| >= ``HUGE`` = 2**31 there). A coordinate becomes an
integer only once it is finite and in range.

How the code is shared
----------------------
:func:`build` takes a ``jit`` decorator and an ``atomic_add`` function and returns the helpers
compiled for that target: ``backends/_cpu/common.py`` passes ``numba.njit`` and a plain ``+=``,
``backends/cuda.py`` passes ``cuda.jit(device=True)`` and ``cuda.atomic.add``. Forward and
backward use the same corner and weight code, so they cannot drift apart. All coordinate
arithmetic is done in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

MODES = {"bilinear": 0, "nearest": 1}
PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2, "constant": 3, "wrap": 4}

#: Pixel coordinates at least this large count as NaN for reflection and wrap, where their
#: position would be rounding noise (PyTorch bounds indices by the same 2**31).
HUGE = 2.0**31
#: Pixel-space coefficients of an affine θ at least this large (or not finite: NaN fails every
#: comparison) do not stand for it: with float64's 2**-52, the rounding of their sums could
#: move samples by about 2**-12 pixel or more (:func:`build`'s ``usable_coeffs``).
COEFF_LIMIT = 2.0**40

BILINEAR = 0
NEAREST = 1
ZEROS = 0
BORDER = 1
REFLECTION = 2
CONSTANT = 3
WRAP = 4


class Helpers(NamedTuple):
    """The helpers compiled for one target (see :func:`build`)."""

    base_coord: Any
    unnormalize: Any
    unnormalize_scale: Any
    source_index: Any
    grid_source: Any
    affine_coeffs: Any
    usable_coeffs: Any
    grid_point: Any
    sample_point: Any
    backward_point: Any
    backward_point_band: Any


def build(jit: Callable, atomic_add: Callable) -> Helpers:
    """Compile the coordinate and per-point sampling helpers for one target.

    Parameters
    ----------
    jit : callable
        Decorator that compiles a device/inline function for the target.
    atomic_add : callable
        ``atomic_add(arr, n, y, x, c, value)`` adds ``value`` into ``arr[n, y, x, c]``
        (a plain ``+=`` on the CPU, where the caller guarantees no two threads share a cell;
        an atomic add on CUDA).

    Returns
    -------
    Helpers
        Named tuple of compiled functions.
    """

    @jit
    def is_finite(x):
        """True for a finite float (NaN and ±inf fail ``x - x == 0``)."""
        return x - x == 0.0

    @jit
    def is_meaningful(x):
        """Finite and below ``HUGE`` pixels: reflection and wrap treat anything else as NaN."""
        return x - x == 0.0 and abs(x) < HUGE

    @jit
    def base_coord(k, size, align_corners):
        """Normalized coordinate of pixel ``k`` in an axis of ``size`` pixels (affine grids)."""
        if size <= 1:
            return 0.0
        if align_corners:
            return 2.0 * k / (size - 1) - 1.0
        return (2.0 * k + 1.0) / size - 1.0

    @jit
    def unnormalize_scale(size, align_corners):
        """d pixel / d normalized coordinate."""
        if align_corners:
            return 0.5 * (size - 1)
        return 0.5 * size

    @jit
    def unnormalize(coord, size, align_corners):
        """Normalized coordinate -> pixel coordinate (float64)."""
        if align_corners:
            if size == 1:  # both edges are the centre of the only pixel: every finite
                # coordinate is 0; NaN stays NaN (contributes 0), ±inf follows the padding
                return 0.0 if math.isfinite(coord) else 1.0 * coord
            return (coord + 1.0) * (0.5 * (size - 1))
        return ((coord + 1.0) * size - 1.0) * 0.5

    @jit
    def clip_set_grad(x, size):
        """Clip ``x`` to [0, size - 1]; returns (clipped, d clipped / d x). NaN stays NaN."""
        if x != x:
            return x, 0.0
        hi = size - 1.0
        if x <= 0.0:
            return 0.0, 0.0
        if x >= hi:
            return hi, 0.0
        return x, 1.0

    @jit
    def reflect_set_grad(x, twice_low, twice_high):
        """Reflect ``x`` into [low, high] (bounds given doubled, as in PyTorch).

        Returns (reflected, d reflected / d x); non-finite or huge ``x`` gives NaN. Parity of the
        number of flips comes from ``%`` so that huge values never become integers.
        """
        if not is_meaningful(x):
            return math.nan, 0.0
        if twice_low == twice_high:
            return 0.0, 0.0
        lo = 0.5 * twice_low
        span = 0.5 * (twice_high - twice_low)
        sign = 1.0
        x = x - lo
        if x < 0.0:
            sign = -1.0
            x = -x
        extra = x % span
        if x % (2.0 * span) < span:
            return extra + lo, sign
        return span - extra + lo, -sign

    @jit
    def wrap_set_grad(x, size):
        """Wrap keeps the coordinate (indices are taken modulo ``size`` once rounded, as
        scikit-image does, so that nearest ties round before wrapping); non-finite or huge
        ``x`` gives NaN."""
        if not is_meaningful(x):
            return math.nan, 0.0
        return x, 1.0

    @jit
    def source_index(x, size, padding, align_corners):
        """Apply the padding mode to pixel coordinate ``x``: returns (x', d x' / d x)."""
        x = 1.0 * x
        if padding == BORDER:
            return clip_set_grad(x, size)
        if padding == REFLECTION:
            if align_corners:
                x, g = reflect_set_grad(x, 0.0, 2.0 * (size - 1))
            else:
                x, g = reflect_set_grad(x, -1.0, 2.0 * size - 1.0)
            x, g2 = clip_set_grad(x, size)
            return x, g * g2
        if padding == WRAP:
            return wrap_set_grad(x, size)
        return x, 1.0

    @jit
    def affine_coeffs(theta, n, Hi, Wi, Ho, Wo, align_corners):
        """Pixel-space form of θ[n]: ix = ax j + bx i + cx, iy = ay j + by i + cy.

        Grouped so that an identity θ with equal sizes gives exactly ix = j, iy = i.
        """
        t00 = 1.0 * theta[n, 0, 0]
        t01 = 1.0 * theta[n, 0, 1]
        t02 = 1.0 * theta[n, 0, 2]
        t10 = 1.0 * theta[n, 1, 0]
        t11 = 1.0 * theta[n, 1, 1]
        t12 = 1.0 * theta[n, 1, 2]
        if align_corners:
            fx = 1.0 if Wo > 1 else 0.0
            fy = 1.0 if Ho > 1 else 0.0
            ax = t00 * (Wi - 1) / (Wo - 1) if Wo > 1 else 0.0
            bx = t01 * (Wi - 1) / (Ho - 1) if Ho > 1 else 0.0
            ay = t10 * (Hi - 1) / (Wo - 1) if Wo > 1 else 0.0
            by = t11 * (Hi - 1) / (Ho - 1) if Ho > 1 else 0.0
            cx = 0.5 * (Wi - 1) * (t02 + 1.0 - t00 * fx - t01 * fy)
            cy = 0.5 * (Hi - 1) * (t12 + 1.0 - t10 * fx - t11 * fy)
        else:
            ax = t00 * Wi / Wo
            bx = t01 * Wi / Ho
            ay = t10 * Hi / Wo
            by = t11 * Hi / Ho
            cx = 0.5 * (ax + bx) + 0.5 * Wi * (t02 + 1.0 - t00 - t01) - 0.5
            cy = 0.5 * (ay + by) + 0.5 * Hi * (t12 + 1.0 - t10 - t11) - 0.5
        return ax, bx, cx, ay, by, cy

    @jit
    def usable_coeffs(ax, bx, cx, ay, by, cy):
        """Whether the six coefficients of :func:`affine_coeffs` stand for θ: finite and below
        ``COEFF_LIMIT`` in size. A θ holding ±inf or NaN, or entries so large that the
        coefficients overflow, makes them NaN for every pixel (inf - inf); entries beyond
        about 1e12 cancel in them (``cx`` folds θ's translation into its other entries) and
        move the samples by whole pixels. ``grid_sample(affine_grid(θ))`` has none of this:
        such samples take :func:`grid_point` instead."""
        return (abs(ax) < COEFF_LIMIT and abs(bx) < COEFF_LIMIT and abs(cx) < COEFF_LIMIT
                and abs(ay) < COEFF_LIMIT and abs(by) < COEFF_LIMIT and abs(cy) < COEFF_LIMIT)

    @jit
    def grid_point(theta, n, i, j, Hi, Wi, Ho, Wo, align_corners):
        """Unpadded pixel coordinates (ix, iy) of output pixel (i, j) of sample n from the grid
        point θ[n]·(x_t, y_t, 1), as ``affine_grid`` makes it (in float64), for samples whose
        coefficients do not stand for θ (:func:`usable_coeffs`)."""
        xt = base_coord(j, Wo, align_corners)
        yt = base_coord(i, Ho, align_corners)
        gx = 1.0 * theta[n, 0, 0] * xt + 1.0 * theta[n, 0, 1] * yt + 1.0 * theta[n, 0, 2]
        gy = 1.0 * theta[n, 1, 0] * xt + 1.0 * theta[n, 1, 1] * yt + 1.0 * theta[n, 1, 2]
        return unnormalize(gx, Wi, align_corners), unnormalize(gy, Hi, align_corners)

    @jit
    def floor_float(x):
        """Floor as a float, safe for huge finite values (no integer conversion)."""
        return x - x % 1.0

    @jit
    def round_half_even(x):
        """Round to nearest, ties to even (as ``std::nearbyint``), as a float; ``x`` finite."""
        r = floor_float(x)
        d = x - r
        if d > 0.5 or (d == 0.5 and r % 2.0 != 0.0):
            r += 1.0
        return r

    @jit
    def wrap_index(k, size):
        """Integer-valued float ``k`` modulo ``size`` as an int in [0, size)."""
        m = int(k % size)
        return m - size if m >= size else m

    @jit
    def read(inp, n, y, x, c, fill):
        """inp[n, y, x, c] when (y, x) is inside the image, else ``fill``."""
        if y < 0 or y >= inp.shape[1] or x < 0 or x >= inp.shape[2]:
            return fill
        return inp[n, y, x, c]

    @jit
    def weighed_fill(fill, w):
        """The fill value an outside corner of weight ``w`` reads: ``fill``, or 0 where the
        weight is exactly 0, so that a NaN or infinite ``cval`` does not reach a point that
        lies on the image's last row or column (0·NaN is NaN). Pixels inside the image are
        read whatever their weight, as PyTorch reads them."""
        return fill if w != 0.0 else 0.0

    @jit
    def locate(ix, iy, H, W, padding):
        """Classify a padded source position: 0 = NaN, 1 = fully outside, 2 = samples.
        A position on -1 exactly samples: bilinear reads pixel 0 there with weight 0, as
        PyTorch does (0·NaN is NaN), and nearest the fill."""
        if ix != ix or iy != iy:
            return 0
        if padding == WRAP:
            return 2
        if ix < -1.0 or ix >= W or iy < -1.0 or iy >= H:
            return 1
        return 2

    @jit
    def corners(ix, size, padding):
        """Integer corners and fraction of a sampling coordinate: (k0, k1, frac).

        ``ix`` is in [-1, size), or any finite value for wrap (indices taken modulo size).
        """
        if padding == WRAP:
            f = floor_float(ix)
            k0 = wrap_index(f, size)
            k1 = k0 + 1
            if k1 >= size:
                k1 = 0
            return k0, k1, ix - f
        f = math.floor(ix)  # an int on the CPU, a float under numba-cuda
        k0 = int(f)
        return k0, k0 + 1, ix - f

    @jit
    def nearest_index(ix, size, padding):
        """Nearest pixel (ties to even); may be -1 or size (outside) except for wrap."""
        r = round_half_even(ix)
        if padding == WRAP:
            return wrap_index(r, size)
        return int(r)

    @jit
    def sample_point(inp, n, ix, iy, mode, padding, cval, out, m, i, j):
        """Write out[m, i, j, :] = inp[n] sampled at padded pixel position (ix, iy)."""
        H = inp.shape[1]
        W = inp.shape[2]
        C = inp.shape[3]
        where = locate(ix, iy, H, W, padding)
        if where == 0:
            for c in range(C):
                out[m, i, j, c] = 0.0
            return
        if where == 1:
            for c in range(C):
                out[m, i, j, c] = cval[c]
            return
        if mode == NEAREST:
            x = nearest_index(ix, W, padding)
            y = nearest_index(iy, H, padding)
            for c in range(C):
                out[m, i, j, c] = read(inp, n, y, x, c, cval[c])
            return
        x0, x1, fx = corners(ix, W, padding)
        y0, y1, fy = corners(iy, H, padding)
        w00 = (1.0 - fx) * (1.0 - fy)
        w01 = fx * (1.0 - fy)
        w10 = (1.0 - fx) * fy
        w11 = fx * fy
        for c in range(C):
            fill = cval[c]
            out[m, i, j, c] = (
                read(inp, n, y0, x0, c, weighed_fill(fill, w00)) * w00
                + read(inp, n, y0, x1, c, weighed_fill(fill, w01)) * w01
                + read(inp, n, y1, x0, c, weighed_fill(fill, w10)) * w10
                + read(inp, n, y1, x1, c, weighed_fill(fill, w11)) * w11
            )

    @jit
    def scatter(gin, s, y, x, c, value, y_lo, y_hi):
        """gin[s, y, x, c] += value when x is inside the image and y_lo <= y < y_hi."""
        if y >= y_lo and y < y_hi and x >= 0 and x < gin.shape[2]:
            atomic_add(gin, s, y, x, c, value)

    @jit
    def backward_point_band(
        inp, n, ix, iy, mode, padding, cval, gout, m, i, j, gin, s, need_gin, y_lo, y_hi
    ):
        """Backward of :func:`sample_point` at one output pixel.

        Scatters gout[m, i, j, :] times the weights into gin[s] (when ``need_gin``), only into
        input rows y_lo <= y < y_hi (a band that one CPU thread owns; CUDA passes all rows),
        and returns (d loss / d ix, d loss / d iy) with respect to the *padded* position.
        """
        H = inp.shape[1]
        W = inp.shape[2]
        C = inp.shape[3]
        if locate(ix, iy, H, W, padding) == 0 or (
            padding != WRAP and (ix < -1.0 or ix >= W or iy < -1.0 or iy >= H)
        ):  # NaN, or every corner outside: x exactly -1 is not (its cell [-1, 0] holds
            # pixel 0, which the derivative reads, as PyTorch's). locate's forward test keeps
            # -1 outside: the value there is the fill either way for finite images, and the
            # CPU's cell pass gives the fill there too
            return 0.0, 0.0
        if mode == NEAREST:
            if need_gin:
                x = nearest_index(ix, W, padding)
                y = nearest_index(iy, H, padding)
                for c in range(C):
                    scatter(gin, s, y, x, c, gout[m, i, j, c], y_lo, y_hi)
            return 0.0, 0.0
        x0, x1, fx = corners(ix, W, padding)
        y0, y1, fy = corners(iy, H, padding)
        gx = 0.0
        gy = 0.0
        for c in range(C):
            g = 1.0 * gout[m, i, j, c]
            fill = cval[c]
            v00 = read(inp, n, y0, x0, c, fill)
            v01 = read(inp, n, y0, x1, c, fill)
            v10 = read(inp, n, y1, x0, c, fill)
            v11 = read(inp, n, y1, x1, c, fill)
            gx += g * ((v01 - v00) * (1.0 - fy) + (v11 - v10) * fy)
            gy += g * ((v10 - v00) * (1.0 - fx) + (v11 - v01) * fx)
            if need_gin:
                scatter(gin, s, y0, x0, c, g * (1.0 - fx) * (1.0 - fy), y_lo, y_hi)
                scatter(gin, s, y0, x1, c, g * fx * (1.0 - fy), y_lo, y_hi)
                scatter(gin, s, y1, x0, c, g * (1.0 - fx) * fy, y_lo, y_hi)
                scatter(gin, s, y1, x1, c, g * fx * fy, y_lo, y_hi)
        return gx, gy

    @jit
    def backward_point(inp, n, ix, iy, mode, padding, cval, gout, m, i, j, gin, s, need_gin):
        """:func:`backward_point_band` scattering into every input row."""
        return backward_point_band(
            inp, n, ix, iy, mode, padding, cval, gout, m, i, j, gin, s, need_gin,
            0, inp.shape[1],
        )

    @jit
    def grid_source(coord, size, padding, align_corners):
        """Normalized coordinate -> (padded pixel coordinate, d pixel / d normalized)."""
        x, g = source_index(unnormalize(coord, size, align_corners), size, padding, align_corners)
        return x, g * unnormalize_scale(size, align_corners)

    return Helpers(
        base_coord=base_coord,
        unnormalize=unnormalize,
        unnormalize_scale=unnormalize_scale,
        source_index=source_index,
        grid_source=grid_source,
        affine_coeffs=affine_coeffs,
        usable_coeffs=usable_coeffs,
        grid_point=grid_point,
        sample_point=sample_point,
        backward_point=backward_point,
        backward_point_band=backward_point_band,
    )
