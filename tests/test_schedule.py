"""The dynamic scheduling of the CPU kernels (``warpkit.backends._cpu.schedule``): the task
counter is atomic, and threads claiming chunks from it run every task exactly once, whatever
the number of tasks and the chunk size. (That results do not depend on which thread ran which
task is checked by ``test_determinism.py`` and ``test_serial.py``.)"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange

from warpkit.backends._cpu.schedule import (
    CHUNK_TASKS,
    MIN_CHUNKS,
    chunk_size,
    claim,
    fetch_add,
)


@njit(parallel=True, cache=True)
def _fetch_each(n):
    """Every parallel iteration takes a number from one counter and marks it."""
    counter = np.zeros(1, np.int64)
    taken = np.zeros(n + 1, np.int64)  # a last slot for a wrong value, not a write past the end
    for _ in prange(n):
        taken[min(fetch_add(counter, 1), n)] += 1
    return fetch_add(counter, 0), taken


@njit(parallel=True, cache=True)
def _run_tasks(tasks, k):
    """The kernels' loop: each thread's first iteration claims chunks of k until none are left;
    returns how often each task ran."""
    ran = np.zeros(tasks, np.int64)
    counter = np.zeros(1, np.int64)
    for _ in prange(tasks):
        lo, hi = claim(counter, k, tasks)
        while lo < hi:
            for t in range(lo, hi):
                ran[t] += 1
            lo, hi = claim(counter, k, tasks)
    return ran


@njit(cache=True)
def _chunk_size(tasks):
    return chunk_size(tasks)


def test_fetch_add_hands_out_every_count_once_across_threads():
    n = 200_000
    count, taken = _fetch_each(n)
    assert count == n
    assert np.array_equal(taken, np.r_[np.ones(n, np.int64), 0])


@njit
def _fetch_add(counter, k):
    return fetch_add(counter, k)


def test_fetch_add_adds_k_and_is_an_atomic_read_modify_write():
    counter = np.array([5], np.int64)
    assert _fetch_add(counter, 3) == 5
    assert counter[0] == 8
    # a load and a separate store would lose counts when two threads interleave them; on the
    # 2-core project machine such a version never did in 20 million tries, so the test above
    # cannot tell them apart, and the IR is checked instead
    (llvm,) = _fetch_add.inspect_llvm().values()
    assert re.search(r"atomicrmw add ptr %\S+, i64 %\S+ monotonic", llvm), llvm


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.integers(1, 12))
def test_claimed_chunks_run_every_task_exactly_once(tasks, k):
    assert np.array_equal(_run_tasks(tasks, k), np.ones(tasks, np.int64))


@given(st.integers(0, 10**7))
def test_chunks_are_small_enough_to_share_out(tasks):
    k = _chunk_size(tasks)
    assert 1 <= k <= CHUNK_TASKS
    chunks = -(-tasks // k)
    assert chunks >= min(tasks, MIN_CHUNKS)
