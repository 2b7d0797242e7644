"""The CUDA backend, run in numba's CUDA simulator, against the CPU backend.

``tests/conftest.py`` sets ``NUMBA_ENABLE_CUDASIM=1`` before numba.cuda is imported, so every
``@cuda.jit`` kernel runs as Python, one thread per Python thread. That is slow, so shapes are
tiny ((2, 3, 4, 2) images sampled to (2, 2, 3, 2), a new seed for every option), and
``THREADS_PER_BLOCK`` is patched to a few threads so that every launch runs several blocks (and
the θ reductions several blocks per sample). The CPU backend is the reference here; it is
itself checked against slow numpy references, PyTorch and finite differences elsewhere.

The simulator evaluates float32 arithmetic in float32 where the compiled kernels use float64,
hence the float32 tolerances.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import cuda

import warpkit as wk
from warpkit._coords import MODES as MODE_CODES
from warpkit._coords import PADDING_MODES
from warpkit.backends import _ptx_check
from warpkit.backends import cuda as cb

pytestmark = pytest.mark.cuda

PADDINGS = ("zeros", "border", "reflection", "constant", "wrap")
MODES = ("bilinear", "nearest")
DTYPES = (np.float32, np.float64)
OPTIONS = [(mode, ac) for mode in MODES for ac in (False, True)]
IN_SHAPE = (2, 3, 4, 2)
OUT_HW = (2, 3)


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Four threads per block: a (2, 2, 3) output runs 3 blocks, 2 per sample in reductions."""
    monkeypatch.setattr(cb, "THREADS_PER_BLOCK", 4)


def data(dtype, seed=0, n=2):
    """Image, θ, grid and output gradient for the tiny shapes (grids reach outside ±1)."""
    rng = np.random.default_rng(seed)
    inp = rng.standard_normal((n,) + IN_SHAPE[1:]).astype(dtype)
    theta = (np.eye(2, 3) + 0.4 * rng.standard_normal((n, 2, 3))).astype(dtype)
    grid = rng.uniform(-1.4, 1.4, (n,) + OUT_HW + (2,)).astype(dtype)
    gout = rng.standard_normal((n,) + OUT_HW + (IN_SHAPE[3],)).astype(dtype)
    return inp, theta, grid, gout


def host(x):
    """A numpy copy of a numpy or (simulated) device array."""
    return x.copy_to_host() if getattr(x, "__cuda_ndarray__", False) else np.asarray(x)


def assert_close(got, want, dtype):
    """CUDA result ``got`` equals CPU result ``want`` to the dtype's rounding."""
    if want is None:
        assert got is None
        return
    got = host(got)
    assert isinstance(want, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape
    if np.dtype(dtype) == np.float32:
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def both(fn, *args, **kw):
    """``fn`` on the CPU backend and on the CUDA backend (host arrays in both)."""
    return fn(*args, backend="cpu", **kw), fn(*args, backend="cuda", **kw)


def sampling_kw(mode, padding, align_corners):
    cval = [0.5, -2.0] if padding == "constant" else 0.0
    return dict(mode=mode, padding_mode=padding, align_corners=align_corners, cval=cval)


# --------------------------------------------------------------------------- every op × option
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_cpu(dtype, padding):
    for seed, (mode, ac) in enumerate(OPTIONS):
        inp, theta, grid, _ = data(dtype, seed)
        kw = sampling_kw(mode, padding, ac)
        want, got = both(wk.grid_sample, inp, grid, **kw)
        assert_close(got, want, dtype)
        want, got = both(wk.affine_sample, inp, theta, OUT_HW, **kw)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_matches_cpu(dtype, padding):
    for seed, (mode, ac) in enumerate(OPTIONS):
        inp, theta, grid, gout = data(dtype, 10 + seed)
        kw = sampling_kw(mode, padding, ac)
        want, got = both(wk.grid_sample_backward, gout, inp, grid, **kw)
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, dtype)
        want, got = both(wk.affine_sample_backward, gout, inp, theta, **kw)
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_grid_matches_cpu(dtype):
    _, theta, grid, _ = data(dtype, seed=2)
    for ac in (False, True):
        for size in ((2,) + OUT_HW, (2, 1, 4), (2, 3, 1, 7)):
            want, got = both(wk.affine_grid, theta, size, align_corners=ac)
            assert_close(got, want, dtype)
        want, got = both(wk.affine_grid_backward, grid, align_corners=ac)
        assert_close(got, want, dtype)


@pytest.mark.parametrize("tpb", [1, 3, 7])
def test_any_launch_shape_gives_the_same_result(monkeypatch, tpb):
    """Odd block sizes (tree reduction), and launches capped so grid-stride loops repeat."""
    monkeypatch.setattr(cb, "THREADS_PER_BLOCK", tpb)
    monkeypatch.setattr(cb, "MAX_BLOCKS", 2)
    monkeypatch.setattr(cb, "MAX_BLOCKS_PER_SAMPLE", 2)
    inp, theta, grid, gout = data(np.float64, seed=3, n=3)
    kw = sampling_kw("bilinear", "reflection", False)
    for fn, args in (
        (wk.affine_grid, (theta, (3,) + OUT_HW)),
        (wk.affine_grid_backward, (grid,)),
        (wk.grid_sample, (inp, grid)),
        (wk.affine_sample, (inp, theta, OUT_HW)),
    ):
        extra = {} if fn in (wk.affine_grid, wk.affine_grid_backward) else kw
        want, got = both(fn, *args, **extra)
        assert_close(got, want, np.float64)
    for fn, args in (
        (wk.grid_sample_backward, (gout, inp, grid)),
        (wk.affine_sample_backward, (gout, inp, theta)),
    ):
        want, got = both(fn, *args, **kw)
        for g, w in zip(got, want, strict=True):
            assert_close(g, w, np.float64)


def test_need_input_grad_false_skips_grad_input():
    inp, theta, grid, gout = data(np.float64, seed=4)
    kw = sampling_kw("bilinear", "zeros", False)
    for fn, geo in ((wk.grid_sample_backward, grid), (wk.affine_sample_backward, theta)):
        want = fn(gout, inp, geo, backend="cpu", **kw)
        gin, ggeo = fn(gout, inp, geo, need_input_grad=False, backend="cuda", **kw)
        assert gin is None
        assert_close(ggeo, want[1], np.float64)


def test_grad_input_is_zeroed_before_the_scatter():
    """The launchers overwrite whatever the output buffers held."""
    inp, theta, grid, gout = data(np.float64, seed=5)
    kw = sampling_kw("bilinear", "border", True)
    cval = cuda.to_device(np.zeros(inp.shape[3]))
    codes = (MODE_CODES["bilinear"], PADDING_MODES["border"], True, cval)
    d = [cuda.to_device(a) for a in (gout, inp, grid, theta)]
    gin = cuda.to_device(np.full(inp.shape, 7.0))
    ggrid = cuda.to_device(np.full(grid.shape, 7.0))
    cb.grid_sample_backward(d[0], d[1], d[2], gin, ggrid, *codes)
    want = wk.grid_sample_backward(gout, inp, grid, backend="cpu", **kw)
    assert_close(gin, want[0], np.float64)
    assert_close(ggrid, want[1], np.float64)
    gin = cuda.to_device(np.full(inp.shape, 7.0))
    gtheta = cuda.to_device(np.full(theta.shape, 7.0))
    cb.affine_sample_backward(d[0], d[1], d[3], gin, gtheta, *codes)
    want = wk.affine_sample_backward(gout, inp, theta, backend="cpu", **kw)
    assert_close(gin, want[0], np.float64)
    assert_close(gtheta, want[1], np.float64)


# --------------------------------------------------------------------------- non-finite values
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # simulator: numpy scalars
def test_nonfinite_coordinates_match_cpu_and_stay_finite(dtype):
    inp, theta, grid, gout = data(dtype, seed=6)
    huge = np.finfo(dtype).max / 4
    grid.reshape(-1)[:8] = [np.nan, np.inf, -np.inf, huge, -huge, np.nan, 0.3, np.inf]
    grid[1, 1, 2] = (-np.inf, np.nan)
    bad_theta = theta.copy()
    bad_theta[0, 0, 0] = np.nan
    bad_theta[1, 1, 2] = np.inf
    for padding in PADDINGS:
        for mode in MODES:
            kw = sampling_kw(mode, padding, False)
            results = [
                both(wk.grid_sample, inp, grid, **kw),
                *zip(*both(wk.grid_sample_backward, gout, inp, grid, **kw), strict=True),
                both(wk.affine_sample, inp, bad_theta, **kw),
                *zip(*both(wk.affine_sample_backward, gout, inp, bad_theta, **kw), strict=True),
            ]
            for want, got in results:
                assert_close(got, want, dtype)
                assert np.all(np.isfinite(host(got))), (padding, mode)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # simulator: numpy scalars
def test_nonfinite_coordinates_on_a_one_pixel_axis_match_cpu():
    """align_corners=True on a one-pixel-wide image: NaN gives 0, ±inf follows the padding."""
    inp = np.arange(1.0, 7.0).reshape(1, 3, 1, 2)
    grid = np.array([[[[np.nan, 0.3], [np.inf, 0.2], [-np.inf, -0.5], [0.7, 0.1]]]])
    gout = np.ones((1, 1, 4, 2))
    for padding in PADDINGS:
        kw = sampling_kw("bilinear", padding, True)
        results = [both(wk.grid_sample, inp, grid, **kw),
                   *zip(*both(wk.grid_sample_backward, gout, inp, grid, **kw), strict=True)]
        for want, got in results:
            assert_close(got, want, np.float64)
        assert np.all(host(results[0][1])[0, 0, 0] == 0.0), padding


# --------------------------------------------------------------------------- array kinds
def test_device_arrays_in_give_device_arrays_out_with_auto():
    inp, theta, grid, gout = data(np.float32, seed=7)
    d_inp, d_theta, d_grid, d_gout = (cuda.to_device(a) for a in (inp, theta, grid, gout))
    kw = sampling_kw("bilinear", "zeros", False)
    pairs = [
        (wk.affine_grid(d_theta, (2,) + OUT_HW), wk.affine_grid(theta, (2,) + OUT_HW)),
        (wk.affine_grid_backward(d_grid), wk.affine_grid_backward(grid)),
        (wk.grid_sample(d_inp, d_grid, **kw), wk.grid_sample(inp, grid, **kw)),
        (wk.affine_sample(d_inp, d_theta, **kw), wk.affine_sample(inp, theta, **kw)),
        *zip(
            wk.grid_sample_backward(d_gout, d_inp, d_grid, **kw),
            wk.grid_sample_backward(gout, inp, grid, **kw),
            strict=True,
        ),
        *zip(
            wk.affine_sample_backward(d_gout, d_inp, d_theta, **kw),
            wk.affine_sample_backward(gout, inp, theta, **kw),
            strict=True,
        ),
    ]
    for got, want in pairs:
        assert getattr(got, "__cuda_ndarray__", False), type(got)
        assert_close(got, want, np.float32)
    np.testing.assert_array_equal(d_inp.copy_to_host(), inp)  # inputs untouched


def test_host_arrays_with_backend_cuda_run_on_the_device_and_return_numpy(monkeypatch):
    calls = []
    launch = cb.launch

    def spy(name, *args, **kw):
        calls.append(name)
        return launch(name, *args, **kw)

    monkeypatch.setattr(cb, "launch", spy)
    inp, theta, grid, _ = data(np.float64, seed=8)
    out = wk.grid_sample(inp, grid, backend="cuda")
    assert type(out) is np.ndarray and calls == ["grid_sample"]
    assert_close(out, wk.grid_sample(inp, grid, backend="cpu"), np.float64)
    wk.grid_sample(inp, grid)  # auto with host arrays: the CPU
    assert calls == ["grid_sample"]


def test_out_is_written_on_the_device_or_copied_to_the_host():
    """``out=``: a device array is written by the kernels and returned; a host array with
    backend="cuda" gets the device result copied in. Both start as NaN."""
    inp, theta, grid, _ = data(np.float32, seed=9)
    kw = sampling_kw("bilinear", "constant", False)
    for fn, coords in ((wk.affine_sample, theta), (wk.grid_sample, grid)):
        want = fn(inp, coords, backend="cpu", **kw)
        d_out = cuda.to_device(np.full(want.shape, np.nan, np.float32))
        assert fn(cuda.to_device(inp), cuda.to_device(coords), out=d_out, **kw) is d_out
        assert_close(d_out, want, np.float32)
        h_out = np.full(want.shape, np.nan, np.float32)
        assert fn(inp, coords, backend="cuda", out=h_out, **kw) is h_out
        assert_close(h_out, want, np.float32)


def test_backward_out_is_written_on_the_device_or_copied_to_the_host():
    """``out=(grad_input, grad_*)`` of the backward ops: device arrays written by the kernels
    (grad_input zeroed first), host arrays with backend="cuda" filled by copies; NaN before."""
    inp, theta, grid, gout = data(np.float64, seed=12)
    kw = sampling_kw("bilinear", "border", False)
    for fn, coords, second in ((wk.affine_sample_backward, theta, (2, 2, 3)),
                               (wk.grid_sample_backward, grid, grid.shape)):
        want = fn(gout, inp, coords, backend="cpu", **kw)
        d_out = (cuda.to_device(np.full(inp.shape, np.nan)), cuda.to_device(np.full(second,
                                                                                    np.nan)))
        got = fn(cuda.to_device(gout), cuda.to_device(inp), cuda.to_device(coords), out=d_out,
                 **kw)
        assert got[0] is d_out[0] and got[1] is d_out[1]
        assert_close(d_out[0], want[0], np.float64)
        assert_close(d_out[1], want[1], np.float64)
        h_out = (None, np.full(second, np.nan))
        got = fn(gout, inp, coords, backend="cuda", out=h_out, **kw)
        assert got[1] is h_out[1] and isinstance(got[0], np.ndarray)
        assert_close(got[0], want[0], np.float64)
        assert_close(h_out[1], want[1], np.float64)


def test_a_device_out_must_be_contiguous_and_apart_from_the_inputs():
    inp, theta, _, _ = data(np.float32, seed=10)
    d_inp, d_theta = cuda.to_device(inp), cuda.to_device(theta)
    with pytest.raises(ValueError, match="^out must not share memory"):
        wk.affine_sample(d_inp, d_theta, out=d_inp)
    strided = cuda.to_device(np.zeros(IN_SHAPE[:3] + (4,), np.float32))[..., ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        wk.affine_sample(d_inp, d_theta, out=strided)
    with pytest.raises(TypeError, match="dtype float32, got float64"):
        wk.affine_sample(d_inp, d_theta, out=cuda.to_device(np.zeros(IN_SHAPE)))
    gout = cuda.to_device(np.zeros((2, 3, 4, 2), np.float32))
    both = cuda.to_device(np.zeros(2 * 3 * 4 * 2 + 12, np.float32))
    with pytest.raises(ValueError, match=r"^out\[1\] .*other output"):  # over grad_input's end
        wk.affine_sample_backward(gout, d_inp, d_theta,
                                  out=(both[:48].reshape(IN_SHAPE), both[44:56].reshape(2, 2, 3)))
    with pytest.raises(TypeError, match="numpy array when the op runs on the CPU"):
        wk.affine_sample(inp, theta, backend="cpu", out=cuda.to_device(np.zeros_like(inp)))
    np.testing.assert_array_equal(d_inp.copy_to_host(), inp)


def test_device_inputs_of_other_dtype_or_layout_are_converted():
    inp, theta, grid, _ = data(np.float64, seed=9)
    wide = np.concatenate([grid, grid], axis=2)
    d_grid = cuda.to_device(wide)[:, :, ::2]  # not C-contiguous
    assert not d_grid.is_c_contiguous()
    d_grid32 = cuda.to_device(grid.astype(np.float32))  # converted to the input's float64
    want = wk.grid_sample(inp, wide[:, :, ::2], backend="cpu")
    assert_close(wk.grid_sample(cuda.to_device(inp), d_grid), want, np.float64)
    want = wk.grid_sample(inp, grid.astype(np.float32), backend="cpu")
    assert_close(wk.grid_sample(inp, d_grid32), want, np.float64)


@pytest.mark.parametrize("cval", [np.nan, np.inf])
def test_a_non_finite_cval_leaves_the_last_row_and_column_alone(cval):
    """An identity with constant padding and a NaN (or infinite) cval reproduces the image on
    both backends: a corner outside of weight 0 is not read (CUDA gave NaN on the last row
    and column, 0·NaN)."""
    img = np.arange(1.0, 7.0).reshape(1, 2, 3, 1)
    theta = np.eye(2, 3)[None]
    grid = wk.affine_grid(theta, (1, 2, 3), align_corners=True)  # every pixel's centre
    for backend in ("cpu", "cuda"):
        kw = dict(padding_mode="constant", cval=cval, backend=backend)
        np.testing.assert_array_equal(wk.affine_sample(img, theta, **kw), img)
        np.testing.assert_array_equal(wk.grid_sample(img, grid, align_corners=True, **kw), img)
        np.testing.assert_array_equal(wk.warp(img[0], theta[0], **kw), img[0])
        wider = wk.affine_sample(img, theta, (2, 5), **kw)  # its outer columns read the fill
        assert np.isnan(wider[0, :, 0]).all() if np.isnan(cval) else np.isinf(wider[0, :, 0]).all()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the simulator's
@pytest.mark.parametrize("pad", ["zeros", "border", "constant"])  # Python arithmetic on inf
@pytest.mark.parametrize("entry", [np.inf, 1e300])
def test_a_theta_holding_inf_samples_as_on_the_cpu(pad, entry):
    """θ's pixel-space coefficients are NaN for every pixel when an entry is infinite, and
    cancel when one is huge; the kernels then take the grid point θ·(x_t, y_t, 1), as the
    CPU's rows do (border padding reads the edge where the coordinate is ±inf)."""
    inp, theta, _, gout = data(np.float64)
    theta[1, 0, 0] = entry
    kw = dict(padding_mode=pad, cval=0.5)
    for backend in ("cpu", "cuda"):
        got = host(wk.affine_sample(inp, theta, OUT_HW, backend=backend, **kw))
        if backend == "cpu":
            want = got
            assert pad == "zeros" or not (want[1] == 0).all()  # the edge or cval
        else:
            assert_close(got, want, np.float64)
    gin, gtheta = wk.affine_sample_backward(gout, inp, theta, backend="cpu", **kw)
    d_gin, d_gtheta = wk.affine_sample_backward(gout, inp, theta, backend="cuda", **kw)
    assert_close(d_gin, gin, np.float64)
    assert_close(d_gtheta, gtheta, np.float64)


def test_a_sample_on_minus_one_reads_pixel_zero_with_weight_zero_on_both_backends():
    """A shift by one pixel puts the first output row and column on -1, whose cell reads pixel
    0 with weight 0 (PyTorch's): a NaN there reaches them on both backends."""
    img = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    img[0, 0, 1] = img[0, 1, 0] = np.nan
    theta = np.array([[[1.0, 0.0, -0.5], [0.0, 1.0, -0.5]]])  # (ix, iy) = (j - 1, i - 1)
    for backend in ("cpu", "cuda"):
        out = host(wk.affine_sample(img, theta, backend=backend))
        assert np.isnan(out[0, 0, 1:3]).all() and np.isnan(out[0, 1:3, 0]).all(), backend
        assert out[0, 0, 0, 0] == 0.0 and out[0, 3, 3, 0] == img[0, 2, 2, 0], backend


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32, np.float64])
def test_warp_on_cuda_computes_in_the_dtype_the_cpu_does(dtype):
    """32/64-bit integers and float64 in float64, as the CPU (float32 rounded 16777217 to
    16777216 and 0.1 to 0.10000000149011612)."""
    if np.dtype(dtype).kind == "f":
        img = np.array([[0.1, 1 + 2.0**-40], [1 / 3, 2.0**60 + 2**8]], dtype)
    else:
        img = np.array([[16777217, 1073741825], [123456789, 5]], dtype)
    identity = np.eye(2, 3)
    for backend in ("cpu", "cuda"):
        out = wk.warp(img, identity, backend=backend)
        assert out.dtype == img.dtype
        np.testing.assert_array_equal(out, img)
    turned = np.array([[0.6, -0.8, 0.1], [0.8, 0.6, -0.05]])
    np.testing.assert_array_equal(wk.warp(img, turned, backend="cuda"),
                                  wk.warp(img, turned, backend="cpu"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int16])
def test_device_arrays_of_any_strides_are_made_contiguous_on_the_device(dtype):
    """Reversed slices (negative strides) included, which numba's copy to the host refuses on
    a GPU ("D->H copy not implemented for negative strides"): the simulator's arrays are numpy
    views and take them either way, so this checks the device copy's values."""
    rng = np.random.default_rng(3)
    host = (10 * rng.standard_normal((2, 3, 4, 5))).astype(dtype)
    for view in (np.s_[:, ::-1], np.s_[::-1, :, ::2, 1:], np.s_[:, :, :, ::-2]):
        dev = cb.to_device(cuda.to_device(host)[view], np.float64)
        assert dev.is_c_contiguous() and dev.dtype == np.float64
        np.testing.assert_array_equal(dev.copy_to_host(), host[view].astype(np.float64))
    theta = rng.standard_normal((3, 2, 6)).astype(dtype)
    back = cb.to_host(cuda.to_device(theta)[::-1, :, ::-2], np.float32)
    np.testing.assert_array_equal(back, theta[::-1, :, ::-2].astype(np.float32))


def test_cuda_arrays_whose_dtype_numpy_cannot_read_are_typed_by_their_interface():
    """A PyTorch CUDA tensor's ``dtype`` is a ``torch.dtype``: its numpy dtype comes from
    ``__cuda_array_interface__``'s typestr."""
    from warpkit import _validate as V

    class TensorLike:
        dtype = object()  # np.dtype(...) of it raises TypeError
        shape = (2, 3, 4, 1)
        __cuda_array_interface__ = {"typestr": "<f4", "shape": shape, "version": 3,
                                    "data": (0, False), "strides": None}

    t = TensorLike()
    assert V.dtype_of(t) == np.float32
    assert V.float_dtype(t, "input") == np.float32
    assert V.real(t, "grid") is t
    assert "dtype float32" in V.describe(t)


# --------------------------------------------------------------------------- PTX check coverage
class _Recorder:
    """Stands in for a kernel: records the numba types of each launch, then runs it."""

    def __init__(self, name, kernel, seen):
        self.name, self.kernel, self.seen = name, kernel, seen

    def __getitem__(self, config):
        def run(*args):
            self.seen.add((self.name, tuple(numba.typeof(a) for a in args)))
            return self.kernel[config](*args)

        return run


def test_every_launched_signature_is_compiled_by_the_ptx_check(monkeypatch):
    seen = set()
    for name, kernel in cb.KERNELS.items():
        monkeypatch.setattr(cb, name, _Recorder(name, kernel, seen))
    for dtype in DTYPES:
        inp, theta, grid, gout = data(dtype, seed=40, n=1)
        d_inp = cuda.to_device(inp)
        wk.affine_grid(theta, (1, 2, 2), backend="cuda")
        wk.affine_grid_backward(grid, backend="cuda")
        wk.grid_sample(d_inp, grid, mode="nearest", padding_mode="constant", cval=1.0)
        wk.affine_sample(d_inp, theta.astype(np.float16), align_corners=True)
        for need in (True, False):
            wk.grid_sample_backward(gout, d_inp, grid, need_input_grad=need)
            wk.affine_sample_backward(gout, d_inp, theta, need_input_grad=need)
        # strided device θ and grid, made contiguous on the device
        wk.grid_sample(d_inp, cuda.to_device(np.concatenate([grid, grid], 2))[:, :, ::2])
        wk.affine_sample(d_inp, cuda.to_device(np.concatenate([theta, theta], 2))[:, :, ::2])
    expected = {
        (name, sig)
        for dtype in _ptx_check.DTYPES
        for name, sig in _ptx_check.kernel_signatures(dtype).items()
    }
    assert seen == expected


def test_the_gpu_benchmark_checks_and_times_against_the_cpu_and_pytorch():
    """``benchmarks/bench_cuda.py``, which a session lent a GPU runs, on tiny shapes here: its
    CUDA results match the CPU backend's and PyTorch's (on the CPU here), and it times both."""
    import importlib.util
    import re
    from pathlib import Path

    torch = pytest.importorskip("torch")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_cuda.py"
    spec = importlib.util.spec_from_file_location("bench_cuda", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.set_num_threads(1)
    lines = bench.workload("W2", bench.SMALL["W2"], True, "cpu", repeats=1)
    diffs = [float(v) for v in re.findall(r"max \|[^|]+\| ([0-9.e+-]+)", lines[0])]
    assert len(diffs) == 2 and max(diffs) < 1e-5, lines[0]
    assert [line.split()[0] for line in lines[1:]] == ["warpkit", "pytorch"]


def test_one_process_runs_use_the_simulator_too():
    """``python -m pytest -n 0`` (one process, as the README suggests under a debugger) runs
    the CUDA tests in the simulator too, with ``NUMBA_ENABLE_CUDASIM`` left to
    ``tests/conftest.py``: a warning filter in pyproject that named a numba class once made
    pytest import numba before conftest chose the simulator, and every CUDA test then failed
    on the missing driver."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if env.get("NUMBA_ENABLE_CUDASIM") != "0":  # a real-GPU run keeps its choice
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    test = f"{Path(__file__).name}::test_affine_grid_matches_cpu"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", test],
        cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
