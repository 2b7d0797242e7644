"""``out=``: the forward ops and ``warp`` write into an array the caller keeps.

* the result in ``out`` is the reference's (and the allocating call's, bit for bit), whatever
  ``out`` held before, and ``out`` itself is returned;
* no output is allocated when ``out`` is written directly (traced memory);
* every bad ``out`` is refused before anything is written, with the reason.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import reference as R
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import warpkit as wk
from warpkit._bench import peak_memory
from warpkit.testing import grids, images, sampling_options, thetas

SETTINGS = settings(max_examples=30, deadline=None)
DTYPES = st.sampled_from([np.float32, np.float64])


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _garbage(shape, dtype) -> np.ndarray:
    """An array of ``shape`` holding what no sampler writes (NaN, or the dtype's maximum)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.full(shape, np.nan, dtype)
    if dtype.kind == "b":
        return np.ones(shape, dtype)
    return np.full(shape, np.iinfo(dtype).max, dtype)


@st.composite
def affine_problems(draw):
    dtype = draw(DTYPES)
    x = draw(images(dtype=dtype, max_side=6))
    theta = draw(thetas(n=x.shape[0], max_scale=1.5, dtype=dtype))
    out_size = draw(st.tuples(st.integers(1, 6), st.integers(1, 6)))
    return x, theta, out_size, draw(sampling_options(cval=True))


def _tie(x, theta, out_size, opts) -> bool:
    """Whether a nearest-mode source position lies within 1e-6 of a half pixel, where float
    rounding (the fused rows' a·j + r against the reference's θ·(x, y, 1)) picks the side."""
    if opts["mode"] != "nearest":
        return False
    return _grid_tie(x, R.affine_grid(theta, (x.shape[0], *out_size), opts["align_corners"]),
                     opts)


def _grid_tie(x, grid, opts) -> bool:
    """:func:`_tie` for the positions of ``grid`` (a fused multiply-add in unnormalize may
    round one of them to the other side of a half pixel)."""
    if opts["mode"] != "nearest":
        return False
    for k, size in ((0, x.shape[2]), (1, x.shape[1])):
        p = np.array([R.unnormalize(float(v), size, opts["align_corners"])[0]
                      for v in grid[..., k].ravel()])
        p = p[np.isfinite(p)]
        if p.size and np.min(np.abs(p - np.floor(p) - 0.5)) < 1e-6:
            return True
    return False


@SETTINGS
@given(problem=affine_problems())
def test_affine_sample_writes_its_result_into_out(problem):
    x, theta, out_size, opts = problem
    assume(not _tie(x, theta, out_size, opts))
    out = _garbage((x.shape[0], *out_size, x.shape[3]), x.dtype)
    got = wk.affine_sample(x, theta, out_size, out=out, **opts)
    assert got is out
    want = R.affine_sample(x, theta, out_size, **opts)
    np.testing.assert_allclose(out, want, **R.tolerances(x.dtype))
    np.testing.assert_array_equal(out, wk.affine_sample(x, theta, out_size, **opts))


@st.composite
def grid_problems(draw):
    """(input, grid with NaN, ±inf and huge values among regular ones, options)."""
    dtype = draw(DTYPES)
    x = draw(images(dtype=dtype, max_side=6))
    ho, wo = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    grid = draw(grids(x.shape[0], ho, wo, extreme=True, dtype=dtype))
    return x, grid, draw(sampling_options(cval=True))


@SETTINGS
@given(problem=grid_problems())
def test_grid_sample_writes_its_result_into_out(problem):
    x, grid, opts = problem
    assume(not _grid_tie(x, grid, opts))
    dtype = x.dtype
    out = _garbage((x.shape[0], *grid.shape[1:3], x.shape[3]), dtype)
    assert wk.grid_sample(x, grid, out=out, **opts) is out
    np.testing.assert_allclose(out, R.grid_sample(x, grid, **opts), **R.tolerances(dtype))
    np.testing.assert_array_equal(out, wk.grid_sample(x, grid, **opts))


THETA = np.array([[0.8, 0.3, 0.1], [-0.3, 0.8, -0.2]])
#: (image shape, θ): single images of rank 2 and 3, stacks of rank 3 and 4
SHAPES = [((20, 30), THETA), ((20, 30, 3), THETA), ((2, 20, 30), np.stack([THETA] * 2)),
          ((2, 20, 30, 4), np.stack([THETA, THETA.T.reshape(2, 3)]))]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float32", "float64",
                                   "bool", "float16", ">f4", ">u2"])
@pytest.mark.parametrize("shape, theta", SHAPES)
def test_warp_writes_its_result_into_out(dtype, shape, theta):
    """Every dtype (written directly, or computed in another and copied in) and rank."""
    rng = np.random.default_rng(len(shape))
    image = (rng.random(shape) * 200).astype(dtype)
    want = wk.warp(image, theta, output_shape=(15, 35), padding_mode="reflection")
    out = _garbage(want.shape, dtype)
    got = wk.warp(image, theta, output_shape=(15, 35), padding_mode="reflection", out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    if np.dtype(dtype).kind == "b":  # nearest, the allocating call's values suffice
        return
    batch = _as_batch(image.astype(np.float64), theta.ndim)
    ref = R.affine_sample(batch, theta.reshape(-1, 2, 3), (15, 35),
                          padding_mode="reflection").reshape(want.shape)
    if np.dtype(dtype).kind in "iu":  # within 1 of the exactly rounded value
        info = np.iinfo(np.dtype(dtype))
        exact = np.clip(np.rint(ref), info.min, info.max)
        assert np.abs(out.astype(np.float64) - exact).max() <= 1
    else:  # values up to 200: float16 holds them to 1/8, the others to their rounding
        atol = {2: 0.2, 4: 2e-3, 8: 1e-9}[np.dtype(dtype).itemsize]
        np.testing.assert_allclose(out.astype(np.float64), ref, rtol=0, atol=atol)


def _as_batch(image: np.ndarray, theta_ndim: int) -> np.ndarray:
    """``image`` as (N, H, W, C) the way ``warp`` reads it (θ (2, 3): one image)."""
    if theta_ndim == 2:
        return image[None, ..., None] if image.ndim == 2 else image[None]
    return image[..., None] if image.ndim == 3 else image


def test_warp_into_a_memory_mapped_file(tmp_path):
    """An ``np.memmap`` (a subclass) is written through: the file holds the result."""
    image = (np.random.default_rng(3).random((64, 48, 3)) * 255).astype(np.uint8)
    path = tmp_path / "warped.u8"
    out = np.memmap(path, dtype=np.uint8, mode="w+", shape=image.shape)
    assert wk.warp(image, THETA, out=out) is out
    out.flush()
    del out
    on_disk = np.fromfile(path, dtype=np.uint8).reshape(image.shape)
    np.testing.assert_array_equal(on_disk, wk.warp(image, THETA))


@pytest.mark.parametrize("make", ["affine_sample", "grid_sample", "warp float32", "warp uint8"])
def test_out_written_directly_allocates_no_output(make):
    rng = np.random.default_rng(4)
    x = rng.random((2, 256, 256, 3), dtype=np.float32)
    theta = np.stack([THETA, THETA]).astype(np.float32)
    grid = wk.affine_grid(theta, x.shape)
    calls = {
        "affine_sample": (lambda out=None: wk.affine_sample(x, theta, out=out), x.dtype),
        "grid_sample": (lambda out=None: wk.grid_sample(x, grid, out=out), x.dtype),
        "warp float32": (lambda out=None: wk.warp(x, theta, out=out), x.dtype),
        "warp uint8": (lambda out=None: wk.warp(x8, theta, out=out), np.uint8),
    }
    x8 = (x * 255).astype(np.uint8)
    call, dtype = calls[make]
    out = np.empty(x.shape, dtype)
    assert peak_memory(call) >= out.nbytes  # tracing sees an output allocated
    assert peak_memory(lambda: call(out)) < out.nbytes // 20


X = np.zeros((2, 4, 5, 3), np.float32)
THETAS = np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1))
GRID = np.zeros((2, 4, 5, 2), np.float32)


def _bad_outs() -> list:
    """(out, exception, message fragment) for the ops' result of shape (2, 4, 5, 3) float32."""
    wide = np.zeros((2, 4, 5, 6), np.float32)
    readonly = np.zeros_like(X)
    readonly.flags.writeable = False
    return [
        (np.zeros((2, 4, 5, 3)), TypeError, "dtype float32, got float64"),
        (np.zeros((2, 4, 5, 3), ">f4"), TypeError, "dtype float32, got >f4"),
        (np.zeros((2, 5, 4, 3), np.float32), ValueError, "shape (2, 4, 5, 3), got (2, 5, 4, 3)"),
        (np.zeros((4, 5, 3), np.float32), ValueError, "shape (2, 4, 5, 3), got (4, 5, 3)"),
        (wide[..., ::2], ValueError, "C-contiguous"),
        (readonly, ValueError, "writeable"),
        (np.zeros((2, 4, 5, 3), np.float32).tolist(), TypeError, "got list"),
    ]


@pytest.mark.parametrize("op", ["affine_sample", "grid_sample"])
@pytest.mark.parametrize("case", range(len(_bad_outs())))
def test_ops_refuse_a_bad_out(op, case):
    out, exc, fragment = _bad_outs()[case]
    before = np.array(out, copy=True)
    call = {"affine_sample": lambda: wk.affine_sample(X, THETAS, out=out),
            "grid_sample": lambda: wk.grid_sample(X, GRID, out=out)}[op]
    with pytest.raises(exc, match=re.escape(fragment)):
        call()
    np.testing.assert_array_equal(np.asarray(out), before)  # nothing written


def test_out_must_not_share_memory_with_what_the_op_reads():
    k = X.size
    buffer = np.random.default_rng(5).random(2 * k).astype(np.float32)
    x = buffer[:k].reshape(X.shape)
    half_over = buffer[k // 2:k // 2 + k].reshape(X.shape)  # contiguous, half on x
    kept = buffer.copy()
    on_grid = np.zeros(GRID.size + 120 - 40, np.float32)  # a grid, and an out over its end
    for call, name in [(lambda: wk.affine_sample(x, THETAS, out=x), "input"),
                       (lambda: wk.affine_sample(x, THETAS, out=half_over), "input"),
                       (lambda: wk.grid_sample(x, GRID, out=half_over), "input"),
                       (lambda: wk.grid_sample(X, on_grid[:80].reshape(GRID.shape),
                                               out=on_grid[40:].reshape(X.shape)), "grid")]:
        with pytest.raises(ValueError, match=f"share memory with {name}"):
            call()
    np.testing.assert_array_equal(buffer, kept)
    both = np.zeros((2, 4, 5, 5), np.float32)  # grid and out side by side in one buffer
    grid, out = both[..., :2], np.ascontiguousarray(both[..., 2:])
    assert wk.grid_sample(x, grid, out=out) is out  # a copy of that view: apart


def test_warp_refuses_a_bad_out():
    image = np.zeros((6, 7, 3), np.uint8)
    cases = [
        (np.zeros((6, 7, 3), np.float32), TypeError, "dtype uint8, got float32"),
        (np.zeros((1, 6, 7, 3), np.uint8), ValueError, "shape (6, 7, 3), got (1, 6, 7, 3)"),
        (np.zeros((6, 7, 6), np.uint8)[..., ::2], ValueError, "C-contiguous"),
        (image, ValueError, "share memory with image"),
        (bytearray(126), TypeError, "must be a numpy array"),
    ]
    for out, exc, fragment in cases:
        with pytest.raises(exc, match=re.escape(fragment)):
            wk.warp(image, THETA, out=out)
    with pytest.raises(ValueError, match=re.escape("shape (2, 3), got (6, 7)")):
        wk.warp(image[..., 0], THETA, output_shape=(2, 3), out=np.zeros((6, 7), np.uint8))


# --------------------------------------------------------------------------- backward ops
@SETTINGS
@given(problem=affine_problems(), need=st.booleans(), which=st.sampled_from(["both", "one"]))
def test_affine_sample_backward_writes_its_gradients_into_out(problem, need, which):
    x, theta, out_size, opts = problem
    assume(not _tie(x, theta, out_size, opts))
    G = np.random.default_rng(x.size).standard_normal((x.shape[0], *out_size, x.shape[3]))
    G = G.astype(x.dtype)
    gin = _garbage(x.shape, x.dtype) if need and which == "both" else None
    gth = _garbage((x.shape[0], 2, 3), x.dtype)
    got = wk.affine_sample_backward(G, x, theta, out_size, need_input_grad=need,
                                    out=(gin, gth), **opts)
    assert got[1] is gth and (got[0] is gin if gin is not None else (got[0] is None) != need)
    want = wk.affine_sample_backward(G, x, theta, out_size, need_input_grad=need, **opts)
    np.testing.assert_array_equal(gth, want[1])
    if need:
        np.testing.assert_array_equal(got[0], want[0])
        rgin, rgth = R.affine_sample_backward(G, x, theta, out_size, opts["mode"],
                                              opts["padding_mode"], opts["align_corners"],
                                              opts.get("cval", 0.0))
        tol = R.tolerances(x.dtype)
        np.testing.assert_allclose(got[0], rgin, rtol=10 * tol["rtol"], atol=10 * tol["atol"])


@SETTINGS
@given(problem=grid_problems(), data=st.data())
def test_grid_sample_backward_writes_its_gradients_into_out(problem, data):
    x, grid, opts = problem
    assume(not _grid_tie(x, grid, opts))
    dtype = x.dtype
    G = data.draw(images(shape=(*grid.shape[:3], x.shape[3]), dtype=dtype))
    gin, ggrid = _garbage(x.shape, dtype), _garbage(grid.shape, dtype)
    got = wk.grid_sample_backward(G, x, grid, out=(gin, ggrid), **opts)
    assert got[0] is gin and got[1] is ggrid
    rgin, rggrid = R.grid_sample_backward(G, x, grid, opts["mode"], opts["padding_mode"],
                                          opts["align_corners"], opts.get("cval", 0.0))
    tol = R.tolerances(dtype)
    np.testing.assert_allclose(gin, rgin, rtol=10 * tol["rtol"], atol=10 * tol["atol"])
    scale = max(1.0, float(np.abs(rggrid).max()))
    np.testing.assert_allclose(ggrid, rggrid, rtol=10 * tol["rtol"],
                               atol=10 * tol["atol"] * scale)
    want = wk.grid_sample_backward(G, x, grid, **opts)
    np.testing.assert_array_equal(gin, want[0])
    np.testing.assert_array_equal(ggrid, want[1])


@pytest.mark.parametrize("op", ["affine", "grid"])
def test_backward_into_out_allocates_no_gradient(op):
    rng = np.random.default_rng(6)
    x = rng.random((2, 256, 256, 3), dtype=np.float32)
    theta = np.stack([THETA, THETA]).astype(np.float32)
    coords = theta if op == "affine" else wk.affine_grid(theta, x.shape)
    fn = wk.affine_sample_backward if op == "affine" else wk.grid_sample_backward
    G = rng.random(x.shape, dtype=np.float32)
    kept = (np.empty_like(x), np.empty((2, 2, 3), np.float32) if op == "affine"
            else np.empty_like(coords))
    assert peak_memory(lambda: fn(G, x, coords)) >= x.nbytes
    assert peak_memory(lambda: fn(G, x, coords, out=kept)) < x.nbytes // 20


def test_backward_ops_refuse_a_bad_out():
    G = np.zeros_like(X)
    gin, gth, ggrid = np.zeros_like(X), np.zeros((2, 2, 3), np.float32), np.zeros_like(GRID)
    cases = [
        (lambda: wk.affine_sample_backward(G, X, THETAS, out=gin), TypeError,
         "out must be a pair (grad_input, grad_theta)"),
        (lambda: wk.affine_sample_backward(G, X, THETAS, out=(gin,)), TypeError,
         "out must be a pair"),
        (lambda: wk.affine_sample_backward(G, X, THETAS, out=(gin, ggrid)), ValueError,
         "out[1] must have the result's shape (2, 2, 3), got (2, 4, 5, 2)"),
        (lambda: wk.affine_sample_backward(G, X, THETAS, need_input_grad=False,
                                           out=(gin, gth)), ValueError,
         "out[0] must be None when need_input_grad is False"),
        (lambda: wk.grid_sample_backward(G, X, GRID, out=(G, ggrid)), ValueError,
         "out[0] must not share memory with grad_output"),
        (lambda: wk.grid_sample_backward(G, X, GRID, out=(gin, gin[..., :2].copy().astype(
            np.float64))), TypeError, "out[1] must have the result's dtype float32"),
    ]
    both = np.zeros(X.size + GRID.size, np.float32)
    cases.append((lambda: wk.grid_sample_backward(
        G, X, GRID, out=(both[:X.size].reshape(X.shape), both[X.size - 8:][:GRID.size]
                         .reshape(GRID.shape))), ValueError, "out[0] and out[1] must not share"))
    for call, exc, fragment in cases:
        with pytest.raises(exc, match=re.escape(fragment)):
            call()
