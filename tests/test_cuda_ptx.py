"""Every CUDA kernel and device function compiles to PTX for compute capabilities 8.0 and 9.0.

The simulator (``tests/test_cuda.py``) runs kernels as Python and accepts code that NVVM would
reject, so ``python -m warpkit.backends._ptx_check`` compiles everything with
``numba.cuda.compile_ptx`` in a child process without ``NUMBA_ENABLE_CUDASIM``. No GPU is
needed, only the NVVM/NVRTC libraries of the ``cuda`` extra (``numba-cuda[cu13]``). These tests
fail, and never skip, when those libraries are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cuda


def run_python(args: list[str], simulator: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=900
    )


def test_every_kernel_and_device_function_compiles_to_ptx():
    proc = run_python(["-m", "warpkit.backends._ptx_check"])
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    assert "PTX check ok" in proc.stdout, report
    for cc in ("8.0", "9.0"):
        for dtype in ("float32", "float64"):
            assert f"cc {cc} {dtype}:" in proc.stdout, report


BROKEN = """
import sys
from warpkit.backends import _ptx_check
_ptx_check.kernel_signatures = lambda dtype: {"_zero": ()}  # wrong number of arguments
_ptx_check.device_signatures = lambda dtype: {}
sys.exit(_ptx_check.main())
"""


def test_a_failing_compile_is_named_and_exits_nonzero():
    proc = run_python(["-c", BROKEN])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "kernel _zero() for cc 8.0" in proc.stderr
    assert "kernel _zero() for cc 9.0" in proc.stderr
    assert "PTX check FAILED" in proc.stdout


def test_refuses_to_run_in_the_simulator():
    proc = run_python(["-m", "warpkit.backends._ptx_check"], simulator=True)
    assert proc.returncode == 1
    assert "NUMBA_ENABLE_CUDASIM is set" in proc.stderr
