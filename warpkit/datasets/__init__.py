"""Data for the spatial-transformer experiments: embedded digits, distortions, IDX loader.

- :func:`load_digits`, :func:`base_digits`: the embedded UCI handwritten digits (8x8) and
  their MNIST-like 28x28 version.
- :data:`DISTORTIONS`, :func:`canvas_size`, :func:`distort`: the R, RTS, P, E and TC
  distortions of Jaderberg et al. 2015, built on warpkit's sampler.
- :func:`make_experiment`: fixed test set plus freshly distorted training epochs.
- :func:`load_idx`, :func:`load_mnist`: MNIST / Fashion-MNIST IDX files already on disk.
"""

from .digits import base_digits, load_digits
from .distortions import DISTORTIONS, canvas_size, distort
from .experiment import DATA_NAMES, Experiment, make_experiment
from .idx import load_idx, load_mnist

__all__ = [
    "DATA_NAMES",
    "DISTORTIONS",
    "Experiment",
    "base_digits",
    "canvas_size",
    "distort",
    "load_digits",
    "load_idx",
    "load_mnist",
    "make_experiment",
]
