"""``warpkit.nn``: a small numpy/numba neural-network toolkit around the Spatial Transformer.

Layers (channels-last, ``forward(x, training)`` / ``backward(dout)`` with accumulating
``grads``), :class:`Sequential`, :func:`softmax_cross_entropy`, the :class:`SGD` and
:class:`Adam` optimizers, the :class:`SpatialTransformer` layer on warpkit's fused affine
sampler, the four benchmark models in :mod:`warpkit.nn.models`, and the trainer
(:func:`train`, :func:`evaluate`, :func:`load_checkpoint`).
"""

from . import models
from .conv import Conv2D, MaxPool2D
from .layers import Dense, Dropout, Flatten, Layer, ReLU, Sequential, Tanh
from .losses import softmax_cross_entropy
from .optim import SGD, Adam
from .spatial_transformer import SpatialTransformer
from .trainer import evaluate, load_checkpoint, train

__all__ = [
    "Layer",
    "Dense",
    "Conv2D",
    "MaxPool2D",
    "ReLU",
    "Tanh",
    "Flatten",
    "Dropout",
    "Sequential",
    "SpatialTransformer",
    "softmax_cross_entropy",
    "SGD",
    "Adam",
    "models",
    "train",
    "evaluate",
    "load_checkpoint",
]
