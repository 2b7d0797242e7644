"""Every core op against the loop-based reference in ``tests/reference.py``.

Shapes cover H or W = 1, Ho != H, C = 1..4, N = 1..3, rows wider than 8 pixels in batches;
both dtypes, both align_corners, both modes and all five padding modes. Grids keep their pixel
coordinates away from knots (integers and half-integers) so that float32 rounding cannot pick
other corners.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
import reference as R

import warpkit as wk

# (N, H, W, C, Ho, Wo)
SHAPES = [
    (1, 1, 1, 1, 1, 1),
    (1, 1, 5, 2, 3, 4),
    (2, 4, 1, 3, 2, 2),
    (3, 3, 4, 4, 5, 2),
    (1, 5, 6, 1, 5, 6),
    (2, 2, 3, 2, 1, 7),
    (2, 9, 11, 1, 7, 19),  # one-channel rows of 8 pixels at a time and a tail, in a batch
    (2, 6, 7, 3, 5, 11),  # 3- and 4-channel batches with interior pixels
    (2, 5, 6, 4, 4, 9),
]
DTYPES = [np.float32, np.float64]
COMBOS = list(itertools.product(R.MODES, R.PADDINGS, [False, True], DTYPES))


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _ids(combo):
    mode, pad, ac, dt = combo
    return f"{mode}-{pad}-ac{int(ac)}-{np.dtype(dt).name}"


def _cval(pad, rng, C):
    return rng.uniform(-2, 2, size=C) if pad == "constant" else 0.0


@pytest.mark.parametrize("combo", COMBOS, ids=[_ids(c) for c in COMBOS])
def test_grid_sample_forward_backward(combo):
    mode, pad, ac, dt = combo
    tol = R.tolerances(dt)
    rng = np.random.default_rng(zlib.crc32(_ids(combo).encode()))
    for N, H, W, C, Ho, Wo in SHAPES:
        x = rng.standard_normal((N, H, W, C)).astype(dt)
        g = R.off_knot_grid(rng, N, Ho, Wo, H, W, ac).astype(dt)
        go = rng.standard_normal((N, Ho, Wo, C)).astype(dt)
        cv = _cval(pad, rng, C)
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac, cval=cv)
        out = wk.grid_sample(x, g, **kw)
        assert out.dtype == dt and out.shape == (N, Ho, Wo, C)
        np.testing.assert_allclose(out, R.grid_sample(x, g, mode, pad, ac, cv), **tol)
        gin, ggrid = wk.grid_sample_backward(go, x, g, **kw)
        rgin, rggrid = R.grid_sample_backward(go, x, g, mode, pad, ac, cv)
        assert gin.dtype == dt and ggrid.dtype == dt
        np.testing.assert_allclose(gin, rgin, **tol)
        np.testing.assert_allclose(ggrid, rggrid, **tol)
        none, ggrid2 = wk.grid_sample_backward(go, x, g, need_input_grad=False, **kw)
        assert none is None
        np.testing.assert_array_equal(ggrid2, ggrid)


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_bilinear_forward_random_grid(pad, ac):
    """Bilinear forward is continuous: any coordinates, including knots, compare tightly."""
    rng = np.random.default_rng(7)
    for N, H, W, C, Ho, Wo in SHAPES:
        x = rng.standard_normal((N, H, W, C))
        g = rng.uniform(-3.5, 3.5, size=(N, Ho, Wo, 2))
        g[..., 0] = np.where(rng.random((N, Ho, Wo)) < 0.2, np.round(g[..., 0]), g[..., 0])
        cv = _cval(pad, rng, C)
        out = wk.grid_sample(x, g, padding_mode=pad, align_corners=ac, cval=cv)
        ref = R.grid_sample(x, g, "bilinear", pad, ac, cv)
        np.testing.assert_allclose(out, ref, **R.tolerances(np.float64))


@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("dt", DTYPES)
def test_affine_grid_forward_backward(ac, dt):
    rng = np.random.default_rng(3)
    tol = R.tolerances(dt)
    for N, _, _, C, Ho, Wo in SHAPES:
        theta = rng.uniform(-2, 2, size=(N, 2, 3)).astype(dt)
        for size in [(N, Ho, Wo), (N, Ho, Wo, C)]:
            grid = wk.affine_grid(theta, size, align_corners=ac)
            assert grid.dtype == dt and grid.shape == (N, Ho, Wo, 2)
            np.testing.assert_allclose(grid, R.affine_grid(theta, size, ac), **tol)
        gg = rng.standard_normal((N, Ho, Wo, 2)).astype(dt)
        gt = wk.affine_grid_backward(gg, align_corners=ac)
        assert gt.dtype == dt and gt.shape == (N, 2, 3)
        np.testing.assert_allclose(gt, R.affine_grid_backward(gg, ac), **tol)


@pytest.mark.parametrize("combo", COMBOS, ids=[_ids(c) for c in COMBOS])
def test_affine_sample_forward_backward(combo):
    mode, pad, ac, dt = combo
    tol = R.tolerances(dt)
    rng = np.random.default_rng(zlib.crc32(("affine" + _ids(combo)).encode()))
    for N, H, W, C, Ho, Wo in SHAPES:
        x = rng.standard_normal((N, H, W, C)).astype(dt)
        theta = rng.uniform(-1.5, 1.5, size=(N, 2, 3)).astype(dt)
        go = rng.standard_normal((N, Ho, Wo, C)).astype(dt)
        cv = _cval(pad, rng, C)
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac, cval=cv)
        out = wk.affine_sample(x, theta, (Ho, Wo), **kw)
        assert out.dtype == dt and out.shape == (N, Ho, Wo, C)
        ref = R.affine_sample(x, theta, (Ho, Wo), mode, pad, ac, cv)
        np.testing.assert_allclose(out, ref, **tol)
        gin, gth = wk.affine_sample_backward(go, x, theta, (Ho, Wo), **kw)
        rgin, rgth = R.affine_sample_backward(go, x, theta, (Ho, Wo), mode, pad, ac, cv)
        assert gin.dtype == dt and gth.dtype == dt and gth.shape == (N, 2, 3)
        np.testing.assert_allclose(gin, rgin, **tol)
        # grad_theta sums Ho * Wo terms of size ~ W: scale the float32 tolerance with it
        scale = 1.0 if dt == np.float64 else 1.0 + 0.1 * Ho * Wo * max(H, W)
        np.testing.assert_allclose(gth, rgth, rtol=tol["rtol"], atol=tol["atol"] * scale)
        none, gth2 = wk.affine_sample_backward(go, x, theta, need_input_grad=False, **kw)
        assert none is None
        np.testing.assert_array_equal(gth2, gth)


@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("C", [1, 3, 4])
@pytest.mark.parametrize("dt", DTYPES)
def test_last_row_and_column_do_not_read_a_zero_weight_neighbour(pad, C, dt):
    # Pixels exactly on the last column or row (all of border padding's clipped pixels; with
    # align_corners=True the identity's last column) read one corner with weight 1. The fast
    # path reads the cell before with a weight-0 corner there, which the exact sampler does
    # not read: ±inf or NaN in it must not leak through 0·inf.
    rng = np.random.default_rng(3)
    N, H, W = 2, 6, 7
    x = rng.standard_normal((N, H, W, C)).astype(dt)
    x[:, 1::2, W - 2] = np.inf
    x[:, H - 2, 0::3] = -np.inf
    x[1, H - 2, 2] = np.nan
    zoom_out = np.array([[1.6, 0.0, 0.0], [0.0, 1.4, 0.0]])
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    for theta, ac in ((zoom_out, False), (identity, True), (zoom_out, True)):
        theta = np.broadcast_to(theta, (N, 2, 3)).astype(dt)
        out = wk.affine_sample(x, theta, (9, 11), padding_mode=pad, align_corners=ac)
        with np.errstate(invalid="ignore"):  # inf - inf, 0·inf in the reference's loops
            ref = R.affine_sample(x, theta, (9, 11), "bilinear", pad, ac)
        np.testing.assert_allclose(out, ref, **R.tolerances(dt))  # NaN where ref has NaN
        assert np.isfinite(ref).any() and not np.isfinite(ref).all()


@pytest.mark.parametrize("cval", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("dt", DTYPES)
def test_a_non_finite_cval_reaches_only_points_that_read_outside(cval, C, dt):
    """A NaN or infinite ``cval`` (NaN marking "no data", as in scikit-image) at points on
    pixel centres and half pixels, inside and around the image: a corner outside whose weight
    is exactly 0 is not read (0·NaN would be NaN), so points on the last row or column keep
    their pixel's value. Sizes whose normalized coordinates are exact in binary (W, or W - 1
    with align_corners, a power of two); one-channel rows of 24 pixels take the 8-pixel edge
    step."""
    rng = np.random.default_rng(5)
    for ac, H, W in ((False, 4, 8), (True, 5, 9)):
        x = rng.standard_normal((2, H, W, C)).astype(dt)
        px, py = np.meshgrid(np.arange(-4, 20) / 2.0, np.arange(-3, 2 * H + 2) / 2.0)
        span_x, span_y = (W, H) if not ac else (W - 1, H - 1)
        gx = (2 * px + (0 if ac else 1)) / span_x - 1
        gy = (2 * py + (0 if ac else 1)) / span_y - 1
        g = np.broadcast_to(np.stack([gx, gy], -1), (2,) + gx.shape + (2,)).astype(dt)
        kw = dict(padding_mode="constant", cval=cval, align_corners=ac)
        out = wk.grid_sample(x, g, **kw)
        with np.errstate(invalid="ignore"):
            ref = R.grid_sample(x, g, "bilinear", "constant", ac, cval)
        np.testing.assert_allclose(out, ref, **R.tolerances(dt))  # NaN where ref has NaN
        on_pixels = ((px >= 0) & (px <= W - 1) & (py >= 0) & (py <= H - 1)
                     & (px % 1 == 0) & (py % 1 == 0))
        assert on_pixels[:, px[0] == W - 1].any() and on_pixels[py[:, 0] == H - 1].any()
        assert np.isfinite(out[:, on_pixels]).all()  # the last row and column included
        assert not np.isfinite(out).all()


def test_the_readme_example_of_points_on_the_last_column_under_a_nan_cval():
    """The README's example (Conventions): θ maps the output's last column exactly onto the
    image's last column. ``grid_sample(affine_grid(θ))`` computes the normalized grid first,
    as PyTorch and the reference do, and keeps the pixels there under a NaN ``cval``. ``warp``
    computes the points in pixel space, which may put that column 1e-15 beyond (the README
    says so), and agrees with the grid everywhere else."""
    x = np.arange(50, dtype=np.float64).reshape(1, 5, 10, 1)
    theta = np.array([[[0.3114, 0.0, 1.0 - 0.3114], [0.0, 1.0, 0.0]]])
    kw = dict(padding_mode="constant", cval=np.nan, align_corners=True)
    grid = wk.affine_grid(theta, (1, 5, 7, 1), align_corners=True)
    out = wk.grid_sample(x, grid, **kw)
    np.testing.assert_array_equal(out[0, :, -1, 0], x[0, :, 9, 0])
    with np.errstate(invalid="ignore"):
        ref = R.grid_sample(x, grid, "bilinear", "constant", True, np.nan)
    np.testing.assert_allclose(out, ref, **R.tolerances(np.float64))
    fused = wk.warp(x[0], theta[0], output_shape=(5, 7), **kw)
    np.testing.assert_allclose(fused[:, :-1], out[0, :, :-1], **R.tolerances(np.float64))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("dt", DTYPES)
def test_wrap_reads_the_first_column_past_the_last_even_with_weight_zero(bad, C, dt):
    """With wrap padding the corner past the last column (row) is the first, inside the image:
    read whatever its weight, as by the exact sampler (and the CUDA kernels), so a NaN or inf
    pixel there reaches points exactly on the last column (row) as NaN. The CPU's fast path
    took the cell before for them and never read it (found by a fuzz of the CUDA simulator
    against the CPU). Points on pixel centres and half pixels, exact in binary; rows of 24
    pixels take the one-channel float rows' 8-pixel steps."""
    rng = np.random.default_rng(6)
    H, W = 4, 8
    x = rng.standard_normal((1, H, W, C)).astype(dt)
    x[0, 1, 0] = bad  # the first column
    x[0, 0, 5] = bad  # the first row
    px, py = np.meshgrid(np.arange(-4, 20) / 2.0, np.arange(-2, 2 * H + 2) / 2.0)
    g = np.stack([(2 * px + 1) / W - 1, (2 * py + 1) / H - 1], -1)[None].astype(dt)
    with np.errstate(invalid="ignore"):
        ref = R.grid_sample(x, g, "bilinear", "wrap", False, 0.0)
        ref_affine = R.affine_sample(x, np.eye(2, 3)[None], padding_mode="wrap")
    assert np.isnan(ref[0, py[:, 0] == H - 1]).any() and np.isnan(ref[0, :, px[0] == W - 1]).any()
    np.testing.assert_allclose(wk.grid_sample(x, g, padding_mode="wrap"), ref,
                               **R.tolerances(dt))  # NaN (and inf) where ref has them
    assert np.isnan(ref_affine[0, :, W - 1]).any()  # an identity warp's last column
    np.testing.assert_allclose(wk.affine_sample(x, np.eye(2, 3, dtype=dt)[None],
                                                padding_mode="wrap"), ref_affine,
                               **R.tolerances(dt))


@pytest.mark.parametrize("dt", DTYPES)
def test_affine_sample_default_out_size(dt):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 5, 2)).astype(dt)
    theta = rng.uniform(-1, 1, size=(2, 2, 3)).astype(dt)
    out = wk.affine_sample(x, theta)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, R.affine_sample(x, theta), **R.tolerances(dt))


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("dt", DTYPES)
def test_nearest_rounds_half_to_even(pad, ac, dt):
    """Pixel coordinates exactly at k + 1/2 (exact in binary) go to the even neighbour."""
    H, W = (4, 4) if not ac else (5, 5)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, H, W, 3)).astype(dt)
    ks = np.arange(-1, W) + 0.5  # -0.5, 0.5, ..., W - 0.5
    px, py = np.meshgrid(ks, ks[::-1])
    g = np.stack([R.normalize(px, W, ac), R.normalize(py, H, ac)], axis=-1)[None].astype(dt)
    # the normalized values are exact, so the pixel coordinates are exactly half-integers
    assert np.array_equal(R.unnormalize(g.astype(np.float64)[..., 0], W, ac)[0], px[None])
    out = wk.grid_sample(x, g, mode="nearest", padding_mode=pad, align_corners=ac, cval=0.5)
    ref = R.grid_sample(x, g, "nearest", pad, ac, 0.5)
    np.testing.assert_array_equal(out, ref.astype(dt))
    # spot check of the meaning, independent of the reference: 0.5 -> 0, 1.5 -> 2
    inside = dict(mode="nearest", align_corners=ac)
    g1 = np.array([[[[R.normalize(0.5, W, ac), R.normalize(1.5, H, ac)]]]], dtype=dt)
    np.testing.assert_array_equal(wk.grid_sample(x, g1, **inside)[0, 0, 0], x[0, 2, 0])


@pytest.mark.parametrize("pad", ["constant", "wrap"])
@pytest.mark.parametrize("mode", R.MODES)
@pytest.mark.parametrize("ac", [False, True])
def test_beyond_torch_matches_scikit_image(pad, mode, ac):
    """constant and wrap follow scikit-image's ``warp`` (an independent peer of the reference)."""
    from skimage.transform import warp

    rng = np.random.default_rng(8)
    H, W, Ho, Wo = 4, 5, 6, 7
    img = rng.standard_normal((H, W))
    grid = R.off_knot_grid(rng, 1, Ho, Wo, H, W, ac)
    px = R.unnormalize(grid[0, ..., 0], W, ac)[0]
    py = R.unnormalize(grid[0, ..., 1], H, ac)[0]
    coords = np.stack([py, px])  # skimage: (row, col) coordinate maps of the output shape
    order = 1 if mode == "bilinear" else 0
    want = warp(img, coords, order=order, mode=pad, cval=0.75, clip=False, preserve_range=True)
    got = wk.grid_sample(
        img[None, :, :, None], grid, mode=mode, padding_mode=pad, align_corners=ac, cval=0.75
    )
    np.testing.assert_allclose(got[0, :, :, 0], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N", [1, 2])  # one image: tasks own bands of input rows
def test_cpu_backward_overwrites_what_grad_input_held(N):
    """The CPU backward kernels zero ``grad_input`` themselves (each task the rows it scatters
    into): whatever the buffer held before must not reach the result."""
    from warpkit._coords import MODES, PADDING_MODES
    from warpkit.backends import cpu

    rng = np.random.default_rng(11)
    H, W, C, Ho, Wo = 9, 8, 2, 7, 6
    x = rng.standard_normal((N, H, W, C))
    theta = rng.uniform(-1.2, 1.2, size=(N, 2, 3))
    grid = R.off_knot_grid(rng, N, Ho, Wo, H, W, False)
    go = rng.standard_normal((N, Ho, Wo, C))
    codes = (MODES["bilinear"], PADDING_MODES["zeros"], False, np.zeros(C))
    tol = R.tolerances(np.float64)
    gin = np.full(x.shape, 7.0)
    gth = np.full(theta.shape, 7.0)
    cpu.affine_sample_backward(go, x, theta, gin, gth, *codes)
    rgin, rgth = R.affine_sample_backward(go, x, theta, (Ho, Wo))
    np.testing.assert_allclose(gin, rgin, **tol)
    np.testing.assert_allclose(gth, rgth, **tol)
    gin = np.full(x.shape, 7.0)
    ggrid = np.full(grid.shape, 7.0)
    cpu.grid_sample_backward(go, x, grid, gin, ggrid, *codes)
    rgin, rggrid = R.grid_sample_backward(go, x, grid)
    np.testing.assert_allclose(gin, rgin, **tol)
    np.testing.assert_allclose(ggrid, rggrid, **tol)


@pytest.mark.parametrize("N", [1, 2])  # one image: tasks split; two: a task per image
@pytest.mark.parametrize(
    "mode, pad", [("bilinear", "zeros"), ("bilinear", "reflection"), ("nearest", "wrap")]
)
def test_narrow_rows_in_several_groups(N, mode, pad):
    """Rows narrower than ``SPAN_COLUMNS`` are sampled a group of rows at a time: 100 columns
    make groups of 10 rows, so a forward task's 40 rows are 4 groups and 95 rows end on a
    partial group (wrap sends pixels of every row of a group through the general per-point
    code). The backward, row by row, is checked on the same shapes."""
    from warpkit.backends._cpu.forward import GROUP_PIXELS, SPAN_COLUMNS, TASK_PIXELS

    H, W, C, Ho, Wo = 30, 34, 2, 95, 100
    assert Wo < SPAN_COLUMNS and GROUP_PIXELS // Wo == 10
    assert TASK_PIXELS // Wo == 40
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, H, W, C))
    theta = rng.uniform(-1.3, 1.3, size=(N, 2, 3))
    go = rng.standard_normal((N, Ho, Wo, C))
    kw = dict(mode=mode, padding_mode=pad, align_corners=False)
    tol = R.tolerances(np.float64)
    out = wk.affine_sample(x, theta, (Ho, Wo), **kw)
    np.testing.assert_allclose(out, R.affine_sample(x, theta, (Ho, Wo), mode, pad), **tol)
    gin, gth = wk.affine_sample_backward(go, x, theta, (Ho, Wo), **kw)
    rgin, rgth = R.affine_sample_backward(go, x, theta, (Ho, Wo), mode, pad)
    np.testing.assert_allclose(gin, rgin, **tol)
    np.testing.assert_allclose(gth, rgth, rtol=1e-9, atol=1e-9)
    grid = R.off_knot_grid(rng, N, Ho, Wo, H, W, False)
    out = wk.grid_sample(x, grid, **kw)
    np.testing.assert_allclose(out, R.grid_sample(x, grid, mode, pad), **tol)


@pytest.mark.parametrize("pad", ["zeros", "constant"])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("dt", DTYPES)
def test_a_whole_pixel_shift_out_of_the_image_has_the_one_sided_gradient(pad, ac, dt):
    """Shifted by one whole pixel, the first column samples exactly x = -1 and the first row
    y = -1: their values are the fill, but their derivatives read pixel 0 from the cell
    [-1, 0], as PyTorch's and the reference's. Until 2026-12-06 warpkit counted them as
    entirely outside, with gradient 0 (grid and θ). Sizes keep every coordinate exact."""
    H, W = (3, 5) if ac else (4, 8)
    rng = np.random.default_rng(11)
    x = rng.uniform(0.5, 1.5, (2, H, W, 3)).astype(dt)
    sx, sy = (2.0 / (W - 1), 2.0 / (H - 1)) if ac else (2.0 / W, 2.0 / H)
    theta = np.array([[[1.0, 0.0, -sx], [0.0, 1.0, -sy]], [[1.0, 0.0, sx], [0.0, 1.0, 0.0]]],
                     dt)
    grid = wk.affine_grid(theta, x.shape, align_corners=ac)
    assert R.unnormalize(grid[0, 0, 0, 0], W, ac)[0] == -1.0
    assert R.unnormalize(grid[0, 0, 0, 1], H, ac)[0] == -1.0
    cv = _cval(pad, rng, 3)
    kw = dict(padding_mode=pad, align_corners=ac, cval=cv)
    G = rng.standard_normal(x.shape).astype(dt)
    tol = R.tolerances(dt)
    gin, ggrid = wk.grid_sample_backward(G, x, grid, **kw)
    rgin, rggrid = R.grid_sample_backward(G, x, grid, "bilinear", pad, ac, cv)
    assert np.all(rggrid[0, 1:, 0, 0] != 0.0)  # the first column's x gradient is not 0
    assert np.all(rggrid[0, 0, 1:, 1] != 0.0)  # nor the first row's y gradient
    np.testing.assert_allclose(ggrid, rggrid, **tol)
    np.testing.assert_allclose(gin, rgin, **tol)
    gin, gth = wk.affine_sample_backward(G, x, theta, **kw)
    rgin, rgth = R.affine_sample_backward(G, x, theta, None, "bilinear", pad, ac, cv)
    np.testing.assert_allclose(gth, rgth, **tol)
    np.testing.assert_allclose(gin, rgin, **tol)
