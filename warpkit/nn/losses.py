"""Losses: each returns ``(mean loss as a Python float, gradient w.r.t. its input)``."""

from __future__ import annotations

import numpy as np

from .._validate import float_dtype, not_masked

__all__ = ["softmax_cross_entropy"]


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient.

    Parameters
    ----------
    logits : ndarray, shape (N, K), float32 or float64
        Unnormalized class scores (either byte order; computed in the native one).
    labels : ndarray, shape (N,), integer in [0, K)

    Returns
    -------
    loss : float
        ``-mean_n log softmax(logits[n])[labels[n]]`` (computed stably, max subtracted).
    dlogits : ndarray, shape (N, K), ``logits``' dtype in native byte order
        ``(softmax(logits) - onehot(labels)) / N``.
    """
    not_masked(logits, "logits")  # a mask would be ignored
    not_masked(labels, "labels")
    if not isinstance(logits, np.ndarray) or logits.ndim != 2:
        raise ValueError(f"logits must be an array of shape (N, K), got {np.shape(logits)}")
    logits = logits.astype(float_dtype(logits, "logits"), copy=False)  # native byte order
    labels = np.asarray(labels)
    N, K = logits.shape
    if labels.shape != (N,):
        raise ValueError(f"labels must have shape ({N},) to match logits {logits.shape}, "
                         f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {labels.dtype}")
    if N == 0:
        raise ValueError("softmax_cross_entropy needs at least one sample, got N=0")
    if labels.min() < 0 or labels.max() >= K:
        raise ValueError(f"labels must lie in [0, {K}), got range "
                         f"[{labels.min()}, {labels.max()}]")
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    rows = np.arange(N)
    loss = float(np.mean(np.log(s[:, 0]) - z[rows, labels]))
    d = e / s
    d[rows, labels] -= 1
    d /= N
    return loss, d
