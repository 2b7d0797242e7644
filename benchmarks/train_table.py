"""Reproduce the paper-style table: four models x distortions on the embedded digits.

Usage::

    python benchmarks/train_table.py --distortions rts r tc --epochs 5 --out runs/table

Trains fcn, cnn, st-fcn and st-cnn on each distortion with the issue's protocol (Adam, lr 1e-3,
batch 64, seed 0) and the defaults of :func:`warpkit.nn.train` (on TC a 180-step learning-rate
warm-up, and st-cnn's localization net at lr / 10: ``warpkit.nn.trainer.RECIPES``). Writes
every run under ``--out/MODEL-DISTORTION/`` (metrics.json, checkpoint.npz, transforms.png),
and prints and writes ``--out/table.md`` and ``--out/table.json``: test error and seconds per
epoch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from warpkit.nn import train
from warpkit.nn.models import MODEL_NAMES


def markdown(rows: list[dict], distortions: list[str]) -> str:
    """One row per model, one (error, s/epoch) column pair per distortion."""
    head = "| model | " + " | ".join(f"{d.upper()} error | {d.upper()} s/epoch"
                                      for d in distortions) + " |"
    sep = "|---|" + "---|---|" * len(distortions)
    lines = [head, sep]
    for model in MODEL_NAMES:
        cells = []
        for d in distortions:
            r = next((r for r in rows if r["model"] == model and r["distortion"] == d), None)
            cells += ["—", "—"] if r is None else [f"{100 * r['test_error']:.2f}%",
                                                   f"{r['epoch_seconds']:.1f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distortions", nargs="+", default=["rts", "r", "tc"])
    parser.add_argument("--models", nargs="+", default=list(MODEL_NAMES))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/table"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table_json = args.out / "table.json"
    rows = json.loads(table_json.read_text()) if table_json.exists() else []
    for d in args.distortions:
        for model in args.models:
            metrics = train(distortion=d, model=model, epochs=args.epochs, seed=args.seed,
                            out=args.out / f"{model}-{d}", show_progress=False)
            rows = [r for r in rows if not (r["model"] == model and r["distortion"] == d)]
            rows.append({k: metrics[k] for k in ("model", "distortion", "epochs", "test_error",
                                                 "epoch_seconds", "train_seconds")})
            table_json.write_text(json.dumps(rows, indent=2))
            print(f"{model:7s} {d:4s} test error {100 * metrics['test_error']:.2f}%  "
                  f"{metrics['epoch_seconds']:.1f} s/epoch", flush=True)
    table = markdown(rows, list(dict.fromkeys(r["distortion"] for r in rows)))
    (args.out / "table.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
