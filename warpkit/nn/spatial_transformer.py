"""The Spatial Transformer layer (Jaderberg et al., 2015) on warpkit's fused affine sampler."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .. import _validate as V
from ..ops import affine_sample, affine_sample_backward
from .layers import Container, Dense, Sequential, _check_dout, _dout_as

__all__ = ["SpatialTransformer", "IDENTITY_THETA"]

#: Flattened identity θ, row-major (θ00, θ01, θ02, θ10, θ11, θ12).
IDENTITY_THETA = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class SpatialTransformer(Container):
    """Localization net -> θ -> bilinear affine sampling of the layer's own input.

    Parameters
    ----------
    localization : Sequential
        Maps the input batch (N, H, W, C) to (N, 6), read row-major as θ (N, 2, 3). Its last
        layer must be a :class:`Dense` with 6 outputs; it is reset here to the identity
        transform (zero weights, bias [1, 0, 0, 0, 1, 0]) so training starts from "no warp".
    out_size : (Ho, Wo), optional
        Output size, a pair of positive integers; defaults to the input's (H, W).
    input_grad : bool
        When True (default) ``backward`` returns dU = sampler grad_input + the localization
        net's dx. When False it returns None and the sampler skips grad_input entirely; use
        this when the layer is first in the network and its input is the data (the models in
        :mod:`warpkit.nn.models` do). It then also sets ``input_grad=False`` on the first
        parameterized layer of the localization net (when that layer has the flag), so the
        localization backward stops there instead of computing a discarded dx.
    align_corners : bool
        Coordinate convention of θ (see :mod:`warpkit._coords`); default False as in PyTorch.

    Raises
    ------
    TypeError
        When ``localization`` is not a non-empty Sequential, or ``input_grad`` or
        ``align_corners`` is not True or False.
    ValueError
        When the localization net does not end in ``Dense(..., 6)`` or ``out_size`` is not a
        pair of positive integers.

    Notes
    -----
    θ maps normalized *output* coordinates to normalized *input* coordinates (−1 and +1 are
    the image edges). Sampling is bilinear with zero padding. ``self.theta`` holds the θ of
    the last forward, shape (N, 2, 3). Parameters are exposed as ``"loc.<i>.<name>"``.
    The input is float32 or float64 (a big-endian one is computed in native byte order); an
    empty batch (N = 0) gives an empty output.
    """

    def __init__(
        self,
        localization: Sequential,
        out_size: tuple[int, int] | None = None,
        input_grad: bool = True,
        align_corners: bool = False,
    ) -> None:
        if not isinstance(localization, Sequential) or not localization.layers:
            raise TypeError(
                "localization must be a non-empty Sequential, got "
                f"{type(localization).__name__}"
            )
        last = localization.layers[-1]
        if not isinstance(last, Dense) or last.out_features != 6:
            raise ValueError(
                f"the localization net must end in Dense(..., 6) producing θ, got {last!r}"
            )
        input_grad = V.flag(input_grad, "input_grad")
        self.align_corners = V.flag(align_corners, "align_corners")
        self.out_size = V.size_pair(out_size, None)
        last.params["W"][...] = 0
        last.params["b"][...] = IDENTITY_THETA
        self.loc = localization
        if not input_grad:
            for layer in localization.layers:
                if any(True for _ in layer.named_parameters()):
                    if hasattr(layer, "input_grad"):
                        layer.input_grad = False
                    break
        self.input_grad = input_grad
        self.theta: np.ndarray | None = None
        self._x: np.ndarray | None = None

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        for name, p, g in self.loc.named_parameters():
            yield f"loc.{name}", p, g

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        """Warp ``x`` (N, H, W, C) by the θ its localization net predicts -> (N, Ho, Wo, C)."""
        # in native byte order (the θ follows x's dtype)
        native = x.dtype.newbyteorder("=") if isinstance(x, np.ndarray) else None
        x = np.ascontiguousarray(x, dtype=native)
        flat = self.loc.forward(x, training)
        if flat.shape != (x.shape[0], 6):
            raise ValueError(
                f"the localization net must output (N, 6), got shape {flat.shape}"
            )
        theta = np.ascontiguousarray(flat.reshape(-1, 2, 3), dtype=x.dtype)
        self.theta = theta
        self._x = x
        out = affine_sample(x, theta, self.out_size, align_corners=self.align_corners)
        self._out_shape = out.shape
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """Fill the localization grads from dθ; return dU (or None when ``input_grad=False``)."""
        _check_dout(dout, getattr(self, "_out_shape", None), "SpatialTransformer")
        x, theta = self._x, self.theta
        gin, gtheta = affine_sample_backward(
            _dout_as(dout, x.dtype, "SpatialTransformer"),
            x,
            theta,
            self.out_size,
            align_corners=self.align_corners,
            need_input_grad=self.input_grad,
        )
        dx_loc = self.loc.backward(gtheta.reshape(-1, 6))
        if not self.input_grad:
            return None
        if dx_loc is None:
            raise RuntimeError(
                "the localization net returned no input gradient (its first layer has "
                "input_grad=False), so dU cannot be formed; build it with input_grad=True"
            )
        return gin + dx_loc

    def __repr__(self) -> str:
        return f"SpatialTransformer(out_size={self.out_size}, loc={self.loc!r})"
