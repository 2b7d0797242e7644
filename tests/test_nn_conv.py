"""Conv2D and MaxPool2D: slow numpy references, finite differences, and PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warpkit.nn import Conv2D, MaxPool2D
from warpkit.nn import conv as conv_module
from warpkit.nn.conv import same_padding
from warpkit.testing import numerical_gradient_inplace


# --------------------------------------------------------------------------- references
def naive_conv(x, W, b, stride, pads):
    """Direct loops: out[n,i,j,o] = b[o] + sum_{a,b,c} xpad[n, i*s+a, j*s+b, c] W[a,b,c,o]."""
    pt, pb, pl, pr = pads
    xp = np.zeros((x.shape[0], x.shape[1] + pt + pb, x.shape[2] + pl + pr, x.shape[3]))
    xp[:, pt:pt + x.shape[1], pl:pl + x.shape[2]] = x
    kh, kw, _, co = W.shape
    Ho = (xp.shape[1] - kh) // stride + 1
    Wo = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], Ho, Wo, co))
    for n in range(x.shape[0]):
        for i in range(Ho):
            for j in range(Wo):
                patch = xp[n, i * stride:i * stride + kh, j * stride:j * stride + kw]
                out[n, i, j] = np.tensordot(patch, W, axes=3) + b
    return out


def naive_maxpool(x, k, s):
    N, H, W, C = x.shape
    Ho, Wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.empty((N, Ho, Wo, C))
    for i in range(Ho):
        for j in range(Wo):
            out[:, i, j] = x[:, i * s:i * s + k, j * s:j * s + k].max(axis=(1, 2))
    return out


def numeric_grad(f, a, eps=1e-6, max_entries=40, seed=0):
    """Central differences at up to ``max_entries`` random entries of ``a`` (NaN elsewhere)."""
    return numerical_gradient_inplace(f, a, eps, max_entries, seed)

def assert_fd_close(analytic, fd, rtol=1e-6, name=""):
    mask = ~np.isnan(fd)
    np.testing.assert_allclose(analytic[mask], fd[mask], rtol=rtol, atol=1e-8, err_msg=name)


def check_grads(layer, x, rng, rtol=1e-6):
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(layer.forward(x) * R))

    layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(R)
    assert_fd_close(dx, numeric_grad(loss, x), rtol, "dx")
    for name, p in layer.params.items():
        assert_fd_close(layer.grads[name], numeric_grad(loss, p), rtol, name)


def conv64(cin, cout, k, stride, padding, rng):
    c = Conv2D(cin, cout, k, stride, padding, rng=rng, dtype=np.float64)
    c.params["b"][...] = rng.standard_normal(cout)
    return c


# --------------------------------------------------------------------------- Conv2D
CASES = [
    # (H, W, cin, cout, k, stride, padding, pads (top, bottom, left, right) written by hand)
    (7, 6, 2, 3, 3, 1, "valid", (0, 0, 0, 0)),
    (7, 6, 2, 3, 3, 1, "same", (1, 1, 1, 1)),
    (6, 6, 1, 2, 4, 1, "same", (1, 2, 1, 2)),
    (7, 8, 2, 2, 3, 2, "same", (1, 1, 0, 1)),
    (7, 7, 3, 2, (3, 2), 2, 1, (1, 1, 1, 1)),
    (9, 8, 2, 4, 5, 2, (2, 0), (2, 2, 0, 0)),
]


@pytest.mark.parametrize("H,W,cin,cout,k,stride,padding,pads", CASES)
def test_conv_forward_matches_naive(H, W, cin, cout, k, stride, padding, pads):
    rng = np.random.default_rng(0)
    c = conv64(cin, cout, k, stride, padding, rng)
    assert c.pads(H, W) == pads
    x = rng.standard_normal((2, H, W, cin))
    expected = naive_conv(x, c.params["W"], c.params["b"], stride, pads)
    np.testing.assert_allclose(c.forward(x), expected, rtol=1e-12, atol=1e-12)
    c32 = Conv2D(cin, cout, k, stride, padding, rng=1)
    y32 = c32.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    ref32 = naive_conv(x.astype(np.float32), c32.params["W"], c32.params["b"], stride, pads)
    np.testing.assert_allclose(y32, ref32, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("H,W,cin,cout,k,stride,padding,pads", CASES)
def test_conv_grads_match_finite_differences(H, W, cin, cout, k, stride, padding, pads):
    rng = np.random.default_rng(1)
    check_grads(conv64(cin, cout, k, stride, padding, rng), rng.standard_normal((2, H, W, cin)),
                rng)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), cin=st.integers(1, 3),
    cout=st.integers(1, 3), k=st.integers(1, 4), stride=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", 0, 1, 2]), seed=st.integers(0, 2**16),
)
def test_conv_property_matches_naive(n, h, w, cin, cout, k, stride, padding, seed):
    rng = np.random.default_rng(seed)
    c = conv64(cin, cout, k, stride, padding, rng)
    Ho, Wo, _ = c.output_shape((h, w, cin))
    x = rng.standard_normal((n, h, w, cin))
    if Ho < 1 or Wo < 1:
        with pytest.raises(ValueError, match="does not fit"):
            c.forward(x)
        return
    pads = c.pads(h, w)
    np.testing.assert_allclose(c.forward(x), naive_conv(x, c.params["W"], c.params["b"],
                                                          stride, pads), rtol=1e-12, atol=1e-12)
    # backward is the adjoint of forward: <conv(x) - b, R> == <x, dx> and == <W, dW>
    R = rng.standard_normal((n, Ho, Wo, cout))
    c.zero_grad()
    dx = c.backward(R)
    lin = float(np.sum((c.forward(x) - c.params["b"]) * R))
    assert np.sum(x * dx) == pytest.approx(lin, rel=1e-9, abs=1e-9)
    assert np.sum(c.params["W"] * c.grads["W"]) == pytest.approx(lin, rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(c.grads["b"], R.sum(axis=(0, 1, 2)), rtol=1e-12)


@settings(max_examples=20, deadline=None)
@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4))
def test_same_padding_definition(size, k, s):
    before, after = same_padding(size, k, s)
    out = (size + before + after - k) // s + 1
    assert out == -(-size // s)
    assert after - before in (0, 1)
    assert before + after == max((out - 1) * s + k - size, 0)


def test_conv_input_grad_false_and_errors():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    a = Conv2D(2, 3, 3, rng=3)
    b = Conv2D(2, 3, 3, rng=3, input_grad=False)
    d = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    a.forward(x)
    b.forward(x)
    assert a.backward(d) is not None and b.backward(d) is None
    np.testing.assert_array_equal(a.grads["W"], b.grads["W"])
    with pytest.raises(ValueError, match="2 input channels"):
        a.forward(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        Conv2D(2, 3, 7).forward(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match="padding"):
        Conv2D(2, 3, 3, padding="full")
    with pytest.raises(TypeError, match="float32 or float64"):
        a.forward(np.zeros((1, 5, 5, 2), np.int32))


# --------------------------------------------------------------------------- MaxPool2D
@pytest.mark.parametrize("shape,k,s", [((2, 6, 6, 3), 2, None), ((2, 7, 5, 2), 2, None),
                                       ((1, 9, 8, 2), 3, 2), ((2, 5, 5, 1), 2, 1)])
def test_maxpool_forward_and_grads(shape, k, s):
    rng = np.random.default_rng(4)
    # distinct values, far apart compared with the FD step, so no window has a near tie
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.01
    pool = MaxPool2D(k, s)
    np.testing.assert_array_equal(pool.forward(x), naive_maxpool(x, k, s or k))
    check_grads(pool, x, rng)


def test_maxpool_ties_go_to_first_max_and_float32():
    x = np.zeros((1, 4, 4, 1), np.float32)
    pool = MaxPool2D(2)
    y = pool.forward(x)
    assert y.dtype == np.float32
    dx = pool.backward(np.ones_like(y))
    expected = np.zeros((4, 4), np.float32)
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)
    with pytest.raises(ValueError, match="does not fit"):
        pool.forward(np.zeros((1, 1, 4, 1), np.float32))


# --------------------------------------------------------------------------- torch parity
@pytest.mark.parity
@pytest.mark.parametrize(
    "H,W,cin,cout,k,stride,padding",
    [(9, 8, 2, 3, 3, 1, "same"), (9, 8, 2, 3, 5, 1, "valid"), (9, 8, 3, 2, 3, 2, 1),
     (10, 9, 2, 4, 4, 2, "valid"), (8, 8, 1, 2, (3, 5), 1, (1, 2)), (6, 6, 2, 2, 4, 1, "same")],
)
def test_conv_matches_torch(H, W, cin, cout, k, stride, padding):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    c = conv64(cin, cout, k, stride, padding, rng)
    x = rng.standard_normal((2, H, W, cin))
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    tW = torch.tensor(c.params["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    tb = torch.tensor(c.params["b"].copy(), requires_grad=True)
    ty = F.conv2d(tx, tW, tb, stride=stride, padding=padding)
    y = c.forward(x)
    np.testing.assert_allclose(y, ty.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-10,
                               atol=1e-12)
    R = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(R.transpose(0, 3, 1, 2).copy()))
    c.zero_grad()
    dx = c.backward(R)
    np.testing.assert_allclose(dx, tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(c.grads["W"], tW.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(c.grads["b"], tb.grad.numpy(), rtol=1e-10)


@pytest.mark.parity
@pytest.mark.parametrize("shape,k,s", [((2, 8, 8, 3), 2, 2), ((2, 9, 7, 2), 2, 2),
                                       ((1, 9, 9, 2), 3, 2), ((2, 6, 6, 2), 2, 2)])
def test_maxpool_matches_torch(shape, k, s):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape)
    if shape[1] == 6:
        x = np.round(x)  # many ties: the gradient must go where torch sends it
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, k, s)
    pool = MaxPool2D(k, s)
    y = pool.forward(x)
    np.testing.assert_array_equal(y, ty.detach().numpy().transpose(0, 2, 3, 1))
    R = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(R.transpose(0, 3, 1, 2).copy()))
    np.testing.assert_allclose(pool.backward(R), tx.grad.numpy().transpose(0, 2, 3, 1),
                               rtol=1e-12)


@pytest.mark.parametrize("small_k", [0, 10**6], ids=["im2col-blas", "direct"])
@pytest.mark.parametrize("case", [CASES[1], CASES[3], CASES[5]])
def test_conv_both_paths_match_naive_and_finite_differences(monkeypatch, small_k, case):
    """Conv2D picks direct numba convolution for kh·kw·C_in <= SMALL_K and im2col + BLAS above:
    force each path on the same layers."""
    H, W, cin, cout, k, stride, padding, pads = case
    monkeypatch.setattr(conv_module, "SMALL_K", small_k)
    rng = np.random.default_rng(7)
    c = conv64(cin, cout, k, stride, padding, rng)
    x = rng.standard_normal((3, H, W, cin))
    expected = naive_conv(x, c.params["W"], c.params["b"], stride, pads)
    np.testing.assert_allclose(c.forward(x), expected, rtol=1e-12, atol=1e-12)
    check_grads(c, x, rng)
    first = Conv2D(cin, cout, k, stride, padding, rng=3, dtype=np.float64, input_grad=False)
    first.forward(x)
    assert first.backward(rng.standard_normal(expected.shape[:3] + (cout,))) is None


@pytest.mark.parametrize("case", [CASES[1], CASES[5]])
def test_im2col_chunks_agree_and_match_naive(monkeypatch, case):
    """The im2col path works through the batch in chunks of CHUNK_BYTES of patches: one chunk,
    one sample per chunk and an uneven split agree (up to BLAS picking another kernel for
    another number of rows) and match the naive convolution."""
    H, W, cin, cout, k, stride, padding, pads = case
    monkeypatch.setattr(conv_module, "SMALL_K", 0)
    rng = np.random.default_rng(11)
    c = conv64(cin, cout, k, stride, padding, rng)
    x = rng.standard_normal((5, H, W, cin))
    expected = naive_conv(x, c.params["W"], c.params["b"], stride, pads)
    R = rng.standard_normal(expected.shape)
    per_sample = expected.shape[1] * expected.shape[2] * k * k * cin * 8
    results = []
    for chunk, n_chunks in ((10**9, 1), (1, 5), (2 * per_sample, 3)):  # the last: 2, 2, 1
        monkeypatch.setattr(conv_module, "CHUNK_BYTES", chunk)
        y = c.forward(x)
        assert len(conv_module._chunks(c._workspace)) == n_chunks
        c.zero_grad()
        dx = c.backward(R)
        results.append((y, dx, c.grads["W"].copy(), c.grads["b"].copy()))
    np.testing.assert_allclose(results[0][0], expected, rtol=1e-12, atol=1e-12)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 2 * per_sample)
    check_grads(c, x, rng)


# --------------------------------------------------------------------------- dtypes
def naive_maxpool_backward(x, dout, k, s):
    """dx: each window's gradient goes to its first maximum in row-major order."""
    dx = np.zeros(x.shape)
    for n, i, j, c in np.ndindex(*dout.shape):
        win = x[n, i * s:i * s + k, j * s:j * s + k, c]
        a, b = np.unravel_index(np.argmax(win), win.shape)
        dx[n, i * s + a, j * s + b, c] += dout[n, i, j, c]
    return dx


@pytest.mark.parametrize("dout_dtype", [">f4", ">f8", "<f8", np.float16, np.int32, np.uint8,
                                        np.bool_])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maxpool_backward_converts_a_real_dout_to_the_forward_dtype(dtype, dout_dtype):
    rng = np.random.default_rng(6)
    x = rng.permutation(2 * 6 * 6 * 3).reshape(2, 6, 6, 3).astype(dtype)
    pool = MaxPool2D(2)
    y = pool.forward(x)
    dout = rng.integers(0, 4, y.shape).astype(dout_dtype)
    dx = pool.backward(dout)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, naive_maxpool_backward(x, dout.astype(np.float64), 2, 2))


@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_big_endian_input_is_computed_as_its_native_float(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    native = np.dtype(dtype).newbyteorder("=")
    tol = 1e-5 if native == np.float32 else 1e-12
    y = MaxPool2D(2, 1).forward(x)
    assert y.dtype == native
    np.testing.assert_array_equal(y, naive_maxpool(x.astype(np.float64), 2, 1))
    for conv in (Conv2D(3, 2, 3, rng=0, dtype=native),  # direct path (27 weights a filter)
                 Conv2D(3, 2, 4, rng=0, dtype=native)):  # im2col (48)
        y = conv.forward(x)
        assert y.dtype == native
        ref = naive_conv(x.astype(np.float64), conv.params["W"].astype(np.float64),
                         conv.params["b"].astype(np.float64), 1, (0, 0, 0, 0))
        np.testing.assert_allclose(y, ref, rtol=tol, atol=tol)
