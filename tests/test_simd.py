"""The LLVM-IR helpers of the CPU kernels: ``borrow`` gives a view that shares the data,
shape and strides of its array and holds no reference (null meminfo), slices included;
``head_view`` is the first items of a contiguous array in a shape, also without a reference;
``lerp8`` and ``grad8`` compute the lanes they accept as a loop in numpy does and leave the
rest alone, ``lerp8_loads``, ``grad8_loads`` and ``lerp8_pairs`` (plain loads instead of
gathers) as ``lerp8`` and ``grad8`` do (to the bit), ``lerp8_window`` (a row at one height, its
corners picked from two windows, with AVX-512's permute or lane by lane) as ``lerp8_pairs`` and
``lerp8c`` do (to the bit), ``lerp8c_window`` (the same with 3 or 4 channels) as ``lerp4`` does
pixel by pixel (to the bit), ``lerp8c`` 8 integer pixels of 1, 3 or 4
channels as numpy does and as the scalar code and ``lerp4`` do (to the bit), or none when one is
past its limit,
``edge8`` edge pixels as numpy does and as the scalar edge code does (to the bit), and
``grad4`` a pixel's gradients from its first 3 or 4 lanes; ``dynamic`` passes a literal on as
a plain value."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from warpkit.backends._cpu.common import _FASTMATH, _head
from warpkit.backends._cpu.gather import _edge_bilinear, _lerp_scalar
from warpkit.backends._simd import (
    alwaysinline,
    borrow,
    dynamic,
    edge8,
    grad4,
    grad8,
    grad8_loads,
    head_view,
    lerp4,
    lerp8,
    lerp8_loads,
    lerp8_pairs,
    lerp8_window,
    lerp8c,
    lerp8c_loads,
    lerp8c_window,
    noinline,
    prefer512,
    restrict,
)


@intrinsic
def _meminfo(typingctx, arr):
    """The address of an array's meminfo (0 for none)."""

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.meminfo, ir.IntType(64))

    return types.uint64(arr), codegen


@njit
def _owned_and_borrowed(a):
    v = borrow(a)
    return _meminfo(a), _meminfo(v), _meminfo(v[1:]), _meminfo(v.reshape(v.size))


@njit
def _write_through(a, value):
    v = borrow(a)
    v[1, 2] = value
    return v.shape, v.strides, v.sum()


def test_a_borrowed_view_holds_no_reference():
    a = np.arange(12.0).reshape(3, 4)
    owned, view, row_slice, flat = _owned_and_borrowed(a)
    assert owned != 0
    assert (view, row_slice, flat) == (0, 0, 0)


def test_a_borrowed_view_shares_data_shape_and_strides():
    base = np.arange(40.0).reshape(5, 8)
    a = base[::2, 1:6]  # not contiguous: strides must carry over
    shape, strides, total = _write_through(a, -100.0)
    assert base[2, 3] == -100.0
    assert shape == a.shape and strides == a.strides
    assert total == a.sum()


@njit
def _head_2d(a, r, c, value):
    v = _head(a, (r, c))
    if v.size:
        v[r - 1, c - 1] = value
    return v.copy(), _meminfo(v), v.strides


@njit
def _head_4d(a, shape):
    return head_view(a, shape).copy()


@settings(max_examples=30, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint8]),
       rows=st.integers(1, 5), cols=st.integers(1, 9), r=st.integers(0, 5), c=st.integers(0, 9))
def test_head_view_is_the_first_items_in_the_shape_asked(dtype, rows, cols, r, c):
    a = np.arange(rows * cols).astype(dtype).reshape(rows, cols)
    if r * c > a.size:
        with pytest.raises(ValueError, match="more items"):
            _head_2d(a, r, c, 7)
        return
    expected = a.ravel()[:r * c].reshape(r, c).copy()
    got, meminfo, strides = _head_2d(a, r, c, 7)
    if r * c:
        expected[r - 1, c - 1] = 7
        assert a.ravel()[r * c - 1] == 7  # a view: the write went through
    np.testing.assert_array_equal(got, expected)
    assert meminfo == 0
    assert strides == (c * a.itemsize, a.itemsize)  # C order


def test_head_view_takes_any_number_of_dimensions():
    a = np.arange(30.0)
    np.testing.assert_array_equal(_head_4d(a, (1, 2, 3, 4)), a[:24].reshape(1, 2, 3, 4))


@njit
def _lerp8(flat, oflat, offs, wts, base, j, q, step, lim):
    return lerp8(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                 np.uint64(step), np.uint64(lim), None, None, None)


@njit
def _lerp8_fill(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill):
    return lerp8(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                 np.uint64(step), np.uint64(lim), np.uint64(flag), np.int64(code),
                 oflat.dtype.type(fill))


def _lerp8_loop(flat, oflat, offs, wts, base, j, q, step, lim, flag=None, code=None, fill=None):
    """lerp8 as a loop in numpy (float64 sums: compared with a float32 tolerance)."""
    out = oflat.astype(np.float64)
    rest = 0
    for k in range(8):
        o = int(offs[j + k])
        flagged = flag is not None and 0 <= o - flag < lim
        if 0 <= o < lim or flagged:
            r = base + (o - flag if flagged else o)
            w = wts[:, j + k].astype(np.float64)
            v = flat[[r, r + 1, r + step, r + step + 1]].astype(np.float64)
            value = v @ w
            if flagged and np.isnan(value):
                rest |= 1 << k
            else:
                out[q + k] = value
        elif code is not None and o == code:
            out[q + k] = oflat.dtype.type(fill)
        else:
            rest |= 1 << k
    return out, rest


STEP, ROWS = 7, 6  # an image of 6 rows of 7 values after ``base`` others
LIM = STEP * (ROWS - 1) - 1  # every offset below it reads inside the image
FLAG = 1 << 62


def _eight_lanes(test):
    """Both float dtypes, and 40 cases of (seed, j, q, base) each."""
    test = given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
                 base=st.integers(0, 6))(test)
    test = settings(max_examples=40, deadline=None)(test)
    return pytest.mark.parametrize("dtype", [np.float32, np.float64])(test)


def _lanes(dtype, seed, j, base, specials=False):
    """(rng, flat, offs): an image (with NaN and ±inf among its values when ``specials``), and
    j + 8 offsets: 50% inside, 20% inside with the flag ``FLAG``, the rest the gather's codes,
    ``LIM`` itself and just past it, with the flag or without."""
    rng = np.random.default_rng(seed)
    flat = rng.standard_normal(base + STEP * ROWS).astype(dtype)
    if specials:
        flat[rng.random(flat.size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
    codes = [-1, -2, LIM, LIM + 5, FLAG + LIM, FLAG + LIM + 5, FLAG - 1]
    u = rng.random(j + 8)
    offs = np.where(u < 0.5, rng.integers(0, LIM, j + 8),
                    np.where(u < 0.7, FLAG + rng.integers(0, LIM, j + 8),
                             rng.choice(codes, j + 8))).astype(np.int64)
    return rng, flat, offs


@_eight_lanes
@pytest.mark.parametrize("fills", [False, True])
def test_lerp8_samples_the_lanes_below_lim_and_leaves_the_rest(dtype, seed, j, q, base, fills):
    """Lanes below lim are sampled; with a flag, flagged lanes too, but left when their result
    is NaN; with a code, its lanes get the fill (reading nothing); every other lane is
    reported and left as it was (lanes of a flagged offset past lim read nothing either)."""
    rng, flat, offs = _lanes(dtype, seed, j, base, specials=True)
    step, lim = STEP, LIM
    wts = rng.random((4, j + 8)).astype(dtype)
    oflat = np.full(q + 8, 9.0, dtype)
    if fills:
        flag, code, fill = FLAG, int(rng.choice([-1, -2])), float(rng.standard_normal())
        want, want_rest = _lerp8_loop(flat, oflat, offs, wts, base, j, q, step, lim, flag, code,
                                      fill)
        rest = _lerp8_fill(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill)
        filled = [q + k for k in range(8) if offs[j + k] == code]
        assert np.all(oflat[filled] == dtype(fill))
    else:
        want, want_rest = _lerp8_loop(flat, oflat, offs, wts, base, j, q, step, lim)
        rest = _lerp8(flat, oflat, offs, wts, base, j, q, step, lim)
    assert rest == want_rest
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(oflat, want, rtol=tol, atol=tol)
    untouched = [q + k for k in range(8) if rest >> k & 1] + list(range(q))
    assert np.all(oflat[untouched] == 9.0)


@njit
def _lerp8_loads(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill):
    return lerp8_loads(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                       np.uint64(step), np.uint64(lim), np.uint64(flag), np.int64(code),
                       oflat.dtype.type(fill))


@_eight_lanes
def test_lerp8_loads_writes_and_leaves_what_lerp8_does(dtype, seed, j, q, base):
    """Interior, flagged (NaN results left), filled and other lanes: the same values to the bit
    and the same lanes left."""
    rng, flat, offs = _lanes(dtype, seed, j, base, specials=True)
    wts = rng.random((4, j + 8)).astype(dtype)
    code, fill = int(rng.choice([-1, -2])), float(rng.standard_normal())
    got, want = np.full(q + 9, 9.0, dtype), np.full(q + 9, 9.0, dtype)
    rest = _lerp8_loads(flat, got, offs, wts, base, j, q, STEP, LIM, FLAG, code, fill)
    assert rest == _lerp8_fill(flat, want, offs, wts, base, j, q, STEP, LIM, FLAG, code, fill)
    np.testing.assert_array_equal(got, want)


@njit
def _lerp8_pairs(flat, oflat, offs, wts, base, j, q, step):
    lerp8_pairs(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                np.uint64(step))


@_eight_lanes
def test_lerp8_pairs_samples_8_interior_pixels_as_lerp8(dtype, seed, j, q, base):
    """Every lane inside (a row's interior span): the values of lerp8, to the bit, NaN and ±inf
    corners included, which a loop in numpy gives up to rounding; nothing else is written."""
    rng, flat, _ = _lanes(dtype, seed, j, base, specials=True)
    offs = rng.integers(0, LIM, j + 8).astype(np.int64)
    wts = rng.random((4, j + 8)).astype(dtype)
    got = np.full(q + 9, 9.0, dtype)
    _lerp8_pairs(flat, got, offs, wts, base, j, q, STEP)
    want = np.full(q + 9, 9.0, dtype)
    assert _lerp8(flat, want, offs, wts, base, j, q, STEP, LIM) == 0
    np.testing.assert_array_equal(got, want)
    loop, _ = _lerp8_loop(flat, np.full(q + 9, 9.0, dtype), offs, wts, base, j, q, STEP, LIM)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, loop, rtol=tol, atol=tol)
    assert np.all(got[:q] == 9.0) and got[q + 8] == 9.0


@njit
def _lerp8_window(flat, oflat, offs, wts, base, j, q, step):
    lerp8_window(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                 np.uint64(step))


@pytest.fixture(scope="module")
def lane_by_lane():
    """The window steps compiled without the permute (as for a processor without AVX-512), by
    channels: ``_lerp8_window`` for 1, ``lerp8c_window`` for 3 and 4. ``PERMUTE16`` is read
    when a step is compiled."""
    from warpkit.backends import _simd

    @njit
    def window(flat, oflat, offs, wts, base, j, q, step):
        lerp8_window(flat, oflat, offs, wts, np.uint64(base), np.uint64(j), np.uint64(q),
                     np.uint64(step))

    windows = {nc: _lerp8c_window_of(nc) for nc in (3, 4)}
    saved = _simd.PERMUTE16
    _simd.PERMUTE16 = False
    try:  # compiled at the first call of each dtype, for the calls after it
        for dtype in WINDOW_DTYPES:
            window(np.zeros(64, dtype), np.zeros(8, dtype), np.zeros(8, np.int64),
                   np.zeros((4, 8), np.float32), 0, 0, 0, 24)
            for step in windows.values():
                step(np.zeros(128, dtype), np.zeros(32, dtype), np.zeros(8, np.int64),
                     np.zeros((4, 8), np.float32), 0, 0, 0, 48)
    finally:
        _simd.PERMUTE16 = saved
    windows[1] = window
    return windows


def _lerp8c_window_of(nc):
    @njit
    def call(flat, oflat, offs, wts, base, j, q, step):
        u = np.uint64
        lerp8c_window(flat, oflat, offs, wts, u(base), u(j), u(q), u(step), nc)

    return call


_LERP8C_WINDOW = {nc: _lerp8c_window_of(nc) for nc in (3, 4)}


#: What lerp8_window takes: float32 pixels, and one-channel integer ones of lerp8c's types
WINDOW_DTYPES = (np.float32, np.uint8, np.uint16, np.int16)


@pytest.mark.parametrize("nc, first, last, room, fits", [
    (1, 30, 44, 16, True), (1, 44, 30, 16, True), (1, 30, 30, 16, True),  # 15 columns
    (1, 30, 45, 16, False), (1, 45, 30, 16, False),  # 16 columns
    (1, 30, 44, 15, False), (1, 44, 30, 15, False),  # the second window would end one value past
    (3, 30, 56, 32, True), (3, 56, 30, 32, True),  # 9 columns of 3 values
    (3, 30, 59, 32, False), (3, 59, 30, 32, False), (3, 30, 56, 31, False),  # 10; one past
    (4, 32, 56, 32, True), (4, 56, 32, 32, True),  # 7 columns of 4 values
    (4, 32, 60, 32, False), (4, 60, 32, 32, False), (4, 32, 56, 31, False),  # 8; one past
])
def test_a_level_block_takes_windows_that_hold_its_cells_inside_the_array(nc, first, last, room,
                                                                          fits):
    """``_window_fits``: the first and last of 8 offsets at most 14 values apart with one channel
    (windows of 16 values), 32 - 2·nc with 3 or 4 (windows of 32), and a window's values from
    the least one's cell to the end of ``flat`` beyond its row (rows of 48 values)."""
    from warpkit.backends._cpu.gather import _window_fits

    base, WC = 5, 48
    flat = np.zeros(base + min(first, last) + WC + room, np.float32)
    offs = np.linspace(first, last, 8).round().astype(np.int64)
    assert _window_fits(flat, offs, base, np.uint64(0), WC, nc) is fits


def _window_pixels(rng, dtype, size):
    """``size`` random pixels of ``dtype`` for the window and edge steps: float32 ones with NaN
    and ±inf among them, integers over their whole range."""
    if dtype == np.float32:
        flat = rng.standard_normal(size).astype(dtype)
        flat[rng.random(flat.size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
        return flat
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size, endpoint=True).astype(dtype)


def _level_columns(rng, spread):
    """The columns of 8 pixels' cells in a row at one height, from the first: rising, some
    repeated, the first 0 and the last ``spread`` (the full spread)."""
    columns = np.sort(rng.integers(0, spread + 1, 8))
    columns[[0, -1]] = 0, spread
    return columns


W_STEP, W_ROWS = 24, 3  # rows of 24 values; the two windows of 16 end within 16 past them


@pytest.mark.parametrize("dtype", WINDOW_DTYPES)
@given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
       base=st.integers(0, 6), spread=st.integers(0, 14), down=st.booleans())
@settings(max_examples=40, deadline=None)
def test_lerp8_window_samples_a_level_row_as_the_blocks_do(lane_by_lane, dtype, seed, j, q,
                                                            base, spread, down):
    """8 pixels of a row at one height (offsets monotonic, rising or falling, the first and
    last at most 14 apart, cells repeating): the values of lerp8_pairs (float32, NaN and ±inf
    corners included) or of lerp8c (integers, rounded and clipped) to the bit, with the
    permute and lane by lane; nothing else is written."""
    rng = np.random.default_rng(seed)
    flat = _window_pixels(rng, dtype, base + W_STEP * W_ROWS + 16)
    columns = _level_columns(rng, spread)
    start = rng.integers(0, W_STEP - 1 - spread)
    row = rng.integers(0, W_ROWS - 1)
    offs = rng.integers(0, W_STEP, j + 8).astype(np.int64)  # lanes before j: not read
    offs[j:] = row * W_STEP + start + (columns[::-1] if down else columns)
    wts = rng.random((4, j + 8)).astype(np.float32)
    want = np.full(q + 9, 9, dtype)
    if dtype == np.float32:
        _lerp8_pairs(flat, want, offs, wts, base, j, q, W_STEP)
    else:
        assert _LERP8C[1](flat, want, offs, wts, base, j, q, W_STEP, flat.size)
    for step in (_lerp8_window, lane_by_lane[1]):
        got = np.full(q + 9, 9, dtype)
        step(flat, got, offs, wts, base, j, q, W_STEP)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("nc", [3, 4])
@pytest.mark.parametrize("dtype", WINDOW_DTYPES)
@given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
       base=st.integers(0, 6), spread=st.integers(0, 8), down=st.booleans())
@settings(max_examples=40, deadline=None)
def test_lerp8c_window_samples_a_level_row_as_lerp4_does(lane_by_lane, nc, dtype, seed, j, q,
                                                         base, spread, down):
    """8 pixels of 3 or 4 channels of a row at one height (cells monotonic, rising or falling,
    the first and last up to 32 - 2·nc values apart, repeating): lerp4's values pixel by pixel
    to the bit (float32 with NaN and ±inf corners; integers rounded and clipped), with the
    permute and lane by lane; exactly the 8·nc values are written."""
    rng = np.random.default_rng(seed)
    step_ = 16 * nc  # rows of 16 pixels
    flat = _window_pixels(rng, dtype, base + step_ * W_ROWS + 32)
    spread = min(spread, (32 - 2 * nc) // nc)  # in columns
    columns = _level_columns(rng, spread)
    start = rng.integers(0, 16 - 1 - spread)
    row = rng.integers(0, W_ROWS - 1)
    offs = rng.integers(0, step_, j + 8).astype(np.int64)  # lanes before j: not read
    offs[j:] = row * step_ + nc * (start + (columns[::-1] if down else columns))
    wts = rng.random((4, j + 8)).astype(np.float32)
    end = q + 8 * nc
    want = np.full(end + 4, 9, dtype)
    _lerp4_pixels(flat, want, offs, wts, base, j, q, step_, nc)
    want[end:] = 9  # lerp4's 4th lane of the last pixel, with 3 channels
    for step in (_LERP8C_WINDOW[nc], lane_by_lane[nc]):
        got = np.full(end + 4, 9, dtype)
        step(flat, got, offs, wts, base, j, q, step_)
        np.testing.assert_array_equal(got, want)


def _lerp8c_of(nc, step=lerp8c):
    @njit
    def call(flat, oflat, offs, wts, base, j, q, row, lim):
        u = np.uint64
        return step(flat, oflat, offs, wts, u(base), u(j), u(q), u(row), u(lim), nc)

    return call


_LERP8C = {nc: _lerp8c_of(nc) for nc in (1, 3, 4)}
_LERP8C_LOADS = {nc: _lerp8c_of(nc, lerp8c_loads) for nc in (1, 3, 4)}


@njit(fastmath={"contract"})
def _scalar_pixels(flat, oflat, offs, wts, base, j, q, row, nc, lanes):
    """The pixels k of ``lanes`` one value at a time in float32, rounded half to even and
    clipped."""
    lo, hi = np.iinfo(oflat.dtype).min, np.iinfo(oflat.dtype).max
    f = np.float32
    for k in lanes:
        r = base + offs[j + k]
        a, b, c, d = wts[0, j + k], wts[1, j + k], wts[2, j + k], wts[3, j + k]
        for ch in range(nc):
            v = (f(flat[r + ch]) * a + f(flat[r + nc + ch]) * b) + (
                f(flat[r + row + ch]) * c + f(flat[r + row + nc + ch]) * d)
            oflat[q + nc * k + ch] = min(max(np.rint(v), lo), hi)


@njit(fastmath={"contract"})
def _lerp4_pixels(flat, oflat, offs, wts, base, j, q, row, nc):
    """lerp4 pixel by pixel, as the span loop runs it where lerp8c does not."""
    u = np.uint64
    for k in range(8):
        p = u(base + offs[j + k])
        lerp4(flat, oflat, p, p + u(row), u(nc), u(q + nc * k), wts[0, j + k], wts[1, j + k],
              wts[2, j + k], wts[3, j + k])


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.int8, np.uint16, np.int16]),
       seed=st.integers(0, 2**32 - 1), nc=st.sampled_from([1, 3, 4]), j=st.integers(0, 4),
       q=st.integers(0, 4), base=st.integers(0, 6), past=st.integers(0, 8))
def test_lerp8c_samples_8_pixels_as_the_scalar_code_or_none(dtype, seed, nc, j, q, base, past):
    """8 pixels of an integer image, each the bilinear of its cell in float32, rounded and
    clipped to the dtype (within 1 of the exactly rounded value, equal to the scalar code's
    and to lerp4's to the bit), when every offset is below ``lim``; with one at or past it (or
    a negative code), nothing read or written. Returns whether it wrote."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    W, H = 9, 6
    row = W * nc
    flat = rng.integers(info.min, info.max, base + H * row + 2, endpoint=True).astype(dtype)
    cells = rng.integers(0, H - 1, j + 8) * row + rng.integers(0, W - 1, j + 8) * nc
    lim = (H - 1) * row  # every cell above is inside
    out = rng.permutation(8)[:past]  # these at or past lim
    cells[j + out] = rng.choice([lim, lim + nc, lim + 5 * nc, -1, -2], past)
    offs = cells.astype(np.int64)
    wts = rng.random((4, j + 8)).astype(np.float32)
    wts /= wts.sum(axis=0)
    got = np.full(q + 8 * nc + 4, 7, dtype)
    wrote = _LERP8C[nc](flat, got, offs, wts, base, j, q, row, lim)
    assert wrote == (past == 0)
    loads = np.full_like(got, 7)  # plain loads for one channel (gathers for 3 and 4): the same
    assert _LERP8C_LOADS[nc](flat, loads, offs, wts, base, j, q, row, lim) == wrote
    np.testing.assert_array_equal(loads, got)
    written = list(range(8)) if wrote else []
    values = [q + nc * k + c for k in written for c in range(nc)]
    assert np.all(np.delete(got, values) == 7)
    for k in written:  # numpy, in float64
        r = base + int(offs[j + k])
        v = flat[[r + i + c for i in (0, nc, row, row + nc) for c in range(nc)]]
        want = wts[:, j + k].astype(np.float64) @ v.reshape(4, nc).astype(np.float64)
        want = np.clip(np.rint(want), info.min, info.max)
        assert np.abs(got[q + nc * k:q + nc * (k + 1)] - want).max() <= 1
    scalar = np.full_like(got, 7)
    _scalar_pixels(flat, scalar, offs, wts, base, j, q, row, nc, np.array(written, np.int64))
    np.testing.assert_array_equal(got, scalar)
    if nc > 1 and wrote:
        four = np.full_like(got, 7)
        _lerp4_pixels(flat, four, offs, wts, base, j, q, row, nc)
        if nc == 3:
            four[q + 8 * nc] = 7  # lerp4's 4th lane after the last pixel, which lerp8c leaves
        np.testing.assert_array_equal(got, four)


@njit(fastmath=_FASTMATH)
def _lerp_scalar_pixels(flat, oflat, offs, wts, row, nc):
    """The gather's scalar bilinear (:func:`_lerp_scalar`) for every pixel of ``offs``."""
    u = np.uint64
    for k in range(offs.shape[0]):
        p = u(offs[k])
        _lerp_scalar(flat, oflat, p, p + u(row), u(nc), u(nc * k), wts[0, k], wts[1, k],
                     wts[2, k], wts[3, k], nc, wts)


@pytest.mark.parametrize("nc", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_the_scalar_bilinear_rounds_as_lerp8c(dtype, nc):
    """The pixels that the span loop and the gather take one at a time (the scalar
    :func:`_lerp_scalar`) equal lerp8c's to the bit, for every integer dtype: both compute in
    the weights' float32. 6000 pixels of full-range values, enough that computing in float64
    (as numba's promotion of uint16 times float32 would) makes dozens of them 1 apart."""
    rng = np.random.default_rng(nc * 100 + np.dtype(dtype).num)
    info = np.iinfo(dtype)
    W, H, n = 40, 30, 6000
    row = W * nc
    flat = rng.integers(info.min, info.max, H * row + 4, endpoint=True).astype(dtype)
    offs = (rng.integers(0, H - 1, n) * row + rng.integers(0, W - 1, n) * nc).astype(np.int64)
    wts = rng.random((4, n)).astype(np.float32)
    wts /= wts.sum(axis=0)
    scalar = np.zeros(n * nc + 4, dtype)
    _lerp_scalar_pixels(flat, scalar, offs, wts, row, nc)
    eight = np.zeros_like(scalar)
    for j in range(0, n, 8):
        assert _LERP8C[nc](flat, eight, offs, wts, 0, j, nc * j, row, len(flat))
    np.testing.assert_array_equal(scalar, eight)


@njit(fastmath={"contract"})
def _edge8_all(flat, oflat, px, py, edges, ne, base, obase, W, H, fill, wts):
    """edge8 over edges[:ne], 8 at a time; the lanes it left, as 0/1 per entry."""
    left = np.zeros(ne + 8, np.int64)
    for k in range(0, ne, 8):
        bits = edge8(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts)
        for i in range(8):
            left[k + i] = (bits >> np.uint64(i)) & np.uint64(1)
    return left[:ne]


@njit(fastmath={"contract"})
def _edge_scalar(flat, oflat, px, py, edges, ne, base, obase, W, H, cval, wts):
    """The scalar edge code the kernels ran on every edge pixel before edge8 (and still do on
    those of other channel counts and dtypes), compiled as the kernels compile it."""
    for k in range(ne):
        j = edges[k]
        if px[j] == px[j] and py[j] == py[j]:
            _edge_bilinear(flat, oflat, base, obase + j, px[j], py[j], W, H, 1, cval, wts)


def _edge_loop(flat, out, px, py, edges, ne, base, obase, W, H, fill):
    """Bilinear at each listed pixel as a loop in numpy: corners outside the image read fill
    (in float64, for every dtype)."""
    out = out.astype(np.float64)
    for j in edges[:ne]:
        x, y = px[j], py[j]
        if np.isnan(x) or np.isnan(y):
            continue
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        total = 0.0
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            r, c = y0 + dy, x0 + dx
            v = float(flat[base + r * W + c]) if 0 <= r < H and 0 <= c < W else fill
            wx = x - x0 if dx else 1 - (x - x0)
            wy = y - y0 if dy else 1 - (y - y0)
            with np.errstate(invalid="ignore"):
                total += v * wx * wy
        out[obase + j] = total
    return out


def _edge_case(rng, W, H, n):
    """Coordinates of n pixels in (-1, W) x (-1, H) (some on the pixel grid, some NaN) and a
    list of edge pixels among them, as the kernels' buffers hold them."""
    px, py = rng.uniform(-1, W, n), rng.uniform(-1, H, n)
    whole = rng.random(n) < 0.3  # on the pixel grid: fractions 0
    px[whole] = np.floor(px[whole])
    py[rng.random(n) < 0.1] = np.nan
    px[rng.random(n) < 0.1] = np.nan
    ne = int(rng.integers(0, n + 1))
    edges = np.zeros(n + 8, np.intp)  # as the kernels' buffers: room past the count
    edges[:ne] = rng.permutation(n)[:ne]
    return px, py, edges, ne


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1),
       W=st.integers(1, 9), H=st.integers(1, 9), n=st.integers(1, 30), obase=st.integers(0, 3))
def test_edge8_samples_the_listed_edge_pixels_and_leaves_nan(dtype, seed, W, H, n, obase):
    """Each listed pixel with finite coordinates in (-1, W) x (-1, H) gets its bilinear value,
    corners outside the image reading the fill value, equal to the bit to the scalar edge code;
    pixels with a NaN coordinate are reported and, like the pixels not listed, left alone."""
    rng = np.random.default_rng(seed)
    flat = rng.standard_normal(2 * H * W).astype(dtype)  # two images
    flat[rng.random(flat.size) < 0.1] = rng.choice([np.inf, -np.inf, np.nan])
    px, py, edges, ne = _edge_case(rng, W, H, n)
    base, fill = int(rng.integers(0, 2)) * H * W, float(rng.standard_normal())
    got = np.full(obase + n, 5.0, dtype)
    left = _edge8_all(flat, got, px, py, edges, ne, base, obase, W, H, fill, got)
    listed = edges[:ne]
    np.testing.assert_array_equal(left, np.isnan(px[listed]) | np.isnan(py[listed]))
    want = _edge_loop(flat, np.full(obase + n, 5.0, dtype), px, py, edges, ne, base, obase, W,
                      H, fill)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    scalar = np.full(obase + n, 5.0, dtype)
    _edge_scalar(flat, scalar, px, py, edges, ne, base, obase, W, H, np.array([fill]), scalar)
    np.testing.assert_array_equal(got.view(np.uint8), scalar.view(np.uint8))


@settings(max_examples=80, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.int8, np.uint16, np.int16]),
       seed=st.integers(0, 2**32 - 1), W=st.integers(1, 9), H=st.integers(1, 9),
       n=st.integers(1, 30), obase=st.integers(0, 3),
       fill=st.one_of(st.floats(-1e5, 1e5), st.sampled_from([np.nan, np.inf, -np.inf, 1e30])))
# fills beyond every range and NaN, each on pixels whose outside corners weigh something
@example(dtype=np.uint8, seed=1, W=3, H=3, n=30, obase=0, fill=np.nan)
@example(dtype=np.int16, seed=2, W=3, H=3, n=30, obase=1, fill=np.nan)
@example(dtype=np.uint8, seed=3, W=3, H=3, n=30, obase=0, fill=np.inf)
@example(dtype=np.int8, seed=4, W=3, H=3, n=30, obase=2, fill=-np.inf)
@example(dtype=np.uint16, seed=5, W=3, H=3, n=30, obase=0, fill=1e30)
def test_edge8_stores_integer_pixels_as_the_scalar_edge_code(dtype, seed, W, H, n, obase, fill):
    """Integer images (at most 16 bits, float32 weights): each listed pixel gets the scalar edge
    code's integer, to the bit (computed in float64, then in float32 clipped to the dtype's
    range, NaN as 0, rounded half to even), with a finite fill within one of the rounded
    float64 bilinear value clipped to the range; pixels with a NaN coordinate are reported and
    left alone."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    flat = _window_pixels(rng, dtype, 2 * H * W)  # two images
    px, py, edges, ne = _edge_case(rng, W, H, n)
    base = int(rng.integers(0, 2)) * H * W
    wts = np.zeros((4, 1), np.float32)  # the computing dtype (only its dtype is read)
    got = np.full(obase + n, 5, dtype)
    left = _edge8_all(flat, got, px, py, edges, ne, base, obase, W, H, fill, wts)
    listed = edges[:ne]
    np.testing.assert_array_equal(left, np.isnan(px[listed]) | np.isnan(py[listed]))
    scalar = np.full(obase + n, 5, dtype)
    _edge_scalar(flat, scalar, px, py, edges, ne, base, obase, W, H, np.array([fill]), wts)
    np.testing.assert_array_equal(got, scalar)
    if np.isfinite(fill):  # (the loop weighs a fill of weight 0 too: inf·0 is NaN there)
        want = _edge_loop(flat, np.full(obase + n, 5.0), px, py, edges, ne, base, obase, W, H,
                          fill)
        want = np.clip(np.round(want), info.min, info.max)
        assert np.max(np.abs(got - want), initial=0) <= 1


@njit
def _grad4(flat, gflat, p, p2, step, q, fx, fy, nc):
    u = np.uint64
    if nc == 3:
        return grad4(flat, gflat, u(p), u(p2), u(step), u(q), fx, fy, 3)
    return grad4(flat, gflat, u(p), u(p2), u(step), u(q), fx, fy, 4)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1),
       nc=st.sampled_from([3, 4]), p=st.integers(0, 20), q=st.integers(0, 20),
       special=st.sampled_from([None, np.inf, np.nan]))
def test_grad4_differentiates_a_pixel_from_its_first_lanes(dtype, seed, nc, p, q, special):
    """With 3 channels the 4th lane is read and left out: inf or NaN there changes nothing
    (after the right corners and after g; after a left corner it is the right one's first
    channel)."""
    rng = np.random.default_rng(seed)
    step, row = nc, 40
    flat = rng.standard_normal(p + row + step + 4).astype(dtype)
    gflat = rng.standard_normal(q + 4).astype(dtype)
    fx, fy = rng.random(2)
    if special is not None and nc == 3:  # the junk lanes after each corner and after g
        for i in (p + step + 3, p + row + step + 3):
            flat[i] = special
        gflat[q + 3] = special
    gx, gy = _grad4(flat, gflat, p, p + row, step, q, fx, fy, nc)
    want_x = want_y = 0.0
    for c in range(nc):
        v00, v01, v10, v11 = (float(flat[i + c]) for i in (p, p + step, p + row, p + row + step))
        g = float(gflat[q + c])
        want_x += g * ((v01 - v00) * (1 - fy) + (v11 - v10) * fy)
        want_y += g * ((v10 - v00) * (1 - fx) + (v11 - v01) * fx)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose([gx, gy], [want_x, want_y], rtol=tol, atol=tol)


@njit
def _grad8(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim):
    grad8(flat, gflat, offs, fxs, fys, dgx, dgy, np.uint64(base), np.uint64(j), np.uint64(q),
          np.uint64(step), np.uint64(lim))


@_eight_lanes
def test_grad8_differentiates_the_lanes_below_lim_and_leaves_the_rest(dtype, seed, j, q, base):
    rng, flat, offs = _lanes(dtype, seed, j, base)
    step, lim = STEP, LIM
    gflat = rng.standard_normal(q + 8).astype(dtype)
    fxs, fys = rng.random(j + 8), rng.random(j + 8)
    dgx, dgy = np.full(j + 8, 9.0), np.full(j + 8, 9.0)
    _grad8(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for k in range(j + 8):
        o = int(offs[k])
        if k < j or not 0 <= o < lim:
            assert dgx[k] == 9.0 and dgy[k] == 9.0
            continue
        r = base + o
        v00, v01, v10, v11 = flat[[r, r + 1, r + step, r + step + 1]].astype(np.float64)
        g, fx, fy = float(gflat[q + k - j]), fxs[k], fys[k]
        want_x = g * ((v01 - v00) * (1 - fy) + (v11 - v10) * fy)
        want_y = g * ((v10 - v00) * (1 - fx) + (v11 - v01) * fx)
        np.testing.assert_allclose([dgx[k], dgy[k]], [want_x, want_y], rtol=tol, atol=tol)


@njit
def _grad8_loads(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim):
    grad8_loads(flat, gflat, offs, fxs, fys, dgx, dgy, np.uint64(base), np.uint64(j),
                np.uint64(q), np.uint64(step), np.uint64(lim))


@given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
       base=st.integers(0, 6))
@settings(max_examples=40, deadline=None)
def test_grad8_loads_gives_what_grad8_does(seed, j, q, base):
    """float32 pixels (those the backward gives it): the same values to the bit."""
    dtype = np.float32
    rng, flat, offs = _lanes(dtype, seed, j, base, specials=True)
    gflat = rng.standard_normal(q + 8).astype(dtype)
    fxs, fys = rng.random(j + 8), rng.random(j + 8)
    got = np.full(j + 8, 9.0), np.full(j + 8, 9.0)
    want = np.full(j + 8, 9.0), np.full(j + 8, 9.0)
    _grad8_loads(flat, gflat, offs, fxs, fys, *got, base, j, q, STEP, LIM)
    _grad8(flat, gflat, offs, fxs, fys, *want, base, j, q, STEP, LIM)
    np.testing.assert_array_equal(got, want)


def test_prefer512_sets_the_vector_width_attribute_of_its_caller():
    @njit
    def hinted(a):
        prefer512()
        for i in range(a.shape[0]):
            a[i] *= 2.0

    @njit
    def plain(a):
        for i in range(a.shape[0]):
            a[i] *= 2.0

    a = np.ones(16)
    hinted(a)
    plain(a)
    np.testing.assert_array_equal(a, 4.0)
    attr = '"prefer-vector-width"="512"'
    assert attr in hinted.inspect_llvm(hinted.signatures[0])
    assert attr not in plain.inspect_llvm(plain.signatures[0])


def test_noinline_keeps_its_caller_out_of_line():
    @njit
    def kept(a):
        noinline()
        a[0] += 1.0

    @njit
    def free(a):
        a[0] += 1.0

    @njit
    def calls_kept(a):
        kept(a)

    @njit
    def calls_free(a):
        free(a)

    a = np.zeros(2)
    calls_kept(a)
    calls_free(a)
    np.testing.assert_array_equal(a, [2.0, 0.0])

    assert _calls(calls_kept, "kept")
    assert not _calls(calls_free, "free")  # LLVM inlines a small function without the hint


def _calls(f, name):
    """Whether the compiled ``f`` calls the function ``name`` (numba's mangled names hold the
    length of the name before it)."""
    ir = f.inspect_llvm(f.signatures[0])
    return re.search(rf"call [^\n]*@_ZN\S*\D{len(name)}{name}B", ir) is not None


@njit
def _nothing():
    pass


def _long_function(first):
    """A function with enough code that LLVM keeps it out of line when two call sites ask
    for it, which calls ``first`` first thing."""

    @njit
    def f(a, k):
        first()
        s = 0.0
        for i in range(a.shape[0]):
            x = a[i] * k
            s += x * x if x > 0.5 else (np.sqrt(abs(x)) if x > -0.5 else np.sin(x) * np.cos(x))
            a[i] = np.exp(-x) + np.log1p(abs(x)) * np.tanh(x) - s
        for i in range(a.shape[0] - 1, 0, -1):
            a[i - 1] += np.arctan2(a[i], s + 1.0) * np.cosh(a[i] * 1e-3)
        return s

    return f


def test_alwaysinline_puts_its_caller_into_every_call_site():
    pulled = _long_function(alwaysinline)
    left = _long_function(_nothing)

    @njit
    def calls_pulled(a):
        return pulled(a, 2.0) + pulled(a, 3.0)

    @njit
    def calls_left(a):
        return left(a, 2.0) + left(a, 3.0)

    a, b = np.linspace(-1, 1, 9), np.linspace(-1, 1, 9)
    np.testing.assert_array_equal(calls_pulled(a), calls_left(b))
    np.testing.assert_array_equal(a, b)
    assert not _calls(calls_pulled, "f")
    assert _calls(calls_left, "f")  # LLVM keeps the long function out of line without it


def test_restrict_marks_the_data_of_its_callers_arrays_noalias():
    @njit
    def hinted(a, b, k):
        restrict()
        for i in range(a.shape[0]):
            a[i] = b[i] * k

    @njit
    def plain(a, b, k):
        for i in range(a.shape[0]):
            a[i] = b[i] * k

    a, b = np.zeros(16), np.arange(16.0)
    hinted(a, b, 2.0)
    np.testing.assert_array_equal(a, 2.0 * b)
    plain(a, b, 3.0)
    np.testing.assert_array_equal(a, 3.0 * b)

    def data_args(f):
        """The parameters of the compiled function (its first ``define``) that hold the data
        of a and b."""
        head = next(line for line in f.inspect_llvm(f.signatures[0]).splitlines()
                    if line.startswith("define"))
        return [p for p in head.split(",") if p.endswith(("%arg.a.4", "%arg.b.4"))]

    hinted_data, plain_data = data_args(hinted), data_args(plain)
    assert len(hinted_data) == len(plain_data) == 2
    assert all("noalias" in arg for arg in hinted_data)
    assert not any("noalias" in arg for arg in plain_data)


def test_dynamic_makes_literal_arguments_plain_values():
    """Literals passed on to a jitted function compile it once per value; through
    ``dynamic``, once, for the plain types, with the same results."""

    def pick(flag, k):
        return k + 1 if flag else k - 1

    with_literals, with_dynamic = njit(pick), njit(pick)

    @njit
    def literal_calls():
        return with_literals(True, 0), with_literals(False, 0)

    @njit
    def dynamic_calls(k):
        return (with_dynamic(dynamic(True), dynamic(0)),
                with_dynamic(dynamic(False), dynamic(k)))

    assert literal_calls() == (1, -1)
    assert len(with_literals.signatures) == 2  # what dynamic is for: one per literal value
    assert dynamic_calls(5) == (1, 4)
    assert with_dynamic.signatures == [(types.boolean, types.int64)]
