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


def _square_sum(v):
    return float(np.sum(v * v))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(rtol=float("nan")), ValueError, "rtol must be a finite real number >= 0, got nan"),
    (dict(atol=float("nan")), ValueError, "atol must be a finite real number >= 0, got nan"),
    (dict(rtol=float("inf")), ValueError, "rtol must be .* got inf"),
    (dict(atol=-1e-7), ValueError, "atol must be .* got -1e-07"),
    (dict(rtol="1e-5"), TypeError, "rtol must be .* got '1e-5'"),
    (dict(eps=0.0), ValueError, r"eps must be a finite real number > 0, got 0.0"),
    (dict(eps=float("nan")), ValueError, "eps must be .* got nan"),
    (dict(eps=-1e-6), ValueError, "eps must be .* got -1e-06"),
])
def test_check_gradient_refuses_tolerances_that_pass_anything(kwargs, exc, match):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(exc, match=match):
        T.check_gradient(_square_sum, x, 3 * x, **kwargs)  # 3x is wrong: the gradient is 2x
    with pytest.raises(exc, match=match):
        T.check_gradient(_square_sum, x, 2 * x, **kwargs)


@pytest.mark.parametrize("eps", [0, 0.0, float("nan"), float("inf"), -1e-6])
def test_numerical_gradient_refuses_a_bad_step(eps):
    with pytest.raises(ValueError, match="eps must be a finite real number > 0"):
        T.numerical_gradient(_square_sum, np.ones(2), eps=eps)


def _read_only(a):
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("a,exc,match", [
    (np.array([1, 2, 3]), TypeError, "a must be a float64 numpy array, got dtype int64"),
    (np.array([1, 2, 3], np.float32), TypeError, "a must be a float64 .* float32"),
    ([1.0, 2.0, 3.0], TypeError, "a must be a float64 numpy array, got list"),
    (_read_only(np.array([1.0, 2.0, 3.0])), ValueError, "a must be writeable"),
])
def test_numerical_gradient_inplace_refuses_arrays_it_cannot_perturb(a, exc, match):
    with pytest.raises(exc, match=match):
        T.numerical_gradient_inplace(lambda: float(np.sum(np.asarray(a, float) ** 2)), a)


@pytest.mark.parametrize("max_entries", [-1, True, 1.5, "2"])
def test_numerical_gradient_inplace_refuses_a_bad_max_entries(max_entries):
    a = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"max_entries \(or None\) must be an int >= 0"):
        T.numerical_gradient_inplace(lambda: float(np.sum(a**2)), a, max_entries=max_entries)


@pytest.mark.parametrize("max_entries", [0, 2, np.int64(3)])
def test_numerical_gradient_inplace_differentiates_max_entries_entries(max_entries):
    a = np.array([1.0, 2.0, 3.0])
    g = T.numerical_gradient_inplace(lambda: float(np.sum(a**2)), a, max_entries=max_entries)
    done = np.isfinite(g)
    assert done.sum() == max_entries
    np.testing.assert_allclose(g[done], np.array([2.0, 4.0, 6.0])[done], rtol=1e-8)
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("kwargs,match", [
    (dict(modes="nearest"), "modes must be a non-empty tuple of names .* got 'nearest'"),
    (dict(padding_modes="zeros"), "padding_modes must be .* got 'zeros'"),
    (dict(modes=("bogus",)), r"modes must be .* got \('bogus',\)"),
    (dict(padding_modes=("zeros", "bogus")), r"padding_modes must be .* 'bogus'\)"),
    (dict(modes=()), r"modes must be a non-empty tuple .* got \(\)"),
])
def test_sampling_options_refuses_strings_and_unknown_names(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.sampling_options(**kwargs)


def test_sampling_options_draws_only_the_given_names():
    @settings(max_examples=20, deadline=None, database=None)
    @given(T.sampling_options(modes=["nearest"], padding_modes=("border", "wrap")))
    def draw(opts):
        assert opts["mode"] == "nearest" and opts["padding_mode"] in ("border", "wrap")

    draw()


@pytest.mark.parametrize("kwargs,match", [
    (dict(dtype=np.uint8), "dtype must be float32 or float64"),
    (dict(dtype=np.int32), "dtype must be float32 or float64"),
    (dict(dtype="complex128"), "dtype must be float32 or float64, got 'complex128'"),
    (dict(dtype="bogus"), "dtype must be float32 or float64, got 'bogus'"),
    (dict(n=0), r"n \(the batch size\) must be a positive int, got 0"),
    (dict(n=-2), r"n \(the batch size\) must be a positive int, got -2"),
    (dict(n=True), r"n \(the batch size\) must be a positive int, got True"),
    (dict(n=1.5), r"n \(the batch size\) must be a positive int, got 1.5"),
])
def test_thetas_refuses_bad_arguments_when_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        T.thetas(**kwargs)
