"""The integer kernel (``cpu.affine_sample_int``, behind ``warp`` for integer images) computes
each pixel as the float kernel does, in float32 (float64 for 32/64-bit integers), and stores it
rounded half to even and clipped to its dtype (NaN, only from a NaN cval, as 0), for every
mode, padding and channel count, with and without the 4-lane rounding step."""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
from hypothesis import given, settings
from hypothesis import strategies as st

from warpkit import _validate as V
from warpkit import testing
from warpkit.backends import cpu
from warpkit.backends._cpu.forward import SPAN_COLUMNS
from warpkit.backends._cpu.store import int_range
from warpkit.warp import _work_dtype

DTYPES = [np.uint8, np.int16, np.int64]  # the 4-lane step unsigned and signed; float64 work
CVALS = st.sampled_from([0.0, -0.0, 2.5, 3.5, -7.5, 1e12, -1e12, np.nan])


def _rounded(f: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The float kernel's output as the integer kernel must store it (numpy, in f's dtype)."""
    lo, hi = (f.dtype.type(v) for v in int_range(dtype))
    return np.rint(np.clip(np.where(np.isnan(f), 0, f), lo, hi)).astype(dtype)


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from(DTYPES), opts=testing.sampling_options(), data=st.data(),
       size=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 300),
                      st.integers(1, 5)))
def test_integer_kernel_stores_the_float_kernel_rounded(dtype, opts, data, size):
    dtype = np.dtype(dtype)
    ho, wo, c = size[1:]
    x = data.draw(testing.images((size[0], 7, 9, c), dtype))
    # near-identity maps keep most pixels inside (the 4-lane step); random ones reach the edges
    theta = data.draw(st.one_of(testing.thetas(size[0]),
                                testing.thetas(size[0], max_scale=0.01, max_translation=0.01)
                                .map(lambda t: t + np.array([[0.9, -0.3, 0], [0.3, 0.9, 0]]))))
    cval = np.array(data.draw(st.lists(CVALS, min_size=c, max_size=c)))
    codes = (V.mode_code(opts["mode"]), V.padding_code(opts["padding_mode"]),
             opts["align_corners"])
    work = np.empty(0, _work_dtype(dtype))
    f = np.empty((size[0], ho, wo, c), work.dtype)
    cpu.affine_sample(x, theta, f, *codes, cval)
    got = np.full((size[0], ho, wo, c), 7, dtype)
    cpu.affine_sample_int(x, theta, got, *codes, cval, work)
    np.testing.assert_array_equal(got, _rounded(f, dtype))


def test_half_integers_round_to_even_beyond_two_to_the_51():
    """float64 has halves up to 2**52: between 2**51 and 2**52 they must still round to even
    (a magic-number rounding that took everything above 2**51 as an integer truncated them)."""
    x = np.array([2**51 + 1, 2**51 + 2, 2**51 + 3], np.int64).reshape(1, 1, 3, 1)
    # output pixels 0 and 1 read half way between input pixels 0 and 1, 1 and 2 (align_corners)
    theta = np.array([[[0.5, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    got = np.empty((1, 1, 2, 1), np.int64)
    cpu.affine_sample_int(x, theta, got, 0, 0, True, np.zeros(1), np.empty(0))
    assert got[0, 0, :, 0].tolist() == [2**51 + 2, 2**51 + 2]  # 2**51 + 1.5 and + 2.5: to even


@pytest.mark.parametrize("wo", [SPAN_COLUMNS + 16, 40])
@pytest.mark.parametrize("c", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
@pytest.mark.parametrize("case", ["whole rows inside", "rotated", "last cell"])
def test_interior_spans_store_the_float_kernel_rounded(case, dtype, c, wo):
    """Rows wide enough to be cut into spans (``SPAN_COLUMNS``), whose strictly interior
    pixels take the integer images' span gather: spans that end their row, spans between edge
    and fill pixels, and a span through the last cell of the last image (where the 4-lane step
    would read past the array); and narrow rows, gathered a group of rows at a time in blocks
    of 8 pixels where all 8 lie inside (``lerp8c``), the other blocks pixel by pixel."""
    rng = np.random.default_rng(7)
    n, H, W, ho = 2, 30, 40, 12
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, (n, H, W, c), endpoint=True).astype(dtype)
    if case == "whole rows inside":  # zoomed in: every pixel strictly inside
        theta = np.array([[0.5, 0.0, 0.1], [0.0, 0.5, -0.1]])
    elif case == "rotated":
        a = np.radians(30.0)
        theta = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]]) / 0.9
    else:  # the bottom rows of the image, up to its last column
        theta = np.array([[1.0, 0.0, 0.0], [0.0, 0.05, 0.93]])
    theta = np.repeat(theta[None], n, axis=0)
    grid = R.affine_grid(theta, (n, ho, wo))
    ix, iy = R.unnormalize(grid[..., 0], W, False)[0], R.unnormalize(grid[..., 1], H, False)[0]
    inside = (ix >= 0) & (ix < W - 1) & (iy >= 0) & (iy < H - 1)
    assert inside.sum(axis=-1).max() >= wo // 2  # long interior spans
    if case == "last cell":
        assert (inside & (ix >= W - 2) & (iy >= H - 2))[-1].any()
    codes = (V.mode_code("bilinear"), V.padding_code("zeros"), False)
    cval = np.full(c, 3.0)
    work = np.empty(0, _work_dtype(np.dtype(dtype)))
    f = np.empty((n, ho, wo, c), work.dtype)
    cpu.affine_sample(x, theta, f, *codes, cval)
    got = np.full((n, ho, wo, c), 7, dtype)
    cpu.affine_sample_int(x, theta, got, *codes, cval, work)
    np.testing.assert_array_equal(got, _rounded(f, np.dtype(dtype)))
