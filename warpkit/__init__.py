"""warpkit: Numba-accelerated spatial-transformer sampling and image warping.

Channels-last everywhere: images (H, W) or (H, W, C), batches (N, H, W, C). θ (N, 2, 3) maps
normalized output coordinates to normalized input coordinates, as in PyTorch's
``affine_grid``/``grid_sample`` (see :mod:`warpkit._coords` for the convention).
"""

from . import _threads  # noqa: F401, I001  (first: sets thread-pool defaults before numpy loads)
from . import _numba_cache  # noqa: F401  (before any kernel: see its docstring)
from . import transforms
from .io import read_image, write_image
from .ops import (
    affine_grid,
    affine_grid_backward,
    affine_sample,
    affine_sample_backward,
    grid_sample,
    grid_sample_backward,
)
from .warp import warp

__version__ = "0.1.0"

__all__ = [
    "affine_grid",
    "affine_grid_backward",
    "affine_sample",
    "affine_sample_backward",
    "grid_sample",
    "grid_sample_backward",
    "read_image",
    "transforms",
    "warp",
    "write_image",
    "__version__",
]
