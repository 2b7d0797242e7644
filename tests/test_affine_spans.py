"""The column spans of the fused affine rows (``classify._where``, ``classify._affine_spans``).

An affine row is cut into columns strictly inside the image's last column and row (offsets
and weights without tests; no padding mode changes them), with zeros or constant padding
columns entirely outside it (filled with cval at once), and the few in between. The spans
are found from the exact solution of a·j + r = level and then checked against the computed
coordinates; here they are compared with a per-column test of the coordinates, computed as
the classify pass computes them, and the sampler that uses them with the loop reference, for
zooms out (where an interior pixel can sit next to an outside one) as well as in.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit

import warpkit as wk
from warpkit.backends._cpu import classify, forward
from warpkit.backends._simd import muladd

FINITE = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
#: 5e-324 (the least subnormal) has an infinite reciprocal, the spans' estimate then 0·inf = NaN
COEFF = st.one_of(FINITE, st.floats(-4.0, 4.0),
                  st.sampled_from([0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, -5e-324]))


@njit
def _coords(ax, rx, ay, ry, n):
    """The row's coordinates as the classify pass computes them (``muladd``, vectorised)."""
    ix = np.empty(n)
    iy = np.empty(n)
    for j in range(n):
        jf = 1.0 * np.int32(j)
        ix[j] = muladd(ax, jf, rx)
        iy[j] = muladd(ay, jf, ry)
    return ix, iy


@njit
def _where(a, r, level, strict, want, n):
    return classify._where(a, 1.0 / a if a != 0.0 else 0.0, r, level, strict, want, n)


@njit
def _spans(ax, rx, ay, ry, W, H, n, fills):
    return classify._affine_spans(ax, rx, ay, ry, W, H, n, fills)


@settings(max_examples=300, deadline=None)
@given(a=COEFF, r=COEFF, level=st.one_of(FINITE, st.sampled_from([-1.0, 0.0, 3.0, 7.0])),
       strict=st.booleans(), want=st.booleans(), n=st.integers(0, 300))
# 3·(1/3) - 1 is 0 with a rounded product and -2**-54 fused: the spans once computed it
# unfused while the pixels' coordinates were fused
@example(a=1 / 3, r=-1.0, level=-2.6e-297, strict=False, want=False, n=4)
@example(a=1 / 3, r=-1.0, level=0.0, strict=True, want=True, n=4)
@example(a=5e-324, r=0.0, level=0.0, strict=False, want=True, n=4)  # (0 - 0)·inf
@example(a=-5e-324, r=0.0, level=0.0, strict=True, want=True, n=300)
def test_where_matches_a_test_per_column(a, r, level, strict, want, n):
    j0, j1 = _where(a, r, level, strict, want, n)
    v, _ = _coords(a, r, 0.0, 0.0, n)
    below = v < level if strict else v <= level
    expected = np.flatnonzero(below == want)
    assert 0 <= j0 <= j1 <= n
    np.testing.assert_array_equal(np.arange(j0, j1), expected)


@settings(max_examples=300, deadline=None)
@given(ax=COEFF, rx=COEFF, ay=COEFF, ry=COEFF, W=st.integers(1, 40), H=st.integers(1, 40),
       n=st.integers(1, 300), fills=st.booleans())
@example(ax=-5e-324, rx=0.0, ay=0.0, ry=0.5, W=4, H=4, n=9, fills=True)  # (0 - 0)·(-inf)
def test_affine_spans_match_a_test_per_column(ax, rx, ay, ry, W, H, n, fills):
    A, b, c, B = _spans(ax, rx, ay, ry, W, H, n, fills)
    assert 0 <= A <= b <= c <= B <= n
    ix, iy = _coords(ax, rx, ay, ry, n)
    outside = (ix < -1) | (ix >= W) | (iy < -1) | (iy >= H)
    inside = (ix >= 0) & (ix < W - 1) & (iy >= 0) & (iy < H - 1)
    cols = np.arange(n)
    # only zeros and constant padding fill: the other modes have no outside columns
    np.testing.assert_array_equal((cols < A) | (cols >= B), outside & fills)
    np.testing.assert_array_equal((cols >= b) & (cols < c), inside)


def _theta(scale, degrees, tx=0.0, ty=0.0, shear=0.0):
    a = np.radians(degrees)
    m = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    m = m @ np.array([[1.0, shear], [0.0, 1.0]])
    return np.concatenate([m, [[tx], [ty]]], axis=1)[None]


#: Output width of the sampler tests: rows this wide are cut into spans (narrower ones are not).
WIDE = forward.SPAN_COLUMNS + 13

CASES = [  # (scale, degrees, tx, ty, shear): zooms out put interior pixels next to outside ones
    (2.5, 0.0, 0.0, 0.0, 0.0),
    (3.0, 17.0, 0.3, -0.2, 0.0),
    (1.7, -40.0, -0.5, 0.4, 0.3),
    (0.6, 30.0, 0.1, 0.0, 0.0),
    (4.0, 90.0, 0.0, 0.0, 0.0),
]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("C", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", ["zeros", "constant", "border", "reflection"])
def test_fused_rows_match_the_reference(case, C, dtype, pad):
    rng = np.random.default_rng(C)
    x = rng.standard_normal((1, 23, 31, C)).astype(dtype)
    theta = _theta(*case).astype(dtype)
    cval = rng.uniform(3, 5, size=C) if pad == "constant" else 0.0
    kw = dict(padding_mode=pad, cval=cval)
    size = (29, WIDE)
    out = np.full((1, *size, C), np.nan, dtype)  # every pixel must be written
    wk.affine_sample(x, theta, size, out=out, **kw)
    ref = R.affine_sample(x, theta, size, "bilinear", pad, False, cval)
    np.testing.assert_allclose(out, ref, **R.tolerances(dtype))


@settings(max_examples=80, deadline=None)
@given(scale=st.floats(0.3, 3.0), degrees=st.floats(-180.0, 180.0), tx=st.floats(-1.5, 1.5),
       ty=st.floats(-1.5, 1.5), C=st.sampled_from([1, 3]),
       pad=st.sampled_from(["zeros", "constant"]))
# one column entirely outside, on the left, then on the right: a fill of one value
@example(scale=1.0, degrees=0.0, tx=-0.0357, ty=0.0, C=1, pad="zeros")
@example(scale=1.0, degrees=0.0, tx=0.0357, ty=0.0, C=1, pad="constant")
def test_every_column_of_fused_rows_is_written(scale, degrees, tx, ty, C, pad):
    """Any turn, zoom and shift: the columns outside, around and inside the interior span, each
    from one column to the whole row, all get the reference's values (an output full of NaN
    keeps any column that no pass writes)."""
    rng = np.random.default_rng(C)
    x = rng.standard_normal((1, 19, 41, C)).astype(np.float32)
    theta = _theta(scale, degrees, tx, ty, 0.0).astype(np.float32)
    cval = 0.0 if pad == "zeros" else rng.uniform(3, 5, size=C)
    size = (7, WIDE)
    out = np.full((1, *size, C), np.nan, np.float32)
    wk.affine_sample(x, theta, size, padding_mode=pad, cval=cval, out=out)
    ref = R.affine_sample(x, theta, size, "bilinear", pad, False, cval)
    np.testing.assert_allclose(out, ref, **R.tolerances(np.float32))


@pytest.mark.parametrize("case", CASES)
def test_fused_rows_of_integer_images_match_the_reference(case):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(23, WIDE, 3), dtype=np.uint8)
    theta = _theta(*case)
    out = wk.warp(img, theta[0], padding_mode="constant", cval=(200, 100, 50))
    ref = R.affine_sample(img[None].astype(np.float64), theta, (23, WIDE), "bilinear",
                          "constant", False, np.array([200.0, 100.0, 50.0]))[0]
    assert out.dtype == np.uint8
    assert np.max(np.abs(out.astype(np.float64) - np.clip(np.round(ref), 0, 255))) <= 1


@njit
def _interior_and_level(ax, rx, ry, W, H, C, n, dtype_probe):
    """The offsets and weights of the interior columns of an affine row with ay = 0, from
    ``_classify_interior`` and from ``_classify_level``."""
    _, b, c, _ = classify._affine_spans(ax, rx, 0.0, ry, W, H, n, False)
    offs = np.zeros(n, np.int64)
    wts = np.zeros((4, n), dtype_probe.dtype)
    classify._classify_interior(W, H, C, offs, wts, b, c, ax, rx, 0.0, ry)
    level_offs = np.zeros(n, np.int64)
    level_wts = np.zeros((4, n), dtype_probe.dtype)
    classify._classify_level(W, H, C, level_offs, level_wts, b, c, ax, rx, ry)
    return b, c, offs, wts, level_offs, level_wts


@settings(max_examples=200, deadline=None)
@given(ax=COEFF, rx=COEFF, ry=COEFF, W=st.integers(2, 40), H=st.integers(2, 40),
       C=st.sampled_from([1, 3, 4]), n=st.integers(1, 300),
       dtype=st.sampled_from([np.float32, np.float64]))
@example(ax=0.5, rx=-0.0, ry=-0.0, W=9, H=9, C=1, n=20, dtype=np.float32)
def test_level_rows_get_the_interior_offsets_and_weights(ax, rx, ry, W, H, C, n, dtype):
    """A row at one height (a map without rotation or shear) computes its y part once: the
    same offsets and weights, to the bit, as the interior pass computes."""
    b, c, offs, wts, level_offs, level_wts = _interior_and_level(
        ax, rx, ry, W, H, C, n, np.zeros(0, dtype))
    np.testing.assert_array_equal(level_offs[b:c], offs[b:c])
    np.testing.assert_array_equal(level_wts[:, b:c], wts[:, b:c])


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 3, 4])
def test_axis_aligned_stacks_match_the_reference(dtype, C):
    """Rows at one height: zooms in and out, shifts, flips, and a turn between them. Zoomed out
    by 1.9 and 2.06, 8 pixels' cells span 14 or 15 columns, the most and one more than one-channel
    float32 rows pick from windows of 16 values (``_simd.lerp8_window``); by 1.1 and 1.15, 8 or
    9 columns, the most RGB windows of 32 values hold (``_simd.lerp8c_window``), and by 0.85 and
    0.87, 6 or 7 columns, the most RGBA ones hold."""
    rng = np.random.default_rng(C)
    H, W = 21, WIDE
    x = rng.uniform(0, 255, (12, H, W, C))
    x = x.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(x).astype(dtype)
    base = [[0.47, 0.0, 0.013], [0.0, 0.61, -0.021]]
    thetas = np.array([base, base, [[0.47, 0.0, 0.3], [0.0, 0.61, -0.021]],
                       [[-0.8, 0.0, 0.013], [0.0, 0.61, 0.4]], _theta(0.7, 25.0)[0], base,
                       [[1.9, 0.0, 0.013], [0.0, 0.61, -0.021]],
                       [[-2.06, 0.0, 0.013], [0.0, 0.61, 0.1]],
                       [[1.1, 0.0, 0.013], [0.0, 0.61, -0.021]],
                       [[-1.15, 0.0, 0.013], [0.0, 0.61, 0.1]],
                       [[0.85, 0.0, 0.013], [0.0, 0.61, -0.021]],
                       [[-0.87, 0.0, 0.013], [0.0, 0.61, 0.1]]])
    out = wk.warp(x, thetas, output_shape=(H, W), padding_mode="border")
    ref = R.affine_sample(x.astype(np.float64), thetas, (H, W), "bilinear", "border", False, 0.0)
    if np.dtype(dtype).kind == "f":
        np.testing.assert_allclose(out, ref, **R.tolerances(dtype))
    else:
        assert np.max(np.abs(out.astype(np.float64) - np.clip(np.round(ref), 0, 255))) <= 1
