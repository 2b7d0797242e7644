"""warpkit.warp against scikit-image and OpenCV, np.rot90, dtypes, stacks and errors."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import AffineTransform
from skimage.transform import rotate as sk_rotate
from skimage.transform import warp as sk_warp

from warpkit import transforms as T
from warpkit.warp import warp

# warpkit padding -> (scikit-image mode, cval)
SK_MODES = {
    "zeros": ("constant", 0.0),
    "border": ("edge", 0.0),
    "reflection": ("symmetric", 0.0),
    "wrap": ("wrap", 0.0),
    "constant": ("constant", 0.7),
}

# an output -> input pixel map with "irrational" entries (no exact nearest-neighbour ties),
# reaching outside the image so that every padding mode matters
M_INV = np.array(
    [[0.8 * np.cos(0.5), -0.8 * np.sin(0.5) * 1.1, 3.1 * np.sqrt(2)],
     [0.9 * np.sin(0.5), 0.85 * np.cos(0.5), -4.0 * np.sqrt(3)],
     [0.0, 0.0, 1.0]]
)


def _image(h, w, c=3, seed=0):
    return np.random.default_rng(seed).random((h, w, c))


def _smooth(h, w, c=3):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = [np.sin(0.21 * x + 0.13 * y + k) + np.cos(0.17 * y - 0.05 * x * k) for k in range(c)]
    return np.stack(chans, axis=-1)


def _source_coords(m, out_shape):
    i, j = np.mgrid[0 : out_shape[0], 0 : out_shape[1]].astype(np.float64)
    return m[0, 0] * j + m[0, 1] * i + m[0, 2], m[1, 0] * j + m[1, 1] * i + m[1, 2]


# --------------------------------------------------------------------------- scikit-image
@pytest.mark.parametrize("padding", list(SK_MODES))
@pytest.mark.parametrize("in_shape,out_shape", [((13, 21), (17, 11)), ((20, 9), (9, 25))])
def test_bilinear_equals_skimage_warp(padding, in_shape, out_shape):
    img = _image(*in_shape)
    sk_mode, cval = SK_MODES[padding]
    expected = sk_warp(img, AffineTransform(matrix=M_INV), output_shape=out_shape, order=1,
                       mode=sk_mode, cval=cval, preserve_range=True)
    theta = T.from_matrix(M_INV, in_shape, out_shape)
    got = warp(img, theta, output_shape=out_shape, padding_mode=padding, cval=cval)
    assert got.shape == out_shape + (3,) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # the gray version agrees too and keeps rank 2
    got2 = warp(img[..., 1], theta, output_shape=out_shape, padding_mode=padding, cval=cval)
    np.testing.assert_allclose(got2, expected[..., 1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("padding", list(SK_MODES))
def test_nearest_equals_skimage_order0_away_from_ties(padding):
    in_shape, out_shape = (15, 22), (19, 12)
    img = _image(*in_shape)
    sk_mode, cval = SK_MODES[padding]
    expected = sk_warp(img, AffineTransform(matrix=M_INV), output_shape=out_shape, order=0,
                       mode=sk_mode, cval=cval, preserve_range=True)
    theta = T.from_matrix(M_INV, in_shape, out_shape)
    got = warp(img, theta, output_shape=out_shape, mode="nearest", padding_mode=padding,
               cval=cval)
    xs, ys = _source_coords(M_INV, out_shape)
    tie = (np.abs(xs - np.floor(xs) - 0.5) < 1e-6) | (np.abs(ys - np.floor(ys) - 0.5) < 1e-6)
    assert tie.mean() < 0.05
    np.testing.assert_array_equal(got[~tie], expected[~tie])


def test_rotate_equals_skimage_rotate_on_non_square_image():
    img = _image(24, 37)
    for angle in (30.0, -112.0):
        expected = sk_rotate(img, angle, order=1, preserve_range=True)
        got = warp(img, T.rotate(angle, img.shape))
        np.testing.assert_allclose(got, expected, atol=1e-9)


# --------------------------------------------------------------------------- np.rot90
@pytest.mark.parametrize("shape", [(6, 6), (5, 8), (9, 4, 3)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
@pytest.mark.parametrize("align_corners", [False, True])
def test_rotate_90_is_exactly_rot90(shape, mode, dtype, align_corners):
    img = (np.arange(np.prod(shape)).reshape(shape) * 7 % 251).astype(dtype)
    h, w = shape[:2]
    for k, angle in ((1, 90), (2, 180), (3, -90)):
        out_hw = (w, h) if k % 2 else (h, w)
        theta = T.rotate(angle, shape, output_shape=out_hw, align_corners=align_corners)
        got = warp(img, theta, output_shape=out_hw, mode=mode, align_corners=align_corners)
        np.testing.assert_array_equal(got, np.rot90(img, k))
        assert got.dtype == img.dtype


# --------------------------------------------------------------------------- OpenCV
CV_BORDERS = {"zeros": "BORDER_CONSTANT", "border": "BORDER_REPLICATE",
              "reflection": "BORDER_REFLECT", "wrap": "BORDER_WRAP"}


@pytest.mark.parametrize("padding", list(CV_BORDERS) + ["constant"])
def test_matches_opencv_warp_affine(padding):
    cv2 = pytest.importorskip("cv2")
    in_shape, out_shape = (40, 57), (45, 33)
    img = _smooth(*in_shape).astype(np.float32)
    fwd = cv2.getRotationMatrix2D((20.0, 17.0), 23.0, 1.3)
    fwd[:, 2] += (-9.0, 6.0)
    border = getattr(cv2, CV_BORDERS.get(padding, "BORDER_CONSTANT"))
    cval = 0.5 if padding == "constant" else 0.0
    expected = cv2.warpAffine(img, fwd, (out_shape[1], out_shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=border, borderValue=(cval,) * 3)
    got = warp(img, T.from_opencv(fwd, in_shape, out_shape), output_shape=out_shape,
               padding_mode=padding, cval=cval)
    # OpenCV rounds source positions to 1/32 pixel: error <= |gradient| * sqrt(2) / 64
    slope = 0.21 + 0.17 + 0.13 + 0.1  # bound on |d/dx| + |d/dy| of _smooth
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=slope / 32)
    assert np.abs(got - expected).mean() < slope / 200


def test_uint8_matches_opencv_warp_affine():
    cv2 = pytest.importorskip("cv2")
    img = np.clip(np.rint(60 * _smooth(50, 64) + 128), 0, 255).astype(np.uint8)
    fwd = cv2.getRotationMatrix2D((31.5, 24.5), -41.0, 0.9)
    expected = cv2.warpAffine(img, fwd, (64, 50), flags=cv2.INTER_LINEAR)
    got = warp(img, T.from_opencv(fwd, img.shape))
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - expected).max() <= 2


# --------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("shape", [(14, 19, 2), (14, 19), (9, 150)])  # grey: edges 8 at a time
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_integer_images_round_and_clip_like_the_float_reference(dtype, shape):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(3)
    img = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    cval = float(info.max) + 1000.0  # outside the range: must be clipped
    ref = sk_warp(img.astype(np.float64), AffineTransform(matrix=M_INV), order=1,
                  mode="constant", cval=cval, preserve_range=True, clip=False)
    expected = np.clip(np.rint(ref), info.min, info.max)
    got = warp(img, T.from_matrix(M_INV, img.shape), padding_mode="constant", cval=cval)
    assert got.dtype == dtype and got.shape == img.shape
    # float32 arithmetic may flip a rounding within float32 precision of .5
    near_half = np.abs(ref - np.floor(ref) - 0.5) < 1e-6 * (np.abs(ref) + 1)
    np.testing.assert_array_equal(got[~near_half], expected[~near_half])
    assert np.any(got == info.max)


def test_bool_images_use_nearest():
    img = _image(12, 15, 1)[..., 0] > 0.5
    theta = T.from_matrix(M_INV, img.shape)
    got = warp(img, theta)  # default mode is bilinear: bool must still use nearest
    ref = sk_warp(img.astype(np.float64), AffineTransform(matrix=M_INV), order=0,
                  preserve_range=True)
    assert got.dtype == np.bool_
    xs, ys = _source_coords(M_INV, img.shape)
    tie = (np.abs(xs - np.floor(xs) - 0.5) < 1e-6) | (np.abs(ys - np.floor(ys) - 0.5) < 1e-6)
    np.testing.assert_array_equal(got[~tie], ref[~tie] > 0.5)


def test_float_dtypes_come_back_as_they_went_in():
    img = _image(9, 11)
    theta = T.rotate(17, img.shape)
    ref = warp(img, theta)
    for dtype, tol in ((np.float32, 1e-6), (np.float16, 2e-3)):
        got = warp(img.astype(dtype), theta)
        assert got.dtype == dtype
        np.testing.assert_allclose(got.astype(np.float64), ref, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16, np.int16, np.int32])
def test_big_endian_images_warp_as_their_native_twins(dtype):
    # FITS files and some TIFFs hold big-endian pixels; numba types native ones only
    rng = np.random.default_rng(0)
    img = (rng.random((9, 11, 2)) * 3000).astype(dtype)
    theta = T.rotate(17, img.shape)
    want = warp(img, theta)
    got = warp(img.astype(img.dtype.newbyteorder(">")), theta)
    assert got.dtype == img.dtype.newbyteorder(">")
    np.testing.assert_array_equal(got, want)  # float64 stays float64 (no float32 detour)


def test_uint8_input_is_not_copied_to_float():
    img = (np.arange(700 * 700 * 3) % 256).astype(np.uint8).reshape(700, 700, 3)
    theta = T.rotate(10, img.shape)
    warp(img[:8, :8], theta, output_shape=(4, 4))  # compile/load outside the measurement
    tracemalloc.start()
    try:
        warp(img, theta, output_shape=(16, 16))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < img.nbytes // 4  # a float32 copy would be 4 * img.nbytes


def test_non_contiguous_input():
    img = _image(20, 30)
    view = img[::2, 1::3]
    theta = T.rotate(33, view.shape)
    np.testing.assert_array_equal(warp(view, theta), warp(np.ascontiguousarray(view), theta))


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_theta_as_a_matrix_subclass_is_the_array_it_holds():
    """np.matrix ravels to two dimensions: the finiteness check once failed on it."""
    img = _image(20, 30)
    theta = T.rotate(33, img.shape)
    np.testing.assert_array_equal(warp(img, np.matrix(theta)), warp(img, theta))


# --------------------------------------------------------------------------- stacks
@pytest.mark.parametrize("channels", [None, 2])
def test_stack_equals_per_image_warps(channels):
    shape = (3, 10, 13) + (() if channels is None else (channels,))
    imgs = np.random.default_rng(1).random(shape).astype(np.float32)
    thetas = np.stack([T.rotate(a, shape[1:3], scale=1.1) for a in (0, 40, -95)])
    got = warp(imgs, thetas, output_shape=(8, 15), padding_mode="reflection")
    assert got.shape == (3, 8, 15) + shape[3:]
    for n in range(3):
        np.testing.assert_array_equal(
            got[n], warp(imgs[n], thetas[n], output_shape=(8, 15), padding_mode="reflection")
        )


# --------------------------------------------------------------------------- flags
@settings(max_examples=25, deadline=None)
@given(
    st.tuples(st.integers(2, 12), st.integers(2, 12)),
    st.tuples(st.integers(2, 12), st.integers(2, 12)),
    st.floats(-180, 180),
    st.floats(0.5, 2.0),
    st.sampled_from(["zeros", "border", "wrap", "constant"]),
)
def test_same_pixels_for_both_align_corners_flags(in_shape, out_shape, angle, s, padding):
    img = _image(*in_shape, c=2, seed=5)
    out = []
    for ac in (False, True):
        theta = T.rotate(angle, in_shape, scale=s, output_shape=out_shape, align_corners=ac)
        out.append(warp(img, theta, output_shape=out_shape, padding_mode=padding, cval=0.3,
                        align_corners=ac))
    np.testing.assert_allclose(out[0], out[1], atol=1e-9)


def test_compose_warps_in_sequence():
    img = _image(7, 10)
    a = T.rotate(90, img.shape, output_shape=(10, 7))
    b = T.translate(2, -1, (10, 7))
    two_steps = warp(warp(img, a, output_shape=(10, 7), mode="nearest"), b, mode="nearest")
    one_step = warp(img, T.compose(a, b), output_shape=(10, 7), mode="nearest")
    np.testing.assert_array_equal(one_step, two_steps)
    expected = np.zeros_like(two_steps)
    expected[:-1, 2:] = np.rot90(img)[1:, :-2]
    np.testing.assert_array_equal(one_step, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.bool_])
def test_nan_cval_is_refused_for_images_that_cannot_hold_it(dtype):
    img = np.ones((4, 5, 2), dtype)
    with pytest.raises(ValueError, match=f"cval must not be NaN for a {np.dtype(dtype)} image"):
        warp(img, np.eye(2, 3), padding_mode="constant", cval=[0.0, float("nan")])
    out = warp(img.astype(np.float32), np.eye(2, 3) * 2, padding_mode="constant", cval=np.nan)
    assert np.isnan(out).any()  # float images may be filled with NaN


def test_per_channel_cval():
    img = _image(5, 6)
    got = warp(img, T.translate(100, 0, img.shape), padding_mode="constant", cval=[1, 2, 3])
    np.testing.assert_array_equal(got, np.broadcast_to([1.0, 2.0, 3.0], img.shape))


def test_cuda_backend_matches_cpu():
    pytest.importorskip("warpkit.backends.cuda")
    img = (_image(5, 7) * 255).astype(np.uint8)
    theta = T.rotate(25, img.shape)
    np.testing.assert_array_equal(warp(img, theta, backend="cuda"), warp(img, theta))
    out = np.full_like(img, 7)
    assert warp(img, theta, backend="cuda", out=out) is out  # computed on the device, copied in
    np.testing.assert_array_equal(out, warp(img, theta))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(image=[[1.0]]), TypeError, "numpy array"),
        (dict(image=np.zeros((4, 4), complex)), TypeError, "dtype"),
        (dict(image=np.zeros(4)), ValueError, r"\(H, W\)"),
        (dict(image=np.zeros((0, 4))), ValueError, "empty"),
        (dict(theta=np.eye(3)), ValueError, r"\(2, 3\) or \(N, 2, 3\)"),
        (dict(theta="abc"), TypeError, "theta"),
        (dict(theta=None), TypeError, r"theta must be an array .* got NoneType"),
        (dict(theta=[[True, False, False], [False, True, False]]), TypeError, "got list"),
        (dict(image=np.zeros((2, 4, 4, 1)), theta=np.zeros((2, 3))), ValueError, r"\(N, 2, 3\)"),
        (dict(image=np.zeros((4, 4)), theta=np.zeros((1, 2, 3))), ValueError, r"\(2, 3\)"),
        (dict(image=np.zeros((3, 4, 4)), theta=np.zeros((2, 2, 3))), ValueError, "batch"),
        (dict(mode="cubic"), ValueError, "mode must be one of"),
        (dict(padding_mode="mirror"), ValueError, "padding_mode"),
        (dict(padding_mode="constant", cval=[1, 2]), ValueError, "cval"),
        (dict(padding_mode="constant", cval="black"), TypeError, "cval must be a number"),
        # None read as NaN, "1.5" parsed, a complex value's imaginary part dropped
        (dict(padding_mode="constant", cval=None), TypeError, "cval must be a number.*None"),
        (dict(padding_mode="constant", cval="1.5"), TypeError, "cval must be a number"),
        (dict(padding_mode="constant", cval=np.complex128(1 + 2j)), TypeError, "cval must be"),
        (dict(image=np.ma.masked_array(np.zeros((4, 5)), True)), TypeError, "image .* masked"),
        (dict(theta=np.ma.masked_array(T.identity())), TypeError, "theta .* masked"),
        (dict(output_shape=b"ab"), ValueError, "output_shape must be a pair"),
        (dict(output_shape={3: 1, 4: 2}), ValueError, "output_shape must be a pair"),
        (dict(theta=T.identity(1)), ValueError, r"a 3-D image is a stack \(N, H, W\)"),
        (dict(mode=["bilinear"]), ValueError, "mode must be one of"),
        (dict(padding_mode=["zeros"]), ValueError, "padding_mode must be one of"),
        (dict(output_shape=(0, 3)), ValueError, "output_shape"),
        (dict(align_corners="yes"), TypeError, "align_corners"),
        (dict(backend="gpu"), ValueError, "backend"),
    ],
)
def test_errors(kwargs, exc, match):
    """Bad arguments are refused with a message that names them."""
    args = dict(image=np.zeros((4, 5, 3)), theta=T.identity())
    args.update(kwargs)
    image = args.pop("image")
    theta = args.pop("theta")
    with pytest.raises(exc, match=match):
        warp(image, theta, **args)
