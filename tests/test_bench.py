"""The benchmark harness's interleaving (``warpkit._bench.interleaved``)."""

from __future__ import annotations

import time

from warpkit._bench import interleaved


def test_interleaved_runs_each_function_once_per_round_in_varying_orders():
    calls: list[str] = []

    def make(name, seconds):
        def fn():
            calls.append(name)
            time.sleep(seconds)

        return fn

    fns = {"a": make("a", 0.0), "b": make("b", 0.002), "c": make("c", 0.0)}
    times = interleaved(fns, repeats=20)
    assert set(times) == {"a", "b", "c"}
    assert times["b"] >= 0.002 > times["a"]
    warmup, rounds = calls[:3], [calls[3 + 3 * r: 6 + 3 * r] for r in range(20)]
    assert warmup == ["a", "b", "c"] and len(calls) == 63
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds)
    # no function always follows the same one: b is not always run right after a
    after = {calls[k - 1] for k in range(4, len(calls)) if calls[k] == "b"}
    assert len(after) >= 2


def test_interleaved_counts_the_page_faults_of_each_function():
    import mmap

    import pytest

    pytest.importorskip("resource")  # Unix only: the count is documented as missing elsewhere
    pages = 64

    def fresh():  # new anonymous memory, every page written: one fault a page
        with mmap.mmap(-1, pages * mmap.PAGESIZE) as m:
            for k in range(pages):
                m[k * mmap.PAGESIZE] = 1

    kept = bytearray(pages * mmap.PAGESIZE)

    def reuse():  # written before: no fault
        for k in range(pages):
            kept[k * mmap.PAGESIZE] = 1

    faults: dict[str, float] = {}
    interleaved({"fresh": fresh, "reuse": reuse}, repeats=5, faults=faults)
    assert faults["fresh"] >= pages and faults["reuse"] < pages / 4, faults


def test_replot_draws_the_chart_from_results_json_without_running_anything(tmp_path):
    import importlib.util
    import json
    import subprocess
    import sys
    from pathlib import Path

    record = {"machine": {}, "results": [
        {"workload": "W2", "description": "d", "median_seconds": {"warpkit": 0.018,
                                                                 "pytorch": 0.024}},
        {"workload": "W1-variants", "description": "v", "median_seconds": {"warpkit": 0.005}},
    ]}
    (tmp_path / "results.json").write_text(json.dumps(record))
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_suite.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--replot"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "W1 " not in done.stdout  # no table: nothing was run
    has_matplotlib = importlib.util.find_spec("matplotlib") is not None
    assert (tmp_path / "results.png").exists() == has_matplotlib


def _ab_kernels(monkeypatch):
    """``benchmarks/ab_kernels.py`` as a module (benchmarks/ is not a package: its scripts
    import each other from their folder)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ab_kernels.py"
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location("ab_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ab_kernels_imports_a_revisions_kernels_as_a_package_of_their_own(tmp_path, monkeypatch):
    """The A side of the A/B script is the revision's own code, a copy beside the checkout's."""
    from pathlib import Path

    import numpy as np
    import pytest

    ab = _ab_kernels(monkeypatch)
    if not (ab.REPO / ".git").exists():
        pytest.skip("not a git checkout: there is no revision to copy")
    cpu = ab.snapshot("HEAD", tmp_path)
    assert Path(cpu.__file__).is_relative_to(tmp_path)
    assert cpu.__name__.startswith("warpkit_ab") and cpu.__name__.endswith(".backends.cpu")
    grid = np.empty((1, 1, 3, 2))
    cpu.affine_grid(np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), grid, False)
    np.testing.assert_allclose(grid[0, 0, :, 0], [-2 / 3, 0, 2 / 3])
    with pytest.raises(ValueError, match="no-such-revision"):
        ab.snapshot("no-such-revision", tmp_path / "other")


def test_ab_kernels_busy_neighbour_runs_pinned_while_the_block_runs(monkeypatch):
    """``--busy CPU``: another process, on that CPU only, using it, gone after the block."""
    import os
    import time

    import pytest

    ab = _ab_kernels(monkeypatch)
    cpu = max(os.sched_getaffinity(0))
    with ab.busy_neighbour(cpu) as proc:
        assert os.sched_getaffinity(proc.pid) == {cpu}
        time.sleep(0.5)
        with open(f"/proc/{proc.pid}/stat") as f:
            ticks = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])  # utime+stime
        assert ticks > 0
    assert proc.poll() is not None
    with pytest.raises(ValueError, match="CPU 100000 is not one"):
        ab.busy_neighbour(100_000)
