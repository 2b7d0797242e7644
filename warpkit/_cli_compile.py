"""``warpkit compile``: compile the CPU kernels into numba's cache ahead of their first call."""

from __future__ import annotations

import argparse
import os
import sys
import time

EPILOG = """\
Each (operation, dtype, channels) is compiled by one call on a tiny image; modes, padding
and sizes are run-time values and need nothing more. Run it where the package is installed
(a container's build, a CI cache) so that the first real call loads the kernels instead of
compiling them. numba stores them next to warpkit's sources, or where NUMBA_CACHE_DIR points
(and in a user cache folder when the package's folder is read-only).

examples:
  warpkit compile                       # warp for float32 and uint8 images of 1, 3, 4 channels
  warpkit compile --ops all --channels 1
  warpkit compile --ops train --channels 1  # the kernels of `warpkit train` on the digits
  warpkit compile --ops warp --dtypes uint16 float64 --channels 3
"""


def _at_least_one(what: str):
    """An argparse type: an integer >= 1, refused in a message that names ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected {what} >= 1, got {value}")
        return value

    return parse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compile`` sub-command."""
    from .precompile import DEFAULT_CHANNELS, DEFAULT_OPERATIONS, OPERATIONS

    p = subparsers.add_parser(
        "compile",
        help="compile the kernels now, so that first calls load them from numba's cache",
        description="Compile warpkit's CPU kernels into numba's on-disk cache ahead of their "
        "first call (9-15 s each otherwise).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--ops", nargs="+", default=list(DEFAULT_OPERATIONS), metavar="OP",
                   choices=sorted(OPERATIONS) + ["all"],
                   help=f"operations to compile, or 'all' (default: {' '.join(DEFAULT_OPERATIONS)};"
                   f" choices: {', '.join(sorted(OPERATIONS))})")
    p.add_argument("--dtypes", nargs="+", default=None, metavar="DTYPE",
                   help="image dtypes (default: float32 and uint8 for warp, float32 for the rest)")
    p.add_argument("--channels", nargs="+", type=_at_least_one("a channel count"),
                   default=list(DEFAULT_CHANNELS), metavar="C",
                   help="channel counts (default: 1 3 4)")
    p.add_argument("--jobs", "-j", type=_at_least_one("a number of processes"),
                   default=min(os.cpu_count() or 1, 4), metavar="N",
                   help="processes compiling at once, one (operation, dtype) each (default: the "
                   "CPUs, at most 4; about 0.3-0.4 GB each)")
    p.set_defaults(func=run)


def _cache_location() -> str:
    folder = os.environ.get("NUMBA_CACHE_DIR")
    if folder:
        return folder
    return "next to warpkit's sources (or a user cache folder if they are read-only)"


def run(args: argparse.Namespace) -> int:
    """Compile what ``args`` asks for; one line per item, then the total."""
    from ._progress import Progress
    from .precompile import OPERATIONS, plan, precompile

    ops = list(OPERATIONS) if "all" in args.ops else args.ops
    try:
        todo = plan(ops, args.dtypes, args.channels)
    except ValueError as exc:
        print(f"warpkit compile: error: {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    compiled = 0
    with Progress(total=len(todo), desc="compile", file=sys.stdout, summary=False) as bar:
        for item in precompile(ops, args.dtypes, args.channels, jobs=args.jobs):
            what = (f"compiled {item.functions} functions" if item.functions
                    else "nothing left to compile")
            bar.write(f"{item.operation:<24} {item.dtype:<8} C={item.channels:<3} "
                      f"{item.seconds:6.1f} s  {what}")
            compiled += item.functions > 0
            bar.update()
    print(f"{len(todo)} kernels ready in {time.perf_counter() - start:.1f} s "
          f"({compiled} compiled); numba's cache: {_cache_location()}")
    return 0
