"""numba's on-disk cache works when warpkit is installed in a read-only location.

The package is copied to a temporary folder that is then made read-only (a read-only bind mount
in a private mount namespace when running as root, where file modes do not stop writes; plain
file modes otherwise). numba must fall back to ``NUMBA_CACHE_DIR`` or to the user-wide cache
folder, and a second process must load the compiled kernels from there instead of compiling.
numba picks the cache folder per source file, not per kernel, so the smallest kernel of
``backends/cpu.py`` (``affine_grid``: under a second to compile cold, against ~40 s for the
kernel of a first ``warp``) stands for all of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from numba.core import caching

import warpkit
from warpkit import _numba_cache

SNIPPET = (
    "import numpy as np, warpkit; "
    "grid = warpkit.affine_grid(np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), (1, 2, 3)); "
    "assert np.allclose(grid[0, 0, :, 0], [-2 / 3, 0, 2 / 3]); "
    "print('warpkit from', warpkit.__file__)"
)


def _read_only_copy(tmp_path: Path) -> Path:
    """A copy of the package (made read-only by :func:`_run`), without its caches."""
    root = tmp_path / "site"
    shutil.copytree(Path(warpkit.__file__).parent, root / "warpkit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _run(root: Path, env_extra: dict, read_only: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(env_extra, PYTHONPATH=str(root), NUMBA_DEBUG_CACHE="1")
    if not read_only:
        cmd = [sys.executable, "-c", SNIPPET]
    elif os.geteuid() == 0:
        mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
        cmd = ["unshare", "-m", "sh", "-c", mount, str(root), sys.executable, "-c", SNIPPET]
    else:
        for path in sorted(root.rglob("*"), reverse=True):
            path.chmod(0o555 if path.is_dir() else 0o444)
        cmd = [sys.executable, "-c", SNIPPET]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"warpkit from {root}" in result.stdout  # the read-only copy, not the checkout
    return result


def test_cache_falls_back_to_user_dir_and_is_reused(tmp_path):
    root = _read_only_copy(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    first = _run(root, env)
    assert "data saved" in first.stdout + first.stderr
    assert list(home.rglob("*.nbi")), "no numba index in the user cache folder"
    assert not list(root.rglob("*.nbi")), "numba wrote into the read-only package"
    second = _run(root, env)
    log = second.stdout + second.stderr
    assert "data loaded" in log and "data saved" not in log, log


def test_cache_uses_numba_cache_dir(tmp_path):
    root = _read_only_copy(tmp_path)
    cache = tmp_path / "numba-cache"
    result = _run(root, {"NUMBA_CACHE_DIR": str(cache), "HOME": str(tmp_path)})
    assert "data saved" in result.stdout + result.stderr
    assert list(cache.rglob("*.nbi")), "no numba index in NUMBA_CACHE_DIR"


@pytest.mark.compiles_afresh
def test_an_edit_of_a_module_the_kernels_compile_in_recompiles_them(tmp_path):
    """numba stamps a cached kernel with a hash of its own file only, so after an edit of
    ``backends/_cpu/gather.py``, ``_coords.py`` or ``backends/_simd.py``, whose code
    ``backends/cpu.py``'s kernels compile in (the last two through ``backends/_cpu/``), it
    would load the old machine code. ``warpkit._numba_cache`` adds those modules to the stamp;
    an edit of a module that no kernel refers to keeps the cache."""
    root = _read_only_copy(tmp_path)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "HOME": str(tmp_path)}

    def compiled_after_editing(module: str) -> bool:
        if module:
            with open(root / "warpkit" / module, "a") as f:
                f.write("\n# edited\n")
        result = _run(root, env, read_only=False)
        log = result.stdout + result.stderr
        assert ("data saved" in log) != ("data loaded" in log), log
        return "data saved" in log

    assert compiled_after_editing("")
    assert not compiled_after_editing("")
    assert compiled_after_editing("_coords.py")
    assert not compiled_after_editing("")
    assert compiled_after_editing("backends/_simd.py")
    assert compiled_after_editing("backends/_cpu/gather.py")
    assert not compiled_after_editing("cli.py")


def test_a_kernel_numba_cannot_cache_still_runs_and_is_named_in_a_warning(tmp_path):
    """numba names the kernel's file, read from its cache locator, when it warns that it cannot
    cache a kernel (here: one that calls ``numba.get_num_threads``, a dynamic global);
    warpkit's locator must answer that as numba's own do, not fail the call."""
    root = _read_only_copy(tmp_path)
    module = root / "warpkit" / "_uncachable.py"
    module.write_text("import numba\n\n\n@numba.njit(cache=True)\ndef threads():\n"
                      "    return numba.get_num_threads()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    snippet = "import warpkit._uncachable as u; print('threads', u.threads())"
    result = subprocess.run([sys.executable, "-c", snippet], env=env, capture_output=True,
                            text=True, cwd=root.parent)
    assert result.returncode == 0, result.stderr
    assert "threads " in result.stdout
    assert f'{module}:4: NumbaWarning: Cannot cache compiled function "threads"' in result.stderr


@pytest.mark.parametrize("locked", [True, False])
def test_two_signatures_saved_at_once_each_keep_their_code(tmp_path, locked):
    """numba's save reads the function's index, picks the first free data file name and writes
    index and data: two processes saving two signatures at once both pick the same name, and
    the index ends up naming one signature's code for the other (numba/numba#4807). Two
    threads with index files of their own stand for the two processes (``flock`` locks
    separate opens against each other even in one process); each waits after reading the index
    until the other has read it too, or for 2 s (what it waits when the other is held off by
    the lock). In warpkit's cache folders the second save must find the first's entry."""
    folder = str(tmp_path)
    both_read = threading.Barrier(2, timeout=2)

    def index_file():
        f = caching.IndexDataCacheFile(folder, "kernel-12.py311", ("stamp",))
        numba_load_index = f._load_index

        def load_index_then_wait():
            overloads = numba_load_index()
            try:
                both_read.wait()
            except threading.BrokenBarrierError:
                pass
            return overloads

        f._load_index = load_index_then_wait
        return f

    def save(key):
        index_file().save(key, f"machine code of {key}")

    if locked:
        _numba_cache.FOLDERS.add(folder)
    try:
        threads = [threading.Thread(target=save, args=(key,)) for key in ("float32", "uint8")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        plain = caching.IndexDataCacheFile(folder, "kernel-12.py311", ("stamp",))
        found = {key: plain.load(key) for key in ("float32", "uint8")}
    finally:
        _numba_cache.FOLDERS.discard(folder)
    kept = {key: code == f"machine code of {key}" for key, code in found.items()}
    if locked:
        assert kept == {"float32": True, "uint8": True}, found
    else:  # numba's own save, outside warpkit's folders: the race this lock is for
        assert kept != {"float32": True, "uint8": True}, found
