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
"""

from __future__ import annotations

import os

DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def apply_defaults(environ: dict | None = None) -> dict[str, str]:
    """Set every variable of :data:`DEFAULTS` that ``environ`` lacks; return those set."""
    env = os.environ if environ is None else environ
    added = {k: v for k, v in DEFAULTS.items() if k not in env}
    env.update(added)
    return added


apply_defaults()
