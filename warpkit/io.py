"""Image files in and out: PNG, JPEG, TIFF, BMP; 8 and 16 bit; gray, gray+alpha, RGB, RGBA.

TIFF files are read with :mod:`tifffile`, the others with Pillow, each imported on the first
read (``import warpkit`` and a first ``warp()``, 0.46-0.93 s with a warm numba cache on the
2-core test machine, need not pay for them); both are scikit-image dependencies. Writing goes
through ``imageio.v3``, imported on the first write. Pillow reads 16-bit colour PNGs as 8 bit
and cannot write them, so those (bit depth 16 with 2, 3 or 4 channels) are encoded and decoded
here with :mod:`zlib` and a small numba un-filter.
Arrays are channels-last: (H, W) gray or (H, W, C) with C in 1..4. Palette images come back as
RGB, or RGBA when the palette has transparency; CMYK, YCbCr and Lab images come back as RGB,
min-is-white TIFFs as min-is-black. TIFFs that tifffile cannot decode without the optional
``imagecodecs`` package (LZW, JPEG, CCITT) are read by Pillow, unless Pillow would lose bits.
Files that hold several pages or frames are refused (reduced-resolution TIFF pages and the
Multi-Picture Format images that cameras append to a JPEG are not counted).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Iterator
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
        A PNG, JPEG, TIFF or BMP file (or another single-image format Pillow reads) with one
        page or frame.

    Returns
    -------
    ndarray
        uint8 or uint16 (or whatever the file stores), channels-last, C in 1..4, writeable
        (a read-only image would compile kernels of its own, see the README). Palette
        images are RGB, or RGBA when the palette has transparency; CMYK, YCbCr and Lab
        images are RGB; min-is-white gray is inverted (0 is black).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IsADirectoryError
        If ``path`` is a folder.
    ValueError
        If the file cannot be decoded as an image, holds several pages or frames, or has more
        than 4 channels; the message names the file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
        if _is_png16_color(head):
            image = _read_png16(path)
        elif head[:4] in _TIFF_MAGIC:
            image = _read_tiff(path)
        else:
            image = _read_pillow(path)
    except _Refused as exc:
        raise ValueError(f"{path}: {exc}") from None
    except Exception as exc:  # decoders raise many types; report one clear error
        raise ValueError(f"{path}: cannot read image ({_first_line(exc)})") from exc
    if image.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a 2-D gray or colour image, got shape {image.shape}")
    if image.ndim == 3 and image.shape[2] > 4:
        raise ValueError(f"{path}: expected 1 to 4 channels (gray, gray+alpha, RGB, RGBA), got "
                         f"{image.shape[2]} (shape {image.shape})")
    return image


class _Refused(ValueError):
    """A file that decodes but that read_image does not take; the message says why."""


#: The first 4 bytes of a TIFF or BigTIFF file, little- and big-endian.
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _read_tiff(path: Path) -> np.ndarray:
    """The single page of a TIFF file as (H, W) or (H, W, C), planar files included; pages of
    reduced resolution (thumbnails, NewSubfileType 1) are not counted.

    Pages that tifffile would return as stored samples rather than as the picture (CMYK inks,
    palette indices, YCbCr, CIELab) and pages whose compression tifffile cannot decode
    without the optional ``imagecodecs`` package (LZW, JPEG, CCITT: the most common
    compressed TIFFs) are left to Pillow, which converts them to gray, RGB or RGBA as OpenCV
    reads them (see :func:`_pillow_mode`). Min-is-white gray (scans, faxes: 0 is white) is
    inverted to min-is-black, as Pillow and OpenCV read it.
    """
    import tifffile

    with _quiet("tifffile"), tifffile.TiffFile(path) as tif:
        # the pages that are not thumbnails, parsed up to the second only: a stack of 5,000
        # pages was refused in 0.69 s parsing them all, in 0.03 s this way
        pages = []
        for k, page in enumerate(tif.pages):
            if not page.is_reduced:
                pages.append(k)
                if len(pages) > 1:
                    raise _Refused(f"multi-page TIFF files are not supported, this one has "
                                   f"{len(tif.pages)} pages; save each page as its own file")
        if not pages:
            raise ValueError("no image in the file (truncated or damaged?)")
        page = tif.pages[pages[0]]
        white = page.photometric == tifffile.PHOTOMETRIC.MINISWHITE
        decodes = _tifffile_decodes(page)
        if page.photometric in _PILLOW_PHOTOMETRIC or not decodes:
            return _through_pillow(path, pages[0], page, white, decodes)
        image = page.asarray()
        if page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and page.samplesperpixel > 1:
            image = np.moveaxis(image, 0, -1)  # (C, H, W) planes -> channels-last
        return _min_is_black(image, page.bitspersample) if white else image


def _through_pillow(path: Path, index: int, page, white: bool, decodes: bool) -> np.ndarray:
    """TIFF page ``index`` (tifffile's ``page``) read by Pillow (see :func:`_read_tiff`), in the
    page's own dtype, or refused where Pillow would not give its values: a dtype that cannot
    hold the page's (Pillow reads 16-bit RGB as 8-bit, signed 8-bit as unsigned), or a
    min-is-white page of more than 8 bits (which Pillow does not invert). ``decodes``:
    whether tifffile could have decoded it (else the message says what it needs)."""
    bits = page.bitspersample
    need = "" if decodes else (f"; tifffile decodes its {page.compression.name} compression "
                               "only with the imagecodecs package (pip install imagecodecs)")
    if white and bits > 8:
        raise _Refused(f"Pillow does not read {bits}-bit min-is-white TIFF pages{need}")
    try:
        image = _read_pillow(path, page=index)
    except _Refused:
        raise
    except Exception as exc:
        if decodes:
            raise
        raise _Refused(f"Pillow cannot read this TIFF page ({_first_line(exc)}){need}") from None
    if not np.can_cast(page.dtype, image.dtype):
        raise _Refused(f"Pillow reads this TIFF page's {page.dtype} samples as {image.dtype}, "
                       f"which cannot hold them{need}")
    if image.dtype != page.dtype and page.dtype.kind in "iu":  # int16 comes as int32
        return image.astype(page.dtype)  # exact: the values are the page's
    return image


def _min_is_black(image: np.ndarray, bits: int) -> np.ndarray:
    """A min-is-white TIFF page's stored samples (0 is white) as the gray values they stand
    for (0 is black), as Pillow and OpenCV read them: ``2**bits - 1 - v`` for unsigned
    integers, ``not v`` for one bit; other dtypes are refused."""
    if image.dtype == np.bool_:
        return ~image
    if image.dtype.kind != "u":
        raise _Refused(f"min-is-white TIFF pages of dtype {image.dtype} are not supported; "
                       "save it as min-is-black")
    return (image.dtype.type(2**bits - 1) - image).astype(image.dtype)


#: TIFF photometric interpretations whose samples are not the picture's gray or RGB(A) values
#: (tifffile returns them as stored), for Pillow to convert: palette, separated (CMYK), YCbCr,
#: CIELab, ICCLab, ITULab (min-is-white is inverted here).
_PILLOW_PHOTOMETRIC = frozenset({3, 5, 6, 8, 9, 10})


def _tifffile_decodes(page) -> bool:
    """Whether tifffile decodes a TIFF page's compression and predictor with what is installed
    (LZW, JPEG and CCITT need the optional ``imagecodecs`` package)."""
    import tifffile

    return (page.compression in tifffile.TIFF.DECOMPRESSORS
            and page.predictor in tifffile.TIFF.PREDICTORS)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence the logger ``name`` inside the block (tifffile logs what it cannot parse, on top
    of the exception :func:`read_image` reports)."""
    logger = logging.getLogger(name)
    saved = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = saved


def _read_pillow(path: Path, page: int | None = None) -> np.ndarray:
    """A single-frame image that Pillow opens (PNG, JPEG, BMP, ...) as an array; with ``page``,
    that page of a TIFF file (whose other pages, thumbnails, :func:`_read_tiff` has set aside).

    A JPEG that carries Multi-Picture Format images (cameras store a preview or the second
    view of a stereo pair there; Pillow opens it as "MPO") is its first, primary image, which
    viewers and OpenCV show."""
    from PIL import Image

    with Image.open(path) as im:
        frames = getattr(im, "n_frames", 1)
        if page is not None:
            im.seek(page)
        elif frames != 1 and im.format != "MPO":
            raise _Refused(f"images with several frames are not supported, this one has "
                           f"{frames}; save each frame as its own file")
        mode = _pillow_mode(im)
        # a writeable copy: numpy views Pillow's pixels read-only, and numba compiles the
        # kernels again for read-only arrays (a first `warpkit warp` after `warpkit compile`
        # compiled 70 functions for 15-30 s)
        return np.array(im if mode is None else im.convert(mode))


def _pillow_mode(im) -> str | None:
    """The Pillow mode to convert ``im`` to before it becomes an array, or None to keep its own.

    Palette images become RGB, or RGBA when they carry transparency (a tRNS chunk), as OpenCV
    and ``convert("RGBA")`` read them; CMYK becomes RGB, so that 4 channels always mean RGBA.
    """
    if im.mode in ("P", "PA"):
        alpha = im.mode == "PA" or "transparency" in im.info or im.palette.mode == "RGBA"
        return "RGBA" if alpha else "RGB"
    if im.mode in ("CMYK", "YCbCr", "LAB"):
        return "RGB"
    if im.mode == "I" and im.format == "PNG":  # 16-bit gray on Pillow < 10.1
        return "I;16"
    return None


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an (H, W) or (H, W, C) array (C in 1..4) to an image file; format from suffix.

    Parameters
    ----------
    path : str or path-like
        ``.png`` (uint8 or uint16), ``.jpg``/``.jpeg`` (uint8), ``.tif``/``.tiff`` (any),
        ``.bmp`` (uint8). JPEG and BMP hold no alpha channel (C of 2 or 4).
    image : ndarray
        Channels-last, not empty, in either byte order. Bool images are written as 0/255
        uint8.

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
    if image.size == 0:
        raise ValueError(f"{path}: cannot write an empty image (shape {image.shape})")
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    if not image.dtype.isnative:  # e.g. big-endian uint16: the same values in this byte order
        image = image.astype(image.dtype.newbyteorder("="))
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unknown image format {suffix!r}; use one of {IMAGE_SUFFIXES}")
    if suffix in (".jpg", ".jpeg", ".bmp") and image.dtype != np.uint8:
        raise ValueError(f"{path}: {suffix} holds uint8 images only, got {image.dtype}")
    if suffix == ".png" and image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{path}: PNG holds uint8 or uint16 images only, got {image.dtype}")
    if suffix in (".jpg", ".jpeg", ".bmp") and image.ndim == 3 and image.shape[2] in (2, 4):
        kind = "BMP" if suffix == ".bmp" else "JPEG"
        raise ValueError(f"{path}: {kind} cannot store an alpha channel (shape {image.shape}); "
                         "use PNG or TIFF")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: no such folder {path.parent}")
    if suffix == ".png" and image.dtype == np.uint16 and image.ndim == 3:
        _write_png16(path, image)
        return
    options = _tiff_layout(image) if suffix in (".tif", ".tiff") else {}
    try:
        _imageio().imwrite(path, image, **options)
    except OSError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot write image ({_first_line(exc)})") from exc


def _tiff_layout(image: np.ndarray) -> dict[str, object]:
    """tifffile's options that store ``image`` as one page, channels interleaved.

    Left to guess, tifffile writes an (H, W, 2) image as H pages of (W, 2) gray, and a
    (3 or 4, W, 2) one as a planar RGB(A) image of (W, 2).
    """
    channels = 1 if image.ndim == 2 else image.shape[2]
    options: dict[str, object] = {"photometric": "minisblack" if channels < 3 else "rgb"}
    if channels > 1:
        options["planarconfig"] = "contig"
    if channels in (2, 4):
        options["extrasamples"] = ["unassalpha"]
    return options


def _first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (decoders write long multi-line messages)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


# --------------------------------------------------------------------------- 16-bit colour PNG
def _is_png16_color(head: bytes) -> bool:
    """True if ``head``, a file's first 33 bytes, is a PNG whose IHDR says bit depth 16 with
    colour (2, 3 or 4 samples)."""
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
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError("truncated PNG chunk")
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"damaged PNG chunk {kind!r} (its CRC does not match)")
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
    if w == 0 or h == 0:
        raise ValueError(f"PNG of {w}x{h} pixels (its width and height must be at least 1)")
    if interlace:
        raise ValueError("interlaced 16-bit colour PNGs are not supported; save without "
                         "interlacing or as TIFF")
    c = _PNG_COLOR_CHANNELS[color]
    stride = w * c * 2
    raw = np.frombuffer(_inflate(b"".join(idat), h * (stride + 1)), dtype=np.uint8)
    rows = raw.reshape(h, stride + 1)
    out = np.empty((h, stride), dtype=np.uint8)
    if _unfilter(rows, out, c * 2) != 0:
        raise ValueError("unknown PNG filter type")
    return out.view(">u2").reshape(h, w, c).astype(np.uint16)


def _inflate(data: bytes, size: int) -> bytes:
    """The ``size`` bytes that zlib stream ``data`` inflates to; a ValueError if it holds
    fewer or more, found without inflating more than ``size + 1`` bytes (a small file can
    inflate to gigabytes)."""
    stream = zlib.decompressobj()
    raw = stream.decompress(data, size + 1)
    if len(raw) > size:
        raise ValueError(f"PNG data inflates to more than the {size} bytes its header implies")
    if len(raw) < size:
        raise ValueError(f"PNG data has {len(raw)} bytes, expected {size}")
    return raw


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
