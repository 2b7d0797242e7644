"""Train a spatial-transformer network on distorted digits with warpkit's Python API.

Run ``python examples/train_stn.py`` (a few minutes on two cores) or with ``--quick`` (seconds).
It shows both levels of the API:

1. the one-call trainer, ``warpkit.nn.trainer.train`` (what ``warpkit train`` runs), and
2. the loop written out by hand with ``warpkit.datasets`` and ``warpkit.nn`` pieces.
"""

from __future__ import annotations

import argparse

import numpy as np

from warpkit import datasets, nn
from warpkit.nn import trainer


def by_hand(epochs: int, max_train: int | None, max_test: int | None) -> None:
    """The training loop spelled out: data, model, loss, backward, Adam."""
    exp = datasets.make_experiment("digits", "rts", max_train=max_train, max_test=max_test)
    model = nn.models.build("st-cnn", exp.image_shape, exp.num_classes, seed=0)
    opt = nn.Adam(model, lr=1e-3)
    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        x, y = exp.train_epoch(rng)  # fresh random distortions every epoch
        order = rng.permutation(len(x))
        for start in range(0, len(x), 64):
            idx = order[start : start + 64]
            model.zero_grad()
            logits = model.forward(x[idx], training=True)
            loss, dlogits = nn.softmax_cross_entropy(logits, y[idx])
            model.backward(dlogits)
            opt.step()
        err = trainer.error_rate(model, exp.test_x, exp.test_y)
        print(f"[by hand] epoch {epoch + 1}: last batch loss {loss:.3f}, test error {err:.3f}")
    theta = model.layers[0].theta  # the θ (N, 2, 3) of the last forward pass
    print("[by hand] θ of the last test image:\n", np.round(theta[-1], 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny run (seconds)")
    parser.add_argument("--out", default="runs/example-st-cnn-rts")
    args = parser.parse_args()
    epochs, max_train, max_test = (1, 64, 100) if args.quick else (3, None, None)

    metrics = trainer.train(data="digits", distortion="rts", model="st-cnn", epochs=epochs,
                            seed=0, out=args.out, max_train=max_train, max_test=max_test)
    print(f"test error {metrics['test_error']:.3f}, {metrics['epoch_seconds']:.1f} s/epoch; "
          f"see {args.out}/transforms.png")
    print("re-scored from the checkpoint:", trainer.evaluate(f"{args.out}/checkpoint.npz"))
    by_hand(epochs, max_train, max_test)


if __name__ == "__main__":
    main()
