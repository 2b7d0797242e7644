"""θ builders and conversions between θ and pixel-space matrices (scikit-image, OpenCV).

θ, shape (2, 3) or (N, 2, 3), maps normalized *output* coordinates (x_t, y_t) to normalized
*input* coordinates (x_s, y_s), as in PyTorch's ``affine_grid`` (see :mod:`warpkit._coords`).
People think in pixels, so this module builds θ from pixel-space maps and converts back.

Pixel coordinates
-----------------
Pixel centres are at integers and a point is (x, y) = (column, row), as in scikit-image and
OpenCV. Every builder and conversion takes an ``input_shape`` (H, W) and an optional
``output_shape`` (Ho, Wo) (default: the input's), and ``align_corners`` (the flag the θ will
be used with in :func:`warpkit.warp` / :func:`warpkit.affine_sample`).

Derivation (written once)
-------------------------
Along an axis of ``n`` pixels, normalized ``u`` and pixel ``p`` are related by

* ``align_corners=False``: ``p = ((u + 1) n - 1) / 2 = s u + o`` with ``s = n / 2``;
* ``align_corners=True``:  ``p = (u + 1) (n - 1) / 2 = s u + o`` with ``s = (n - 1) / 2``;

and in both cases ``o = (n - 1) / 2`` (the image centre). In 3x3 homogeneous form,
``P = S u`` with ``S = [[s_x, 0, o_x], [0, s_y, o_y], [0, 0, 1]]``, built from the *input*
shape for the input side (``S_in``) and from the *output* shape for the output side
(``S_out``). A pixel-space inverse map ``M`` (output pixel -> input pixel, what
``skimage.transform.warp`` takes) and θ (as a 3x3 with last row (0, 0, 1)) are then related by

    M = S_in · θ · S_out⁻¹,        θ = S_in⁻¹ · M · S_out,

which, entry by entry (i over rows x/y of the input side, j over columns x/y of the output
side), is ``θ_ij = M_ij s_out_j / s_in_i`` and
``θ_i2 = (M_i0 o_out_x + M_i1 o_out_y + M_i2 - o_in_i) / s_in_i``. The code uses these
entry-wise forms, so maps whose entries are exact (a 90° rotation, an integer shift) give an
exact θ. Because ``s_x`` and ``s_y`` differ for non-square images, a rotation written in
normalized coordinates would be distorted; building it in pixels and converting keeps pixels
square. With ``align_corners=True`` an axis of one pixel has ``s = 0``; it is given ``s = 1``
so that conversions stay invertible (the sampler reads its only pixel whatever θ says).

OpenCV's ``cv2.warpAffine(src, M, dsize)`` takes the *forward* map (input pixel -> output
pixel), so ``from_opencv(M) = from_matrix(M⁻¹)``.

Builders
--------
:func:`rotate`, :func:`scale`, :func:`shear` and :func:`translate` describe the forward
motion of the picture in pixels. When ``output_shape`` differs from the input shape, the
output canvas is centred over the input canvas (output pixel ``p`` sits over input pixel
``p - ((Wo - W) / 2, (Ho - H) / 2)`` before the motion), so a rotation about the image centre
lands in the middle of any output size; rotating an (H, W) image by 90° into (W, H) is exactly
``np.rot90``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._validate import finite, not_masked, real, real_number

__all__ = [
    "identity",
    "rotate",
    "scale",
    "shear",
    "translate",
    "compose",
    "invert",
    "from_matrix",
    "to_matrix",
    "from_opencv",
    "to_opencv",
]

Shape = Any  # (H, W) or (H, W, C): only the first two entries are used


# --------------------------------------------------------------------------- helpers
def _hw(shape: Any, name: str) -> tuple[int, int]:
    """(H, W) from an image shape (H, W) or (H, W, C)."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple (H, W) or (H, W, C), got {shape!r}") from None
    if len(dims) not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got {shape!r}")
    h, w = dims[0], dims[1]
    for v in (h, w):  # below 2**53: exact in the float64 arithmetic of the maps
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v < 2**53:
            raise ValueError(f"{name} must hold positive integers (H, W) below 2**53, got "
                             f"{shape!r}")
    return int(h), int(w)


def _shapes(input_shape: Any, output_shape: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    hw_in = _hw(input_shape, "input_shape")
    hw_out = hw_in if output_shape is None else _hw(output_shape, "output_shape")
    return hw_in, hw_out


def _frame(hw: tuple[int, int], align_corners: bool) -> tuple[float, float, float, float]:
    """(s_x, s_y, o_x, o_y) of ``pixel = s · normalized + o`` for an (H, W) image."""
    if not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"align_corners must be True or False, got {align_corners!r}")
    h, w = hw
    if align_corners:
        sx = 0.5 * (w - 1) if w > 1 else 1.0
        sy = 0.5 * (h - 1) if h > 1 else 1.0
    else:
        sx, sy = 0.5 * w, 0.5 * h
    return sx, sy, 0.5 * (w - 1), 0.5 * (h - 1)


def _as_matrix(m: Any, name: str) -> np.ndarray:
    """A float64 stack (..., 3, 3) from a 2x3/3x3 array (or stack) or a skimage transform.

    A projective matrix must be affine (last row proportional to (0, 0, 1)).
    """
    if not isinstance(m, np.ndarray) and (
            hasattr(m, "params") or type(m).__module__.startswith("skimage.")):
        m = _skimage_params(m, name)
    a = _real(m, name, "a 2x3 or 3x3 matrix or a scikit-image transform")
    if a.ndim < 2 or a.shape[-1] != 3 or a.shape[-2] not in (2, 3):
        raise ValueError(
            f"{name} must have shape (2, 3) or (3, 3) (or a stack (N, 2|3, 3)), "
            f"got shape {a.shape}"
        )
    # a NaN or inf entry would reach every entry of the result, or (an infinite one, through
    # an inverse) give finite entries that look plausible and are not
    finite(a, name)
    if a.shape[-2] == 2:
        last = np.broadcast_to(np.array([0.0, 0.0, 1.0]), a.shape[:-2] + (1, 3))
        return np.concatenate([a, last], axis=-2)
    w = a[..., 2, 2]
    if np.any(w == 0):
        raise ValueError(f"{name} has last row {a[..., 2, :].tolist()}; it is not affine")
    with np.errstate(over="ignore"):  # overflow is refused here
        a = _finite_result(a / w[..., None, None], name)
    # each matrix's own tolerance, against both entries of its own last row
    tol = 1e-12 * np.maximum(1.0, np.abs(a[..., :2, :2]).max(axis=(-2, -1)))
    if np.any(np.abs(a[..., 2, :2]) > tol[..., None]):
        raise ValueError(
            f"{name} has a perspective part (last row {a[..., 2, :].tolist()}); "
            "warpkit warps affine maps only"
        )
    a[..., 2, :] = (0.0, 0.0, 1.0)
    return a


def _skimage_params(tform: Any, name: str) -> np.ndarray:
    """The matrix of a scikit-image transform of the projective family (``AffineTransform``,
    ``EuclideanTransform``, ``SimilarityTransform``, ``ProjectiveTransform``); other objects
    with a ``params`` attribute (a ``PolynomialTransform``'s are coefficients, a
    ``FundamentalMatrixTransform``'s no map of points) are refused."""
    from skimage.transform import ProjectiveTransform

    if not isinstance(tform, ProjectiveTransform):
        raise TypeError(
            f"{name} must be a 2x3 or 3x3 matrix or a scikit-image AffineTransform, "
            f"EuclideanTransform, SimilarityTransform or ProjectiveTransform, got "
            f"{type(tform).__name__}"
        )
    return tform.params


def _real(x: Any, name: str, expected: str) -> np.ndarray:
    """``x`` as a float64 array, refusing what holds no real numbers (``_validate.real``:
    complex values would lose their imaginary part, strings would be parsed; a masked array's
    mask would be ignored)."""
    not_masked(x, name)
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {expected}, got {type(x).__name__}") from None
    return real(a, name).astype(np.float64)


def _as_theta(theta: Any) -> np.ndarray:
    """θ as a float64 (..., 2, 3) array."""
    t = _real(theta, "theta", "an array of shape (2, 3) or (N, 2, 3)")
    if t.ndim not in (2, 3) or t.shape[-2:] != (2, 3):
        raise ValueError(f"theta must have shape (2, 3) or (N, 2, 3), got shape {t.shape}")
    return finite(t, "theta")


def _finite_result(a: np.ndarray, what: str) -> np.ndarray:
    """``a``, computed from finite values, or a ValueError if it overflowed."""
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} overflows: its entries are too large (or too small) for "
                         f"float64")
    return a


def _homogeneous(theta: np.ndarray) -> np.ndarray:
    last = np.broadcast_to(np.array([0.0, 0.0, 1.0]), theta.shape[:-2] + (1, 3))
    return np.concatenate([theta, last], axis=-2)


def _exact_cos_sin(angle_deg: float) -> tuple[float, float]:
    """cos and sin of an angle in degrees, exact for multiples of 90°."""
    if float(angle_deg) % 90.0 == 0.0:
        k = int(round(float(angle_deg) / 90.0)) % 4
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[k]
    r = math.radians(angle_deg)
    return math.cos(r), math.sin(r)


def _zoom(value: Any, name: str) -> float:
    """A zoom factor as a float: finite, non-zero and not so small (below about 5.6e-309)
    that its reciprocal, which the inverse map divides by, overflows."""
    v = real_number(value, name)
    if v == 0.0 or not math.isfinite(1.0 / v):
        raise ValueError(f"{name} must be non-zero, and not so small that 1/{name} overflows, "
                         f"got {value!r}")
    return v


def _center(center: Any, hw: tuple[int, int]) -> tuple[float, float]:
    if center is None:
        return 0.5 * (hw[1] - 1), 0.5 * (hw[0] - 1)
    try:
        cx, cy = center
    except (TypeError, ValueError):
        raise ValueError(f"center must be a pair (x, y) in input pixels, got {center!r}") from None
    return real_number(cx, "center x"), real_number(cy, "center y")


def _from_motion(
    inv_linear: tuple[tuple[float, float], tuple[float, float]],
    shift: tuple[float, float],
    shape: Any,
    center: Any,
    output_shape: Any,
    align_corners: bool,
) -> np.ndarray:
    """θ of the forward motion ``p_out = A (p_in - c) + c + shift + d`` given ``A⁻¹``.

    ``d`` centres the output canvas over the input canvas; the inverse map is
    ``p_in = A⁻¹ (p_out - c - shift - d) + c``.
    """
    hw_in, hw_out = _shapes(shape, output_shape)
    cx, cy = _center(center, hw_in)
    dx = 0.5 * (hw_out[1] - hw_in[1])
    dy = 0.5 * (hw_out[0] - hw_in[0])
    (a, b), (c, d) = inv_linear
    qx, qy = cx + shift[0] + dx, cy + shift[1] + dy
    m = np.array(
        [[a, b, cx - (a * qx + b * qy)], [c, d, cy - (c * qx + d * qy)], [0.0, 0.0, 1.0]]
    )
    if not np.all(np.isfinite(m)):
        raise ValueError("the map overflows float64: a zoom factor too close to 0, or a shift "
                         "or centre too large")
    return from_matrix(m, hw_in, hw_out, align_corners=align_corners)


# --------------------------------------------------------------------------- conversions
def from_matrix(
    M: Any, input_shape: Shape, output_shape: Shape | None = None, *, align_corners: bool = False
) -> np.ndarray:
    """θ from a pixel-space inverse map (output pixel (x, y) -> input pixel (x, y)).

    Parameters
    ----------
    M : array (2, 3) or (3, 3), a stack (N, 2|3, 3), or a scikit-image transform
        What ``skimage.transform.warp`` takes as ``inverse_map`` (its ``.params`` is used for an
        ``AffineTransform``/``ProjectiveTransform``, which must be affine).
    input_shape : (H, W) or (H, W, C)
    output_shape : (Ho, Wo), optional
        Defaults to the input's (H, W).
    align_corners : bool
        The flag θ will be sampled with.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3) or (N, 2, 3)
        Normalized output -> input map.
    """
    m = _as_matrix(M, "M")
    hw_in, hw_out = _shapes(input_shape, output_shape)
    sxi, syi, oxi, oyi = _frame(hw_in, align_corners)
    sxo, syo, oxo, oyo = _frame(hw_out, align_corners)
    t = np.empty(m.shape[:-2] + (2, 3))
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below
        for r, (s_in, o_in) in enumerate(((sxi, oxi), (syi, oyi))):
            t[..., r, 0] = m[..., r, 0] * sxo / s_in
            t[..., r, 1] = m[..., r, 1] * syo / s_in
            t[..., r, 2] = (m[..., r, 0] * oxo + m[..., r, 1] * oyo + m[..., r, 2] - o_in) / s_in
    return _finite_result(t, "theta of M")


def to_matrix(
    theta: Any,
    input_shape: Shape,
    output_shape: Shape | None = None,
    *,
    align_corners: bool = False,
) -> np.ndarray:
    """The pixel-space inverse map (3x3) of θ; the reverse of :func:`from_matrix`.

    Parameters
    ----------
    theta : array, shape (2, 3) or (N, 2, 3)
    input_shape, output_shape, align_corners
        As in :func:`from_matrix`.

    Returns
    -------
    M : ndarray, float64, shape (3, 3) or (N, 3, 3)
        Output pixel (x, y, 1) -> input pixel (x, y, 1); usable as
        ``skimage.transform.AffineTransform(matrix=M)``.
    """
    t = _as_theta(theta)
    hw_in, hw_out = _shapes(input_shape, output_shape)
    sxi, syi, oxi, oyi = _frame(hw_in, align_corners)
    sxo, syo, oxo, oyo = _frame(hw_out, align_corners)
    m = np.zeros(t.shape[:-2] + (3, 3))
    m[..., 2, 2] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below
        for r, (s_in, o_in) in enumerate(((sxi, oxi), (syi, oyi))):
            m[..., r, 0] = t[..., r, 0] * s_in / sxo
            m[..., r, 1] = t[..., r, 1] * s_in / syo
            m[..., r, 2] = s_in * t[..., r, 2] + o_in - m[..., r, 0] * oxo - m[..., r, 1] * oyo
    return _finite_result(m, "the matrix of theta")


def from_opencv(
    M: Any, input_shape: Shape, output_shape: Shape | None = None, *, align_corners: bool = False
) -> np.ndarray:
    """θ from OpenCV's forward matrix, as given to ``cv2.warpAffine`` without WARP_INVERSE_MAP.

    Parameters
    ----------
    M : array (2, 3) or (3, 3), a stack, or a scikit-image transform
        Input pixel (x, y) -> output pixel (x, y).
    input_shape, output_shape, align_corners
        As in :func:`from_matrix`; ``cv2.warpAffine``'s ``dsize=(Wo, Ho)`` is
        ``output_shape=(Ho, Wo)``.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3) or (N, 2, 3)
    """
    m = _as_matrix(M, "M")
    try:
        inv = np.linalg.inv(m)
    except np.linalg.LinAlgError:
        raise ValueError("M is singular: an affine map that collapses the image has no inverse") \
            from None
    return from_matrix(_finite_result(inv, "the inverse of M"), input_shape, output_shape,
                       align_corners=align_corners)


def to_opencv(
    theta: Any,
    input_shape: Shape,
    output_shape: Shape | None = None,
    *,
    align_corners: bool = False,
) -> np.ndarray:
    """OpenCV's 2x3 forward matrix of θ; the reverse of :func:`from_opencv`.

    Parameters
    ----------
    theta : array, shape (2, 3) or (N, 2, 3)
    input_shape, output_shape, align_corners
        As in :func:`from_matrix`.

    Returns
    -------
    M : ndarray, float64, shape (2, 3) or (N, 2, 3)
        Input pixel -> output pixel, for ``cv2.warpAffine(src, M, (Wo, Ho))``.
    """
    m = to_matrix(theta, input_shape, output_shape, align_corners=align_corners)
    try:
        inv = np.linalg.inv(m)[..., :2, :]
    except np.linalg.LinAlgError:
        raise ValueError("theta is singular: it has no forward (OpenCV) map") from None
    return _finite_result(inv, "the forward (OpenCV) map of theta")


# --------------------------------------------------------------------------- algebra
def compose(a: Any, b: Any) -> np.ndarray:
    """θ of ``a ∘ b``: apply b's map, then a's (the 3x3 product ``a @ b``).

    Since θ maps output to input, ``warp(warp(img, a), b)`` equals (up to resampling)
    ``warp(img, compose(a, b))``: warping by ``a`` first, then by ``b``. Shapes must chain:
    ``b``'s input shape is ``a``'s output shape. Stacks (N, 2, 3) broadcast.

    Parameters
    ----------
    a, b : array, shape (2, 3) or (N, 2, 3)
        Finite; two stacks have one length, or one of them a single θ.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3) or (N, 2, 3)
    """
    ta, tb = _as_theta(a), _as_theta(b)
    if ta.ndim == tb.ndim == 3 and len(ta) != len(tb) and 1 not in (len(ta), len(tb)):
        raise ValueError(f"compose takes stacks of the same length (or of one), got shapes "
                         f"{ta.shape} and {tb.shape}")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused below
        prod = _homogeneous(ta) @ _homogeneous(tb)
    return _finite_result(prod[..., :2, :], "compose(a, b)")


def invert(theta: Any) -> np.ndarray:
    """The θ of the inverse map (input and output swap roles).

    Parameters
    ----------
    theta : array, shape (2, 3) or (N, 2, 3)

    Returns
    -------
    theta : ndarray, float64, of ``theta``'s shape

    Raises
    ------
    ValueError
        If θ is singular.
    """
    t = _homogeneous(_as_theta(theta))
    try:
        inv = np.linalg.inv(t)[..., :2, :]
    except np.linalg.LinAlgError:
        raise ValueError("theta is singular and has no inverse") from None
    return _finite_result(inv, "the inverse of theta")


# --------------------------------------------------------------------------- builders
def identity(n: int | None = None) -> np.ndarray:
    """The identity θ, shape (2, 3), or a stack (n, 2, 3).

    With an output shape different from the input's, the identity θ *resizes* the image
    (normalized coordinates span the whole image); use :func:`translate` with zero shift for
    a crop/pad that keeps the pixel size.

    Parameters
    ----------
    n : int, optional
        The stack's length; None for a single θ.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3) or (n, 2, 3)
    """
    t = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if n is None:
        return t
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer or None, got {n!r}")
    try:
        return np.repeat(t[None], int(n), axis=0)
    except (OverflowError, ValueError):  # past what numpy can index
        raise ValueError(f"n must be a number of θ that fits in memory, got {n!r}") from None


def rotate(
    angle_deg: float,
    shape: Shape,
    *,
    center: Any = None,
    scale: float = 1.0,
    output_shape: Shape | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """θ that rotates the picture by ``angle_deg`` about ``center`` (and scales it).

    Positive angles turn counter-clockwise as displayed (row 0 at the top), as in
    ``cv2.getRotationMatrix2D`` and ``skimage.transform.rotate``.

    Parameters
    ----------
    angle_deg : float
        Degrees; multiples of 90 are exact.
    shape : (H, W) or (H, W, C)
        The input image's shape.
    center : (x, y), optional
        Centre of rotation in input pixels (column, row); default the image centre
        ((W - 1) / 2, (H - 1) / 2).
    scale : float
        Zoom factor (> 1 enlarges the picture).
    output_shape : (Ho, Wo), optional
        Output canvas, centred over the input canvas (see the module docstring).
    align_corners : bool
        The flag θ will be sampled with.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3)
    """
    s = _zoom(scale, "scale")
    cos, sin = _exact_cos_sin(real_number(angle_deg, "angle_deg"))
    # forward A = s [[cos, sin], [-sin, cos]] (y points down); A⁻¹ = [[cos, -sin], [sin, cos]] / s
    inv = ((cos / s, -sin / s), (sin / s, cos / s))
    return _from_motion(inv, (0.0, 0.0), shape, center, output_shape, align_corners)


def scale(
    factor: Any,
    shape: Shape,
    *,
    center: Any = None,
    output_shape: Shape | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """θ that zooms the picture by ``factor`` (a number or (sx, sy)) about ``center``.

    Parameters
    ----------
    factor : float or (float, float)
        Zoom along x (columns) and y (rows); > 1 enlarges, negative mirrors.
    shape, center, output_shape, align_corners
        As in :func:`rotate`.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3)
    """
    try:
        scalar = np.ndim(factor) == 0
    except ValueError:  # ragged nesting
        scalar = False
    if scalar:
        sx = sy = _zoom(factor, "factor")
    else:
        try:
            fx, fy = factor
        except (TypeError, ValueError):
            raise ValueError(f"factor must be a number or a pair (sx, sy), got {factor!r}") \
                from None
        sx, sy = _zoom(fx, "factor x"), _zoom(fy, "factor y")
    inv = ((1.0 / sx, 0.0), (0.0, 1.0 / sy))
    return _from_motion(inv, (0.0, 0.0), shape, center, output_shape, align_corners)


def shear(
    angle_deg: float,
    shape: Shape,
    *,
    axis: str = "x",
    center: Any = None,
    output_shape: Shape | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """θ that shears the picture by ``angle_deg`` about ``center``.

    ``axis="x"``: rows slide horizontally, ``x' = x + tan(a) (y - c_y)``, so vertical lines
    turn counter-clockwise by ``a`` as displayed. ``axis="y"``: columns slide vertically,
    ``y' = y - tan(a) (x - c_x)``, so horizontal lines turn counter-clockwise by ``a``.

    Parameters
    ----------
    angle_deg : float
        In (-90, 90).
    axis : {"x", "y"}
    shape, center, output_shape, align_corners
        As in :func:`rotate`.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3)
    """
    a = real_number(angle_deg, "angle_deg")
    if not -90.0 < a < 90.0:
        raise ValueError(f"shear angle must be in (-90, 90) degrees, got {angle_deg!r}")
    t = math.tan(math.radians(a))
    if axis == "x":
        inv = ((1.0, -t), (0.0, 1.0))
    elif axis == "y":
        inv = ((1.0, 0.0), (t, 1.0))
    else:
        raise ValueError(f"axis must be 'x' or 'y', got {axis!r}")
    return _from_motion(inv, (0.0, 0.0), shape, center, output_shape, align_corners)


def translate(
    tx: float,
    ty: float,
    shape: Shape,
    *,
    output_shape: Shape | None = None,
    align_corners: bool = False,
) -> np.ndarray:
    """θ that moves the picture by (tx, ty) pixels (right and down).

    Parameters
    ----------
    tx, ty : float
        Shift in pixels along x (columns) and y (rows).
    shape, output_shape, align_corners
        As in :func:`rotate`; with zero shift and another ``output_shape`` this is a centred
        crop or pad at the same pixel size.

    Returns
    -------
    theta : ndarray, float64, shape (2, 3)
    """
    shift = (real_number(tx, "tx"), real_number(ty, "ty"))
    inv = ((1.0, 0.0), (0.0, 1.0))
    return _from_motion(inv, shift, shape, None, output_shape, align_corners)
