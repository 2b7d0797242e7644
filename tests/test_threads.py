"""warpkit sets thread-pool defaults on import and never overrides the user's own values."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from warpkit import _threads


def test_apply_defaults_fills_only_missing_variables():
    env = {"OMP_WAIT_POLICY": "ACTIVE", "PATH": "/bin"}
    added = _threads.apply_defaults(env)
    assert added == {"OPENBLAS_THREAD_TIMEOUT": "4"}
    assert env == {"OMP_WAIT_POLICY": "ACTIVE", "PATH": "/bin", "OPENBLAS_THREAD_TIMEOUT": "4"}
    assert _threads.apply_defaults(env) == {}


def _env_after_import(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _threads.DEFAULTS} | extra
    code = (
        "import json, os, warpkit; "
        "print(json.dumps({k: os.environ.get(k) for k in ('OMP_WAIT_POLICY', "
        "'OPENBLAS_THREAD_TIMEOUT')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_import_sets_defaults_in_a_fresh_process():
    assert _env_after_import({}) == {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def test_import_keeps_the_users_values():
    user = {"OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "28"}
    assert _env_after_import(user) == user
