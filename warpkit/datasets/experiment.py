"""A distorted-digits experiment: fixed test set, fresh training distortions every epoch.

Digits (the embedded default): the 1,797 base digits are split by a fixed permutation
(``default_rng(0)``) into 80% training digits (1,438) and 20% test digits (359). The test set
is 10 fixed distortions of each test digit (``default_rng(1)``, 3,590 images); one training
epoch is 8 passes over the training digits (11,504 images), each distorted afresh.

MNIST / Fashion-MNIST (IDX files on disk): the distributed train/test split; the test set is
one fixed distortion per test image (seed 1); one epoch is one pass over the training images.

"tc" clutter is always cut from the *training* digits, for the test set too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .._validate import count
from .digits import base_digits
from .distortions import _check_kind, canvas_size, distort
from .idx import load_mnist

__all__ = ["DATA_NAMES", "Experiment", "make_experiment"]

#: Accepted values of ``data``; "mnist" and "fashion-mnist" read the same IDX file names.
DATA_NAMES = ("digits", "mnist", "fashion-mnist")

SPLIT_SEED = 0
TEST_SEED = 1
TRAIN_FRACTION = 0.8


@dataclass
class Experiment:
    """Everything a training run needs about its data.

    Attributes
    ----------
    name : str
        ``"<data>-<distortion>"``, e.g. ``"digits-rts"``.
    distortion : str
    image_shape : tuple (S, S, 1)
    num_classes : int
    test_x : ndarray, shape (M, S, S, 1), float32
    test_y : ndarray, shape (M,), int64
    train_images : ndarray, shape (n_train, 28, 28), float32
        Undistorted training digits.
    train_labels : ndarray, shape (n_train,), int64
    passes_per_epoch : int
    """

    name: str
    distortion: str
    image_shape: tuple[int, int, int]
    num_classes: int
    test_x: np.ndarray
    test_y: np.ndarray
    train_images: np.ndarray
    train_labels: np.ndarray
    passes_per_epoch: int
    info: dict = field(default_factory=dict)

    @property
    def epoch_size(self) -> int:
        """Number of samples :meth:`train_epoch` returns."""
        return self.passes_per_epoch * len(self.train_images)

    def train_epoch(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One epoch of freshly distorted training images, in a fixed (unshuffled) order.

        Parameters
        ----------
        rng : numpy.random.Generator
            Draws the distortions; the caller shuffles.

        Returns
        -------
        x : ndarray, shape (K, S, S, 1), float32, K = passes_per_epoch * n_train
        y : ndarray, shape (K,), int64
        """
        images = np.tile(self.train_images, (self.passes_per_epoch, 1, 1))
        labels = np.tile(self.train_labels, self.passes_per_epoch)
        x = distort(images, self.distortion, rng, clutter_source=self.train_images)
        return x[..., None], labels


def _split_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, labels = base_digits()
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    n_train = int(round(TRAIN_FRACTION * len(images)))
    tr, te = perm[:n_train], perm[n_train:]
    return images[tr], labels[tr], images[te], labels[te]


def make_experiment(
    data: str = "digits",
    distortion: str = "rts",
    data_dir: str | os.PathLike | None = None,
    *,
    max_train: int | None = None,
    max_test: int | None = None,
) -> Experiment:
    """Build the experiment for a data set and a distortion.

    Parameters
    ----------
    data : {"digits", "mnist", "fashion-mnist"}
        "digits" is the embedded UCI set; the others read IDX files from ``data_dir``.
    distortion : {"r", "rts", "p", "e", "tc"}
    data_dir : str or path-like, optional
        Required for "mnist" and "fashion-mnist".
    max_train : int, optional
        Keep only the first ``max_train`` training digits (for quick runs and tests).
    max_test : int, optional
        Keep only the first ``max_test`` test samples (each test digit repeated
        ``test_repeats`` times, in order); they are distorted with seed 1 on their own.

    Returns
    -------
    Experiment

    Raises
    ------
    ValueError
        If ``data`` or ``distortion`` is not one of the names above (a non-str such as
        ``["r"]`` included), ``max_train`` / ``max_test`` is not a positive int, or, for the
        IDX data sets, ``data_dir`` is missing or its files are invalid, hold an empty split
        or labels outside 0..9 (see :func:`~warpkit.datasets.load_mnist`).
    FileNotFoundError
        If ``data_dir`` or one of its four IDX files does not exist.
    """
    if data not in DATA_NAMES:
        raise ValueError(f"data must be one of {DATA_NAMES}, got {data!r}")
    distortion = _check_kind(distortion)
    for value, name in ((max_train, "max_train"), (max_test, "max_test")):
        if value is not None:
            count(value, f"{name} (or None)")
    if data == "digits":
        train_x, train_y, test_base, test_y = _split_digits()
        passes, repeats = 8, 10
    else:
        if data_dir is None:
            raise ValueError(f"data={data!r} needs data_dir, the folder holding its IDX files")
        train_x, train_y, test_base, test_y = load_mnist(data_dir)
        passes, repeats = 1, 1
    if max_train is not None:
        train_x, train_y = train_x[:max_train], train_y[:max_train]
    test_images = np.repeat(test_base, repeats, axis=0)
    test_labels = np.repeat(test_y, repeats)
    if max_test is not None:  # a fixed subset, distorted on its own (not a prefix of the full set)
        test_images, test_labels = test_images[:max_test], test_labels[:max_test]
    rng = np.random.default_rng(TEST_SEED)
    test_x = distort(test_images, distortion, rng, clutter_source=train_x)[..., None]
    size = canvas_size(distortion)
    return Experiment(
        name=f"{data}-{distortion}",
        distortion=distortion,
        image_shape=(size, size, 1),
        num_classes=10,
        test_x=test_x,
        test_y=test_labels,
        train_images=train_x,
        train_labels=train_y,
        passes_per_epoch=passes,
        info={"data": data, "n_train_digits": len(train_x), "test_repeats": repeats},
    )
