"""Image I/O round trips, the progress bar, the ``warpkit warp`` command and the argument checks
of ``warpkit train``."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from warpkit._progress import Progress, notice_if_compiling, progress
from warpkit.cli import main
from warpkit.io import read_image, write_image


def _img(shape, dtype, seed=0):
    hi = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, hi, size=shape, endpoint=True).astype(dtype)


# --------------------------------------------------------------------------- io
@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(9, 13), (9, 13, 2), (9, 13, 3), (9, 13, 4)])
def test_lossless_round_trip(tmp_path, suffix, dtype, shape):
    img = _img(shape, dtype)
    path = tmp_path / f"im{suffix}"
    write_image(path, img)
    back = read_image(path)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, img)


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:32, 0:48]
    img = np.stack([4 * x, 6 * y, 2 * (x + y)], axis=-1).astype(np.uint8)
    for im in (img, img[..., 0]):
        write_image(tmp_path / "a.jpg", im)
        back = read_image(tmp_path / "a.jpg")
        assert back.shape == im.shape and back.dtype == np.uint8
        assert np.abs(back.astype(int) - im).mean() < 3


@pytest.mark.parametrize("channels", [3, 4])
def test_reads_16bit_colour_png_written_by_opencv(tmp_path, channels):
    """OpenCV/libpng use the Sub/Up/Average/Paeth row filters that _unfilter must undo."""
    cv2 = pytest.importorskip("cv2")
    y, x = np.mgrid[0:37, 0:53]
    img = np.stack([x * 1000 + y * 7, y * 1500, (x * y * 37) % 65536, 65535 - x * 900][:channels],
                   axis=-1).astype(np.uint16)
    order = [2, 1, 0, 3][:channels]  # OpenCV stores BGR(A)
    path = tmp_path / "cv.png"
    assert cv2.imwrite(str(path), img[..., order])
    np.testing.assert_array_equal(read_image(path), img)
    # and OpenCV reads what write_image writes
    write_image(path, img)
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., order], img)


def test_io_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(IsADirectoryError, match="is a folder, not an image file"):
        read_image(tmp_path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="bad.png: cannot read image") as info:
        read_image(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="uint8 images only"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="alpha"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown image format"):
        write_image(tmp_path / "a.xyz", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="C in 1..4"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="PNG holds"):
        write_image(tmp_path / "a.png", np.zeros((4, 4), np.float32))
    for dtype in (np.uint8, np.uint16):  # the 16-bit colour PNG writer too
        with pytest.raises(FileNotFoundError, match="no such folder"):
            write_image(tmp_path / "nowhere" / "a.png", np.zeros((4, 4, 3), dtype))


# --------------------------------------------------------------------------- progress
class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


def test_progress_non_tty_prints_one_summary():
    out = _Stream(False)
    assert list(progress(range(5), desc="work", file=out)) == list(range(5))
    text = out.getvalue()
    assert text.count("\n") == 1 and "\r" not in text
    assert text.startswith("work: 5/5 [100%]")


def test_progress_tty_redraws_with_postfix_and_eta():
    out = _Stream(True)
    bar = Progress(total=4, desc="train", file=out, min_interval=0.0)
    bar.update(1, loss=0.5)
    bar.set_postfix(acc=0.25)
    bar.update(3, loss=0.125)
    bar.close()
    text = out.getvalue()
    lines = text.split("\r")
    assert "train: 1/4 [ 25%]" in lines[1] and "loss=0.5" in lines[1] and "<" in lines[1]
    assert "4/4 [100%]" in lines[-1] and "loss=0.125 acc=0.25" in lines[-1]
    assert text.endswith("\n") and text.count("\n") == 1


def test_progress_closes_when_the_loop_stops_early():
    out = _Stream(False)
    for k in progress(iter(range(100)), file=out):
        if k == 2:
            break
    # items 0 and 1 finished; the body of item 2 broke out. No total known: plain count
    assert out.getvalue().startswith("2 ")


def _compile_something_new():
    """Compile a function numba has not seen (a new closure each call, no cache)."""
    from numba import njit

    k = np.random.default_rng().integers(1 << 30)
    return njit(lambda x: x * k + 1)(3)


def test_notice_if_compiling_speaks_once_when_numba_compiles_late_in_the_block():
    import time

    out = io.StringIO()
    with notice_if_compiling("still compiling", after=0.05, file=out):
        time.sleep(0.3)  # past the deadline, nothing compiling yet: silent so far
        assert out.getvalue() == ""
        _compile_something_new()
        _compile_something_new()
    assert out.getvalue() == "still compiling\n"


def test_notice_if_compiling_is_silent_for_a_slow_block_that_compiles_nothing():
    import time

    out = io.StringIO()
    with notice_if_compiling("still compiling", after=0.05, file=out):
        time.sleep(0.3)
    _compile_something_new()  # after the block: its listener is gone
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- command line
def _run(argv, capsys):
    code = main(["warp", *map(str, argv)])
    return code, capsys.readouterr().err


def test_rotate_90_command_equals_rot90(tmp_path, capsys):
    img = _img((12, 20, 3), np.uint8)
    write_image(tmp_path / "in.png", img)
    code, err = _run([tmp_path / "in.png", tmp_path / "out.png", "--rotate", 90,
                      "--size", 12, 20], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "out.png"), np.rot90(img))


def test_translate_and_constant_padding_on_16bit_tiff(tmp_path, capsys):
    img = _img((10, 14), np.uint16)
    write_image(tmp_path / "in.tif", img)
    code, err = _run([tmp_path / "in.tif", tmp_path / "out.tif", "--translate", 3, -2,
                      "--padding", "constant", "--cval", 65535, "--mode", "nearest"], capsys)
    assert code == 0, err
    expected = np.full_like(img, 65535)
    expected[:-2, 3:] = img[2:, :-3]
    np.testing.assert_array_equal(read_image(tmp_path / "out.tif"), expected)


def test_folder_skips_unreadable_files_and_reports_failure(tmp_path, capsys):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    imgs = {"a.png": _img((8, 9, 4), np.uint8), "b.tif": _img((6, 7), np.uint16)}
    for name, im in imgs.items():
        write_image(src / name, im)
    (src / "broken.png").write_bytes(b"garbage")
    (src / "notes.txt").write_text("not an image")
    code, err = _run([src, dst, "--rotate", 180], capsys)
    assert code == 1
    assert "broken.png" in err and "2 of 3 images" in err
    assert sorted(os.listdir(dst)) == ["a.png", "b.tif"]
    for name, im in imgs.items():
        np.testing.assert_array_equal(read_image(dst / name), im[::-1, ::-1])


def test_folder_all_good_exits_zero(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", _img((5, 6), np.uint8))
    code, err = _run([src, tmp_path / "new" / "out"], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "new" / "out" / "a.png"),
                                  read_image(src / "a.png"))


def test_never_overwrites_inputs(tmp_path, capsys):
    img = _img((5, 6), np.uint8)
    write_image(tmp_path / "a.png", img)
    before = (tmp_path / "a.png").read_bytes()
    code, err = _run([tmp_path / "a.png", tmp_path / "a.png", "--rotate", 10], capsys)
    assert code == 2 and "input file" in err
    code, err = _run([tmp_path, tmp_path, "--rotate", 10], capsys)
    assert code == 2 and "input folder" in err
    code, err = _run([tmp_path / "a.png", tmp_path, "--rotate", 10], capsys)  # OUT dir -> same
    assert code == 2
    assert (tmp_path / "a.png").read_bytes() == before


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--scale", "0"], "--scale must be non-zero"),
        (["--size", "0", "4"], "--size"),
        (["--shear", "95"], "--shear"),
        (["--mode", "cubic"], "invalid choice"),
        (["--rotate", "abc"], "invalid float"),
        (["--rotate", "nan"], "finite"),
        (["--scale", "1e-320"], "--scale must be at least"),  # its reciprocal overflows
        (["--scale", "1e-308", "--shear", "89.99999"], "give no usable map"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, capsys, extra, match):
    write_image(tmp_path / "a.png", _img((5, 6), np.uint8))
    try:
        code, err = _run([tmp_path / "a.png", tmp_path / "b.png", *extra], capsys)
    except SystemExit as exc:  # argparse-level errors exit from inside parse_args
        code, err = exc.code, capsys.readouterr().err
    assert code == 2
    assert err.startswith("warpkit warp: error:") and match in err
    assert err.count("\n") == 1
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("flag,value,plain", [("--rotate", "-1e1", -10), ("--rotate", "-30.", -30),
                                              ("--cval", "-2.5e1", -25)])
def test_negative_numbers_in_any_float_form_are_values(tmp_path, capsys, flag, value, plain):
    """argparse takes only -5 and -.5 for negative numbers; -1e1 and -30. are values too."""
    img = _img((9, 11), np.uint16)
    write_image(tmp_path / "a.tif", img)
    extra = ["--padding", "constant", "--rotate", 10] if flag == "--cval" else []
    code, err = _run([tmp_path / "a.tif", tmp_path / "b.tif", *extra, flag, value], capsys)
    assert code == 0, err
    code, err = _run([tmp_path / "a.tif", tmp_path / "c.tif", *extra, flag, plain], capsys)
    assert code == 0, err
    np.testing.assert_array_equal(read_image(tmp_path / "b.tif"), read_image(tmp_path / "c.tif"))
    assert not np.array_equal(read_image(tmp_path / "b.tif"), img)


def test_errors_after_reading_name_the_file(tmp_path, capsys):
    """An image that reads but cannot be warped (complex pixels) is reported by its name."""
    import tifffile

    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "complex.tif", np.ones((4, 5), np.complex64))
    write_image(src / "good.png", _img((4, 5), np.uint8))
    code, err = _run([src, tmp_path / "out"], capsys)
    assert code == 1
    assert f"{src / 'complex.tif'}: image must have a boolean, integer or float dtype" in err


def test_missing_and_unreadable_input(tmp_path, capsys):
    code, err = _run([tmp_path / "nope.png", tmp_path / "b.png"], capsys)
    assert code == 2 and "no such file" in err and err.count("\n") == 1
    (tmp_path / "bad.png").write_bytes(b"xx")
    code, err = _run([tmp_path / "bad.png", tmp_path / "b.png"], capsys)
    assert code == 1 and "bad.png" in err and err.count("\n") == 1
    write_image(tmp_path / "c.png", _img((5, 6, 4), np.uint8))
    code, err = _run([tmp_path / "c.png", tmp_path / "c.jpg"], capsys)  # RGBA to JPEG
    assert code == 1 and "alpha" in err
    code, err = _run([tmp_path / "c.png", tmp_path / "nowhere" / "c.png"], capsys)
    assert code == 2 and "no such folder" in err and err.count("\n") == 1


def test_python_dash_m_help_documents_every_option():
    res = subprocess.run([sys.executable, "-m", "warpkit", "warp", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for opt in ("--rotate", "--scale", "--translate", "--shear", "--size", "--mode",
                "--padding", "--cval", "IN", "OUT", "exit codes"):
        assert opt in res.stdout


def test_a_first_warp_that_compiles_says_so(tmp_path, capsys, monkeypatch):
    """A first warp of a new kind of image compiles for ~20 s with an empty numba cache: the
    command says so instead of looking hung; a warp slow for another reason does not (here
    the wait is short, and the warp made slow, with and without a compilation in it)."""
    import time

    import warpkit._cli_warp as cli_warp
    import warpkit._progress as progress_module

    real_warp = cli_warp.warp

    def slow_warp(*args, **kwargs):
        time.sleep(0.5)
        return real_warp(*args, **kwargs)

    def compiling_warp(*args, **kwargs):
        time.sleep(0.5)
        _compile_something_new()
        return real_warp(*args, **kwargs)

    monkeypatch.setattr(progress_module, "SLOW_AFTER", 0.2)
    write_image(tmp_path / "in.png", _img((8, 8, 3), np.uint8))
    for fake, notice in ((compiling_warp, True), (slow_warp, False)):
        monkeypatch.setattr(cli_warp, "warp", fake)
        code, err = _run([tmp_path / "in.png", tmp_path / "out.png", "--rotate", 10], capsys)
        assert code == 0, err
        assert ("warpkit warp: compiling warpkit's kernels on first use" in err) == notice, err


@pytest.mark.parametrize("out", ["out.gif", "out_no_suffix"])
def test_an_out_without_an_image_suffix_is_a_bad_argument(tmp_path, capsys, monkeypatch, out):
    import warpkit._cli_warp as cli_warp

    def no_work(path):
        raise AssertionError("read before the arguments were checked")

    write_image(tmp_path / "in.png", _img((5, 6), np.uint8))
    monkeypatch.setattr(cli_warp, "read_image", no_work)
    code, err = _run([tmp_path / "in.png", tmp_path / out], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"warpkit warp: error: OUT {tmp_path / out}") and ".png, .jpg" in err


def _out_of_memory(*args, **kwargs):
    return np.empty((1 << 30, 1 << 30, 3), np.uint8)  # 3 EiB: numpy refuses at once


def test_out_of_memory_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    import warpkit._cli_warp as cli_warp

    write_image(tmp_path / "in.png", _img((5, 6), np.uint8))
    monkeypatch.setattr(cli_warp, "warp", _out_of_memory)
    code, err = _run([tmp_path / "in.png", tmp_path / "out.png", "--size", 100000, 100000],
                     capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert err.startswith(f"warpkit warp: error: {tmp_path / 'in.png'}: not enough memory")
    assert "Unable to allocate" in err  # numpy's message says how much
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", _img((5, 6), np.uint8))
    code, err = _run([src, tmp_path / "out", "--size", 100000, 100000], capsys)
    assert code == 1 and "a.png: not enough memory" in err and "0 of 1 images" in err


def test_folder_compiling_notice_starts_its_own_line_under_a_progress_bar(
        tmp_path, capsys, monkeypatch):
    import time

    import warpkit._cli_warp as cli_warp
    import warpkit._progress as progress_module

    real_warp = cli_warp.warp

    def compiling_warp(*args, **kwargs):
        time.sleep(0.3)
        _compile_something_new()
        return real_warp(*args, **kwargs)

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        write_image(src / name, _img((6, 7), np.uint8))
    terminal = _Stream(True)
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(progress_module, "SLOW_AFTER", 0.1)
    monkeypatch.setattr(cli_warp, "warp", compiling_warp)
    assert main(["warp", str(src), str(tmp_path / "out")]) == 0
    text = terminal.getvalue()
    notice = "warpkit warp: compiling warpkit's kernels"
    assert text.count(notice) == 2, text  # one per file: the second is under a drawn bar
    for before in text.split(notice)[:-1]:
        assert before == "" or before.endswith(("\r", "\n")), repr(text)


# --------------------------------------------------------------------------- warpkit train
@pytest.mark.parametrize(
    "extra,match",
    [
        (["--lr", "inf"], "--lr must be > 0 and finite"),
        (["--lr", "1e300"], "--lr must be > 0 and finite"),
        (["--lr", "nan"], "--lr must be > 0"),
        (["--model", "st-fcn", "--loc-lr", "inf"], "--loc-lr must be > 0 and finite"),
        (["--model", "st-fcn", "--loc-lr=-inf"], "--loc-lr must be > 0"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
    ],
)
def test_train_refuses_learning_rates_float32_cannot_hold_and_negative_seeds(
        tmp_path, capsys, extra, match):
    code = main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "run"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("warpkit train: error:") and match in err, err
    assert err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_train_takes_the_largest_float32_learning_rate_check():
    from argparse import Namespace

    from warpkit._cli_train import _train_error

    largest = float(np.finfo(np.float32).max)  # here, not the module's constant
    for lr in (largest, 1e30, 1e-30):
        args = Namespace(model="st-fcn", distortion="r", data="digits", data_dir=None,
                         epochs=1, batch_size=8, max_train=None, max_test=None, lr=lr,
                         loc_lr=lr, warmup=None, seed=0)
        assert _train_error(args) is None, lr
    args.lr = 2 * largest  # finite in float64, inf in the float32 optimizers
    assert "--lr must be > 0 and finite" in _train_error(args)
