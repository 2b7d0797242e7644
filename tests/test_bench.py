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
