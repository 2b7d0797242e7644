"""The ``warpkit`` command line: ``warpkit warp | train | evaluate | bench | compile``.

Each sub-command lives in its own module that exposes ``register(subparsers)``; that function
adds an ``argparse`` parser whose ``func`` default runs the command and returns an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Modules that register sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = ("warpkit._cli_warp", "warpkit._cli_train", "warpkit._cli_bench",
                   "warpkit._cli_compile")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="warpkit",
        description="Spatial-transformer sampling and image warping (Numba, CPU and CUDA).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
