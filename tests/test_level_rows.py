"""Rows at one height (maps without rotation) of 1, 3 or 4 channels 16 values (AVX-512) or 8
(AVX2) at a time from a table of their cells (``_simd.lerp_level``, ``_cpu.level``).

The step gives the values of the scalar code to the bit, 16 or 8 values a step, with the
processor's permutes and lane by lane; a row sampled through the table gives, to the bit, what
the same row gives through its classified cells and the span gather, which it replaces; a
thread's table is made again when the map or the span changes and kept when only the row
changes; only calls with such rows get a table; rows shrunk by 2 or more take blocks of the
values that fit; rows with columns outside the image (zeros or constant padding) give the row
code's values to the bit; and warps by such maps (zooms, flips, x-shears, batches that mix them
with turns) match the loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import reference as R
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numba import njit

import warpkit as wk
from warpkit._tuning import LEVEL_TABLE
from warpkit.backends._cpu import classify, forward, level
from warpkit.backends._cpu.common import _FASTMATH, affine_coeffs
from warpkit.backends._cpu.gather import _edge_bilinear, _fill, _lerp_scalar
from warpkit.backends._simd import lerp_level, muladd

#: What lerp_level takes: float32 pixels, and integer ones of lerp8c's types
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


#: (lanes, window) of ``lerp_level``: 16 or 8 values a step, windows of twice as many or as many
SHAPES = [(16, 32), (16, 16), (8, 16), (8, 8)]


def _steps():
    """``lerp_level`` of each of SHAPES, as functions of the same arguments."""
    def of(lanes, window):
        @njit
        def step(flat, oflat, cols, fxs, row, least, step, gy, fy, j, q, nc, stored):
            u = np.uint64
            lerp_level(flat, oflat, cols, fxs, u(row), np.int64(least), u(step),
                       np.float32(gy), np.float32(fy), u(j), u(q), np.int64(nc),
                       np.int64(stored), lanes, window)

        return step

    return {shape: of(*shape) for shape in SHAPES}


#: The steps as this processor compiles them: 16 values with AVX-512's permutes, 8 with AVX2's
#: (each lane by lane where the processor lacks its permute)
_STEPS = _steps()


@pytest.fixture(scope="module")
def lane_by_lane():
    """``lerp_level`` compiled without permutes (as for a processor without AVX2);
    ``PERMUTE16`` and ``PERMUTE8`` are read when the step is compiled."""
    from warpkit.backends import _simd

    steps = _steps()
    saved = _simd.PERMUTE16, _simd.PERMUTE8
    _simd.PERMUTE16 = _simd.PERMUTE8 = False
    try:  # compiled at the first call of each dtype, for the calls after it
        for step in steps.values():
            for dtype in DTYPES:
                step(np.zeros(100, dtype), np.zeros(16, dtype), np.zeros(16, np.int32),
                     np.zeros(16, np.float32), 0, 0, 40, 1.0, 0.0, 0, 0, 1, 16)
    finally:
        _simd.PERMUTE16, _simd.PERMUTE8 = saved
    return steps


@njit(fastmath=_FASTMATH)
def _scalar_values(flat, oflat, cells, wts, step, nc, q):
    """The scalar code's bilinear (:func:`.gather._lerp_scalar`, its rounding and stores) of
    each value of ``cells`` into ``oflat[q:]``: corners at the cell, ``nc`` values right, and
    ``step`` values down."""
    u = np.uint64
    for k in range(cells.shape[0]):
        p = u(cells[k])
        _lerp_scalar(flat, oflat, p, p + u(step), u(nc), u(q + k), wts[0, k], wts[1, k],
                     wts[2, k], wts[3, k], 1, wts)


@pytest.mark.parametrize("lanes, window", SHAPES)
@pytest.mark.parametrize("nc", [1, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), j=st.integers(0, 4), q=st.integers(0, 4),
       spread=st.integers(0, 30), down=st.booleans(), stored=st.integers(1, 16))
@settings(max_examples=30, deadline=None)
def test_lerp_level_samples_its_values_as_the_scalar_code_does(lane_by_lane, lanes, window, nc,
                                                               dtype, seed, j, q, spread, down,
                                                               stored):
    """16 or 8 values of a row at one height of ``nc`` channels (cells monotonic, rising or
    falling, repeating, up to 2·lanes - 1 - nc values apart with windows of 2·lanes values, up
    to lanes - 1 with windows of lanes; x fractions from the table, the y fraction of the row),
    all of them or the first ``stored`` (the others' cells anywhere): the scalar code's values
    given the same cells and ``_weights``' products (float32 with NaN and ±inf corners;
    integers rounded and clipped) to the bit, with the processor's permutes and lane by lane;
    nothing else is written."""
    rng = np.random.default_rng(seed)
    step, rows = 40, 3
    flat = _pixels(rng, dtype, step * rows + 32)
    spread = min(spread, 2 * lanes - 1 - nc if window == 2 * lanes else lanes - 1)
    pattern = np.sort(rng.integers(0, spread + 1, lanes))
    pattern[[0, -1]] = 0, spread
    least = int(rng.integers(0, step - 1 - spread))
    row = int(rng.integers(0, rows - 1)) * step
    cols = rng.integers(-5, 50, j + lanes).astype(np.int32)  # values before j: not read
    cols[j:] = least + (pattern[::-1] if down else pattern)
    stored = min(stored, lanes)
    cols[j + stored:] = rng.integers(-1000, 1000, lanes - stored)  # dropped: cells anywhere
    fxs = rng.random(j + lanes).astype(np.float32)
    fy = np.float32(rng.random())
    one = np.float32(1.0)
    gx, gy = one - fxs[j:], one - fy
    wts = np.stack([gx * gy, fxs[j:] * gy, gx * fy, fxs[j:] * fy])  # _weights, in float32
    want = np.full(q + lanes + 1, 9, dtype)
    _scalar_values(flat, want, (row + cols[j:j + stored]).astype(np.int64), wts, step, nc, q)
    for steps in (_STEPS, lane_by_lane):
        got = np.full(q + lanes + 1, 9, dtype)
        steps[lanes, window](flat, got, cols, fxs, row, least, step, gy, fy, j, q, nc, stored)
        np.testing.assert_array_equal(got, want)


@njit(fastmath=_FASTMATH)
def _row_both_ways(flat, W, H, n, ax, rx, ry, table, with_table, classified, nc):
    """One row (ix = ax·j + rx, iy = ry) of the image ``flat`` (H rows of W pixels of ``nc``
    channels) into ``with_table`` through the table's blocks and then the scalar code from the
    first column they left, as the row code goes on, and into ``classified`` through the
    scalar code alone, both from the cells and weights of ``_classify_level``; returns the
    interior span (b, c) and the first column the blocks left."""
    _, b, c, _ = classify._affine_spans(ax, rx, 0.0, ry, W, H, n, False)
    WC = W * nc
    t = level._level_blocks(flat, with_table, 0, 0, WC, table, b, c, ax, rx, ry, nc)
    offs = np.zeros(n, np.int64)
    wts = np.zeros((4, n), np.float32)
    classify._classify_level(W, H, nc, offs, wts, b, c, ax, rx, ry)
    u = np.uint64
    for j in range(b, c):
        p = u(offs[j])
        for out, taken in ((with_table, j >= t), (classified, True)):
            if taken:
                _lerp_scalar(flat, out, p, p + u(WC), u(nc), u(j * nc), wts[0, j], wts[1, j],
                             wts[2, j], wts[3, j], nc, wts)
    return b, c, t


@njit
def _table(n):
    return level._level_scratch(n)


def _fits(nc):
    """|ax| up to which every block's cells fit a window: a little below ``level._blocks_fit``'s
    bound, (K + 1) / g with K the greatest floor(g·|ax|) it admits (2 for one and four
    channels; 1.6 and 1 for three, with 16 lanes and 8)."""
    common = nc if level.LANES % nc == 0 else 1
    gaps = (nc - common + level.LANES - 1) // nc
    most = (level.WINDOW - 2 * nc) // nc - 1
    return 0.99 * (most + 1) / gaps


#: |ax| below which a block's cells always fit a window
FITS = {nc: _fits(nc) for nc in (1, 3, 4)}


@pytest.mark.parametrize("nc", [1, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), W=st.integers(2, 120), H=st.integers(2, 6),
       n=st.integers(0, 200), scale=st.floats(-1, 1), rxs=st.lists(st.floats(-40, 160),
                                                                    min_size=1, max_size=2),
       rows=st.lists(st.tuples(st.booleans(), st.floats(-1, 6)), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None)
def test_a_row_through_the_table_is_the_row_through_its_classified_cells(nc, dtype, seed, W, H,
                                                                         n, scale, rxs, rows):
    """Rows one after the other with one thread's table, each from one of two x maps (the
    table kept, or made again for the other map or another span): through the table's
    blocks and the scalar code after them, the values of the scalar code alone to the bit;
    every whole block of the interior span is taken (the image has room after its last row
    for every window), a pixel that a block took in part is left whole to the code after."""
    ax = scale * FITS[nc]
    rng = np.random.default_rng(seed)
    flat = _pixels(rng, dtype, H * W * nc + 64)
    table = _table(n * nc)
    for second, ry in rows:
        rx = rxs[-1] if second else rxs[0]
        with_table = np.full(n * nc, 7, dtype)
        classified = np.full(n * nc, 7, dtype)
        b, c, t = _row_both_ways(flat, W, H, n, ax, rx, ry, table, with_table, classified, nc)
        np.testing.assert_array_equal(with_table, classified)
        if not LEVEL_TABLE:  # no blocks without AVX2
            assert t == b
            continue
        lanes = level.LANES
        assert t == b + (c - b) * nc // lanes * lanes // nc  # every whole block, by the table
        if (c - b) * nc >= lanes:
            assert tuple(table[2]) == (ax, rx, b, c)  # the table of this row's map and span


#: Values a block takes in rows shrunk by |ax| (1, 3 and 4 channels), by the bound of
#: ``level._fits`` worked out by hand: with 16 lanes ceil(g·|ax|)·nc <= 32 - 2·nc for g = 15, 5,
#: 3 (16 values), 11, 3, 2 (12) and 7, 3, 1 (8), the first that fits; with 8 lanes (no shorter
#: blocks) g = 7, 3, 1 and a bound of 16 - 2·nc; 0: none fits
SHRINKS = {
    16: {2.0: (16, 12, 16), 2.5: (12, 12, 12), 3.0: (8, 0, 12), 4.0: (8, 0, 8), 4.5: (0, 0, 8)},
    8: {2.0: (8, 0, 8), 2.5: (0, 0, 0)},
}


@pytest.mark.parametrize("nc", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("rx", [0.5, 3.25, -0.75])
def test_shrunk_rows_take_every_block_of_their_size(nc, dtype, rx):
    """Rows shrunk by 2 to 4.5 (x0 = |ax|·j + a constant, exact), rising and falling: every
    whole block of the interior span of the size the bound admits (``LANES`` values, or fewer
    where their cells spread too far), with the values of the classified cells to the bit; a
    shrink a little more than 2 takes no 16-value block (some would not fit)."""
    rng = np.random.default_rng(3)
    W, H, n = 700, 4, 140
    flat = _pixels(rng, dtype, H * W * nc + 64)
    lanes = level.LANES
    for ax, sizes in SHRINKS[lanes].items():
        for sign in (1, -1):
            table = _table(n * nc)
            with_table = np.full(n * nc, 7, dtype)
            classified = np.full(n * nc, 7, dtype)
            b, c, t = _row_both_ways(flat, W, H, n, sign * ax, rx if sign > 0 else rx + ax * n,
                                     1.5, table, with_table, classified, nc)
            np.testing.assert_array_equal(with_table, classified)
            assert c - b > 100, (b, c)
            size = sizes[(1, 3, 4).index(nc)] if LEVEL_TABLE else 0
            taken = (c - b) * nc // size * size // nc if size else 0
            assert t == b + taken, (ax, sign, size, t, b, c)
    if LEVEL_TABLE:  # just over 2: some 16-value blocks of 1 channel would not fit
        table = _table(n * nc)
        out = np.full(n * nc, 7, dtype), np.full(n * nc, 7, dtype)
        b, c, t = _row_both_ways(flat, W, H, n, 2.0 + 1e-6, rx, 1.5, table, *out, nc)
        np.testing.assert_array_equal(*out)
        if nc == 1:  # 12-value blocks with 16 lanes, none with 8
            assert t == b + ((c - b) // 12 * 12 if lanes == 16 else 0), (t, b, c)


@njit
def _columns(theta, inp, out, align_corners):
    return forward._table_values(theta, inp, out, align_corners)


def test_only_calls_with_rows_at_one_height_get_a_table():
    """A table of an output row's values when some image's rows lie at one height (ay = 0, as
    the row code tests it), there are 1, 3 or 4 channels, the rows are cut into spans and the
    dtypes take the blocks; else none."""
    cols = forward.SPAN_COLUMNS
    want = cols if LEVEL_TABLE else 0  # no blocks without AVX2, and no table
    turned = np.array([[0.8, -0.6, 0.0], [0.6, 0.8, 0.0]])
    zoom = np.array([[0.5, 0.0, 0.1], [0.0, 0.5, 0.0]])

    def columns(thetas, shape=(1, 9, cols, 1), out_shape=(1, 9, cols, 1), ac=False):
        return _columns(np.array(thetas, np.float64), np.zeros(shape, np.float32),
                        np.zeros(out_shape, np.float32), ac)

    assert columns([turned, zoom]) == want
    assert columns([zoom, turned]) == want
    assert columns([turned, turned]) == 0
    assert columns([zoom], (1, 9, cols, 3), (1, 9, cols, 3)) == 3 * want
    assert columns([zoom], (1, 9, cols, 4), (1, 9, cols, 4)) == 4 * want
    assert columns([zoom], (1, 9, cols, 2), (1, 9, cols, 2)) == 0  # two channels
    # float64 images take no blocks (uint8 ones do)
    assert _columns(np.array([zoom]), np.zeros((1, 9, cols, 1)), np.zeros((1, 9, cols, 1)),
                    False) == 0
    assert _columns(np.array([zoom]), np.zeros((1, 9, cols, 1), np.uint8),
                    np.zeros((1, 9, cols, 1), np.uint8), False) == want
    narrow = forward.LEVEL_COLUMNS  # rows at one height this narrow are cut into spans too
    assert columns([zoom], out_shape=(1, 9, narrow, 1)) == (narrow if LEVEL_TABLE else 0)
    assert columns([zoom], out_shape=(1, 9, narrow - 1, 1)) == 0  # rows not cut into spans
    # with align_corners an image of one row has ay = 0 whatever θ
    assert columns([turned], (1, 1, cols, 1), ac=True) == want
    assert _columns(np.zeros((1, 9, cols, 2)), np.zeros((1, 9, cols, 1)),
                    np.zeros((1, 9, cols, 1)), False) == 0  # a grid


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ac", [False, True])
@pytest.mark.parametrize("C", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
def test_warps_without_rotation_match_the_reference(dtype, C, ac, threads):
    """A batch of images of C channels: zooms in and out (by 2, whose cells fit the windows of
    8 and 16 lanes; by 1.9, with one channel 16 pixels' cells within 30 columns; by 1.45,
    within the 16-lane windows with 3 channels), flips, x-shears (each row its own x map),
    shifts, and turns between them (a thread's table made again as the map changes), rows 300,
    157, 41 and 150 wide (spans that end between blocks; rows narrower than ``SPAN_COLUMNS``,
    which only rows at one height cut into spans; the shift shrunk by exactly 2, the last two
    maps by 2.5 and 3: blocks of fewer values)."""
    rng = np.random.default_rng(7)
    H, W = 19, 300
    thetas = np.array([[[0.5, 0.0, 0.01], [0.0, 0.7, -0.02]],
                       [[-0.8, 0.0, 0.3], [0.0, 0.9, 0.1]],
                       [[0.9, 0.3, 0.0], [0.0, 0.8, 0.05]],
                       [[0.8, -0.6, 0.0], [0.6, 0.8, 0.0]],
                       [[1.9, 0.0, 0.0], [0.0, 1.0, 0.0]],
                       [[-1.45, 0.0, 0.0], [0.0, 1.0, 0.0]],
                       [[0.5, 0.0, 0.01], [0.0, 0.7, -0.02]],
                       [[1.0, 0.0, 0.013], [0.0, 1.0, -0.3]],
                       [[1.25, 0.0, 0.1], [0.0, 1.0, 0.0]],
                       [[-1.5, 0.0, 0.0], [0.0, 0.9, 0.0]]])
    x = rng.uniform(0, 255, (len(thetas), H, W, C))
    x = x.astype(dtype) if np.dtype(dtype).kind == "f" else np.round(x).astype(dtype)
    # 41: rows at one height cut into spans; W // 2: the shift's rows shrunk by exactly 2
    for out_w in (W, forward.SPAN_COLUMNS + 13, 41, W // 2):
        with R.numba_threads(threads):
            out = wk.warp(x, thetas, output_shape=(H, out_w), align_corners=ac)
        ref = R.affine_sample(x.astype(np.float64), thetas, (H, out_w), "bilinear", "zeros", ac,
                              0.0)
        if np.dtype(dtype).kind == "f":
            np.testing.assert_allclose(out, ref, **R.tolerances(dtype))
        else:
            exact = np.clip(np.round(ref), 0, np.iinfo(dtype).max)
            assert np.max(np.abs(out.astype(np.float64) - exact)) <= 1


@pytest.mark.parametrize("C", [1, 3, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), Wo=st.integers(forward.LEVEL_COLUMNS, 180),
       Ho=st.integers(1, 9), sx=st.floats(0.3, 0.95), sy=st.floats(0.3, 0.95),
       flip=st.booleans(), ac=st.booleans(), threads=st.sampled_from([1, 2]))
@settings(max_examples=12, deadline=None)
def test_rows_inside_the_image_are_the_scalar_codes_to_the_bit(C, dtype, seed, Wo, Ho, sx, sy,
                                                                flip, ac, threads):
    """Zooms in (mirrored or not) whose every output pixel lies strictly inside the image and
    whose blocks' cells fit the windows, whole rows of which the kernels take straight from the
    table (``level._level_rows``, and its tail where the row's values are not a whole number of
    blocks): the values of ``_classify_level``'s cells and weights with the blocks' rounding,
    to the bit (float32 images
    with NaN and ±inf, integers over their whole range), on one thread and two."""
    rng = np.random.default_rng(seed)
    N, H, W = 2, 12, 150
    sx = min(sx, FITS[C] * (Wo - 1) / (W - 1) / 1.02)  # |ax| <= sx·149/(Wo - 1): cells fit
    x = _pixels(rng, dtype, N * H * W * C).reshape(N, H, W, C)
    theta = np.array([[[-sx if flip else sx, 0.0, 0.02], [0.0, sy, -0.03]]] * N)
    want = np.zeros((N, Ho, Wo, C), dtype)
    _classified_warp(x, theta, want, ac, np.dtype(dtype).kind != "f", np.zeros(C), False)
    with R.numba_threads(threads):
        got = wk.warp(x, theta, output_shape=(Ho, Wo), align_corners=ac)
    np.testing.assert_array_equal(got, want)


@njit(fastmath=_FASTMATH)
def _classified_warp(inp, theta, out, align_corners, integers, cval, edges):
    """Every output row of a bilinear affine map at one height as the row code samples it:
    the interior span (every column, without ``edges``; else ``_affine_spans``' with zeros or
    constant padding, ``cval``) from ``_classify_level``'s cells and weights, each value
    ``(v00·w0 + v01·w1) + (v10·w2 + v11·w3)`` in float32 with each row's first product fused
    (``muladd``, as ``_simd._bilinear`` defines the kernels' rounding; the scalar code left to
    LLVM may fuse either product), ``integers`` rounded half to even; with ``edges``, the
    columns around the span through the edge pass's ``_edge_bilinear`` and those entirely
    outside the image filled (``_fill``). Returns whether every row is one that this
    restates: |ax| <= 1.5 (whole blocks for 1, 3 and 4 channels) and 16 values in the interior
    span at least, no column around it exactly on the last column or row (which the row code
    gathers from the cell before) and, with one channel, no NaN among their values (which its
    per-point code computes)."""
    N, H, W, C = inp.shape
    Ho, Wo = out.shape[1], out.shape[2]
    flat = inp.reshape(inp.size)
    oflat = out.reshape(out.size)
    offs = np.zeros(Wo, np.int64)
    wts = np.zeros((4, Wo), np.float32)
    f32 = np.float32
    restated = True
    for n in range(N):
        ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
        base = n * H * W * C
        restated &= abs(ax) <= 1.5
        for i in range(Ho):
            ry = by * i + cy
            A, b, c, B = 0, 0, Wo, Wo
            if edges:
                A, b, c, B = classify._affine_spans(ax, cx, 0.0, ry, W, H, Wo, True)
            restated &= (c - b) * C >= 16 and ry != H - 1.0
            classify._classify_level(W, H, C, offs, wts, b, c, ax, cx, ry)
            obase = (n * Ho + i) * Wo * C
            _fill(oflat, obase, obase + A * C, cval, wts)
            _fill(oflat, obase + B * C, obase + Wo * C, cval, wts)
            for j in range(A, B):
                if b <= j < c:
                    p = base + offs[j]
                    for k in range(C):
                        v00, v01 = f32(flat[p + k]), f32(flat[p + C + k])
                        v10, v11 = f32(flat[p + W * C + k]), f32(flat[p + W * C + C + k])
                        v = (muladd(v00, wts[0, j], v01 * wts[1, j])
                             + muladd(v10, wts[2, j], v11 * wts[3, j]))
                        oflat[obase + j * C + k] = np.rint(v) if integers else v
                else:
                    ix = muladd(ax, 1.0 * np.int32(j), cx)
                    _edge_bilinear(flat, oflat, base, obase + j * C, ix, ry, W, H, C, cval, wts)
                    v = oflat[obase + j * C]
                    restated &= ix != W - 1.0 and (C > 1 or v == v)
    return restated


@pytest.mark.parametrize("C", [1, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, np.uint16])
@given(seed=st.integers(0, 2**32 - 1), Wo=st.integers(forward.LEVEL_COLUMNS, 180),
       Ho=st.integers(1, 9), ax=st.floats(0.3, 1.45), sy=st.floats(0.3, 1.5),
       tx=st.floats(-0.5, 0.5), flip=st.booleans(), ac=st.booleans(),
       fill=st.sampled_from([None, 0.0, 37.5]), threads=st.sampled_from([1, 2]))
@settings(max_examples=10, deadline=None)
def test_rows_with_columns_outside_the_image_are_the_row_codes_to_the_bit(
        C, dtype, seed, Wo, Ho, ax, sy, tx, flip, ac, fill, threads):
    """Shifts, zooms out and flips with zeros or constant padding, whose rows have columns
    partly or wholly outside the image (which ``level._level_rows`` takes too: the interior
    span from the table, the columns around it by the edge pass's code, the rest filled),
    float32 images with NaN and ±inf pixels and integers over their whole range: the values
    of the row code to the bit (``_classified_warp`` with edges), on one thread and two."""
    rng = np.random.default_rng(seed)
    N, H, W = 2, 12, 150
    x = _pixels(rng, dtype, N * H * W * C).reshape(N, H, W, C)
    sx = ax * Wo / W  # |ax| about ax (a little more with align_corners)
    theta = np.array([[[-sx if flip else sx, 0.0, tx], [0.0, sy, -0.03]]] * N)
    cv = np.full(C, 0.0 if fill is None else fill)
    want = np.zeros((N, Ho, Wo, C), dtype)
    assume(_classified_warp(x, theta, want, ac, np.dtype(dtype).kind != "f", cv, True))
    pad = {"padding_mode": "zeros"} if fill is None else {"padding_mode": "constant",
                                                          "cval": fill}
    with R.numba_threads(threads):
        got = wk.warp(x, theta, output_shape=(Ho, Wo), align_corners=ac, **pad)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ax, rx, expected", [
    (1.0, 0.0, True),  # the identity: column 149 at x = 149
    (1.0, 0.25, False),
    (-1.0, 149.0, True),  # mirrored: column 0
    (0.5, 74.5, True),  # column 149
    (2.0, 0.5, False),  # 2j + 0.5 is never 149
    (0.0, 149.0, True),  # every column
    (1.0, 200.0, False),  # every column past the image
])
def test_maps_with_a_column_on_the_last_column_are_found(ax, rx, expected):
    """Which maps of 150 columns onto an image 150 wide put a column exactly on its last column
    (x = 149), whose edges ``_level_rows`` leaves to the row code."""
    assert njit(lambda: level._on_last_column(ax, rx, 150, 150))() is expected
