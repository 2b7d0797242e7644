"""One-channel rows at one height (maps without rotation) 16 pixels at a time from a table of
their columns (``_simd.lerp16_level``, ``_cpu.level``).

The step gives the values of the 8-pixel steps to the bit, with AVX-512's permute and lane by
lane; a row sampled through the table gives, to the bit, what the same row gives through its
classified cells and the span gather, which it replaces; a thread's table is made again when
the map or the span changes and kept when only the row changes; only calls with such rows get a
table; and warps by such maps (zooms, flips, x-shears, batches that mix them with turns)
match the loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import warpkit as wk
from warpkit.backends._cpu import classify, forward, gather, level
from warpkit.backends._cpu.common import PREFETCH
from warpkit.backends._simd import lerp8_pairs, lerp8c, lerp16_level

#: What lerp16_level takes: float32 pixels, and one-channel integer ones of lerp8c's types
DTYPES = (np.float32, np.uint8, np.uint16, np.int16)


def _pixels(rng, dtype, size):
    """``size`` random pixels of ``dtype``: float32 ones with NaN and ±inf among them, integers
    over their whole range."""
    if dtype == np.float32:
        flat = rng.standard_normal(size).astype(dtype)
        flat[rng.random(size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
        return flat
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size, endpoint=True).astype(dtype)


def _step16():
    @njit
    def step(flat, oflat, cols, fxs, row, least, step, gy, fy, j, q):
        u = np.uint64
        lerp16_level(flat, oflat, cols, fxs, u(row), np.int64(least), u(step), np.float32(gy),
                     np.float32(fy), u(j), u(q))

    return step


_LERP16 = _step16()


@pytest.fixture(scope="module")
def lane_by_lane():
    """``lerp16_level`` compiled without the permute (as for a processor without AVX-512);
    ``PERMUTE16`` is read when the step is compiled."""
    from warpkit.backends import _simd

    step = _step16()
    saved = _simd.PERMUTE16
    _simd.PERMUTE16 = False
    try:  # compiled at the first call of each dtype, for the calls after it
        for dtype in DTYPES:
            step(np.zeros(100, dtype), np.zeros(16, dtype), np.zeros(16, np.int32),
                 np.zeros(16, np.float32), 0, 0, 40, 1.0, 0.0, 0, 0)
    finally:
        _simd.PERMUTE16 = saved
    return step


@njit
def _pairs8(flat, oflat, offs, wts, j, q, step):
    u = np.uint64
    lerp8_pairs(flat, oflat, offs, wts, u(0), u(j), u(q), u(step))


@njit
def _ints8(flat, oflat, offs, wts, j, q, step):
    u = np.uint64
    return lerp8c(flat, oflat, offs, wts, u(0), u(j), u(q), u(step), u(flat.size), 1)


def _eight_step(flat, oflat, offs, wts, j, q, step):
    """The 8-pixel step that the table's step replaces: ``lerp8_pairs`` for float32,
    ``lerp8c`` for integers."""
    if flat.dtype == np.float32:
        _pairs8(flat, oflat, offs, wts, j, q, step)
    else:
        assert _ints8(flat, oflat, offs, wts, j, q, step)  # the block is taken


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
       spread=st.integers(0, 30), down=st.booleans())
@settings(max_examples=40, deadline=None)
def test_lerp16_level_samples_16_pixels_as_the_8_pixel_steps_do(lane_by_lane, dtype, seed, j,
                                                                  q, spread, down):
    """16 pixels of a row at one height (cells monotonic, rising or falling, up to 30 columns
    apart, repeating; x fractions from the table, the y fraction of the row): the values of two
    8-pixel steps given the same cells and ``_weights``' products (float32 with NaN and ±inf
    corners; integers rounded and clipped) to the bit, with the permute and lane by lane;
    nothing else is written."""
    rng = np.random.default_rng(seed)
    step, rows = 40, 3
    flat = _pixels(rng, dtype, step * rows + 32)
    pattern = np.sort(rng.integers(0, spread + 1, 16))
    pattern[[0, -1]] = 0, spread
    least = int(rng.integers(0, step - 1 - spread))
    row = int(rng.integers(0, rows - 1)) * step
    cols = rng.integers(-5, 50, j + 16).astype(np.int32)  # columns before j: not read
    cols[j:] = least + (pattern[::-1] if down else pattern)
    fxs = rng.random(j + 16).astype(np.float32)
    fy = np.float32(rng.random())
    one = np.float32(1.0)
    gx, gy = one - fxs, one - fy
    wts = np.stack([gx * gy, fxs * gy, gx * fy, fxs * fy])  # _weights, in float32
    offs = (row + cols).astype(np.int64)
    want = np.full(q + 17, 9, dtype)
    for k in (0, 8):
        _eight_step(flat, want, offs, wts, j + k, q + k, step)
    for step16 in (_LERP16, lane_by_lane):
        got = np.full(q + 17, 9, dtype)
        step16(flat, got, cols, fxs, row, least, step, gy, fy, j, q)
        np.testing.assert_array_equal(got, want)


@njit
def _row_both_ways(flat, W, H, n, ax, rx, ry, table, with_table, classified):
    """One row (ix = ax·j + rx, iy = ry) of the one-channel image ``flat`` (H rows of W) into
    ``with_table`` through the table's blocks and then the classified span from where they
    stopped, as the row code does, and into ``classified`` through the classified span alone;
    returns the interior span (b, c) and the first column the blocks left."""
    _, b, c, _ = classify._affine_spans(ax, rx, 0.0, ry, W, H, n, False)
    offs = np.zeros(n + PREFETCH, np.int64)
    wts = np.zeros((4, n), np.float32)
    t = level._level_blocks(flat, with_table, 0, 0, W, table, b, c, ax, rx, ry)
    classify._classify_level(W, H, 1, offs, wts, t, c, ax, rx, ry)
    gather._gather_span(flat, with_table, 0, 0, W, offs, wts, t, c, 1, True)
    offs[:] = 0
    classify._classify_level(W, H, 1, offs, wts, b, c, ax, rx, ry)
    gather._gather_span(flat, classified, 0, 0, W, offs, wts, b, c, 1, True)
    return b, c, t


@njit
def _table(n):
    return level._level_scratch(n)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), W=st.integers(2, 120), H=st.integers(2, 6),
       n=st.integers(0, 200), ax=st.floats(-1.9, 1.9), rxs=st.lists(st.floats(-40, 160),
                                                                     min_size=1, max_size=2),
       rows=st.lists(st.tuples(st.booleans(), st.floats(-1, 6)), min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_a_row_through_the_table_is_the_row_through_its_classified_cells(dtype, seed, W, H, n,
                                                                         ax, rxs, rows):
    """Rows one after the other with one thread's table, each from one of two x maps (the
    table kept, or made again for the other map or another span): through the 16-pixel
    blocks and the classified span after them, the values of the classified span alone to the
    bit; every whole block of the interior span is taken (the image has room after its last
    row for every window)."""
    rng = np.random.default_rng(seed)
    flat = _pixels(rng, dtype, H * W + 64)
    table = _table(n)
    for second, ry in rows:
        rx = rxs[-1] if second else rxs[0]
        with_table = np.full(n, 7, dtype)
        classified = np.full(n, 7, dtype)
        b, c, t = _row_both_ways(flat, W, H, n, ax, rx, ry, table, with_table, classified)
        np.testing.assert_array_equal(with_table, classified)
        assert t == b + (c - b) // 16 * 16  # every whole block through the table
        if c - b >= 16:
            assert tuple(table[2]) == (ax, rx, b, c)  # the table of this row's map and span


@njit
def _columns(theta, inp, out, align_corners):
    return forward._table_columns(theta, inp, out, align_corners)


def test_only_calls_with_one_channel_rows_at_one_height_get_a_table():
    """A table as wide as the output when some image's rows lie at one height (ay = 0, as the
    row code tests it), there is one channel and the rows are cut into spans; else none."""
    wide = forward.SPAN_COLUMNS
    turned = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0]])
    zoom = np.array([[0.5, 0.0, 0.1], [0.0, 0.5, 0.0]])

    def columns(thetas, shape=(1, 9, wide, 1), out_shape=(1, 9, wide, 1), ac=False):
        return _columns(np.array(thetas, np.float64), np.zeros(shape, np.float32),
                        np.zeros(out_shape, np.float32), ac)

    assert columns([turned, zoom]) == wide
    assert columns([zoom, turned]) == wide
    assert columns([turned, turned]) == 0
    assert columns([zoom], (1, 9, wide, 3), (1, 9, wide, 3)) == 0  # three channels
    assert columns([zoom], out_shape=(1, 9, wide - 1, 1)) == 0  # rows not cut into spans
    # with align_corners an image of one row has ay = 0 whatever θ
    assert columns([turned], (1, 1, wide, 1), ac=True) == wide
    assert _columns(np.zeros((1, 9, wide, 2)), np.zeros((1, 9, wide, 1)),
                    np.zeros((1, 9, wide, 1)), False) == 0  # a grid


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_warps_without_rotation_match_the_reference(dtype, ac, threads):
    """A batch of grey images: zooms in and out (by up to 1.95, 16 pixels' cells within 31
    columns), flips, x-shears (each row its own x map), shifts, and turns between them (a
    thread's table made again as the map changes), rows 300 and 157 wide (spans that end
    between blocks of 16)."""
    rng = np.random.default_rng(7)
    H, W = 19, 300
    thetas = np.array([[[0.5, 0.0, 0.01], [0.0, 0.7, -0.02]],
                       [[-0.8, 0.0, 0.3], [0.0, 0.9, 0.1]],
                       [[0.9, 0.3, 0.0], [0.0, 0.8, 0.05]],
                       [[0.8, -0.6, 0.0], [0.6, 0.8, 0.0]],
                       [[1.95, 0.0, 0.0], [0.0, 1.0, 0.0]],
                       [[0.5, 0.0, 0.01], [0.0, 0.7, -0.02]],
                       [[1.0, 0.0, 0.013], [0.0, 1.0, -0.3]]])
    x = rng.uniform(0, 255, (len(thetas), H, W, 1))
    x = x.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(x).astype(dtype)
    for out_w in (W, forward.SPAN_COLUMNS + 13):
        with R.numba_threads(threads):
            out = wk.warp(x, thetas, output_shape=(H, out_w), align_corners=ac)
        ref = R.affine_sample(x.astype(np.float64), thetas, (H, out_w), "bilinear", "zeros", ac,
                              0.0)
        if np.dtype(dtype).kind == "f":
            np.testing.assert_allclose(out, ref, **R.tolerances(dtype))
        else:
            exact = np.clip(np.round(ref), 0, np.iinfo(dtype).max)
            assert np.max(np.abs(out.astype(np.float64) - exact)) <= 1
