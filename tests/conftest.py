"""Test-wide setup, done before anything imports numba.

* CUDA kernels run in numba's simulator unless a real GPU run asks otherwise: set
  ``NUMBA_ENABLE_CUDASIM=0`` in the environment to run the CUDA tests on a real GPU.
* ``one_numba_thread``: a module-scoped fixture for the modules that make hundreds of tiny
  kernel calls (:func:`reference.numba_threads`), which they use with
  ``pytestmark = pytest.mark.usefixtures("one_numba_thread")``.
* Every pytest-xdist worker compiles into its own numba cache directory
  (``.numba-cache/<worker>/`` in the checkout, or under ``NUMBA_CACHE_DIR`` if set). numba's
  on-disk cache is not safe against two processes compiling the same function at the same
  time (numba/numba#4807, #10128): one process's index can end up naming code another
  process wrote for a different signature. Within a worker, tests (and the subprocesses they
  start, which inherit the variable) run one at a time.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    _base = os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).parents[1] / ".numba-cache"
    os.environ["NUMBA_CACHE_DIR"] = str(Path(_base).resolve() / _worker)


@pytest.fixture(scope="module")
def one_numba_thread():
    """numba's parallel kernels on one thread for a whole test module (waking the thread pool
    costs more than a tiny call's work on a loaded 2-core machine; see
    :func:`reference.numba_threads`)."""
    import reference  # tests/ is on sys.path when the tests run, not when this file loads

    with reference.numba_threads(1):
        yield
