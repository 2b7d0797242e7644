"""Reading and writing image files that other programs make: palette, CMYK, multi-page and
planar files, alpha in formats without it, byte orders, empty images and a PNG zip bomb."""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from warpkit.io import read_image, write_image


def _rgb(shape=(9, 11, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# --------------------------------------------------------------------------- palette and CMYK
def _palette_file(path, **save):
    """A 16-colour palette PNG of a random picture; its indices and its RGB palette."""
    im = Image.fromarray(_rgb()).quantize(16)
    im.save(path, **save)
    index = np.asarray(im)
    palette = np.array(im.getpalette()[: 3 * 16], np.uint8).reshape(16, 3)
    return index, palette


def test_palette_png_with_transparency_reads_as_rgba(tmp_path):
    path = tmp_path / "pal.png"
    index, palette = _palette_file(path, transparency=0)  # entry 0 transparent
    alpha = np.where(index == 0, 0, 255).astype(np.uint8)
    assert (alpha == 0).any() and (alpha == 255).any()
    expected = np.dstack([palette[index], alpha])
    np.testing.assert_array_equal(read_image(path), expected)
    bgra = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # OpenCV agrees
    np.testing.assert_array_equal(bgra[..., [2, 1, 0, 3]], expected)


def test_palette_png_without_transparency_stays_rgb(tmp_path):
    path = tmp_path / "pal.png"
    index, palette = _palette_file(path)
    np.testing.assert_array_equal(read_image(path), palette[index])


def test_cmyk_jpeg_reads_as_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(_rgb()).convert("CMYK").save(path)
    assert Image.open(path).mode == "CMYK"
    image = read_image(path)
    assert image.shape == (9, 11, 3) and image.dtype == np.uint8
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # OpenCV's own CMYK conversion, within 1
    assert np.abs(image.astype(int) - bgr[..., ::-1]).max() <= 1


@pytest.mark.parametrize("mode", ["CMYK", "P"])
def test_cmyk_and_palette_tiff_read_as_rgb(tmp_path, mode):
    """tifffile gives raw inks or palette indices for these; Pillow converts them."""
    path = tmp_path / "a.tif"
    im = Image.fromarray(_rgb())
    (im.convert("CMYK") if mode == "CMYK" else im.quantize(16)).save(path)
    assert Image.open(path).mode == mode
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # OpenCV's conversion, within 1
    assert np.abs(read_image(path).astype(int) - bgr[..., ::-1]).max() <= 1


# --------------------------------------------------------------------------- TIFF pages
def test_multi_page_tiff_is_refused_even_when_its_pages_look_like_rgba(tmp_path):
    """Three 10x4 gray pages stack to (3, 10, 4), which a shape test takes for RGBA."""
    path = tmp_path / "pages.tif"
    with tifffile.TiffWriter(path) as tif:
        for k in range(3):
            tif.write(_rgb((10, 4), seed=k), photometric="minisblack")
    assert len(tifffile.TiffFile(path).pages) == 3
    with pytest.raises(ValueError, match=r"pages\.tif: multi-page TIFF .* 3 pages"):
        read_image(path)


def test_planar_rgb_tiff_reads_channels_last(tmp_path):
    path = tmp_path / "planar.tif"
    rgb = _rgb((20, 30, 3))
    tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(path), rgb)


def test_single_page_tiff_with_five_channels_is_refused_for_its_channels(tmp_path):
    path = tmp_path / "c5.tif"
    tifffile.imwrite(path, _rgb((6, 7, 5)), photometric="rgb", extrasamples=[0, 0])
    assert len(tifffile.TiffFile(path).pages) == 1
    with pytest.raises(ValueError, match="expected 1 to 4 channels .* got 5") as info:
        read_image(path)
    assert "multi-page" not in str(info.value)


# --------------------------------------------------------------------------- writing
@pytest.mark.parametrize("shape", [(9, 13, 2), (3, 13, 2), (4, 13, 2), (3, 13, 3), (4, 13, 4)])
def test_tiff_is_written_as_one_interleaved_page(tmp_path, shape):
    """tifffile, left to guess, writes gray+alpha as one page per row or as planar RGB(A)."""
    image = _rgb(shape)
    path = tmp_path / "a.tif"
    write_image(path, image)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1
        assert tif.pages[0].shape == shape
        assert tif.pages[0].planarconfig == tifffile.PLANARCONFIG.CONTIG
    assert Image.open(path).mode == {2: "LA", 3: "RGB", 4: "RGBA"}[shape[2]]
    np.testing.assert_array_equal(read_image(path), image)


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_to_bmp_is_refused(tmp_path, channels):
    with pytest.raises(ValueError, match="BMP cannot store an alpha channel"):
        write_image(tmp_path / "a.bmp", _rgb((7, 5, channels)))
    assert not (tmp_path / "a.bmp").exists()


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("shape", [(6, 8), (6, 8, 3)])
def test_big_endian_uint16_is_written_with_its_values(tmp_path, suffix, shape):
    values = np.random.default_rng(0).integers(0, 65536, shape).astype(np.uint16)
    path = tmp_path / f"be{suffix}"
    write_image(path, values.astype(">u2"))
    np.testing.assert_array_equal(read_image(path), values)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(0, 5), (0, 5, 3), (4, 0, 4)])
def test_empty_images_are_refused(tmp_path, dtype, shape):
    path = tmp_path / "empty.png"
    with pytest.raises(ValueError, match=r"empty\.png: cannot write an empty image"):
        write_image(path, np.zeros(shape, dtype))
    assert not path.exists()


# --------------------------------------------------------------------------- 16-bit PNG reader
def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png16_rgb_1x1(pixel_data):
    header = struct.pack(">IIBBBBB", 1, 1, 16, 2, 0, 0, 0)  # 1x1, 16 bit, RGB: 7 bytes a row
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(pixel_data, 9)) + _chunk(b"IEND", b""))


def test_png16_reader_stops_inflating_at_the_size_the_header_implies(tmp_path):
    """A 1x1 image whose data inflates to 64 MiB is refused without inflating it all."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png16_rgb_1x1(bytes(64 << 20)))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.png: .* more than the 7 bytes"):
            read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to read a 1x1 image"


def test_png16_reader_refuses_short_data_and_reads_exact_data(tmp_path):
    path = tmp_path / "short.png"
    path.write_bytes(_png16_rgb_1x1(bytes(5)))
    with pytest.raises(ValueError, match="has 5 bytes, expected 7"):
        read_image(path)
    path.write_bytes(_png16_rgb_1x1(b"\x00" + struct.pack(">3H", 1, 300, 65535)))
    np.testing.assert_array_equal(read_image(path), [[[1, 300, 65535]]])


@pytest.mark.parametrize("name,shape,dtype", [
    ("a.png", (5, 6, 3), np.uint8), ("a.png", (5, 6), np.uint16), ("b.png", (5, 6, 3), np.uint16),
    ("a.jpg", (5, 6, 3), np.uint8), ("a.bmp", (5, 6), np.uint8), ("a.tif", (5, 6, 4), np.uint8),
])
def test_images_are_read_writeable(tmp_path, name, shape, dtype):
    """numba types a read-only array apart from a writeable one: a read-only image would make
    a first warp compile its own kernels even after `warpkit compile`."""
    write_image(tmp_path / name, np.zeros(shape, dtype))
    assert read_image(tmp_path / name).flags.writeable
