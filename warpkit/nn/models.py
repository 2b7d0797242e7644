"""The four benchmark models: fcn, cnn, st-fcn, st-cnn.

Architectures (channels-last; "same" keeps the size, "valid" does not pad)::

    fcn:  Flatten -> Dense 256 -> ReLU -> Dense 256 -> ReLU -> Dense K
    cnn:  Conv 32 3x3 same -> ReLU -> MaxPool 2 -> Conv 32 3x3 same -> ReLU -> MaxPool 2
          -> Flatten -> Dense 256 -> ReLU -> Dense K
    localization net (st-*):
          MaxPool 2 -> Conv 20 5x5 valid -> ReLU -> MaxPool 2 -> Conv 20 5x5 valid -> ReLU
          -> Flatten -> Dense 50 -> ReLU -> Dense 6 (identity start)
    st-fcn / st-cnn: SpatialTransformer(localization) followed by the fcn / cnn classifier,
          on an output the size of the input.

"ReLU -> MaxPool" is built as MaxPool -> ReLU: max commutes with the non-decreasing ReLU, so
the outputs and every gradient are bit-identical (tested), and the ReLU touches a quarter of
the values (cnn on the RTS canvas: 2.6 -> 0.55 ms for the first ReLU, forward + backward, in a
38-40 ms training step).

Weights start at PyTorch's scale (``init="pytorch"``: U(±1/√fan_in), as torch's Linear and
Conv2d), biases at zero. At 5 epochs the results on TC depend a lot on the start, and a
spatial transformer can collapse: once θ sends every sample outside the image, the zeros
padding gives θ no gradient and the model stays at chance. Measured with
``benchmarks/train_table.py`` (seed 0): He weights with zero biases made st-fcn collapse on TC
(92.2% error; st-cnn 19.6%); PyTorch's weights *and* biases made st-cnn collapse on TC
(92.2%; st-fcn 25.7%); PyTorch's weights with zero biases (this choice) trained every model on
every distortion (st-fcn 18.8%, st-cnn 26.5% on TC) on the project's first machine. On a Zen 4
machine, whose BLAS rounds differently, st-cnn on TC collapsed for 2 of seeds 0, 1, 2 (which
two moved with float rounding), so the hazard is not solved by the start alone: on TC the
trainer warms the learning rate up and slows st-cnn's localization net
(``warpkit.nn.trainer.RECIPES``; the README has the measurements).
Training in the issue uses Adam (lr 1e-3), batch 64, softmax cross-entropy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import count, is_count, items
from .conv import Conv2D, MaxPool2D
from .layers import Dense, Flatten, Layer, ReLU, Sequential, _rng
from .spatial_transformer import SpatialTransformer

__all__ = ["MODEL_NAMES", "build", "localization_net"]

MODEL_NAMES = ("fcn", "cnn", "st-fcn", "st-cnn")

#: Weight initialisation of every layer but the localization net's last (identity start).
INIT = "pytorch"


def _check_name(name: Any) -> str:
    """``name`` if it is one of :data:`MODEL_NAMES`, else a ValueError."""
    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise ValueError(f"model must be one of {MODEL_NAMES}, got {name!r}")
    return name


def _shape(input_shape: Any) -> tuple[int, int, int]:
    """``input_shape`` as (H, W, C) if it holds three positive integers (Python's or numpy's;
    floats, strings and bools are refused, not truncated or parsed)."""
    bad = f"input_shape must be (H, W, C) of positive integers, got {input_shape!r}"
    sizes = items(input_shape, bad)
    if len(sizes) != 3 or not all(is_count(v) and v >= 1 for v in sizes):
        raise ValueError(bad)
    H, W, C = (int(v) for v in sizes)
    return H, W, C


def _chain(input_shape: tuple[int, int, int], layers: list[Layer]) -> tuple[int, int, int]:
    """Spatial output shape of a conv/pool/ReLU chain (raises if a window stops fitting)."""
    shape = input_shape
    for layer in layers:
        if hasattr(layer, "output_shape"):
            shape = layer.output_shape(shape)
            if min(shape) < 1:
                raise ValueError(
                    f"input_shape {input_shape} is too small for this model: {layer!r} "
                    "has no room"
                )
    return shape


def localization_net(
    input_shape: tuple[int, int, int],
    rng: np.random.Generator | int | None,
    dtype: Any = np.float32,
) -> Sequential:
    """The default localization net for an (H, W, C) input; ends in Dense(50, 6).

    Parameters
    ----------
    input_shape : (H, W, C)
        Shape of one channels-last input image, positive integers.
    rng : numpy Generator, int seed or None
        Source of the initial weights (one Generator for all layers).
    dtype : float dtype of the parameters.

    Raises
    ------
    ValueError
        When ``input_shape`` is not three positive integers or is too small for the net.
    TypeError
        When ``rng`` is not a numpy Generator, an int seed or None.
    """
    input_shape = _shape(input_shape)
    rng = _rng(rng)
    C = input_shape[2]
    convs: list[Layer] = [
        MaxPool2D(2),
        Conv2D(C, 20, 5, padding="valid", rng=rng, init=INIT, dtype=dtype),
        MaxPool2D(2),  # = ReLU -> MaxPool (see the module docstring)
        ReLU(),
        Conv2D(20, 20, 5, padding="valid", rng=rng, init=INIT, dtype=dtype),
        ReLU(),
    ]
    h, w, c = _chain(input_shape, convs)
    return Sequential(
        *convs,
        Flatten(),
        Dense(h * w * c, 50, rng, INIT, dtype),
        ReLU(),
        Dense(50, 6, rng, "zeros", dtype),
    )


def _fcn(input_shape, num_classes, rng, dtype, first: bool) -> list[Layer]:
    H, W, C = input_shape
    return [
        Flatten(),
        Dense(H * W * C, 256, rng, INIT, dtype, input_grad=not first),
        ReLU(),
        Dense(256, 256, rng, INIT, dtype),
        ReLU(),
        Dense(256, num_classes, rng, INIT, dtype),
    ]


def _cnn(input_shape, num_classes, rng, dtype, first: bool) -> list[Layer]:
    C = input_shape[2]
    convs: list[Layer] = [
        Conv2D(C, 32, 3, padding="same", rng=rng, init=INIT, dtype=dtype,
               input_grad=not first),
        MaxPool2D(2),  # = ReLU -> MaxPool (see the module docstring)
        ReLU(),
        Conv2D(32, 32, 3, padding="same", rng=rng, init=INIT, dtype=dtype),
        MaxPool2D(2),
        ReLU(),
    ]
    h, w, c = _chain(input_shape, convs)
    return [
        *convs,
        Flatten(),
        Dense(h * w * c, 256, rng, INIT, dtype),
        ReLU(),
        Dense(256, num_classes, rng, INIT, dtype),
    ]


def build(
    name: str,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    seed: int = 0,
    dtype: Any = np.float32,
) -> Sequential:
    """Build one of :data:`MODEL_NAMES`, deterministically for a given ``seed``.

    Parameters
    ----------
    name : {"fcn", "cnn", "st-fcn", "st-cnn"}
    input_shape : (H, W, C)
        Shape of one channels-last input image.
    num_classes : int
        A positive integer.
    seed : int
        Seeds ``np.random.default_rng``; an integer >= 0. The same seed gives the same
        parameters.
    dtype : float dtype of the parameters (float32 for training).

    Returns
    -------
    Sequential
        Maps (N, H, W, C) to logits (N, num_classes). For the ST models ``model.layers[0]`` is
        the :class:`SpatialTransformer` (built with ``input_grad=False``: its input is data);
        for fcn and cnn the first Dense / Conv2D likewise skips its input gradient, so
        ``model.backward`` returns None.

    Raises
    ------
    ValueError
        For an unknown ``name``, an ``input_shape`` that is not three positive integers or
        too small for the model, a ``num_classes`` that is not a positive integer, or a
        ``seed`` that is not an integer >= 0.
    """
    _check_name(name)
    shape = _shape(input_shape)
    num_classes = count(num_classes, "num_classes")
    count(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    layers: list[Layer] = []
    if name.startswith("st-"):
        layers.append(SpatialTransformer(localization_net(shape, rng, dtype), input_grad=False))
    classifier = _fcn if name.endswith("fcn") else _cnn
    layers += classifier(shape, num_classes, rng, dtype, first=not layers)
    return Sequential(*layers)
