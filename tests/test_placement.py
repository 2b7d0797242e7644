"""Which CPU a thread runs on and moving it off one (``backends/_cpu/placement.py``), and the
parallel kernels' threads spreading over the CPUs with them (``schedule.spread_out``).

Each test that pins or moves a thread does so in a thread of its own, so that the test
process's other threads keep their CPU masks. The C library functions exist on Linux only;
elsewhere the functions are constants (see the last test).
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from numba import njit

from warpkit import _threads
from warpkit.backends import cpu
from warpkit.backends._cpu import pages, placement
from warpkit.backends._cpu.schedule import spread_out

pytestmark = pytest.mark.skipif(not placement.LINUX, reason="calls Linux's C library")


def _in_thread(fn):
    """``fn()`` run in a new thread; its result, or its exception raised here."""
    box = {}

    def run():
        try:
            box["result"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised in the calling thread
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


@njit
def _cpu():
    return placement.this_cpu()


@njit
def _thread():
    return placement.this_thread()


@njit
def _mask():
    mask = np.zeros(placement.MASK_BYTES // 8, np.uint64)
    return placement.get_affinity(mask), mask


@njit
def _leave_own_cpu():
    before = placement.this_cpu()
    moved = placement.leave_cpu(before)
    return before, moved, placement.this_cpu()


@njit
def _leave(cpu):
    return placement.leave_cpu(cpu)


@njit
def _as_worker(launcher):
    before = placement.this_cpu()
    spread_out((before, launcher))
    return before, placement.this_cpu()


def _cpus(mask: np.ndarray) -> set[int]:
    return {i for i in range(64 * mask.size) if int(mask[i // 64]) >> (i % 64) & 1}


def test_this_cpu_is_the_one_cpu_a_pinned_thread_may_run_on():
    def check():
        for c in sorted(os.sched_getaffinity(0)):
            os.sched_setaffinity(0, {c})
            assert _cpu() == c
        return True

    assert _in_thread(check)


def test_this_thread_is_pythons_identifier_of_the_thread():
    # CPython's threading.get_ident() is pthread_self() on POSIX systems
    ids = [_in_thread(lambda: (_thread(), threading.get_ident())) for _ in range(3)]
    ids.append((_thread(), threading.get_ident()))
    assert all(mine == pythons for mine, pythons in ids)
    assert len({mine for mine, _ in ids[-2:]}) == 2  # the main thread's differs from another's


def test_get_affinity_reads_the_calling_threads_cpus():
    def check():
        allowed = os.sched_getaffinity(0)
        status, mask = _mask()
        assert status == 0 and _cpus(mask) == allowed
        c = min(allowed)
        os.sched_setaffinity(0, {c})
        status, mask = _mask()
        assert status == 0 and _cpus(mask) == {c}
        return True

    assert _in_thread(check)


def test_leave_cpu_moves_the_thread_off_it_and_gives_back_its_mask():
    def check():
        allowed = os.sched_getaffinity(0)
        before, moved, after = _leave_own_cpu()
        assert before in allowed
        assert moved == (len(allowed) > 1)
        if moved:
            assert after != before and after in allowed
        assert os.sched_getaffinity(0) == allowed
        return True

    assert _in_thread(check)


def test_leave_cpu_moves_nothing_with_no_other_cpu_or_no_cpu():
    def check():
        allowed = os.sched_getaffinity(0)
        for cpu_ in (-1, 8 * placement.MASK_BYTES, 1 << 40):
            assert not _leave(cpu_)
            assert os.sched_getaffinity(0) == allowed
        c = max(allowed)
        os.sched_setaffinity(0, {c})
        assert not _leave(c)
        assert os.sched_getaffinity(0) == {c} and _cpu() == c
        return True

    assert _in_thread(check)


def test_a_worker_on_the_launching_threads_cpu_moves_off_it():
    main = threading.get_ident()  # the "launching" thread: not the one that runs the worker

    def check():
        allowed = os.sched_getaffinity(0)
        before, after = _as_worker(main)
        if len(allowed) > 1:
            assert after != before
        assert os.sched_getaffinity(0) == allowed
        return True

    assert _in_thread(check)


def test_the_kernels_that_spread_their_threads_stay_cacheable():
    """numba does not cache a kernel whose code holds a run-time address (a "dynamic global":
    ``numba.get_num_threads`` or ``get_thread_id`` inside a kernel are such); each would then
    compile anew in every process (about 13 s for a first ``warp``)."""
    x = np.ones((1, 8, 8, 3), np.float32)
    theta = np.array([[[1.0, 0.1, 0.0], [0.0, 1.0, 0.0]]])
    grid = np.zeros((1, 8, 8, 2), np.float32)
    cval = np.zeros(3)

    def calls():
        cpu.affine_sample(x, theta, np.empty_like(x), 0, 0, False, cval)
        cpu.grid_sample_backward(x, x, grid, np.zeros_like(x), np.zeros_like(grid), 0, 0,
                                 False, cval)

    calls()  # the parallel kernels
    _threads.on_this_thread(calls)  # their serial twins
    pages.compile_touch()
    kernels = [cpu._affine_sample, cpu._grid_sample_backward, pages._touch]
    for kernel in kernels + [_threads._twin(k) for k in kernels[:2]]:
        assert kernel.overloads, kernel
        for cres in kernel.overloads.values():
            assert kernel._cache._impl.check_cachable(cres), kernel


def test_a_launch_passes_spread_only_to_a_parallel_kernel_under_omp(monkeypatch):
    def echo(*args):
        return args

    for layer, spreads in ((None, False), ("workqueue", False), ("omp", True), ("tbb", False)):
        monkeypatch.setattr(_threads, "_threading_layer", lambda layer=layer: layer)
        monkeypatch.setattr(_threads, "_mode", None)  # as before the layer is known
        monkeypatch.setattr(_threads, "_spreads", False)
        for _ in range(2):  # the launch that learns the layer and the one after it
            assert _threads.launch(echo, 1, spread=True) == (1, spreads), layer
            assert _threads.launch(echo, 1) == (1,)
    # a serial twin's thread is the only one: on this thread (small calls), after a fork
    monkeypatch.setattr(_threads, "_twin", lambda kernel: kernel)
    assert _threads.on_this_thread(lambda: _threads.launch(echo, 1, spread=True)) == (1, False)
    monkeypatch.setattr(_threads, "_mode", "serial")
    assert _threads.launch(echo, 1, spread=True) == (1, False)
