"""How a computed value is stored into the output: as it is for a float output, rounded half to
even and clipped for an integer one (:func:`_store`)."""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype


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

    def put_rounded(oflat, k, v, wts):
        x = work(v)
        # clipped (fmin and fmax take ±inf to the ends) and NaN times 0, without branches:
        # the conditional expressions this was written with, inlined here, made numba warn
        # (NumbaIRAssumptionWarning, a dozen at the first warp of a 64-bit integer image)
        oflat[k] = np.rint((x == x) * np.fmax(np.fmin(x, hi), lo))

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
