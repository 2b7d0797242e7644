"""The first touch of a big output's memory, before a forward kernel writes it (:func:`touch`).

A new output of a few MB or more is fresh memory: its pages are mapped, and zeroed by the
kernel, at the first write into each. numpy asks Linux for transparent huge pages for arrays
from 4 MB, so the first write into each 2 MB run zeroes all of it, and while one thread
zeroes a run, the other thread writing into the same run waits. The forward kernels' threads
claim tasks of a few rows in turns, so they write into the same runs; touching the pages
first, each thread in its own whole runs, lets both zero at once.
"""

from __future__ import annotations

import ctypes
import sys

import numba
import numpy as np
from numba import njit, prange

from ..._threads import launch, parallel
from .schedule import home, spread_out

PAGE = 4096
HUGE = 1 << 21
#: Outputs of at least this many bytes are touched first (:func:`touch`); numpy's threshold
#: for asking for huge pages.
TOUCH_BYTES = 1 << 22


@njit(parallel=True, cache=True)
def _touch(flat, first, runs, spread):
    """Write 0 into every 4 KB page of the bytes ``flat`` (whose first page boundary is at
    byte ``first % PAGE`` and first 2 MB boundary at byte ``first``), in ``runs`` runs: the
    bytes before ``first``, then whole 2 MB runs, which numba's static schedule hands to the
    threads in contiguous blocks. With ``spread``, a thread on the launching thread's CPU
    moves off it first (:func:`.schedule.spread_out`, at each run: a thread that moved is
    not on that CPU at its next)."""
    n = flat.shape[0]
    launcher = home(spread)
    for r in prange(runs):
        spread_out(launcher)
        if r == 0:
            hi = min(first, n)
            if hi > 0:
                flat[0] = 0
            start = first % PAGE
        else:
            lo = first + (r - 1) * HUGE
            hi = min(lo + HUGE, n)
            start = lo
        for b in range(start, hi, PAGE):
            flat[b] = 0


def _libc_mincore():
    """libc's ``mincore`` (Linux), or None. Looked up among the process's own symbols: asking
    ``ctypes.util.find_library`` for libc took 1.2 ms of ``import warpkit``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).mincore
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fn.restype = ctypes.c_int
    return fn


_MINCORE = _libc_mincore()
#: mincore's answer for one page (shared: a race between threads only makes a wrong guess)
_VEC = ctypes.create_string_buffer(1)


def _resident(addr: int, nbytes: int) -> bool:
    """Whether the last and middle pages of the memory at ``addr`` are mapped already
    (``mincore``; True where it cannot be asked, so that nothing is touched). Not the first:
    malloc writes its header there in new memory too."""
    if _MINCORE is None:
        return True
    for at in (addr + nbytes - 1, addr + nbytes // 2):
        if _MINCORE(at - at % PAGE, PAGE, _VEC) != 0 or not _VEC.raw[0] & 1:
            return False
    return True


def touch(out: np.ndarray) -> None:
    """Write a 0 into each page of ``out`` (C-contiguous, about to be overwritten whole) when it
    holds at least ``TOUCH_BYTES`` and is not mapped yet (:func:`_resident`), each thread in its
    own runs of whole huge pages, launched as every kernel is (:func:`warpkit._threads.launch`).
    Memory that is mapped already (malloc reuses outputs under 32 MB, a kept ``out=``) costs
    two ``mincore`` calls and no launch (about 5 µs); with one thread (or kernels run serially, see
    :mod:`warpkit._threads`) nothing is touched (the kernel's writes map the pages as well: W3
    1.01x the time of touching first, one thread).

    Measured on the Intel Xeon machine (two threads, 30 interleaved calls of
    ``warpkit.affine_sample`` into new outputs, twice): W3 (38.5 MB) 0.888x-0.919x the time
    of not touching, a 2048x2048 RGB float32 image (48 MB) 0.864x-0.900x, W1 (12 MB, memory
    that malloc reuses) 0.990x-1.001x."""
    if out.nbytes < TOUCH_BYTES or _resident(out.ctypes.data, out.nbytes) or (
        numba.get_num_threads() < 2 or not parallel()
    ):
        return
    flat = out.reshape(-1).view(np.uint8)
    first = -out.ctypes.data % HUGE
    launch(_touch, flat, first, (max(flat.shape[0] - first, 0) + HUGE - 1) // HUGE + 1,
           spread=True)


def compile_touch() -> None:
    """Compile (or load from numba's cache) the parallel :func:`_touch`, which the tiny calls
    of :mod:`warpkit.precompile` never reach (0.8 s with an empty cache)."""
    _touch(np.zeros(1, np.uint8), 0, 1, False)
