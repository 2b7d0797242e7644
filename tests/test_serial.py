"""Small outputs are sampled on the calling thread alone (``cpu.call``). The kernels cut work
by shape, not by thread count, so one thread must give the results of all threads bit for
bit, whatever the number of row bands the output is cut into (wide outputs make bands of a
few rows, so the draws below cover one band, several, and an uneven last one)."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warpkit import _validate as V
from warpkit import testing
from warpkit.backends import cpu

SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
                   st.integers(1, 9), st.integers(1, 2600), st.sampled_from([1, 2, 3, 4]))


def _codes(opts: dict) -> tuple:
    return (V.mode_code(opts["mode"]), V.padding_code(opts["padding_mode"]),
            opts["align_corners"])


def _both(name: str, args: tuple, out: np.ndarray, tail: tuple) -> tuple:
    """Outputs of kernel ``name`` on all threads and on one (``cpu.call`` of a small output),
    each into a NaN-filled copy."""
    assert numba.get_num_threads() >= 2, "the comparison needs at least 2 numba threads"
    a = np.full_like(out, np.nan) if out.dtype.kind == "f" else np.full_like(out, 7)
    b = a.copy()
    kernel = getattr(cpu, name)
    kernel(*args, a, *tail)
    cpu.call(kernel, 1, *args, b, *tail)
    return a, b


@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_affine_one_thread_is_bit_identical(shape, opts, data, dtype):
    n, h, w, ho, wo, c = shape
    x = data.draw(testing.images((n, h, w, c), dtype))
    theta = data.draw(testing.thetas(n))
    cval = np.linspace(-1.0, 1.0, c).astype(dtype)
    a, b = _both("affine_sample", (x, theta), np.empty((n, ho, wo, c), dtype),
                 (*_codes(opts), cval))
    assert not np.isnan(a).any()
    np.testing.assert_array_equal(a, b)


@settings(max_examples=20, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data())
def test_affine_int_one_thread_is_bit_identical(shape, opts, data):
    n, h, w, ho, wo, c = shape
    x = data.draw(testing.images((n, h, w, c), np.uint8))
    theta = data.draw(testing.thetas(n))
    work = np.empty(0, np.float32)
    a, b = _both("affine_sample_int", (x, theta), np.empty((n, ho, wo, c), np.uint8),
                 (*_codes(opts), np.full(c, 9.0), work))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=20, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data())
def test_grid_one_thread_is_bit_identical(shape, opts, data):
    n, h, w, ho, wo, c = shape
    wo = min(wo, 700)  # grids hold two floats per output pixel
    x = data.draw(testing.images((n, h, w, c), np.float64))
    grid = data.draw(testing.grids(n, ho, wo, extreme=True))
    a, b = _both("grid_sample", (x, grid), np.empty((n, ho, wo, c)),
                 (*_codes(opts), np.zeros(c)))
    assert not np.isnan(a).any()
    np.testing.assert_array_equal(a, b)


def _probe(seen: list, fail: bool = False):
    def kernel(*args):
        seen.append((numba.get_num_threads(), args))
        if fail:
            raise RuntimeError("kernel failed")
    return kernel


@pytest.fixture(params=["numba's ctypes functions", "numba's public functions"])
def setters(request, monkeypatch):
    """``cpu.call`` with the thread-count functions it finds, and with the public ones it falls
    back to where numba lacks those."""
    if request.param == "numba's public functions":
        monkeypatch.setattr(cpu, "_setters", (numba.get_num_threads, numba.set_num_threads))
    else:
        monkeypatch.setattr(cpu, "_setters", None)
    return request.param


def test_call_runs_small_outputs_on_one_thread_and_restores_the_count(setters):
    before = numba.get_num_threads()
    seen: list = []
    cpu.call(_probe(seen), cpu.SERIAL_PIXELS - 1, "x", 2)
    cpu.call(_probe(seen), cpu.SERIAL_PIXELS, "y")
    assert seen == [(1, ("x", 2)), (before, ("y",))]
    assert numba.get_num_threads() == before


def test_call_restores_the_thread_count_when_the_kernel_raises(setters):
    before = numba.get_num_threads()
    with pytest.raises(RuntimeError, match="kernel failed"):
        cpu.call(_probe([], fail=True), 1)
    assert numba.get_num_threads() == before
