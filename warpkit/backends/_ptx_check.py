"""Compile every CUDA kernel and device function to PTX, without a GPU.

Run as ``python -m warpkit.backends._ptx_check`` in a process where ``NUMBA_ENABLE_CUDASIM``
is *not* set (the simulator runs kernels as Python and would accept code that NVVM rejects).
It needs the NVVM/NVRTC libraries only, which the ``cuda`` extra (``numba-cuda[cu13]``)
installs; no driver or device is used.

For each compute capability in :data:`COMPUTE_CAPABILITIES` and each input dtype the
dispatcher can launch (float32, float64), it compiles every ``@cuda.jit`` kernel of
:mod:`warpkit.backends.cuda` in the signature its launcher uses (:func:`kernel_signatures`)
and every device function on its own (:func:`device_signatures`). ``mode``/``padding`` are
runtime int64 codes, ``align_corners``/``need_gin`` booleans and ``cval`` a float64 vector, so
one signature per dtype covers every mode and padding mode. Exits 0 when everything compiles;
otherwise prints each failing function, signature and error, and exits 1.

Why a stand-in device: ``compile_ptx(kernel, cc=...)`` itself never touches the driver, but a
kernel that calls a ``cuda.jit(device=True)`` dispatcher makes that dispatcher compile itself
for ``numba.cuda.dispatcher.get_current_device().compute_capability``, which needs a driver.
While checking one compute capability this module therefore replaces that name (in this
process only) with a stand-in device reporting the capability being checked, and reloads
:mod:`warpkit.backends.cuda` so that every device function is compiled afresh for it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from contextlib import contextmanager
from types import SimpleNamespace

from numba import types

#: Compute capabilities compiled for (Ampere A100, Hopper H100).
COMPUTE_CAPABILITIES = ((8, 0), (9, 0))
#: Input dtypes the dispatcher launches (θ, grids, outputs and gradients share them).
DTYPES = (types.float32, types.float64)

_I = types.int64
_B = types.boolean
_F64 = types.float64
_CVAL = types.Array(types.float64, 1, "C")
_PARTIAL = types.Array(types.float64, 3, "C")
_SHARED6 = types.Array(types.float64, 2, "C")


def kernel_signatures(dtype: types.Float) -> dict[str, tuple]:
    """Argument types with which the launchers call each kernel, for input ``dtype``.

    Parameters
    ----------
    dtype : numba float type
        ``types.float32`` or ``types.float64``: images, grids, θ, outputs and gradients.

    Returns
    -------
    dict
        Kernel name (a key of ``warpkit.backends.cuda.KERNELS``) -> tuple of numba types.
    """
    img = types.Array(dtype, 4, "C")  # (N, H, W, C) images, (N, Ho, Wo, 2) grids
    theta = types.Array(dtype, 3, "C")  # (N, 2, 3)
    flat = types.Array(dtype, 1, "C")  # zeroing grad_input
    return {
        "_affine_grid": (theta, img, _B),
        "_affine_grid_backward": (img, _PARTIAL, _B),
        "_grid_sample": (img, img, img, _I, _I, _B, _CVAL),
        "_grid_sample_backward": (img, img, img, img, img, _I, _I, _B, _CVAL, _B),
        "_affine_sample": (img, theta, img, _I, _I, _B, _CVAL),
        "_affine_sample_backward": (img, img, theta, img, _PARTIAL, _I, _I, _B, _CVAL, _B),
        "_reduce_theta": (_PARTIAL, theta),
        "_zero": (flat,),
        "_copy3": (types.Array(dtype, 3, "A"), theta),  # a strided θ made contiguous
        "_copy4": (types.Array(dtype, 4, "A"), img),
    }


def device_signatures(dtype: types.Float) -> dict[str, tuple]:
    """Argument types of each device function when called from the kernels, for ``dtype``."""
    img = types.Array(dtype, 4, "C")
    theta = types.Array(dtype, 3, "C")
    return {
        "base_coord": (_I, _I, _B),
        "unnormalize_scale": (_I, _B),
        "source_index": (_F64, _I, _I, _B),
        "grid_source": (dtype, _I, _I, _B),
        "affine_coeffs": (theta, _I, _I, _I, _I, _I, _B),
        "sample_point": (img, _I, _F64, _F64, _I, _I, _CVAL, img, _I, _I, _I),
        "backward_point": (img, _I, _F64, _F64, _I, _I, _CVAL, img, _I, _I, _I, img, _I, _B),
        "_atomic_add": (img, _I, _I, _I, _I, _F64),
        "_block_sums": (_SHARED6, _PARTIAL, _I),
    }


@contextmanager
def _target(cc: tuple[int, int]):
    """Make device dispatchers compile for ``cc`` without a driver (see module docstring)."""
    import numba.cuda.dispatcher as dispatcher

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


def check(verbose: bool = True) -> list[str]:
    """Compile everything; return one message per failure (empty when all compile).

    Parameters
    ----------
    verbose : bool
        Print one line per compute capability and dtype with its compile time.
    """
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return ["NUMBA_ENABLE_CUDASIM is set: run the PTX check in a process without it"]
    from numba.cuda import compile_ptx

    from . import cuda as backend

    failures = []
    for cc in COMPUTE_CAPABILITIES:
        with _target(cc):
            failures += _check_cc(importlib.reload(backend), compile_ptx, cc, verbose)
    return failures


def _check_cc(backend, compile_ptx, cc: tuple[int, int], verbose: bool) -> list[str]:
    """Compile every kernel and device function of ``backend`` for one compute capability."""
    failures = []
    for dtype in DTYPES:
        start = time.perf_counter()
        jobs = [(name, sig, False) for name, sig in kernel_signatures(dtype).items()]
        jobs += [(name, sig, True) for name, sig in device_signatures(dtype).items()]
        for name, sig, device in jobs:
            fn = getattr(backend, name) if device else backend.KERNELS[name]
            try:
                compile_ptx(fn.py_func, sig, device=device, cc=cc)
            except Exception as exc:  # report every failure, not just the first
                kind = "device function" if device else "kernel"
                args = ", ".join(str(t) for t in sig)
                failures.append(
                    f"{kind} {name}({args}) for cc {cc[0]}.{cc[1]}: {type(exc).__name__}: {exc}"
                )
        if verbose:
            took = time.perf_counter() - start
            print(f"cc {cc[0]}.{cc[1]} {dtype}: {len(jobs)} functions in {took:.1f} s")
    return failures


def main() -> int:
    """Command-line entry point: exit status 0 when every function compiles to PTX."""
    start = time.perf_counter()
    failures = check()
    for message in failures:
        print("PTX compile failed:", message, file=sys.stderr)
    status = "FAILED" if failures else "ok"
    print(f"PTX check {status} in {time.perf_counter() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
