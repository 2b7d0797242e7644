"""Tests for warpkit.datasets: embedded digits, distortions, experiments, IDX loader."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest
from skimage.transform import AffineTransform, ProjectiveTransform, resize, warp

from warpkit import datasets as D
from warpkit.datasets import distortions as dist

FIELD = 28


def box_image(n: int = 1, value: float = 1.0) -> np.ndarray:
    """(n, 28, 28) images holding ``value`` in the central 20x20 digit box."""
    out = np.zeros((n, FIELD, FIELD), np.float32)
    out[:, 4:24, 4:24] = value
    return out


# --------------------------------------------------------------------------- digits
def test_load_digits_shapes_and_values():
    x, y = D.load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # originally integers 0..16
    counts = np.bincount(y, minlength=10)
    assert counts.sum() == 1797 and counts.min() >= 170  # every class about 180 times


def test_base_digits_match_skimage_resize_centred():
    small, labels = D.load_digits()
    base, base_labels = D.base_digits()
    assert base.shape == (1797, 28, 28) and base.dtype == np.float32
    np.testing.assert_array_equal(base_labels, labels)
    assert base.min() >= 0.0 and base.max() <= 1.0
    ring = np.ones((28, 28), bool)
    ring[4:24, 4:24] = False
    assert not base[:, ring].any()  # a 20x20 digit centred in a zero field
    idx = np.arange(0, 1797, 37)
    ref = np.stack(
        [resize(small[i].astype(np.float64), (20, 20), order=1, mode="edge",
                anti_aliasing=False) for i in idx]
    )
    np.testing.assert_allclose(base[idx, 4:24, 4:24], ref, atol=1e-5)
    # mean intensity is kept by the resampling (loosely: edge effects)
    np.testing.assert_allclose(base[:, 4:24, 4:24].mean((1, 2)), small.mean((1, 2)), atol=0.03)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"box": 20.0}, "box must be a positive int, got 20.0"),
        ({"box": 0}, "box must be a positive int, got 0"),
        ({"field": 28.0}, "field must be a positive int, got 28.0"),
        ({"field": "28"}, "field must be a positive int, got '28'"),
        ({"box": 21}, "field - box even"),
        ({"box": 30}, "field - box even and >= 0"),
    ],
)
def test_resample_to_field_refuses_bad_sizes(kwargs, message):
    from warpkit.datasets.digits import resample_to_field

    with pytest.raises(ValueError, match=message):
        resample_to_field(np.zeros((1, 8, 8)), **kwargs)


def test_base_digits_returns_a_fresh_copy():
    a, _ = D.base_digits()
    a[:] = 7.0
    b, _ = D.base_digits()
    assert b.max() <= 1.0


# --------------------------------------------------------------------------- distortions
@pytest.mark.parametrize("kind", D.DISTORTIONS)
def test_distort_shape_dtype_range_determinism(kind):
    images, _ = D.base_digits()
    images = images[:40]
    out = D.distort(images, kind, np.random.default_rng(3))
    size = D.canvas_size(kind)
    assert out.shape == (40, size, size) and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0 + 1e-6
    again = D.distort(images, kind, np.random.default_rng(3))
    np.testing.assert_array_equal(out, again)
    other = D.distort(images, kind, np.random.default_rng(4))
    assert not np.array_equal(out, other)
    assert (out.reshape(40, -1).max(axis=1) > 0.3).all()  # every digit still has ink


def test_canvas_sizes_and_bad_arguments():
    assert [D.canvas_size(k) for k in D.DISTORTIONS] == [28, 42, 28, 28, 60]
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="distortion must be one of"):
        D.distort(box_image(2), "shear", rng)
    with pytest.raises(ValueError, match="distortion must be one of"):
        D.canvas_size("x")
    with pytest.raises(ValueError, match=r"shape \(M, 28, 28\)"):
        D.distort(np.zeros((2, 32, 32)), "r", rng)
    with pytest.raises(TypeError, match="Generator"):
        D.distort(box_image(2), "r", 0)
    with pytest.raises(ValueError, match="clutter"):
        D.distort(box_image(1), "tc", rng)
    with pytest.raises(ValueError, match="clutter_source"):
        D.distort(box_image(2), "tc", rng, clutter_source=np.zeros((3, 8, 8)))


@pytest.mark.parametrize("kind", [["r"], {"r"}, None])
@pytest.mark.parametrize(
    "call",
    [D.canvas_size,
     lambda k: D.distort(box_image(2), k, np.random.default_rng(0)),
     lambda k: D.make_experiment("digits", k)],
    ids=["canvas_size", "distort", "make_experiment"],
)
def test_distortion_kind_must_be_a_known_string(call, kind):
    with pytest.raises(ValueError, match=r"distortion must be one of \('r', 'rts'"):
        call(kind)


N3 = (np.zeros(3), np.ones(3), np.zeros((3, 2)), 28, 42)  # valid placement_theta arguments


@pytest.mark.parametrize(
    "index, value, error, message",
    [
        (0, 0.0, ValueError, r"angle must have shape \(N,\)"),
        (0, np.zeros((3, 1)), ValueError, r"angle must have shape \(N,\)"),
        (0, np.array([0.0, np.nan, 0.0]), ValueError, "angle must be finite"),
        (0, np.array(["0", "0", "0"]), TypeError, "angle must hold real numbers"),
        (1, 1.0, ValueError, r"scale must have shape \(N,\)"),
        (1, np.ones(2), ValueError, r"scale must have shape \(N,\) = \(3,\)"),
        (1, np.array([1.0, 0.0, 1.0]), ValueError, "scale must be > 0, got 0.0 at index 1"),
        (1, np.array([1.0, 1.0, -2.0]), ValueError, "scale must be > 0, got -2.0 at index 2"),
        (1, np.array([1.0, np.inf, 1.0]), ValueError, "scale must be finite"),
        (2, np.zeros(2), ValueError, r"offset must have shape \(N, 2\)"),
        (2, np.zeros((2, 2)), ValueError, r"offset must have shape \(N, 2\) = \(3, 2\)"),
        (2, np.zeros((3, 3)), ValueError, r"offset must have shape \(N, 2\) = \(3, 2\)"),
        (3, 0, ValueError, "in_size must be a positive int, got 0"),
        (3, 28.0, ValueError, "in_size must be a positive int, got 28.0"),
        (4, -42, ValueError, "out_size must be a positive int, got -42"),
        (4, True, ValueError, "out_size must be a positive int, got True"),
    ],
)
def test_placement_theta_refuses_bad_arguments(index, value, error, message):
    args = list(N3)
    args[index] = value
    with pytest.raises(error, match=message):
        dist.placement_theta(*args)


def test_placement_theta_accepts_numpy_int_sizes():
    theta = dist.placement_theta(np.zeros(1), np.full(1, 2.0), np.zeros((1, 2)),
                                 np.int64(28), np.int32(42))
    # k = out / (in * scale) = 42 / 56 on the diagonal, no shift
    np.testing.assert_allclose(theta[0], [[0.75, 0, 0], [0, 0.75, 0]], atol=1e-15)


def test_rotation_theta_zero_is_identity_and_quarter_turn_is_rot90():
    images, _ = D.base_digits()
    x = images[:5]
    n = len(x)
    ident = dist.placement_theta(np.zeros(n), np.ones(n), np.zeros((n, 2)), 28, 28)
    np.testing.assert_array_equal(dist._place(x, ident, 28), x)
    quarter = dist.placement_theta(np.full(n, np.pi / 2), np.ones(n), np.zeros((n, 2)), 28, 28)
    # positive angles turn clockwise on screen (rows grow downwards)
    np.testing.assert_allclose(dist._place(x, quarter, 28), np.rot90(x, -1, axes=(1, 2)),
                               atol=1e-5)


def test_rotation_preserves_mass():
    images, _ = D.base_digits()
    x = images[:200]
    out = D.distort(x, "r", np.random.default_rng(0))
    ratio = out.sum((1, 2)) / x.sum((1, 2))
    assert ratio.min() > 0.93 and ratio.max() < 1.07


def test_placement_theta_matches_skimage_warp():
    rng = np.random.default_rng(11)
    images, _ = D.base_digits()
    x = images[:6].astype(np.float64)
    n = len(x)
    angle = rng.uniform(-1.0, 1.0, n)
    scale = rng.uniform(0.7, 1.2, n)
    offset = rng.uniform(-4.0, 4.0, (n, 2))
    out = dist._place(x.astype(np.float32), dist.placement_theta(angle, scale, offset, 28, 42), 42)
    for k in range(n):
        # forward placement in pixel (col, row): u = c_out + offset + s R(a) (v - c_in)
        to_centre = AffineTransform(translation=(-13.5, -13.5))
        rot_scale = AffineTransform(rotation=angle[k], scale=scale[k])
        to_canvas = AffineTransform(translation=(20.5 + offset[k, 0], 20.5 + offset[k, 1]))
        forward = AffineTransform(to_canvas.params @ rot_scale.params @ to_centre.params)
        ref = warp(x[k], forward.inverse, output_shape=(42, 42), order=1, mode="constant",
                   cval=0.0)
        np.testing.assert_allclose(out[k], ref, atol=1e-4)


def test_rts_keeps_the_digit_box_inside_the_canvas():
    x = box_image(400)
    out = D.distort(x, "rts", np.random.default_rng(5))
    mass = out.sum((1, 2))
    # a full box of area 400 scaled by U(0.7, 1.2): mass 400 s^2
    assert mass.min() > 400 * 0.7**2 * 0.97 and mass.max() < 400 * 1.2**2 * 1.03
    ring = np.concatenate([out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]], axis=1)
    assert (ring.sum(1) / mass).max() < 0.05  # never cut by the canvas edge
    assert (ring.sum(1) / mass).mean() < 0.002
    # positions spread over the canvas
    rows = (out.sum(2) * np.arange(42)).sum(1) / mass
    assert rows.min() < 17 and rows.max() > 24


def test_homographies_match_skimage_projective_transform():
    rng = np.random.default_rng(2)
    src = np.broadcast_to(np.array([[-1.0, -1], [1, -1], [1, 1], [-1, 1]]), (4, 4, 2))
    dst = src + rng.normal(0, 0.15, (4, 4, 2))
    h = dist.homographies(src, dst)
    for k in range(4):
        ref = ProjectiveTransform.from_estimate(src[k], dst[k])
        assert ref
        np.testing.assert_allclose(h[k], ref.params / ref.params[2, 2], atol=1e-10)
        mapped = np.c_[src[k], np.ones(4)] @ h[k].T
        np.testing.assert_allclose(mapped[:, :2] / mapped[:, 2:], dst[k], atol=1e-12)


SQUARE = np.array([[-1.0, -1], [1, -1], [1, 1], [-1, 1]])


@pytest.mark.parametrize(
    "src, dst, message",
    [
        (SQUARE, SQUARE, r"src must have shape \(N, 4, 2\), got shape \(4, 2\)"),
        (SQUARE[None, :3], SQUARE[None, :3], r"src must have shape \(N, 4, 2\)"),
        (SQUARE[None], SQUARE[None, :, :1], r"dst must have the shape of src \(1, 4, 2\)"),
        (SQUARE[None], np.stack([SQUARE, SQUARE]), "dst must have the shape of src"),
        (np.array([[[0.0, 0], [1, 1], [2, 2], [0, 1]]]), SQUARE[None],
         "src\\[0\\]: points 0, 1 and 2 are collinear"),
        (np.stack([SQUARE, SQUARE]), np.stack([SQUARE, [[0.0, 0], [1, 0], [0, 1], [3, 0]]]),
         "dst\\[1\\]: points 0, 1 and 3 are collinear"),
        (SQUARE[None], np.zeros((1, 4, 2)), "dst\\[0\\]: points 0, 1 and 2 are collinear"),
        (SQUARE[None], np.where(SQUARE > 0, np.nan, SQUARE)[None], "dst must be finite"),
    ],
    ids=["unbatched", "three-points", "dst-shape", "dst-batch", "src-collinear",
         "dst-collinear", "dst-one-point", "dst-nan"],
)
def test_homographies_refuse_bad_points(src, dst, message):
    with pytest.raises(ValueError, match=message):
        dist.homographies(src, dst)


def test_projective_and_elastic_keep_digits_recognisable():
    images, _ = D.base_digits()
    x = images[:100]
    for kind, lo, hi in (("p", 0.55, 1.7), ("e", 0.75, 1.3)):
        out = D.distort(x, kind, np.random.default_rng(8))
        ratio = out.sum((1, 2)) / x.sum((1, 2))
        assert lo < ratio.mean() < hi and ratio.min() > lo / 2, kind
        assert not np.allclose(out, x, atol=0.05), kind
        corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(out, x, strict=True)]
        assert np.median(corr) > 0.4, kind


def test_elastic_smoothing_matrix():
    g = dist._smoothing_matrix(28, 4.0)
    np.testing.assert_allclose(g.sum(1), 1.0)
    np.testing.assert_allclose(g, g[::-1, ::-1])  # symmetric about the centre
    assert g[14, 14] > g[14, 18] > g[14, 22] > 0


def test_tc_translation_and_clutter():
    rng = np.random.default_rng(9)
    x = box_image(50)
    clean = D.distort(x, "tc", rng, clutter_source=np.zeros((3, 28, 28)))
    np.testing.assert_allclose(clean.sum((1, 2)), 400.0, rtol=1e-5)  # translated, not cut
    zeros = np.zeros((50, 28, 28), np.float32)
    clutter = D.distort(zeros, "tc", rng, clutter_source=box_image(3))
    ones = (clutter == 1.0).sum((1, 2))
    assert set(np.unique(clutter)) <= {0.0, 1.0}
    assert ones.min() >= 36 and ones.max() <= 6 * 36 and ones.mean() > 150


def test_tc_default_clutter_comes_from_other_images():
    x = np.concatenate([box_image(1), np.zeros((1, 28, 28), np.float32)])
    for seed in range(5):
        out = D.distort(x, "tc", np.random.default_rng(seed))
        assert out[0].sum() == pytest.approx(400.0, rel=1e-5)  # clutter only from image 1
        assert (out[1] == 1.0).sum() >= 36  # image 1 gets pieces of image 0


# --------------------------------------------------------------------------- experiment
def test_digits_experiment_split_and_epochs():
    exp = D.make_experiment("digits", "rts")
    assert exp.name == "digits-rts" and exp.num_classes == 10
    assert exp.image_shape == (42, 42, 1)
    assert exp.train_images.shape == (1438, 28, 28)
    assert exp.test_x.shape == (3590, 42, 42, 1) and exp.test_x.dtype == np.float32
    assert exp.test_y.shape == (3590,) and exp.test_y.dtype == np.int64
    _, labels = D.base_digits()
    np.testing.assert_array_equal(
        np.bincount(exp.train_labels, minlength=10) + np.bincount(exp.test_y[::10], minlength=10),
        np.bincount(labels, minlength=10),
    )
    np.testing.assert_array_equal(exp.test_y, np.repeat(exp.test_y[::10], 10))
    again = D.make_experiment("digits", "rts")
    np.testing.assert_array_equal(exp.test_x, again.test_x)  # fixed test set
    x, y = exp.train_epoch(np.random.default_rng(0))
    assert x.shape == (8 * 1438, 42, 42, 1) and x.dtype == np.float32 and exp.epoch_size == len(x)
    np.testing.assert_array_equal(y, np.tile(exp.train_labels, 8))
    x2, _ = exp.train_epoch(np.random.default_rng(0))
    np.testing.assert_array_equal(x, x2)
    x3, _ = exp.train_epoch(np.random.default_rng(1))
    assert not np.array_equal(x, x3)


def test_experiment_subsets_and_errors():
    exp = D.make_experiment("digits", "tc", max_train=50, max_test=30)
    assert exp.train_images.shape == (50, 28, 28) and exp.test_x.shape == (30, 60, 60, 1)
    x, y = exp.train_epoch(np.random.default_rng(0))
    assert x.shape == (400, 60, 60, 1) and y.shape == (400,)
    with pytest.raises(ValueError, match="data must be one of"):
        D.make_experiment("cifar")
    with pytest.raises(ValueError, match="distortion must be one of"):
        D.make_experiment("digits", "q")
    with pytest.raises(ValueError, match="data_dir"):
        D.make_experiment("mnist", "r")
    with pytest.raises(ValueError, match="max_train"):
        D.make_experiment("digits", "r", max_train=0)


# --------------------------------------------------------------------------- IDX
def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(
    "dtype, code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                    (np.float32, 0x0D), (np.float64, 0x0E)]
)
def test_load_idx_round_trip(tmp_path, dtype, code, compress):
    rng = np.random.default_rng(0)
    arr = (rng.normal(0, 50, (3, 4, 5))).astype(dtype)
    data = idx_bytes(arr, code)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = D.load_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_load_idx_header_errors(tmp_path):
    good = idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3), 0x08)
    cases = {
        "magic": (b"\x01" + good[1:], "not an IDX file"),
        "type": (good[:2] + b"\x07" + good[3:], "unknown IDX type"),
        "size": (good[:-1], "holds 5 bytes"),
        "header": (good[:6], "truncated IDX header"),
        "ndim": (b"\x00\x00\x08\x00", "0 dimensions"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=message):
            D.load_idx(path)
    with pytest.raises(FileNotFoundError):
        D.load_idx(tmp_path / "missing")


def damaged_gzip(kind: str) -> bytes:
    gz = gzip.compress(idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3), 0x08))
    if kind == "truncated":
        return gz[: len(gz) // 2]
    if kind == "crc":  # flip a byte of the stored CRC32
        return gz[:-6] + bytes([gz[-6] ^ 0xFF]) + gz[-5:]
    return gz + b"junk"


@pytest.mark.parametrize("kind", ["truncated", "crc", "trailing"])
def test_load_idx_damaged_gzip_is_a_value_error_naming_the_file(tmp_path, kind):
    path = tmp_path / f"{kind}.gz"
    path.write_bytes(damaged_gzip(kind))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": damaged gzip"):
        D.load_idx(path)


def header(dims) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    "data, message",
    [
        (header([1] * 33) + b"\x00", "33 dimensions"),
        (header([1] * 255) + b"\x00", "255 dimensions"),
        (header([2**31, 2**31, 4]), r"\(2147483648, 2147483648, 4\) of uint8 "
                                     r"\(18446744073709551616 bytes\)"),
        (header([2**32 - 1] * 3) + b"\x00" * 7, "holds 7 bytes"),
        (header([0, 2**32 - 1, 2**32 - 1, 2**32 - 1]), "not possible in numpy"),
    ],
    ids=["33-dims", "255-dims", "product-wraps-to-0", "product-overflows", "empty-too-big"],
)
def test_load_idx_absurd_headers_name_the_file(tmp_path, data, message):
    path = tmp_path / "absurd"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": .*" + message):
        D.load_idx(path)


def test_load_idx_accepts_32_dimensions(tmp_path):
    arr = np.arange(4, dtype=np.uint8).reshape((2, 2) + (1,) * 30)
    path = tmp_path / "deep"
    path.write_bytes(idx_bytes(arr, 0x08))
    np.testing.assert_array_equal(D.load_idx(path), arr)


def write_mnist(folder, n_train=30, n_test=12, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)).astype(np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr, 0x08)
        if gz and "labels" in name:  # mix raw and gzipped files
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def test_load_mnist_and_mnist_experiment(tmp_path):
    arrays = write_mnist(tmp_path)
    tx, ty, vx, vy = D.load_mnist(tmp_path)
    assert tx.dtype == np.float32 and ty.dtype == np.int64
    np.testing.assert_allclose(tx * 255, arrays["train-images-idx3-ubyte"], atol=1e-4)
    np.testing.assert_array_equal(ty, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_allclose(vx * 255, arrays["t10k-images-idx3-ubyte"], atol=1e-4)
    np.testing.assert_array_equal(vy, arrays["t10k-labels-idx1-ubyte"])
    exp = D.make_experiment("mnist", "rts", data_dir=tmp_path)
    assert exp.test_x.shape == (12, 42, 42, 1) and exp.passes_per_epoch == 1
    x, y = exp.train_epoch(np.random.default_rng(0))
    assert x.shape == (30, 42, 42, 1)
    np.testing.assert_array_equal(y, arrays["train-labels-idx1-ubyte"])


def test_load_mnist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load_mnist(tmp_path / "nowhere")
    write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        D.load_mnist(tmp_path)
    bad = np.zeros(5, np.uint8)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(bad, 0x08))
    with pytest.raises(ValueError, match="labels must have shape"):
        D.load_mnist(tmp_path)


@pytest.mark.parametrize("split, stem", [("train", "train"), ("test", "t10k")])
def test_load_mnist_refuses_an_empty_split(tmp_path, split, stem):
    write_mnist(tmp_path, gz=False, **{f"n_{split}": 0})
    path = re.escape(str(tmp_path / f"{stem}-images-idx3-ubyte"))
    with pytest.raises(ValueError, match=f"{path}: the {split} split holds no images"):
        D.load_mnist(tmp_path)
    with pytest.raises(ValueError, match="holds no images"):
        D.make_experiment("mnist", "r", data_dir=tmp_path)


@pytest.mark.parametrize(
    "labels, code, message",
    [
        (np.array([0, 10, 1], np.uint8), 0x08, r"got 10 at index 1"),
        (np.array([3, 2, 255], np.uint8), 0x08, r"got 255 at index 2"),
        (np.array([0, -1, 1], np.int8), 0x09, r"got -1 at index 1"),
        (np.array([0, 1, -7000], np.int16), 0x0B, r"got -7000 at index 2"),
        (np.array([0.0, 1.0, 2.0], np.float32), 0x0D, r"got dtype float32"),
        (np.array([0.5, 1.0, 2.0], np.float64), 0x0E, r"got dtype float64"),
    ],
)
@pytest.mark.parametrize("split, stem", [("train", "train"), ("test", "t10k")])
def test_load_mnist_refuses_labels_that_are_not_classes(tmp_path, split, stem, labels, code,
                                                         message):
    write_mnist(tmp_path, n_train=3, n_test=3, gz=False)
    path = tmp_path / f"{stem}-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(labels, code))
    expected = (re.escape(str(path)) + f": {split} " + r"labels must be integers in \[0, 10\), "
                + message)
    with pytest.raises(ValueError, match=expected):
        D.load_mnist(tmp_path)
