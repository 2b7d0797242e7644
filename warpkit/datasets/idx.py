"""Readers for the IDX files MNIST and Fashion-MNIST are distributed in (gzipped or raw).

IDX format: two zero bytes, a type byte, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes and the data in row-major order, big-endian. Nothing is downloaded: point
:func:`load_mnist` at a folder that already holds the four files.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
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

#: Most dimensions an IDX header may declare (numpy's limit before 2.0; MNIST uses 1 or 3).
MAX_NDIM = 32


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
        If a gzip file is damaged (truncated, failing its CRC check, trailing junk), the
        header is malformed (more than ``MAX_NDIM`` = 32 dimensions included), or the data
        size does not match it; the message names ``path``.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            raise ValueError(f"{path}: damaged gzip file ({type(e).__name__}: {e})") from e
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (expected two zero bytes, got {data[:2]!r})")
    code, ndim = data[2], data[3]
    if code not in _TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _TYPES)
        raise ValueError(f"{path}: unknown IDX type byte 0x{code:02X} (expected one of {known})")
    if ndim == 0 or ndim > MAX_NDIM:
        raise ValueError(f"{path}: IDX header has {ndim} dimensions (expected 1 to {MAX_NDIM})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = _TYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} of {dtype.name} ({expected} bytes) "
            f"but the file holds {len(data) - header} bytes of data"
        )
    try:  # an empty array whose other sizes multiply past numpy's limit
        arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    except ValueError as e:
        raise ValueError(f"{path}: IDX shape {shape} is not possible in numpy ({e})") from e
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

    Raises
    ------
    FileNotFoundError
        If ``data_dir`` or one of the four files is missing.
    ValueError
        If a file is not a valid IDX file (see :func:`load_idx`), the images are not uint8 of
        shape (N, 28, 28) with N >= 1 (an empty split), or the labels are not N integers in
        [0, 10) (a float, negative or too large label); the message names the file.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"data directory {folder} does not exist")
    paths = {key: _find(folder, stem) for key, stem in MNIST_FILES.items()}
    arrays = {key: load_idx(path) for key, path in paths.items()}
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        x_path, y_path = paths[f"{split}_x"], paths[f"{split}_y"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise ValueError(
                f"{x_path}: {split} images must be uint8 of shape (N, 28, 28), "
                f"got {x.dtype} {x.shape}"
            )
        if len(x) == 0:
            raise ValueError(f"{x_path}: the {split} split holds no images (N = 0)")
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{y_path}: {split} labels must have shape ({len(x)},) to match the images, "
                f"got {y.shape}"
            )
        if y.dtype.kind not in "iu":
            raise ValueError(
                f"{y_path}: {split} labels must be integers in [0, 10), got dtype {y.dtype}"
            )
        bad = np.flatnonzero((y < 0) | (y >= 10))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{y_path}: {split} labels must be integers in [0, 10), got {y[i]} at index {i}"
            )
        out += [x.astype(np.float32) / np.float32(255.0), y.astype(np.int64)]
    return out[0], out[1], out[2], out[3]
