"""Calls from a kernel to a function compiled on its own, through its address.

numba links the code of every ``@njit`` function that a function calls into the caller's, and
LLVM optimises it and makes machine code of it again there, at every level of the call chain.
A forward's row code was compiled six times over that way: as itself, in the band function,
and in the kernel's parallel loop body, its two wrappers and the kernel (about 1.2 s a level
for a float32 ``warp``). A kernel now calls its worker (:mod:`.workers`) with :func:`call_at`
instead: it gets the worker's address as an argument and calls it there, so the worker is
compiled, and cached by numba, on its own, once per signature, and no level above it sees its
code. A first ``warp`` with an empty cache: float32 18.1 s -> 13.6 s, uint8 16.7 s -> 12.8 s,
the grid backward 26.2 s -> 20.0 s (Zen 4 machine, one process each). The call itself costs what
a linked call does; finding the address adds ~2 µs to a kernel call (a ``warp`` of a 16x16
image: 12.4 µs instead of 10.4 µs).

The worker's arguments are the kernel's own, passed on unchanged, and a few of fixed types
(:data:`.workers.CLAIM_TYPES`), so :class:`Addresses` finds their types from the values the
kernel is called with, as numba's dispatcher types the kernel's. :func:`call_at` checks it when
the kernel is compiled: a call site whose arguments have other types than those the worker was
compiled for fails to compile instead of calling machine code with the wrong layout.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from numba import typeof, types
from numba.core import cgutils
from numba.core.dispatcher import Dispatcher
from numba.core.errors import TypingError
from numba.core.typing.typeof import Purpose
from numba.extending import intrinsic

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
    277 MB.
    Nested and concurrent uses share one setting, put back when the last one ends."""
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
    unmaps a block: a first ``grid_sample_backward`` made 930,000 such pairs, with 2-6 s of
    system time and a million page faults, depending only on how deep in the program's call
    stack the call was made. A frame too big for the current block gets a block of its own,
    sized for it in powers of two (1 MiB here), and the calls it makes use the rest of that
    block; numba's compiling, run from it, then stays inside: first calls at two call depths
    each, against the code before: ``grid_sample_backward`` 12.2-13.0 s against 14.4-14.7 s,
    a float32 ``warp`` 12.1 s against 12.3-12.8 s, uint8 11.2-11.6 s against 11.6-12.2 s,
    ``affine_sample_backward`` 14.0 s against 14.2-14.5 s, with 0.2 s of system time in each
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


def address(dispatcher: Dispatcher, args: tuple) -> int:
    """The address of ``dispatcher``'s machine code for exactly the numba types ``args``
    (compiled, or loaded from numba's cache, first, with few full garbage collections and
    from a roomy frame: :func:`_few_full_collections`, :func:`_roomy`), for
    :func:`call_at`."""
    args = tuple(args)
    with _few_full_collections():
        _roomy()(lambda: dispatcher.compile(args))
    cres = dispatcher.overloads[args]
    return cres.library.get_pointer_to_function(cres.fndesc.mangled_name)


def _key(values) -> tuple:
    """What decides the numba types of ``values`` (arrays and Python scalars) as arguments:
    an array's dtype, dimensions and flags (contiguity, writeability, alignment, and a few that
    do not matter), a scalar's Python type. 1 µs for seven arguments, where numba's ``typeof``
    takes 27 µs."""
    return tuple([(v.dtype, v.ndim, v.flags.num) if isinstance(v, np.ndarray) else type(v)
                  for v in values])


class Addresses:
    """The addresses of ``dispatcher``'s machine code for what a kernel passes it: the
    kernel's own arguments, whose values :meth:`of` gets, then arguments of the numba types
    ``extra``. Compiled (or loaded from numba's cache) on first use and kept by what decides
    the numba types of those values (:func:`_key`)."""

    def __init__(self, dispatcher: Dispatcher, extra: tuple):
        self.dispatcher = dispatcher
        self.extra = tuple(extra)
        self._found: dict[tuple, int] = {}

    def of(self, *values) -> int:
        """The address to pass to the kernel called with ``values``."""
        key = _key(values)
        found = self._found.get(key)
        if found is None:
            args = tuple(typeof(v, Purpose.argument) for v in values) + self.extra
            found = self._found[key] = address(self.dispatcher, args)
        return found


@intrinsic
def call_at(typingctx, callee, addr, args):
    """``callee(*args)``, by calling the machine code at ``addr`` (an integer from
    :func:`address`) instead of linking ``callee``'s into the caller's. ``callee`` is the
    ``@njit`` function itself (a global, of which only the compiled signatures are looked at),
    ``args`` a tuple of its arguments. Compiling the caller fails unless ``callee`` has been
    compiled for exactly the types of ``args`` (by :func:`address`, before the caller is first
    called). An exception raised in ``callee`` propagates to the caller."""
    if not (isinstance(callee, types.Dispatcher) and isinstance(addr, types.Integer)
            and isinstance(args, types.BaseTuple)):
        return None
    argtys = tuple(args.types)
    cres = callee.dispatcher.overloads.get(argtys)
    if cres is None:
        raise TypingError(f"{callee.dispatcher.py_func.__qualname__} is not compiled for the "
                          f"types it is called with here: ({', '.join(map(str, argtys))})")
    restype = cres.signature.return_type
    sig = restype(callee, addr, args)

    def codegen(context, builder, signature, llargs):
        _, where, packed = llargs
        values = [builder.extract_value(packed, i) for i in range(len(argtys))]
        fnty = context.call_conv.get_function_type(restype, list(argtys))
        fn = builder.inttoptr(where, fnty.as_pointer())
        status, out = context.call_conv.call_function(builder, fn, restype, list(argtys), values)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return out

    return sig, codegen
