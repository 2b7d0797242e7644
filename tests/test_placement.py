"""Which CPU a thread runs on and moving it off one (``backends/_cpu/placement.py``), and the
parallel kernels' threads spreading over the CPUs with them (``schedule.spread_out``; which
launches spread: ``tests/test_threads.py``).

Each test that pins or moves a thread does so in a thread of its own, so that the test
process's other threads keep their CPU masks. The C library functions exist on Linux only;
elsewhere the functions are constants (see the last test).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numba import njit, typeof

from warpkit import _threads
from warpkit.backends import cpu
from warpkit.backends._cpu import indirect, pages, placement
from warpkit.backends._cpu.schedule import claim, spread_out
from warpkit.backends._cpu.workers import CLAIM_TYPES
from warpkit.backends.cpu import _in_parallel

pytestmark = pytest.mark.skipif(not placement.LINUX, reason="calls Linux's C library")


def _in_thread(fn):
    """``fn()`` run in a new thread; its result, or its exception raised here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


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
    return before, placement.leave_cpu(before)


@njit
def _leave(cpu):
    return placement.leave_cpu(cpu)


@njit
def _as_worker(launcher):
    before = placement.this_cpu()
    return before, spread_out((before, launcher))


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
    """The CPU returned is where the thread ran while its mask left out the old one. Where it
    runs after its mask is given back is the system's choice: checking that instead failed
    once in CI (the thread was found back on its old CPU)."""
    def check():
        allowed = os.sched_getaffinity(0)
        before, moved_to = _leave_own_cpu()
        assert before in allowed
        if len(allowed) > 1:
            assert moved_to != before and moved_to in allowed
        else:
            assert moved_to == -1
        assert os.sched_getaffinity(0) == allowed
        return True

    assert _in_thread(check)


def test_leave_cpu_moves_nothing_with_no_other_cpu_or_no_cpu():
    def check():
        allowed = os.sched_getaffinity(0)
        for cpu_ in (-1, 8 * placement.MASK_BYTES, 1 << 40):
            assert _leave(cpu_) == -1
            assert os.sched_getaffinity(0) == allowed
        c = max(allowed)
        os.sched_setaffinity(0, {c})
        assert _leave(c) == -1
        assert os.sched_getaffinity(0) == {c} and _cpu() == c
        return True

    assert _in_thread(check)


def test_a_worker_on_the_launching_threads_cpu_moves_off_it():
    main = threading.get_ident()  # the "launching" thread: not the one that runs the worker

    def check():
        # the system may move the thread between its reading its CPU and spread_out's: then
        # nothing moves (-1), so five tries, each that moved checked
        allowed = os.sched_getaffinity(0)
        tries = [_as_worker(main) for _ in range(5)]
        if len(allowed) > 1:
            assert any(moved_to != -1 for _, moved_to in tries)
            assert all(moved_to != before and moved_to in allowed
                       for before, moved_to in tries if moved_to != -1)
        else:
            assert all(moved_to == -1 for _, moved_to in tries)
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


@njit
def _record_tasks(out, counter, k, tasks, lo):
    """A worker as the kernels' (claims from ``lo`` on): out[task] = 1 + the task."""
    hi = min(lo + k, tasks)
    while lo < hi:
        for task in range(lo, hi):
            out[task] = 1 + task
        lo, hi = claim(counter, k, tasks)
    return 0


@njit(parallel=True)
def _claiming_kernel(out, worker, spread):
    _in_parallel(_record_tasks, worker, (out,), out.shape[0], spread)


def test_the_kernels_parallel_loop_moves_a_worker_off_the_launching_threads_cpu():
    """Where the system puts a woken worker cannot be forced from a test, so this reads the
    loop's compiled code (a kernel of its own, compiled here, not loaded from numba's cache,
    whose code cannot be read): it must call ``sched_setaffinity`` (``leave_cpu``), and still
    run every task once, with spreading on and off."""
    out = np.zeros(300, np.int64)
    worker = indirect.address(_record_tasks, (typeof(out),) + CLAIM_TYPES)
    for spread in (True, False):
        out[:] = 0
        _claiming_kernel(out, worker, spread)
        np.testing.assert_array_equal(out, np.arange(1, 301))
    code = _claiming_kernel.inspect_llvm(_claiming_kernel.signatures[0])
    assert "@sched_setaffinity" in code and "@sched_getcpu" in code
