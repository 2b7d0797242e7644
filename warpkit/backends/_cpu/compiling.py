"""How numba compiles warpkit's workers and the kernels that call them
(:func:`.indirect.compile_for`): with Python's full garbage collections put off
(:func:`_few_full_collections`) and from a frame big enough that CPython 3.11 does not map and
unmap blocks of its frame stack under the compiler's recursion (:func:`_roomy`). Both are costs
of the Python process, not of the compiled code: the first took 0.5 s of a first float32
``warp`` in the worker's compiling and 0.3-0.4 s in the kernel's, the second up to 6.8 s of
system time in a first call, by how deep in the program's call stack it was made."""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: Python's third garbage-collection threshold while numba compiles a worker
#: (:func:`_few_full_collections`): about 7 million allocations between full collections
COMPILING_GEN2 = 1000
_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved = (0, 0, 0)


@contextmanager
def _few_full_collections() -> Iterator[None]:
    """Python's cyclic garbage collector with its full collections put off for the duration:
    its third threshold raised to at least ``COMPILING_GEN2``, then put back. The young
    generations are collected as before.

    numba's compiler keeps a growing heap of IR, types and LLVM objects alive while it compiles
    a worker, and every full collection walks all of it again. A first float32 ``warp`` with an
    empty cache made 10 full collections, 0.6-0.9 s of its 13-14 s; with them put off, one
    (outside the worker's compiling), and the call took 13.1 s against 13.6 s (medians of six
    processes each, interleaved, Zen 4 machine). Peak memory while compiling: 325 MB against
    277 MB. Nested and concurrent uses share one setting, put back when the last one ends."""
    global _gc_depth, _gc_saved
    with _gc_lock:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(_gc_saved[0], _gc_saved[1], max(_gc_saved[2], COMPILING_GEN2))
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)


#: Local variables of :func:`_roomy`'s frame: enough (528 KB of slots) that CPython starts a
#: block of 1 MiB for it, whose other half then holds the frames of numba's compiler
ROOMY_LOCALS = 66000


@functools.cache
def _roomy() -> Callable[[Callable[[], T]], T]:
    """A function ``roomy(fn)`` that returns ``fn()`` from a frame with ``ROOMY_LOCALS`` unused
    local variables (made on first use, in 1 ms).

    CPython 3.11 keeps its frames in blocks of 16 KB that it maps when a call does not fit the
    block and unmaps as soon as that call returns (``push_chunk`` in ``Python/pystate.c``).
    numba's compiler recurses through ``copy.deepcopy`` for every block of IR it inlines, and
    where that recursion goes back and forth across a block's end, every crossing maps and
    unmaps a block: a first ``grid_sample_backward`` made 930,000 such pairs, and first calls of
    the backward took 1.9-6.8 s of system time with 0.36-1.2 million page faults, by how deep in
    the program's call stack they were made. A frame too big for the current block gets a block
    of its own, sized for it in powers of two (1 MiB here), and the calls it makes use the rest
    of that block; numba's compiling, run from it, then stays inside: first calls at two call
    depths each, against the code before: ``grid_sample_backward`` 12.2-13.0 s against
    14.4-14.7 s, a float32 ``warp`` 12.1 s against 12.3-12.8 s, uint8 11.2-11.6 s against
    11.6-12.2 s, ``affine_sample_backward`` 14.0 s against 14.2-14.5 s, with 0.2 s of system
    time in each
    (0.5-2.5 s before; Zen 4 machine). On a Python whose code objects do not take the extra
    locals this way, ``roomy`` is a plain call."""

    def roomy(fn):
        return fn()

    names = ("fn",) + ("_",) * ROOMY_LOCALS  # never bound: one name does for all
    try:
        roomy.__code__ = roomy.__code__.replace(co_varnames=names, co_nlocals=len(names))
    except (TypeError, ValueError):
        pass
    return roomy
