"""Test helpers for warpkit and its users: hypothesis strategies and a gradient checker.

The strategies produce data in warpkit's conventions: images channels-last ((N, H, W, C) or
(H, W[, C])), θ of shape (N, 2, 3) mapping normalized *output* coordinates to normalized
*input* coordinates, grids of shape (N, Ho, Wo, 2) whose last axis is (x, y) =
(column, row) in normalized coordinates (-1 and +1 are the image's edges; see
:mod:`warpkit._coords`).

`hypothesis <https://hypothesis.readthedocs.io>`_ is optional: it is imported only when a
strategy is built, so ``import warpkit.testing`` works without it (the gradient helpers need
numpy only).

Examples
--------
>>> import numpy as np
>>> import warpkit
>>> from hypothesis import given, settings
>>> from warpkit.testing import images, thetas, sampling_options
>>> @settings(deadline=None)  # a first call may compile its kernel
... @given(images(dtype=np.float64, max_batch=1), thetas(n=1), sampling_options())
... def test_finite(x, theta, opts):
...     assert np.isfinite(warpkit.affine_sample(x, theta, **opts)).all()
>>> test_finite()  # hypothesis runs it on the examples it draws
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _coords
from ._validate import FLOAT_DTYPES, count, items, real_number

__all__ = [
    "thetas",
    "images",
    "grids",
    "sampling_options",
    "numerical_gradient",
    "check_gradient",
    "MODES",
    "PADDING_MODES",
    "EXTREME_VALUES",
]

MODES = ("bilinear", "nearest")
PADDING_MODES = ("zeros", "border", "reflection", "constant", "wrap")
#: Coordinates that must never crash a sampler: NaN, ±inf and huge finite values.
EXTREME_VALUES = (float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 2.0**31, 2.0**63)


def _hypothesis():
    """Import hypothesis and its numpy extra, or explain how to get them."""
    try:
        import hypothesis.extra.numpy as hnp
        import hypothesis.strategies as st
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "warpkit.testing strategies need hypothesis; install it with "
            "`pip install hypothesis` (or `pip install warpkit[test]`)"
        ) from exc
    return st, hnp


def _names(values: Any, name: str, known: Any) -> tuple:
    """``values`` as a non-empty tuple of names from ``known``, or a ValueError naming
    ``name`` (a single string is refused: it would be drawn from character by character)."""
    bad = f"{name} must be a non-empty tuple of names from {list(known)}, got {values!r}"
    values = items(values, bad)
    if not values or not all(isinstance(v, str) and v in known for v in values):
        raise ValueError(bad)
    return values


def _real(value: Any, name: str, *, positive: bool) -> float:
    """``value`` as a float if it is a finite real number >= 0 (> 0 when ``positive``), or a
    TypeError/ValueError naming ``name``: a NaN tolerance or step would pass every check."""
    doc = f"a finite real number {'> 0' if positive else '>= 0'}"
    v = real_number(value, name, doc)
    if v < 0 or (positive and v == 0):
        raise ValueError(f"{name} must be {doc}, got {value!r}")
    return v


# --------------------------------------------------------------------------- strategies
def thetas(
    n: int = 1,
    max_scale: float = 2.0,
    max_translation: float = 1.0,
    invertible: bool = False,
    min_det: float = 0.1,
    dtype: Any = np.float64,
):
    """Strategy for affine maps θ of shape (n, 2, 3).

    Parameters
    ----------
    n : int
        Batch size, at least 1.
    max_scale : float
        Bound on the entries of the linear part ``θ[:, :, :2]`` (|entry| <= max_scale).
    max_translation : float
        Bound on the translation ``θ[:, :, 2]`` (normalized units).
    invertible : bool
        When True every linear part has ``|det| >= min_det`` (bounded away from singular):
        draws below the bound are rebuilt inside the bounds (see ``_lift_det``), not filtered.
    min_det : float
        The lower bound on ``|det|`` used when ``invertible``.
    dtype : float32 or float64

    Returns
    -------
    hypothesis strategy of ndarray, shape (n, 2, 3), ``dtype``
        θ maps normalized output coordinates (x_t, y_t, 1) to normalized input (x_s, y_s).

    Raises
    ------
    ValueError
        When ``n`` is not an int >= 1, ``dtype`` is not float32 or float64, or ``min_det``
        cannot be reached within ``max_scale``.
    """
    count(n, "n (the batch size)")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = np.dtype(object)
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    st, hnp = _hypothesis()
    if invertible and min_det > 2 * max_scale**2:
        raise ValueError(
            f"min_det must be at most 2 * max_scale**2 = {2 * max_scale**2}, got {min_det}"
        )
    lin = st.floats(-max_scale, max_scale, allow_nan=False, width=64)
    tr = st.floats(-max_translation, max_translation, allow_nan=False, width=64)

    def one():
        m = hnp.arrays(np.float64, (2, 2), elements=lin)
        if invertible:
            m = m.map(lambda a: _lift_det(a, max_scale, min_det))
        return st.tuples(m, hnp.arrays(np.float64, (2,), elements=tr)).map(
            lambda p: np.concatenate([p[0], p[1][:, None]], axis=1)
        )

    return st.lists(one(), min_size=n, max_size=n).map(
        lambda ts: np.stack(ts).astype(dt)
    )


def _lift_det(m: np.ndarray, max_scale: float, min_det: float) -> np.ndarray:
    """``m`` if ``|det m| >= min_det``; otherwise ``m`` with rows rebuilt from its signs, inside
    the same bounds: second row ``max_scale · (-sign b, sign a)`` for a first row (a, b)
    (``|det| = max_scale · (|a| + |b|)``), and if that is still too small, the first row
    ``max_scale · (sign a, sign b)`` too (``|det| = 2 max_scale²``, at least ``min_det``).
    A map rather than a filter: hypothesis never runs out of examples."""
    if abs(np.linalg.det(m)) >= min_det:
        return m
    sa, sb = (1.0 if v >= 0 else -1.0 for v in m[0])
    out = m.copy()
    out[1] = max_scale * np.array([-sb, sa])
    if abs(np.linalg.det(out)) < min_det:
        out[0] = max_scale * np.array([sa, sb])
    return out


def images(
    shape: tuple | None = None,
    dtype: Any = np.float64,
    *,
    layout: str = "batch",
    max_batch: int = 3,
    max_side: int = 8,
    max_channels: int = 4,
    elements: Any = None,
):
    """Strategy for images or image batches in channels-last layout.

    Parameters
    ----------
    shape : tuple, optional
        A fixed shape. When None a shape is drawn according to ``layout``.
    dtype : numpy dtype
        float32, float64, uint8, uint16, int32, bool, ...
    layout : {"batch", "image", "any"}
        ``"batch"`` draws (N, H, W, C); ``"image"`` draws (H, W) or (H, W, C); ``"any"``
        either. Ignored when ``shape`` is given.
    max_batch, max_side, max_channels : int
        Upper bounds on N, on H and W, and on C (all lower bounds are 1).
    elements : hypothesis strategy, optional
        Pixel values. Default: floats in [-1, 1] for float dtypes, the full range for
        integer dtypes.

    Returns
    -------
    hypothesis strategy of ndarray with the drawn shape and ``dtype``
    """
    st, hnp = _hypothesis()
    dtype = np.dtype(dtype)
    if layout not in ("batch", "image", "any"):
        raise ValueError(f"layout must be 'batch', 'image' or 'any', got {layout!r}")
    if elements is None and dtype.kind == "f":
        elements = st.floats(-1.0, 1.0, allow_nan=False, width=min(8 * dtype.itemsize, 64))
    if shape is not None:
        shapes = st.just(tuple(shape))
    else:
        side = st.integers(1, max_side)
        chan = st.integers(1, max_channels)
        batch = st.tuples(st.integers(1, max_batch), side, side, chan)
        image = st.one_of(st.tuples(side, side), st.tuples(side, side, chan))
        shapes = {"batch": batch, "image": image, "any": st.one_of(batch, image)}[layout]
    return shapes.flatmap(lambda s: hnp.arrays(dtype, s, elements=elements))


def grids(
    n: int,
    ho: int,
    wo: int,
    extreme: bool = False,
    *,
    bound: float = 1.5,
    dtype: Any = np.float64,
):
    """Strategy for sampling grids of shape (n, ho, wo, 2) in normalized coordinates.

    Parameters
    ----------
    n, ho, wo : int
        Batch size and output height and width.
    extreme : bool
        When True entries may also be NaN, ±inf or huge finite values
        (:data:`EXTREME_VALUES`), which a sampler must survive.
    bound : float
        Finite regular entries lie in [-bound, bound]; |x| <= 1 is inside the image.
    dtype : float32 or float64

    Returns
    -------
    hypothesis strategy of ndarray, shape (n, ho, wo, 2), ``dtype``
        Last axis (x, y) = (column, row).
    """
    st, hnp = _hypothesis()
    dtype = np.dtype(dtype)
    width = 8 * dtype.itemsize
    if width == 32:  # hypothesis wants bounds the width holds exactly: the float32 within
        bound = float(np.nextafter(np.float32(bound), np.float32(0))
                      if float(np.float32(bound)) > bound else np.float32(bound))
    regular = st.floats(-bound, bound, allow_nan=False, width=width)
    if extreme:
        elements = st.one_of(regular, st.sampled_from([dtype.type(v) for v in EXTREME_VALUES]))
    else:
        elements = regular
    return hnp.arrays(dtype, (n, ho, wo, 2), elements=elements)


def sampling_options(
    modes: tuple = MODES, padding_modes: tuple = PADDING_MODES, cval: bool = False
):
    """Strategy for the keyword options of the samplers.

    Parameters
    ----------
    modes : tuple of str
        Interpolation modes to draw from (non-empty, names of :data:`MODES`).
    padding_modes : tuple of str
        Padding modes to draw from (non-empty, names of :data:`PADDING_MODES`).
    cval : bool
        When True a scalar ``cval`` in [-2, 2] is drawn too.

    Returns
    -------
    hypothesis strategy of dict
        ``{"mode": ..., "padding_mode": ..., "align_corners": ...[, "cval": ...]}``, ready to
        pass as ``**kwargs`` to :func:`warpkit.grid_sample` or :func:`warpkit.affine_sample`.

    Raises
    ------
    ValueError
        When ``modes`` or ``padding_modes`` is a single string, empty, or holds an unknown
        name.
    """
    modes = _names(modes, "modes", _coords.MODES)
    padding_modes = _names(padding_modes, "padding_modes", _coords.PADDING_MODES)
    st, _ = _hypothesis()
    fields = {
        "mode": st.sampled_from(modes),
        "padding_mode": st.sampled_from(padding_modes),
        "align_corners": st.booleans(),
    }
    if cval:
        fields["cval"] = st.floats(-2.0, 2.0, allow_nan=False)
    return st.fixed_dictionaries(fields)


# --------------------------------------------------------------------------- gradients
def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-6
) -> np.ndarray:
    """Central-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` (or a 0-d array); called 2 * x.size times on perturbed float64
        copies of ``x``.
    x : ndarray
        The point; it is not modified.
    eps : float
        Step: ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``; finite and > 0.

    Returns
    -------
    ndarray, float64, shape of ``x``

    Raises
    ------
    ValueError
        When ``eps`` is not finite and > 0.
    TypeError
        When ``eps`` is not a real number.
    """
    x0 = np.array(x, dtype=np.float64)
    return numerical_gradient_inplace(lambda: f(x0.copy()), x0, eps)


def numerical_gradient_inplace(
    f: Callable[[], float],
    a: np.ndarray,
    eps: float = 1e-6,
    max_entries: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Central differences of ``f()`` with respect to entries of ``a``, perturbed in place.

    For parameters that live inside an object (a layer's weights): ``f`` takes no argument
    and reads ``a`` itself. Each entry is restored after use.

    Parameters
    ----------
    f : callable
        ``f() -> float``.
    a : ndarray, float64
        The array to perturb, writeable (modified during the call, restored afterwards).
        Other dtypes are refused: an integer array would truncate ``old ± eps`` and a float32
        one round it.
    eps : float
        Step, finite and > 0.
    max_entries : int, optional
        Differentiate only this many entries (an int >= 0), chosen at random with ``seed``;
        the others are NaN in the result (compare only where it is finite).
    seed : int
        Seed of that choice.

    Returns
    -------
    ndarray, float64, shape of ``a``

    Raises
    ------
    TypeError
        When ``a`` is not a float64 numpy array, or ``eps`` is not a real number.
    ValueError
        When ``a`` is read-only, ``eps`` is not finite and > 0, or ``max_entries`` is not
        None or an int >= 0.
    """
    if not isinstance(a, np.ndarray) or a.dtype != np.float64:
        what = f"dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
        raise TypeError(f"a must be a float64 numpy array, got {what}")
    if not a.flags.writeable:
        raise ValueError("a must be writeable (it is perturbed in place), got a read-only array")
    eps = _real(eps, "eps", positive=True)
    if max_entries is not None:
        count(max_entries, "max_entries (or None)", minimum=0)
    grad = np.full(a.shape, np.nan)
    order = np.arange(a.size)
    if max_entries is not None:
        order = np.random.default_rng(seed).permutation(a.size)[:max_entries]
    for flat in order:
        i = np.unravel_index(flat, a.shape)
        old = a[i]
        a[i] = old + eps
        fp = float(f())
        a[i] = old - eps
        fm = float(f())
        a[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def check_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    grad: np.ndarray,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> np.ndarray:
    """Assert that ``grad`` is the gradient of the scalar ``f`` at ``x``.

    Compares ``grad`` with :func:`numerical_gradient` (central differences) elementwise with
    ``|grad - numeric| <= atol + rtol * |numeric|``; a NaN or infinite entry on either side
    fails. Use float64 and points away from the function's kinks (interpolation knots, clip
    and reflection bounds).

    Parameters
    ----------
    f : callable
        Scalar function of one array.
    x : ndarray
        Point of evaluation.
    grad : ndarray, shape of ``x``
        The analytic gradient to check.
    eps, rtol, atol : float
        Finite-difference step (finite, > 0) and tolerances (finite, >= 0).

    Returns
    -------
    ndarray, float64
        The numerical gradient (for further checks).

    Raises
    ------
    AssertionError
        Naming the worst index, the analytic and the numerical value.
    ValueError
        When ``grad`` and ``x`` have different shapes, or ``eps``, ``rtol`` or ``atol`` is
        out of range (a NaN tolerance would pass any gradient).
    TypeError
        When ``eps``, ``rtol`` or ``atol`` is not a real number.
    """
    eps = _real(eps, "eps", positive=True)
    rtol = _real(rtol, "rtol", positive=False)
    atol = _real(atol, "atol", positive=False)
    grad = np.asarray(grad, dtype=np.float64)
    if grad.shape != np.shape(x):
        raise ValueError(
            f"grad must have the shape of x {np.shape(x)}, got shape {grad.shape}"
        )
    num = numerical_gradient(f, x, eps)
    err = np.abs(grad - num) - (atol + rtol * np.abs(num))
    # NaN or inf on either side fails (err is NaN there, and NaN > 0 is False)
    finite = np.isfinite(grad) & np.isfinite(num)
    if not np.all(finite) or np.any(err > 0):
        bad = np.where(finite, err, np.inf)
        idx = np.unravel_index(int(np.argmax(bad)), grad.shape) if grad.size else ()
        raise AssertionError(
            f"gradient mismatch at index {tuple(int(i) for i in idx)}: analytic "
            f"{grad[idx]!r}, numerical {num[idx]!r} (rtol={rtol}, atol={atol}, eps={eps}); "
            f"{int(np.sum(bad > 0))} of {grad.size} entries out of tolerance"
        )
    return num
