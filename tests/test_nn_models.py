"""SpatialTransformer layer and the four models of warpkit.nn.models."""

from __future__ import annotations

import numpy as np
import pytest

import warpkit
from warpkit.nn import (
    Adam,
    Dense,
    Flatten,
    Sequential,
    SpatialTransformer,
    Tanh,
    models,
    softmax_cross_entropy,
)
from warpkit.testing import numerical_gradient_inplace


def numeric_grad(f, a, eps=1e-6, max_entries=40, seed=0):
    """Central differences at up to ``max_entries`` random entries of ``a`` (NaN elsewhere)."""
    return numerical_gradient_inplace(f, a, eps, max_entries, seed)

def assert_fd_close(analytic, fd, rtol=1e-5, atol=1e-8, name=""):
    mask = ~np.isnan(fd)
    np.testing.assert_allclose(analytic[mask], fd[mask], rtol=rtol, atol=atol, err_msg=name)


def smooth_images(n, h, w, c, rng):
    """Sums of wide Gaussian blobs: smooth, so bilinear kinks barely show in differences."""
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((n, h, w, c))
    for idx in np.ndindex(n, c):
        for _ in range(3):
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            s = rng.uniform(0.25, 0.5) * max(h, w)
            out[idx[0], :, :, idx[1]] += rng.uniform(0.3, 1) * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return out


def small_st(rng, h=9, w=8, c=2, out_size=None, input_grad=True):
    loc = Sequential(Flatten(), Dense(h * w * c, 5, rng, "glorot", np.float64), Tanh(),
                     Dense(5, 6, rng, "glorot", np.float64))
    st = SpatialTransformer(loc, out_size=out_size, input_grad=input_grad)
    # move away from the identity start so that θ depends on the input
    last = loc.layers[-1].params
    last["W"][...] = rng.standard_normal(last["W"].shape) * 0.1
    last["b"][...] += rng.standard_normal(6) * 0.1
    return st


# --------------------------------------------------------------------------- SpatialTransformer
@pytest.mark.parametrize("out_size", [None, (6, 7)])
def test_spatial_transformer_grads_match_finite_differences(out_size):
    rng = np.random.default_rng(0)
    st = small_st(rng, out_size=out_size)
    x = smooth_images(2, 9, 8, 2, rng)
    y = st.forward(x)
    assert y.shape == (2,) + (out_size or (9, 8)) + (2,)
    R = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(st.forward(x) * R))

    st.forward(x)
    st.zero_grad()
    dx = st.backward(R)
    assert_fd_close(dx, numeric_grad(loss, x, max_entries=60), name="dU")
    for name, p in st.params.items():
        assert name.startswith("loc.")
        assert_fd_close(st.grads[name], numeric_grad(loss, p), name=name)


def test_spatial_transformer_matches_sampler_and_input_grad_flag():
    rng = np.random.default_rng(1)
    a = small_st(rng)
    b = small_st(np.random.default_rng(1), input_grad=False)
    x = smooth_images(3, 9, 8, 2, rng)
    y = a.forward(x)
    assert a.theta.shape == (3, 2, 3)
    flat = a.loc.forward(x)
    np.testing.assert_array_equal(a.theta, flat.reshape(3, 2, 3))
    np.testing.assert_array_equal(y, warpkit.affine_sample(x, flat.reshape(3, 2, 3)))
    R = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(b.forward(x), y)
    a.zero_grad()
    b.zero_grad()
    assert a.backward(R).shape == x.shape
    assert b.backward(R) is None
    for k, g in a.grads.items():
        np.testing.assert_allclose(b.grads[k], g, rtol=1e-12, atol=1e-15, err_msg=k)


def test_spatial_transformer_identity_start():
    rng = np.random.default_rng(2)
    loc = Sequential(Flatten(), Dense(5 * 4 * 3, 6, rng))
    st = SpatialTransformer(loc)
    np.testing.assert_array_equal(loc.layers[-1].params["W"], 0)
    np.testing.assert_array_equal(loc.layers[-1].params["b"], [1, 0, 0, 0, 1, 0])
    x = rng.random((2, 5, 4, 3), dtype=np.float32)
    y = st.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(st.theta, np.tile([[1, 0, 0], [0, 1, 0]], (2, 1, 1)))


def test_spatial_transformer_errors():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="Dense"):
        SpatialTransformer(Sequential(Flatten(), Dense(4, 5, rng)))
    with pytest.raises(TypeError, match="Sequential"):
        SpatialTransformer(Dense(4, 6, rng))
    with pytest.raises(ValueError, match="out_size"):
        SpatialTransformer(Sequential(Flatten(), Dense(4, 6, rng)), out_size=(0, 3))


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(align_corners="False"), TypeError, "align_corners must be True or False, got 'False'"),
    (dict(align_corners=2), TypeError, "align_corners must be True or False, got 2"),
    (dict(align_corners=None), TypeError, "align_corners must be True or False, got None"),
    (dict(input_grad="False"), TypeError, "input_grad must be True or False, got 'False'"),
    (dict(input_grad=0), TypeError, "input_grad must be True or False, got 0"),
    (dict(out_size=(2.7, 3)), ValueError, r"out_size must be a pair .*\(2.7, 3\)"),
    (dict(out_size=(float("nan"), 3)), ValueError, r"out_size must be a pair .*nan"),
    (dict(out_size="ab"), ValueError, "out_size must be a pair .*'ab'"),
    (dict(out_size=(True, 3)), ValueError, r"out_size must be a pair .*\(True, 3\)"),
])
def test_spatial_transformer_refuses_arguments_it_would_coerce(kwargs, exc, match):
    loc = Sequential(Flatten(), Dense(4, 6, np.random.default_rng(3)))
    with pytest.raises(exc, match=match):
        SpatialTransformer(loc, **kwargs)
    assert loc.layers[-1].input_grad  # refused before anything was changed


def test_spatial_transformer_accepts_big_endian_input():
    """The default localization net starts with MaxPool2D; at the identity start the output
    is the input."""
    st = SpatialTransformer(models.localization_net((28, 28, 1), np.random.default_rng(4)))
    x = np.random.default_rng(5).random((2, 28, 28, 1)).astype(">f4")
    y = st.forward(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    dx = st.backward(np.ones(y.shape, ">f4"))
    assert dx.dtype == np.float32 and dx.shape == x.shape


@pytest.mark.parametrize("input_grad", [True, False])
def test_spatial_transformer_on_an_empty_batch(input_grad):
    st = SpatialTransformer(models.localization_net((28, 28, 1), np.random.default_rng(6)),
                            out_size=(5, 6), input_grad=input_grad)
    y = st.forward(np.zeros((0, 28, 28, 1), np.float32))
    assert y.shape == (0, 5, 6, 1) and y.dtype == np.float32
    st.zero_grad()
    dx = st.backward(np.zeros((0, 5, 6, 1), np.float32))
    assert (dx is None) if not input_grad else dx.shape == (0, 28, 28, 1)
    for name, g in st.grads.items():
        assert not g.any(), name  # nothing to learn from no samples


# --------------------------------------------------------------------------- models
@pytest.mark.parametrize("name", models.MODEL_NAMES)
def test_build_shapes_determinism_and_identity_start(name):
    shape = (28, 28, 1)
    m = models.build(name, shape, num_classes=7, seed=3)
    x = np.random.default_rng(4).random((2,) + shape, dtype=np.float32)
    y = m.forward(x)
    assert y.shape == (2, 7) and y.dtype == np.float32
    names = [n for n, _, _ in m.named_parameters()]
    assert len(names) == len(set(names))
    assert all(p.dtype == np.float32 for _, p, _ in m.named_parameters())
    same = models.build(name, shape, num_classes=7, seed=3)
    other = models.build(name, shape, num_classes=7, seed=4)
    for k, p in m.state_dict().items():
        np.testing.assert_array_equal(same.params[k], p, err_msg=k)
    assert any(not np.array_equal(other.params[k], p) for k, p in m.params.items())
    if name.startswith("st-"):
        st = m.layers[0]
        assert isinstance(st, SpatialTransformer)
        np.testing.assert_array_equal(st.forward(x, training=False), x)
        assert names[0].startswith("0.loc.")
        classifier = Sequential(*m.layers[1:])  # the same layer objects, without the ST
        np.testing.assert_array_equal(classifier.forward(x), y)


def test_architectures_follow_the_issue():
    cnn = models.build("cnn", (42, 42, 1))
    kinds = [type(layer).__name__ for layer in cnn.layers]
    # the issue's Conv -> ReLU -> MaxPool, built as the identical Conv -> MaxPool -> ReLU
    assert kinds == ["Conv2D", "MaxPool2D", "ReLU", "Conv2D", "MaxPool2D", "ReLU", "Flatten",
                     "Dense", "ReLU", "Dense"]
    assert cnn.params["0.W"].shape == (3, 3, 1, 32) and cnn.params["3.W"].shape == (3, 3, 32, 32)
    assert cnn.params["7.W"].shape == (10 * 10 * 32, 256)
    fcn = models.build("fcn", (42, 42, 1))
    assert [fcn.params[k].shape for k in ("1.W", "3.W", "5.W")] == [(1764, 256), (256, 256),
                                                                    (256, 10)]
    loc = models.build("st-fcn", (42, 42, 1)).layers[0].loc
    kinds = [type(layer).__name__ for layer in loc.layers]
    assert kinds == ["MaxPool2D", "Conv2D", "MaxPool2D", "ReLU", "Conv2D", "ReLU", "Flatten",
                     "Dense", "ReLU", "Dense"]
    # 42 -> pool 21 -> conv5 17 -> pool 8 -> conv5 4: 4*4*20 features
    assert loc.params["7.W"].shape == (320, 50) and loc.params["9.W"].shape == (50, 6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_then_relu_is_bit_identical_to_relu_then_pool(dtype):
    """models build "ReLU -> MaxPool" as MaxPool -> ReLU; same outputs and gradients, bitwise,
    also with windows that are all negative, all zero or tied."""
    m = models.build("cnn", (12, 12, 1), num_classes=4, seed=3, dtype=dtype)
    L = m.layers
    assert [type(L[i]).__name__ for i in (1, 2, 4, 5)] == ["MaxPool2D", "ReLU"] * 2
    as_in_issue = Sequential(L[0], L[2], L[1], L[3], L[5], L[4], *L[6:])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 12, 12, 1)).astype(dtype)
    x[0] = -1.0  # every first-conv window of sample 0 equal: ties everywhere
    x[1, :6] = 0.0
    m.params["0.b"][:3] = [-50.0, 0.0, 50.0]  # channels that are all negative / all positive
    labels = np.array([0, 1, 2, 3, 0])
    results = []
    for net in (m, as_in_issue):
        net.zero_grad()
        logits = net.forward(x)
        dx = net.backward(softmax_cross_entropy(logits, labels)[1])
        results.append((logits, dx, {k: g.copy() for k, g in net.grads.items()}))
    (l1, d1, g1), (l2, d2, g2) = results
    np.testing.assert_array_equal(l1, l2)
    assert d1 is None and d2 is None  # the first conv skips the input gradient
    assert g1.keys() == g2.keys()
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)
        assert np.any(g1[k] != 0), k


def test_build_errors():
    with pytest.raises(ValueError, match="model must be one of"):
        models.build("resnet")
    with pytest.raises(ValueError, match="too small"):
        models.build("st-cnn", (16, 16, 1))
    with pytest.raises(ValueError, match="input_shape"):
        models.build("fcn", (28, 28))


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_classes=None), "num_classes must be a positive int, got None"),
    (dict(num_classes=float("nan")), "num_classes must be a positive int, got nan"),
    (dict(num_classes=float("inf")), "num_classes must be a positive int, got inf"),
    (dict(input_shape=(28.7, 28, 1)), r"input_shape must be .*\(28.7, 28, 1\)"),
    (dict(input_shape=("28", "28", "1")), r"input_shape must be .*\('28', '28', '1'\)"),
    (dict(input_shape="abc"), "input_shape must be .*'abc'"),
    (dict(seed=-1), "seed must be an int >= 0, got -1"),
    (dict(seed=1.5), "seed must be an int >= 0, got 1.5"),
])
def test_build_names_the_bad_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.build("fcn", **{"input_shape": (8, 8, 1), **kwargs})


@pytest.mark.parametrize("shape", [(28, 28), (28.0, 28.0, 1), (28, 28, 0)])
def test_localization_net_names_a_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        models.localization_net(shape, np.random.default_rng(0))


def test_model_grads_match_finite_differences_and_accumulate():
    rng = np.random.default_rng(5)
    m = models.build("st-cnn", (28, 28, 1), num_classes=3, seed=1, dtype=np.float64)
    st = m.layers[0]
    last = st.loc.layers[-1].params  # leave the identity so the θ path is exercised
    last["W"][...] = rng.standard_normal(last["W"].shape) * 0.05
    x = smooth_images(2, 28, 28, 1, rng)
    labels = np.array([0, 2])

    def loss():
        return softmax_cross_entropy(m.forward(x), labels)[0]

    m.zero_grad()
    _, d = softmax_cross_entropy(m.forward(x), labels)
    assert m.backward(d) is None  # the ST is first and skips dU
    once = {k: g.copy() for k, g in m.grads.items()}
    for k in ("0.loc.9.W", "0.loc.4.W", "1.W", "4.W", "10.b"):
        assert_fd_close(once[k], numeric_grad(loss, m.params[k], max_entries=5), rtol=1e-4,
                        atol=1e-7, name=k)
    m.forward(x)
    m.backward(d)
    for k, g in m.grads.items():
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-12, atol=1e-300, err_msg=k)


def _blobs(n, rng):
    """Tiny task: is the bright blob in the left or the right half of an 8x8 image?"""
    x = rng.random((n, 8, 8, 1), dtype=np.float32) * 0.2
    y = rng.integers(0, 2, n)
    for i in range(n):
        c = rng.integers(0, 3) + 5 * y[i]
        r = rng.integers(0, 7)
        x[i, r:r + 2, c:c + 2 - (c == 7), 0] += 1
    return x, y.astype(np.int64)


def test_tiny_cnn_learns():
    rng = np.random.default_rng(6)
    x, y = _blobs(64, rng)
    m = models.build("cnn", (8, 8, 1), num_classes=2, seed=0)
    opt = Adam(m, lr=3e-3)
    losses = []
    for _ in range(25):
        m.zero_grad()
        loss, d = softmax_cross_entropy(m.forward(x), y)
        m.backward(d)
        opt.step()
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0]


def test_st_fcn_trains_and_moves_theta():
    rng = np.random.default_rng(7)
    x = np.zeros((32, 28, 28, 1), np.float32)
    x[:, 8:20, 8:20] = rng.random((32, 12, 12, 1), dtype=np.float32)
    y = (x[:, 8:14, 8:20].sum(axis=(1, 2, 3)) > x[:, 14:20, 8:20].sum(axis=(1, 2, 3)))
    y = y.astype(np.int64)
    m = models.build("st-fcn", (28, 28, 1), num_classes=2, seed=0)
    opt = Adam(m, lr=1e-3)
    losses = []
    for _ in range(15):
        m.zero_grad()
        loss, d = softmax_cross_entropy(m.forward(x), y)
        m.backward(d)
        opt.step()
        losses.append(loss)
    assert losses[-1] < losses[0]
    assert not np.array_equal(m.layers[0].theta, np.tile([[1, 0, 0], [0, 1, 0]], (32, 1, 1)))


@pytest.mark.parity
def test_st_fcn_matches_torch():
    """The whole st-fcn (forward logits and every parameter gradient) against PyTorch."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    m = models.build("st-fcn", (28, 28, 1), num_classes=4, seed=2, dtype=np.float64)
    P = m.params
    P["0.loc.9.W"][...] = rng.standard_normal((50, 6)) * 0.05
    x = smooth_images(3, 28, 28, 1, rng)
    labels = np.array([0, 3, 1])
    t = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in P.items()}

    def tconv(h, k):  # our (kh, kw, Cin, Cout) weights
        return F.relu(F.conv2d(h, t[k + ".W"].permute(3, 2, 0, 1), t[k + ".b"]))

    def tdense(h, k):
        return h @ t[k + ".W"] + t[k + ".b"]

    tx = torch.tensor(x).permute(0, 3, 1, 2)
    h = tconv(F.max_pool2d(tx, 2), "0.loc.1")
    h = tconv(F.max_pool2d(h, 2), "0.loc.4")
    h = h.permute(0, 2, 3, 1).reshape(3, -1)  # flatten channels-last, as warpkit does
    theta = tdense(F.relu(tdense(h, "0.loc.7")), "0.loc.9").view(-1, 2, 3)
    grid = F.affine_grid(theta, tx.shape, align_corners=False)
    v = F.grid_sample(tx, grid, align_corners=False).permute(0, 2, 3, 1).reshape(3, -1)
    logits = tdense(F.relu(tdense(F.relu(tdense(v, "2")), "4")), "6")
    F.cross_entropy(logits, torch.tensor(labels)).backward()

    m.zero_grad()
    ours = m.forward(x)
    np.testing.assert_allclose(ours, logits.detach().numpy(), rtol=1e-9, atol=1e-12)
    m.backward(softmax_cross_entropy(ours, labels)[1])
    for k, g in m.grads.items():
        np.testing.assert_allclose(g, t[k].grad.numpy(), rtol=1e-7, atol=1e-12, err_msg=k)


def test_models_start_at_pytorchs_initial_scale():
    """Every weight but the identity-start layer is U(±1/sqrt(fan_in)), as torch's defaults."""
    net = models.build("st-cnn", (28, 28, 1), seed=3)
    for name, p, _ in net.named_parameters():
        if not name.endswith("W") or not p.any():
            continue
        bound = 1 / np.sqrt(np.prod(p.shape[:-1]))
        assert np.abs(p).max() <= bound, name
        assert np.abs(p).max() > 0.9 * bound, name
