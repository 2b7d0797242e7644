"""``warpkit bench``: a quick run of the benchmark suite (the full one is benchmarks/)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

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

    with contextlib.ExitStack() as stack:
        sink = None
        if args.json is not None:  # opened before the minutes of the run, which it must outlive
            try:
                sink = stack.enter_context(_new_or_kept(args.json))
            except OSError as e:
                print(f"warpkit bench: error: --json {args.json}: cannot write there "
                      f"({e.strerror or e})", file=sys.stderr)
                return 2
        results = _bench.run_suite(quick=not args.full, torch_threads=args.torch_threads)
        print(_bench.format_table(results))
        if sink is not None:
            sink.truncate(0)
            sink.write(json.dumps(_bench.to_json(results), indent=2))
            print(f"wrote {args.json}")
    return 0


@contextlib.contextmanager
def _new_or_kept(path: Path) -> Iterator[TextIO]:
    """``path`` open for writing, made now if it does not exist (and removed again if the run
    fails before writing it), an existing file left as it is until written."""
    made = not path.exists()
    with open(path, "a", encoding="utf-8") as f:
        try:
            yield f
        except BaseException:
            if made:
                f.close()
                path.unlink(missing_ok=True)
            raise
