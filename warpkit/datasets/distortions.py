"""Random distortions of 28x28 digits, after Jaderberg et al. 2015 (section 4.1).

Every distortion is built as a batch of θ (N, 2, 3) or of sampling grids (N, S, S, 2) and
applied with one call of warpkit's sampler (bilinear, zero padding, ``align_corners=False``;
θ and grids map normalized *output* coordinates to normalized *input* coordinates, grid last
axis (x, y) = (column, row)). All randomness comes from the ``numpy.random.Generator``
passed in, so the same generator state gives bit-identical images.

Kinds (``DISTORTIONS``):

``"r"``
    rotation by U(-90°, 90°) about the centre; 28x28 canvas.
``"rts"``
    rotation U(-45°, 45°), scale U(0.7, 1.2), placed at a uniformly random position on a
    42x42 canvas such that the (rotated, scaled) 20x20 digit box stays inside the canvas.
``"p"``
    projective: the homography that takes the output corners (±1, ±1) to input corners
    ``(±1, ±1) / s + ε``, with a zoom ``s ~ U(0.8, 1.2)`` and corner noise
    ``ε ~ N(0, 0.1²)`` clipped to ±0.25 per coordinate (normalized units; 0.1 ≈ 1.4 px),
    sampled through :func:`warpkit.grid_sample`; 28x28 canvas. The corners stay a convex
    quadrilateral, so the map is regular on the whole image and the digit stays legible.
``"e"``
    elastic (Simard et al. 2003): a displacement field drawn U(-1, 1) per pixel and
    component, smoothed with a Gaussian of σ = 4 px (rows of the kernel renormalized at the
    edges) and scaled by α = 34 px, added to the identity grid, through
    :func:`warpkit.grid_sample`; 28x28 canvas.
``"tc"``
    translation to a uniformly random position on a 60x60 canvas (the 20x20 digit box
    inside), plus clutter: 6 random 6x6 pieces of other digits (taken from the central 20x20
    box of random images of ``clutter_source``) pasted at random positions, combined with
    the digit by ``max``.
"""

from __future__ import annotations

import numpy as np

from .._validate import count, describe
from ..ops import affine_sample, grid_sample
from .digits import DIGIT_BOX, FIELD

__all__ = ["DISTORTIONS", "canvas_size", "distort", "placement_theta"]

DISTORTIONS = ("r", "rts", "p", "e", "tc")
_CANVAS = {"r": 28, "rts": 42, "p": 28, "e": 28, "tc": 60}
_CHUNK = 4096  # images per sampler call: bounds the memory of grids and random fields

ELASTIC_SIGMA = 4.0
ELASTIC_ALPHA = 34.0
CLUTTER_PIECES = 6
CLUTTER_SIZE = 6


def canvas_size(kind: str) -> int:
    """Side S of the square images that :func:`distort` makes for ``kind``.

    28 for "r", "p" and "e"; 42 for "rts"; 60 for "tc".
    """
    return _CANVAS[_check_kind(kind)]


def _check_kind(kind: object) -> str:
    """``kind`` if it names a distortion (a str in :data:`DISTORTIONS`), else a ValueError."""
    if not isinstance(kind, str) or kind not in _CANVAS:
        raise ValueError(f"distortion must be one of {DISTORTIONS}, got {kind!r}")
    return kind


def _real_array(x: object, name: str, shape_doc: str, ndim: int) -> np.ndarray:
    """``x`` as a float64 array of ``ndim`` dimensions (shape documented as ``shape_doc``);
    strings, complex numbers and other non-real values are refused, not parsed or cut."""
    try:
        a = np.asarray(x)
    except (TypeError, ValueError):  # ragged nested sequences
        raise ValueError(f"{name} must be an array of shape {shape_doc}, got {x!r}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got {describe(a)}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{name} must be finite, got {a[where]} at index {where}")
    return a


def placement_theta(
    angle: np.ndarray, scale: np.ndarray, offset: np.ndarray, in_size: int, out_size: int
) -> np.ndarray:
    """θ that places a rotated, scaled square image on a larger (or equal) square canvas.

    The input's centre goes to ``offset`` pixels (x, y) from the canvas centre; an input
    point ``v`` (pixels from the input centre) lands at ``offset + scale · R(angle) · v``,
    ``R(a) = [[cos a, -sin a], [sin a, cos a]]`` in (x, y) = (column, row) coordinates
    (rows grow downwards, so positive angles turn the image clockwise on screen).

    Parameters
    ----------
    angle : ndarray, shape (N,), radians, finite
    scale : ndarray, shape (N,), finite and > 0
    offset : ndarray, shape (N, 2), pixels (x, y), finite
    in_size, out_size : int >= 1
        Sides of the input image and of the canvas.

    Returns
    -------
    theta : ndarray, shape (N, 2, 3), float64
        Normalized output -> input maps (``align_corners=False``): the inverse placement
        ``v = R(-angle) (u - offset) / scale`` in normalized units.

    Raises
    ------
    ValueError
        If a shape differs from the above (a scalar ``angle`` or ``scale`` included), an
        entry is not finite, a ``scale`` is <= 0, or a size is not a positive int.
    TypeError
        If ``angle``, ``scale`` or ``offset`` holds something other than real numbers.
    """
    angle = _real_array(angle, "angle", "(N,)", 1)
    n = len(angle)
    scale = _real_array(scale, "scale", "(N,)", 1)
    offset = _real_array(offset, "offset", "(N, 2)", 2)
    if scale.shape != (n,):
        raise ValueError(f"scale must have shape (N,) = ({n},) like angle, got {scale.shape}")
    if offset.shape != (n, 2):
        raise ValueError(f"offset must have shape (N, 2) = ({n}, 2), got {offset.shape}")
    if n and scale.min() <= 0.0:
        i = int(np.argmin(scale))
        raise ValueError(f"scale must be > 0, got {scale[i]} at index {i}")
    in_size, out_size = count(in_size, "in_size"), count(out_size, "out_size")
    c, s = np.cos(angle), np.sin(angle)
    inv_rot = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], -2)  # R(-angle)
    k = out_size / (in_size * scale)
    lin = inv_rot * k[:, None, None]
    shift = -np.einsum("nij,nj->ni", inv_rot, offset)
    shift *= (2.0 / (in_size * scale))[:, None]
    return np.concatenate([lin, shift[:, :, None]], axis=2)


def _place(images: np.ndarray, theta: np.ndarray, size: int) -> np.ndarray:
    return affine_sample(images[..., None], theta.astype(np.float32), (size, size))[..., 0]


def _rotation(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(images)
    angle = np.deg2rad(rng.uniform(-90.0, 90.0, n))
    theta = placement_theta(angle, np.ones(n), np.zeros((n, 2)), FIELD, FIELD)
    return _place(images, theta, FIELD)


def _free_offset(half_extent: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform offsets (N, 2) that keep a box of half side ``half_extent`` inside the canvas."""
    room = np.maximum(size / 2.0 - half_extent, 0.0)
    return rng.uniform(-1.0, 1.0, (len(half_extent), 2)) * room[:, None]


def _rts(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n, size = len(images), _CANVAS["rts"]
    angle = np.deg2rad(rng.uniform(-45.0, 45.0, n))
    scale = rng.uniform(0.7, 1.2, n)
    half = 0.5 * DIGIT_BOX * scale * (np.abs(np.cos(angle)) + np.abs(np.sin(angle)))
    offset = _free_offset(half, size, rng)
    return _place(images, placement_theta(angle, scale, offset, FIELD, size), size)


def _base_grid(size: int) -> np.ndarray:
    """Normalized pixel-centre coordinates (size, size, 2), last axis (x, y)."""
    t = (2.0 * np.arange(size) + 1.0) / size - 1.0
    gx, gy = np.meshgrid(t, t)
    return np.stack([gx, gy], axis=-1)


def homographies(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 homographies H (H[2, 2] = 1) with ``H · [src, 1] ∝ [dst, 1]``.

    Parameters
    ----------
    src, dst : ndarray, shape (N, 4, 2)
        Four point correspondences (x, y) per map, finite, no three of the four ``src``
        points (nor of the four ``dst`` points) collinear.

    Returns
    -------
    ndarray, shape (N, 3, 3), float64

    Raises
    ------
    ValueError
        If ``src`` or ``dst`` is not of shape (N, 4, 2) (one unbatched (4, 2) set included),
        their shapes differ, an entry is not finite, or three points of a set are collinear
        (the map would be degenerate).
    TypeError
        If ``src`` or ``dst`` holds something other than real numbers.
    """
    src = _real_array(src, "src", "(N, 4, 2)", 3)
    dst = _real_array(dst, "dst", "(N, 4, 2)", 3)
    if src.shape[1:] != (4, 2):
        raise ValueError(f"src must have shape (N, 4, 2), got shape {src.shape}")
    if dst.shape != src.shape:
        raise ValueError(f"dst must have the shape of src {src.shape}, got shape {dst.shape}")
    _check_no_collinear(src, "src")
    _check_no_collinear(dst, "dst")
    n = len(src)
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)
    rows_v = np.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    a = np.concatenate([rows_u, rows_v], axis=1)  # (N, 8, 8)
    b = np.concatenate([u, v], axis=1)  # (N, 8)
    try:
        h = np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:  # not expected after the collinearity check
        raise ValueError("src and dst give a degenerate (singular) homography") from None
    return np.concatenate([h, np.ones((n, 1))], axis=1).reshape(n, 3, 3)


def _check_no_collinear(points: np.ndarray, name: str) -> None:
    """ValueError if three of the four points (N, 4, 2) of some set lie on one line (up to
    a relative tolerance: twice the triangle's area <= 1e-10 times the set's extent squared)."""
    ext = np.ptp(points, axis=1).max(axis=1)  # (N,)
    for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        d1, d2 = points[:, j] - points[:, i], points[:, k] - points[:, i]
        area2 = np.abs(d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0])
        bad = np.flatnonzero(area2 <= 1e-10 * ext**2)
        if bad.size:
            m = int(bad[0])
            raise ValueError(
                f"{name}[{m}]: points {i}, {j} and {k} are collinear "
                f"({points[m].tolist()}); the homography would be degenerate"
            )


def _projective(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(images)
    corners = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    zoom = rng.uniform(0.8, 1.2, n)
    noise = np.clip(rng.normal(0.0, 0.1, (n, 4, 2)), -0.25, 0.25)
    src = corners[None] / zoom[:, None, None] + noise
    h = homographies(np.broadcast_to(corners, (n, 4, 2)), src)
    base = _base_grid(FIELD).reshape(-1, 2)
    hom = np.concatenate([base, np.ones((len(base), 1))], axis=1).astype(np.float32)  # (P, 3)
    mapped = np.matmul(hom, h.astype(np.float32).transpose(0, 2, 1))  # (N, P, 3): H·[x, y, 1]
    mapped[..., :2] /= mapped[..., 2:]
    grid = np.ascontiguousarray(mapped[..., :2]).reshape(n, FIELD, FIELD, 2)
    return grid_sample(images[..., None], grid)[..., 0]


def _smoothing_matrix(size: int, sigma: float) -> np.ndarray:
    """Gaussian blur along one axis as a (size, size) matrix with rows summing to 1."""
    d = np.arange(size)[:, None] - np.arange(size)[None, :]
    g = np.exp(-0.5 * (d / sigma) ** 2)
    return g / g.sum(axis=1, keepdims=True)


def _elastic(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(images)
    g = _smoothing_matrix(FIELD, ELASTIC_SIGMA)
    field = rng.uniform(-1.0, 1.0, (n, FIELD, FIELD, 2))
    smooth = np.matmul(g, field.reshape(n, FIELD, FIELD * 2)).reshape(n, FIELD, FIELD, 2)
    smooth = np.einsum("jb,nibc->nijc", g, smooth, optimize=True)  # blur rows, then columns
    grid = _base_grid(FIELD)[None] + smooth * (ELASTIC_ALPHA * 2.0 / FIELD)
    return grid_sample(images[..., None], grid.astype(np.float32))[..., 0]


def _clutter(
    n: int, size: int, source: np.ndarray, rng: np.random.Generator, exclude: np.ndarray | None
) -> np.ndarray:
    """(n, size, size) canvases with CLUTTER_PIECES random pieces of ``source`` (max-combined)."""
    canvas = np.zeros((n, size, size), np.float32)
    k = CLUTTER_SIZE
    lo = (FIELD - DIGIT_BOX) // 2
    rows = np.arange(n)[:, None, None]
    ar = np.arange(k)
    for _ in range(CLUTTER_PIECES):
        if exclude is None:
            idx = rng.integers(0, len(source), n)
        else:  # a different image than the digit itself
            idx = (exclude + rng.integers(1, len(source), n)) % len(source)
        cy, cx = rng.integers(lo, lo + DIGIT_BOX - k + 1, (2, n))
        py, px = rng.integers(0, size - k + 1, (2, n))
        rr = (cy[:, None] + ar)[:, :, None]
        cc = (cx[:, None] + ar)[:, None, :]
        piece = source[idx[:, None, None], rr, cc]
        yy = (py[:, None] + ar)[:, :, None]
        xx = (px[:, None] + ar)[:, None, :]
        canvas[rows, yy, xx] = np.maximum(canvas[rows, yy, xx], piece)
    return canvas


def _translated_cluttered(
    images: np.ndarray, rng: np.random.Generator, source: np.ndarray, exclude: np.ndarray | None
) -> np.ndarray:
    n, size = len(images), _CANVAS["tc"]
    offset = _free_offset(np.full(n, DIGIT_BOX / 2.0), size, rng)
    theta = placement_theta(np.zeros(n), np.ones(n), offset, FIELD, size)
    digits = _place(images, theta, size)
    return np.maximum(digits, _clutter(n, size, source, rng, exclude))


def distort(
    images: np.ndarray,
    kind: str,
    rng: np.random.Generator,
    clutter_source: np.ndarray | None = None,
) -> np.ndarray:
    """Apply a fresh random distortion of ``kind`` to each 28x28 image.

    Parameters
    ----------
    images : ndarray, shape (M, 28, 28), float in [0, 1]
        Base digits (a 20x20 digit centred in a 28x28 field, as MNIST).
    kind : {"r", "rts", "p", "e", "tc"}
        See the module docstring.
    rng : numpy.random.Generator
        Source of all randomness; the same state gives bit-identical output.
    clutter_source : ndarray, shape (K, 28, 28), optional
        Images the "tc" clutter is cut from; by default ``images`` themselves, each image
        taking its clutter from other images (needs M >= 2). Ignored for other kinds.

    Returns
    -------
    ndarray, shape (M, S, S), float32, S = :func:`canvas_size` (kind)
    """
    kind = _check_kind(kind)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    images = np.ascontiguousarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != (FIELD, FIELD):
        raise ValueError(f"images must have shape (M, {FIELD}, {FIELD}), got {images.shape}")
    size = _CANVAS[kind]
    out = np.empty((len(images), size, size), np.float32)
    if kind == "tc":
        if clutter_source is None:
            if len(images) < 2:
                raise ValueError("tc clutter needs clutter_source or at least 2 images")
            source = images
        else:
            source = np.ascontiguousarray(clutter_source, dtype=np.float32)
            if source.ndim != 3 or source.shape[1:] != (FIELD, FIELD) or len(source) == 0:
                raise ValueError(
                    f"clutter_source must have shape (K, {FIELD}, {FIELD}) with K >= 1, "
                    f"got {source.shape}"
                )
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK]
        if kind == "r":
            out[start : start + len(chunk)] = _rotation(chunk, rng)
        elif kind == "rts":
            out[start : start + len(chunk)] = _rts(chunk, rng)
        elif kind == "p":
            out[start : start + len(chunk)] = _projective(chunk, rng)
        elif kind == "e":
            out[start : start + len(chunk)] = _elastic(chunk, rng)
        else:
            exclude = np.arange(start, start + len(chunk)) if clutter_source is None else None
            out[start : start + len(chunk)] = _translated_cluttered(chunk, rng, source, exclude)
    return out
