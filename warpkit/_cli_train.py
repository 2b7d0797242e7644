"""``warpkit train`` and ``warpkit evaluate``: the command line of :mod:`warpkit.nn.trainer`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .datasets import DATA_NAMES, DISTORTIONS

#: The largest learning rate taken: the optimizers compute in float32, where more is inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: The models of :mod:`warpkit.nn.models` (repeated here so ``--help`` does not import nn).
MODEL_CHOICES = ("fcn", "cnn", "st-fcn", "st-cnn")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``evaluate`` sub-commands."""
    p = subparsers.add_parser(
        "train",
        help="train a (spatial-transformer) classifier on distorted digits",
        description="Train a model on distorted digits and write metrics.json, "
        "checkpoint.npz and transforms.png to --out.",
    )
    p.add_argument("--data", default="digits",
                   help=f"data set, one of {', '.join(DATA_NAMES)} (default digits: embedded)")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST/Fashion-MNIST IDX files (needed for those)")
    p.add_argument("--distortion", default="rts",
                   help=f"one of {', '.join(DISTORTIONS)} (default rts)")
    p.add_argument("--model", default="st-cnn",
                   help=f"one of {', '.join(MODEL_CHOICES)} (default st-cnn)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--loc-lr", type=float, default=None,
                   help="Adam learning rate of the localization net (st-fcn, st-cnn; "
                   "default: --lr / 10 for st-cnn on TC, else --lr)")
    p.add_argument("--warmup", type=int, default=None,
                   help="steps of linear learning-rate warm-up, 0 for none (default: 180 "
                   "on TC, else 0; warpkit.nn.trainer.RECIPES)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="output folder (default runs/MODEL-DATA-DISTORTION-seedSEED)")
    p.add_argument("--max-train", type=int, default=None,
                   help="use only the first N training digits (quick runs)")
    p.add_argument("--max-test", type=int, default=None,
                   help="use only the first N test samples (quick runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    e = subparsers.add_parser(
        "evaluate",
        help="re-score a saved checkpoint on its test set",
        description="Rebuild the model saved in a checkpoint.npz and print its test error.",
    )
    e.add_argument("--checkpoint", required=True,
                   help="checkpoint.npz written by train, or the run folder that holds it")
    e.add_argument("--data-dir", default=None, help="override the IDX folder (MNIST runs)")
    e.add_argument("--batch-size", type=int, default=256)
    e.set_defaults(func=run_evaluate)


def _fail(command: str, message: str) -> int:
    print(f"warpkit {command}: error: {message}", file=sys.stderr)
    return 2


def _train_error(args: argparse.Namespace) -> str | None:
    """The first problem with the ``train`` arguments, or None."""
    if args.model not in MODEL_CHOICES:
        return f"unknown model {args.model!r}; expected one of {', '.join(MODEL_CHOICES)}"
    if args.distortion not in DISTORTIONS:
        return (f"unknown distortion {args.distortion!r}; "
                f"expected one of {', '.join(DISTORTIONS)}")
    if args.data not in DATA_NAMES:
        return f"unknown data {args.data!r}; expected one of {', '.join(DATA_NAMES)}"
    if args.data != "digits":
        if args.data_dir is None:
            return f"--data {args.data} needs --data-dir, the folder holding its IDX files"
        if not Path(args.data_dir).is_dir():
            return f"--data-dir {args.data_dir} is not a directory"
    for name in ("epochs", "batch_size", "max_train", "max_test"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be >= 1, got {value}"
    for name in ("lr", "loc_lr"):
        value = getattr(args, name)
        if value is not None and not 0 < value <= FLOAT32_MAX:
            return (f"--{name.replace('_', '-')} must be > 0 and finite (at most "
                    f"{FLOAT32_MAX:.4g}, float32's largest), got {value}")
    if args.loc_lr is not None:
        if not args.model.startswith("st-"):
            return f"--loc-lr needs a spatial-transformer model (st-fcn, st-cnn), got {args.model}"
    if args.warmup is not None and args.warmup < 0:
        return f"--warmup must be >= 0, got {args.warmup}"
    if args.seed < 0:
        return f"--seed must be >= 0, got {args.seed}"
    return None


def run_train(args: argparse.Namespace) -> int:
    """Run ``warpkit train``; returns the exit code."""
    problem = _train_error(args)
    if problem:
        return _fail("train", problem)
    from .nn import trainer

    out = args.out or f"runs/{args.model}-{args.data}-{args.distortion}-seed{args.seed}"
    try:  # at once, not after the whole run (train checks it again before its first epoch)
        trainer._run_folder(out, "--out")
    except ValueError as exc:
        return _fail("train", str(exc))
    try:
        metrics = trainer.train(
            data=args.data, distortion=args.distortion, model=args.model, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, out=out,
            loc_lr=args.loc_lr,
            warmup=args.warmup,
            data_dir=args.data_dir, max_train=args.max_train, max_test=args.max_test,
            show_progress=not args.quiet,
        )
    except (OSError, ValueError) as exc:  # e.g. missing or malformed IDX files
        return _fail("train", str(exc))
    print(f"test error {metrics['test_error']:.4f} ({metrics['test_samples']} samples), "
          f"{metrics['epoch_seconds']:.2f} s/epoch, "
          f"{metrics['samples_per_second']:.0f} samples/s -> {out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``warpkit evaluate``; returns the exit code."""
    if args.batch_size < 1:
        return _fail("evaluate", f"--batch-size must be >= 1, got {args.batch_size}")
    from .nn import trainer

    try:
        error = trainer.evaluate(args.checkpoint, data_dir=args.data_dir,
                                 batch_size=args.batch_size)
    except (OSError, ValueError, KeyError) as exc:
        return _fail("evaluate", str(exc))
    print(f"test error {error:.4f}")
    return 0
