"""Small outputs run in the calling thread (``cpu.forward``); the serial twins must give the
parallel kernels' results bit for bit, whatever the number of row bands the parallel kernel
cuts the output into (wide outputs make bands of a few rows, so the draws below cover one
band, several, and an uneven last one)."""

from __future__ import annotations

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
    """Outputs of the parallel kernel and of its serial twin, each into a NaN-filled copy."""
    a = np.full_like(out, np.nan) if out.dtype.kind == "f" else np.full_like(out, 7)
    b = a.copy()
    getattr(cpu, name)(*args, a, *tail)
    getattr(cpu, name + "_serial")(*args, b, *tail)
    return a, b


@settings(max_examples=30, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_affine_serial_twin_is_bit_identical(shape, opts, data, dtype):
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
def test_affine_int_serial_twin_is_bit_identical(shape, opts, data):
    n, h, w, ho, wo, c = shape
    x = data.draw(testing.images((n, h, w, c), np.uint8))
    theta = data.draw(testing.thetas(n))
    work = np.empty(0, np.float32)
    a, b = _both("affine_sample_int", (x, theta), np.empty((n, ho, wo, c), np.uint8),
                 (*_codes(opts), np.full(c, 9.0), 0, 255, work))
    np.testing.assert_array_equal(a, b)


@settings(max_examples=20, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data())
def test_grid_serial_twin_is_bit_identical(shape, opts, data):
    n, h, w, ho, wo, c = shape
    wo = min(wo, 700)  # grids hold two floats per output pixel
    x = data.draw(testing.images((n, h, w, c), np.float64))
    grid = data.draw(testing.grids(n, ho, wo, extreme=True))
    a, b = _both("grid_sample", (x, grid), np.empty((n, ho, wo, c)),
                 (*_codes(opts), np.zeros(c)))
    assert not np.isnan(a).any()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["affine_sample", "affine_sample_int", "grid_sample"])
def test_forward_runs_small_outputs_in_the_calling_thread(name):
    serial, parallel = getattr(cpu, name + "_serial"), getattr(cpu, name)
    assert cpu.forward(name, 1) is serial
    assert cpu.forward(name, cpu.SERIAL_PIXELS - 1) is serial
    assert cpu.forward(name, cpu.SERIAL_PIXELS) is parallel


def test_forward_leaves_kernels_without_a_twin_alone():
    assert cpu.forward("affine_sample_backward", 1) is cpu.affine_sample_backward
    assert cpu.forward("affine_grid", 1) is cpu.affine_grid
