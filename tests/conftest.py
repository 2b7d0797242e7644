"""Test-wide setup, done before anything imports numba.

* CUDA kernels run in numba's simulator unless a real GPU run asks otherwise: set
  ``NUMBA_ENABLE_CUDASIM=0`` in the environment to run the CUDA tests on a real GPU.
* ``one_numba_thread``: a module-scoped fixture for the modules that make hundreds of tiny
  kernel calls (:func:`reference.numba_threads`), which they use with
  ``pytestmark = pytest.mark.usefixtures("one_numba_thread")``.
* The pytest-xdist workers share one numba cache directory (``.numba-cache/`` in the checkout,
  or ``NUMBA_CACHE_DIR`` if set), so that what one worker compiled the other loads. numba's
  on-disk cache is not safe against two processes saving the same function at the same time
  (numba/numba#4807, #10128: one process's index can end up naming code another process wrote
  for a different signature); warpkit's cache folders are saved and loaded under a file lock
  (:mod:`warpkit._numba_cache`), which makes the sharing safe for warpkit's kernels. Each
  worker had a folder of its own until then: sharing one took a cold run of the suite from
  546 s to 463 s (``pytest -n 2``, Zen 4 machine, one run each, benchmarks/LOG.md,
  twenty-fifth session).
* Tests marked ``compiles_afresh`` (a child process compiling into an empty cache, up to two
  minutes) are collected first, so that the workers start them early and they overlap the
  rest of the suite rather than end it (463 s to 388 s, one run each).
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):
    _base = os.environ.get("NUMBA_CACHE_DIR") or Path(__file__).parents[1] / ".numba-cache"
    os.environ["NUMBA_CACHE_DIR"] = str(Path(_base).resolve())


@pytest.fixture(scope="module")
def one_numba_thread():
    """numba's parallel kernels on one thread for a whole test module (waking the thread pool
    costs more than a tiny call's work on a loaded 2-core machine; see
    :func:`reference.numba_threads`)."""
    import reference  # tests/ is on sys.path when the tests run, not when this file loads

    with reference.numba_threads(1):
        yield


def pytest_collection_modifyitems(items):
    """Move the ``compiles_afresh`` tests to the front (a stable sort: the rest keep their
    order, the same in every worker, as pytest-xdist requires)."""
    items.sort(key=lambda item: item.get_closest_marker("compiles_afresh") is None)
