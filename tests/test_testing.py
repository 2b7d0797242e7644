"""warpkit.testing: the gradient checker fails where it must, the strategies draw what they
promise, and the module's own example runs."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings

import warpkit.testing as T


def _sqrt_sum(v):
    return float(np.sum(np.sqrt(v)))


@pytest.mark.parametrize("f,x,grad", [
    (lambda v: float("nan"), np.ones(3), np.zeros(3)),  # NaN everywhere
    (_sqrt_sum, np.array([-1.0, 4.0]), np.array([123.0, 0.25])),  # NaN at v[0] only
    (lambda v: float(np.sum(np.exp(1000 * v))), np.ones(2), np.zeros(2)),  # inf
])
def test_check_gradient_fails_where_the_numerical_gradient_is_not_finite(f, x, grad):
    with np.errstate(all="ignore"), pytest.raises(AssertionError, match="gradient mismatch"):
        T.check_gradient(f, x, grad)


def test_check_gradient_passes_a_right_gradient_and_fails_a_wrong_one():
    x = np.array([0.3, 1.7, 2.2])
    right = 0.5 / np.sqrt(x)
    np.testing.assert_allclose(T.check_gradient(_sqrt_sum, x, right), right, rtol=1e-8)
    with pytest.raises(AssertionError, match=r"index \(1,\)"):
        T.check_gradient(_sqrt_sum, x, right * [1, 1.01, 1])


@pytest.mark.parametrize("bound", [0.3, 1.1, 1.5, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grids_draw_entries_within_any_bound(bound, dtype):
    @settings(max_examples=30, deadline=None)
    @given(T.grids(1, 3, 4, bound=bound, dtype=dtype))
    def draw(grid):
        assert grid.shape == (1, 3, 4, 2) and grid.dtype == dtype
        assert np.all(np.abs(grid) <= bound)

    draw()


def test_the_module_example_runs():
    """The docstring's example, a hypothesis test that warpkit's samples are finite, defined
    and run (with images of up to 3 samples against one θ it had failed at once)."""
    failures, tried = doctest.testmod(T)
    assert tried == 6 and failures == 0
