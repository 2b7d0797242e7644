"""CPU kernels: ``@njit(parallel=True, cache=True)``, one per operation.

Every function here takes arrays that :mod:`warpkit.ops` has already validated (channels-last,
C-contiguous, float32 or float64, matching batch sizes) and preallocated outputs; nothing here
validates or raises. ``mode`` and ``padding`` are the integer codes of :mod:`warpkit._coords`.

Layout
------
This module holds the parallel kernels; the work of their rows lives in
:mod:`warpkit.backends._cpu`, one module per pass, where the functions named below are:
``common`` (the helpers of :mod:`warpkit._coords` compiled for the CPU, the offset codes),
``classify`` (padding, the column spans of an affine row, corner offsets and weights),
``gather`` (the gather pass, the edge pixels' bilinear), ``store`` (what a float or integer
output stores), ``forward`` (row buffers, a row through the passes, the bands of rows of a task),
``backward`` (tasks, the cell pass, the row loop and its scatter, the θ sums), ``schedule``
(how the threads claim the kernels' tasks, and spread over the CPUs with ``placement``),
``workers`` (what each thread of a kernel does), ``indirect`` (how a kernel calls its worker:
through the worker's address, see "Compile time" below) and ``compiling`` (what numba
compiles a worker and its kernel in: few full garbage collections, a roomy frame). The public
functions here find the worker's address for their arguments (compiling the worker, then the
kernel, on first use) and call the kernel (``_affine_sample`` for :func:`affine_sample`, and
so on).

Parallelism and determinism
---------------------------
Forward kernels cut the output into tasks (bands of rows, :func:`_band_of`), which the threads
claim a few at a time as they go (:mod:`._cpu.schedule`), so that a thread held up by anything
takes fewer of them, and a worker that the system woke onto the launching thread's CPU moves
off it; every task writes only its own rows. The backward's tasks are claimed
the same way. Its scatter into ``grad_input`` is where threads could race, so work is split by
*shape*, never by thread count, and no two tasks ever add into the same cell:

* N >= 2: one task per sample; it alone writes that sample's ``grad_input``.
* N == 1: ``split`` tasks (a fixed number, ``SCATTER_SPLIT`` at most). Task k computes the
  grid/θ gradient of output-row chunk k, then walks *all* output pixels again and scatters only
  into input-row band k. Every cell therefore receives its additions in output-pixel order,
  exactly as a serial loop would, and no extra buffer is allocated. A task skips, in that
  second walk, the output rows whose source rows miss its band (``_row_misses_band``,
  ``_grid_row_misses_band``; zeros, constant and border padding): W1's affine backward took
  0.87x-0.92x the time, a 3° turn of the same image 0.74x; the grid backward of those 0.94x
  and 0.81x (outputs identical). Within a row it keeps, it scatters only from the first
  column whose padded source row may touch the band to the last (``_band_cols``, any padding
  but wrap): W1's affine backward another 0.74x-0.84x, its grid backward 0.78x-0.79x (one and
  two threads). That pass, ``_scatter_band``, is compiled on its own and called through its
  address (``scatter_address``), as the kernels call their workers: inlined, its row loop
  made LLVM spill the first pass's arguments (W2's backward 1.1x-1.3x the time); linked as a
  function, it made a first backward compile up to 1.3 s longer.

θ gradients are summed per row (:func:`_theta_sums`, in an order fixed by the compiled code),
then per task in row order, and reduced in task order. Each task zeroes the rows of
``grad_input`` it scatters into before it starts. Results are bit-identical for any
``NUMBA_NUM_THREADS``, whichever thread runs which task, and from run to run, and the
backward allocates only its outputs (plus row buffers of a few output widths per thread).

Speed
-----
The row work lives in small non-inlined ``@njit`` functions (``_affine_band``, ``_grid_band``,
``_affine_backward_task``, and the gather, ``_gather``) called from the workers, so that LLVM
optimises and vectorises their loops on their own and the gather loop gets the registers to
itself (W1 0.81-0.94x the time of the same loop inlined into the row code). A forward row
goes through branch-free passes that vectorise (coordinates; padding for border/reflection;
corner offsets and weights), then a gather over the interior pixels with unsigned flat indices
(no bounds checks, no negative-index wraparound) and the channel loop specialised for C = 1, 3,
4 (one-channel float rows 8 pixels at a time with gathers, :func:`._simd.lerp8`). An affine row
at least ``SPAN_COLUMNS`` wide (narrower ones measured faster without) skips most of that
(:func:`_affine_spans`): its coordinates are monotone along the row, so the columns entirely
outside the image (a memset, zeros or constant padding) and those strictly inside (offsets and
weights without tests, :func:`_classify_interior`) are found once per row, and the coordinates
are computed inside the offsets pass instead of stored (W1 0.73-0.86x, W1u8 0.72-0.82x the time
of classifying every column). Narrower rows are sampled a group at a time in the forward: up to
``GROUP_PIXELS`` pixels of rows go through each pass as one row (:func:`_group_rows`). A 3- or
4-channel pixel of a float32 or integer image is one 4-lane step written in LLVM IR
(:func:`._simd.lerp4`; with 3 channels the 4th lane is junk, kept inside the arrays and
overwritten by the next pixel; float64 measured faster in scalars; integer images are stored
rounded from it and from the scalar paths, :func:`_store`, with no float row and rounding pass:
W1u8 0.91x the time), and the source rows of the pixel ``PREFETCH`` columns ahead are
prefetched. In integer images of 1, 3 or 4 channels the strictly interior span of such a row has
a gather loop of its own, which skips the per-pixel codes (:func:`_gather_span`, W1u8
0.93x-0.96x) and takes 8 pixels at a time with gathers (:func:`._simd.lerp8c`: W1u8 0.82x-0.84x
again, RGBA uint8 0.75x-0.79x, grey uint8 0.65x); the general gather of 3- and 4-channel
integer images takes blocks of 8 interior pixels so too (B32u8, small RGB images, 0.91x). Those
are Intel Xeon figures: on AMD Zen 4, 3- and 4-channel pixels one at a time measured faster, and
Zen processors take them so (:mod:`warpkit._tuning`). One-channel float images gather that span
apart too, 8 pixels at a time without the codes (grey float32 0.92x-0.97x on Zen 4); on Zen,
whose gathers cost per element, the 8-pixel blocks of one-channel images, forward and backward,
read their cells with two plain loads a pixel and shuffles instead (grey float32 0.87x-0.90x,
float64 0.74x-0.76x, uint8 0.92x, W2's forward 0.84x-0.85x, its backward 0.81x-0.87x). The gather
fills outside pixels with the fill value and lists the rest; only those go through a last pass: edge
pixels with checked reads (those of one-channel float rows 8 at a time, :func:`._simd.edge8`),
and only NaN, wrap and nearest-mode edges through the general per-point code. A backward row
works the same way: a vectorised pass finds the interior pixels' cells, fractions and weights
(:func:`_backward_cells`, which also marks the pixels that get no gradient), then one loop per
channel count (:func:`_backward_pass`) computes the coordinate gradients and scatters, in
output-pixel order, with edge pixels inline (:func:`_edge_backward`); where a row scatters into
the whole image (a batch) or not at all (θ's gradient alone, a single image's gradient pass),
the runs of interior pixels (their gradients taken 8 at a time before, in one-channel images, or
4 channels at once in the run) and of gradient-free pixels take a loop of their own (W2's
backward 0.89x-0.93x the time, RGB batches 0.93x, W2's backward for θ alone 0.82x-0.85x).
Weights are computed in the output dtype from float64 fractions (coordinates stay float64,
which integer images need). A signed computed index (``a[base + k]``) costs a negative-index
check per element and keeps LLVM from vectorising the loop (a rounding pass of integer images,
gone now, took 1.4 of 4.5 ms of W1u8): hot loops index with ``range`` variables, slices or
unsigned integers.
``fastmath`` is limited to ``contract`` (fused multiply-add; the θ sums of a backward row also
``reassoc``): NaN and inf keep their IEEE meaning. The band and task functions work on views of
their arrays that count no references (:func:`._simd.borrow`), so that the calls and slices of
every row do no atomic reference counting. The vectorised passes of coordinates, offsets and
weights ask LLVM for 512-bit vectors where the CPU has them (:func:`._simd.prefer512`; W1u8
0.96x the time).

Compile time
------------
Small helpers are inlined by numba (``inline="always"``); the large row functions
(``_sample_row``, the gather and backward row loops, the edge passes)
are plain ``@njit`` functions that LLVM inlines instead
(:func:`._simd.alwaysinline`): numba's inlining copies and types the callee again at every
call site, at a cost that grows with the callee's blocks times its variables, and the
backward's row loop, inlined into six specialisations per kernel, took most of the
backward's compile time. Now each is typed and compiled once per signature, and the affine
and grid backward share theirs. Outputs are identical and speed the same within noise. On the
Intel Xeon machine, the code before and after side by side (one process each, empty caches),
the first calls of affine_sample, warp of uint8, grid_sample, affine_sample_backward and
grid_sample_backward took 243 s -> 158 s, the two backward 130 s -> 62 s.

Every ``@njit`` function numba compiles is optimised by LLVM and turned into machine code on
its own, and again inside every caller that links it (the band function, the parallel loop's
body, the kernel): ``_affine_rows_of``, a short loop called once per band function, is
therefore inlined by numba instead, which saves one such round. A first ``warp`` with an empty
cache (medians of three processes each, Zen 4 machine): float32 19.3 s -> 17.8 s, uint8
17.4 s -> 16.8 s. Doing the same for ``_sample_row`` or the backward's row loop took longer:
numba's typing of the merged function costs more than LLVM's round saves.

Above the workers there were four more such levels: the parallel loop's body, its two wrappers
and the kernel. A kernel therefore calls its worker through the worker's address, and the
worker is compiled and cached on its own (:mod:`._cpu.indirect`, with the figures: a first
float32 ``warp`` 18.1 s -> 13.6 s; kernel times the same). The rows of an image call their
gather the same way, except 3-channel rows (``_cpu.gather.gather_address``: a first float32
RGB ``warp`` 9.2 s instead of 11.7-12.0 s, uint8 RGB 9.3-9.6 s instead of 12.1-12.4 s), and a
single image's backward its second pass (``_cpu.backward.scatter_address``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from .._threads import here, launch, on_this_thread, parallel
from ._cpu.backward import _split, _zeroed, scatter_address
from ._cpu.common import base_coord
from ._cpu.forward import _forward_bands
from ._cpu.gather import gather_address
from ._cpu.indirect import Addresses, _key, call_at
from ._cpu.pages import touch
from ._cpu.schedule import SPREAD_TYPES, chunk_size, claim, home, spread_out
from ._cpu.workers import (
    CLAIM_TYPES,
    affine_backward_worker,
    affine_int_worker,
    affine_worker,
    grid_backward_worker,
    grid_worker,
)


@njit(inline="always")
def _in_parallel(fn, worker, args, tasks, spread):
    """A kernel's parallel loop: each thread's first iteration claims the first tasks it gets
    (see :mod:`._cpu.schedule`) and, if there were any left, runs ``fn``, the worker at
    address ``worker``, with the kernel's arguments ``args`` and the claim; the worker claims
    the thread's further tasks itself. Later iterations find no task left. With ``spread``
    (the kernel's last argument, which :func:`warpkit._threads.launch` passes), a thread
    that got tasks first moves off the launching thread's CPU if it runs there
    (:func:`._cpu.schedule.spread_out`)."""
    k = chunk_size(tasks)
    counter = np.zeros(1, np.int64)
    launcher = home(spread)
    for _ in prange(tasks):
        lo, hi = claim(counter, k, tasks)
        if lo < hi:
            spread_out(launcher)
            call_at(fn, worker, args + (counter, k, tasks, lo))


#: (table, parallel?, channels, key of a forward's arguments) -> (gather, worker) addresses
_FORWARD_ADDRESSES: dict = {}


def _addresses(table: Addresses, args: tuple, gather_args: tuple) -> tuple[int, int]:
    """The gather's and the worker's addresses for a forward kernel called with ``args``
    then the gather's address (:func:`gather_address` of ``gather_args``, drawn from
    ``args``, whose first is the image), found by one key of ``args`` and the image's channel
    count, which picks the gather: 3.4 µs against 6.4 µs for two lookups each with a key of
    its own (a 28x28 uint8 image's arguments, medians of 20,000 calls)."""
    key = (table, parallel(), args[0].shape[3], _key(args))
    found = _FORWARD_ADDRESSES.get(key)
    if found is None:
        gather = gather_address(*gather_args)
        found = _FORWARD_ADDRESSES[key] = (gather, table.of(*args, gather))
    return found


@njit(parallel=True, cache=True)
def _affine_grid(theta, grid, align_corners):
    """The kernel of :func:`affine_grid`."""
    N, Ho, Wo = grid.shape[0], grid.shape[1], grid.shape[2]
    for t in prange(N * Ho):
        n = t // Ho
        i = t % Ho
        yt = base_coord(i, Ho, align_corners)
        for j in range(Wo):
            xt = base_coord(j, Wo, align_corners)
            grid[n, i, j, 0] = theta[n, 0, 0] * xt + theta[n, 0, 1] * yt + theta[n, 0, 2]
            grid[n, i, j, 1] = theta[n, 1, 0] * xt + theta[n, 1, 1] * yt + theta[n, 1, 2]


def affine_grid(theta, grid, align_corners) -> None:
    """grid[n, i, j] = θ[n] · (x_t(j), y_t(i), 1); grid (N, Ho, Wo, 2) is filled in place."""
    launch(_affine_grid, theta, grid, align_corners)


@njit(parallel=True, cache=True)
def _affine_grid_backward(grad_grid, grad_theta, align_corners):
    """The kernel of :func:`affine_grid_backward`: one task per (n, r)."""
    N, Ho, Wo = grad_grid.shape[0], grad_grid.shape[1], grad_grid.shape[2]
    for t in prange(N * 2):
        n = t // 2
        r = t % 2
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        for i in range(Ho):
            yt = base_coord(i, Ho, align_corners)
            for j in range(Wo):
                g = 1.0 * grad_grid[n, i, j, r]
                s0 += g * base_coord(j, Wo, align_corners)
                s1 += g * yt
                s2 += g
        grad_theta[n, r, 0] = s0
        grad_theta[n, r, 1] = s1
        grad_theta[n, r, 2] = s2


def affine_grid_backward(grad_grid, grad_theta, align_corners) -> None:
    """grad_theta[n, r] = Σ_ij grad_grid[n, i, j, r] · (x_t, y_t, 1)."""
    launch(_affine_grid_backward, grad_grid, grad_theta, align_corners)


@njit(parallel=True, cache=True)
def _affine_sample(inp, theta, out, mode, padding, align_corners, cval, gather, worker,
                   spread):
    """The kernel of :func:`affine_sample`: its threads run ``affine_worker`` (at address
    ``worker``) on the tasks they claim."""
    tasks = out.shape[0] * _forward_bands(out)[1]
    args = (inp, theta, out, mode, padding, align_corners, cval, gather)
    _in_parallel(affine_worker, worker, args, tasks, spread)


_AFFINE = Addresses(affine_worker, CLAIM_TYPES, _affine_sample, SPREAD_TYPES)


def affine_sample(inp, theta, out, mode, padding, align_corners, cval) -> None:
    """Fused affine_grid + grid_sample: out (N, Ho, Wo, C) filled in place, no grid made.

    Each task takes a band of output rows of one sample (about ``TASK_PIXELS`` pixels). Per
    row: a vectorised pass computes the source coordinates, a vectorised pass the corner
    offsets and weights, a gather pass reads the corners of interior pixels without bounds
    checks and fills the pixels outside, and a last pass samples the rest (edges, NaN) with
    checked reads.
    """
    args = (inp, theta, out, mode, padding, align_corners, cval)
    gather, worker = _addresses(_AFFINE, args, (inp, out, cval))
    touch(out)
    launch(_affine_sample, *args, gather, worker, spread=True)


@njit(parallel=True, cache=True)
def _affine_sample_int(inp, theta, out, mode, padding, align_corners, cval, work, gather,
                       worker, spread):
    """The kernel of :func:`affine_sample_int` (``affine_int_worker`` at ``worker``)."""
    tasks = out.shape[0] * _forward_bands(out)[1]
    args = (inp, theta, out, mode, padding, align_corners, cval, work, gather)
    _in_parallel(affine_int_worker, worker, args, tasks, spread)


_AFFINE_INT = Addresses(affine_int_worker, CLAIM_TYPES, _affine_sample_int, SPREAD_TYPES)


def affine_sample_int(inp, theta, out, mode, padding, align_corners, cval, work) -> None:
    """:func:`affine_sample` into an integer ``out`` of ``inp``'s dtype: computed in the dtype
    of ``work`` (an empty float32 or float64 array), then rounded half to even and clipped to
    the range of ``out``'s dtype pixel by pixel as it is stored (:func:`_store`), so no float
    image is ever allocated."""
    args = (inp, theta, out, mode, padding, align_corners, cval, work)
    gather, worker = _addresses(_AFFINE_INT, args, (inp, out, cval, work))
    touch(out)
    launch(_affine_sample_int, *args, gather, worker, spread=True)


@njit(parallel=True, cache=True)
def _grid_sample(inp, grid, out, mode, padding, align_corners, cval, gather, worker, spread):
    """The kernel of :func:`grid_sample` (``grid_worker`` at ``worker``)."""
    tasks = out.shape[0] * _forward_bands(out)[1]
    args = (inp, grid, out, mode, padding, align_corners, cval, gather)
    _in_parallel(grid_worker, worker, args, tasks, spread)


_GRID = Addresses(grid_worker, CLAIM_TYPES, _grid_sample, SPREAD_TYPES)


def grid_sample(inp, grid, out, mode, padding, align_corners, cval) -> None:
    """out[n, i, j, :] = inp[n] sampled at grid[n, i, j]; out (N, Ho, Wo, C) filled in place."""
    args = (inp, grid, out, mode, padding, align_corners, cval)
    gather, worker = _addresses(_GRID, args, (inp, out, cval))
    touch(out)
    launch(_grid_sample, *args, gather, worker, spread=True)


#: Calls whose work covers fewer pixels than this run on the calling thread alone
#: (:func:`call`): waking the worker threads costs 50-130 µs on the 2-core machines, and a
#: second thread pays only once it takes more than that off the first. On the Zen 4 machine
#: (2026-12-06, a 20° turn, `warp` with the parallel kernel against its serial twin, medians),
#: grey and RGB images, uint8 and float32, of 128x128 took 1.7x-2.0x the time with both
#: threads, 192x192 1.2x-1.4x, 256x256 0.99x-1.13x, 320x320 0.85x-0.92x (grey float32 1.09x)
#: and 384x384 0.72x-0.95x; so from 65,536 pixels (it was 16,384 until then, set where a
#: 16x16x3 image took 58 µs with both threads and 9 µs with one).
SERIAL_PIXELS = 65536
#: :data:`SERIAL_PIXELS` for the backward kernels, whose pixels cost 2-3 times a forward's: on
#: the Zen 4 machine a single grey or RGB float32 image's backward took 1.4x-1.6x the time with
#: both threads at 128x128, 1.05x-1.23x at 160x160, 0.80x-0.90x at 192x192 and 0.61x-0.73x at
#: 256x256.
SERIAL_BACKWARD_PIXELS = 32768
#: :data:`SERIAL_PIXELS` for an affine forward whose every θ keeps each output row at one
#: height in the source (θ[n, 1, 0] = 0: no rotation, nor a shear that tilts the rows; zooms,
#: flips, crops, shifts), whose rows cost less a pixel, counting a pixel of C channels as
#: (C + 1) / 2 grey ones: grey images up to 383x383 run serially, RGB ones up to 271x271. On
#: the Zen 4 machine (2026-12-07, `warp` into a kept output, blocks of calls each way, back to
#: back, after 1 ms asleep and after 0.3 ms of other work), zoomed, mirrored and shifted grey
#: images, uint8 and float32, took 1.0x-2.2x the time with both threads at 256x256 (one thread
#: 83-129 µs), 0.8x-1.7x at 320x320 and 0.7x-1.6x at 384x384, where it stops; RGB ones
#: 1.0x-1.7x at 256x256 and 0.8x-1.5x at 320x320 (one thread's time 1.2x-1.6x a grey image's).
SERIAL_LEVEL_PIXELS = 147456


def _level(theta: np.ndarray) -> bool:
    """Whether every θ of the (N, 2, 3) ``theta`` keeps each output row at one height in the
    source (θ[n, 1, 0] = 0)."""
    return not theta[:, 1, 0].any()


def _serial(kernel, pixels: int, args: tuple) -> bool:
    """Whether :func:`call` runs ``kernel(*args)``, whose work covers ``pixels`` pixels, on
    the calling thread alone."""
    if kernel in _BACKWARDS:
        return pixels < SERIAL_BACKWARD_PIXELS
    if pixels < SERIAL_PIXELS:
        return True
    # an affine forward's image and θ are its first two arguments
    return (kernel in _AFFINE_FORWARDS and pixels * (args[0].shape[3] + 1) < 2 * SERIAL_LEVEL_PIXELS
            and _level(args[1]))


def call(kernel, pixels: int, *args) -> None:
    """``kernel(*args)``, its kernels run as their serial twins on the calling thread alone
    when its work covers fewer than ``SERIAL_PIXELS`` pixels (``SERIAL_BACKWARD_PIXELS`` for the
    backward kernels; ``SERIAL_LEVEL_PIXELS`` for an affine forward whose θ keeps each output
    row at one height; :func:`warpkit._threads.on_this_thread`). A twin calls the same
    compiled worker as its parallel kernel, and the kernels cut work by shape, not by thread
    count, so the results are the same bit for bit.

    A twin saves what a parallel kernel costs even on one thread (``numba.set_num_threads(1)``
    around it, as until 2026-12-06): a 28x28 uint8 ``warp`` 29.9 against 34.8 µs, 64x64 RGB
    float32 49.8 against 55.3 µs (medians of 30 rounds of 100 calls, interleaved)."""
    if not (here.small_serial and _serial(kernel, pixels, args)):
        kernel(*args)
    else:
        on_this_thread(kernel, *args)


@njit(parallel=True, cache=True)
def _grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin, split,
    scatter, worker, spread
):
    """The kernel of :func:`grid_sample_backward` (``grid_backward_worker`` at ``worker``)."""
    tasks = grid.shape[0] * split
    args = (gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin, split,
            scatter)
    _in_parallel(grid_backward_worker, worker, args, tasks, spread)


_GRID_BACKWARD = Addresses(grid_backward_worker, CLAIM_TYPES, _grid_sample_backward,
                           SPREAD_TYPES)


def grid_sample_backward(
    gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_grid`` (N, Ho, Wo, 2) and, unless ``gin`` is None, ``gin`` (N, H, W, C)."""
    need_gin = gin is not None
    gin = _zeroed(gin, inp)
    split = _split(grid.shape[0], grid.shape[1], inp.shape[1])
    args = (gout, inp, grid, gin, grad_grid, mode, padding, align_corners, cval, need_gin,
            split, scatter_address(gout, inp, gin, cval))
    launch(_grid_sample_backward, *args, _GRID_BACKWARD.of(*args), spread=True)


@njit(parallel=True, cache=True)
def _affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin, split,
    scatter, worker, spread
):
    """The kernel of :func:`affine_sample_backward` (``affine_backward_worker`` at ``worker``):
    the tasks' θ-gradient sums are reduced in task order after the parallel loop."""
    N = gout.shape[0]
    tasks = N * split
    partial = np.zeros((tasks, 6))
    args = (gout, inp, theta, gin, mode, padding, align_corners, cval, need_gin, split, scatter,
            partial)
    _in_parallel(affine_backward_worker, worker, args, tasks, spread)
    for n in range(N):
        for q in range(6):
            acc = 0.0
            for k in range(split):
                acc += partial[n * split + k, q]
            grad_theta[n, q // 3, q % 3] = acc


_AFFINE_BACKWARD = Addresses(affine_backward_worker,
                             (types.Array(types.float64, 2, "C"),) + CLAIM_TYPES,
                             _affine_sample_backward, SPREAD_TYPES)


def affine_sample_backward(
    gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval
) -> None:
    """Fill ``grad_theta`` (N, 2, 3) and, unless ``gin`` is None, ``gin`` (N, H, W, C)."""
    need_gin = gin is not None
    gin = _zeroed(gin, inp)
    split = _split(gout.shape[0], gout.shape[1], inp.shape[1])
    scatter = scatter_address(gout, inp, gin, cval)
    args = (gout, inp, theta, gin, grad_theta, mode, padding, align_corners, cval, need_gin,
            split, scatter)
    worker = _AFFINE_BACKWARD.of(gout, inp, theta, gin, mode, padding, align_corners, cval,
                                 need_gin, split, scatter, kernel_args=args)
    launch(_affine_sample_backward, *args, worker, spread=True)


#: The kernels that :func:`call` runs serially below ``SERIAL_BACKWARD_PIXELS``.
_BACKWARDS = (grid_sample_backward, affine_sample_backward)
#: The kernels that :func:`call` runs serially below ``SERIAL_LEVEL_PIXELS`` for a θ that
#: keeps rows level (:func:`_level`).
_AFFINE_FORWARDS = (affine_sample, affine_sample_int)
