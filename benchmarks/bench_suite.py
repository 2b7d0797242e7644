"""Full benchmark suite: W1, W1u8, W2, W3 and variants against every importable peer.

Usage::

    python benchmarks/bench_suite.py --out benchmarks/results

writes ``results.json`` and ``results.png`` (bar chart of the medians; needs matplotlib
from the ``bench`` extra) into ``--out`` and prints the table. Medians of interleaved runs.
``--replot`` draws ``results.png`` again from the ``results.json`` in ``--out``, running nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from warpkit import _bench, _tuning


def chart(results: list, path: Path) -> bool:
    """Bar chart of median milliseconds per implementation; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [r for r in results if len(r.times) > 1 and r.workload != "W1-variants"]
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.6), squeeze=False)
    for ax, res in zip(axes[0], shown, strict=True):
        names = list(res.times)
        ms = [res.times[n] * 1e3 for n in names]
        colors = ["#d62728" if n.startswith("warpkit") else "#7f7f7f" for n in names]
        ax.bar(names, ms, color=colors)
        ax.set_title(f"{res.workload}: {res.description}", fontsize=8)
        ax.set_ylabel("median ms (lower is better)")
        ax.tick_params(axis="x", rotation=30, labelsize=8)
        if max(ms) > 20 * min(ms):  # a log scale only for wide ranges, with bars from well
            ax.set_yscale("log")  # below the shortest, so that heights compare fairly
            ax.set_ylim(bottom=min(ms) / 5)
        else:
            ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--replot", action="store_true")
    args = parser.parse_args()
    if args.replot:
        record = json.loads((args.out / "results.json").read_text())
        results = [_bench.Result(r["workload"], r["description"], r["median_seconds"])
                   for r in record["results"]]
        if chart(results, args.out / "results.png"):
            print(f"wrote {args.out / 'results.png'}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    results = _bench.run_suite(quick=args.quick, torch_threads=args.torch_threads)
    table = _bench.format_table(results)
    print(table)
    machine = {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu": _bench.host_cpu(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        # the processor-dependent choice of the kernels (warpkit/_tuning.py)
        "gather_blocks": _tuning.GATHER_BLOCKS,
    }
    record = {"machine": machine, "results": _bench.to_json(results)}
    (args.out / "results.json").write_text(json.dumps(record, indent=2))
    if chart(results, args.out / "results.png"):
        print(f"wrote {args.out / 'results.png'}")
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
