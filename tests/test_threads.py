"""warpkit sets thread-pool defaults on import and never overrides the user's own values; its
parallel kernels may be launched from many Python threads at once whatever numba's threading
layer, and from processes forked after they ran."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading

import pytest

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


#: Run in a fresh process: every kind of parallel kernel launch warpkit makes (a large warp, a
#: small one on the calling thread alone, a backward through the ops, a convolution, ReLU and
#: max-pooling forward and backward), from 4 Python threads at once, against the same calls
#: made one by one.
WORK = """
import numba
import numpy as np
import warpkit
from warpkit.nn.conv import Conv2D, MaxPool2D
from warpkit.nn.layers import ReLU

rng = np.random.default_rng(0)
theta = np.array([[0.9, -0.3, 0.05], [0.3, 0.9, 0.0]])
big = [rng.random((200 + 9 * k, 190, 3), dtype=np.float32) for k in range(6)]
small = [(rng.random((20, 30)) * 255).astype(np.uint8) for k in range(6)]
x = [rng.random((2, 12, 12, 1), dtype=np.float32) for k in range(6)]

def work(k):
    out = [warpkit.warp(big[k], theta), warpkit.warp(small[k], theta)]
    t = np.stack([theta, theta]).astype(np.float32)
    out += warpkit.affine_sample_backward(np.ones_like(x[k]), x[k], t)
    layers = [Conv2D(1, 4, 3, rng=k), ReLU(), MaxPool2D(2)]
    h = x[k]
    for layer in layers:
        h = layer.forward(h)
    out.append(h)
    g = np.ones_like(h)
    for layer in reversed(layers):
        g = layer.backward(g)
    return out + [layers[0].grads["W"]]
"""

CONCURRENT = WORK + """
from concurrent.futures import ThreadPoolExecutor

one_by_one = [work(k) for k in range(6)]
with ThreadPoolExecutor(4) as pool:
    for _ in range(4):
        for got, want in zip(pool.map(work, range(6)), one_by_one):
            assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
print(numba.threading_layer())
"""


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_kernels_launched_from_many_threads_at_once(layer):
    # numba's workqueue layer (its fallback without OpenMP or TBB) terminates the process when
    # two threads launch parallel kernels at once; warpkit's launches wait for each other there
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    result = subprocess.run([sys.executable, "-c", CONCURRENT], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    if layer == "workqueue":
        assert result.stdout.split() == ["workqueue"]


def test_launches_wait_for_each_other_and_spread_as_the_layer_allows(monkeypatch):
    def other_thread_gets_the_lock() -> bool:
        got = []

        def try_lock() -> None:
            got.append(_threads._LAUNCH_LOCK.acquire(blocking=False))
            if got[0]:
                _threads._LAUNCH_LOCK.release()

        t = threading.Thread(target=try_lock)
        t.start()
        t.join()
        return got[0]

    def echo(*args):
        return args

    # (layer, launches wait for each other, a kernel launched with spread spreads its threads)
    for layer, waits, spreads in ((None, True, False), ("workqueue", True, False),
                                  ("omp", False, True), ("tbb", False, False)):
        monkeypatch.setattr(_threads, "_threading_layer", lambda layer=layer: layer)
        monkeypatch.setattr(_threads, "_mode", None)  # as before the layer is known
        monkeypatch.setattr(_threads, "_spreads", False)
        for _ in range(2):  # the launch that learns the layer and the one after it
            free = _threads.launch(other_thread_gets_the_lock)
            assert free is not waits, layer
            assert _threads.launch(echo, 1, spread=True) == (1, spreads), layer
            assert _threads.launch(echo, 1) == (1,)
        assert other_thread_gets_the_lock()  # released after the launch
    # a serial twin's thread is the only one: on this thread (small calls), after a fork
    monkeypatch.setattr(_threads, "_twin", lambda kernel: kernel)
    assert _threads.on_this_thread(lambda: _threads.launch(echo, 1, spread=True)) == (1, False)
    monkeypatch.setattr(_threads, "_mode", "serial")
    assert _threads.launch(echo, 1, spread=True) == (1, False)


#: Run in a fresh process: the calls of :data:`WORK` in the process, then in the workers of a
#: pool forked from it (numba terminates a child at its first parallel launch once the parent's
#: GNU OpenMP threads have started; the pool would then wait forever, hence the timeout).
FORKED = WORK + """
import json, multiprocessing
from warpkit import _threads

def in_child(k):
    same = all(np.array_equal(a, b) for a, b in zip(work(k), here[k], strict=True))
    twins = _threads._twins.values()  # the serial kernels this child ran, and their cache
    return [same, sorted(t._cache._cache_file._index_name for t in twins),
            sum(sum(t.stats.cache_hits.values()) for t in twins)]

here = [work(k) for k in range(4)]
with multiprocessing.get_context("fork").Pool(2) as pool:
    print(json.dumps([pool.map_async(in_child, range(4)).get(timeout=150),
                      _threads._gnu_openmp_started()]))
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="no fork() on this platform")
def test_kernels_run_in_processes_forked_after_they_ran():
    for run in range(2):  # the second run's children load the serial kernels from the cache
        result = subprocess.run([sys.executable, "-c", FORKED], capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        children, gnu_openmp = json.loads(result.stdout)
        assert [same for same, _, _ in children] == [True] * 4
        if gnu_openmp:  # numba on GNU OpenMP (Linux, this project's CI): serial twins ran
            names = children[0][1]
            assert len(names) >= 8 and all("__serial-" in name for name in names), names
            if run == 1:  # cached under names of their own, never the parallel kernels'
                assert all(hits > 0 for _, _, hits in children[:2]), children


#: Run in a fresh process under numba's workqueue layer: a child forked while another thread of
#: the parent held the launch lock (in the middle of a launch) must not wait for that thread,
#: which the child does not have.
FORK_WHILE_LAUNCHING = """
import os, threading, time
import numpy as np
import warpkit
from warpkit import _threads

x = np.random.default_rng(0).random((30, 40, 3)).astype(np.float32)
theta = np.array([[0.9, -0.3, 0.05], [0.3, 0.9, 0.0]])
want = warpkit.warp(x, theta)
held, release = threading.Event(), threading.Event()

def launching_elsewhere():
    with _threads._LAUNCH_LOCK:
        held.set()
        release.wait()

t = threading.Thread(target=launching_elsewhere)
t.start()
held.wait()
pid = os.fork()
if pid == 0:
    os._exit(0 if np.array_equal(warpkit.warp(x, theta), want) else 1)
release.set()
t.join()
deadline = time.monotonic() + 60
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done or time.monotonic() > deadline:
        break
    time.sleep(0.05)
if not done:
    os.kill(pid, 9)
print("child", "hung" if not done else os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_child_forked_during_a_launch_does_not_wait_for_it():
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue")
    result = subprocess.run([sys.executable, "-c", FORK_WHILE_LAUNCHING], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["child", "0"], result.stdout + result.stderr


def test_warpkit_imports_where_there_is_no_fork():
    # Windows has neither fork() nor os.register_at_fork (nor fcntl): import and warp anyway
    code = ("import os, sys; del os.register_at_fork; sys.modules['fcntl'] = None; "
            "import numpy as np, warpkit; "
            "print(warpkit.warp(np.ones((4, 4), np.float32), np.eye(2, 3)).sum())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["16.0"]
