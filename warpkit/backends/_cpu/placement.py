"""Which CPU a thread runs on, and moving a thread off one (Linux; elsewhere no-ops).

A parallel kernel wakes numba's sleeping worker threads, and the operating system decides
where each woken thread runs. Linux normally picks an idle CPU; the kernel of this project's
VMs packs a woken thread onto the CPU of the thread that woke it while the machine has been
mostly idle (its command line sets ``sched_vcpu_pack``). A kernel launched after a pause then
ran its two threads on one CPU in turns while the other CPU stayed idle: W1u8 called every
20 ms took 2.4-2.6 ms on two threads, about its time on one thread, against 1.2-1.4 ms called
back to back. :func:`.schedule.spread_out` uses these functions to move such
a thread to another CPU (see there).

Each function is a call of the C library's (``sched_getcpu``, ``pthread_self``,
``sched_getaffinity``, ``sched_setaffinity``), resolved in the process when numba links the
code, as its calls of the C math library are. Off Linux they compile to constants: no CPU is
known (-1), nothing moves.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Whether the C library has the functions used here (glibc and musl do).
LINUX = sys.platform.startswith("linux")
#: Bytes of the CPU masks passed to the C library: its ``cpu_set_t``, 1024 CPUs. On a machine
#: with more, ``sched_getaffinity`` fails and nothing moves.
MASK_BYTES = 128

_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _libc(builder, name: str, ret, *args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, list(args)), name)


@intrinsic
def this_cpu(typingctx):
    """The CPU the calling thread runs on (``sched_getcpu``), or -1 where not known."""
    sig = types.int64()

    def codegen(context, builder, signature, args):
        if not LINUX:
            return ir.Constant(_I64, -1)
        return builder.sext(builder.call(_libc(builder, "sched_getcpu", _I32), []), _I64)

    return sig, codegen


@intrinsic
def this_thread(typingctx):
    """An identifier of the calling thread (``pthread_self``), unique among the threads alive
    in the process; 0 off Linux."""
    sig = types.uint64()

    def codegen(context, builder, signature, args):
        if not LINUX:
            return ir.Constant(_I64, 0)
        return builder.call(_libc(builder, "pthread_self", _I64), [])

    return sig, codegen


def _affinity_intrinsic(name: str):
    def impl(typingctx, mask):
        if not (isinstance(mask, types.Array) and mask.dtype == types.uint64
                and mask.ndim == 1 and mask.layout == "C"):
            return None
        sig = types.int64(mask)

        def codegen(context, builder, signature, args):
            if not LINUX:
                return ir.Constant(_I64, -1)
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            ptr = builder.bitcast(data, ir.IntType(8).as_pointer())
            fn = _libc(builder, name, _I32, _I32, _I64, ptr.type)
            res = builder.call(fn, [ir.Constant(_I32, 0), ir.Constant(_I64, MASK_BYTES), ptr])
            return builder.sext(res, _I64)

        return sig, codegen

    return intrinsic(impl)


#: ``get_affinity(mask)``: the calling thread's CPU mask into ``mask`` (uint64, at least
#: ``MASK_BYTES // 8`` words); 0 on success, -1 on failure (and off Linux).
get_affinity = _affinity_intrinsic("sched_getaffinity")
#: ``set_affinity(mask)``: the calling thread's CPU mask from ``mask``; 0 on success, -1 on
#: failure (and off Linux). The thread moves at once if it runs on a CPU outside the mask.
set_affinity = _affinity_intrinsic("sched_setaffinity")


@njit(cache=True)
def leave_cpu(cpu):
    """Move the calling thread off CPU ``cpu`` onto one of the others it may run on, and give
    it back the CPU mask it had. Returns the CPU it ran on once moved (the system moves a
    thread at once when its mask leaves out the CPU it runs on), or -1 where it did not move:
    ``cpu`` outside ``[0, 1024)``, no other CPU in the mask, or off Linux. With its mask given
    back, the thread runs where it moved until the system moves it again, which it may do at
    any time (so only the CPU returned is certain, not the one a later call of
    :func:`this_cpu` finds)."""
    saved = np.zeros(MASK_BYTES // 8, np.uint64)
    if cpu < 0 or cpu >= 8 * MASK_BYTES or get_affinity(saved) != 0:
        return np.int64(-1)
    mask = saved.copy()
    mask[cpu // 64] &= ~(np.uint64(1) << np.uint64(cpu % 64))
    if not mask.any() or set_affinity(mask) != 0:
        return np.int64(-1)
    moved_to = this_cpu()
    set_affinity(saved)
    return moved_to
