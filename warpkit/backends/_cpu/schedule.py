"""Tasks handed to the threads a few at a time while they run (dynamic scheduling), instead
of in equal shares fixed before the loop starts.

numba's ``prange`` deals its range out in one contiguous share per thread before any thread
starts (with the OpenMP threading layer, which numba picks where it has one;
``numba.set_parallel_chunksize`` only cuts the shares smaller, still dealt out in advance: with
a chunk size of 1 and a slow first of 8 iterations, the thread that ran it still ran iterations
1-3 after it). A call then lasts as long as its slowest thread: one that wakes late, shares its
core with another process, runs on a slower core, or, on a VM, on a virtual CPU the host is
busy with. So a kernel's ``prange`` has one iteration per task, but the first iteration each
thread runs claims the next tasks from a shared counter (:func:`claim`) until none are left,
and the others find none: a thread that is held up simply takes fewer tasks. Tasks are claimed
``chunk_size(tasks)`` at a time, consecutive ones, so that a thread still samples neighbouring
rows in turn (their source rows overlap; one task at a time made W1 1.19x slower, 2 at a time
1.11x, 8 at a time 1.02x, as measured side by side against the static split on the Zen 4
machine).

Which thread runs a task never changes what the task computes or where it writes (the kernels
cut work by shape, never by thread), so results stay bit-identical.

Each thread's first claim also spreads the threads over the CPUs (:func:`spread_out`), where
the system woke a worker onto the CPU of the thread that launched the kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .placement import leave_cpu, this_cpu, this_thread

#: The numba types of what a kernel that spreads its threads takes after its worker's address:
#: whether to spread them (``spread``, which :func:`warpkit._threads.launch` passes).
SPREAD_TYPES = (types.boolean,)
#: Consecutive tasks a thread claims at a time, at most ...
CHUNK_TASKS = 8
#: ... and fewer when that leaves fewer chunks than this (small calls, few tasks).
MIN_CHUNKS = 16


@intrinsic
def fetch_add(typingctx, counter, k):
    """``counter[0] += k`` as one atomic operation; returns the value before. ``counter`` is a
    1-d int64 array shared by the threads (monotonic ordering: the count publishes no data;
    the end of the parallel loop orders the tasks' writes before the caller reads them).

    Read the counter through this function only: numba's parfor passes do not know that the
    call writes it: a plain ``counter[0]`` read after a parallel loop gave the count from before
    the loop."""
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64
            and isinstance(k, types.Integer)):
        return None
    sig = types.int64(counter, types.int64)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.atomic_rmw("add", data, args[1], "monotonic")

    return sig, codegen


@njit(inline="always")
def chunk_size(tasks):
    """Tasks claimed at a time: ``CHUNK_TASKS``, fewer for calls of under
    ``CHUNK_TASKS * MIN_CHUNKS`` tasks, at least 1."""
    return max(1, min(CHUNK_TASKS, tasks // MIN_CHUNKS))


@njit(inline="always")
def claim(counter, k, tasks):
    """The next ``k`` unclaimed tasks ``lo <= task < hi`` (fewer at the end); ``lo >= hi``
    when none are left."""
    lo = fetch_add(counter, k)
    return lo, min(lo + k, tasks)


@njit(inline="always")
def home(spread):
    """The CPU and the thread (:mod:`.placement`) launching a parallel loop, for
    :func:`spread_out`; unless ``spread``, CPU -1 (spread nothing) and no thread asked for."""
    if spread:
        return this_cpu(), this_thread()
    return np.int64(-1), np.uint64(0)


@njit(inline="always")
def spread_out(home):
    """Called by each thread of a parallel loop at its first claim that got tasks; ``home``
    is :func:`home`'s. A worker thread (not the launching one) that runs on the launching
    thread's CPU moves to another CPU (:func:`.placement.leave_cpu`). Returns the CPU it
    moved to, or -1 where it did not move.

    Why: a kernel launched after a pause may find its worker woken onto the launching
    thread's CPU (see :mod:`.placement`), where the two took turns, as long as one thread took.
    W1u8 (two threads, this project's Zen 4 VM) called every 20 ms took 1.57-1.85 ms with this
    (2.35 ms in one process of six) against 2.43-2.55 ms without (medians of 40 calls, one
    process each, alternating), W1 2.07-2.46 ms against 3.20-3.44 ms; the worker had moved at
    36 of 45 such calls of W1 in one process, each time having claimed the first tasks, before
    the launching thread. With the machine busy (two other processes spinning), no worker
    moved. The cost where nothing is moved: a call of ``sched_getcpu`` and one of
    ``pthread_self`` per thread.

    Tried and not kept: the launching thread also yielding its CPU when it claimed first
    (``sched_yield``, for a worker queued behind it): 0.96x-0.99x the time of W1 after 5 and
    50 ms pauses, but with the machine busy 5.65-5.71 ms against 3.93-4.97 ms: it gave its CPU
    to the other processes."""
    cpu, launcher = home
    if cpu >= 0 and this_thread() != launcher and this_cpu() == cpu:
        return leave_cpu(cpu)
    return np.int64(-1)
