"""The processor-dependent choice of :mod:`warpkit._tuning`: the table that makes it, the
environment variable that overrides it, and the path this processor does not take.

Both ways of sampling 3- and 4-channel integer pixels (8 at a time with gathers, or one at a
time), and both ways of reading the cells of 8 one-channel pixels (gathers, or plain loads),
must give the same bits. The process running the tests takes one of them (chosen by
its processor); a child process with ``WARPKIT_GATHER_BLOCKS`` set the other way takes the
other, and its outputs must equal this process's. The rest of the suite checks this process's
outputs against the loop reference, so the other path is held to the reference too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from warpkit import _tuning

#: Integer warps that reach every part of the two paths: rows wider than the interior spans'
#: threshold (turned, zoomed: rows at one height), batches of narrow rows (the general
#: gather's blocks), RGB and RGBA, uint8 and uint16, and a near-identity whose interior reaches
#: the last cells of the last image (where 8 at a time hands the rest of the row to one at a
#: time); float32 RGB and RGBA (whose rows at one height pick from windows where
#: ``LEVEL_WINDOWS``), zoomed so that 8 pixels' cells span the most a window holds and more;
#: and one-channel images (float ones with NaN and ±inf pixels, forward and backward),
#: whose blocks of 8 pixels read their cells with gathers or with plain loads.
CASES = r"""
import numpy as np
import warpkit
from warpkit import _tuning, transforms  # noqa: F401

def warps(out, key, rng, img, stack):
    # img turned, zoomed and near-identity, with zeros and border padding; stack (12 images)
    # under random maps
    turn = transforms.rotate(20.0, img.shape, scale=0.9)
    zoom = transforms.scale(2.0, img.shape)
    # 8 pixels' cells within 7 columns or just past (RGBA windows), within 9 or past (RGB)
    zoom7 = transforms.scale(1.17, img.shape)
    zoom9 = transforms.scale(0.89, img.shape)
    near = np.array([[1.0, 0.001, 0.003], [-0.002, 1.0, 0.004]])
    maps = (("turn", turn), ("zoom", zoom), ("zoom7", zoom7), ("zoom9", zoom9), ("near", near))
    for name, theta in maps:
        for pad in ("zeros", "border"):
            out[f"{key}-{name}-{pad}"] = warpkit.warp(img, theta, padding_mode=pad)
    thetas = np.tile(np.eye(2, 3), (12, 1, 1)) + rng.uniform(-0.3, 0.3, (12, 2, 3))
    out[f"{key}-stack"] = warpkit.warp(stack, thetas)

def results():
    rng = np.random.default_rng(7)
    out = {}
    for dtype in (np.uint8, np.uint16):
        top = np.iinfo(dtype).max
        for c in (3, 4):
            img = rng.integers(0, top, size=(181, 243, c), endpoint=True).astype(dtype)
            stack = rng.integers(0, top, size=(12, 30, 37, c), endpoint=True).astype(dtype)
            warps(out, f"{np.dtype(dtype).name}-{c}", rng, img, stack)
    for c in (3, 4):  # float32 RGB and RGBA, with NaN and +inf pixels
        img = rng.standard_normal((181, 243, c)).astype(np.float32)
        img[rng.random(img.shape) < 0.01] = np.nan
        img[rng.random(img.shape) < 0.01] = np.inf
        stack = rng.standard_normal((12, 30, 37, c)).astype(np.float32)
        warps(out, f"float32-{c}", rng, img, stack)
    # one-channel rows wide enough for an interior span (float ones with NaN and -inf
    # corners), and stacks of narrow ones
    for dtype in (np.float32, np.float64, np.uint8, np.uint16):
        if np.dtype(dtype).kind == "f":
            grey = rng.standard_normal((181, 243)).astype(dtype)
            grey[rng.random(grey.shape) < 0.01] = np.nan
            grey[rng.random(grey.shape) < 0.01] = -np.inf
            stack = rng.standard_normal((12, 30, 37)).astype(dtype)
        else:
            top = np.iinfo(dtype).max
            grey = rng.integers(0, top, size=(181, 243), endpoint=True).astype(dtype)
            stack = rng.integers(0, top, size=(12, 30, 37), endpoint=True).astype(dtype)
        warps(out, f"{np.dtype(dtype).name}-1", rng, grey, stack)
    # and their backward (whose coordinate gradients read the cells 8 pixels at a time): a
    # batch of narrow images, one wide one, and 1-pixel-high ones (no cell to read at all)
    for dtype in (np.float32, np.float64):
        for shape in ((16, 29, 31, 1), (1, 150, 170, 1), (8, 1, 40, 1)):
            x = rng.standard_normal(shape).astype(dtype)
            x[rng.random(shape) < 0.01] = np.inf
            g = rng.standard_normal(shape).astype(dtype)
            n = shape[0]
            thetas = np.tile(np.eye(2, 3), (n, 1, 1)) + rng.uniform(-0.3, 0.3, (n, 2, 3))
            gin, gtheta = warpkit.affine_sample_backward(g, x, thetas)
            out[f"{np.dtype(dtype).name}-1-{shape}-grad_input"] = gin
            out[f"{np.dtype(dtype).name}-1-{shape}-grad_theta"] = gtheta
    return out
"""

CHILD = CASES + r"""
import sys
np.savez(sys.argv[1], **results())
print("GATHER_BLOCKS", _tuning.GATHER_BLOCKS)
"""

TINY = ("import numpy as np, warpkit; "
        "warpkit.affine_grid(np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]), (1, 2, 3))")


def _child(code: str, *args: str, setting: str | None, cache) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (_tuning.ENV, "NUMBA_CACHE_DIR")}
    env.update(NUMBA_CACHE_DIR=str(cache), NUMBA_DEBUG_CACHE="1")
    if setting is not None:
        env[_tuning.ENV] = setting
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.parametrize("cpu, expected", [
    ("znver4", False), ("znver1", False), ("znver5", False),
    ("emeraldrapids", True), ("rocketlake", True), ("skylake-avx512", True), ("generic", True),
])
def test_zen_processors_take_one_pixel_at_a_time_and_others_eight(cpu, expected):
    assert _tuning.gather_blocks(None, cpu) is expected
    assert _tuning.gather_blocks("", cpu) is expected  # set but empty: as unset


@pytest.mark.parametrize("cpu", ["znver4", "emeraldrapids"])
def test_the_environment_variable_chooses_on_any_processor(cpu):
    assert _tuning.gather_blocks("1", cpu) is True
    assert _tuning.gather_blocks("0", cpu) is False


@pytest.mark.parametrize("setting", ["yes", "true", "2", " 1", "-1"])
def test_a_bad_setting_names_the_variable_and_the_value(setting):
    with pytest.raises(ValueError, match=rf"WARPKIT_GATHER_BLOCKS must be 0 or 1.*{setting!r}"):
        _tuning.gather_blocks(setting, "znver4")


@pytest.mark.parametrize("cpu, expected", [("znver4", False), ("skylake-avx512", True)])
def test_the_choice_follows_the_processor_numba_compiles_for(tmp_path, cpu, expected):
    # NUMBA_CPU_NAME (code compiled for another processor than the host) decides, not the host
    env = {k: v for k, v in os.environ.items() if k != _tuning.ENV}
    env.update(NUMBA_CPU_NAME=cpu, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "from warpkit import _tuning; "
         "print(_tuning.target_cpu(), _tuning.GATHER_BLOCKS)"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [cpu, str(expected)]


@pytest.mark.parametrize("features, expected", [("+avx2,+fma", False), ("+avx2,+avx512f", True)])
def test_level_windows_follow_the_features_numba_compiles_for(tmp_path, features, expected):
    # the permute of 16 lanes needs AVX-512 (NUMBA_CPU_FEATURES, else the host's), and the
    # windows are taken where cells are read by plain loads (a Zen processor here)
    env = {k: v for k, v in os.environ.items() if k != _tuning.ENV}
    env.update(NUMBA_CPU_NAME="znver4", NUMBA_CPU_FEATURES=features,
               NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "from warpkit import _tuning; "
         "print(_tuning.PERMUTE16, _tuning.LEVEL_WINDOWS)"],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(expected), str(expected)]


def test_a_bad_setting_stops_the_import_with_that_message(tmp_path):
    result = _child("import warpkit", setting="yes", cache=tmp_path)
    assert result.returncode != 0
    assert "WARPKIT_GATHER_BLOCKS must be 0 or 1" in result.stderr, result.stderr


@pytest.mark.compiles_afresh
def test_the_path_this_processor_does_not_take_gives_the_same_bits(tmp_path):
    mine = _tuning.GATHER_BLOCKS
    other = "0" if mine else "1"
    cache = tmp_path / "cache"
    result = _child(CHILD, str(tmp_path / "other.npz"), setting=other, cache=cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"GATHER_BLOCKS {not mine}" in result.stdout  # it did take the other path
    namespace: dict = {}
    exec(CASES, namespace)
    expected = namespace["results"]()
    with np.load(tmp_path / "other.npz") as theirs:
        assert sorted(theirs.files) == sorted(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(theirs[key], value, err_msg=key)
            assert theirs[key].dtype == value.dtype


def test_code_compiled_under_the_other_choice_is_not_loaded(tmp_path):
    # a small kernel saved under one choice; the other choice compiles afresh, and then
    # loads its own
    first = _child(TINY, setting="1", cache=tmp_path)
    log = first.stdout + first.stderr
    assert first.returncode == 0 and "data saved" in log, log
    second = _child(TINY, setting="0", cache=tmp_path)
    log = second.stdout + second.stderr
    assert second.returncode == 0 and "data saved" in log and "data loaded" not in log, log
    third = _child(TINY, setting="0", cache=tmp_path)
    log = third.stdout + third.stderr
    assert third.returncode == 0 and "data loaded" in log and "data saved" not in log, log
