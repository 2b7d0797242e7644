"""Compile warpkit's CPU kernels ahead of their first call (``warpkit compile``).

numba compiles a kernel the first time it is called with new argument types, 9-15 s for a
first ``warp`` of a dtype, and keeps the machine code in its on-disk cache, from which later
processes load it in a fraction of a second. :func:`precompile` makes those first calls now, on
tiny inputs, so that a container image, a CI cache or a shared installation can pay for them
once at build time instead of in the first user's call.

What is compiled per call depends only on the operation, the image's dtype and its channel count
(1, 3 and 4 channels have gathers of their own; every other count shares one): modes, padding,
``align_corners`` and sizes are run-time values. So one tiny call per (operation, dtype,
channels), made with parallel launches, compiles everything that operation will need for images
of that kind, and a second one the serial kernels that small calls and processes forked after a
parallel launch use (see :mod:`warpkit._threads`). ``train`` makes a training step and a
prediction of every model of :mod:`warpkit.nn.models` (a first ``warpkit train`` compiles for
about 35 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validate import is_count

__all__ = ["OPERATIONS", "Compiled", "compile_one", "plan", "precompile"]

#: Side of the square images the calls are made on (the serial path: the same code as any size).
_SIDE = 8

#: The float dtypes of the low-level operations (``warp`` takes any bool, integer or float dtype).
_FLOATS = ("float32", "float64")


def _image(dtype: np.dtype, channels: int) -> np.ndarray:
    values = np.arange(_SIDE * _SIDE * channels).reshape(1, _SIDE, _SIDE, channels) % 7
    return values.astype(dtype)


def _theta(dtype: np.dtype) -> np.ndarray:
    return np.array([[[0.9, -0.2, 0.1], [0.2, 0.9, 0.0]]], dtype=dtype)


def _touch() -> None:
    """The first touch of big new outputs, which no tiny call reaches."""
    from .backends._cpu.pages import compile_touch

    compile_touch()


def _warp(dtype: np.dtype, channels: int) -> None:
    from .warp import warp

    warp(_image(dtype, channels)[0], _theta(np.float64)[0])
    _touch()


def _affine_grid(dtype: np.dtype, channels: int) -> None:
    from .ops import affine_grid, affine_grid_backward

    grid = affine_grid(_theta(dtype), (1, _SIDE, _SIDE, channels))
    affine_grid_backward(np.ones_like(grid))


def _affine_sample(dtype: np.dtype, channels: int) -> None:
    from .ops import affine_sample

    affine_sample(_image(dtype, channels), _theta(dtype))
    _touch()


def _grid_sample(dtype: np.dtype, channels: int) -> None:
    from .ops import affine_grid, grid_sample

    x = _image(dtype, channels)
    grid_sample(x, affine_grid(_theta(dtype), x.shape))
    _touch()


def _affine_sample_backward(dtype: np.dtype, channels: int) -> None:
    from .ops import affine_sample_backward

    x = _image(dtype, channels)
    affine_sample_backward(np.ones_like(x), x, _theta(dtype))


def _grid_sample_backward(dtype: np.dtype, channels: int) -> None:
    from .ops import affine_grid, grid_sample_backward

    x = _image(dtype, channels)
    grid_sample_backward(np.ones_like(x), x, affine_grid(_theta(dtype), x.shape))


def _train(dtype: np.dtype, channels: int) -> None:
    from .datasets import DISTORTIONS, distortions
    from .nn import models
    from .nn.optim import Adam
    from .nn.trainer import _train_step, predict

    rng = np.random.default_rng(0)
    digits = rng.random((2, 28, 28))
    for kind in DISTORTIONS:  # the data set's distortions (P and E sample grids), in float32
        distortions.distort(digits, kind, rng)
    shape = (28, 28, channels)  # the embedded digits' size; sizes are run-time values
    x = rng.random((2,) + shape).astype(dtype)
    for name in models.MODEL_NAMES:  # a training step and a prediction of each model
        net = models.build(name, shape, dtype=dtype)
        _train_step(net, [Adam(net, lr=1e-3)], [1e-3], 1.0, x, np.array([0, 1]))
        predict(net, x)


#: Every operation :func:`precompile` knows: its call on a tiny input, the dtypes it takes
#: (None: any bool, integer or float dtype) and the dtypes compiled when none are asked for.
OPERATIONS: dict[str, tuple[Callable[[np.dtype, int], None], tuple | None, tuple]] = {
    "warp": (_warp, None, ("float32", "uint8")),
    "affine_grid": (_affine_grid, _FLOATS, ("float32",)),
    "affine_sample": (_affine_sample, _FLOATS, ("float32",)),
    "grid_sample": (_grid_sample, _FLOATS, ("float32",)),
    "affine_sample_backward": (_affine_sample_backward, _FLOATS, ("float32",)),
    "grid_sample_backward": (_grid_sample_backward, _FLOATS, ("float32",)),
    "train": (_train, _FLOATS, ("float32",)),
}

#: What :func:`precompile` compiles when it is not told: ``warp`` for float32 and uint8 images.
DEFAULT_OPERATIONS = ("warp",)

#: Channel counts compiled when none are asked for: grey, RGB and RGBA.
DEFAULT_CHANNELS = (1, 3, 4)

#: The most channels :func:`plan` takes (any count but 1, 3 and 4 runs the same kernel).
MAX_CHANNELS = 1024


@dataclass(frozen=True)
class Compiled:
    """One precompiled (operation, dtype, channels) and what it took.

    Attributes
    ----------
    operation : str
        A key of :data:`OPERATIONS`.
    dtype : str
        The image's dtype.
    channels : int
        The image's channel count.
    seconds : float
        Wall time of the call, compiling or loading included.
    functions : int
        How many functions numba compiled for it; 0 when everything came from its cache (or
        had been compiled earlier in this process).
    """

    operation: str
    dtype: str
    channels: int
    seconds: float
    functions: int


def _dtype(value: Any, operation: str, accepted: tuple | None) -> np.dtype:
    try:
        dtype = np.dtype(value)
    except TypeError as exc:
        raise ValueError(f"dtype must name a numpy dtype, got {value!r}") from exc
    if accepted is None:
        if dtype.kind not in "biuf":
            raise ValueError(f"{operation} takes bool, integer or float images, got {dtype}")
    elif dtype.name not in accepted:
        raise ValueError(f"{operation} takes {' or '.join(accepted)} inputs, got {dtype}")
    return dtype


def plan(
    operations: Sequence[str] | None = None,
    dtypes: Sequence[Any] | None = None,
    channels: Sequence[int] | None = None,
) -> list[tuple[str, np.dtype, int]]:
    """The (operation, dtype, channels) triples :func:`precompile` would compile, validated.

    Parameters
    ----------
    operations : sequence of str, optional
        Keys of :data:`OPERATIONS`; default ``("warp",)``.
    dtypes : sequence of dtype-like, optional
        Image dtypes for every operation; by default each operation's own (float32 and uint8
        for ``warp``, float32 for the others).
    channels : sequence of int, optional
        Channel counts; default (1, 3, 4).

    Returns
    -------
    list of (str, numpy.dtype, int)

    Raises
    ------
    ValueError
        For an unknown operation, a dtype an operation does not take or a channel count < 1.
    """
    operations = DEFAULT_OPERATIONS if operations is None else tuple(operations)
    channels = DEFAULT_CHANNELS if channels is None else tuple(channels)
    if not operations:
        raise ValueError("operations must name at least one operation, got none")
    for c in channels:
        if not is_count(c) or c < 1:
            raise ValueError(f"channels must be integers >= 1, got {c!r}")
        if c > MAX_CHANNELS:  # the call on a tiny image of c channels must fit in memory
            raise ValueError(f"channels must be at most {MAX_CHANNELS} (every count but 1, 3 "
                             f"and 4 shares one compiled kernel), got {c}")
    if not channels:
        raise ValueError("channels must hold at least one channel count, got none")
    triples = []
    for op in operations:
        if op not in OPERATIONS:
            raise ValueError(f"operation must be one of {sorted(OPERATIONS)}, got {op!r}")
        _, accepted, default = OPERATIONS[op]
        for dt in default if dtypes is None else dtypes:
            dtype = _dtype(dt, op, accepted)
            triples.extend((op, dtype, int(c)) for c in channels)
    return list(dict.fromkeys(triples))  # in order, without repeats


def compile_one(operation: str, dtype: Any, channels: int) -> Compiled:
    """Compile ``operation``'s kernels for images of ``dtype`` with ``channels`` channels (one
    triple of :func:`plan`, validated there) by one call on a tiny input, made with parallel
    launches (:func:`warpkit._threads.parallel_launches`), and their serial twins, which small
    calls and processes forked after a parallel launch run, by a second call."""
    from numba.core import event

    from ._threads import parallel_launches, serially

    dtype = np.dtype(dtype)
    call = OPERATIONS[operation][0]
    recorder = event.RecordingListener()
    start = time.perf_counter()
    with event.install_listener("numba:compile", recorder):
        with parallel_launches():  # the parallel kernels, which a tiny call would not launch
            call(dtype, channels)
        with serially():  # the serial twins (0.5-1 s a kernel), as small calls and forked
            call(dtype, channels)  # processes run them
    seconds = time.perf_counter() - start
    functions = sum(1 for _, ev in recorder.buffer if ev.is_start)
    return Compiled(operation, dtype.name, channels, seconds, functions)


def _compile_group(triples: list) -> list[Compiled]:
    """:func:`compile_one` of each triple, in order (in a worker process of :func:`precompile`)."""
    return [compile_one(*triple) for triple in triples]


def precompile(
    operations: Sequence[str] | None = None,
    dtypes: Sequence[Any] | None = None,
    channels: Sequence[int] | None = None,
    jobs: int = 1,
) -> Iterator[Compiled]:
    """Compile the CPU kernels of ``operations`` for images of ``dtypes`` and ``channels``
    into numba's on-disk cache, one tiny call each (arguments as in :func:`plan`, which
    validates them all before anything is compiled).

    With ``jobs`` > 1, each (operation, dtype) pair's calls run in one of up to ``jobs``
    fresh processes at once (the channel counts of a pair share most of their code, so they
    stay together); warpkit's cache folders take their saves one at a time (see
    :mod:`warpkit._numba_cache`). Each process holds numba's compiler, about 0.3-0.4 GB. The
    processes are spawned, so a script that asks for them runs it under
    ``if __name__ == "__main__":`` (``warpkit compile`` does).

    Yields
    ------
    Compiled
        One per (operation, dtype, channels), as its call returns (with ``jobs`` > 1, a
        pair's items when its process has done them all).

    Raises
    ------
    ValueError
        As :func:`plan` does, or for ``jobs`` < 1.

    Examples
    --------
    >>> for item in precompile(["warp"], ["uint8"], [3]):  # doctest: +SKIP
    ...     print(item.operation, item.dtype, item.channels, f"{item.seconds:.1f} s")
    warp uint8 3 9.4 s
    """
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    triples = plan(operations, dtypes, channels)
    groups: dict[tuple, list] = {}
    for op, dtype, c in triples:
        groups.setdefault((op, dtype), []).append((op, dtype, c))
    if jobs == 1 or len(groups) == 1:
        for triple in triples:
            yield compile_one(*triple)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # a fresh numba, whatever this process ran
    with ProcessPoolExecutor(min(jobs, len(groups)), mp_context=context) as pool:
        for done in as_completed([pool.submit(_compile_group, g) for g in groups.values()]):
            yield from done.result()
