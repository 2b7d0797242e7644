"""The first touch of big new outputs (``warpkit.backends._cpu.pages``): every page of the
array is mapped afterwards whatever its alignment, mapped memory is left alone, and sampling
into a touched output gives what sampling into an untouched one gives."""

from __future__ import annotations

import ctypes
import mmap
import sys

import numba
import numpy as np
import pytest

import warpkit as wk
from warpkit.backends._cpu import pages

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="mincore and transparent huge pages are Linux's")

MB = 1 << 20


def _resident_pages(a: np.ndarray) -> np.ndarray:
    """mincore's residency bit of every page under ``a``."""
    addr = a.__array_interface__["data"][0]
    lo = addr - addr % pages.PAGE
    n = (addr + a.nbytes - lo + pages.PAGE - 1) // pages.PAGE
    vec = ctypes.create_string_buffer(n)
    assert pages._MINCORE(lo, n * pages.PAGE, vec) == 0
    return np.frombuffer(vec.raw, np.uint8) & 1


@pytest.mark.parametrize("offset", [0, 1, 4095, 4097, 2 * MB - 3])
def test_every_page_of_a_new_output_is_mapped_after_a_touch(offset):
    """Whatever the array's alignment to pages and huge pages; with one thread (nothing to
    share the zeroing with) nothing is touched."""
    mapping = mmap.mmap(-1, 12 * MB)  # new anonymous memory: no page mapped yet
    view = np.frombuffer(mapping, np.uint8)[offset:offset + 9 * MB + 123]
    assert not _resident_pages(view).any()
    pages.touch(view)
    assert _resident_pages(view).all() == (numba.get_num_threads() > 1)
    assert _resident_pages(view).any() == (numba.get_num_threads() > 1)
    del view
    mapping.close()


def test_mapped_memory_is_left_alone():
    out = np.full((1, 1024, 1024, 3), 7.0, np.float32)  # 12 MB, every page written
    pages.touch(out)
    assert np.all(out == 7.0)


def test_new_output_is_touched_and_small_ones_are_not():
    mapping = mmap.mmap(-1, 12 * MB)
    big = np.frombuffer(mapping, np.float32, count=2 * MB)  # 8 MB
    small = np.frombuffer(mapping, np.uint8, count=pages.TOUCH_BYTES - 1, offset=8 * MB)
    pages.touch(big)
    pages.touch(small)
    assert _resident_pages(big).all() == (numba.get_num_threads() > 1)
    assert not _resident_pages(small).any()
    del big, small
    mapping.close()


def test_sampling_into_touched_memory_gives_the_same_values(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.random((4, 300, 300, 3), dtype=np.float32)  # 4.3 MB outputs, above TOUCH_BYTES
    theta = np.tile(np.array([[0.9, 0.3, 0.1], [-0.3, 0.9, 0.05]], np.float32), (4, 1, 1))
    touched = wk.affine_sample(x, theta)
    monkeypatch.setattr(pages, "TOUCH_BYTES", 1 << 62)
    np.testing.assert_array_equal(touched, wk.affine_sample(x, theta))
    grid = wk.affine_grid(theta, x.shape)
    untouched = wk.grid_sample(x, grid)
    monkeypatch.undo()
    np.testing.assert_array_equal(wk.grid_sample(x, grid), untouched)
    u8 = (x * 255).astype(np.uint8)
    monkeypatch.setattr(pages, "TOUCH_BYTES", 1 << 20)  # the uint8 output (1.1 MB) too
    np.testing.assert_array_equal(wk.warp(u8, theta), wk.warp(u8, theta, out=np.zeros_like(u8)))
