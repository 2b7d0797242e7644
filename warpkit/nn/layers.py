"""Core layers in the cs231n / numpy-ml spirit, and the :class:`Sequential` container.

Every layer has ``forward(x, training=True) -> y`` (caches what the backward needs),
``backward(dout) -> dx`` (*accumulates* into ``grads``), ``params`` and ``grads`` dicts with
the same keys and shapes, and ``zero_grad()``. Images are channels-last (N, H, W, C).

Layers are dtype-agnostic: parameters are created in the ``dtype`` given to the constructor
(float32 for training, float64 for gradient checks) and every operation keeps the dtype of its
inputs (Python scalars never promote under NumPy 2).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numba import njit, prange

from .._threads import launch
from .._validate import count, not_masked, real, real_number

__all__ = [
    "Layer",
    "Dense",
    "ReLU",
    "Tanh",
    "Flatten",
    "Dropout",
    "Sequential",
    "init_weights",
]

INITS = ("he", "glorot", "pytorch", "zeros")


def init_weights(
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    init: str,
    rng: np.random.Generator | int | None,
    dtype: Any,
) -> np.ndarray:
    """Uniform weight initialisation as Keras/PyTorch do it.

    ``"he"``: U(-a, a) with a = sqrt(6 / fan_in) (Kaiming uniform, gain sqrt(2), for ReLU);
    ``"glorot"``: a = sqrt(6 / (fan_in + fan_out)) (Xavier uniform); ``"pytorch"``:
    a = 1 / sqrt(fan_in) (PyTorch's default for ``nn.Linear`` and ``nn.Conv2d``, Kaiming uniform
    with a = sqrt(5): a third of He's variance); ``"zeros"``: all zero.

    Parameters
    ----------
    shape : tuple of int
        Shape of the weights.
    fan_in, fan_out : int
        Inputs and outputs per unit, positive integers.
    init : {"he", "glorot", "pytorch", "zeros"}
    rng : numpy Generator, int seed or None
        Source of the weights (a seed or None makes a new Generator, as the layers do).
    dtype : float dtype
        Dtype of the result.

    Raises
    ------
    ValueError
        For an unknown ``init`` or a ``fan_in``/``fan_out`` that is not a positive int.
    TypeError
        For a ``dtype`` that is not a float dtype, or an ``rng`` of another type.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    fan_in = count(fan_in, "fan_in")
    fan_out = count(fan_out, "fan_out")
    dtype = _float_dtype(dtype)
    if init == "zeros":
        return np.zeros(shape, dtype=dtype)
    if init == "he":
        bound = np.sqrt(6.0 / fan_in)
    elif init == "glorot":
        bound = np.sqrt(6.0 / (fan_in + fan_out))
    else:  # "pytorch"
        bound = 1.0 / np.sqrt(fan_in)
    return _rng(rng).uniform(-bound, bound, size=shape).astype(dtype)


def _float_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as a numpy float dtype, or a TypeError naming it."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise TypeError(f"dtype must be a float dtype (float32, float64), got {dtype!r}")
    return dt


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _check_ndim(x: Any, ndim: int, layer: str, shape_doc: str) -> np.ndarray:
    """``x`` if it is a numpy array (not masked: its mask would be ignored) of ``ndim``
    dimensions; a TypeError or ValueError naming ``layer`` otherwise."""
    not_masked(x, f"{layer}'s input")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer} expects a numpy array {shape_doc}, got {type(x).__name__}")
    if x.ndim != ndim:
        raise ValueError(f"{layer} expects shape {shape_doc}, got shape {x.shape}")
    return x


def _dout_as(dout: np.ndarray, dtype: np.dtype, layer: str) -> np.ndarray:
    """A checked ``dout`` of real numbers (bool, integer or float, any byte order) as a
    C-contiguous array of the forward's ``dtype``; a TypeError for other dtypes (strings
    would be parsed, complex numbers lose their imaginary part, objects fail in numba)."""
    real(dout, f"{layer}.backward's dout")
    return np.ascontiguousarray(dout, dtype=dtype)


def _check_dout(dout: Any, shape: tuple[int, ...] | None, layer: str) -> np.ndarray:
    """``dout`` if it is an array of ``shape``, the shape of the layer's last forward output
    (None: no forward yet). A gradient of another shape would broadcast into a wrong result
    or, in a compiled kernel, be read and written past its end."""
    if shape is None:
        raise RuntimeError(f"{layer}.backward called before forward")
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{layer}.backward expects dout as a numpy array of shape {shape}, "
                        f"got {type(dout).__name__}")
    if dout.shape != shape:
        raise ValueError(f"{layer}.backward expects dout of shape {shape} (its forward "
                         f"output's), got {dout.shape}")
    return dout


class Layer:
    """Base class: no parameters, empty ``params``/``grads``."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Set every gradient to zero (in place, so optimizers keep their references)."""
        for g in self.grads.values():
            g.fill(0)

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(name, param, grad)`` for every parameter of this layer."""
        for name, p in self.params.items():
            yield name, p, self.grads[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
    rng : numpy Generator or int seed, optional
    init : {"he", "glorot", "pytorch", "zeros"}
        Weight initialisation (see :func:`init_weights`); the bias starts at zero.
    dtype : float dtype
        Dtype of ``W`` (in_features, out_features) and ``b`` (out_features,).
    input_grad : bool
        When False, ``backward`` skips the input gradient and returns None (for a first layer
        whose input is the data).

    Input (N, in_features) -> output (N, out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rng: np.random.Generator | int | None = None,
        init: str = "he",
        dtype: Any = np.float32,
        input_grad: bool = True,
    ) -> None:
        super().__init__()
        self.input_grad = bool(input_grad)
        self.in_features = count(in_features, "in_features")
        self.out_features = count(out_features, "out_features")
        shape = (self.in_features, self.out_features)
        W = init_weights(shape, shape[0], shape[1], init, _rng(rng), dtype)
        self.params = {"W": W, "b": np.zeros(self.out_features, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        _check_ndim(x, 2, "Dense", f"(N, {self.in_features})")
        if x.shape[1] != self.in_features:
            raise ValueError(
                f"Dense expects shape (N, {self.in_features}), got shape {x.shape}"
            )
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        x = self._x
        _check_dout(dout, None if x is None else (x.shape[0], self.out_features), "Dense")
        self.grads["W"] += x.T @ dout
        self.grads["b"] += dout.sum(axis=0)
        if not self.input_grad:
            return None
        return dout @ self.params["W"].T

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"


@njit(parallel=True, cache=True)
def _relu_forward(x, y):
    """y = x where x > 0, else 0 (NaN passes through, as np.maximum); flat arrays."""
    for i in prange(x.size):
        v = x[i]
        y[i] = v if (v > 0 or v != v) else 0


@njit(parallel=True, cache=True)
def _relu_backward(dout, y, dx):
    """dx = dout where y > 0, else 0 (so NaN inputs get gradient 0); flat arrays."""
    for i in prange(dout.size):
        dx[i] = dout[i] if y[i] > 0 else 0


class ReLU(Layer):
    """``y = max(x, 0)``; any shape. The gradient is 0 where ``x <= 0`` or ``x`` is NaN.

    Float arrays go through two parallel numba passes (one read, one write each); the
    backward needs only the cached output.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = np.ascontiguousarray(x)
        if x.dtype not in (np.float32, np.float64):  # the kernels' dtypes
            y = np.maximum(x, 0)
        else:
            y = np.empty_like(x)
            launch(_relu_forward, x.reshape(-1), y.reshape(-1))
        self._y = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = getattr(self, "_y", None)
        dout = np.ascontiguousarray(_check_dout(dout, None if y is None else y.shape, "ReLU"))
        if dout.dtype != y.dtype or y.dtype not in (np.float32, np.float64):
            return dout * (y > 0)
        dx = np.empty_like(dout)
        launch(_relu_backward, dout.reshape(-1), y.reshape(-1), dx.reshape(-1))
        return dx


class Tanh(Layer):
    """``y = tanh(x)``; any shape."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = getattr(self, "_y", None)
        _check_dout(dout, None if y is None else y.shape, "Tanh")
        return dout * (1 - y * y)


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...) in C order (channels-last images stay pixel-major)."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 1:
            raise ValueError(f"Flatten expects an array (N, ...), got {type(x).__name__}")
        self._shape = x.shape
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))  # not -1: N may be 0

    def backward(self, dout: np.ndarray) -> np.ndarray:
        shape = getattr(self, "_shape", None)
        _check_dout(dout, None if shape is None else (shape[0], int(np.prod(shape[1:]))),
                    "Flatten")
        return dout.reshape(shape)


class Dropout(Layer):
    """Inverted dropout: in training zero each unit with probability ``rate`` and scale the
    survivors by 1 / (1 - rate); identity when ``training=False``.

    Parameters
    ----------
    rate : float in [0, 1)
    rng : numpy Generator or int seed, optional
        Source of the masks.

    Raises
    ------
    TypeError
        When ``rate`` is not a real number (a str, None or a bool).
    ValueError
        When ``rate`` lies outside [0, 1).
    """

    def __init__(self, rate: float = 0.5, rng: np.random.Generator | int | None = None) -> None:
        super().__init__()
        doc = "a float in [0, 1)"
        rate = real_number(rate, "Dropout rate", doc)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout rate must be {doc}, got {rate!r}")
        self.rate = rate
        self.rng = _rng(rng)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self._shape = np.shape(x)
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate
        self._mask = keep.astype(x.dtype) * (1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        _check_dout(dout, getattr(self, "_shape", None), "Dropout")
        return dout if self._mask is None else dout * self._mask

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


class Container(Layer):
    """A layer made of other layers: ``params``/``grads`` are derived from
    ``named_parameters()`` (dotted names, the children's own arrays), never stored."""

    @property
    def params(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return {name: p for name, p, _ in self.named_parameters()}

    @property
    def grads(self) -> dict[str, np.ndarray]:  # type: ignore[override]
        return {name: g for name, _, g in self.named_parameters()}

    def zero_grad(self) -> None:
        for _, _, g in self.named_parameters():
            g.fill(0)


class Sequential(Container):
    """A chain of layers with the layer interface.

    ``params``/``grads`` are flat dicts keyed by dotted names (``"0.W"``, ``"3.b"``,
    ``"0.loc.5.W"``) whose values are the layers' own arrays, so in-place updates reach the
    layers. A layer built with ``input_grad=False`` returns None from ``backward``; the
    backward then stops there and returns None, which is allowed only when no earlier layer
    has parameters (so nothing is lost).
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not all(hasattr(layer, a) for a in ("forward", "backward", "named_parameters")):
                raise TypeError(
                    f"Sequential takes layers (forward/backward/named_parameters); "
                    f"argument {i} is a {type(layer).__name__}"
                )
        self.layers: list[Layer] = list(layers)

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for i, layer in enumerate(self.layers):
            for name, p, g in layer.named_parameters():
                yield f"{i}.{name}", p, g

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout)
            if dout is None:
                if any(True for layer in self.layers[:i] for _ in layer.named_parameters()):
                    raise RuntimeError(
                        f"layer {i} ({self.layers[i]!r}) returned no input gradient "
                        "(built with input_grad=False) but layers before it have parameters"
                    )
                return None
        return dout

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, keyed by dotted name."""
        return {name: p.copy() for name, p, _ in self.named_parameters()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` into the parameters in place (strict: same keys and shapes)."""
        own = self.params
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(
                f"state dict does not match the model: missing keys {missing}, "
                f"unexpected keys {unexpected}"
            )
        for name, p in own.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(
                    f"state dict entry {name!r} has shape {value.shape}, "
                    f"the model expects {p.shape}"
                )
        for name, p in own.items():
            p[...] = state[name]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Layer:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)"
