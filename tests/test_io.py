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


# --------------------------------------------------------------------------- TIFF encodings
@pytest.mark.parametrize("compression", ["tiff_lzw", "jpeg", "group4"])
def test_compressed_tiffs_that_tifffile_needs_imagecodecs_for_are_read(tmp_path, compression):
    """LZW, JPEG and CCITT TIFFs: tifffile decodes them only with the optional imagecodecs
    package; Pillow reads them."""
    path = tmp_path / "c.tif"
    if compression == "group4":  # fax compression: one bit a pixel
        image = _rgb((9, 16)) > 127
        Image.fromarray(image).save(path, compression=compression)
    else:
        image = _rgb((9, 16, 3))
        Image.fromarray(image).save(path, compression=compression)
    got = read_image(path)
    if compression == "jpeg":  # lossy: as OpenCV decodes it, within 1
        assert got.shape == image.shape and got.dtype == np.uint8
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert np.abs(got.astype(int) - bgr[..., ::-1]).max() <= 1
    else:
        np.testing.assert_array_equal(got, image)


def test_sixteen_bit_rgb_that_pillow_would_narrow_is_refused(tmp_path):
    """Pillow reads 16-bit RGB TIFFs as 8-bit: a file that only Pillow could read (LZW without
    imagecodecs) is refused with the reason, never narrowed."""
    path = tmp_path / "rgb16.tif"
    rgb = np.random.default_rng(1).integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    assert cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_TIFF_COMPRESSION, 5])  # LZW
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="uint16 samples as uint8.*imagecodecs"):
            read_image(path)
    else:  # tifffile decodes it
        np.testing.assert_array_equal(read_image(path), rgb)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float32])
def test_tiffs_read_by_pillow_keep_their_dtype_or_are_refused(tmp_path, monkeypatch, dtype):
    """A page that only Pillow can decode (as an LZW one without imagecodecs) comes back in its
    own dtype (Pillow gives int16 pixels as int32), or is refused where Pillow's dtype cannot
    hold its values (it reads signed 8-bit pixels as unsigned: -3 became 253)."""
    import warpkit.io as wio

    monkeypatch.setattr(wio, "_tifffile_decodes", lambda page: False)
    path = tmp_path / "a.tif"
    image = (np.arange(-6, 6).reshape(3, 4) * (3 if dtype == np.int8 else 1000)).astype(dtype)
    tifffile.imwrite(path, image)
    if dtype == np.int8:
        with pytest.raises(ValueError, match="int8 samples as uint8, which cannot hold them"):
            read_image(path)
        return
    got = read_image(path)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, image)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.bool_])
def test_min_is_white_tiff_reads_as_the_picture(tmp_path, dtype):
    """Scans and faxes store 0 as white (TIFF's PhotometricInterpretation 0): read as the
    picture, 0 black, as Pillow and OpenCV read 8-bit ones."""
    path = tmp_path / "scan.tif"
    stored = _rgb((6, 9)) > 127 if dtype == np.bool_ else _rgb((6, 9)).astype(dtype) * (
        257 if dtype == np.uint16 else 1)
    tifffile.imwrite(path, stored, photometric="miniswhite")
    expected = ~stored if dtype == np.bool_ else np.iinfo(dtype).max - stored
    got = read_image(path)
    assert got.dtype == stored.dtype
    np.testing.assert_array_equal(got, expected)
    if dtype == np.uint8:  # OpenCV agrees (its 16-bit reads keep the stored samples)
        np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), expected)


def test_min_is_white_float_tiff_is_refused(tmp_path):
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, np.ones((4, 5), np.float32), photometric="miniswhite")
    with pytest.raises(ValueError, match="min-is-white .* float32 are not supported"):
        read_image(path)


@pytest.mark.parametrize("mode", ["YCbCr", "LAB"])
def test_ycbcr_and_lab_tiffs_read_as_rgb(tmp_path, mode):
    """tifffile gives their samples as stored; read as RGB, as Pillow converts them."""
    path = tmp_path / "c.tif"
    rgb = _rgb((8, 10, 3))
    Image.fromarray(rgb).convert(mode).save(path)
    got = read_image(path)
    with Image.open(path) as im:
        assert im.mode == mode
        np.testing.assert_array_equal(got, np.asarray(im.convert("RGB")))
    assert np.abs(got.astype(int) - rgb).mean() < 2  # the picture, up to 8-bit rounding


def test_tiff_with_a_thumbnail_page_reads_its_image(tmp_path):
    """A reduced-resolution page (NewSubfileType 1, as scanners write) is not a second page."""
    path = tmp_path / "thumb.tif"
    rgb = _rgb((20, 30, 3))
    with tifffile.TiffWriter(path) as tif:
        tif.write(rgb, photometric="rgb")
        tif.write(rgb[::4, ::4], photometric="rgb", subfiletype=1)
    assert len(tifffile.TiffFile(path).pages) == 2
    np.testing.assert_array_equal(read_image(path), rgb)


def test_truncated_tiff_is_reported_as_unreadable(tmp_path, capfd):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(tmp_path / "whole.tif", _rgb())
    path.write_bytes((tmp_path / "whole.tif").read_bytes()[:8])  # the header alone
    with pytest.raises(ValueError, match=r"cut\.tif: cannot read image .*no image"):
        read_image(path)
    assert "tifffile" not in capfd.readouterr().err  # the exception says it all


def test_camera_jpeg_with_a_preview_reads_its_primary_image(tmp_path):
    """Cameras append a preview in Multi-Picture Format (Pillow: an "MPO" of two frames)."""
    path = tmp_path / "photo.jpg"
    main, preview = Image.fromarray(_rgb((24, 32, 3))), Image.fromarray(_rgb((6, 8, 3), seed=1))
    main.save(path, format="MPO", save_all=True, append_images=[preview])
    with Image.open(path) as im:
        assert im.format == "MPO" and im.n_frames == 2
        primary = np.array(im)
    got = read_image(path)
    assert got.shape == (24, 32, 3)
    np.testing.assert_array_equal(got, primary)


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


def _png16_rgb_1x1(pixel_data, width=1, height=1):
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bit, RGB: 7 bytes a row
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(pixel_data, 9)) + _chunk(b"IEND", b""))


@pytest.mark.parametrize("width,height", [(0, 1), (1, 0)])
def test_png16_reader_refuses_an_empty_image(tmp_path, width, height):
    """The PNG standard, libpng and Pillow refuse widths and heights of 0."""
    path = tmp_path / "empty.png"
    path.write_bytes(_png16_rgb_1x1(b"\x00" * height, width, height))
    with pytest.raises(ValueError, match=f"cannot read image .*{width}x{height} pixels"):
        read_image(path)


def test_png16_reader_refuses_a_damaged_chunk(tmp_path):
    """As libpng does: a chunk whose CRC does not match its bytes."""
    data = bytearray(_png16_rgb_1x1(b"\x00" + struct.pack(">3H", 1, 300, 65535)))
    data[8 + 8 + 4] ^= 0x01  # a bit of the IHDR's height
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged PNG chunk b'IHDR'"):
        read_image(path)


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
