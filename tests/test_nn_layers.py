"""warpkit.nn core layers, Sequential, loss and optimizers.

Gradients are checked against central finite differences in float64; the loss and the
optimizers against slow, obvious re-implementations (and PyTorch where importable).
"""

from __future__ import annotations

import numpy as np
import pytest

from warpkit.nn import (
    SGD,
    Adam,
    Dense,
    Dropout,
    Flatten,
    ReLU,
    Sequential,
    Tanh,
    softmax_cross_entropy,
)
from warpkit.nn.layers import init_weights
from warpkit.testing import numerical_gradient_inplace


# --------------------------------------------------------------------------- FD helpers
def numeric_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of ``a`` (in place)."""
    return numerical_gradient_inplace(f, a, eps)

def check_layer_grads(layer, x: np.ndarray, rng, before_forward=lambda: None, rtol=1e-6):
    """Analytic dx and param grads of sum(layer(x) * R) against finite differences."""
    before_forward()
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)

    def loss() -> float:
        before_forward()
        return float(np.sum(layer.forward(x) * R))

    before_forward()
    layer.forward(x)
    layer.zero_grad()
    dx = layer.backward(R)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=rtol, atol=1e-8)
    for name, p in layer.params.items():
        np.testing.assert_allclose(
            layer.grads[name], numeric_grad(loss, p), rtol=rtol, atol=1e-8, err_msg=name
        )


# --------------------------------------------------------------------------- layers
def test_dense_forward_is_affine_map():
    rng = np.random.default_rng(0)
    d = Dense(5, 3, rng)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    d.params["b"][...] = rng.standard_normal(3)
    expected = np.array(
        [[sum(x[n, i] * d.params["W"][i, j] for i in range(5)) + d.params["b"][j]
          for j in range(3)] for n in range(4)]
    )
    y = d.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("init", ["he", "glorot"])
def test_dense_grads_match_finite_differences(init):
    rng = np.random.default_rng(1)
    d = Dense(6, 4, rng, init=init, dtype=np.float64)
    d.params["b"][...] = rng.standard_normal(4)
    check_layer_grads(d, rng.standard_normal((3, 6)), rng)


def test_relu_and_tanh_grads():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5, 2))
    x[np.abs(x) < 0.05] = 0.5  # keep away from ReLU's kink
    check_layer_grads(ReLU(), x, rng)
    check_layer_grads(Tanh(), rng.standard_normal((5, 7)), rng)


def test_flatten_is_c_order_and_grads():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4, 5))
    y = Flatten().forward(x)
    assert y.shape == (2, 60)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    check_layer_grads(Flatten(), x, rng)


def test_dropout_identity_at_eval_and_fd_with_fixed_mask():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 10))
    drop = Dropout(0.3, rng=0)
    np.testing.assert_array_equal(drop.forward(x, training=False), x)
    np.testing.assert_array_equal(drop.backward(x), x)

    def reseed():
        drop.rng = np.random.default_rng(123)

    check_layer_grads(drop, x, rng, before_forward=reseed)


def test_dropout_statistics():
    drop = Dropout(0.25, rng=5)
    x = np.ones((400, 500), dtype=np.float32)
    y = drop.forward(x)
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    with pytest.raises(ValueError, match="rate"):
        Dropout(1.0)


def test_grads_accumulate():
    rng = np.random.default_rng(6)
    model = Sequential(Flatten(), Dense(12, 5, rng, dtype=np.float64), Tanh(),
                       Dense(5, 3, rng, dtype=np.float64))
    x = rng.standard_normal((4, 2, 3, 2))
    dout = rng.standard_normal((4, 3))
    model.zero_grad()
    model.forward(x)
    model.backward(dout)
    once = {k: g.copy() for k, g in model.grads.items()}
    model.forward(x)
    model.backward(dout)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, err_msg=k)
    model.zero_grad()
    assert all(not g.any() for g in model.grads.values())


def test_sequential_grads_match_finite_differences():
    rng = np.random.default_rng(7)
    model = Sequential(Flatten(), Dense(12, 6, rng, dtype=np.float64), Tanh(),
                       Dense(6, 3, rng, "glorot", dtype=np.float64))
    check_layer_grads(model, rng.standard_normal((3, 2, 3, 2)), rng)


def test_input_grad_false_returns_none_only_when_nothing_is_lost():
    rng = np.random.default_rng(8)
    ok = Sequential(Flatten(), Dense(4, 3, rng, input_grad=False), ReLU(), Dense(3, 2, rng))
    ok.backward(ok.forward(rng.random((2, 2, 2), dtype=np.float32)))
    assert ok.backward(np.ones((2, 2), np.float32)) is None
    bad = Sequential(Dense(4, 3, rng), Dense(3, 2, rng, input_grad=False))
    bad.forward(rng.random((2, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match="input_grad=False"):
        bad.backward(np.ones((2, 2), np.float32))


def test_named_parameters_state_dict_roundtrip_and_errors():
    rng = np.random.default_rng(9)
    inner = Sequential(Dense(3, 4, rng), ReLU(), Dense(4, 2, rng))
    model = Sequential(inner, Tanh(), Dense(2, 2, rng))
    names = [n for n, _, _ in model.named_parameters()]
    assert names == ["0.0.W", "0.0.b", "0.2.W", "0.2.b", "2.W", "2.b"]
    for _, p, g in model.named_parameters():
        assert p.shape == g.shape and p.dtype == np.float32
    state = model.state_dict()
    other = Sequential(Sequential(Dense(3, 4, 1), ReLU(), Dense(4, 2, 1)), Tanh(), Dense(2, 2, 1))
    other.load_state_dict(state)
    x = rng.random((5, 3), dtype=np.float32)
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    state["0.0.W"][...] = 7  # a copy: the model is untouched
    assert not (model.params["0.0.W"] == 7).any()
    missing = dict(state)
    del missing["2.b"]
    with pytest.raises(KeyError, match="2.b"):
        other.load_state_dict(missing)
    wrong = dict(state, **{"2.W": np.zeros((3, 2), np.float32)})
    with pytest.raises(ValueError, match=r"2\.W.*\(3, 2\)"):
        other.load_state_dict(wrong)


def test_init_bounds_and_determinism():
    a = Dense(300, 200, rng=11)
    b = Dense(300, 200, rng=11)
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    W = a.params["W"]
    bound = np.sqrt(6 / 300)
    assert np.abs(W).max() <= bound
    assert abs(W.std() - bound / np.sqrt(3)) < 0.02 * bound
    g = Dense(300, 200, rng=11, init="glorot").params["W"]
    assert np.abs(g).max() <= np.sqrt(6 / 500)
    p = Dense(300, 200, rng=11, init="pytorch").params["W"]  # torch.nn.Linear's default
    assert np.abs(p).max() <= 1 / np.sqrt(300)
    assert abs(p.std() - 1 / np.sqrt(3 * 300)) < 0.02 / np.sqrt(300)
    assert not a.params["b"].any()
    with pytest.raises(ValueError, match="init"):
        Dense(2, 2, init="lecun")


def test_dense_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, 5\).*\(2, 4\)"):
        Dense(5, 3).forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="in_features"):
        Dense(0, 3)


# --------------------------------------------------------------------------- loss
def test_softmax_cross_entropy_against_reference_and_fd():
    rng = np.random.default_rng(12)
    logits = rng.standard_normal((6, 5)) * 3
    labels = rng.integers(0, 5, 6)
    loss, d = softmax_cross_entropy(logits, labels)
    ref = np.mean([-np.log(np.exp(logits[n, labels[n]]) / np.exp(logits[n]).sum())
                   for n in range(6)])
    assert isinstance(loss, float)
    assert loss == pytest.approx(ref, rel=1e-12)
    fd = numeric_grad(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(d, fd, rtol=1e-6, atol=1e-9)


def test_softmax_cross_entropy_stable_float32_and_errors():
    logits = np.array([[1000.0, 0.0], [0.0, -1000.0]], dtype=np.float32)
    loss, d = softmax_cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(0.0, abs=1e-6)
    assert d.dtype == np.float32
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        softmax_cross_entropy(logits, np.array([0, 2]))
    with pytest.raises(ValueError, match=r"\(2,\)"):
        softmax_cross_entropy(logits, np.array([0]))
    with pytest.raises(TypeError, match="integers"):
        softmax_cross_entropy(logits, np.array([0.0, 1.0]))


# --------------------------------------------------------------------------- optimizers
def _quadratic_model(rng, dtype=np.float64):
    return Sequential(Dense(3, 2, rng, dtype=dtype))


def _grads_from(model, rng):
    for _, _, g in model.named_parameters():
        g[...] = rng.standard_normal(g.shape)


def test_sgd_momentum_against_reference():
    rng = np.random.default_rng(13)
    model = _quadratic_model(rng)
    opt = SGD(model, lr=0.1, momentum=0.9)
    p_ref = {k: p.copy() for k, p in model.params.items()}
    v_ref = {k: np.zeros_like(p) for k, p in p_ref.items()}
    for _ in range(4):
        _grads_from(model, rng)
        for k, g in model.grads.items():
            v_ref[k] = 0.9 * v_ref[k] + g
            p_ref[k] = p_ref[k] - 0.1 * v_ref[k]
        opt.step()
    for k, p in model.params.items():
        np.testing.assert_allclose(p, p_ref[k], rtol=1e-12)


def test_adam_against_reference_and_keeps_float32():
    rng = np.random.default_rng(14)
    model = _quadratic_model(rng)
    opt = Adam(model, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    p_ref = {k: p.copy() for k, p in model.params.items()}
    m = {k: 0.0 for k in p_ref}
    v = {k: 0.0 for k in p_ref}
    for t in range(1, 6):
        _grads_from(model, rng)
        for k, g in model.grads.items():
            m[k] = 0.8 * m[k] + 0.2 * g
            v[k] = 0.99 * v[k] + 0.01 * g**2
            mhat = m[k] / (1 - 0.8**t)
            vhat = v[k] / (1 - 0.99**t)
            p_ref[k] = p_ref[k] - 0.01 * mhat / (np.sqrt(vhat) + 1e-6)
        opt.step()
    for k, p in model.params.items():
        np.testing.assert_allclose(p, p_ref[k], rtol=1e-10)
    m32 = _quadratic_model(rng, np.float32)
    opt32 = Adam(m32)
    _grads_from(m32, rng)
    opt32.step()
    assert all(p.dtype == np.float32 for p in m32.params.values())
    assert all(s.dtype == np.float32 for st in opt32.state.values() for s in st)


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_optimizers_match_torch(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    model = _quadratic_model(rng)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in model.params.values()]
    if kind == "sgd":
        ours, theirs = SGD(model, 0.05, 0.9), torch.optim.SGD(tp, lr=0.05, momentum=0.9)
    else:
        ours, theirs = Adam(model, 0.05), torch.optim.Adam(tp, lr=0.05)
    for _ in range(5):
        _grads_from(model, rng)
        for t, g in zip(tp, model.grads.values(), strict=True):
            t.grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
    for t, p in zip(tp, model.params.values(), strict=True):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_optimizer_argument_errors():
    with pytest.raises(TypeError, match="named_parameters"):
        Adam(object())
    with pytest.raises(ValueError, match="lr"):
        SGD(_quadratic_model(np.random.default_rng(0)), lr=0.0)


def test_tiny_mlp_learns_xor():
    rng = np.random.default_rng(16)
    x = rng.uniform(-1, 1, (128, 2)).astype(np.float32)
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    model = Sequential(Dense(2, 32, rng), ReLU(), Dense(32, 2, rng, "glorot"))
    opt = Adam(model, lr=0.02)
    losses = []
    for _ in range(200):
        model.zero_grad()
        loss, d = softmax_cross_entropy(model.forward(x), y)
        model.backward(d)
        opt.step()
        losses.append(loss)
    assert losses[-1] < 0.3 * losses[0]
    assert (model.forward(x, training=False).argmax(1) == y).mean() > 0.9


def test_relu_backward_refuses_a_gradient_of_another_shape():
    relu = ReLU()
    relu.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(1, 3\)"):
        relu.backward(np.ones((1, 3), np.float32))  # would broadcast silently


def _layers_and_inputs():
    """Each layer with a forward input (float32, channels-last); the shapes its output has."""
    from warpkit.nn import Conv2D, MaxPool2D, SpatialTransformer

    rng = np.random.default_rng(0)
    img = rng.random((4, 8, 8, 1), dtype=np.float32)
    loc = Sequential(Flatten(), Dense(64, 6, init="zeros", dtype=np.float32))
    return [
        (Dense(5, 3, dtype=np.float32), rng.random((4, 5), dtype=np.float32)),
        (ReLU(), img),
        (Tanh(), img),
        (Flatten(), img),
        (Dropout(0.5, rng=0), img),
        (Conv2D(1, 2, 3, dtype=np.float32), img),  # the direct path (3x3x1 weights)
        (Conv2D(1, 40, 6, dtype=np.float32), img),  # im2col (6x6x1 = 36 weights a filter)
        (MaxPool2D(2), img),
        (SpatialTransformer(loc, out_size=(8, 8)), img),
    ]


def _other_shapes(shape):
    """Gradients that a kernel would read or write past their end, or that would broadcast."""
    n = shape[0]
    yield (1,) + shape[1:]  # fewer samples: broadcasts, or reads past the end
    yield (n * 2,) + shape[1:]
    yield shape[:-1] + (shape[-1] + 3,)  # more channels
    if len(shape) == 4:
        yield (n, shape[3], shape[1], shape[2])  # channels first
        yield (n, shape[1] * 5, shape[2] * 5, shape[3])  # a bigger image


@pytest.mark.parametrize("k", range(9))
def test_backward_refuses_a_gradient_of_another_shape(k):
    layer, x = _layers_and_inputs()[k]
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((4, 3), np.float32))
    y = layer.forward(x)
    for shape in _other_shapes(y.shape):
        if shape == y.shape:
            continue
        with pytest.raises(ValueError, match=rf"expects dout of shape \({y.shape[0]}, .*got"):
            layer.backward(np.ones(shape, np.float32))
    with pytest.raises(TypeError, match="numpy array"):
        layer.backward(y.tolist())
    layer.backward(np.ones(y.shape, np.float32))  # and the right shape still works


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble])
def test_relu_of_dtypes_without_a_kernel(dtype):
    x = np.array([[-1.5, 0.0, 2.5]], dtype=dtype)
    relu = ReLU()
    y = relu.forward(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, [[0.0, 0.0, 2.5]])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("k", [5, 6, 7, 8])  # Conv2D direct, Conv2D im2col, MaxPool2D, ST
@pytest.mark.parametrize("dtype", ["U3", object, np.complex128])
def test_backward_refuses_a_dout_that_is_not_real(k, dtype):
    layer, x = _layers_and_inputs()[k]
    y = layer.forward(x)
    with pytest.raises(TypeError, match=r"backward.s dout must hold real numbers .*, got"):
        layer.backward(np.ones(y.shape, dtype))


def test_masked_arrays_are_refused():
    """The losses and layers read an array's data: a mask would be silently ignored."""
    logits = np.ma.masked_array(np.zeros((2, 3), np.float32), [[1, 0, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match="logits must not be a masked array"):
        softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(TypeError, match="labels must not be a masked array"):
        softmax_cross_entropy(logits.data, np.ma.masked_array([0, 1], [1, 0]))
    with pytest.raises(TypeError, match="Dense's input must not be a masked array"):
        Dense(3, 2, rng=0).forward(np.ma.masked_array(np.zeros((2, 3), np.float32)))


def test_softmax_cross_entropy_accepts_big_endian_float32():
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((4, 5)).astype(">f4")
    labels = np.array([0, 4, 2, 2])
    z = logits.astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected_loss = -np.mean(np.log(p[np.arange(4), labels]))
    expected_grad = (p - np.eye(5)[labels]) / 4
    loss, d = softmax_cross_entropy(logits, labels)
    assert d.dtype == np.float32
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(d, expected_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make,exc,match", [
    (lambda m: Adam(m, lr=float("inf")), ValueError, "lr must be a positive finite float"),
    (lambda m: Adam(m, eps=float("inf")), ValueError, "eps must be a positive finite float"),
    (lambda m: Adam(m, lr="0.1"), TypeError, "lr must be .*'0.1'"),
    (lambda m: Adam(m, lr=None), TypeError, "lr must be .*None"),
    (lambda m: Adam(m, betas=(0.9,)), ValueError, r"betas must be a pair .*\(0.9,\)"),
    (lambda m: Adam(m, betas=("0.9", 0.99)), TypeError, r"betas\[0\] must be"),
    (lambda m: SGD(m, lr=float("inf")), ValueError, "lr must be a positive finite float"),
    (lambda m: SGD(m, lr=-float("inf")), ValueError, "lr must be a positive finite float"),
    (lambda m: SGD(m, lr="0.1"), TypeError, "lr must be .*'0.1'"),
    (lambda m: SGD(m, lr=0.1, momentum="0.5"), TypeError, "momentum must be .*'0.5'"),
    (lambda m: Dropout("0.5"), TypeError, "rate must be .*'0.5'"),
    (lambda m: Dropout(None), TypeError, "rate must be .*None"),
])
def test_hyper_parameters_must_be_finite_real_numbers(make, exc, match):
    with pytest.raises(exc, match=match):
        make(_quadratic_model(np.random.default_rng(0)))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(fan_in=0), ValueError, "fan_in must be a positive int, got 0"),
    (dict(fan_in=-3), ValueError, "fan_in must be a positive int, got -3"),
    (dict(fan_in=float("nan")), ValueError, "fan_in must be a positive int, got nan"),
    (dict(fan_out=0, init="glorot"), ValueError, "fan_out must be a positive int, got 0"),
    (dict(dtype=np.int32), TypeError, "dtype must be a float dtype"),
    (dict(dtype=np.int32, init="zeros"), TypeError, "dtype must be a float dtype"),
])
def test_init_weights_argument_errors(kwargs, exc, match):
    args = dict(shape=(3, 4), fan_in=3, fan_out=4, init="he", rng=0, dtype=np.float32)
    with pytest.raises(exc, match=match):
        init_weights(**{**args, **kwargs})


@pytest.mark.parametrize("rng", [None, 5, np.int64(5)])
def test_init_weights_takes_a_seed_or_none_as_the_layers_do(rng):
    W = init_weights((30, 4), 30, 4, "pytorch", rng, np.float64)
    assert W.shape == (30, 4) and W.dtype == np.float64
    assert np.abs(W).max() <= 1 / np.sqrt(30)
    if rng is not None:
        expected = np.random.default_rng(5).uniform(-1 / np.sqrt(30), 1 / np.sqrt(30), (30, 4))
        np.testing.assert_array_equal(W, expected)
