"""Small calls run their kernels' serial twins on the calling thread alone (``cpu.call``). The
kernels cut work by shape, not by thread count, and a twin calls the worker its parallel kernel
calls, so one thread must give the results of all threads bit for bit, whatever the number of
row bands the output is cut into (wide outputs make bands of a few rows, so the draws below
cover one band, several, and an uneven last one)."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warpkit import _threads, testing
from warpkit import _validate as V
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


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES, opts=testing.sampling_options(), data=st.data())
def test_backward_one_thread_is_bit_identical(shape, opts, data):
    """The backward of a single image is cut into tasks by its shape (each scattering into its
    own band of rows), of a batch one task per sample: the twin gives the same bits."""
    n, h, w, ho, wo, c = shape
    wo = min(wo, 700)
    x = data.draw(testing.images((n, h, w, c), np.float64))
    gout = data.draw(testing.images((n, ho, wo, c), np.float64))
    theta = data.draw(testing.thetas(n))
    tail = (*_codes(opts), np.linspace(-1.0, 1.0, c))
    results = []
    for run in (lambda f, *a: f(*a), lambda f, *a: cpu.call(f, 1, *a)):
        gin, gtheta = np.full_like(x, np.nan), np.full((n, 2, 3), np.nan)
        run(cpu.affine_sample_backward, gout, x, theta, gin, gtheta, *tail)
        results.append((gin, gtheta))
    (a_in, a_th), (b_in, b_th) = results
    assert not np.isnan(a_in).any() and not np.isnan(a_th).any()
    np.testing.assert_array_equal(a_in, b_in)
    np.testing.assert_array_equal(a_th, b_th)


def _probe(seen: list, fail: bool = False):
    """A stand-in kernel that records whether launches run serially on its thread."""
    def kernel(*args):
        seen.append((_threads.here.serial, _threads.parallel(), args))
        if fail:
            raise RuntimeError("kernel failed")
    return kernel


def test_call_runs_small_work_serially_on_this_thread_alone():
    seen: list = []
    cpu.call(_probe(seen), cpu.SERIAL_PIXELS - 1, "x", 2)
    cpu.call(_probe(seen), cpu.SERIAL_PIXELS, "y")
    with _threads.parallel_launches():
        cpu.call(_probe(seen), 1, "z")
    assert seen == [(True, False, ("x", 2)), (False, True, ("y",)), (False, True, ("z",))]
    assert not _threads.here.serial and _threads.here.small_serial

    others = []  # another thread's launches stay parallel meanwhile
    cpu.call(lambda: others.append(_run_in_thread(_threads.parallel)), 1)
    assert others == [True]


def test_the_sampling_backwards_run_serially_below_a_threshold_of_their_own(monkeypatch):
    """The backward kernels go parallel from ``SERIAL_BACKWARD_PIXELS``, where a forward still
    runs serially (``cpu.call`` is given the pixel count; the arrays are small)."""
    serial: list = []
    real = cpu.on_this_thread
    monkeypatch.setattr(cpu, "on_this_thread",
                        lambda kernel, *args: (serial.append(kernel), real(kernel, *args)))
    x, theta = np.ones((1, 5, 6, 1)), np.array([[[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]]])
    grid = np.zeros((1, 5, 6, 2))
    tail = (0, 0, False, np.zeros(1))
    calls = {
        cpu.affine_sample: (x, theta, np.empty_like(x), *tail),
        cpu.affine_sample_backward: (x, x, theta, np.empty_like(x), np.empty((1, 2, 3)), *tail),
        cpu.grid_sample_backward: (x, x, grid, np.empty_like(x), np.empty_like(grid), *tail),
    }
    for kernel, args in calls.items():
        for pixels in (cpu.SERIAL_BACKWARD_PIXELS - 1, cpu.SERIAL_BACKWARD_PIXELS):
            serial.clear()
            cpu.call(kernel, pixels, *args)
            backward = kernel is not cpu.affine_sample
            assert serial == ([] if backward and pixels == cpu.SERIAL_BACKWARD_PIXELS
                              else [kernel]), (kernel.__name__, pixels)


def test_an_affine_forward_without_rotation_runs_serially_below_a_threshold_of_its_own(
        monkeypatch):
    """An affine forward whose every θ keeps its rows at one height (θ[n, 1, 0] = 0) stays on
    this thread below ``SERIAL_LEVEL_PIXELS`` grey pixels, a pixel of C channels counting
    (C + 1) / 2; one θ of a batch that turns, a backward, or a grid forward goes parallel from
    the usual thresholds (the arrays are small, the pixel count is given)."""
    serial: list = []
    real = cpu.on_this_thread
    monkeypatch.setattr(cpu, "on_this_thread",
                        lambda kernel, *args: (serial.append(kernel), real(kernel, *args)))
    level = np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]])  # sheared along x only: rows level
    turned = level.copy()
    turned[1, 0] = 1e-9
    for C, limit in ((1, cpu.SERIAL_LEVEL_PIXELS), (3, cpu.SERIAL_LEVEL_PIXELS // 2)):
        tail = (0, 0, False, np.zeros(C))  # bilinear, zeros, align_corners, cval
        x = np.ones((2, 5, 6, C))
        u8 = x.astype(np.uint8)
        grid = np.zeros((2, 5, 6, 2))
        assert cpu.SERIAL_PIXELS < limit
        for pixels in (cpu.SERIAL_PIXELS, limit - 1, limit):
            for thetas, expect in (((level, level), pixels < limit), ((level, turned), False),
                                   ((turned, turned), False)):
                theta = np.stack(thetas)
                serial.clear()
                cpu.call(cpu.affine_sample, pixels, x, theta, np.empty_like(x), *tail)
                cpu.call(cpu.affine_sample_int, pixels, u8, theta, np.empty_like(u8), *tail,
                         np.empty(0, np.float32))
                assert serial == [cpu.affine_sample, cpu.affine_sample_int] * expect, (
                    C, pixels, theta[:, 1, 0])
                serial.clear()
                cpu.call(cpu.affine_sample_backward, pixels, x, x, theta, np.empty_like(x),
                         np.empty((2, 2, 3)), *tail)
                cpu.call(cpu.grid_sample, pixels, x, grid, np.empty_like(x), *tail)
                assert serial == [], (C, pixels)


def _run_in_thread(fn):
    box = []
    t = threading.Thread(target=lambda: box.append(fn()))
    t.start()
    t.join()
    return box[0]


def test_call_leaves_launches_parallel_when_the_kernel_raises():
    with pytest.raises(RuntimeError, match="kernel failed"):
        cpu.call(_probe([], fail=True), 1)
    assert _threads.parallel()
    seen: list = []
    _threads.on_this_thread(lambda: cpu.call(_probe(seen), cpu.SERIAL_PIXELS, "big"))
    assert seen == [(True, False, ("big",))]  # nested: the outer call's work is small
    assert _threads.parallel()


def test_a_small_warp_runs_the_twin_and_a_large_one_the_parallel_kernel():
    """Each runs the kernel that its worker's address was compiled with (a kernel typed
    otherwise at its call would compile again, outside the measures of ``compiling``)."""
    x = np.ones((1, 9, 7, 2), np.float32)
    theta = np.array([[[1.0, 0.1, 0.0], [0.1, 1.0, 0.0]]])  # turned: parallel from SERIAL_PIXELS
    twin = _threads._twin(cpu._affine_sample)
    for count in (1, cpu.SERIAL_PIXELS):
        out = np.empty_like(x)
        cpu.call(cpu.affine_sample, count, x, theta, out, 0, 0, False, np.zeros(2))
    assert twin.overloads and cpu._affine_sample.overloads
    assert set(twin.overloads) | set(cpu._affine_sample.overloads) <= (
        cpu._AFFINE.kernel_signatures)
