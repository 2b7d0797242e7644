"""The image-level :func:`warp`: any dtype, 2-D or 3-D images or stacks, one fused sampler call.

Layout is channels-last: an image is (H, W) or (H, W, C), a stack (N, H, W) or (N, H, W, C).
θ maps normalized *output* coordinates to normalized *input* coordinates (the STN convention,
see :mod:`warpkit._coords`); :mod:`warpkit.transforms` builds θ from pixel-space maps.

On the CPU the image goes to the dtype-generic numba kernel ``backends.cpu.affine_sample``
as it is (a uint8 image is read as uint8; no float copy of the input is made), θ in float64.
Integer images go to ``backends.cpu.affine_sample_int``, which computes each output pixel in
float32 (float64 for 32/64-bit integers) and stores it rounded and clipped into the integer
output: no float image is allocated at all. Outputs under ``backends.cpu.SERIAL_PIXELS``
pixels are sampled on the calling thread alone, by the kernel's serial twin (the same row code,
the same results; waking the worker threads costs more than the work).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as V
from .backends import cpu
from .backends._cpu.store import int_range

__all__ = ["warp"]

BACKENDS = ("auto", "cpu", "cuda")
# dtypes compared with dtypes, not with scalar types, which numpy converts at every comparison
_BOOL = np.dtype(np.bool_)
_FLOAT32, _FLOAT64 = V.FLOAT_DTYPES


def _work_dtype(dtype: np.dtype) -> np.dtype:
    """Float dtype the sampler writes for an image of ``dtype``."""
    if dtype == _FLOAT64:
        return _FLOAT64
    if dtype.kind in "iu" and dtype.itemsize >= 4:
        return _FLOAT64  # float32 cannot hold every 32/64-bit integer
    return _FLOAT32


def _check_image(image: Any) -> np.ndarray:
    if V.is_cuda_array(image):
        raise TypeError(
            "warp() takes a host (numpy) image; for arrays already on the GPU use "
            "warpkit.affine_sample (float32/float64, (N, H, W, C))"
        )
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {V.describe(image)}")
    V.not_masked(image, "image")
    if image.dtype.kind not in "biuf":
        raise TypeError(
            f"image must have a boolean, integer or float dtype, got {image.dtype}"
        )
    if image.ndim not in (2, 3, 4):
        raise ValueError(
            "image must be (H, W) or (H, W, C) with theta (2, 3), or a stack (N, H, W) or "
            f"(N, H, W, C) with theta (N, 2, 3); got shape {image.shape}"
        )
    if image.size == 0:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    return image


def _plain_theta(theta: Any) -> np.ndarray:
    """θ given as anything but a plain numpy array, as one: a subclass (np.matrix) as the plain
    array it holds, a nesting of numbers as their array; masked arrays and what holds no
    numbers are refused."""
    V.not_masked(theta, "theta")
    if isinstance(theta, np.ndarray):
        return np.asarray(theta)
    try:
        array = np.asarray(theta)
    except (TypeError, ValueError):  # ragged nesting
        array = None
    if array is None or array.dtype.kind not in "iuf":  # None, strings, objects, bools
        raise TypeError(f"theta must be an array of shape (2, 3) or (N, 2, 3), got "
                        f"{V.describe(theta)}")
    return array


def _check_theta(theta: Any, image: np.ndarray) -> tuple[np.ndarray, bool]:
    """θ as a C-contiguous float64 (N, 2, 3) and whether the image is a stack."""
    if type(theta) is not np.ndarray:
        theta = _plain_theta(theta)
    if theta.dtype.kind not in "iuf":
        raise TypeError(f"theta must hold real numbers, got dtype {theta.dtype}")
    V.finite(theta, "theta")  # as warpkit.transforms refuses them
    if theta.shape == (2, 3):
        if image.ndim == 4:
            raise ValueError(
                f"a stack of shape {image.shape} needs theta of shape (N, 2, 3) = "
                f"({image.shape[0]}, 2, 3), got (2, 3)"
            )
        stack = False
        theta = theta[None]
    elif theta.ndim == 3 and theta.shape[1:] == (2, 3):
        if image.ndim == 2:
            raise ValueError(
                f"a single (H, W) image needs theta of shape (2, 3), got {theta.shape}"
            )
        stack = True
        if image.shape[0] != theta.shape[0] and image.ndim == 3:
            raise ValueError(
                f"batch sizes disagree: theta has {theta.shape[0]} samples but image has "
                f"{image.shape[0]}: with theta (N, 2, 3) a 3-D image is a stack (N, H, W) of "
                f"grey images; for one (H, W, C) image pass theta (2, 3), for a stack of "
                f"colour images shape (N, H, W, C)"
            )
        V.batch(theta.shape[0], image, "image", "theta")
    else:
        raise ValueError(f"theta must have shape (2, 3) or (N, 2, 3), got shape {theta.shape}")
    return np.ascontiguousarray(theta, dtype=_FLOAT64), stack


def _as_batch(image: np.ndarray, stack: bool, native: np.dtype) -> np.ndarray:
    """A C-contiguous (N, H, W, C) view of the image in its ``native``-order dtype (copies only
    non-contiguous or byte-swapped input: numba types native arrays only)."""
    img = np.ascontiguousarray(image, dtype=native)
    if img.dtype == _BOOL:
        img = img.view(np.uint8)
    if stack:
        return img[..., None] if img.ndim == 3 else img
    return img[None, ..., None] if img.ndim == 2 else img[None]


def _to_dtype(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round half to even, clip into ``dtype``'s range and cast (in place where possible)."""
    if dtype == out.dtype:
        return out
    if dtype.newbyteorder("=") == out.dtype:  # computed in native byte order: swap back
        return out.astype(dtype)
    if dtype == np.bool_:
        return out >= 0.5
    if dtype.kind == "f":
        return out.astype(dtype)
    lo, hi = int_range(dtype)
    np.rint(out, out=out)
    np.clip(out, lo, hi, out=out)
    return out.astype(dtype)


def warp(
    image: np.ndarray,
    theta: Any,
    *,
    output_shape: Any = None,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    cval: Any = 0.0,
    align_corners: bool = False,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Warp an image (or a stack) by the affine map θ with one fused sampler call.

    Parameters
    ----------
    image : ndarray
        (H, W) or (H, W, C) with ``theta`` of shape (2, 3), or a stack (N, H, W) or
        (N, H, W, C) with ``theta`` of shape (N, 2, 3). Channels-last. Any bool, integer or
        float dtype.
    theta : array_like, shape (2, 3) or (N, 2, 3)
        Normalized output -> input map, ``[x_s, y_s] = θ · [x_t, y_t, 1]`` (x = column,
        y = row; see :mod:`warpkit._coords`). Build it in pixels with
        :mod:`warpkit.transforms`. Used in float64.
    output_shape : (Ho, Wo), optional
        Output height and width; defaults to the input's (H, W).
    mode : {"bilinear", "nearest"}
        Interpolation; nearest rounds half to even. Boolean images always use nearest.
    padding_mode : {"zeros", "border", "reflection", "constant", "wrap"}
        What is read outside the image: 0, the edge pixel, the mirror image (about the
        outer pixel edges with ``align_corners=False``, about the corner pixel centres with
        True), ``cval``, or the periodic continuation.
    cval : float or sequence of C floats
        Fill value for ``padding_mode="constant"``, in the image's value range (integer images
        round and clip it as their pixels; NaN only for float images).
    align_corners : bool
        Normalized-coordinate convention, as in PyTorch.
    backend : {"auto", "cpu", "cuda"}
        ``"auto"`` is the CPU for numpy images; ``"cuda"`` copies the image to the GPU in
        the float dtype it is computed in (see Returns) and the result back.
    out : ndarray, optional
        Where to write the result instead of a new array: the result's shape and dtype (no
        casting), C-contiguous, writeable, sharing no memory with ``image``. The CPU writes
        native float32, float64 and integer images into it directly; the other dtypes (bool,
        float16, big-endian) and the CUDA backend compute a result and copy it in. Reusing
        one array saves the page faults of new memory at every call (see the README).

    Returns
    -------
    ndarray
        Shape (Ho, Wo), (Ho, Wo, C), (N, Ho, Wo) or (N, Ho, Wo, C) (the input's rank), dtype
        of the input (``out`` itself when given). float32/float64 are returned as computed;
        other float dtypes go through float32; integer images are computed in float32
        (float64 for 32/64-bit integers), rounded half to even and clipped to the dtype's
        range. So 64-bit integers beyond 2**53 come back rounded to float64's precision,
        even with ``mode="nearest"`` and an identity θ. Big-endian images (FITS, some TIFFs)
        are computed as their native-order dtype and returned big-endian.

    Raises
    ------
    TypeError
        For a non-numpy image, an unsupported dtype, a non-numeric θ or an ``out`` of another
        dtype.
    ValueError
        For shapes that do not match, a θ holding ±inf or NaN, an unknown
        mode/padding/backend, a bad ``cval`` or an ``out`` that is not contiguous, is
        read-only or shares memory with the image.
    """
    image = _check_image(image)
    theta64, stack = _check_theta(theta, image)
    mode_code = V.mode_code(mode)
    pad_code = V.padding_code(padding_mode)
    ac = V.flag(align_corners, "align_corners")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    dtype = image.dtype
    # what the kernels compute in (numba types native byte order only); the output gets dtype
    native = dtype if dtype.isnative else dtype.newbyteorder("=")
    if native == _BOOL:
        mode_code = V.mode_code("nearest")
    batch = _as_batch(image, stack, native)
    N, H, W, C = batch.shape
    Ho, Wo = V.size_pair(output_shape, (H, W), "output_shape")
    if padding_mode == "constant":
        cv = V.cval_vector(cval, C)
        if native.kind in "biu" and np.isnan(cv).any():
            raise ValueError(f"cval must not be NaN for a {dtype} image (its pixels cannot "
                             f"hold NaN), got {cval!r}")
    else:
        cv = np.zeros(C)
    shape = _result_shape(image.ndim, stack, N, Ho, Wo, C)
    if out is not None:
        V.out_array(out, shape, dtype, (("image", image),), host_only=True)
    # the kernels write straight into out when they compute the image's own dtype
    direct = out is not None and backend != "cuda" and native == dtype and (
        native in V.FLOAT_DTYPES or native.kind in "iu")
    target = out.view(np.ndarray).reshape(N, Ho, Wo, C) if direct else None

    if backend == "cuda":
        from .ops import affine_sample

        work = _work_dtype(native)  # as on the CPU: float64 for float64 and wide integers
        result = affine_sample(
            batch.astype(work),
            theta64.astype(work),
            (Ho, Wo),
            mode="nearest" if mode_code == 1 else "bilinear",
            padding_mode=padding_mode,
            align_corners=ac,
            cval=cv,
            backend="cuda",
        )
    else:
        if native.kind == "f" and native not in V.FLOAT_DTYPES:
            batch = batch.astype(_FLOAT32)
        if native.kind in "iu":  # rounded and clipped row by row inside the kernel
            result = np.empty((N, Ho, Wo, C), dtype=native) if target is None else target
            work = np.empty(0, dtype=_work_dtype(native))
            cpu.call(cpu.affine_sample_int, N * Ho * Wo, batch, theta64, result, mode_code,
                     pad_code, ac, cv, work)
        else:
            result = target
            if result is None:
                result = np.empty((N, Ho, Wo, C), dtype=_work_dtype(batch.dtype))
            cpu.call(cpu.affine_sample, N * Ho * Wo, batch, theta64, result, mode_code,
                     pad_code, ac, cv)
    if direct:
        return out
    result = _to_dtype(result, dtype).reshape(shape)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def _result_shape(ndim: int, stack: bool, N: int, Ho: int, Wo: int, C: int) -> tuple:
    """The shape :func:`warp` returns for an image of ``ndim`` dimensions (a stack or not):
    the input's rank, with (Ho, Wo) in place of (H, W)."""
    if stack:
        return (N, Ho, Wo, C) if ndim == 4 else (N, Ho, Wo)
    return (Ho, Wo, C) if ndim == 3 else (Ho, Wo)
