"""Image files in and out: PNG, JPEG, TIFF; 8 and 16 bit; gray, gray+alpha, RGB, RGBA.

Reading and writing go through ``imageio.v3`` (a scikit-image dependency), imported on the first
read or write: its import takes ~50 ms, which ``import warpkit`` and a first ``warp()``
(0.46-0.93 s with a warm numba cache on the 2-core test machine) need not pay. Pillow, imageio's PNG
plugin, reads 16-bit colour PNGs as 8 bit and cannot write them, so those (bit depth 16 with 2,
3 or 4 channels) are encoded and decoded here with :mod:`zlib` and a small numba un-filter.
Arrays are channels-last: (H, W) gray or (H, W, C) with C in 1..4.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
from numba import njit

__all__ = ["read_image", "write_image", "IMAGE_SUFFIXES"]

#: File name suffixes that :func:`read_image` and :func:`write_image` handle.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOR_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _imageio() -> ModuleType:
    """``imageio.v3``, imported on first use (see the module docstring)."""
    import imageio.v3

    return imageio.v3


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into an (H, W) or (H, W, C) array of its stored dtype.

    Parameters
    ----------
    path : str or path-like
        A PNG, JPEG, TIFF or BMP file.

    Returns
    -------
    ndarray
        uint8 or uint16 (or whatever the file stores), channels-last.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If the file cannot be decoded as an image; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        if _is_png16_color(path):
            return _read_png16(path)
        with warnings.catch_warnings():  # imageio's plugin search warns about legacy plugins
            warnings.simplefilter("ignore", DeprecationWarning)
            image = _imageio().imread(path)
    except Exception as exc:  # decoders raise many types; report one clear error
        raise ValueError(f"{path}: cannot read image ({_first_line(exc)})") from exc
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] > 1 and image.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"{path}: multi-page images are not supported (shape {image.shape})")
    if image.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2-D gray or colour image, got shape {image.shape}")
    return image


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an (H, W) or (H, W, C) array (C in 1..4) to an image file; format from suffix.

    Parameters
    ----------
    path : str or path-like
        ``.png`` (uint8 or uint16), ``.jpg``/``.jpeg`` (uint8), ``.tif``/``.tiff`` (any),
        ``.bmp`` (uint8).
    image : ndarray
        Channels-last. Bool images are written as 0/255 uint8.

    Raises
    ------
    ValueError
        For a shape or dtype the format cannot hold; the message names the file.
    OSError
        When the file cannot be written.
    """
    path = Path(path)
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (2, 3, 4)):
        raise ValueError(
            f"{path}: expected an (H, W) or (H, W, C) image with C in 1..4, got shape "
            f"{image.shape}"
        )
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unknown image format {suffix!r}; use one of {IMAGE_SUFFIXES}")
    if suffix in (".jpg", ".jpeg", ".bmp") and image.dtype != np.uint8:
        raise ValueError(f"{path}: {suffix} holds uint8 images only, got {image.dtype}")
    if suffix == ".png" and image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: PNG holds uint8 or uint16 images only, got {image.dtype}")
    if suffix in (".jpg", ".jpeg") and image.ndim == 3 and image.shape[2] in (2, 4):
        raise ValueError(f"{path}: JPEG cannot store an alpha channel (shape {image.shape})")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: no such folder {path.parent}")
    if suffix == ".png" and image.dtype == np.uint16 and image.ndim == 3:
        _write_png16(path, image)
        return
    try:
        _imageio().imwrite(path, image)
    except OSError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot write image ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (decoders write long multi-line messages)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


# --------------------------------------------------------------------------- 16-bit colour PNG
def _is_png16_color(path: Path) -> bool:
    """True for a PNG whose IHDR says bit depth 16 with colour (2, 3 or 4 samples)."""
    with open(path, "rb") as fh:
        head = fh.read(33)
    if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return False
    depth, color = head[24], head[25]
    return depth == 16 and color in (2, 4, 6)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _write_png16(path: Path, image: np.ndarray) -> None:
    """Encode an (H, W, C) uint16 image, C in 2..4, as a 16-bit PNG (filter 0 on every row)."""
    h, w, c = image.shape
    color = {2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(image, dtype=">u2").reshape(h, w * c).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)
    header = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    data = (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )
    with open(path, "wb") as fh:
        fh.write(data)


def _read_png16(path: Path) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG with 2, 3 or 4 samples per pixel."""
    data = path.read_bytes()
    pos = 8
    idat = []
    header = None
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ValueError("truncated PNG chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise ValueError("PNG without IHDR or IDAT")
    w, h, depth, color, _, _, interlace = header
    if interlace:
        raise ValueError("interlaced 16-bit colour PNGs are not supported; save without "
                         "interlacing or as TIFF")
    c = _PNG_COLOR_CHANNELS[color]
    stride = w * c * 2
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    if raw.size != h * (stride + 1):
        raise ValueError(f"PNG data has {raw.size} bytes, expected {h * (stride + 1)}")
    rows = raw.reshape(h, stride + 1)
    out = np.empty((h, stride), dtype=np.uint8)
    if _unfilter(rows, out, c * 2) != 0:
        raise ValueError("unknown PNG filter type")
    return out.view(">u2").reshape(h, w, c).astype(np.uint16)


@njit(cache=True)
def _unfilter(rows, out, bpp):  # pragma: no cover - compiled
    """Undo the PNG row filters (None, Sub, Up, Average, Paeth); returns 0, or 1 on a bad type.

    ``rows`` is (H, 1 + stride) with the filter type first, ``out`` (H, stride) is filled.
    """
    h, stride = out.shape
    for i in range(h):
        ftype = rows[i, 0]
        if ftype > 4:
            return 1
        for k in range(stride):
            x = np.int32(rows[i, k + 1])
            a = np.int32(out[i, k - bpp]) if k >= bpp else np.int32(0)
            b = np.int32(out[i - 1, k]) if i > 0 else np.int32(0)
            c = np.int32(out[i - 1, k - bpp]) if (i > 0 and k >= bpp) else np.int32(0)
            if ftype == 1:
                x += a
            elif ftype == 2:
                x += b
            elif ftype == 3:
                x += (a + b) // 2
            elif ftype == 4:
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    x += a
                elif pb <= pc:
                    x += b
                else:
                    x += c
            out[i, k] = x & 255
    return 0
