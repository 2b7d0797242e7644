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

Small calls run their kernels' serial twins too, on the calling thread alone
(:func:`on_this_thread`, which ``backends.cpu.call`` uses below ``SERIAL_PIXELS``): waking
numba's sleeping workers costs about 50 µs on the project's VMs, and a parallel kernel kept to
one thread by ``numba.set_num_threads`` still enters its parallel region. A kernel calls the
code its threads run through that code's address (:mod:`warpkit.backends._cpu.indirect`), so
a twin runs the very machine code its parallel kernel runs, and gives the same bits.

Under the ``omp`` layer, the sampler's kernels are launched with ``spread``: a worker that the
system woke onto the launching thread's CPU moves to another one
(:func:`warpkit.backends._cpu.schedule.spread_out`; the VMs of this project do that after a
pause, and the two threads then took turns on one CPU).
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

#: How this process launches kernels, once known: ``"overlap"`` (omp, tbb: directly),
#: ``"lock"`` (workqueue: under :data:`_LAUNCH_LOCK`) or ``"serial"`` (forked after GNU OpenMP
#: started: serial twins). None until numba has picked its layer at the first launch.
_mode: str | None = None
#: Whether parallel kernels launched with ``spread`` spread their threads over the CPUs: under
#: numba's ``omp`` layer, whose launching thread runs as thread 0 of the loop (see
#: :func:`warpkit.backends._cpu.schedule.spread_out`). Set with :data:`_mode`.
_spreads = False

#: kernel -> its serial twin, made on first use
_twins: dict = {}


class _Here(threading.local):
    """How kernels are launched on the calling thread (per thread: other threads' launches
    are not affected)."""

    #: :func:`launch` runs serial twins (inside :func:`on_this_thread`)
    serial = False
    #: small calls may run on this thread alone (:func:`parallel_launches` turns it off)
    small_serial = True


here = _Here()


def _threading_layer() -> str | None:
    """numba's threading layer, or None before the first parallel launch picks it."""
    if "numba" not in sys.modules:
        return None
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _decide() -> str:
    """:data:`_mode` from numba's layer; ``"lock"`` (uncached) while numba has not picked one, so
    that the first launches, which pick it, run one at a time."""
    global _mode, _spreads
    layer = _threading_layer()
    if layer is None:
        return "lock"
    _spreads = layer == "omp"
    _mode = "lock" if layer == "workqueue" else "overlap"
    return _mode


def _gnu_openmp_started() -> bool:
    """Whether numba's threading layer has started and is GNU's OpenMP."""
    if _threading_layer() != "omp":
        return False
    from numba.np.ufunc import omppool

    return omppool.openmp_vendor == "GNU"


def _after_fork_in_child() -> None:
    global _mode, _LAUNCH_LOCK
    _LAUNCH_LOCK = threading.RLock()  # a launch in another thread may have held it at the fork
    try:
        if _gnu_openmp_started():
            _mode = "serial"
    except Exception:  # never fail a fork; numba would then say why at the launch
        pass


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
        # setdefault: threads making the first small calls at once all get the first twin made
        twin = _twins.setdefault(kernel, njit(cache=True, **options)(serial))
    return twin


def parallel() -> bool:
    """Whether :func:`launch` runs kernels in parallel on this thread (not as their serial
    twins)."""
    return not here.serial and (_mode or _decide()) != "serial"


def launched(kernel):
    """The kernel that :func:`launch` runs for ``kernel`` on this thread now: ``kernel`` or
    its serial twin."""
    return kernel if parallel() else _twin(kernel)


def launch(kernel, *args: Any, spread: bool = False) -> Any:
    """``kernel(*args)`` for a parallel numba kernel, the way every warpkit kernel is launched
    (:data:`_mode`): directly where launches may overlap (omp, tbb); under the ``workqueue``
    layer, holding a process-wide lock so that launches from different Python threads wait
    for each other; in a process forked from one whose GNU OpenMP had started, and inside
    :func:`on_this_thread`, as the kernel's serial twin (:func:`_twin`).

    With ``spread``, the kernel takes one more argument, passed last: whether its threads
    spread over the CPUs (:data:`_spreads` for the parallel kernel, False for a twin and
    under the lock)."""
    last = (False,) if spread else ()
    if here.serial:  # first: a process that only made small calls has not picked a layer
        return _twin(kernel)(*args, *last)
    mode = _mode or _decide()
    if mode == "serial":
        return _twin(kernel)(*args, *last)
    if mode == "overlap":
        return kernel(*args, *((_spreads,) if spread else ()))
    with _LAUNCH_LOCK:
        return kernel(*args, *last)


def on_this_thread(fn, *args: Any) -> Any:
    """``fn(*args)``, every kernel it launches run as its serial twin on the calling thread
    (for small calls, see the module docstring)."""
    if here.serial:
        return fn(*args)
    here.serial = True
    try:
        return fn(*args)
    finally:
        here.serial = False


@contextlib.contextmanager
def parallel_launches() -> Iterator[None]:
    """Inside the block, small calls on this thread launch the parallel kernels too, as large
    ones do (``warpkit compile`` compiles those kernels by calls on tiny inputs this way)."""
    saved = here.small_serial
    here.small_serial = False
    try:
        yield
    finally:
        here.small_serial = saved


@contextlib.contextmanager
def serially() -> Iterator[None]:
    """Launch kernels as their serial twins inside the block, as a process forked after GNU
    OpenMP started does (``warpkit compile`` compiles the twins this way). Process-wide."""
    global _mode
    saved = _mode
    _mode = "serial"
    try:
        yield
    finally:
        _mode = saved
