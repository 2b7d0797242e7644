"""warpkit.transforms: builders against OpenCV/scikit-image, conversions, algebra, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.transform import AffineTransform, ProjectiveTransform

from warpkit import transforms as T

SHAPES = st.tuples(st.integers(2, 40), st.integers(2, 40))
FLAGS = st.booleans()
ENTRY = st.floats(-3, 3, allow_nan=False, allow_infinity=False)


def _affine_matrices():
    """Well-conditioned 3x3 affine pixel maps."""

    def build(vals):
        a, b, c, d, tx, ty = vals
        lin = np.array([[1.0 + a, b], [c, 1.0 + d]])
        m = np.eye(3)
        m[:2, :2] = lin
        m[:2, 2] = (10 * tx, 10 * ty)
        return m

    small = st.floats(-0.6, 0.6, allow_nan=False)
    return st.tuples(small, small, small, small, ENTRY, ENTRY).map(build).filter(
        lambda m: abs(np.linalg.det(m)) > 0.2
    )


def _map(m: np.ndarray, x: float, y: float) -> np.ndarray:
    return (m @ np.array([x, y, 1.0]))[:2]


# --------------------------------------------------------------------------- conversions
@settings(max_examples=60, deadline=None)
@given(_affine_matrices(), SHAPES, SHAPES, FLAGS)
def test_to_matrix_inverts_from_matrix(m, shape_in, shape_out, ac):
    theta = T.from_matrix(m, shape_in, shape_out, align_corners=ac)
    np.testing.assert_allclose(T.to_matrix(theta, shape_in, shape_out, align_corners=ac), m,
                               rtol=1e-12, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(_affine_matrices(), SHAPES, SHAPES, FLAGS)
def test_opencv_round_trip(m, shape_in, shape_out, ac):
    forward = m[:2]
    theta = T.from_opencv(forward, shape_in, shape_out, align_corners=ac)
    np.testing.assert_allclose(T.to_opencv(theta, shape_in, shape_out, align_corners=ac),
                               forward, rtol=1e-10, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(_affine_matrices(), SHAPES, SHAPES, FLAGS)
def test_from_matrix_follows_the_pixel_formula(m, shape_in, shape_out, ac):
    """θ applied to the normalized coordinate of an output pixel lands on M(pixel)."""
    theta = T.from_matrix(m, shape_in, shape_out, align_corners=ac)
    (hi, wi), (ho, wo) = shape_in, shape_out

    def to_norm(p, n):  # inverse of the _coords.py formulas, written out independently
        return (2 * p + 1) / n - 1 if not ac else 2 * p / (n - 1) - 1

    def to_pix(u, n):
        return ((u + 1) * n - 1) / 2 if not ac else (u + 1) / 2 * (n - 1)

    for px, py in [(0, 0), (wo - 1, 0), (0.5 * wo, ho - 1), (1.25, 0.75)]:
        xs, ys = theta @ np.array([to_norm(px, wo), to_norm(py, ho), 1.0])
        np.testing.assert_allclose([to_pix(xs, wi), to_pix(ys, hi)], _map(m, px, py),
                                   atol=1e-9)


def test_skimage_transforms_are_accepted():
    m = np.array([[0.9, 0.2, 3.0], [-0.1, 1.1, -2.0], [0, 0, 1]])
    expected = T.from_matrix(m, (20, 30))
    np.testing.assert_allclose(T.from_matrix(AffineTransform(matrix=m), (20, 30)), expected)
    np.testing.assert_allclose(T.from_matrix(ProjectiveTransform(matrix=m), (20, 30)), expected)
    np.testing.assert_allclose(T.from_matrix(m[:2], (20, 30)), expected)
    np.testing.assert_allclose(T.from_matrix(2 * m, (20, 30)), expected)  # homogeneous scale
    np.testing.assert_allclose(T.from_opencv(AffineTransform(matrix=m), (20, 30)),
                               T.from_opencv(m[:2], (20, 30)))


@pytest.mark.parametrize("kind", ["PolynomialTransform", "FundamentalMatrixTransform",
                                  "PiecewiseAffineTransform"])
def test_skimage_transforms_that_are_no_affine_matrix_are_refused(kind):
    """Their ``params`` are no matrix of the map (a first-order PolynomialTransform's are
    coefficients with the constant first: read as a matrix, a shift became another map)."""
    import skimage.transform

    tform = getattr(skimage.transform, kind)()
    for convert in (T.from_matrix, T.from_opencv):
        with pytest.raises(TypeError, match=f"AffineTransform.*got {kind}"):
            convert(tform, (10, 10))


def test_complex_matrices_and_thetas_are_refused():
    """numpy would drop their imaginary parts (warp refuses a complex θ too)."""
    m = np.array([[1.0, 0.0, 5j], [0.0, 1.0, 0.0]])
    theta = T.identity().astype(complex) + np.array([[0, 0, 1j], [0, 0, 0]])
    for call in (lambda: T.from_matrix(m, (4, 4)), lambda: T.from_opencv(m, (4, 4)),
                 lambda: T.to_matrix(theta, (4, 4)), lambda: T.to_opencv(theta, (4, 4)),
                 lambda: T.invert(theta), lambda: T.compose(theta, T.identity())):
        with pytest.raises(TypeError, match="must hold real numbers .*, got complex128"):
            call()


def test_perspective_matrix_is_refused():
    m = np.array([[1.0, 0, 0], [0, 1, 0], [1e-3, 0, 1]])
    with pytest.raises(ValueError, match="perspective"):
        T.from_matrix(ProjectiveTransform(matrix=m), (10, 10))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_stacks_convert_elementwise(n):
    rng = np.random.default_rng(n)
    ms = np.stack([np.eye(3), [[0.0, -1, 9], [1, 0, 0], [0, 0, 1]]] + [
        np.vstack([np.eye(2, 3) + 0.3 * rng.standard_normal((2, 3)), [0, 0, 1]])
        for _ in range(3)])[:n]
    for convert in (T.from_matrix, T.from_opencv):
        for stack in (ms, ms[:, :2]):  # 3x3 and 2x3 matrices
            thetas = convert(stack, (10, 12), (12, 10))
            assert thetas.shape == (n, 2, 3)
            for k in range(n):
                np.testing.assert_array_equal(thetas[k], convert(stack[k], (10, 12), (12, 10)))


@pytest.mark.parametrize("where", [0, 1, 2])
def test_stack_with_one_perspective_matrix_is_refused(where):
    ms = np.stack([np.eye(3)] * 3)
    ms[where, 2, 1] = 1e-3  # that matrix's own last row, its y entry only
    for convert in (T.from_matrix, T.from_opencv):
        with pytest.raises(ValueError, match="perspective"):
            convert(ms[: max(where + 1, 2)], (5, 5))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("at", [(0, 0), (1, 2), (2, 0), (2, 2)])
def test_non_finite_matrices_are_refused(bad, at):
    m = np.eye(3)
    m[at] = bad
    for convert in (T.from_matrix, T.from_opencv):
        with pytest.raises(ValueError, match="must be finite|not affine"):
            convert(m, (4, 4))
        with pytest.raises(ValueError, match="must be finite|not affine"):
            convert(np.stack([np.eye(3), m]), (4, 4))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_thetas_are_refused_by_conversions(bad):
    theta = T.identity()
    theta[1, 2] = bad
    for call in (lambda: T.to_matrix(theta, (4, 4)), lambda: T.to_opencv(theta, (4, 4)),
                 lambda: T.invert(theta), lambda: T.compose(theta, T.identity()),
                 lambda: T.compose(T.identity(2), theta)):
        with pytest.raises(ValueError, match=r"theta must be finite, got (nan|inf) at"):
            call()


def test_overflowing_conversions_are_refused():
    huge = np.array([[1e308, 0.0, 0.0], [0.0, 1.0, 0.0]])
    with pytest.raises(ValueError, match="overflows"):
        T.from_matrix(huge, (4, 400))  # times the output's half width
    with pytest.raises(ValueError, match="overflows"):
        T.to_matrix(huge, (400, 4))
    with pytest.raises(ValueError, match="overflows"):
        T.compose(huge, huge)
    with pytest.raises(ValueError, match="overflows"):
        T.from_opencv([[1e-308, 0, 0], [0, 1, 0]], (4, 4))  # its inverse


@pytest.mark.parametrize("call", [
    lambda: T.scale(1e-310, (4, 4)),
    lambda: T.scale((1.0, -1e-309), (4, 4)),
    lambda: T.rotate(10, (4, 4), scale=1e-320),
])
def test_zoom_factors_whose_reciprocal_overflows_are_refused(call):
    with pytest.raises(ValueError, match="overflows"):
        call()


def test_tiny_but_representable_zoom_still_works():
    theta = T.scale(1e-300, (4, 4))
    assert np.all(np.isfinite(theta))
    np.testing.assert_allclose(theta[:, :2], np.eye(2) * 1e300)


def test_compose_stacks_must_have_one_length():
    a, b = T.identity(3), T.identity(2)
    with pytest.raises(ValueError, match=r"\(3, 2, 3\) and \(2, 2, 3\)"):
        T.compose(a, b)
    assert T.compose(a, T.identity(1)).shape == (3, 2, 3)
    assert T.compose(T.identity(), b).shape == (2, 2, 3)


# --------------------------------------------------------------------------- builders
@pytest.mark.parametrize("shape", [(30, 50), (41, 17)])
@pytest.mark.parametrize("angle,center,s", [(30.0, None, 1.0), (-75.0, (3.5, 20.0), 1.7),
                                            (200.0, (0.0, 0.0), 0.5)])
def test_rotate_equals_opencv_rotation_matrix(shape, angle, center, s):
    cv2 = pytest.importorskip("cv2")
    h, w = shape
    c = ((w - 1) / 2, (h - 1) / 2) if center is None else center
    expected = cv2.getRotationMatrix2D(c, angle, s)
    for ac in (False, True):
        theta = T.rotate(angle, shape, center=center, scale=s, align_corners=ac)
        np.testing.assert_allclose(T.to_opencv(theta, shape, align_corners=ac), expected,
                                   atol=1e-9)


@pytest.mark.parametrize("shape,out_shape", [((30, 50), (30, 50)), ((30, 50), (64, 20))])
def test_rotation_keeps_pixels_square(shape, out_shape):
    theta = T.rotate(37.0, shape, output_shape=out_shape)
    lin = T.to_matrix(theta, shape, out_shape)[:2, :2]
    np.testing.assert_allclose(lin @ lin.T, np.eye(2), atol=1e-12)
    # the input centre lands on the output centre
    m = T.to_matrix(theta, shape, out_shape)
    centre_out = ((out_shape[1] - 1) / 2, (out_shape[0] - 1) / 2)
    np.testing.assert_allclose(_map(m, *centre_out), ((shape[1] - 1) / 2, (shape[0] - 1) / 2))


def test_rotate_positive_is_counter_clockwise_as_displayed():
    # the point right of the centre goes to the top (smaller row) for +90°
    fwd = T.to_opencv(T.rotate(90, (21, 21)), (21, 21))
    np.testing.assert_allclose(fwd @ [15.0, 10.0, 1.0], [10.0, 5.0], atol=1e-12)


def test_scale_translate_shear_pixel_meaning():
    shape = (20, 30)
    c = (14.5, 9.5)
    fwd = T.to_opencv(T.scale((2.0, 3.0), shape), shape)
    np.testing.assert_allclose(fwd @ [c[0] + 1, c[1] + 1, 1], [c[0] + 2, c[1] + 3])
    fwd = T.to_opencv(T.translate(4.0, -2.5, shape), shape)
    np.testing.assert_allclose(fwd @ [1.0, 1.0, 1], [5.0, -1.5])
    t = math.tan(math.radians(20))
    fwd = T.to_opencv(T.shear(20, shape, center=(0, 0)), shape)
    np.testing.assert_allclose(fwd @ [0.0, 10.0, 1], [10 * t, 10.0], atol=1e-12)  # bottom right
    fwd = T.to_opencv(T.shear(20, shape, axis="y", center=(0, 0)), shape)
    np.testing.assert_allclose(fwd @ [10.0, 0.0, 1], [10.0, -10 * t], atol=1e-12)  # right up


def test_translate_to_bigger_canvas_centres_the_image():
    fwd = T.to_opencv(T.translate(0, 0, (10, 20), output_shape=(14, 30)), (10, 20), (14, 30))
    np.testing.assert_allclose(fwd @ [0.0, 0.0, 1], [5.0, 2.0])


def test_identity():
    np.testing.assert_array_equal(T.identity(), [[1, 0, 0], [0, 1, 0]])
    assert T.identity(3).shape == (3, 2, 3)
    for ac in (False, True):
        np.testing.assert_allclose(T.rotate(0, (7, 9), align_corners=ac), T.identity())


# --------------------------------------------------------------------------- algebra
THETAS = st.tuples(*[st.floats(-2, 2, allow_nan=False)] * 6).map(
    lambda v: np.array(v).reshape(2, 3)
).filter(lambda t: abs(np.linalg.det(t[:, :2])) > 0.1)


@settings(max_examples=60, deadline=None)
@given(THETAS, THETAS)
def test_compose_invert_round_trips(a, b):
    np.testing.assert_allclose(T.compose(a, T.invert(a)), T.identity(), atol=1e-9)
    np.testing.assert_allclose(T.compose(T.invert(a), a), T.identity(), atol=1e-9)
    np.testing.assert_allclose(T.invert(T.invert(a)), a, atol=1e-9)
    ab = T.compose(a, b)
    np.testing.assert_allclose(T.compose(ab, T.invert(b)), a, atol=1e-8)
    np.testing.assert_allclose(T.invert(ab), T.compose(T.invert(b), T.invert(a)), atol=1e-8)
    # a map applied after b is a's affine map applied to b's output
    p = np.array([0.3, -0.7, 1.0])
    np.testing.assert_allclose(ab @ p, a @ np.append(b @ p, 1.0), atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(_affine_matrices(), _affine_matrices(), SHAPES, SHAPES, SHAPES, FLAGS)
def test_compose_matches_pixel_matrix_product(ma, mb, s1, s2, s3, ac):
    """compose in θ space equals the product of pixel maps when shapes chain."""
    a = T.from_matrix(ma, s1, s2, align_corners=ac)  # s2 -> s1
    b = T.from_matrix(mb, s2, s3, align_corners=ac)  # s3 -> s2
    np.testing.assert_allclose(T.to_matrix(T.compose(a, b), s1, s3, align_corners=ac), ma @ mb,
                               rtol=1e-10, atol=1e-8)


def test_invert_singular_raises():
    with pytest.raises(ValueError, match="singular"):
        T.invert(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="singular"):
        T.from_opencv(np.zeros((2, 3)), (5, 5))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: T.rotate(10, (5,)), ValueError, "input_shape"),
        (lambda: T.rotate(10, (5, 0)), ValueError, "positive"),
        (lambda: T.rotate(10, 5), TypeError, "input_shape"),
        (lambda: T.rotate(10, (5, 5), output_shape=(2, 3, 4, 5)), ValueError, "output_shape"),
        (lambda: T.rotate(float("nan"), (5, 5)), ValueError, "finite"),
        (lambda: T.rotate(10, (5, 5), scale=0), ValueError, "non-zero"),
        (lambda: T.rotate(10, (5, 5), center=(1, 2, 3)), ValueError, "center"),
        (lambda: T.scale(0, (5, 5)), ValueError, "non-zero"),
        (lambda: T.scale((1, 2, 3), (5, 5)), ValueError, "pair"),
        (lambda: T.shear(90, (5, 5)), ValueError, "-90, 90"),
        (lambda: T.shear(10, (5, 5), axis="z"), ValueError, "axis"),
        (lambda: T.from_matrix(np.eye(4), (5, 5)), ValueError, r"\(2, 3\) or \(3, 3\)"),
        (lambda: T.from_matrix("abc", (5, 5)), TypeError, "M must hold real numbers"),
        (lambda: T.to_matrix(np.eye(3), (5, 5)), ValueError, r"theta must have shape"),
        (lambda: T.from_matrix(np.eye(3), (5, 5), align_corners=1), TypeError, "align_corners"),
        (lambda: T.identity(-1), ValueError, "non-negative"),
        # strings were parsed, complex numpy scalars lost their imaginary part, huge integers
        # and n past numpy's reach raised bare OverflowErrors, ragged factors numpy's error
        (lambda: T.rotate("30", (5, 5)), TypeError, "angle_deg must be a finite real number"),
        (lambda: T.rotate(np.complex128(30 + 45j), (5, 5)), TypeError, "angle_deg must be a fin"),
        (lambda: T.translate(10**400, 0, (5, 5)), ValueError, "finite"),
        (lambda: T.rotate(30, (10**400, 10)), ValueError, "input_shape must hold positive"),
        (lambda: T.identity(2**70), ValueError, "n must be a number of θ that fits"),
        (lambda: T.identity(2**62), ValueError, "n must be a number of θ that fits"),
        (lambda: T.scale([[1, 2], [3]], (5, 5)), TypeError, "factor x must be a finite real"),
        (lambda: T.invert(np.ma.masked_array(T.identity())), TypeError, "theta .* masked"),
        (lambda: T.rotate(True, (5, 5)), TypeError, "angle_deg must be a finite real number"),
    ],
)
def test_errors_name_what_was_expected(call, exc, match):
    """Bad arguments are refused with a message that names them."""
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("angle", [np.float32(30.0), np.int64(30), np.array(30.0), 30])
def test_numpy_scalars_and_0d_arrays_are_numbers(angle):
    """The scalar checks take any real number numpy holds, not only Python floats."""
    np.testing.assert_array_equal(T.rotate(angle, (5, 7)), T.rotate(30.0, (5, 7)))
