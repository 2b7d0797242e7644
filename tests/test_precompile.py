"""``warpkit compile`` / :func:`warpkit.precompile.precompile`: kernels compiled ahead of their
first call are loaded, not compiled, by the first call of a later process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from warpkit.cli import main
from warpkit.precompile import OPERATIONS, plan

#: Run in a fresh process after ``warpkit compile``: prints how many functions numba compiled
#: for each call (its "numba:compile" events; loading from the cache makes none).
CHECK = """
import os
import sys
import numpy as np
from numba.core import event
import warpkit

def compiled(call):
    recorder = event.RecordingListener()
    with event.install_listener("numba:compile", recorder):
        call()
    return sum(1 for _, ev in recorder.buffer if ev.is_start)

theta = np.array([[0.9, -0.2, 0.1], [0.2, 0.9, 0.0]])
rgba = np.random.default_rng(0).random((21, 17, 4)).astype(np.float32)
print("warp", compiled(lambda: warpkit.warp(rgba, theta, padding_mode="reflection")))
theta32 = theta.astype(np.float32)[None]  # affine_grid compiles per dtype of theta
print("affine_grid", compiled(lambda: warpkit.affine_grid(theta32, (1, 5, 6, 1))))
def warp_rgba():
    return compiled(lambda: warpkit.warp(rgba, theta))

if hasattr(os, "fork"):  # a forked child's serial kernels (GNU OpenMP) were compiled too
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(1) as pool:
        print("forked warp", pool.apply(warp_rgba))
two = rgba[..., :2].copy()  # 2 channels: a gather that was not compiled
print("two channels", compiled(lambda: warpkit.warp(two, theta)))
"""


def _env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["NUMBA_CACHE_DIR"] = str(cache)
    return env


def _run(args, env) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.compiles_afresh
def test_a_later_process_loads_what_compile_compiled(tmp_path):
    env = _env(tmp_path / "cache")
    # two (operation, dtype) pairs: two processes compiling at once into one cache
    first = _run(["-m", "warpkit", "compile", "--ops", "warp", "affine_grid", "--dtypes",
                  "float32", "--channels", "4", "--jobs", "2"], env)
    lines = first.stdout.splitlines()
    assert any(line.startswith("warp") and "compiled" in line for line in lines), first.stdout
    assert "2 kernels ready" in first.stdout
    counts = dict(line.rsplit(" ", 1) for line in _run(["-c", CHECK], env).stdout.splitlines())
    assert counts["warp"] == "0"
    assert counts["affine_grid"] == "0"
    assert counts.get("forked warp", "0") == "0"
    assert int(counts["two channels"]) > 0  # the check sees compiling where there is some
    again = _run(["-m", "warpkit", "compile", "--ops", "warp", "affine_grid", "--dtypes",
                  "float32", "--channels", "4", "--jobs", "1"], env)
    assert "(0 compiled)" in again.stdout, again.stdout


def test_plan_defaults_to_warp_of_float32_and_uint8_images():
    got = [(op, dt.name, c) for op, dt, c in plan()]
    assert got == [("warp", dt, c) for dt in ("float32", "uint8") for c in (1, 3, 4)]


def test_plan_takes_each_operation_with_its_own_default_dtypes():
    got = plan(list(OPERATIONS), channels=[3, 3])
    assert [op for op, _, _ in got] == ["warp", "warp"] + list(OPERATIONS)[1:]
    assert {dt.name for op, dt, _ in got if op != "warp"} == {"float32"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operations": ["rotate"]}, "operation must be one of"),
        ({"operations": []}, "at least one operation"),
        ({"operations": ["grid_sample"], "dtypes": ["uint8"]},
         "float32 or float64 inputs, got uint8"),
        ({"dtypes": ["complex64"]}, "bool, integer or float images, got complex64"),
        ({"dtypes": ["not-a-dtype"]}, "dtype must name a numpy dtype, got 'not-a-dtype'"),
        ({"channels": [0]}, "channels must be integers >= 1, got 0"),
        ({"channels": [True]}, "channels must be integers >= 1, got True"),
        ({"channels": [2.5]}, "channels must be integers >= 1, got 2.5"),
        ({"channels": []}, "at least one channel count"),
        ({"channels": [99999999999999999999]}, "channels must be at most 1024"),
    ],
)
def test_plan_rejects_what_it_cannot_compile(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        plan(**kwargs)


def test_bench_refuses_bad_arguments_before_running(tmp_path, capsys, monkeypatch):
    """--torch-threads below 1 (PyTorch raised a RuntimeError traceback) and a --json in no
    folder (a traceback after minutes of running, the results lost): one line, exit 2."""
    from warpkit import _bench

    def no_run(*args, **kwargs):
        raise AssertionError("ran the suite before checking its arguments")

    monkeypatch.setattr(_bench, "run_suite", no_run)
    with pytest.raises(SystemExit) as info:
        main(["bench", "--torch-threads", "0"])
    assert info.value.code == 2 and "a number of threads >= 1, got 0" in capsys.readouterr().err
    bad_places = [tmp_path / "missing" / "r.json", tmp_path]
    if Path("/proc/self").is_dir():  # a folder that takes no new file, even from root
        bad_places.append(Path("/proc/warpkit-bench.json"))
    for bad in bad_places:
        assert main(["bench", "--json", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"warpkit bench: error: --json {bad}") and err.count("\n") == 1


def test_bench_json_is_removed_when_the_run_fails_unless_it_was_there(tmp_path, monkeypatch):
    """The --json file is opened before the run; a run that fails leaves no empty file behind,
    and an existing file as it was."""
    from warpkit import _bench

    def failing_run(*args, **kwargs):
        raise RuntimeError("the suite failed")

    monkeypatch.setattr(_bench, "run_suite", failing_run)
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    old.write_text("kept")
    for path in (new, old):
        with pytest.raises(RuntimeError, match="the suite failed"):
            main(["bench", "--json", str(path)])
    assert not new.exists() and old.read_text() == "kept"


def test_command_reports_a_bad_combination_before_compiling(capsys):
    assert main(["compile", "--ops", "affine_sample", "--dtypes", "int16"]) == 2
    err = capsys.readouterr().err
    assert "affine_sample takes float32 or float64 inputs, got int16" in err


def test_one_job_compiles_in_this_process_in_plan_order():
    from warpkit.precompile import precompile

    got = [(i.operation, i.dtype, i.channels) for i in precompile(["affine_grid"], ["float32"],
                                                                   [2, 1], jobs=1)]
    assert got == [("affine_grid", "float32", 2), ("affine_grid", "float32", 1)]
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
            list(precompile(["affine_grid"], jobs=jobs))


def test_command_rejects_a_bad_channel_count(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", "--channels", "three"])
    assert exc.value.code == 2
    assert "expected a channel count, got 'three'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compile", "--jobs", "0"])
    assert "expected a number of processes >= 1, got 0" in capsys.readouterr().err


def test_every_operation_compiles_on_tiny_inputs():
    # each operation's call runs (in this process's cache), for a float and, for warp, an
    # integer and a boolean image: no call raises for the inputs it is documented to take
    from warpkit.precompile import compile_one

    for op, _, _ in plan(list(OPERATIONS), channels=[1]):
        item = compile_one(op, np.float32, 1)
        assert (item.operation, item.dtype, item.channels) == (op, "float32", 1)
    for dtype in (np.uint16, np.bool_):
        assert compile_one("warp", dtype, 1).dtype == np.dtype(dtype).name


#: In a fresh process: the grid sampler's compiled signatures after `compile --ops train`'s call.
TRAIN_GRID = """
from warpkit import _threads
from warpkit.backends import cpu
from warpkit.precompile import compile_one

compile_one("train", "float32", 1)
for kernel in (cpu._grid_sample, _threads._twin(cpu._grid_sample)):
    print(sorted(str(sig[0]) for sig in kernel.overloads))
"""


def test_compile_for_train_covers_the_distortions_that_sample_grids():
    """`warpkit train --distortion p` (or e) samples grids in float32 while it makes its data;
    `warpkit compile --ops train` must load or compile that kernel too (it compiled only the
    models' kernels: a first run compiled 62 functions more)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", TRAIN_GRID], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    parallel, serial = done.stdout.splitlines()  # the kernel, and the twin of small calls
    assert "array(float32, 4d, C)" in parallel, done.stdout
    assert "array(float32, 4d, C)" in serial, done.stdout
