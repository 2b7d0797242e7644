"""Properties of the core ops, checked with hypothesis and the strategies of warpkit.testing.

* identity θ reproduces the input bit for bit;
* the fused affine ops equal grid_sample ∘ affine_grid, forward and backward;
* adjointness: <grid_sample(U, g), G> == <U, grad_input(G)>;
* a batch equals its samples done one by one;
* non-contiguous and negative-stride arrays give the results of their contiguous copies.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
from hypothesis import given, settings
from hypothesis import strategies as st

import warpkit as wk
from warpkit.testing import grids, images, sampling_options, thetas

SETTINGS = settings(max_examples=40, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@st.composite
def problems(draw, padding_modes=R.PADDINGS, modes=R.MODES):
    """(input, theta, out_size, options) with matching batch sizes."""
    dtype = draw(DTYPES)
    x = draw(images(dtype=dtype, max_side=6))
    theta = draw(thetas(n=x.shape[0], max_scale=1.5, dtype=dtype))
    out_size = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)))
    opts = draw(sampling_options(modes=modes, padding_modes=padding_modes))
    return x, theta, out_size, opts


@SETTINGS
@given(
    x=st.one_of(images(dtype=np.float32, max_side=7), images(dtype=np.float64, max_side=7)),
    opts=sampling_options(),
)
def test_identity_theta_is_exact(x, opts):
    theta = np.tile(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=x.dtype), (len(x), 1, 1))
    out = wk.affine_sample(x, theta, **opts)
    np.testing.assert_array_equal(out, x)
    assert out.dtype == x.dtype


@SETTINGS
@given(problems())
def test_affine_sample_equals_grid_sample_of_affine_grid(problem):
    x, theta, out_size, opts = problem
    ac = opts["align_corners"]
    N, _, _, C = x.shape
    grid = wk.affine_grid(theta, (N,) + out_size, align_corners=ac)
    fused = wk.affine_sample(x, theta, out_size, **opts)
    two_step = wk.grid_sample(x, grid, **opts)
    tol = _tol(x.dtype)
    # bilinear is continuous; nearest and every gradient jump at knots, where the fused
    # coordinates (computed another way) may fall on the other side: compare off knots
    keep = _away_from_ties(grid, x.shape, opts)
    if opts["mode"] == "bilinear":
        np.testing.assert_allclose(fused, two_step, **tol)
    else:
        np.testing.assert_allclose(fused * keep, two_step * keep, **tol)
    G = np.random.default_rng(0).standard_normal(fused.shape) * keep
    G = G.astype(x.dtype)
    gin_f, gth_f = wk.affine_sample_backward(G, x, theta, out_size, **opts)
    gin_2, ggrid = wk.grid_sample_backward(G, x, grid, **opts)
    gth_2 = wk.affine_grid_backward(ggrid, align_corners=ac)
    np.testing.assert_allclose(gin_f, gin_2, **tol)
    scale = 1.0 + (0.1 * np.prod(out_size) * max(x.shape[1:3]) if x.dtype == np.float32 else 0)
    np.testing.assert_allclose(gth_f, gth_2, rtol=tol["rtol"], atol=tol["atol"] * scale)


def _away_from_ties(grid, shape, opts, margin=1e-4):
    """Mask (N, Ho, Wo, 1) of output pixels whose coordinates are off every knot, so that a
    float32 rounding difference cannot select other corners (or another nearest pixel)."""
    _, H, W, _ = shape
    ok = np.ones(grid.shape[:3], dtype=bool)
    for axis, size in ((0, W), (1, H)):
        pix = R.unnormalize(grid[..., axis].astype(np.float64), size, opts["align_corners"])[0]
        ok &= np.abs(2 * pix - np.round(2 * pix)) > margin * max(1.0, float(np.max(np.abs(pix))))
    return ok[..., None]


@SETTINGS
@given(problems(padding_modes=("zeros", "border", "reflection", "constant", "wrap")), st.data())
def test_adjointness(problem, data):
    """grad_input is the adjoint of the (linear in U) sampling map."""
    x, theta, out_size, opts = problem
    x = x.astype(np.float64)
    N, _, _, C = x.shape
    grid = data.draw(grids(N, *out_size, bound=2.5))
    opts = dict(opts, cval=0.0)  # constant with cval=0 is linear in U
    G = data.draw(images(shape=(N,) + out_size + (C,)))
    lhs = np.vdot(wk.grid_sample(x, grid, **opts), G)
    gin, _ = wk.grid_sample_backward(G, x, grid, **opts)
    rhs = np.vdot(x, gin)
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)
    # and for the fused op
    lhs = np.vdot(wk.affine_sample(x, theta, out_size, **opts), G)
    gin, _ = wk.affine_sample_backward(G, x, theta, out_size, **opts)
    assert lhs == pytest.approx(np.vdot(x, gin), rel=1e-12, abs=1e-12)


@SETTINGS
@given(problems(), st.data())
def test_batch_equals_one_by_one(problem, data):
    x, theta, out_size, opts = problem
    N, _, _, C = x.shape
    grid = data.draw(grids(N, *out_size, dtype=x.dtype))
    G = data.draw(images(shape=(N,) + out_size + (C,), dtype=x.dtype))
    out = wk.grid_sample(x, grid, **opts)
    gin, ggrid = wk.grid_sample_backward(G, x, grid, **opts)
    aout = wk.affine_sample(x, theta, out_size, **opts)
    agin, agth = wk.affine_sample_backward(G, x, theta, out_size, **opts)
    # forward: bit-equal; gradients: sums whose order may depend on how the work is split
    gtol = _tol(x.dtype)
    for n in range(N):
        s = slice(n, n + 1)
        np.testing.assert_array_equal(out[s], wk.grid_sample(x[s], grid[s], **opts))
        gi, gg = wk.grid_sample_backward(G[s], x[s], grid[s], **opts)
        np.testing.assert_allclose(gin[s], gi, **gtol)
        np.testing.assert_allclose(ggrid[s], gg, **gtol)
        np.testing.assert_array_equal(aout[s], wk.affine_sample(x[s], theta[s], out_size, **opts))
        gi, gt = wk.affine_sample_backward(G[s], x[s], theta[s], out_size, **opts)
        np.testing.assert_allclose(agin[s], gi, **gtol)
        scale = 1.0 + np.abs(agth[s]).max() + np.prod(out_size)
        np.testing.assert_allclose(agth[s], gt, rtol=gtol["rtol"], atol=gtol["atol"] * scale)


def _strided_views(a):
    """Views of the same values with other memory layouts (and the contiguous copy)."""
    rev = np.ascontiguousarray(a[:, ::-1])[:, ::-1]  # negative stride on axis 1
    trans = np.ascontiguousarray(a.swapaxes(1, 2)).swapaxes(1, 2)  # transposed view
    big = np.zeros((a.shape[0], a.shape[1], 2 * a.shape[2]) + a.shape[3:], a.dtype)
    big[:, :, ::2] = a
    fortran = np.asfortranarray(a)
    return {"reversed": rev, "transposed": trans, "every-other": big[:, :, ::2], "F": fortran}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", R.MODES)
def test_non_contiguous_inputs(dtype, mode):
    rng = np.random.default_rng(4)
    N, H, W, C, Ho, Wo = 2, 4, 5, 3, 3, 4
    x = rng.standard_normal((N, H, W, C)).astype(dtype)
    grid = rng.uniform(-1.2, 1.2, size=(N, Ho, Wo, 2)).astype(dtype)
    theta = rng.uniform(-1, 1, size=(N, 2, 3)).astype(dtype)
    G = rng.standard_normal((N, Ho, Wo, C)).astype(dtype)
    opts = dict(mode=mode, padding_mode="reflection", align_corners=False)
    want = [
        wk.grid_sample(x, grid, **opts),
        *wk.grid_sample_backward(G, x, grid, **opts),
        wk.affine_sample(x, theta, (Ho, Wo), **opts),
        *wk.affine_sample_backward(G, x, theta, (Ho, Wo), **opts),
        wk.affine_grid(theta, (N, Ho, Wo)),
        wk.affine_grid_backward(grid),
    ]
    for (kx, vx), (kg, vg), (kG, vG) in zip(
        _strided_views(x).items(),
        _strided_views(grid).items(),
        _strided_views(G).items(),
        strict=True,
    ):
        assert not vx.flags.c_contiguous, kx
        vt = theta[:, :, ::-1].copy()[:, :, ::-1]
        got = [
            wk.grid_sample(vx, vg, **opts),
            *wk.grid_sample_backward(vG, vx, vg, **opts),
            wk.affine_sample(vx, vt, (Ho, Wo), **opts),
            *wk.affine_sample_backward(vG, vx, vt, (Ho, Wo), **opts),
            wk.affine_grid(vt, (N, Ho, Wo)),
            wk.affine_grid_backward(vg),
        ]
        for w, g in zip(want, got, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"{kx}/{kg}/{kG}")


# --------------------------------------------------------------------------- warpkit.testing
@settings(max_examples=30, deadline=None)
@given(thetas(n=2, max_scale=0.7, max_translation=0.2, invertible=True, min_det=0.2))
def test_thetas_strategy_bounds(theta):
    assert theta.shape == (2, 2, 3) and theta.dtype == np.float64
    assert np.all(np.abs(theta[:, :, :2]) <= 0.7) and np.all(np.abs(theta[:, :, 2]) <= 0.2)
    assert np.all(np.abs(np.linalg.det(theta[:, :, :2])) >= 0.2)


@settings(max_examples=30, deadline=None)
@given(
    images(dtype=np.uint8, layout="image"),
    images(dtype=np.float32, layout="any", max_side=3),
    grids(2, 3, 1, extreme=True, dtype=np.float32),
    sampling_options(cval=True),
)
def test_other_strategies(img, anyimg, grid, opts):
    assert img.dtype == np.uint8 and img.ndim in (2, 3)
    assert anyimg.dtype == np.float32 and anyimg.ndim in (2, 3, 4)
    assert grid.shape == (2, 3, 1, 2) and grid.dtype == np.float32
    assert set(opts) == {"mode", "padding_mode", "align_corners", "cval"}


def test_testing_module_works_without_hypothesis(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "hypothesis", None)  # makes `import hypothesis` fail
    monkeypatch.delitem(sys.modules, "warpkit.testing")
    mod = importlib.import_module("warpkit.testing")
    x = np.array([1.0, -2.0])
    np.testing.assert_allclose(mod.numerical_gradient(lambda a: a @ a, x), 2 * x, atol=1e-8)
    with pytest.raises(ImportError, match="pip install hypothesis"):
        mod.thetas()
