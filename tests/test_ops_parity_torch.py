"""Parity with PyTorch's ``affine_grid``/``grid_sample`` (the semantic reference), forward and
backward, with the layout transposed (NHWC <-> NCHW). Skipped when torch is not importable."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import reference as R

import warpkit as wk

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = [
    pytest.mark.parity,
    pytest.mark.usefixtures("one_numba_thread"),
    # torch warns that unit-size affine grids changed in 1.3; that is the behaviour we match
    pytest.mark.filterwarnings("ignore:Since version 1.3.0, affine_grid"),
]

PADS = ("zeros", "border", "reflection")
COMBOS = list(itertools.product(R.MODES, PADS, [False, True], [np.float32, np.float64]))
IDS = [f"{m}-{p}-ac{int(a)}-{np.dtype(d).name}" for m, p, a, d in COMBOS]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
# (N, H, W, C, Ho, Wo)
SHAPES = [(1, 1, 4, 2, 3, 3), (2, 4, 5, 3, 3, 6), (3, 3, 2, 1, 4, 1)]


def _nchw(a, dt):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), dtype=TORCH_DTYPE[dt])


def _nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def _tol(dt, scale=1.0):
    if dt == np.float32:
        return dict(rtol=1e-5, atol=1e-5 * scale)
    return dict(rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("combo", COMBOS, ids=IDS)
def test_grid_sample_parity(combo):
    mode, pad, ac, dt = combo
    rng = np.random.default_rng(2)
    for N, H, W, C, Ho, Wo in SHAPES:
        x = rng.standard_normal((N, H, W, C)).astype(dt)
        g = R.off_knot_grid(rng, N, Ho, Wo, H, W, ac).astype(dt)
        G = rng.standard_normal((N, Ho, Wo, C)).astype(dt)
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac)
        xt = _nchw(x, dt).requires_grad_()
        gt = torch.tensor(g, requires_grad=True)
        out_t = F.grid_sample(xt, gt, **kw)
        out_t.backward(_nchw(G, dt))
        out = wk.grid_sample(x, g, **kw)
        gin, ggrid = wk.grid_sample_backward(G, x, g, **kw)
        np.testing.assert_allclose(out, _nhwc(out_t), **_tol(dt))
        np.testing.assert_allclose(gin, _nhwc(xt.grad), **_tol(dt))
        np.testing.assert_allclose(ggrid, gt.grad.numpy(), **_tol(dt, scale=max(H, W)))


@pytest.mark.parametrize("combo", COMBOS, ids=IDS)
def test_affine_sample_parity(combo):
    mode, pad, ac, dt = combo
    rng = np.random.default_rng(3)
    for N, H, W, C, Ho, Wo in SHAPES:
        x = rng.standard_normal((N, H, W, C)).astype(dt)
        theta = rng.uniform(-1.2, 1.2, size=(N, 2, 3)).astype(dt)
        G = rng.standard_normal((N, Ho, Wo, C)).astype(dt)
        kw = dict(mode=mode, padding_mode=pad, align_corners=ac)
        xt = _nchw(x, dt).requires_grad_()
        tht = torch.tensor(theta, requires_grad=True)
        grid_t = F.affine_grid(tht, [N, C, Ho, Wo], align_corners=ac)
        np.testing.assert_allclose(
            wk.affine_grid(theta, (N, Ho, Wo), align_corners=ac), grid_t.detach().numpy(),
            **_tol(dt),
        )
        out_t = F.grid_sample(xt, grid_t, **kw)
        out_t.backward(_nchw(G, dt))
        out = wk.affine_sample(x, theta, (Ho, Wo), **kw)
        gin, gth = wk.affine_sample_backward(G, x, theta, (Ho, Wo), **kw)
        np.testing.assert_allclose(out, _nhwc(out_t), **_tol(dt))
        np.testing.assert_allclose(gin, _nhwc(xt.grad), **_tol(dt))
        scale = 1.0 + 0.1 * Ho * Wo * max(H, W)
        np.testing.assert_allclose(gth, tht.grad.numpy(), **_tol(dt, scale))


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_backward_parity(ac):
    rng = np.random.default_rng(4)
    theta = torch.tensor(rng.uniform(-1, 1, size=(2, 2, 3)), requires_grad=True)
    G = rng.standard_normal((2, 5, 3, 2))
    F.affine_grid(theta, [2, 1, 5, 3], align_corners=ac).backward(torch.tensor(G))
    np.testing.assert_allclose(
        wk.affine_grid_backward(G, align_corners=ac), theta.grad.numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("pad", PADS)
@pytest.mark.parametrize("ac", [False, True])
def test_nearest_ties_parity(pad, ac):
    """Exact half-pixel positions: both round half to even."""
    H, W = (4, 4) if not ac else (5, 5)
    x = np.random.default_rng(5).standard_normal((1, H, W, 2))
    ks = np.arange(-1, W) + 0.5
    px, py = np.meshgrid(ks, ks)
    g = np.stack([R.normalize(px, W, ac), R.normalize(py, H, ac)], axis=-1)[None]
    kw = dict(mode="nearest", padding_mode=pad, align_corners=ac)
    ref = F.grid_sample(_nchw(x, np.float64), torch.tensor(g), **kw)
    np.testing.assert_array_equal(wk.grid_sample(x, g, **kw), _nhwc(ref))


@pytest.mark.parametrize("ac", [False, True])
def test_knots_outside_the_image_parity(ac):
    """Bilinear at every whole-pixel position from -2 to W (both axes), zeros padding: on the
    knot -1 the value is 0 but the derivative reads pixel 0 (PyTorch's cell [-1, 0]); on W
    and beyond, and at -2, nothing is read. Forward and backward, float64."""
    H, W = (4, 6) if not ac else (5, 5)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, H, W, 2))
    ks = np.arange(-2.0, W + 1.0)
    px, py = np.meshgrid(ks, ks)
    g = np.stack([R.normalize(px, W, ac), R.normalize(py, H, ac)], axis=-1)[None]
    G = rng.standard_normal(g.shape[:3] + (2,))
    xt = _nchw(x, np.float64).requires_grad_()
    gt = torch.tensor(g, requires_grad=True)
    out_t = F.grid_sample(xt, gt, align_corners=ac)
    out_t.backward(_nchw(G, np.float64))
    gin, ggrid = wk.grid_sample_backward(G, x, g, align_corners=ac)
    np.testing.assert_allclose(wk.grid_sample(x, g, align_corners=ac), _nhwc(out_t), **_tol(
        np.float64))
    np.testing.assert_allclose(gin, _nhwc(xt.grad), **_tol(np.float64))
    np.testing.assert_allclose(ggrid, gt.grad.numpy(), **_tol(np.float64))
