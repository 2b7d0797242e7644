"""Bad input: clear errors at the public boundary; extreme coordinates: no crash, the meaning
of design.md (NaN contributes 0; ±inf/huge are outside for zeros/constant, the edge for
border, NaN for reflection/wrap) and finite outputs and gradients everywhere."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import reference as R
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import warpkit as wk
from warpkit.testing import EXTREME_VALUES, grids, images, sampling_options

pytestmark = pytest.mark.usefixtures("one_numba_thread")


X = np.zeros((2, 4, 5, 3))
THETA = np.tile(np.eye(2, 3), (2, 1, 1))
GRID = np.zeros((2, 3, 3, 2))
GOUT = np.zeros((2, 3, 3, 3))


def _raises(exc, call, *fragments):
    """``call()`` raises ``exc`` whose message contains every fragment (regex-escaped)."""
    with pytest.raises(exc) as info:
        call()
    msg = str(info.value)
    for f in fragments:
        assert re.search(re.escape(f), msg), f"{f!r} not in {msg!r}"


# --------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 2), (2, 2, 2), (2, 2, 3, 1)])
def test_theta_not_n23(shape):
    bad = np.zeros(shape)
    got = str(shape)
    _raises(ValueError, lambda: wk.affine_sample(X, bad), "(N, 2, 3)", got)
    _raises(ValueError, lambda: wk.affine_grid(bad, (2, 4, 5)), "(N, 2, 3)", got)
    _raises(ValueError, lambda: wk.affine_sample_backward(X, X, bad), "(N, 2, 3)", got)


def test_batch_sizes_disagree():
    _raises(ValueError, lambda: wk.affine_sample(X, THETA[:1]), "2", "1", "batch")
    _raises(ValueError, lambda: wk.grid_sample(X, GRID[:1]), "2", "1", "batch")
    _raises(ValueError, lambda: wk.affine_grid(THETA, (3, 4, 5)), "3", "2", "batch")
    _raises(ValueError, lambda: wk.grid_sample_backward(GOUT[:1], X, GRID), "(N, Ho, Wo, C)")
    _raises(ValueError, lambda: wk.affine_sample_backward(X[:1], X, THETA), "(N, Ho, Wo, C)")


@pytest.mark.parametrize("last", [1, 3])
def test_grid_last_axis_not_2(last):
    bad = np.zeros((2, 3, 3, last))
    got = str((2, 3, 3, last))
    _raises(ValueError, lambda: wk.grid_sample(X, bad), "(N, Ho, Wo, 2)", got)
    _raises(ValueError, lambda: wk.grid_sample_backward(GOUT, X, bad), "(N, Ho, Wo, 2)", got)
    _raises(ValueError, lambda: wk.affine_grid_backward(bad), "(N, Ho, Wo, 2)", got)


@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3), (1, 2, 4, 5, 3)])
def test_input_not_4d(shape):
    bad = np.zeros(shape)
    got = str(shape)
    _raises(ValueError, lambda: wk.grid_sample(bad, GRID), "(N, H, W, C)", got)
    _raises(ValueError, lambda: wk.affine_sample(bad, THETA), "(N, H, W, C)", got)


def test_unknown_mode_and_padding():
    _raises(ValueError, lambda: wk.grid_sample(X, GRID, mode="bicubic"), "bilinear", "'bicubic'")
    _raises(ValueError, lambda: wk.affine_sample(X, THETA, mode="linear"), "nearest", "'linear'")
    _raises(
        ValueError, lambda: wk.grid_sample(X, GRID, padding_mode="mirror"), "reflection", "'mirror'"
    )
    _raises(
        ValueError,
        lambda: wk.affine_sample_backward(GOUT, X, THETA, padding_mode="edge"),
        "border",
        "'edge'",
    )


@pytest.mark.parametrize("out_size", [(0, 3), (3, -1), (2.5, 3), (3,), "ab"])
def test_bad_out_size(out_size):
    _raises(ValueError, lambda: wk.affine_sample(X, THETA, out_size), "out_size", str(out_size))


@pytest.mark.parametrize("size", [(2, 0, 5), (2, 4.7, 5), (2, "4", 5), (2, True, 5),
                                  (2, 4, 5, 1.5), (2, 4, 5, 0), (2.0, 4, 5)])
def test_bad_affine_grid_size(size):
    _raises(ValueError, lambda: wk.affine_grid(THETA, size), "(N, H, W)", str(size))


def test_affine_grid_size_takes_numpy_integers():
    sizes = (np.int64(2), np.int32(4), np.uint8(5))
    np.testing.assert_array_equal(wk.affine_grid(THETA, sizes), wk.affine_grid(THETA, (2, 4, 5)))


def test_affine_grid_backward_names_grad_grid():
    _raises(ValueError, lambda: wk.affine_grid_backward(np.zeros((2, 3, 3, 3))), "grad_grid")
    _raises(TypeError, lambda: wk.affine_grid_backward([[0.0]]), "grad_grid")


@pytest.mark.parametrize("kind", ["complex", "string"])
def test_theta_grid_and_grad_output_must_be_real(kind):
    """A complex value would lose its imaginary part in the conversion to the input's dtype,
    a string would be parsed."""
    def bad(a):
        return a.astype(np.complex64) + 1j if kind == "complex" else a.astype("U8")

    what = "complex64" if kind == "complex" else "<U8"
    for name, call in [
        ("theta", lambda: wk.affine_sample(X, bad(THETA))),
        ("theta", lambda: wk.affine_sample_backward(GOUT[:, :4, :5], X, bad(THETA))),
        ("theta", lambda: wk.affine_grid(bad(THETA), (2, 3, 3))),
        ("grid", lambda: wk.grid_sample(X, bad(GRID))),
        ("grid", lambda: wk.grid_sample_backward(GOUT, X, bad(GRID))),
        ("grad_output", lambda: wk.grid_sample_backward(bad(GOUT), X, GRID)),
        ("grad_output", lambda: wk.affine_sample_backward(bad(GOUT[:, :4, :5]), X, THETA)),
        ("grad_grid", lambda: wk.affine_grid_backward(bad(GRID))),
    ]:
        _raises(TypeError, call, f"{name} must hold real numbers", what)


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_grid_of_zero_width_or_height_samples_nothing(backend):
    for shape in [(2, 3, 0, 2), (2, 0, 3, 2), (2, 0, 0, 2)]:
        grid = np.zeros(shape)
        out = wk.grid_sample(X, grid, backend=backend)
        out = out if isinstance(out, np.ndarray) else out.copy_to_host()
        assert out.shape == shape[:3] + (3,)
        gin, ggrid = wk.grid_sample_backward(np.zeros(shape[:3] + (3,)), X, grid,
                                             backend=backend)
        gin = gin if isinstance(gin, np.ndarray) else gin.copy_to_host()
        np.testing.assert_array_equal(gin, np.zeros_like(X))


@pytest.mark.parametrize("shape", [(2, 0, 5, 3), (2, 4, 0, 3)])
def test_affine_backward_refuses_a_grad_output_without_pixels(shape):
    """As affine_sample refuses out_size=(0, W): its size is taken from grad_output."""
    for ac in (False, True):
        _raises(ValueError, lambda ac=ac: wk.affine_sample_backward(np.zeros(shape), X, THETA,
                                                                    align_corners=ac),
                "grad_output's (Ho, Wo) must be a pair (H, W) of positive integers",
                str(shape[1:3]))


def test_not_an_array():
    _raises(TypeError, lambda: wk.grid_sample(X.tolist(), GRID), "input", "array", "list")
    _raises(TypeError, lambda: wk.grid_sample(X, GRID.tolist()), "grid", "array", "list")
    _raises(TypeError, lambda: wk.affine_sample(X, THETA.tolist()), "theta", "array", "list")
    _raises(TypeError, lambda: wk.affine_grid(THETA.tolist(), (2, 4, 5)), "theta", "list")


def test_masked_arrays_are_refused():
    """A masked array's mask would be ignored: the kernels read its data."""
    masked = np.ma.masked_array(X, X > 0)
    _raises(TypeError, lambda: wk.affine_sample(masked, THETA), "input", "masked")
    _raises(TypeError, lambda: wk.grid_sample(X, np.ma.masked_array(GRID)), "grid", "masked")


def test_theta_of_another_float_dtype_gets_no_advice_meant_for_images():
    """affine_grid's θ fixes the grid's dtype: float16 is refused, without pointing to warp()."""
    with pytest.raises(TypeError, match="theta must be float32 or float64, got float16") as info:
        wk.affine_grid(THETA.astype(np.float16), (2, 4, 5))
    assert "warp()" not in str(info.value)


def test_cuda_backend_without_a_gpu_says_so(monkeypatch):
    """numba's CudaSupportError (no driver) becomes an error that names the backend."""
    from numba.cuda.cudadrv.error import CudaSupportError

    from warpkit.backends import cuda as cuda_backend

    def no_driver(*args, **kwargs):
        raise CudaSupportError("Error at driver init:\n\nCUDA driver library cannot be found.")

    monkeypatch.setattr(cuda_backend, "launch", no_driver)
    _raises(RuntimeError, lambda: wk.affine_sample(X, THETA, backend="cuda"),
            "backend='cuda' needs an NVIDIA GPU", "driver library cannot be found", "'cpu'")


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.bool_])
def test_integer_input_points_to_warp(dtype):
    bad = X.astype(dtype)
    for call in (lambda: wk.grid_sample(bad, GRID), lambda: wk.affine_sample(bad, THETA)):
        _raises(TypeError, call, "float32 or float64", np.dtype(dtype).name, "warp()")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_endian_floats_are_computed_in_native_order(dtype):
    # FITS files hold big-endian floats; numba cannot type them, so the ops convert them
    rng = np.random.default_rng(0)
    x = rng.random((2, 6, 7, 3)).astype(dtype)
    theta = (np.tile(np.eye(2, 3), (2, 1, 1)) + rng.normal(0, 0.2, (2, 2, 3))).astype(dtype)
    grid = wk.affine_grid(theta, (2, 5, 4, 3))
    gout = rng.random((2, 5, 4, 3)).astype(dtype)
    big = {a.ctypes.data: a.astype(np.dtype(dtype).newbyteorder(">"))
           for a in (x, theta, grid, gout)}

    def calls(x, theta, grid, gout):
        return [wk.affine_grid(theta, (2, 5, 4, 3)), wk.affine_grid_backward(grid),
                wk.affine_sample(x, theta, (5, 4)), wk.grid_sample(x, grid),
                *wk.affine_sample_backward(gout, x, theta), *wk.grid_sample_backward(gout, x, grid)]

    native = calls(x, theta, grid, gout)
    swapped = calls(*(big[a.ctypes.data] for a in (x, theta, grid, gout)))
    for got, want in zip(swapped, native, strict=True):
        assert got.dtype == np.dtype(dtype) and got.dtype.isnative
        np.testing.assert_array_equal(got, want)


def test_bad_cval_and_flags():
    kw = dict(padding_mode="constant")
    _raises(ValueError, lambda: wk.grid_sample(X, GRID, cval=[1.0, 2.0], **kw), "3", "(2,)")
    _raises(TypeError, lambda: wk.grid_sample(X, GRID, align_corners=1), "align_corners", "1")


# --------------------------------------------------------------------------- extremes
REGULAR = 0.3
VALUES = [*EXTREME_VALUES, REGULAR]
PAIRS = [(a, b) for a in VALUES for b in VALUES if not (a == REGULAR and b == REGULAR)]
COMBOS = list(itertools.product(R.MODES, R.PADDINGS, [False, True], [np.float32, np.float64]))


def _extreme_grid(dtype):
    g = np.array(PAIRS, dtype=np.float64).reshape(1, len(PAIRS), 1, 2)
    return g.astype(dtype)


def _finite(*arrays):
    for a in arrays:
        assert np.all(np.isfinite(a)), a


@pytest.mark.parametrize(
    "combo", COMBOS, ids=[f"{m}-{p}-ac{int(a)}-{np.dtype(d).name}" for m, p, a, d in COMBOS]
)
def test_extreme_grid_values(combo):
    mode, pad, ac, dt = combo
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, size=(1, 4, 5, 2)).astype(dt)  # nonzero: 0 output is telling
    g = _extreme_grid(dt)
    G = np.ones(g.shape[:3] + (2,), dtype=dt)
    cv = np.array([-0.5, 2.0]) if pad == "constant" else 0.0
    kw = dict(mode=mode, padding_mode=pad, align_corners=ac, cval=cv)
    out = wk.grid_sample(x, g, **kw)
    gin, ggrid = wk.grid_sample_backward(G, x, g, **kw)
    _finite(out, gin, ggrid)
    ref = R.grid_sample(x, g, mode, pad, ac, cv)
    rgin, rggrid = R.grid_sample_backward(G, x, g, mode, pad, ac, cv)
    tol = R.tolerances(dt)
    for (a, b), o, r in zip(PAIRS, out[0, :, 0], ref[0, :, 0], strict=True):
        np.testing.assert_allclose(o, r, **tol, err_msg=f"(x, y) = ({a}, {b})")
    np.testing.assert_allclose(gin, rgin, **tol)
    np.testing.assert_allclose(ggrid, rggrid, **tol)


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_extreme_meaning_spelled_out(pad, ac):
    """The meaning, written without the reference: NaN -> 0; +inf in x -> 0 (zeros), cval
    (constant), the last column (border), 0 (reflection, wrap)."""
    x = np.arange(1.0, 21.0).reshape(1, 4, 5, 1)
    g = np.array([[[[np.nan, 0.0], [np.inf, -1.0 + 1.0 / 4], [-1e30, 2.0**63]]]])
    out = wk.grid_sample(x, g, padding_mode=pad, align_corners=ac, cval=7.0)[0, 0, :, 0]
    assert out[0] == 0.0
    row = R.unnormalize(-1.0 + 1.0 / 4, 4, ac)[0]  # a row coordinate inside the image
    r0 = int(np.floor(row))
    last_col = x[0, r0, 4, 0] * (1 - (row - r0)) + x[0, r0 + 1, 4, 0] * (row - r0)
    expected = {"zeros": 0.0, "constant": 7.0, "border": last_col, "reflection": 0.0, "wrap": 0.0}
    assert out[1] == pytest.approx(expected[pad], abs=1e-12)
    corner = {"zeros": 0.0, "constant": 7.0, "border": x[0, 3, 0, 0], "reflection": 0, "wrap": 0}
    assert out[2] == pytest.approx(corner[pad], abs=1e-12)


@pytest.mark.parametrize("mode", R.MODES)
@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_extreme_theta(mode, pad, dt):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, size=(1, 4, 5, 2)).astype(dt)
    cv = 0.25
    for ac, v, (k, j) in itertools.product(
        [False, True], EXTREME_VALUES, [(0, 2), (1, 2), (0, 0), (1, 0), (0, 1)]
    ):
        theta = np.array([[[1.0, 0.1, 0.0], [-0.2, 0.9, 0.1]]])
        theta[0, k, j] = v
        theta = theta.astype(dt)
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac, cval=cv)
        for out_size in [(3, 4), (1, 1)]:
            out = wk.affine_sample(x, theta, out_size, **kw)
            G = np.ones(out.shape, dtype=dt)
            gin, gth = wk.affine_sample_backward(G, x, theta, out_size, **kw)
            _finite(out, gin, gth)
            if j == 2:  # a translation: every source coordinate is finite + v, no inf * 0
                ref = R.affine_sample(x, theta, out_size, mode, pad, ac, cv)
                np.testing.assert_allclose(out, ref, **R.tolerances(dt), err_msg=f"{v} {k} {ac}")


@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (1, 1, 4, 1), (2, 3, 1, 1)])
def test_extremes_in_degenerate_images(shape):
    """H or W = 1: the meaning of ±inf can be ambiguous; nothing may crash or be non-finite."""
    x = np.ones(shape)
    g = np.tile(_extreme_grid(np.float64), (shape[0], 1, 1, 1))
    G = np.ones(g.shape[:3] + (shape[3],))
    for mode, pad, ac in itertools.product(R.MODES, R.PADDINGS, [False, True]):
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac, cval=0.5)
        _finite(wk.grid_sample(x, g, **kw), *wk.grid_sample_backward(G, x, g, **kw))


@pytest.mark.parametrize("shape", [(1, 1, 1, 2), (1, 1, 4, 1), (1, 3, 1, 1)])
@pytest.mark.parametrize("mode", R.MODES)
@pytest.mark.parametrize("pad", R.PADDINGS)
def test_nan_on_a_one_pixel_axis_contributes_nothing(shape, mode, pad):
    """With align_corners=True every finite coordinate of a one-pixel axis is its centre, but
    NaN still gives 0 and gradient 0 (it read the pixel until 2026-12-06), and ±inf follows
    the padding mode as on any other axis: the reference's meaning, forward and backward."""
    x = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    g = np.array([[[[np.nan, 0.3], [0.3, np.nan], [np.inf, 0.0], [0.0, -np.inf], [0.4, -0.2],
                    [-3.0, 2.5]]]])
    kw = dict(mode=mode, padding_mode=pad, align_corners=True, cval=7.0)
    out = wk.grid_sample(x, g, **kw)
    assert np.all(out[0, 0, :2] == 0.0)
    np.testing.assert_allclose(out, R.grid_sample(x, g, mode, pad, True, 7.0), rtol=1e-12,
                               atol=1e-12)
    G = np.ones(out.shape)
    gin, ggrid = wk.grid_sample_backward(G, x, g, **kw)
    rgin, rggrid = R.grid_sample_backward(G, x, g, mode, pad, True, 7.0)
    assert np.all(ggrid[0, 0, :2] == 0.0)
    np.testing.assert_allclose(gin, rgin, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ggrid, rggrid, rtol=1e-12, atol=1e-12)


def _pixels(grid, k, size, align_corners):
    """The finite pixel coordinates of a grid's axis k (the reference's unnormalize)."""
    p = np.array([R.unnormalize(float(v), size, align_corners)[0] for v in grid[..., k].ravel()])
    return p[np.isfinite(p)]


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), data=st.data())
def test_extreme_grids_match_the_reference(dtype, data):
    """Grids mixing regular values with NaN, ±inf and huge ones, on images down to 1x1, every
    mode, padding and align_corners: forward and backward equal the reference's meaning.
    (Such runs found the NaN of one-pixel axes and the knot at -1, 2026-12-06.) Nearest-mode
    ties (a pixel coordinate at k + 1/2) are left out: which way float rounding sends them is
    no one's meaning."""
    x = data.draw(images(dtype=dtype, max_side=5))
    ho, wo = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    grid = data.draw(grids(x.shape[0], ho, wo, extreme=True, dtype=dtype))
    opts = data.draw(sampling_options(cval=True))
    mode, pad, ac, cv = opts["mode"], opts["padding_mode"], opts["align_corners"], opts["cval"]
    if mode == "nearest":
        for k, size in ((0, x.shape[2]), (1, x.shape[1])):
            p = _pixels(grid, k, size, ac)
            assume(not (p.size and np.min(np.abs(p - np.floor(p) - 0.5)) < 1e-5))
    tol = R.tolerances(dtype)
    out = wk.grid_sample(x, grid, **opts)
    np.testing.assert_allclose(out, R.grid_sample(x, grid, mode, pad, ac, cv), **tol)
    G = data.draw(images(shape=out.shape, dtype=dtype))
    gin, ggrid = wk.grid_sample_backward(G, x, grid, **opts)
    rgin, rggrid = R.grid_sample_backward(G, x, grid, mode, pad, ac, cv)
    np.testing.assert_allclose(gin, rgin, rtol=10 * tol["rtol"], atol=10 * tol["atol"])
    scale = max(1.0, float(np.abs(rggrid).max()))
    np.testing.assert_allclose(ggrid, rggrid, rtol=10 * tol["rtol"],
                               atol=10 * tol["atol"] * scale)


@settings(max_examples=25, deadline=None)
@given(wo=st.integers(140, 300), zoom=st.floats(0.3, 1.0), shift=st.floats(-0.3, 0.3),
       holes=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 6)), min_size=1, max_size=4),
       pad=st.sampled_from(["zeros", "border", "reflection"]))
def test_nan_pixels_give_nan_at_the_end_of_wide_rows(wo, zoom, shift, holes, pad):
    """A 3-channel float32 row wide enough to be cut into column spans flags its last pixel
    (its 4-lane step's junk lane) and recomputes it in the edge pass when its result holds a
    NaN: from coordinates that the spans' path left uncomputed for interior columns, so a
    NaN there came back as another pixel's value, or crashed (found by a fuzz against
    PyTorch, 2026-12-06)."""
    x = np.arange(6 * 7 * 3, dtype=np.float32).reshape(1, 6, 7, 3) / 10 + 1
    for r, c in holes:
        x[0, r, c] = np.nan
    # off every knot (at a knot float rounding decides whether a NaN of weight 0 is read,
    # and the fused coordinates and the reference's may round apart)
    off = 0.0123456789
    theta = np.array([[[zoom, 0.0, shift + off], [0.0, zoom, off - shift]]])
    out = wk.affine_sample(x, theta, (6, wo), padding_mode=pad)
    expected = R.affine_sample(x.astype(np.float64), theta, (6, wo), padding_mode=pad)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("W", [8, 256])  # rows classified pixel by pixel, and cut into spans
@pytest.mark.parametrize("C", [1, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", ["zeros", "constant"])
def test_a_sample_on_minus_one_reads_pixel_zero_with_weight_zero(W, C, dtype, pad):
    """A shift by exactly one pixel puts the first output row and column on -1, whose cell
    reads pixel 0 with weight 0 as PyTorch's does: NaN there reaches them (0·NaN), as the
    reference says (they were filled as entirely outside, found by a fuzz against PyTorch)."""
    H = 4
    x = np.arange(H * W * C, dtype=dtype).reshape(1, H, W, C) / 7 + 1
    x[0, 0, 2] = np.nan  # row 0: output row 0 reads it with weight 0
    x[0, 2, 0] = np.nan  # column 0: output column 0 reads it with weight 0
    theta = np.array([[[1.0, 0.0, -2 / W], [0.0, 1.0, -2 / H]]])  # (ix, iy) = (j - 1, i - 1)
    expected = R.affine_sample(x.astype(np.float64), theta, padding_mode=pad, cval=0.5)
    assert np.isnan(expected[0, 0, 2]).all() and np.isnan(expected[0, 2, 0]).all()
    grid = wk.affine_grid(theta.astype(dtype), x.shape)
    for out in (wk.affine_sample(x, theta.astype(dtype), padding_mode=pad, cval=0.5),
                wk.grid_sample(x, grid, padding_mode=pad, cval=0.5)):
        np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
        np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pad", ["zeros", "border", "reflection", "constant", "wrap"])
@pytest.mark.parametrize("entry", [(0, 0, np.inf), (1, 2, -np.inf), (0, 1, np.nan)])
def test_a_theta_holding_inf_or_nan_samples_as_its_grid_does(pad, entry):
    """The fused kernels fold θ into pixel-space coefficients that one infinite entry makes NaN
    for every pixel (inf - inf); such samples take their grid points, whose coordinates are
    ±inf or NaN only where θ's products with the base grid give them (found by a fuzz against
    the reference: border padding gave zeros where it reads the edge)."""
    rng = np.random.default_rng(3)
    x = rng.random((2, 3, 4, 2))
    theta = np.tile(np.eye(2, 3), (2, 1, 1)) + 0.1 * rng.standard_normal((2, 2, 3))
    r, c, v = entry
    theta[1, r, c] = v  # the first sample stays finite
    gout = rng.standard_normal((2, 3, 5, 2))
    kw = dict(padding_mode=pad, cval=0.5)
    with np.errstate(invalid="ignore"):  # the reference's inf·0 in the base grid's centre
        expected = R.affine_sample(x, theta, (3, 5), padding_mode=pad, cval=0.5)
        gin_ref, gth_ref = R.affine_sample_backward(gout, x, theta, (3, 5), "bilinear", pad,
                                                    False, 0.5)
    into = np.full((2, 3, 5, 2), np.nan)
    for out in (wk.affine_sample(x, theta, (3, 5), **kw),
                wk.affine_sample(x, theta, (3, 5), out=into, **kw)):
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert out is into
    pair = (np.full_like(x, np.nan), np.full((2, 2, 3), np.nan))
    for gin, gth in (wk.affine_sample_backward(gout, x, theta, **kw),
                     wk.affine_sample_backward(gout, x, theta, out=pair, **kw)):
        np.testing.assert_allclose(gin, gin_ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gth, gth_ref, rtol=1e-9, atol=1e-9)
    assert gin is pair[0] and gth is pair[1]


@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("case", ["inf once cast to float32", "pixel-space form overflows"])
def test_a_finite_theta_whose_coefficients_are_not_finite_samples_its_grid(pad, case):
    """A θ finite as given can still make the fused kernels' pixel-space coefficients NaN: a
    float64 entry beyond float32's range, cast to a float32 input's dtype, or entries near
    float64's limit, whose products with the image size overflow. The sample takes its grid
    points, as θ holding inf does (found by a fuzz of the CUDA simulator against the CPU: the
    CPU sampled 0 everywhere, gradients 0, because only a θ holding inf as given took the
    grid)."""
    rng = np.random.default_rng(5)
    dtype = np.float32 if case == "inf once cast to float32" else np.float64
    x = rng.random((2, 4, 5, 2)).astype(dtype)
    gout = rng.standard_normal((2, 4, 5, 2)).astype(dtype)
    theta = np.tile(np.eye(2, 3), (2, 1, 1)) + 0.1 * rng.standard_normal((2, 2, 3))
    theta[1, 0, 0] = 1e39 if dtype == np.float32 else 1e308  # the first sample stays ordinary
    kw = dict(padding_mode=pad)
    with np.errstate(invalid="ignore", over="ignore"):
        as_used = theta.astype(dtype).astype(np.float64)  # the ops convert θ to the input's
        expected = R.affine_sample(x.astype(np.float64), as_used, padding_mode=pad)
        gin_ref, gth_ref = R.affine_sample_backward(gout.astype(np.float64),
                                                    x.astype(np.float64), as_used,
                                                    x.shape[1:3], "bilinear", pad, False)
    assert np.isfinite(expected).all()
    assert pad != "border" or not (expected[1] == 0).all()  # the edge, where the kernels gave 0
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    with np.errstate(over="ignore"):  # numpy's warning as it casts 1e39 to float32
        np.testing.assert_allclose(wk.affine_sample(x, theta, **kw), expected, **tol)
        gin, gth = wk.affine_sample_backward(gout, x, theta, **kw)
    np.testing.assert_allclose(gin, gin_ref, **tol)
    np.testing.assert_allclose(gth[0], gth_ref[0], rtol=1e-4, atol=1e-4)  # the ordinary one
    assert np.isfinite(gth[0]).all()


@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("pad", ["border", "reflection"])
@pytest.mark.parametrize("big", [1e13, 1e300])
def test_huge_theta_entries_sample_their_grid_points(big, pad, ac):
    """θ entries beyond about 1e12 cancel in the fused kernels' pixel-space coefficients (the
    translation folded into the others) and moved a row's samples by whole pixels where
    ``affine_grid``'s points are exact (here the middle row, y_t = 0, on both backends; found
    by a fuzz of the CUDA simulator against the CPU)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 4, 2))
    gout = rng.standard_normal((2, 5, 3, 2))
    theta = np.array([[[0.45, big, -0.545], [0.42, big, -0.1]],
                      [[0.9, 0.1, 0.0123], [-0.1, 0.9, 0.0371]]])  # off knots (one-sided slopes)
    kw = dict(padding_mode=pad, align_corners=ac)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = R.affine_sample(x, theta, (5, 3), padding_mode=pad, align_corners=ac)
        gin_ref, gth_ref = R.affine_sample_backward(gout, x, theta, (5, 3), "bilinear", pad, ac)
    np.testing.assert_allclose(wk.affine_sample(x, theta, (5, 3), **kw), expected, rtol=1e-12,
                               atol=1e-12)
    gin, gth = wk.affine_sample_backward(gout, x, theta, **kw)
    np.testing.assert_allclose(gin, gin_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gth, gth_ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("theta", [[[np.inf, 0, 0], [0, 1, 0]], [[1, 0, 0], [0, 1, np.nan]]])
def test_warp_refuses_a_theta_holding_inf_or_nan(theta):
    with pytest.raises(ValueError, match=r"theta must be finite, got (inf|nan) at index"):
        wk.warp(np.zeros((4, 4), np.uint8), theta)
