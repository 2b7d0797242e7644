"""Public low-level ops: validate once, pick the backend, call its kernel.

Layout is channels-last: images are (N, H, W, C), grids (N, Ho, Wo, 2) with last axis
(x, y) = (column, row) in normalized coordinates, θ is (N, 2, 3) and maps normalized *output*
coordinates to normalized *input* coordinates. Every op means exactly what PyTorch's
``affine_grid``/``grid_sample`` mean with the layout transposed (see :mod:`warpkit._coords`
for the coordinate convention); ``padding_mode="constant"`` (fill with ``cval``) and
``"wrap"`` (periodic) go beyond PyTorch and follow scikit-image.

Backends: ``backend="auto"`` runs on CUDA when any array argument exposes
``__cuda_array_interface__`` and on the CPU otherwise; ``"cpu"`` and ``"cuda"`` force one
(host arrays are copied in and out of the GPU). Results come back as the same kind of array as
the input. θ and grids are converted to the input's dtype, and outputs and gradients have it
(in native byte order: a big-endian float32 image, as FITS files hold, gives native float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as V
from .backends import cpu

__all__ = [
    "affine_grid",
    "affine_grid_backward",
    "grid_sample",
    "grid_sample_backward",
    "affine_sample",
    "affine_sample_backward",
]

BACKENDS = ("auto", "cpu", "cuda")


# --------------------------------------------------------------------------- dispatch
def _select_backend(backend: Any, *arrays: Any) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "cuda" if any(V.is_cuda_array(a) for a in arrays) else "cpu"
    return backend


def _host(x: Any, dtype: np.dtype) -> np.ndarray:
    """A C-contiguous host array of ``dtype`` (copies only when needed)."""
    if V.is_cuda_array(x):
        from .backends import cuda as cuda_backend

        return cuda_backend.to_host(x, dtype)
    return np.ascontiguousarray(x, dtype=dtype)


def _pixels(shapes) -> int:
    """The pixels of a call's work, for ``cpu.call``: the most of N·H·W over its arrays'
    shapes, each of three dimensions or more (None: an output not wanted)."""
    return max([s[0] * s[1] * s[2] for s in shapes if s is not None])


def _launch(
    name: str, backend: str, inputs: list, outputs: list, scalars: tuple, dtype: np.dtype,
    outs: tuple = (),
) -> list:
    """Run kernel ``name`` of ``backend``; ``outputs`` lists shapes (None: not wanted).
    ``outs`` holds, position by position, arrays (checked by :func:`._validate.out_array`) to
    write instead of allocating those outputs, or None; each is returned in its place."""
    given = list(outs) + [None] * (len(outputs) - len(outs))
    if backend == "cpu":
        for out in given:
            if out is not None and not isinstance(out, np.ndarray):
                raise TypeError(f"out must be a numpy array when the op runs on the CPU "
                                f"(backend='cpu'), got {V.describe(out)}")
        host = [_host(x, dtype) for x in inputs]
        # a subclass (np.memmap) as the plain array viewing its memory
        arrays = [None if s is None else np.empty(s, dtype=dtype) if out is None
                  else out if type(out) is np.ndarray else out.view(np.ndarray)
                  for s, out in zip(outputs, given, strict=True)]
        pixels = _pixels([x.shape for x in host] + list(outputs))
        cpu.call(getattr(cpu, name), pixels, *host, *arrays, *scalars)
        return [a if out is None else out for a, out in zip(arrays, given, strict=True)]
    from numba.cuda.cudadrv.error import CudaSupportError

    from .backends import cuda as cuda_backend

    try:
        return cuda_backend.launch(name, inputs, outputs, scalars, dtype, outs=given)
    except CudaSupportError as e:  # numba's, from the driver's first use
        raise RuntimeError(f"backend='cuda' needs an NVIDIA GPU and its driver, and numba "
                           f"found none ({' '.join(str(e).split())}); use backend='cpu'") from e


def _cval(padding: str, cval: Any, channels: int) -> np.ndarray:
    """Per-channel fill values; zeros for every padding mode but "constant"."""
    if padding == "constant":
        return V.cval_vector(cval, channels)
    return np.zeros(channels)


def _sampling_args(mode: Any, padding_mode: Any, align_corners: Any) -> tuple[int, int, bool]:
    return (
        V.mode_code(mode),
        V.padding_code(padding_mode),
        V.flag(align_corners, "align_corners"),
    )


def _pair_out(out: Any, shapes: list, dtype: np.dtype, reads: tuple, names: tuple) -> tuple:
    """The ``out`` of a backward op: None, or a pair of arrays to write the two gradients into
    (each checked as :func:`._validate.out_array` checks a forward's ``out``), where None
    leaves that gradient to be allocated. An array for a gradient that is not wanted (shape
    None) and two arrays sharing memory are refused."""
    if out is None:
        return ()
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"out must be a pair ({', '.join(names)}) of arrays or None, "
                        f"got {V.describe(out)}")
    for k, (o, shape) in enumerate(zip(out, shapes, strict=True)):
        if o is None:
            continue
        if shape is None:
            raise ValueError(f"out[{k}] must be None when need_input_grad is False, "
                             f"got {V.describe(o)}")
        V.out_array(o, shape, dtype, reads, name=f"out[{k}]")
    a, b = out
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.may_share_memory(a, b):
        raise ValueError("out[0] and out[1] must not share memory")
    return tuple(out)


# --------------------------------------------------------------------------- affine_grid
def affine_grid(
    theta: Any, size: Any, *, align_corners: bool = False, backend: str = "auto"
) -> Any:
    """Sampling grid of an affine map (the STN grid generator).

    Parameters
    ----------
    theta : array, shape (N, 2, 3), float32 or float64
        Normalized output -> input maps: ``[x_s, y_s] = θ · [x_t, y_t, 1]``.
    size : tuple
        Output size (N, H, W) or (N, H, W, C); N must equal θ's batch.
    align_corners : bool
        Coordinate convention, as in PyTorch (see :mod:`warpkit._coords`).
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grid : array, shape (N, H, W, 2), θ's dtype
        ``grid[n, i, j] = (x_s, y_s)`` for output pixel (row i, column j).
    """
    V.theta_array(theta)
    dtype = V.float_dtype(theta, "theta")
    try:
        dims = tuple(size)
    except TypeError:
        raise ValueError(f"size must be (N, H, W) or (N, H, W, C), got {size!r}") from None
    if (len(dims) not in (3, 4) or not all(V.is_count(v) for v in dims)
            or min(dims[1:]) < 1):
        raise ValueError(f"size must be (N, H, W) or (N, H, W, C) of integers with H, W "
                         f"(and C) >= 1, got {size!r}")
    dims = tuple(int(v) for v in dims)
    V.batch(dims[0], theta, "theta", "size")
    ac = V.flag(align_corners, "align_corners")
    be = _select_backend(backend, theta)
    (grid,) = _launch("affine_grid", be, [theta], [dims[:3] + (2,)], (ac,), dtype)
    return grid


def affine_grid_backward(
    grad_grid: Any, *, align_corners: bool = False, backend: str = "auto"
) -> Any:
    """Gradient of :func:`affine_grid` with respect to θ.

    Parameters
    ----------
    grad_grid : array, shape (N, H, W, 2), float32 or float64
        Gradient of the loss with respect to the grid.
    align_corners : bool
        The flag the grid was made with (see :func:`affine_grid`).
    backend : {"auto", "cpu", "cuda"}

    Returns
    -------
    grad_theta : array, shape (N, 2, 3), ``grad_grid``'s dtype
    """
    V.grid_array(grad_grid, "grad_grid")
    dtype = V.float_dtype(grad_grid, "grad_grid")
    ac = V.flag(align_corners, "align_corners")
    be = _select_backend(backend, grad_grid)
    shape = (grad_grid.shape[0], 2, 3)
    (grad_theta,) = _launch("affine_grid_backward", be, [grad_grid], [shape], (ac,), dtype)
    return grad_theta


# --------------------------------------------------------------------------- grid_sample
def grid_sample(
    input: Any,
    grid: Any,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
    cval: Any = 0.0,
    backend: str = "auto",
    out: Any = None,
) -> Any:
    """Sample ``input`` at the normalized positions of ``grid`` (the STN sampler).

    Parameters
    ----------
    input : array, shape (N, H, W, C), float32 or float64
    grid : array, shape (N, Ho, Wo, 2)
        Normalized (x, y) source positions; converted to ``input``'s dtype.
    mode : {"bilinear", "nearest"}
        Nearest rounds half to even, as PyTorch does.
    padding_mode : {"zeros", "border", "reflection", "constant", "wrap"}
    align_corners : bool
    cval : float or sequence of C floats
        Fill value for ``padding_mode="constant"``.
    backend : {"auto", "cpu", "cuda"}
    out : array, optional
        Where to write the result instead of a new array: shape (N, Ho, Wo, C), the
        result's dtype (no casting), C-contiguous, writeable, sharing no memory with
        ``input`` or ``grid``. A numpy array for results on the host (a CUDA result is
        copied into it), or a CUDA array, which the device writes directly. Reusing one
        saves mapping new memory at every call: a (64, 224, 224, 3) float32 batch forward
        took 0.7x-0.8x the time on the CPU (see the README).

    Returns
    -------
    output : array, shape (N, Ho, Wo, C), ``input``'s dtype
        NaN grid positions give 0. ``out`` itself when given.
    """
    V.input_array(input)
    V.grid_array(grid)
    V.batch(input.shape[0], grid, "grid", "input")
    m, p, ac = _sampling_args(mode, padding_mode, align_corners)
    dtype = V.float_dtype(input, "input")
    N, _, _, C = input.shape
    cv = _cval(padding_mode, cval, C)
    shape = (N, grid.shape[1], grid.shape[2], C)
    if out is not None:
        V.out_array(out, shape, dtype, (("input", input), ("grid", grid)))
    be = _select_backend(backend, input, grid, out)
    (result,) = _launch("grid_sample", be, [input, grid], [shape], (m, p, ac, cv), dtype, (out,))
    return result


def grid_sample_backward(
    grad_output: Any,
    input: Any,
    grid: Any,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
    cval: Any = 0.0,
    need_input_grad: bool = True,
    backend: str = "auto",
    out: Any = None,
) -> tuple[Any, Any]:
    """Gradients of :func:`grid_sample` with respect to ``input`` and ``grid``.

    Parameters
    ----------
    grad_output : array, shape (N, Ho, Wo, C)
    input : array, shape (N, H, W, C), float32 or float64
    grid : array, shape (N, Ho, Wo, 2)
    need_input_grad : bool
        When False, ``grad_input`` is not computed and None is returned in its place.
    mode, padding_mode, align_corners, cval, backend
        As in :func:`grid_sample`.
    out : pair of arrays or None, optional
        ``(grad_input, grad_grid)`` to write instead of new arrays, each as :func:`grid_sample`'s
        ``out`` (None for either allocates it; ``grad_input`` must be None when it is not
        wanted). ``grad_input`` is overwritten whole, not added to.

    Returns
    -------
    grad_input : array, shape (N, H, W, C), or None
    grad_grid : array, shape (N, Ho, Wo, 2)
        Gradient at NaN positions and where the padding mode is flat (clipped border,
        outside for zeros/constant) is 0; nearest mode has zero grid gradient.
    """
    V.input_array(input)
    V.grid_array(grid)
    V.batch(input.shape[0], grid, "grid", "input")
    V.real(V.array(grad_output, "grad_output", 4, "(N, Ho, Wo, C)"), "grad_output")
    N, H, W, C = input.shape
    V.same_shape(grad_output, "grad_output", (N,) + tuple(grid.shape[1:3]) + (C,), "(N, Ho, Wo, C)")
    m, p, ac = _sampling_args(mode, padding_mode, align_corners)
    need = V.flag(need_input_grad, "need_input_grad")
    dtype = V.float_dtype(input, "input")
    cv = _cval(padding_mode, cval, C)
    shapes = [input.shape if need else None, grid.shape]
    outs = _pair_out(out, shapes, dtype, (("grad_output", grad_output), ("input", input),
                                          ("grid", grid)), ("grad_input", "grad_grid"))
    be = _select_backend(backend, grad_output, input, grid, *outs)
    gin, ggrid = _launch("grid_sample_backward", be, [grad_output, input, grid], shapes,
                         (m, p, ac, cv), dtype, outs)
    return gin, ggrid


# --------------------------------------------------------------------------- affine_sample
def affine_sample(
    input: Any,
    theta: Any,
    out_size: Any = None,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
    cval: Any = 0.0,
    backend: str = "auto",
    out: Any = None,
) -> Any:
    """Fused ``grid_sample(input, affine_grid(theta, ...))``: no grid is materialized.

    Parameters
    ----------
    input : array, shape (N, H, W, C), float32 or float64
    theta : array, shape (N, 2, 3)
        Normalized output -> input maps; converted to ``input``'s dtype. A θ holding ±inf or
        NaN, or entries beyond about 1e12, samples the coordinates ``affine_grid(θ)`` gives,
        computed in float64 (see the README's Conventions).
    out_size : (Ho, Wo), optional
        Output size; defaults to (H, W).
    mode, padding_mode, align_corners, cval, backend
        As in :func:`grid_sample`.
    out : array, optional
        Where to write the result, as in :func:`grid_sample` (sharing no memory with
        ``input`` or ``theta``).

    Returns
    -------
    output : array, shape (N, Ho, Wo, C), ``input``'s dtype
        An identity θ with ``out_size == (H, W)`` reproduces ``input`` exactly. ``out``
        itself when given.
    """
    V.input_array(input)
    V.theta_array(theta)
    V.batch(input.shape[0], theta, "theta", "input")
    N, H, W, C = input.shape
    Ho, Wo = V.size_pair(out_size, (H, W))
    m, p, ac = _sampling_args(mode, padding_mode, align_corners)
    dtype = V.float_dtype(input, "input")
    cv = _cval(padding_mode, cval, C)
    shape = (N, Ho, Wo, C)
    if out is not None:
        V.out_array(out, shape, dtype, (("input", input), ("theta", theta)))
    be = _select_backend(backend, input, theta, out)
    (result,) = _launch("affine_sample", be, [input, theta], [shape], (m, p, ac, cv), dtype,
                        (out,))
    return result


def affine_sample_backward(
    grad_output: Any,
    input: Any,
    theta: Any,
    out_size: Any = None,
    *,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
    cval: Any = 0.0,
    need_input_grad: bool = True,
    backend: str = "auto",
    out: Any = None,
) -> tuple[Any, Any]:
    """Gradients of :func:`affine_sample` with respect to ``input`` and ``theta`` (fused).

    Parameters
    ----------
    grad_output : array, shape (N, Ho, Wo, C)
    input : array, shape (N, H, W, C), float32 or float64
    theta : array, shape (N, 2, 3)
    out_size : (Ho, Wo), optional
        Must agree with ``grad_output`` when given.
    need_input_grad : bool
        When False, ``grad_input`` is not computed and None is returned in its place
        (an STN whose input is the data needs only ``grad_theta``).
    mode, padding_mode, align_corners, cval, backend
        As in :func:`grid_sample`.
    out : pair of arrays or None, optional
        ``(grad_input, grad_theta)`` to write instead of new arrays, as in
        :func:`grid_sample_backward`.

    Returns
    -------
    grad_input : array, shape (N, H, W, C), or None
    grad_theta : array, shape (N, 2, 3)
    """
    V.input_array(input)
    V.theta_array(theta)
    V.batch(input.shape[0], theta, "theta", "input")
    V.real(V.array(grad_output, "grad_output", 4, "(N, Ho, Wo, C)"), "grad_output")
    N, H, W, C = input.shape
    # the output size, checked as affine_sample checks it, from grad_output when not given
    given = out_size is not None
    Ho, Wo = V.size_pair(out_size if given else tuple(grad_output.shape[1:3]), (H, W),
                         "out_size" if given else "grad_output's (Ho, Wo)")
    V.same_shape(grad_output, "grad_output", (N, Ho, Wo, C), "(N, Ho, Wo, C)")
    m, p, ac = _sampling_args(mode, padding_mode, align_corners)
    need = V.flag(need_input_grad, "need_input_grad")
    dtype = V.float_dtype(input, "input")
    cv = _cval(padding_mode, cval, C)
    shapes = [input.shape if need else None, (N, 2, 3)]
    outs = _pair_out(out, shapes, dtype, (("grad_output", grad_output), ("input", input),
                                          ("theta", theta)), ("grad_input", "grad_theta"))
    be = _select_backend(backend, grad_output, input, theta, *outs)
    gin, gtheta = _launch("affine_sample_backward", be, [grad_output, input, theta], shapes,
                          (m, p, ac, cv), dtype, outs)
    return gin, gtheta
