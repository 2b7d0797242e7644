"""``warpkit bench``: a quick run of the benchmark suite (the full one is benchmarks/)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._cli_compile import _at_least_one


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` sub-command."""
    p = subparsers.add_parser(
        "bench",
        help="time warpkit against OpenCV, scikit-image, SciPy and PyTorch (quick run)",
        description="Time warpkit against the peers that are importable, interleaving the "
        "runs and reporting medians and ratios. The full suite with a chart is "
        "benchmarks/bench_suite.py.",
    )
    p.add_argument("--full", action="store_true", help="full repeats and sizes (minutes)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    p.add_argument("--torch-threads", type=_at_least_one("a number of threads"), default=2,
                   help="PyTorch intra-op threads")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the suite and print the table."""
    from . import _bench

    if args.json is not None and (args.json.is_dir() or not args.json.parent.is_dir()):
        print(f"warpkit bench: error: --json {args.json}: not a file in an existing folder "
              "(checked before the minutes of the run)", file=sys.stderr)
        return 2
    results = _bench.run_suite(quick=not args.full, torch_threads=args.torch_threads)
    print(_bench.format_table(results))
    if args.json is not None:
        args.json.write_text(json.dumps(_bench.to_json(results), indent=2))
        print(f"wrote {args.json}")
    return 0
