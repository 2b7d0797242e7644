"""A kernel calls its worker through the worker's address (``backends/_cpu/indirect.py``): the
call runs the worker and hands back its result and its exceptions, refuses to compile for
argument types the worker was not compiled for, and finds the worker compiled for the types
numba gives the kernel's arguments, so kernels do not link their workers' code."""

from __future__ import annotations

import gc
import sys
import threading

import numpy as np
import pytest
import reference
from hypothesis import assume, given
from hypothesis import strategies as st
from numba import njit, typeof, types
from numba.core.errors import TypingError
from numba.core.typing.typeof import Purpose

from warpkit.backends import cpu
from warpkit.backends._cpu import compiling, indirect


@njit
def _weighted(a, w, k):
    if k < 0:
        raise ValueError("k must not be negative")
    s = 0.0
    for i in range(a.shape[0]):
        s += a[i] * w
    return s * k, a.shape[0]


@njit
def _through(fn, addr, a, w, k):
    return indirect.call_at(fn, addr, (a, w, k))


def _args(a, w, k):
    return tuple(typeof(v, Purpose.argument) for v in (a, w, k))


def test_call_at_runs_the_function_at_the_address_and_returns_its_result():
    a = np.arange(5.0)
    addr = indirect.address(_weighted, _args(a, 0.5, 3))
    assert _through(_weighted, addr, a, 0.5, 3) == (np.sum(a * 0.5) * 3, 5)
    assert _through(_weighted, addr, a[::-1].copy(), 2.0, 1) == (np.sum(a) * 2.0, 5)


def test_an_exception_raised_behind_the_address_reaches_the_caller():
    a = np.arange(3.0)
    addr = indirect.address(_weighted, _args(a, 1.0, 2))
    with pytest.raises(ValueError, match="k must not be negative"):
        _through(_weighted, addr, a, 1.0, -1)


def test_a_call_for_types_the_function_was_not_compiled_for_does_not_compile():
    a32 = np.arange(4, dtype=np.float32)

    @njit
    def caller(addr, a):
        return indirect.call_at(_weighted, addr, (a, 1.0, 2))

    with pytest.raises(TypingError, match="_weighted is not compiled for the types"):
        caller(0, a32)


@njit
def _direct(a, w, k):
    return _weighted(a, w, k)


def test_the_caller_holds_none_of_the_callees_code():
    """What saves the compiling: a call through the address leaves the callee's code out of
    the caller's machine code, where a plain call links it in (and LLVM compiles it again)."""
    a = np.arange(3.0)
    addr = indirect.address(_weighted, _args(a, 1.0, 2))
    assert _through(_weighted, addr, a, 1.0, 2) == _direct(a, 1.0, 2)

    def code(dispatcher):  # the machine code, with its constants
        return next(iter(dispatcher.overloads.values())).library.get_asm_str()

    # the callee's error message is a constant of its code (which LLVM inlines when linked)
    assert "k must not be negative" in code(_direct)
    assert "k must not be negative" not in code(_through)


@njit
def _weighted_signature(a, w, k):
    return 0.0, a.shape[0]


@njit
def _one_result(a, w, k):
    return 0.0


def test_made_addresses_are_found_once_per_function_and_key_and_checked_against_the_stub():
    """``MadeAddresses``: the argument types made from the arrays given, one address per
    function and types (what the backward's scatter and the forward's gathers use); a function
    whose signature is not the stub's, by which the call sites type their call, is refused."""
    made = indirect.MadeAddresses(lambda ta: (ta, types.float64, types.int64),
                                  typed_by=_weighted_signature)
    a = np.arange(3.0)
    addr = made.of(_weighted, a)
    assert made.of(_weighted, np.zeros(5)) == addr  # another array of the same type
    assert _through(_weighted, addr, a, 1.0, 2) == _direct(a, 1.0, 2)
    assert made.of(_weighted, a.astype(np.float32)) != addr
    with pytest.raises(TypingError, match="signature"):
        made.of(_one_result, a)


_LAYOUTS = ("C", "F", "strided")


def _array(dtype, ndim, layout, read_only, size):
    shape = (size + 1,) * ndim
    a = np.zeros(shape, dtype, order="F" if layout == "F" else "C")
    if layout == "strided":
        a = a[(slice(None, None, 2),) * ndim]
    a.flags.writeable = not read_only
    return a


@given(st.sampled_from([np.float32, np.float64, np.uint8, np.bool_]), st.integers(1, 3),
       st.sampled_from(_LAYOUTS), st.booleans(), st.integers(0, 3), st.integers(0, 3))
def test_arrays_of_one_key_have_one_numba_type(dtype, ndim, layout, read_only, n, m):
    """:func:`indirect._key` decides which compiled worker a kernel call gets; arrays that
    share a key must share numba's type (whatever their sizes), or a kernel would get the
    address of a worker compiled for another layout."""
    a = _array(dtype, ndim, layout, read_only, n)
    b = _array(dtype, ndim, layout, read_only, m)
    assume(indirect._key((a,)) == indirect._key((b,)))  # sizes 0 and 1 are contiguous
    assert typeof(a, Purpose.argument) == typeof(b, Purpose.argument)


@given(st.sampled_from([0, 3, 2**40, 1.5, True, np.int32(3), np.float32(1.0)]),
       st.sampled_from([1, 7, 2**50, -2.0, False, np.int32(-1), np.float32(2.5)]))
def test_scalars_of_one_key_have_one_numba_type(x, y):
    if indirect._key((x,)) == indirect._key((y,)):
        assert typeof(x, Purpose.argument) == typeof(y, Purpose.argument)


def test_addresses_are_found_once_per_key_and_differ_with_the_types():
    found = indirect.Addresses(_weighted, ())
    a = np.arange(4.0)
    first = found.of(a, 1.0, 2)
    compiled = len(_weighted.overloads)
    assert found.of(np.arange(9.0), 3.0, 5) == first  # same types: no new compilation
    assert len(_weighted.overloads) == compiled
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    other = found.of(frozen, 1.0, 2)
    assert other != first
    assert types.Array(types.float64, 1, "C", readonly=True) in [
        sig[0] for sig in _weighted.overloads]


@pytest.fixture
def thresholds():
    """Python's garbage-collection thresholds, put back after the test."""
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


def test_full_collections_are_put_off_while_compiling_and_the_thresholds_put_back(thresholds):
    gc.set_threshold(700, 10, 10)
    with compiling._few_full_collections():
        assert gc.get_threshold() == (700, 10, compiling.COMPILING_GEN2)
        with compiling._few_full_collections():  # nested: the outer one puts them back
            assert gc.get_threshold()[2] == compiling.COMPILING_GEN2
        assert gc.get_threshold()[2] == compiling.COMPILING_GEN2
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), compiling._few_full_collections():
        raise RuntimeError("a failed compile")
    assert gc.get_threshold() == (700, 10, 10)
    gc.set_threshold(500, 5, 5000)  # a threshold above ours stays
    with compiling._few_full_collections():
        assert gc.get_threshold() == (500, 5, 5000)
    assert gc.get_threshold() == (500, 5, 5000)


def test_overlapping_uses_from_two_threads_put_the_thresholds_back_once(thresholds):
    gc.set_threshold(700, 10, 10)
    entered, first_left = threading.Event(), threading.Event()
    seen = []

    def second():
        with compiling._few_full_collections():
            entered.set()
            first_left.wait(10)
            seen.append(gc.get_threshold()[2])  # the first one's exit left it raised

    t = threading.Thread(target=second)
    with compiling._few_full_collections():
        t.start()
        assert entered.wait(10)
    first_left.set()
    t.join(10)
    assert seen == [compiling.COMPILING_GEN2]
    assert gc.get_threshold() == (700, 10, 10)


def _callers():
    frame = sys._getframe(1)
    while frame is not None:
        yield frame.f_code
        frame = frame.f_back


def test_address_compiles_from_a_roomy_frame_with_full_collections_put_off(thresholds):
    gc.set_threshold(700, 10, 10)
    during = []

    @njit
    def probe(x):
        return x + 1

    compile_ = probe.compile

    def observed(sig):
        during.append((gc.get_threshold(), compiling._roomy().__code__ in _callers()))
        return compile_(sig)

    probe.compile = observed
    addr = indirect.address(probe, (types.int64,))
    assert during == [((700, 10, compiling.COMPILING_GEN2), True)]
    assert gc.get_threshold() == (700, 10, 10)

    @njit
    def through(addr, x):
        return indirect.call_at(probe, addr, (x,))

    assert through(addr, 41) == 42


def _observed_compiles(dispatcher, during):
    """Have ``dispatcher.compile`` note, per call, the types, the GC thresholds and whether it
    runs from the roomy frame."""
    compile_ = dispatcher.compile

    def observed(sig):
        during.append((dispatcher.py_func.__name__, tuple(sig), gc.get_threshold(),
                       compiling._roomy().__code__ in _callers()))
        return compile_(sig)

    dispatcher.compile = observed


def test_addresses_compile_the_kernel_that_calls_the_worker_in_the_same_way(thresholds):
    """The kernel's first compile (its parallel loop) gets the measures the worker's gets:
    it is compiled when the worker's address is first found, for the kernel's arguments and
    the address, and is not compiled again by its calls."""
    gc.set_threshold(700, 10, 10)

    @njit
    def worker(a, k):
        return a.sum() * k

    @njit
    def kernel(a, k, addr):
        return indirect.call_at(worker, addr, (a, k))

    @njit
    def scaled_kernel(a, scale, k, addr):  # arguments of its own, as the affine backward's
        return indirect.call_at(worker, addr, (a, k)) * scale

    during = []
    _observed_compiles(worker, during)
    _observed_compiles(kernel, during)
    _observed_compiles(scaled_kernel, during)
    a = np.arange(4.0)
    found = indirect.Addresses(worker, (), kernel)
    addr = found.of(a, 3)
    a_t, k_t, addr_t = (typeof(v, Purpose.argument) for v in (a, 3, addr))
    raised = (700, 10, compiling.COMPILING_GEN2)
    assert during == [("worker", (a_t, k_t), raised, True),
                      ("kernel", (a_t, k_t, addr_t), raised, True)]
    assert found.kernel_signatures == {(a_t, k_t, addr_t)}
    assert gc.get_threshold() == (700, 10, 10)
    assert kernel(a, 3, addr) == 18.0
    assert list(kernel.overloads) == [(a_t, k_t, addr_t)]  # the call compiled nothing more

    during.clear()
    found = indirect.Addresses(worker, (), scaled_kernel)
    assert found.of(a, 3, kernel_args=(a, 0.5, 3)) == addr  # the worker was compiled above
    assert during == [("worker", (a_t, k_t), raised, True),
                      ("scaled_kernel", (a_t, types.float64, k_t, addr_t), raised, True)]
    assert scaled_kernel(a, 0.5, 3, addr) == 9.0
    assert len(scaled_kernel.overloads) == 1


def test_the_cpu_kernels_are_called_with_the_types_they_were_compiled_for():
    """Each public CPU function's kernel, compiled when its worker's address is first found,
    is the one its calls run: a call that numba typed otherwise would compile the kernel
    again, outside the measures of :mod:`warpkit.backends._cpu.compiling`."""
    x = np.ones((1, 8, 8, 3), np.float32)
    theta = np.array([[[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]]])
    grid = np.zeros((1, 8, 8, 2), np.float32)
    cval = np.zeros(3)
    cpu.affine_sample(x, theta, np.empty_like(x), 0, 0, False, cval)
    cpu.affine_sample_int(x.astype(np.uint8), theta, np.empty(x.shape, np.uint8), 0, 0, False,
                          cval, np.empty(0, np.float32))
    cpu.grid_sample(x, grid, np.empty_like(x), 0, 0, False, cval)
    cpu.grid_sample_backward(x, x, grid, np.zeros_like(x), np.zeros_like(grid), 0, 0, False,
                             cval)
    cpu.affine_sample_backward(x, x, theta, np.zeros_like(x), np.zeros((1, 2, 3)), 0, 0, False,
                               cval)
    for table in (cpu._AFFINE, cpu._AFFINE_INT, cpu._GRID, cpu._GRID_BACKWARD,
                  cpu._AFFINE_BACKWARD):
        assert table.kernel_signatures  # found here or by an earlier test
        assert set(table.kernel.overloads) <= table.kernel_signatures, table.kernel


def test_the_roomy_frame_returns_what_it_calls_and_raises_what_it_raises():
    roomy = compiling._roomy()
    assert roomy.__code__.co_nlocals > compiling.ROOMY_LOCALS
    assert roomy(lambda: ("done", 3)) == ("done", 3)

    def fails():
        raise KeyError("from the compiler")

    with pytest.raises(KeyError, match="from the compiler"):
        roomy(fails)


def test_a_forwards_addresses_follow_the_channel_count():
    """A forward finds its gather's and worker's addresses by one key of its arguments and the
    image's channel count: images of one dtype and layout with 1, 2, 3 and 4 channels, in
    turns, each get the gather of their own count (the key alone is the same for all)."""
    rng = np.random.default_rng(5)
    theta = np.array([[[0.8, 0.3, 0.1], [-0.2, 0.9, 0.0]]])
    for c in (1, 3, 2, 4, 1, 3):
        x = rng.random((1, 6, 7, c))
        out = np.empty_like(x)
        cpu.affine_sample(x, theta, out, 0, 0, False, np.zeros(c))
        np.testing.assert_allclose(out, reference.affine_sample(x, theta, (6, 7)),
                                   rtol=1e-12, atol=1e-12)
