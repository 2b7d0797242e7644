"""Keep numba's OpenMP workers and OpenBLAS's workers from spinning against each other.

A training step alternates numba kernels (run on numba's OpenMP thread pool) with BLAS matmuls
(run on OpenBLAS's own pool). Both pools busy-wait after each call by default, so on a machine
with as many cores as threads each pool's spinning workers steal the cores the other one needs:
on the 2-core project machine this made an st-fcn training step 3.5x slower (69 ms instead of
19.5 ms, ``benchmarks/bench_nn_torch.py``). Idle workers that sleep instead cost nothing
measurable in the sampler benchmarks (``warpkit bench``).

Importing warpkit therefore sets, unless the environment already has them:

- ``OMP_WAIT_POLICY=PASSIVE``: read by the OpenMP runtime when numba first starts its thread
  pool, which is after this import unless a parallel numba kernel already ran;
- ``OPENBLAS_THREAD_TIMEOUT=4``: read by OpenBLAS when numpy is first imported, so it only
  takes effect when warpkit is imported before numpy (the ``warpkit`` command always is).

Set either variable yourself to keep your own value.

:func:`launch` launches every parallel kernel: numba's ``workqueue`` threading
layer, the one numba falls back to where no OpenMP runtime (libgomp, libomp) or TBB is
installed, terminates the process when two Python threads launch parallel kernels at the same
time ("Concurrent access has been detected"). Under it warpkit launches one kernel at a time.

GNU OpenMP does not survive ``fork()``: numba terminates a forked child at its first parallel
launch once the parent's OpenMP threads had started ("fork() called from a process already
using GNU OpenMP, this is unsafe"), and a ``multiprocessing`` pool (the default start method
on Linux, as in PyTorch's ``DataLoader``) whose workers warp images then waits forever. In such
a child :func:`launch` runs each kernel's serial twin instead: the same Python function
compiled without ``parallel`` and cached on disk under a name of its own, one thread per
process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def apply_defaults(environ: dict | None = None) -> dict[str, str]:
    """Set every variable of :data:`DEFAULTS` that ``environ`` lacks; return those set."""
    env = os.environ if environ is None else environ
    added = {k: v for k, v in DEFAULTS.items() if k not in env}
    env.update(added)
    return added


apply_defaults()


#: Held around each parallel kernel launch under the ``workqueue`` layer (re-entrant: a kernel
#: may be launched from within another launch's Python).
_LAUNCH_LOCK = threading.RLock()

#: numba's threading layer, once a parallel kernel has run (numba picks it at the first launch).
_layer: str | None = None

#: True once launches are known to be free to overlap (omp, tbb): :func:`launch`'s fast path.
_overlap = False


def _one_at_a_time() -> bool:
    """Whether launches must not overlap: under ``workqueue``, and until numba has picked its
    layer (the first launches pick it, one at a time)."""
    global _layer, _overlap
    if _layer is None:
        import numba

        try:
            _layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            return True
    _overlap = _layer != "workqueue" and not _serial_only
    return not _overlap


#: Whether this process was forked from one whose GNU OpenMP threads had started (set in the
#: child by the fork hook below): its parallel launches would terminate it.
_serial_only = False

#: kernel -> its serial twin, made on first use in such a process
_twins: dict = {}


def _gnu_openmp_started() -> bool:
    """Whether numba's threading layer has started and is GNU's OpenMP."""
    if "numba" not in sys.modules:
        return False
    import numba

    try:
        if numba.threading_layer() != "omp":
            return False
    except ValueError:  # no parallel kernel has run: the child starts its own threads
        return False
    from numba.np.ufunc import omppool

    return omppool.openmp_vendor == "GNU"


def _after_fork_in_child() -> None:
    global _serial_only, _overlap, _LAUNCH_LOCK
    _LAUNCH_LOCK = threading.RLock()  # a launch in another thread may have held it at the fork
    try:
        _serial_only = _serial_only or _gnu_openmp_started()
    except Exception:  # never fail a fork; numba would then say why at the launch
        pass
    if _serial_only:
        _overlap = False


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork()
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _twin(kernel):
    """``kernel``'s Python function compiled as ``kernel`` is but without ``parallel`` (its
    ``prange`` loops run as ``range``), and cached by numba under a name of its own
    (``<qualname>__serial``: numba names a function's cache files by its qualified name, and
    the twin must never load the parallel kernel's machine code or the kernel the twin's)."""
    twin = _twins.get(kernel)
    if twin is None:
        from numba import njit

        f = kernel.py_func
        serial = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__,
                                    f.__closure__)
        serial.__qualname__ = f.__qualname__ + "__serial"
        serial.__module__ = f.__module__
        serial.__doc__ = f.__doc__
        options = {k: v for k, v in kernel.targetoptions.items()
                   if k not in ("parallel", "nopython")}
        twin = _twins[kernel] = njit(cache=True, **options)(serial)  # warpkit's kernels all are
    return twin


def launch(kernel, *args: Any) -> Any:
    """``kernel(*args)`` for a parallel numba kernel, the way every warpkit kernel is launched:
    directly where launches may overlap (omp, tbb; a 16x16x3 `warp` pays 0.1-0.2 µs for this
    function); under the ``workqueue`` layer, holding a process-wide lock so that launches from
    different Python threads wait for each other; in a process forked from one whose GNU OpenMP
    had started, as the kernel's serial twin (:func:`_twin`)."""
    if _overlap:
        return kernel(*args)
    if _serial_only:
        return _twin(kernel)(*args)
    if _one_at_a_time():
        with _LAUNCH_LOCK:
            return kernel(*args)
    return kernel(*args)


@contextlib.contextmanager
def serially() -> Iterator[None]:
    """Launch kernels as their serial twins inside the block, as a process forked after GNU
    OpenMP started does (``warpkit compile`` compiles the twins this way). Process-wide."""
    global _serial_only, _overlap
    saved = _serial_only, _overlap
    _serial_only, _overlap = True, False
    try:
        yield
    finally:
        _serial_only, _overlap = saved


def guarded(kernel):
    """A function that launches ``kernel`` (a parallel numba dispatcher) by :func:`launch`."""

    def launch_kernel(*args):
        return launch(kernel, *args)

    launch_kernel.__name__ = getattr(kernel, "__name__", "launch_kernel")
    launch_kernel.__doc__ = kernel.__doc__
    launch_kernel.__wrapped__ = kernel
    return launch_kernel
