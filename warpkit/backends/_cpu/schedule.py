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
"""

from __future__ import annotations

from numba import njit, types
from numba.extending import intrinsic

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
