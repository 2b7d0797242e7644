"""Optimizers over anything with ``named_parameters()`` yielding ``(name, param, grad)``.

``step()`` updates the parameters in place from the current gradients and keeps per-name
state; call ``model.zero_grad()`` before each backward. All arithmetic stays in the
parameters' dtype (hyper-parameters are Python floats, which NumPy 2 never promotes with).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from .._validate import real_number

__all__ = ["SGD", "Adam"]


def _check_model(model: Any) -> Any:
    if not hasattr(model, "named_parameters"):
        raise TypeError(
            f"optimizer needs an object with named_parameters(), got {type(model).__name__}"
        )
    return model


def _positive(value: Any, name: str) -> float:
    """``value`` as a Python float if it is a real number > 0 and finite."""
    value = real_number(value, name, "a positive finite float")
    if not value > 0:
        raise ValueError(f"{name} must be a positive finite float, got {value!r}")
    return value


def _fraction(value: Any, name: str) -> float:
    """``value`` as a Python float if it is a real number in [0, 1)."""
    value = real_number(value, name, "a float in [0, 1)")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a float in [0, 1), got {value!r}")
    return value


@njit(cache=True, error_model="numpy")
def _adam_update(p, g, m, v, b1, b2, step_size, root_c2, eps):
    """One fused Adam update of flat (contiguous) arrays, element by element, in their dtype."""
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (1 - b1) * gi
        vi = b2 * v[i] + (1 - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * (mi / (np.sqrt(vi) / root_c2 + eps))


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum, as PyTorch does it:
    ``v = momentum·v + g``, ``p -= lr·v`` (with momentum 0 this is plain SGD).

    Parameters
    ----------
    model : object with ``named_parameters()``
    lr : float
        Learning rate, finite and > 0.
    momentum : float in [0, 1)

    Raises
    ------
    TypeError
        When a hyper-parameter is not a real number (a str, None or a bool).
    ValueError
        When ``lr`` is not finite and > 0 or ``momentum`` lies outside [0, 1).
    """

    def __init__(self, model: Any, lr: float, momentum: float = 0.9) -> None:
        self.model = _check_model(model)
        self.lr = _positive(lr, "lr")
        self.momentum = _fraction(momentum, "momentum")
        self.state: dict[str, np.ndarray] = {}

    def step(self) -> None:
        """Update every parameter in place."""
        for name, p, g in self.model.named_parameters():
            if self.momentum == 0.0:
                p -= self.lr * g
                continue
            v = self.state.get(name)
            if v is None:
                v = self.state[name] = g.copy()
            else:
                v *= self.momentum
                v += g
            p -= self.lr * v


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction, as PyTorch does it::

        m = b1·m + (1-b1)·g;  v = b2·v + (1-b2)·g²
        p -= lr / (1 - b1^t) · m / (sqrt(v / (1 - b2^t)) + eps)

    Parameters
    ----------
    model : object with ``named_parameters()``
    lr : float
        Learning rate, finite and > 0.
    betas : (float, float)
        Decay rates of the moment estimates, each in [0, 1).
    eps : float
        Added to the denominator, finite and > 0.

    Raises
    ------
    TypeError
        When a hyper-parameter is not a real number (a str, None or a bool).
    ValueError
        When ``lr`` or ``eps`` is not finite and > 0, or ``betas`` is not a pair of floats
        in [0, 1).
    """

    def __init__(
        self,
        model: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.model = _check_model(model)
        self.lr = _positive(lr, "lr")
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(
                f"betas must be a pair (b1, b2) of floats in [0, 1), got {betas!r}"
            ) from None
        self.betas = (_fraction(b1, "betas[0]"), _fraction(b2, "betas[1]"))
        self.eps = _positive(eps, "eps")
        self.t = 0
        self.state: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def step(self) -> None:
        """Update every parameter in place."""
        self.t += 1
        b1, b2 = self.betas
        step_size = self.lr / (1.0 - b1**self.t)
        root_c2 = float(np.sqrt(1.0 - b2**self.t))
        for name, p, g in self.model.named_parameters():
            if name not in self.state:
                self.state[name] = (np.zeros_like(p), np.zeros_like(p))
            m, v = self.state[name]
            if p.flags.c_contiguous and g.flags.c_contiguous and g.dtype == p.dtype:
                # one fused pass instead of ~8 numpy passes (the arithmetic is the same)
                t = p.dtype.type
                _adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                             t(b1), t(b2), t(step_size), t(root_c2), t(self.eps))
                continue
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= root_c2
            denom += self.eps
            p -= step_size * (m / denom)
