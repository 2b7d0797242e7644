"""Validation at the public boundary: one place, messages that name expected and received."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ._coords import MODES, PADDING_MODES

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_cuda_array(x: Any) -> bool:
    """True for objects that expose ``__cuda_array_interface__`` (numba, CuPy, torch CUDA)
    and for numba device arrays, including the CUDA simulator's (``__cuda_ndarray__``)."""
    if type(x) is np.ndarray:  # the usual case, without two failing attribute lookups
        return False
    return hasattr(x, "__cuda_array_interface__") or getattr(x, "__cuda_ndarray__", False) is True


def dtype_of(x: Any) -> np.dtype:
    """The numpy dtype of a numpy or CUDA array: a CUDA array's from its
    ``__cuda_array_interface__`` (a PyTorch tensor's ``dtype`` is a ``torch.dtype``, which
    numpy does not take)."""
    if isinstance(x, np.ndarray):
        return x.dtype
    interface = getattr(x, "__cuda_array_interface__", None)
    if isinstance(interface, dict) and "typestr" in interface:
        return np.dtype(interface["typestr"])
    return np.dtype(x.dtype)


def describe(x: Any) -> str:
    """Short description of an argument for error messages."""
    if isinstance(x, np.ndarray) or is_cuda_array(x):
        return f"{type(x).__name__} of shape {tuple(x.shape)} and dtype {dtype_of(x)}"
    return f"{type(x).__name__}"


def not_masked(x: Any, name: str) -> Any:
    """Refuse a numpy masked array: warpkit reads an array's data, so its mask would be
    silently ignored."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{name} must not be a masked array (warpkit would ignore its mask); "
                        f"pass {name}.filled(value) or {name}.data")
    return x


def array(x: Any, name: str, ndim: int, shape_doc: str) -> Any:
    """Check that ``x`` is a numpy or CUDA array with ``ndim`` dimensions, not masked."""
    not_masked(x, name)
    if not (isinstance(x, np.ndarray) or is_cuda_array(x)):
        raise TypeError(
            f"{name} must be a numpy array or a CUDA array of shape {shape_doc}, "
            f"got {describe(x)}"
        )
    if len(x.shape) != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got shape {tuple(x.shape)}")
    return x


def float_dtype(x: Any, name: str) -> np.dtype:
    """The float dtype of ``x`` in native byte order (float32 or float64: a big-endian image,
    as FITS files hold, is computed and returned in the native one); integer and other dtypes
    are refused with advice."""
    dtype = dtype_of(x)
    if dtype.kind == "f" and not dtype.isnative:
        dtype = dtype.newbyteorder("=")
    if dtype not in FLOAT_DTYPES:
        advice = "; use warpkit.warp() for integer, boolean or float16 images" \
            if name == "input" else ""
        raise TypeError(f"{name} must be float32 or float64, got {dtype}{advice}")
    return dtype


def batch(n_expected: int, x: Any, name: str, ref: str) -> None:
    """Check that ``x`` has ``n_expected`` samples along axis 0."""
    if x.shape[0] != n_expected:
        raise ValueError(
            f"batch sizes disagree: {ref} has {n_expected} samples but {name} has {x.shape[0]}"
        )


def input_array(x: Any) -> Any:
    """Check an input image batch (N, H, W, C) of floats with H, W, C >= 1."""
    array(x, "input", 4, "(N, H, W, C)")
    float_dtype(x, "input")
    if min(x.shape[1:]) < 1:
        raise ValueError(f"input must have H, W, C >= 1, got shape {tuple(x.shape)}")
    return x


def real(x: Any, name: str) -> Any:
    """Check that ``x`` holds real numbers (bool, integer or float), which the ops convert
    to the input's dtype: a complex one would lose its imaginary part, strings would be
    parsed."""
    dtype = dtype_of(x)
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (bool, integer or float), got {dtype}")
    return x


def theta_array(theta: Any) -> Any:
    """Check θ of shape (N, 2, 3), of real numbers."""
    array(theta, "theta", 3, "(N, 2, 3)")
    if tuple(theta.shape[1:]) != (2, 3):
        raise ValueError(f"theta must have shape (N, 2, 3), got shape {tuple(theta.shape)}")
    return real(theta, "theta")


def grid_array(grid: Any, name: str = "grid") -> Any:
    """Check a sampling grid of shape (N, Ho, Wo, 2), of real numbers (``name``: what
    messages call it)."""
    array(grid, name, 4, "(N, Ho, Wo, 2)")
    if grid.shape[3] != 2:
        raise ValueError(
            f"{name} must have shape (N, Ho, Wo, 2) with last axis (x, y), "
            f"got shape {tuple(grid.shape)}"
        )
    return real(grid, name)


def same_shape(x: Any, name: str, shape: tuple, shape_doc: str) -> None:
    """Check that ``x`` has exactly ``shape``."""
    if tuple(x.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have shape {shape_doc} = {tuple(shape)}, got {tuple(x.shape)}"
        )


def out_array(out: Any, shape: tuple, dtype: np.dtype, reads: tuple, *,
              host_only: bool = False, name: str = "out") -> None:
    """Check ``out``, the array an op writes its result into: exactly the result's ``shape``
    and ``dtype`` (nothing is cast), and for a numpy array C-contiguous, writeable and sharing
    no memory with the host arrays of ``reads`` ((name, array) pairs), which the sampler reads
    while it writes. A CUDA array's layout and overlap are checked where it is used
    (:func:`warpkit.backends.cuda.launch`). ``name`` is what messages call it."""
    shape, dtype = tuple(shape), np.dtype(dtype)
    if not (isinstance(out, np.ndarray) or (not host_only and is_cuda_array(out))):
        kinds = "a numpy array" if host_only else "a numpy array or a CUDA array"
        raise TypeError(f"{name} must be {kinds} of shape {shape} and dtype {dtype}, "
                        f"got {describe(out)}")
    if tuple(out.shape) != shape:
        raise ValueError(f"{name} must have the result's shape {shape}, got {tuple(out.shape)}")
    if dtype_of(out) != dtype:
        raise TypeError(f"{name} must have the result's dtype {dtype}, got {dtype_of(out)} "
                        f"({name} is written as it is, never cast)")
    if not isinstance(out, np.ndarray):
        return
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got an array with strides "
                         f"{out.strides}; write into a contiguous array and copy")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable, got a read-only array")
    for what, x in reads:
        if isinstance(x, np.ndarray) and np.may_share_memory(out, x):
            raise ValueError(f"{name} must not share memory with {what}: the sampler reads "
                             f"{what} while it writes {name}")


def mode_code(mode: Any) -> int:
    """Integer code of an interpolation mode name."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    return MODES[mode]


def padding_code(padding_mode: Any) -> int:
    """Integer code of a padding mode name."""
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {list(PADDING_MODES)}, got {padding_mode!r}"
        )
    return PADDING_MODES[padding_mode]


def flag(value: Any, name: str) -> bool:
    """A strict boolean keyword."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def is_count(v: Any) -> bool:
    """Whether ``v`` is an integer (Python's or numpy's, not a bool) >= 0."""
    if type(v) is int:  # the usual case, without the ABC check (0.67 -> 0.09 µs a call)
        return v >= 0
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and v >= 0


def count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer (Python's or numpy's, not a bool) of at least
    ``minimum``, else a ValueError naming ``name``."""
    if not is_count(value) or value < minimum:
        what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def real_number(value: Any, name: str, doc: str = "a finite real number") -> float:
    """``value`` as a float if it is a finite real number: a Python or numpy integer or float
    (or a 0-d array of one), not a bool, a string or a complex number, which ``float`` would
    take or parse. A TypeError otherwise, a ValueError for NaN, ±inf and integers beyond
    float64; both name ``name`` and say what was expected (``doc``)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {doc}, got {value!r}")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float64's range
        raise ValueError(f"{name} must be {doc}, got an integer too large for float64") \
            from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be {doc}, got {value!r}")
    return v


def all_finite(a: np.ndarray) -> bool:
    """Whether every entry of the numpy array ``a`` is finite (a few θ: without numpy's
    reductions, 0.5 against 1.5 µs)."""
    if a.size <= 48:  # (a subclass's ravel may keep two dimensions: np.matrix)
        return all(map(math.isfinite, np.asarray(a).ravel().tolist()))
    return bool(np.isfinite(a).all())


def finite(a: np.ndarray, name: str) -> np.ndarray:
    """``a``, or a ValueError naming its first NaN or infinite entry."""
    if not all_finite(a):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{name} must be finite, got {a[where]} at index {where}")
    return a


def items(values: Any, message: str) -> tuple:
    """``values``, any iterable but a string, as a tuple; else a ValueError with ``message``
    (a string would be read character by character)."""
    if isinstance(values, (str, bytes)):
        raise ValueError(message)
    try:
        return tuple(values)
    except TypeError:
        raise ValueError(message) from None


def size_pair(out_size: Any, default: tuple[int, int], name: str = "out_size") -> tuple[int, int]:
    """A (H, W) pair of positive integers, or ``default`` when None."""
    if out_size is None:
        return default
    try:
        if not isinstance(out_size, (tuple, list, np.ndarray)):  # bytes, dicts, sets: no
            raise TypeError
        h, w = out_size
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair (H, W) of positive integers, got {out_size!r}"
        ) from None
    for v in (h, w):
        if not is_count(v) or v < 1:
            raise ValueError(f"{name} must be a pair (H, W) of positive integers, got {out_size!r}")
    return int(h), int(w)


def cval_vector(cval: Any, channels: int) -> np.ndarray:
    """``cval`` as a float64 vector of one value per channel (a scalar is broadcast): real
    numbers only (None would read as NaN, a string would be parsed, a complex number lose its
    imaginary part)."""
    not_masked(cval, "cval")
    try:
        values = np.asarray(cval)
        if values.dtype.kind not in "biuf":
            raise TypeError
        values = values.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"cval must be a number or one number per channel ({channels}), got "
                        f"{cval!r}") from None
    if values.ndim == 0:
        return np.full(channels, float(values))
    if values.shape != (channels,):
        raise ValueError(
            f"cval must be a scalar or one value per channel ({channels}), "
            f"got shape {values.shape}"
        )
    return np.ascontiguousarray(values)
