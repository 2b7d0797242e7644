"""Channels-last 2-D convolution and max pooling.

Conv2D is im2col + one BLAS matmul: a numba kernel gathers the (kh, kw, C) patches of every
output pixel into a (N·Ho·Wo, kh·kw·C) matrix (zero padding is applied while gathering, so the
input is never padded in memory) and ``cols @ W`` does the arithmetic; the backward is two
matmuls and the col2im scatter. MaxPool2D is a numba kernel that records the arg-max of each
window. Kernels run in parallel over the batch: each thread writes only its own samples, so
the scatters never race and results do not depend on the thread count.

Weights are (kh, kw, C_in, C_out) (TensorFlow's layout); a PyTorch weight (C_out, C_in, kh, kw)
is ``W.transpose(2, 3, 1, 0)``. This is cross-correlation, as in every framework.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .._threads import launch
from .._validate import count, float_dtype
from . import _conv_kernels as _K
from .layers import (
    Layer,
    _check_dout,
    _check_ndim,
    _dout_as,
    _rng,
    init_weights,
)

# the parallel kernels, each launched by _threads.launch (one at a time under numba's workqueue
# layer, which is not thread-safe; serially in a child forked after GNU OpenMP started)
col2im, conv_small_backward, conv_small_forward, im2col, maxpool_backward, maxpool_forward = (
    partial(launch, k) for k in (_K.col2im, _K.conv_small_backward, _K.conv_small_forward,
                                 _K.im2col, _K.maxpool_backward, _K.maxpool_forward))

#: Layers with at most this many inputs per output (kh·kw·C_in) convolve directly in numba;
#: wider ones use im2col + BLAS.
SMALL_K = 32

#: The im2col path works through the batch in chunks of about this many bytes of patches, so
#: that each chunk's matmul reads patches that are still in cache (the 32->32 3x3 layer of the
#: RTS cnn, batch 64: forward 7.9 -> 6.7 ms, input gradient 6.7-8.7 -> 5.3-5.7 ms). Chunks
#: depend on the shapes only, so results stay deterministic; they equal the unchunked ones up
#: to rounding (bit for bit on that layer, where BLAS keeps its kernel).
CHUNK_BYTES = 2 << 20

__all__ = ["Conv2D", "MaxPool2D", "conv_output_size", "pool_output_size", "same_padding"]


# --------------------------------------------------------------------------- shape helpers
def conv_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int) -> int:
    """Output length of a convolution along one axis: floor((L + p0 + p1 - k) / s) + 1."""
    return (size + pad_before + pad_after - kernel) // stride + 1


def pool_output_size(size: int, pool: int, stride: int) -> int:
    """Output length of an unpadded pooling along one axis (floor mode)."""
    return (size - pool) // stride + 1


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) so that the output length is ceil(L / s).

    With stride 1 this is (k-1)//2 before and the rest after, exactly PyTorch's
    ``padding="same"``.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _float_input(x: Any, layer: str, shape_doc: str) -> np.ndarray:
    """``x`` (4-D, float32 or float64 in either byte order) as a C-contiguous array in native
    byte order, which the kernels compute in."""
    _check_ndim(x, 4, layer, shape_doc)
    return np.ascontiguousarray(x, dtype=float_dtype(x, f"{layer}'s input"))


def _chunks(cols: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample ranges of about ``CHUNK_BYTES`` of patches each."""
    N = cols.shape[0]
    per_sample = max(1, cols[:1].nbytes)
    step = max(1, CHUNK_BYTES // per_sample)
    return [(s, min(N, s + step)) for s in range(0, N, step)] or [(0, 0)]  # N = 0: one empty


# --------------------------------------------------------------------------- layers
class Conv2D(Layer):
    """2-D convolution (cross-correlation), channels-last.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (kh, kw)
    stride : int
    padding : "valid", "same", int or (ph, pw)
        "same" pads as TensorFlow does (output ceil(L / stride); with stride 1 identical to
        PyTorch's ``padding="same"``); an int or pair pads both sides of each axis equally.
    rng : numpy Generator or int seed, optional
    init : {"he", "glorot", "pytorch", "zeros"}
        Weight initialisation with fan_in = kh·kw·C_in, fan_out = kh·kw·C_out.
    dtype : float dtype of the parameters ``W`` (kh, kw, C_in, C_out) and ``b`` (C_out,).
    input_grad : bool
        When False, ``backward`` skips the input gradient and returns None (use for the first
        layer of a network, whose input is the data).

    Input (N, H, W, C_in) -> output (N, Ho, Wo, C_out). The input is float32 or float64 (a
    big-endian one is computed in native byte order); ``backward`` converts a ``dout`` of real
    numbers to the input's dtype and raises a TypeError for other dtypes.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: str | int | tuple[int, int] = "valid",
        rng: np.random.Generator | int | None = None,
        init: str = "he",
        dtype: Any = np.float32,
        input_grad: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = count(in_channels, "in_channels")
        self.out_channels = count(out_channels, "out_channels")
        ks = (kernel_size, kernel_size) if np.isscalar(kernel_size) else tuple(kernel_size)
        if len(ks) != 2:
            raise ValueError(f"kernel_size must be an int or (kh, kw), got {kernel_size!r}")
        self.kernel_size = tuple(count(k, "kernel_size") for k in ks)
        self.stride = count(stride, "stride")
        bad = f'padding must be "valid", "same", int or (ph, pw), got {padding!r}'
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(bad)
        else:
            pp = (padding, padding) if np.isscalar(padding) else tuple(padding)
            if len(pp) != 2 or any(int(p) != p or p < 0 for p in pp):
                raise ValueError(bad)
            padding = (int(pp[0]), int(pp[1]))
        self.padding = padding
        self.input_grad = bool(input_grad)
        kh, kw = self.kernel_size
        shape = (kh, kw, self.in_channels, self.out_channels)
        fan_in, fan_out = kh * kw * self.in_channels, kh * kw * self.out_channels
        W = init_weights(shape, fan_in, fan_out, init, _rng(rng), dtype)
        self.params = {"W": W, "b": np.zeros(self.out_channels, dtype=dtype)}
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self._workspace: np.ndarray | None = None  # im2col patches, reused between calls

    def pads(self, H: int, W: int) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) padding for an (H, W) input."""
        kh, kw = self.kernel_size
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            return same_padding(H, kh, self.stride) + same_padding(W, kw, self.stride)
        ph, pw = self.padding
        return ph, ph, pw, pw

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(Ho, Wo, C_out) for an (H, W, C_in) input."""
        H, W = input_shape[0], input_shape[1]
        pt, pb, pl, pr = self.pads(H, W)
        kh, kw = self.kernel_size
        Ho = conv_output_size(H, kh, self.stride, pt, pb)
        Wo = conv_output_size(W, kw, self.stride, pl, pr)
        return Ho, Wo, self.out_channels

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _float_input(x, "Conv2D", f"(N, H, W, {self.in_channels})")
        N, H, W, C = x.shape
        if C != self.in_channels:
            raise ValueError(
                f"Conv2D expects {self.in_channels} input channels, got shape {x.shape}"
            )
        Ho, Wo, Co = self.output_shape((H, W, C))
        if Ho < 1 or Wo < 1:
            raise ValueError(
                f"Conv2D kernel {self.kernel_size} with padding {self.padding!r} does not fit "
                f"an input of spatial size {(H, W)}"
            )
        kh, kw = self.kernel_size
        pt, _, pl, _ = self.pads(H, W)
        dtype = np.result_type(x.dtype, self.params["W"].dtype)
        x = x.astype(dtype, copy=False)
        Wm = self.params["W"].reshape(-1, Co).astype(dtype, copy=False)
        if Wm.shape[0] <= SMALL_K:
            out = np.empty((N, Ho, Wo, Co), dtype=dtype)
            b = self.params["b"].astype(dtype, copy=False)
            conv_small_forward(x, Wm, b, kh, kw, self.stride, pt, pl, out)
            self._cache = (x, None, pt, pl)
            return out
        cols = self._workspace
        if cols is None or cols.shape != (N, Ho, Wo, kh, kw, C) or cols.dtype != dtype:
            cols = self._workspace = np.empty((N, Ho, Wo, kh, kw, C), dtype=dtype)
        self._cache = (x, cols, pt, pl)
        out = np.empty((N * Ho * Wo, Co), dtype=dtype)
        b = self.params["b"].astype(dtype, copy=False)
        for s, e in _chunks(cols):
            im2col(x[s:e], kh, kw, self.stride, pt, pl, cols[s:e])
            rows = out[s * Ho * Wo : e * Ho * Wo]
            np.matmul(cols[s:e].reshape(rows.shape[0], Wm.shape[0]), Wm, out=rows)
            rows += b
        return out.reshape(N, Ho, Wo, Co)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        cache = getattr(self, "_cache", None)
        _check_dout(dout, None if cache is None else cache[0].shape[:1] + self.output_shape(
            cache[0].shape[1:]), "Conv2D")
        x, cols, pt, pl = cache
        kh, kw = self.kernel_size
        Co = self.out_channels
        dout = _dout_as(dout, x.dtype, "Conv2D")
        Wm = self.params["W"].reshape(-1, Co).astype(x.dtype, copy=False)
        if cols is None:
            partial = np.empty((x.shape[0], Wm.shape[0] + 1, Co), dtype=x.dtype)
            dx = np.empty(x.shape if self.input_grad else (0, 1, 1, 1), dtype=x.dtype)
            conv_small_backward(
                dout, x, Wm, kh, kw, self.stride, pt, pl, partial, dx, self.input_grad
            )
            total = partial.sum(axis=0)  # over the batch, in a fixed order
            self.grads["W"] += total[:-1].reshape(self.grads["W"].shape)
            self.grads["b"] += total[-1]
            return dx if self.input_grad else None
        d2 = dout.reshape(-1, Co)
        c2 = cols.reshape(d2.shape[0], Wm.shape[0])  # not -1: N may be 0
        # (d2.T @ c2).T, not c2.T @ d2: the same sums, and OpenBLAS is faster on this layout
        self.grads["W"] += (d2.T @ c2).T.reshape(self.grads["W"].shape)
        self.grads["b"] += d2.sum(axis=0)
        if not self.input_grad:
            return None
        dx = np.empty(x.shape, dtype=x.dtype)
        P = cols.shape[1] * cols.shape[2]  # output pixels per sample
        chunks = _chunks(cols)
        dcols = np.empty(((chunks[0][1] - chunks[0][0]) * P, Wm.shape[0]), dtype=x.dtype)
        for s, e in chunks:  # the first chunk is the largest
            part = np.matmul(d2[s * P : e * P], Wm.T, out=dcols[: (e - s) * P])
            col2im(part.reshape(cols[s:e].shape), kh, kw, self.stride, pt, pl, dx[s:e])
        return dx

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, {self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )


class MaxPool2D(Layer):
    """Max pooling over k×k windows, channels-last, no padding, floor mode (trailing rows and
    columns that do not fill a window are dropped, as in PyTorch and Keras "valid").

    Parameters
    ----------
    pool_size : int
    stride : int, optional
        Defaults to ``pool_size``.

    Input (N, H, W, C) -> output (N, (H-k)//s + 1, (W-k)//s + 1, C), float32 or float64 (a
    big-endian input is computed in native byte order). The gradient goes to the first maximum
    of each window in row-major order, as in PyTorch; ``backward`` converts a ``dout`` of real
    numbers to the input's dtype and raises a TypeError for other dtypes.
    """

    def __init__(self, pool_size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        self.pool_size = count(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else count(stride, "stride")

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """(Ho, Wo, C) for an (H, W, C) input."""
        k, s = self.pool_size, self.stride
        H, W, C = input_shape
        return pool_output_size(H, k, s), pool_output_size(W, k, s), C

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        x = _float_input(x, "MaxPool2D", "(N, H, W, C)")
        Ho, Wo, C = self.output_shape(x.shape[1:])
        if Ho < 1 or Wo < 1:
            raise ValueError(
                f"MaxPool2D window {self.pool_size} does not fit an input of spatial size "
                f"{x.shape[1:3]}"
            )
        out = np.empty((x.shape[0], Ho, Wo, C), dtype=x.dtype)
        arg = np.empty(out.shape, dtype=np.int32)
        maxpool_forward(x, self.pool_size, self.stride, out, arg)
        self._cache = (x.shape, x.dtype, arg)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dx (N, H, W, C) in the forward input's dtype: ``dout`` (real numbers of the forward
        output's shape) is converted to it; other dtypes raise a TypeError."""
        cache = getattr(self, "_cache", None)
        _check_dout(dout, None if cache is None else cache[2].shape, "MaxPool2D")
        xshape, dtype, arg = cache
        dout = _dout_as(dout, dtype, "MaxPool2D")
        dx = np.empty(xshape, dtype=dtype)
        maxpool_backward(dout, arg, self.pool_size, self.stride, dx)
        return dx

    def __repr__(self) -> str:
        return f"MaxPool2D({self.pool_size}, stride={self.stride})"
