"""``warpkit warp IN OUT [...]``: warp one image file or every image in a folder.

The motion is built in pixels with :mod:`warpkit.transforms`, about the image centre, in the
order scale, shear, rotate, then translate; ``--size`` sets the output canvas (centred over
the input). Exit codes: 0 success, 1 when some file could not be read, warped or written,
2 for bad arguments (including a missing IN or an OUT that would overwrite an input).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import transforms as T
from ._progress import COMPILING, Progress, notice_if_compiling
from .io import IMAGE_SUFFIXES, read_image, write_image
from .warp import warp

PROG = "warpkit warp"

EPILOG = """\
The picture is scaled, sheared, rotated (about its centre) and then translated, in pixels;
positive angles turn counter-clockwise as displayed. Integer images keep their dtype
(rounded and clipped); 8/16-bit PNG, JPEG and TIFF in gray, RGB or RGBA are supported; the
format of OUT follows its suffix.

IN may be a folder: OUT is then a folder (created if needed) that receives every image of IN
under the same name; files that cannot be read are reported and skipped. Input files are never
overwritten.

exit codes: 0 success, 1 some file failed, 2 bad arguments.
examples:
  warpkit warp in.png out.png --rotate 30 --padding reflection
  warpkit warp photos/ warped/ --scale 0.5 --size 320 240 --padding constant --cval 255
"""


class UsageError(Exception):
    """A bad argument: reported in one line, exit code 2."""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``warp`` sub-command to ``subparsers`` (see :mod:`warpkit.cli`)."""
    p = subparsers.add_parser(
        "warp",
        help="warp an image or a folder of images (rotate, scale, shear, translate)",
        description="Warp an image, or every image in a folder, by an affine map.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="input image file or folder of images")
    p.add_argument("output", metavar="OUT", help="output image file, or folder when IN is one")
    p.add_argument("--rotate", type=float, default=0.0, metavar="DEG",
                   help="rotate counter-clockwise by DEG degrees (default 0)")
    p.add_argument("--scale", type=float, default=1.0, metavar="S",
                   help="zoom by S (>1 enlarges; default 1)")
    p.add_argument("--translate", type=float, nargs=2, default=(0.0, 0.0),
                   metavar=("TX", "TY"), help="move by TX pixels right and TY pixels down")
    p.add_argument("--shear", type=float, default=0.0, metavar="DEG",
                   help="horizontal shear: vertical lines lean DEG degrees counter-clockwise")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("W", "H"),
                   help="output width and height in pixels (default: the input's)")
    p.add_argument("--mode", choices=("bilinear", "nearest"), default="bilinear",
                   help="interpolation (default bilinear)")
    p.add_argument("--padding", choices=("zeros", "border", "reflection", "constant", "wrap"),
                   default="zeros", help="what shows outside the input (default zeros)")
    p.add_argument("--cval", type=float, default=0.0, metavar="V",
                   help="fill value for --padding constant, in the image's range (default 0)")
    p.set_defaults(func=run)
    p.error = _one_line_error  # type: ignore[method-assign]
    if hasattr(p, "_negative_number_matcher"):  # argparse's own test knows -5 and -.5 only
        p._negative_number_matcher = NEGATIVE_NUMBER
    return p


#: What argparse takes for a negative number (a value) rather than an option: -1e1, -5., -inf
#: too (no option of the command looks like a number).
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$|^-(inf|infinity|nan)$",
                             re.IGNORECASE)


def _one_line_error(message: str) -> None:
    print(f"{PROG}: error: {message} (see '{PROG} --help')", file=sys.stderr)
    sys.exit(2)


def _check_args(args: argparse.Namespace) -> None:
    for name in ("rotate", "scale", "shear", "cval"):
        if not math.isfinite(getattr(args, name)):
            raise UsageError(f"--{name} must be finite, got {getattr(args, name)}")
    if not all(math.isfinite(v) for v in args.translate):
        raise UsageError(f"--translate must be finite, got {list(args.translate)}")
    if args.scale == 0:
        raise UsageError("--scale must be non-zero")
    if not math.isfinite(1.0 / args.scale):
        raise UsageError(f"--scale must be at least {1 / sys.float_info.max:.3g} in size (its "
                         f"reciprocal must be finite), got {args.scale}")
    if not -90 < args.shear < 90:
        raise UsageError(f"--shear must be in (-90, 90) degrees, got {args.shear}")
    if args.size is not None and min(args.size) < 1:
        raise UsageError(f"--size W H must be positive, got {args.size[0]} {args.size[1]}")
    try:  # the options together, on a one-pixel image (a map that overflows does for any size)
        build_theta(args, (1, 1))
    except ValueError as exc:
        raise UsageError(f"--scale {args.scale}, --shear {args.shear}, --rotate {args.rotate} "
                         f"and --translate {args.translate[0]} {args.translate[1]} give no "
                         f"usable map: {_one_line(exc)}") from None


def build_theta(args: argparse.Namespace, shape: tuple[int, ...]) -> np.ndarray:
    """θ (2, 3) of the command's motion for an input of ``shape`` (H, W[, C])."""
    hw = tuple(shape[:2])
    out_hw = hw if args.size is None else (args.size[1], args.size[0])
    theta = T.scale(args.scale, hw)
    if args.shear:
        theta = T.compose(theta, T.shear(args.shear, hw))
    if args.rotate:
        theta = T.compose(theta, T.rotate(args.rotate, hw))
    tx, ty = args.translate
    return T.compose(theta, T.translate(tx, ty, hw, output_shape=out_hw))


def _process(src: Path, dst: Path, args: argparse.Namespace,
             write: Callable[[str], None] | None = None) -> None:
    """Read ``src``, warp it and write ``dst``; ``write`` prints the compiling notice (the
    progress bar's, in folder mode). Errors as OSError, ValueError, TypeError or MemoryError."""
    image = read_image(src)
    theta = build_theta(args, image.shape)
    out_hw = None if args.size is None else (args.size[1], args.size[0])
    with notice_if_compiling(f"{PROG}: {COMPILING}", write=write):
        result = warp(image, theta, output_shape=out_hw, mode=args.mode,
                      padding_mode=args.padding, cval=args.cval)
    write_image(dst, result)


#: What _process raises for a file that cannot be done (reported, exit code 1).
FILE_ERRORS = (OSError, ValueError, TypeError, MemoryError)


def _file_error(src: Path, exc: BaseException) -> str:
    """One line for a failed file, naming it (read_image's errors do already)."""
    if isinstance(exc, MemoryError):  # numpy's names the size
        return f"{src}: not enough memory ({_one_line(exc)})"
    message = _one_line(exc)
    return message if str(src) in message else f"{src}: {message}"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _run_file(src: Path, dst: Path, args: argparse.Namespace) -> int:
    if dst.is_dir():
        dst = dst / src.name
    if _same_file(src, dst):
        raise UsageError(f"OUT {dst} is the input file; refusing to overwrite it")
    if not dst.parent.is_dir():
        raise UsageError(f"OUT {dst}: no such folder {dst.parent}")
    if dst.suffix.lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"OUT {dst}: its suffix must name the format, one of "
                         f"{', '.join(IMAGE_SUFFIXES)}; got {dst.suffix or 'none'}")
    try:
        _process(src, dst, args)
    except FILE_ERRORS as exc:
        print(f"{PROG}: error: {_file_error(src, exc)}", file=sys.stderr)
        return 1
    return 0


def _run_folder(src: Path, dst: Path, args: argparse.Namespace) -> int:
    if dst.exists() and not dst.is_dir():
        raise UsageError(f"IN {src} is a folder, so OUT must be a folder; {dst} is a file")
    if _same_file(src, dst):
        raise UsageError(f"OUT {dst} is the input folder; refusing to overwrite its files")
    files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        print(f"{PROG}: error: no image files ({', '.join(IMAGE_SUFFIXES)}) in {src}",
              file=sys.stderr)
        return 1
    try:
        dst.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"{PROG}: error: cannot create folder {dst}: {exc}", file=sys.stderr)
        return 1
    failed = 0
    with Progress(total=len(files), desc="warp", file=sys.stderr, summary=False) as bar:
        for path in files:
            target = dst / path.name
            if any(_same_file(target, f) for f in files):
                bar.write(f"{PROG}: error: {target} is an input file; skipped")
                failed += 1
            else:
                try:
                    _process(path, target, args, write=bar.write)
                except FILE_ERRORS as exc:
                    bar.write(f"{PROG}: error: {_file_error(path, exc)}; skipped")
                    failed += 1
            bar.update(failed=failed)
    done = len(files) - failed
    print(f"{PROG}: {done} of {len(files)} images written to {dst}"
          + (f", {failed} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """Run ``warpkit warp``; returns the exit code (0, 1 or 2)."""
    src, dst = Path(args.input), Path(args.output)
    try:
        _check_args(args)
        if not src.exists():
            raise UsageError(f"IN {src}: no such file or folder")
        if src.is_dir():
            return _run_folder(src, dst, args)
        return _run_file(src, dst, args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
