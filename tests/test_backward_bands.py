"""A single image's backward is cut into tasks that each scatter into a band of input rows, in
a second pass over the output rows (``backward._task_plan``). A task skips the output rows
that touch no row of its band (``backward._row_misses_band``, and ``_grid_row_misses_band`` for
a grid), and in the rows it keeps the columns before the first and after the last that may
touch it (``backward._band_cols``): it must never skip a pixel that does, and the input
gradient must come out as the one-pass backward of a batch computes it, bit for bit (the same
additions into every cell, in the same order)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

import warpkit as wk
from warpkit._coords import BORDER, CONSTANT, REFLECTION, WRAP, ZEROS
from warpkit.backends._cpu import backward, common


@njit
def _row(ay, ry, wo):
    px, py = np.empty(wo), np.empty(wo)
    common._affine_cols(px, py, 0.0, 0.0, ay, ry, 0, wo)
    return py


def _touched_rows(py, H, padding):
    """Every input row a pixel at unpadded row py can read or scatter into, for zeros,
    constant and border padding, in either mode (a loop, as the samplers do it)."""
    rows = set()
    for y in py:
        if not math.isfinite(y):
            continue
        if padding == BORDER:
            y = min(max(y, 0.0), H - 1.0)
        if -1.0 < y < H:  # bilinear: the cell's two rows (the row above on the last row)
            y0 = math.floor(y)
            rows |= {y0, y0 + 1, H - 2} if y == H - 1.0 else {y0, y0 + 1}
        rows.add(int(np.rint(y)))  # nearest
    return {r for r in rows if 0 <= r < H}


@settings(max_examples=300, deadline=None)
@given(ay=st.one_of(st.just(0.0), st.floats(-3.0, 3.0)),
       ry=st.one_of(st.floats(-60.0, 90.0), st.sampled_from([np.nan, np.inf, -np.inf])),
       wo=st.integers(1, 48), H=st.integers(2, 40), band=st.tuples(st.integers(0, 40),
                                                                    st.integers(1, 40)),
       padding=st.sampled_from([ZEROS, CONSTANT, BORDER, REFLECTION, WRAP]))
def test_a_row_is_skipped_only_when_it_touches_no_row_of_the_band(ay, ry, wo, H, band, padding):
    y_lo = min(band[0], H - 1)
    y_hi = min(y_lo + band[1], H)
    misses = backward._row_misses_band(ay, ry, wo, H, padding, y_lo, y_hi)
    if padding in (REFLECTION, WRAP) or np.isnan(ry):
        assert not misses
    elif misses:
        assert not _touched_rows(_row(ay, ry, wo), H, padding) & set(range(y_lo, y_hi))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), angle=st.floats(-0.6, 0.6), scale=st.floats(0.3, 1.6),
       padding=st.sampled_from(["zeros", "border", "reflection", "wrap"]),
       mode=st.sampled_from(["bilinear", "nearest"]), align_corners=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_a_single_images_input_gradient_equals_the_batch_one(seed, angle, scale, padding, mode,
                                                             align_corners, dtype):
    rng = np.random.default_rng(seed)
    h, w, ho, wo = (int(v) for v in rng.integers(4, 40, 4))
    x = rng.standard_normal((1, h, w, 3)).astype(dtype)
    g = rng.standard_normal((1, ho, wo, 3)).astype(dtype)
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    shift = rng.uniform(-0.4, 0.4, 2)
    theta = np.array([[[c, -s, shift[0]], [s, c, shift[1]]]], dtype)
    kw = dict(padding_mode=padding, mode=mode, align_corners=align_corners)
    alone, _ = wk.affine_sample_backward(g, x, theta, (ho, wo), **kw)
    batch, _ = wk.affine_sample_backward(np.concatenate([g, g]), np.concatenate([x, x]),
                                         np.concatenate([theta, theta]), (ho, wo), **kw)
    np.testing.assert_array_equal(alone[0], batch[0])
    np.testing.assert_array_equal(alone[0], batch[1])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wo=st.integers(1, 24), H=st.integers(2, 40),
       band=st.tuples(st.integers(0, 40), st.integers(1, 40)),
       padding=st.sampled_from([ZEROS, CONSTANT, BORDER, REFLECTION, WRAP]),
       align_corners=st.booleans(), spread=st.floats(0.0, 2.0), nan=st.booleans())
def test_a_grid_row_is_skipped_only_when_it_touches_no_row_of_the_band(
        seed, wo, H, band, padding, align_corners, spread, nan):
    rng = np.random.default_rng(seed)
    grid = np.zeros((1, 1, wo, 2))
    grid[0, 0, :, 1] = rng.uniform(-1.5, 1.5) + rng.uniform(-spread, spread, wo)
    if nan:
        grid[0, 0, rng.integers(wo), 1] = np.nan
    y_lo = min(band[0], H - 1)
    y_hi = min(y_lo + band[1], H)
    misses = backward._grid_row_misses_band(grid, 0, 0, H, padding, align_corners, y_lo, y_hi)
    if padding in (REFLECTION, WRAP):
        assert not misses
    elif misses:
        py = [common.unnormalize(g, H, align_corners) for g in grid[0, 0, :, 1]]
        assert not _touched_rows(py, H, padding) & set(range(y_lo, y_hi))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), spread=st.floats(0.0, 0.3),
       padding=st.sampled_from(["zeros", "border", "reflection", "wrap"]),
       mode=st.sampled_from(["bilinear", "nearest"]), align_corners=st.booleans())
def test_a_single_images_grid_input_gradient_equals_the_batch_one(seed, spread, padding, mode,
                                                                  align_corners):
    """Near-affine grids, so that rows span few source rows and many are skipped."""
    rng = np.random.default_rng(seed)
    h, w, ho, wo = (int(v) for v in rng.integers(4, 40, 4))
    x = rng.standard_normal((1, h, w, 3)).astype(np.float32)
    g = rng.standard_normal((1, ho, wo, 3)).astype(np.float32)
    theta = np.array([[[1.0, 0.1, 0.0], [-0.1, 1.0, 0.05]]])
    grid = wk.affine_grid(theta, (1, ho, wo), align_corners=align_corners)
    grid = (grid + rng.uniform(-spread, spread, grid.shape)).astype(np.float32)
    kw = dict(padding_mode=padding, mode=mode, align_corners=align_corners)
    alone, _ = wk.grid_sample_backward(g, x, grid, **kw)
    batch, _ = wk.grid_sample_backward(np.concatenate([g, g]), np.concatenate([x, x]),
                                       np.concatenate([grid, grid]), **kw)
    np.testing.assert_array_equal(alone[0], batch[0])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wo=st.integers(1, 48), H=st.integers(2, 40),
       band=st.tuples(st.integers(0, 40), st.integers(1, 40)),
       padding=st.sampled_from([ZEROS, CONSTANT, BORDER, REFLECTION, WRAP]),
       slope=st.floats(-3.0, 3.0), spread=st.floats(0.0, 4.0),
       odd=st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3))
def test_a_scatter_pass_skips_only_the_columns_that_touch_no_row_of_the_band(
        seed, wo, H, band, padding, slope, spread, odd):
    """The second pass of a single image's backward runs a row's pixels from the first column
    that may touch its band to the last (``backward._band_cols``, on the padded rows)."""
    rng = np.random.default_rng(seed)
    py = rng.uniform(-2.0, H + 1.0) + slope * np.arange(wo) + rng.uniform(-spread, spread, wo)
    for v in odd:
        py[rng.integers(wo)] = v
    y_lo = min(band[0], H - 1)
    y_hi = min(y_lo + band[1], H)
    j0, j1 = backward._band_cols(py, padding, y_lo, y_hi)
    assert 0 <= j0 <= j1 <= wo
    if padding == WRAP:  # corners wrap around: every pixel may touch any row
        assert (j0, j1) == (0, wo)
        return
    band_rows = set(range(y_lo, y_hi))
    for j in [*range(j0), *range(j1, wo)]:
        # the rows of a padded coordinate: those of an unpadded one that no padding changes
        assert not _touched_rows([py[j]], H, ZEROS) & band_rows, (j, py[j])
    for j in {j0, j1 - 1} if j1 > j0 else ():  # the ends it keeps are near the band
        assert y_lo - 2 <= py[j] <= y_hi + 1, (j, py[j])
