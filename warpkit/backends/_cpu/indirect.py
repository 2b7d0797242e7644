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

from collections.abc import Callable

import numpy as np
from numba import typeof, types
from numba.core import cgutils
from numba.core.dispatcher import Dispatcher
from numba.core.errors import TypingError
from numba.core.typing.typeof import Purpose
from numba.extending import intrinsic

from ..._threads import launched, parallel
from .compiling import _few_full_collections, _roomy


def compile_for(dispatcher: Dispatcher, args: tuple) -> None:
    """Compile ``dispatcher`` for exactly the numba types ``args`` (or load it from numba's
    cache), as :mod:`.compiling` describes: full collections put off, from a roomy frame."""
    args = tuple(args)
    with _few_full_collections():
        _roomy()(lambda: dispatcher.compile(args))


def address(dispatcher: Dispatcher, args: tuple) -> int:
    """The address of ``dispatcher``'s machine code for exactly the numba types ``args``
    (compiled, or loaded from numba's cache, first, by :func:`compile_for`), for
    :func:`call_at`."""
    args = tuple(args)
    compile_for(dispatcher, args)
    cres = dispatcher.overloads[args]
    return cres.library.get_pointer_to_function(cres.fndesc.mangled_name)


_ndarray = np.ndarray  # one global lookup a value in :func:`_key` instead of two


def _key(values) -> tuple:
    """What decides the numba types of ``values`` (arrays and Python scalars) as arguments:
    an array's dtype, dimensions and flags (contiguity, writeability, alignment, and a few that
    do not matter), a scalar's Python type. 0.8 µs for seven arguments, where numba's
    ``typeof`` takes 27 µs."""
    return tuple([(v.dtype, v.ndim, v.flags.num) if isinstance(v, _ndarray) else type(v)
                  for v in values])


class Addresses:
    """The addresses of ``dispatcher``'s machine code for what a kernel passes it: the
    kernel's own arguments, whose values :meth:`of` gets, then arguments of the numba types
    ``extra``. Compiled (or loaded from numba's cache) on first use and kept by what decides
    the numba types of those values (:func:`_key`).

    With ``kernel`` (the parallel ``@njit`` function that calls the worker), the first use of
    a key also compiles the kernel by :func:`compile_for`, for the values and then the
    address (the arguments of a forward kernel), or for ``kernel_args`` of :meth:`of` and then
    the address, before the kernel's first call would compile it with neither measure. The
    kernel's part of a first float32 ``warp`` with an empty cache (the call's time less the
    worker's compiling) took 0.72-0.79 s instead of 1.04-1.28 s, of which one full collection
    had taken 0.28-0.40 s (six processes each, alternating, hash seeds 1-6, Zen 4 machine). A
    kernel later called with other types than these is compiled for them by numba's dispatcher
    as usual. :attr:`kernel_signatures` holds the signatures compiled here, of the kernel or
    of its serial twin (:func:`warpkit._threads.launched`). ``after`` are the numba types of
    the kernel's arguments after the address (none, or
    :data:`.schedule.SPREAD_TYPES`)."""

    def __init__(self, dispatcher: Dispatcher, extra: tuple, kernel: Dispatcher | None = None,
                 after: tuple = ()):
        self.dispatcher = dispatcher
        self.extra = tuple(extra)
        self.kernel = kernel
        self.after = tuple(after)
        #: The signatures the kernel was compiled for here, each ending in the address's type
        #: and ``after``
        self.kernel_signatures: set[tuple] = set()
        self._found: dict[tuple, int] = {}

    def of(self, *values, kernel_args: tuple | None = None) -> int:
        """The address to pass to the kernel called with ``values`` (the kernel's arguments
        before the address, or those of the worker when ``kernel_args`` gives the kernel's).
        The kernel compiled is the one :func:`warpkit._threads.launch` runs on this thread now:
        the parallel kernel or its serial twin."""
        serial = self.kernel is not None and not parallel()
        key = (serial, _key(values))
        found = self._found.get(key)
        if found is None:
            args = tuple(typeof(v, Purpose.argument) for v in values)
            found = address(self.dispatcher, args + self.extra)
            if self.kernel is not None:
                if kernel_args is not None:
                    args = tuple(typeof(v, Purpose.argument) for v in kernel_args)
                sig = args + (typeof(found, Purpose.argument),) + self.after
                compile_for(launched(self.kernel), sig)
                self.kernel_signatures.add(sig)
            self._found[key] = found
        return found


class MadeAddresses:
    """The addresses of ``@njit`` functions that compiled code calls through :func:`call_at`
    with arguments it makes itself (row buffers, views), whose numba types ``make_args`` makes
    from those of the arrays :meth:`of` gets. Compiled (or loaded from numba's cache) on first
    use and kept by the function and what decides the arrays' types (:func:`_key`).

    With ``typed_by``, the stub that the call sites type their call by (so that they need none
    of the functions compiled), that stub is compiled for the same types, and a function whose
    signature differs from the stub's is refused."""

    def __init__(self, make_args: Callable[..., tuple], typed_by: Dispatcher | None = None):
        self.make_args = make_args
        self.typed_by = typed_by
        self._found: dict[tuple, int] = {}

    def of(self, dispatcher: Dispatcher, *values) -> int:
        """The address of ``dispatcher`` compiled for the arguments made from ``values``."""
        key = (dispatcher, _key(values))
        found = self._found.get(key)
        if found is None:
            args = tuple(self.make_args(*(typeof(v, Purpose.argument) for v in values)))
            found = address(dispatcher, args)
            stub = self.typed_by
            if stub is not None and stub is not dispatcher:
                address(stub, args)
                if dispatcher.overloads[args].signature != stub.overloads[args].signature:
                    raise TypingError(f"{dispatcher.py_func.__qualname__} does not have the "
                                      f"signature of {stub.py_func.__qualname__} for {args}")
            self._found[key] = found
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
