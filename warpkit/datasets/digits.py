"""The embedded default data set: the UCI handwritten digits, 8x8 and resampled to 28x28.

Provenance
----------
``digits.npz`` holds the 1,797 8x8 images (values 0..16, uint8) and their labels (0..9, uint8)
of the UCI "Optical Recognition of Handwritten Digits" data set (E. Alpaydin and C. Kaynak,
UCI Machine Learning Repository, https://doi.org/10.24432/C50P49, CC BY 4.0), in the order of
the copy bundled with scikit-learn 1.9.1 (``sklearn.datasets.load_digits()``), from which they
were taken once with ``np.savez_compressed(images=..., labels=...)``. scikit-learn is not a
dependency of warpkit.

Base digits
-----------
:func:`base_digits` makes them look like MNIST: each 8x8 image (divided by 16) is resampled
with warpkit's own bilinear sampler to 20x20 (an identity θ with ``out_size=(20, 20)``,
``align_corners=False``, border padding: the same half-pixel mapping as
``skimage.transform.resize(order=1, mode="edge", anti_aliasing=False)``) and centred in a
28x28 field of zeros (4 pixels on every side).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from .._validate import count
from ..ops import affine_sample

__all__ = ["load_digits", "base_digits", "DIGIT_BOX", "FIELD"]

#: Side of the box the digit is resampled into, and of the field it is centred in (MNIST's).
DIGIT_BOX = 20
FIELD = 28

_DATA_FILE = Path(__file__).with_name("digits.npz")


@lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    with np.load(_DATA_FILE, allow_pickle=False) as f:
        images = f["images"]
        labels = f["labels"]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI 8x8 digits, scaled to [0, 1].

    Returns
    -------
    images : ndarray, shape (1797, 8, 8), float32
        Pixel values 0..16 divided by 16; row-major (row, column), top row first.
    labels : ndarray, shape (1797,), int64
        Digit classes 0..9.
    """
    images, labels = _raw()
    return images.astype(np.float32) / np.float32(16.0), labels.astype(np.int64)


def resample_to_field(images: np.ndarray, box: int = DIGIT_BOX, field: int = FIELD) -> np.ndarray:
    """Resample images to ``box`` x ``box`` and centre them in a ``field`` x ``field`` zero field.

    Parameters
    ----------
    images : ndarray, shape (M, h, w), float
        Images to resample (any size; non-square images are stretched to the square box).
    box, field : int >= 1
        Side of the resampled digit and of the output field; ``field - box`` must be even
        and non-negative.

    Returns
    -------
    ndarray, shape (M, field, field), float32
        ``warpkit.affine_sample`` with the identity θ, ``out_size=(box, box)``, bilinear,
        border padding, ``align_corners=False``, padded with zeros.

    Raises
    ------
    ValueError
        If ``images`` is not 3-D, ``box`` or ``field`` is not a positive int (a float such
        as 20.0 included), or ``field - box`` is odd or negative.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (M, h, w), got shape {images.shape}")
    box, field = count(box, "box"), count(field, "field")
    margin = field - box
    if margin < 0 or margin % 2:
        raise ValueError(f"need field - box even and >= 0, got box={box}, field={field}")
    theta = np.zeros((len(images), 2, 3), np.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    small = affine_sample(images[..., None], theta, (box, box), padding_mode="border")[..., 0]
    m = margin // 2
    return np.pad(small, ((0, 0), (m, m), (m, m)))


@lru_cache(maxsize=1)
def _base() -> np.ndarray:
    images, _ = load_digits()
    out = resample_to_field(images)
    out.setflags(write=False)
    return out


def base_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI digits as MNIST-like 28x28 images: a 20x20 digit centred in a 28x28 field.

    Returns
    -------
    images : ndarray, shape (1797, 28, 28), float32 in [0, 1]
        See :func:`resample_to_field`; a fresh (writable) copy on every call.
    labels : ndarray, shape (1797,), int64
    """
    _, labels = load_digits()
    return np.array(_base()), labels
