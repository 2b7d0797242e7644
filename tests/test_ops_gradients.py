"""Finite-difference checks (central differences, float64, away from knots) of every gradient.

The loss is ``L = <op(...), G>`` for a fixed random G, so the analytic gradients are the
backward ops applied to G. The reference's own gradients are checked the same way, which is
what makes it a trustworthy referee for the padding modes PyTorch lacks (constant, wrap).
"""

from __future__ import annotations

import numpy as np
import pytest
import reference as R

import warpkit as wk
from warpkit.testing import check_gradient, numerical_gradient

FD = dict(eps=1e-6, rtol=1e-6, atol=1e-7)


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _setup(pad, ac, seed, N=2, H=3, W=3, C=2, Ho=2, Wo=2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, C))
    reach = None if pad in ("reflection", "wrap") else 1  # mostly inside: nonzero grads
    g = R.off_knot_grid(rng, N, Ho, Wo, H, W, ac, margin=0.05, reach=reach)
    G = rng.standard_normal((N, Ho, Wo, C))
    cv = rng.uniform(-2, 2, size=C) if pad == "constant" else 0.0
    return x, g, G, cv


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_bilinear_gradients(pad, ac):
    x, g, G, cv = _setup(pad, ac, seed=len(pad) + 10 * ac)
    kw = dict(mode="bilinear", padding_mode=pad, align_corners=ac, cval=cv)
    gin, ggrid = wk.grid_sample_backward(G, x, g, **kw)
    check_gradient(lambda u: np.sum(wk.grid_sample(u, g, **kw) * G), x, gin, **FD)
    check_gradient(lambda q: np.sum(wk.grid_sample(x, q, **kw) * G), g, ggrid, **FD)
    # the grid gradient is not trivially zero (the check would then be vacuous)
    assert np.count_nonzero(ggrid) > ggrid.size // 4


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_nearest_gradients(pad, ac):
    x, g, G, cv = _setup(pad, ac, seed=3 + len(pad))
    kw = dict(mode="nearest", padding_mode=pad, align_corners=ac, cval=cv)
    gin, ggrid = wk.grid_sample_backward(G, x, g, **kw)
    check_gradient(lambda u: np.sum(wk.grid_sample(u, g, **kw) * G), x, gin, **FD)
    # piecewise constant in the grid (coordinates are off the rounding ties)
    np.testing.assert_array_equal(ggrid, 0.0)
    num = numerical_gradient(lambda q: np.sum(wk.grid_sample(x, q, **kw) * G), g, 1e-6)
    np.testing.assert_array_equal(num, 0.0)


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_reference_gradients(pad, ac):
    x, g, G, cv = _setup(pad, ac, seed=99 + len(pad), N=1, H=3, W=3, C=2, Ho=2, Wo=3)
    gin, ggrid = R.grid_sample_backward(G, x, g, "bilinear", pad, ac, cv)
    args = ("bilinear", pad, ac, cv)
    check_gradient(lambda u: np.sum(R.grid_sample(u, g, *args) * G), x, gin, **FD)
    check_gradient(lambda q: np.sum(R.grid_sample(x, q, *args) * G), g, ggrid, **FD)


@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_gradient(ac):
    rng = np.random.default_rng(1)
    theta = rng.uniform(-1, 1, size=(2, 2, 3))
    G = rng.standard_normal((2, 4, 3, 2))
    gt = wk.affine_grid_backward(G, align_corners=ac)
    check_gradient(
        lambda t: np.sum(wk.affine_grid(t, (2, 4, 3), align_corners=ac) * G), theta, gt, **FD
    )


@pytest.mark.parametrize("pad", R.PADDINGS)
@pytest.mark.parametrize("ac", [False, True])
def test_affine_sample_gradients(pad, ac):
    out_size = (2, 3) if ac else (4, 2)
    rng = np.random.default_rng(len(pad) + 7 * ac)
    N, H, W, C = 2, 3, 4, 1
    x = rng.standard_normal((N, H, W, C))
    theta = np.array([[[0.9, 0.3, 0.1], [-0.2, 1.1, -0.05]], [[1.3, -0.4, 0.6], [0.5, 0.8, 0.3]]])
    theta += rng.uniform(-0.05, 0.05, size=theta.shape)
    G = rng.standard_normal((N,) + out_size + (C,))
    cv = rng.uniform(-2, 2, size=C) if pad == "constant" else 0.0
    kw = dict(padding_mode=pad, align_corners=ac, cval=cv)
    # the points must be off knots for the finite differences to be fair
    grid = R.affine_grid(theta, (N,) + out_size, ac)
    for axis, size in ((0, W), (1, H)):
        pix = R.unnormalize(grid[..., axis], size, ac)[0]
        assert np.min(np.abs(2 * pix - np.round(2 * pix))) > 1e-4
    gin, gth = wk.affine_sample_backward(G, x, theta, out_size, **kw)
    check_gradient(lambda u: np.sum(wk.affine_sample(u, theta, out_size, **kw) * G), x, gin, **FD)
    check_gradient(
        lambda t: np.sum(wk.affine_sample(x, t, out_size, **kw) * G), theta, gth, **FD
    )
    assert np.count_nonzero(gth) >= 6


def test_check_gradient_catches_a_wrong_gradient():
    """The checker itself can fail, and names the worst index."""
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    good = 2 * x
    check_gradient(lambda a: np.sum(a**2), x, good)
    bad = good.copy()
    bad[1, 0] += 1e-3
    with pytest.raises(AssertionError, match=r"index \(1, 0\)"):
        check_gradient(lambda a: np.sum(a**2), x, bad)
    with pytest.raises(ValueError, match="shape"):
        check_gradient(lambda a: np.sum(a**2), x, good.ravel())
