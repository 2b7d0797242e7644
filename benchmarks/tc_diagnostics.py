"""Watch a spatial-transformer model start training on TC: ReLU activity, θ and the loss.

Usage::

    python benchmarks/tc_diagnostics.py --model st-cnn --seed 1 --loc-scale 0 --warmup 0
    python benchmarks/tc_diagnostics.py --model st-cnn --seed 2 --loc-scale 1 --warmup 180

Trains with :func:`warpkit.nn.train`'s own step, optimizers, warm-up and data order (the
localization net's learning rate is ``--loc-scale`` times ``--lr``, 0 freezing θ at the
identity; every rate warmed up linearly over ``--warmup`` steps) and every ``--every`` steps
prints, on the current batch: the mean θ, the loss averaged over the last ``--every`` steps, and
for each ReLU of the classifier the fraction of positive outputs and the fraction of channels
with any positive output; then the standard deviation of the logits over the batch (0: the
model's output no longer depends on its input). This is how the README's two ways of staying at
chance on TC were found.
"""

from __future__ import annotations

import argparse

import numpy as np

from warpkit.datasets import make_experiment
from warpkit.nn import models
from warpkit.nn.layers import ReLU
from warpkit.nn.trainer import _optimizers, _train_step, _warmup_factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="st-cnn", choices=["st-fcn", "st-cnn"])
    parser.add_argument("--distortion", default="tc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--loc-scale", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--steps", type=int, default=360)
    parser.add_argument("--every", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    exp = make_experiment("digits", args.distortion)
    net = models.build(args.model, exp.image_shape, exp.num_classes, seed=args.seed)
    st = net.layers[0]
    if args.loc_scale > 0:  # [classifier, localization net]
        optimizers = _optimizers(net, args.lr, args.lr * args.loc_scale)
    else:  # the classifier's alone: θ stays at the identity
        optimizers = _optimizers(net, args.lr, args.lr)[:1]
    rates = [opt.lr for opt in optimizers]
    rng = np.random.default_rng(args.seed)
    step, losses, done = 0, [], False
    while not done:
        x, y = exp.train_epoch(rng)
        order = rng.permutation(len(x))
        for b in range(-(-len(x) // args.batch_size)):
            idx = order[b * args.batch_size : (b + 1) * args.batch_size]
            if step % args.every == 0 or step == args.steps:
                report(net, st, x[idx], step, losses[-args.every:])
            if step >= args.steps:
                done = True
                break
            factor = _warmup_factor(step, args.warmup)
            loss, _ = _train_step(net, optimizers, rates, factor, x[idx], y[idx])
            losses.append(loss)
            step += 1


def report(net, st, xb: np.ndarray, step: int, losses: list[float]) -> None:
    """Print θ's mean, the recent loss, ReLU activity and the logits' spread on ``xb``."""
    theta = st.loc.forward(xb, training=False).reshape(-1, 2, 3).mean(axis=0)
    h = xb
    activity = []
    for layer in net.layers:
        h = layer.forward(h, training=False)
        if isinstance(layer, ReLU):
            positive = (h > 0).reshape(len(h), -1, h.shape[-1])
            activity.append(f"{positive.mean():.2f}/{positive.any(axis=(0, 1)).mean():.2f}")
    loss = f"{np.mean(losses):.3f}" if losses else "  -  "
    print(f"step {step:4d}  loss {loss}  theta [{theta[0, 0]:+.2f} {theta[0, 1]:+.2f} "
          f"{theta[0, 2]:+.2f} | {theta[1, 0]:+.2f} {theta[1, 1]:+.2f} {theta[1, 2]:+.2f}]  "
          f"ReLU positive/channels alive {' '.join(activity)}  logit std {h.std(0).mean():.3f}",
          flush=True)


if __name__ == "__main__":
    main()
