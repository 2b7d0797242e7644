"""CUDA kernels: one ``@cuda.jit`` kernel per operation, behind launchers named as in ``cpu.py``.

Every public function here mirrors :mod:`warpkit.backends.cpu` (same name, same argument
order) but takes numba device arrays: ``affine_grid(theta, grid, align_corners)``,
``grid_sample(inp, grid, out, mode, padding, align_corners, cval)`` and so on. Arrays are
channels-last and C-contiguous, images (N, H, W, C), grids (N, Ho, Wo, 2) with last axis
(x, y) = (column, row) in normalized coordinates, θ (N, 2, 3) mapping normalized *output*
coordinates to normalized *input* coordinates (see :mod:`warpkit._coords`). ``mode`` and
``padding`` are the integer codes of :mod:`warpkit._coords`; ``cval`` is a float64 device
vector of one fill value per channel. Nothing here validates: :mod:`warpkit.ops` has done it
and calls :func:`launch`, which moves arrays to and from the device.

The coordinate, corner and weight code is not repeated here: it is
``warpkit._coords.build(cuda.jit(device=True), _atomic_add)``, the same source the CPU
kernels compile with ``njit``. All coordinate arithmetic is float64.

Kernels use grid-stride loops, so any launch size covers any problem size;
:data:`THREADS_PER_BLOCK` sets the block size (tests shrink it so that several blocks run).

Backward passes and determinism
-------------------------------
* ``grad_input`` is scattered with ``cuda.atomic.add`` (one thread per output pixel, four
  atomic adds per channel in bilinear mode). Floating-point atomics add in whatever order
  threads arrive, so ``grad_input`` is **not bit-deterministic** from run to run (it agrees
  with the CPU backend to rounding). It is zeroed before the scatter.
* ``grad_theta`` (``affine_sample_backward``, ``affine_grid_backward``) uses no atomics and
  is deterministic: the launch grid is (blocks per sample, samples); each thread sums its
  pixels' six θ contributions in float64 registers, each block reduces its threads' sums with
  a tree in shared memory and writes them to a float64 buffer ``partial[n, block, 6]``, and a
  second kernel adds each sample's block sums in block order and casts them into
  ``grad_theta``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from numba import cuda, float64

from .._coords import build

#: Threads per block of every launch (tests monkeypatch it to a few threads).
THREADS_PER_BLOCK = 128
#: Upper bound on threads per block: the size of the shared-memory reduction buffers.
MAX_THREADS_PER_BLOCK = 256
#: Upper bound on blocks per sample in the θ reductions (grid-stride loops do the rest).
MAX_BLOCKS_PER_SAMPLE = 64
#: Upper bound on blocks of a 1-D launch (grid-stride loops do the rest).
MAX_BLOCKS = 65535


@cuda.jit(device=True)
def _atomic_add(arr, n, y, x, c, value):
    """arr[n, y, x, c] += value, atomically (``value`` is cast to ``arr``'s dtype)."""
    cuda.atomic.add(arr, (n, y, x, c), value)


_h = build(cuda.jit(device=True), _atomic_add)
base_coord = _h.base_coord
unnormalize_scale = _h.unnormalize_scale
source_index = _h.source_index
grid_source = _h.grid_source
affine_coeffs = _h.affine_coeffs
usable_coeffs = _h.usable_coeffs
grid_point = _h.grid_point
sample_point = _h.sample_point
backward_point = _h.backward_point


@cuda.jit(device=True)
def _affine_point(theta, n, i, j, H, W, Ho, Wo, align_corners, ax, bx, cx, ay, by, cy):
    """Unpadded pixel coordinates (ix, iy) of output pixel (i, j) of sample n: from θ's
    pixel-space coefficients, or, where they do not stand for θ, from the grid point
    (``_coords.usable_coeffs``, ``grid_point``), as the CPU's rows do."""
    if usable_coeffs(ax, bx, cx, ay, by, cy):
        rx = bx * i + cx
        ry = by * i + cy
        return ax * j + rx, ay * j + ry
    return grid_point(theta, n, i, j, H, W, Ho, Wo, align_corners)


@cuda.jit(device=True)
def _add_theta_terms(acc, t, gx, gy, xt, yt):
    """acc[t] += d loss / d θ of one pixel: (gx, gy) ⊗ (x_t, y_t, 1), row-major."""
    acc[t, 0] += gx * xt
    acc[t, 1] += gx * yt
    acc[t, 2] += gx
    acc[t, 3] += gy * xt
    acc[t, 4] += gy * yt
    acc[t, 5] += gy


@cuda.jit(device=True)
def _block_sums(acc, partial, n):
    """Tree-reduce ``acc[t, 0:6]`` over the block's threads into ``partial[n, blockIdx.x]``.

    ``acc`` is a (MAX_THREADS_PER_BLOCK, 6) float64 shared array whose row ``t`` holds thread
    ``t``'s sums. Every thread of the block must call this (it synchronizes).
    """
    t = cuda.threadIdx.x
    size = cuda.blockDim.x
    cuda.syncthreads()
    step = 1
    while step < size:
        if t % (2 * step) == 0 and t + step < size:
            for q in range(6):
                acc[t, q] += acc[t + step, q]
        step *= 2
        cuda.syncthreads()
    if t == 0:
        for q in range(6):
            partial[n, cuda.blockIdx.x, q] = acc[0, q]
    cuda.syncthreads()  # acc is reused for the next sample


# --------------------------------------------------------------------------- kernels
@cuda.jit
def _affine_grid(theta, grid, align_corners):
    """grid[n, i, j] = θ[n] · (x_t(j), y_t(i), 1); one thread per output pixel."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    for p in range(cuda.grid(1), N * Ho * Wo, cuda.gridsize(1)):
        n = p // (Ho * Wo)
        i = (p // Wo) % Ho
        j = p % Wo
        yt = base_coord(i, Ho, align_corners)
        xt = base_coord(j, Wo, align_corners)
        grid[n, i, j, 0] = theta[n, 0, 0] * xt + theta[n, 0, 1] * yt + theta[n, 0, 2]
        grid[n, i, j, 1] = theta[n, 1, 0] * xt + theta[n, 1, 1] * yt + theta[n, 1, 2]


@cuda.jit
def _affine_grid_backward(grad_grid, partial, align_corners):
    """Block sums of grad_grid[n, i, j, r] · (x_t, y_t, 1) into partial[n, block, 3 r + k]."""
    acc = cuda.shared.array((MAX_THREADS_PER_BLOCK, 6), float64)
    N, Ho, Wo = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    t = cuda.threadIdx.x
    start = cuda.blockIdx.x * cuda.blockDim.x + t
    stride = cuda.gridDim.x * cuda.blockDim.x
    for n in range(cuda.blockIdx.y, N, cuda.gridDim.y):
        for q in range(6):
            acc[t, q] = 0.0
        for p in range(start, Ho * Wo, stride):
            i = p // Wo
            j = p % Wo
            _add_theta_terms(acc, t, 1.0 * grad_grid[n, i, j, 0], 1.0 * grad_grid[n, i, j, 1],
                             base_coord(j, Wo, align_corners), base_coord(i, Ho, align_corners))
        _block_sums(acc, partial, n)


@cuda.jit
def _grid_sample(inp, grid, out, mode, padding, align_corners, cval):
    """out[n, i, j, :] = inp[n] sampled at grid[n, i, j]; one thread per output pixel."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    for p in range(cuda.grid(1), N * Ho * Wo, cuda.gridsize(1)):
        n = p // (Ho * Wo)
        i = (p // Wo) % Ho
        j = p % Wo
        ix, _ = grid_source(grid[n, i, j, 0], W, padding, align_corners)
        iy, _ = grid_source(grid[n, i, j, 1], H, padding, align_corners)
        sample_point(inp, n, ix, iy, mode, padding, cval, out, n, i, j)


@cuda.jit
def _grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin
):
    """grad_grid per output pixel; grad_input by atomic scatter (when ``need_gin``)."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    for p in range(cuda.grid(1), N * Ho * Wo, cuda.gridsize(1)):
        n = p // (Ho * Wo)
        i = (p // Wo) % Ho
        j = p % Wo
        ix, gxm = grid_source(grid[n, i, j, 0], W, padding, align_corners)
        iy, gym = grid_source(grid[n, i, j, 1], H, padding, align_corners)
        gx, gy = backward_point(
            inp, n, ix, iy, mode, padding, cval, gout, n, i, j, gin, n, need_gin
        )
        grad_grid[n, i, j, 0] = gx * gxm
        grad_grid[n, i, j, 1] = gy * gym


@cuda.jit
def _affine_sample(inp, theta, out, mode, padding, align_corners, cval):
    """Fused affine_grid + grid_sample, one thread per output pixel, no grid made."""
    N, Ho, Wo = out.shape[0], out.shape[1], out.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    for p in range(cuda.grid(1), N * Ho * Wo, cuda.gridsize(1)):
        n = p // (Ho * Wo)
        i = (p // Wo) % Ho
        j = p % Wo
        ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
        px, py = _affine_point(theta, n, i, j, H, W, Ho, Wo, align_corners, ax, bx, cx, ay, by,
                               cy)
        ix, _ = source_index(px, W, padding, align_corners)
        iy, _ = source_index(py, H, padding, align_corners)
        sample_point(inp, n, ix, iy, mode, padding, cval, out, n, i, j)


@cuda.jit
def _affine_sample_backward(
    gout, inp, theta, gin, partial, mode, padding, align_corners, cval, need_gin
):
    """Atomic grad_input scatter and block sums of the θ gradient into ``partial``."""
    acc = cuda.shared.array((MAX_THREADS_PER_BLOCK, 6), float64)
    N, Ho, Wo = gout.shape[0], gout.shape[1], gout.shape[2]
    H, W = inp.shape[1], inp.shape[2]
    sx = unnormalize_scale(W, align_corners)
    sy = unnormalize_scale(H, align_corners)
    t = cuda.threadIdx.x
    start = cuda.blockIdx.x * cuda.blockDim.x + t
    stride = cuda.gridDim.x * cuda.blockDim.x
    for n in range(cuda.blockIdx.y, N, cuda.gridDim.y):
        for q in range(6):
            acc[t, q] = 0.0
        ax, bx, cx, ay, by, cy = affine_coeffs(theta, n, H, W, Ho, Wo, align_corners)
        for p in range(start, Ho * Wo, stride):
            i = p // Wo
            j = p % Wo
            px, py = _affine_point(theta, n, i, j, H, W, Ho, Wo, align_corners, ax, bx, cx, ay,
                                   by, cy)
            ix, gxm = source_index(px, W, padding, align_corners)
            iy, gym = source_index(py, H, padding, align_corners)
            gx, gy = backward_point(
                inp, n, ix, iy, mode, padding, cval, gout, n, i, j, gin, n, need_gin
            )
            gx *= gxm * sx
            gy *= gym * sy
            _add_theta_terms(acc, t, gx, gy, base_coord(j, Wo, align_corners),
                             base_coord(i, Ho, align_corners))
        _block_sums(acc, partial, n)


@cuda.jit
def _reduce_theta(partial, grad_theta):
    """grad_theta[n, q // 3, q % 3] = Σ_b partial[n, b, q], summed in block order."""
    N, B = partial.shape[0], partial.shape[1]
    for p in range(cuda.grid(1), N * 6, cuda.gridsize(1)):
        n = p // 6
        q = p % 6
        s = 0.0
        for b in range(B):
            s += partial[n, b, q]
        grad_theta[n, q // 3, q % 3] = s


@cuda.jit
def _zero(a):
    """a[:] = 0 for a 1-D device array (grad_input before its atomic scatter)."""
    for p in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
        a[p] = 0


@cuda.jit
def _copy3(src, dst):
    """dst[...] = src[...] for 3-D arrays of one shape: ``src`` of any strides, negative ones
    included, and dtype (cast to ``dst``'s)."""
    A, B, C = dst.shape
    for p in range(cuda.grid(1), A * B * C, cuda.gridsize(1)):
        r = p // C
        dst[r // B, r % B, p % C] = src[r // B, r % B, p % C]


@cuda.jit
def _copy4(src, dst):
    """:func:`_copy3` for 4-D arrays."""
    A, B, C, D = dst.shape
    for p in range(cuda.grid(1), A * B * C * D, cuda.gridsize(1)):
        r = p // D
        q = r // C
        dst[q // B, q % B, r % C, p % D] = src[q // B, q % B, r % C, p % D]


#: Every ``@cuda.jit`` kernel, by name (the PTX check compiles each of them).
KERNELS = {
    "_affine_grid": _affine_grid,
    "_affine_grid_backward": _affine_grid_backward,
    "_grid_sample": _grid_sample,
    "_grid_sample_backward": _grid_sample_backward,
    "_affine_sample": _affine_sample,
    "_affine_sample_backward": _affine_sample_backward,
    "_reduce_theta": _reduce_theta,
    "_zero": _zero,
    "_copy3": _copy3,
    "_copy4": _copy4,
}


# --------------------------------------------------------------------------- launch sizes
def _threads() -> int:
    return max(1, min(int(THREADS_PER_BLOCK), MAX_THREADS_PER_BLOCK))


def _flat(work: int) -> tuple[int, int]:
    """(blocks, threads) of a 1-D grid-stride launch over ``work`` items."""
    tpb = _threads()
    return max(1, min(math.ceil(work / tpb), MAX_BLOCKS)), tpb


def _per_sample(n: int, pixels: int) -> tuple[tuple[int, int], int]:
    """((blocks per sample, sample blocks), threads) of a θ-reduction launch."""
    tpb = _threads()
    bx = max(1, min(math.ceil(pixels / tpb), MAX_BLOCKS_PER_SAMPLE))
    return (bx, max(1, min(n, MAX_BLOCKS))), tpb


def _reduce(partial_fn, n: int, pixels: int, grad_theta) -> None:
    """Launch a θ block-sum kernel ``partial_fn(partial)`` and reduce into ``grad_theta``."""
    blocks, tpb = _per_sample(n, pixels)
    partial = cuda.device_array((n, blocks[0], 6), dtype=np.float64)
    partial_fn(blocks, tpb, partial)
    b, t = _flat(n * 6)
    _reduce_theta[b, t](partial, grad_theta)


def _scatter_target(gin, inp):
    """(array the backward kernels scatter into, need_gin): ``gin`` zeroed, or an unused
    one-element array when grad_input is not wanted (the kernels then never touch it)."""
    if gin is None:
        return cuda.device_array((1, 1, 1, 1), dtype=inp.dtype), False
    _zero[_flat(gin.size)](gin.reshape(gin.size))
    return gin, True


# --------------------------------------------------------------------------- launchers
def affine_grid(theta, grid, align_corners) -> None:
    """Fill ``grid`` (N, Ho, Wo, 2) with θ[n] · (x_t, y_t, 1)."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    _affine_grid[_flat(N * Ho * Wo)](theta, grid, align_corners)


def affine_grid_backward(grad_grid, grad_theta, align_corners) -> None:
    """Fill ``grad_theta`` (N, 2, 3) with Σ_ij grad_grid[n, i, j, r] · (x_t, y_t, 1)."""
    N, Ho, Wo = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]

    def run(blocks, tpb, partial):
        _affine_grid_backward[blocks, tpb](grad_grid, partial, align_corners)

    _reduce(run, N, Ho * Wo, grad_theta)


def grid_sample(inp, grid, out, mode, padding, align_corners, cval) -> None:
    """Fill ``out`` (N, Ho, Wo, C) with ``inp`` sampled at ``grid``."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    _grid_sample[_flat(N * Ho * Wo)](inp, grid, out, mode, padding, align_corners, cval)


def grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_grid`` (N, Ho, Wo, 2) and, unless ``gin`` is None, ``gin`` (N, H, W, C).

    ``gin`` is zeroed and then scattered into with atomic adds (not bit-deterministic).
    """
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    buf, need_gin = _scatter_target(gin, inp)
    _grid_sample_backward[_flat(N * Ho * Wo)](
        gout, inp, grid, buf, grad_grid, mode, padding, align_corners, cval, need_gin
    )


def affine_sample(inp, theta, out, mode, padding, align_corners, cval) -> None:
    """Fill ``out`` (N, Ho, Wo, C) with ``inp`` warped by θ (fused, no grid made)."""
    N, Ho, Wo = out.shape[0], out.shape[1], out.shape[2]
    _affine_sample[_flat(N * Ho * Wo)](inp, theta, out, mode, padding, align_corners, cval)


def affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_theta`` (N, 2, 3) and, unless ``gin`` is None, ``gin`` (N, H, W, C).

    ``gin`` is zeroed and then scattered into with atomic adds (not bit-deterministic);
    ``grad_theta`` is reduced per block in shared memory and then in block order
    (deterministic), see the module docstring.
    """
    N, Ho, Wo = gout.shape[0], gout.shape[1], gout.shape[2]
    buf, need_gin = _scatter_target(gin, inp)

    def run(blocks, tpb, partial):
        _affine_sample_backward[blocks, tpb](
            gout, inp, theta, buf, partial, mode, padding, align_corners, cval, need_gin
        )

    _reduce(run, N, Ho * Wo, grad_theta)


# --------------------------------------------------------------------------- host <-> device
def is_device_array(x: Any) -> bool:
    """True for numba device arrays (real or simulated) and ``__cuda_array_interface__`` objects."""
    return bool(getattr(x, "__cuda_ndarray__", False)) or hasattr(x, "__cuda_array_interface__")


def _as_numba(x: Any):
    """A numba device array viewing ``x`` (no copy)."""
    if getattr(x, "__cuda_ndarray__", False):
        return x
    return cuda.as_cuda_array(x)


def to_device(x: Any, dtype: Any):
    """``x`` (3-D or 4-D) as a C-contiguous numba device array of ``dtype``.

    Host arrays are copied in. Device arrays of the right dtype and layout are used as they
    are (no copy); any other device array is copied on the device (:func:`_copy4`), whatever
    its strides: numba's copy to the host refuses negative ones (a reversed slice).
    """
    dtype = np.dtype(dtype)
    if not is_device_array(x):
        return cuda.to_device(np.ascontiguousarray(x, dtype=dtype))
    dev = _as_numba(x)
    if np.dtype(dev.dtype) == dtype and dev.is_c_contiguous():
        return dev
    out = cuda.device_array(tuple(dev.shape), dtype=dtype)
    if out.size:
        (_copy3 if dev.ndim == 3 else _copy4)[_flat(out.size)](dev, out)
    return out


def to_host(x: Any, dtype: Any) -> np.ndarray:
    """A C-contiguous host copy of device array ``x`` (3-D or 4-D) in ``dtype``."""
    return to_device(x, dtype).copy_to_host()


def _wrap(dev, like: Any) -> Any:
    """Return device result ``dev`` as the kind of array ``like`` is (see :func:`launch`)."""
    if like is None:
        return dev.copy_to_host()
    module = type(like).__module__.split(".")[0]
    if module == "cupy" and "cupy" in sys.modules:
        return sys.modules["cupy"].asarray(dev)
    if module == "torch" and "torch" in sys.modules:
        return sys.modules["torch"].as_tensor(dev, device=like.device)
    return dev


def _shares_memory(a, b) -> bool:
    """Whether two numba device arrays (C-contiguous) may share memory: by their byte ranges
    on the device, or, under the simulator, by the host arrays they wrap."""
    ha, hb = getattr(a, "_ary", None), getattr(b, "_ary", None)
    if isinstance(ha, np.ndarray) and isinstance(hb, np.ndarray):
        return bool(np.may_share_memory(ha, hb))
    lo_a = a.__cuda_array_interface__["data"][0]
    lo_b = b.__cuda_array_interface__["data"][0]
    return lo_a < lo_b + b.nbytes and lo_b < lo_a + a.nbytes


def _device_out(out: Any, others: list, name: str = "out"):
    """The numba device array viewing the CUDA array ``out`` (shape and dtype already checked
    by :func:`warpkit._validate.out_array`), which must be C-contiguous and share no memory
    with ``others``: the device inputs and the outputs before it. ``name`` is what messages
    call it (``out[1]`` for a backward's second output)."""
    dev = _as_numba(out)
    if not dev.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous, got a CUDA array with strides "
                         f"{dev.strides}")
    if any(_shares_memory(dev, x) for x in others):
        raise ValueError(f"{name} must not share memory with the arrays the op reads (its "
                         "input, grid or theta) or with its other output")
    return dev


def launch(name: str, inputs: list, outputs: list, scalars: tuple, dtype: Any,
           outs: list | tuple = ()) -> list:
    """Run launcher ``name`` on the device; what :mod:`warpkit.ops` calls for ``"cuda"``.

    Parameters
    ----------
    name : str
        One of the launchers above (``"affine_sample"``, ``"grid_sample_backward"``, ...).
    inputs : list of arrays
        Host numpy arrays or objects with ``__cuda_array_interface__``; each is made a
        C-contiguous device array of ``dtype`` (copied only when needed).
    outputs : list of shape tuples or None
        Shapes of the outputs to allocate on the device (``dtype``); None skips an output
        (the launcher receives None and None is returned in its place).
    scalars : tuple
        ``(mode, padding, align_corners, cval)`` with ``cval`` a float64 host vector, or
        ``(align_corners,)``.
    dtype : numpy dtype
        float32 or float64.
    outs : sequence of arrays or None
        Position by position, arrays to write instead of allocating those outputs (their
        shapes and dtypes checked by :func:`warpkit._validate.out_array`), or None: a CUDA
        array is written by the kernels, a host array gets the device result copied in.

    Returns
    -------
    list
        The outputs: numpy arrays when every input is a host array; otherwise the kind of
        the first device input: numba device arrays for numba (and unknown) device arrays,
        CuPy arrays for CuPy, torch tensors on the same device for torch (CuPy and torch are
        never imported here, only used when the caller already has). Each array of ``outs``
        itself in its place.
    """
    like = next((x for x in inputs if is_device_array(x)), None)
    dev_in = [to_device(x, dtype) for x in inputs]
    given = list(outs) + [None] * (len(outputs) - len(outs))
    dev_out = []
    for k, (s, out) in enumerate(zip(outputs, given, strict=True)):
        if s is None:
            dev_out.append(None)
        elif out is not None and is_device_array(out):
            label = "out" if len(outputs) == 1 else f"out[{k}]"  # `name` is the kernel's
            dev_out.append(_device_out(out, dev_in + [d for d in dev_out if d is not None],
                                       label))
        else:
            dev_out.append(cuda.device_array(tuple(s), dtype=dtype))
    if len(scalars) == 4:
        mode, padding, align_corners, cval = scalars
        cval_dev = cuda.to_device(np.ascontiguousarray(cval, dtype=np.float64))
        args = (int(mode), int(padding), bool(align_corners), cval_dev)
    else:
        args = (bool(scalars[0]),)
    getattr(sys.modules[__name__], name)(*dev_in, *dev_out, *args)
    results = []
    for dev, out in zip(dev_out, given, strict=True):
        if out is None:
            results.append(None if dev is None else _wrap(dev, like))
        else:
            if not is_device_array(out):
                dev.copy_to_host(out)
            results.append(out)
    return results
