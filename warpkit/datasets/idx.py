"""Readers for the IDX files MNIST and Fashion-MNIST are distributed in (gzipped or raw).

IDX format: two zero bytes, a type byte, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes and the data in row-major order, big-endian. Nothing is downloaded: point
:func:`load_mnist` at a folder that already holds the four files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["load_idx", "load_mnist", "MNIST_FILES"]

_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The four files, named as distributed (each may also end in ``.gz``).
MNIST_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file.

    Parameters
    ----------
    path : str or path-like
        A raw IDX file or a gzip-compressed one (detected from its first bytes, not its name).

    Returns
    -------
    ndarray
        Shape from the header; dtype from the type byte (uint8, int8, int16, int32, float32,
        float64), in native byte order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the header is malformed or the data size does not match it.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (expected two zero bytes, got {data[:2]!r})")
    code, ndim = data[2], data[3]
    if code not in _TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _TYPES)
        raise ValueError(f"{path}: unknown IDX type byte 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header has 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} of {dtype.name} ({expected} bytes) "
            f"but the file holds {len(data) - header} bytes of data"
        )
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{folder}: missing {stem} (or {stem}.gz)")


def load_mnist(
    data_dir: str | os.PathLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from the four IDX files in ``data_dir``.

    Parameters
    ----------
    data_dir : str or path-like
        Folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each raw or ``.gz``.

    Returns
    -------
    train_x : ndarray, shape (N, 28, 28), float32 in [0, 1] (uint8 / 255)
    train_y : ndarray, shape (N,), int64
    test_x : ndarray, shape (M, 28, 28), float32 in [0, 1]
    test_y : ndarray, shape (M,), int64
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"data directory {folder} does not exist")
    arrays = {key: load_idx(_find(folder, stem)) for key, stem in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise ValueError(
                f"{split} images must be uint8 of shape (N, 28, 28), got {x.dtype} {x.shape}"
            )
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{split} labels must have shape ({len(x)},) to match the images, got {y.shape}"
            )
        out += [x.astype(np.float32) / np.float32(255.0), y.astype(np.int64)]
    return out[0], out[1], out[2], out[3]
