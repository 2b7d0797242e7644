"""Choices of the CPU kernels that depend on the processor they are compiled for.

:data:`GATHER_BLOCKS`: whether blocks of 8 pixels read their cells with hardware gathers. It
decides two things, by the same measure (on AMD's Zen 4 a gather costs per element):

- The interior pixels of integer images of 3 and 4 channels are sampled 8 at a time, their
  corners read by gathers (:func:`.backends._simd.lerp8c`), or one at a time, each corner read
  by one 4-lane load (:func:`.backends._simd.lerp4`).
- The 8-pixel blocks of one-channel images read their cells with gathers
  (:func:`.backends._simd.lerp8`, :func:`.backends._simd.grad8` for the backward's coordinate
  gradients, :func:`.backends._simd.lerp8c` for integer images), or with two loads a pixel (a
  cell row's two values each) and shuffles (:func:`.backends._simd.lerp8_pairs`,
  :func:`.backends._simd.lerp8_loads`, :func:`.backends._simd.grad8_loads`,
  :func:`.backends._simd.lerp8c_loads`).

Both ways compute the same operations in the same order, so the outputs are the same to the
bit; only the speed differs, and it differs by processor:

- On the Intel Xeon machines of this project (LLVM's ``emeraldrapids``), 8 at a time took
  0.82x-0.84x the time of one at a time on W1u8 (a 1024x1024 RGB uint8 image), 0.75x-0.79x on
  RGBA uint8 and 0.86x-0.89x on uint16 RGB.
- On the AMD Zen 4 machine (``znver4``), one at a time took 0.87x-0.90x the time of 8 at a
  time on W1u8, 0.90x-0.92x on RGBA uint8, 0.74x-0.85x on uint16 RGB, and 0.90x-1.00x on
  batches of small uint8 images (``benchmarks/ab_kernels.py``, one and two threads, outputs
  identical). For one channel, plain loads took (one / two threads) 0.87x / 0.90x the time of
  gathers on a grey 1024x1024 float32 image, 0.77x / 0.79x zoomed by 2, 0.74x-0.76x on a grey
  float64 image, 0.85x / 0.84x on W2's forward and 0.81x / 0.87x on its backward (0.77x for θ
  alone), 0.91x-0.96x on grey uint8 and uint16 images and on batches of small grey uint8 ones,
  0.88x / 0.84x on a grey uint8 image zoomed by 2. (One-channel integer pixels one at a time,
  without gathers or blocks, took 1.12x-1.46x the time of 8 at a time with gathers: so one
  channel keeps its blocks.)

So AMD's Zen processors (LLVM names them ``znver1`` to ``znver5``) take 3- and 4-channel
integer pixels one at a time and read one-channel cells with plain loads, every other
processor takes gathers for both (the loads' shuffles were not timed on Intel, whose gathers
cost less and whose shuffles have one port). Measured on ``znver4`` and ``znver3`` (an AMD EPYC
without AVX-512, 2026-12-07: plain loads and one pixel at a time took, one thread, 0.91x the
time of gathers on W1u8, 0.82x on RGBA uint8, 0.90x on uint16 RGB, 0.78x on a grey 1024x1024
float32 image, 0.96x on a grey uint8 one, 0.90x on W2's forward, 0.985x on its backward, and
0.96x-0.99x on batches of grey uint8 images; ``benchmarks/ab_kernels.py HEAD --env-a
WARPKIT_GATHER_BLOCKS=1``, outputs identical); the other Zen generations are assumed to behave
alike.

:data:`LEVEL_WINDOWS`: whether the 8-pixel blocks of a one-channel row at one height (a map
without rotation or shear: zooms, shifts, flips) of a float32 or integer image pick their
corners from two windows of 16 values, one per source row, by AVX-512's permute
(:func:`.backends._simd.lerp8_window`), instead of reading each cell by plain loads, and those
of rows of 3 or 4 channels from two windows of 32 values (:func:`.backends._simd.lerp8c_window`)
instead of one 4-lane step a pixel. Measured on the Zen 4 machine only, and taken only there
(where :data:`GATHER_BLOCKS` is False and the processor compiled for has AVX-512,
:data:`PERMUTE16`). The same values to the bit.

``WARPKIT_GATHER_BLOCKS=1`` (or ``0``) in the environment, read at import, chooses
gathers (or not) on any processor; the tests use it to run the path this processor does not
take. The choice is part of the stamp of warpkit's numba cache (:mod:`._numba_cache`), so
kernels compiled under the other choice are compiled again rather than loaded.
"""

from __future__ import annotations

import os

#: The environment variable that overrides :data:`GATHER_BLOCKS`.
ENV = "WARPKIT_GATHER_BLOCKS"


def target_cpu() -> str:
    """The name of the processor numba compiles for: ``NUMBA_CPU_NAME`` where set, else the
    host's as LLVM names it (``znver4``, ``emeraldrapids``, ...)."""
    import llvmlite.binding as ll
    from numba.core import config

    return getattr(config, "CPU_NAME", None) or ll.get_host_cpu_name()


def gather_blocks(setting: str | None, cpu: str) -> bool:
    """Whether blocks of 8 pixels read their cells with gathers (3- and 4-channel integer
    pixels 8 at a time, one-channel cells by gathers), for the value ``setting`` of
    :data:`ENV` (None or empty: unset) and the processor named ``cpu``.

    Raises
    ------
    ValueError
        If ``setting`` is set to anything but ``"0"`` or ``"1"``.
    """
    if not setting:
        return not cpu.startswith("znver")
    if setting not in ("0", "1"):
        raise ValueError(f"{ENV} must be 0 or 1 (or unset: chosen by processor), "
                         f"got {setting!r}")
    return setting == "1"


#: Gathers for blocks of 8 pixels (see above).
GATHER_BLOCKS: bool = gather_blocks(os.environ.get(ENV), target_cpu())


def target_features() -> str:
    """The features of the processor numba compiles for, as LLVM writes them (``+avx512f,...``):
    ``NUMBA_CPU_FEATURES`` where set, else the host's (as numba takes them, whatever
    ``NUMBA_CPU_NAME`` says)."""
    import llvmlite.binding as ll
    from numba.core import config

    features = getattr(config, "CPU_FEATURES", None)
    return features if features is not None else ll.get_host_cpu_features().flatten()


#: Whether the processor compiled for permutes 16 float32 lanes by indices in one instruction
#: (AVX-512's ``vpermps``, and ``vpermt2ps`` from two vectors), which the window steps of
#: :mod:`.backends._simd` use; without it the same lanes are picked one by one (the same
#: values, slower).
PERMUTE16: bool = "+avx512f" in target_features().split(",")

#: Whether the processor compiled for permutes 8 float32 lanes by indices in one instruction
#: (AVX2's ``vpermps``), which :func:`.backends._simd.lerp_level`'s 8-value steps use where
#: there is no :data:`PERMUTE16`.
PERMUTE8: bool = "+avx2" in target_features().split(",")

#: Whether rows at one height (maps without rotation) of 1, 3 or 4 channels take their
#: interior span from a table of their cells kept by each thread (:mod:`.backends._cpu.level`):
#: 16 values a step with AVX-512 (:data:`PERMUTE16`), 8 with AVX2 only (:data:`PERMUTE8`).
LEVEL_TABLE: bool = PERMUTE16 or PERMUTE8

#: Whether the 8-pixel blocks of a one-channel row at one height (a map without rotation or
#: shear), float32 or integer, read their two source rows as windows of 16 values and pick the
#: corners from them (:func:`.backends._simd.lerp8_window`): where the cells are read by plain
#: loads (:data:`GATHER_BLOCKS` False) and the processor has the permute. On the Zen 4 machine
#: a grey 1024x1024 image zoomed by 2, or mirrored and scaled by 1.1, took (one thread / two)
#: 0.88x-0.95x / 0.88x-0.91x the time in float32 and 0.71x-0.76x / 0.76x-0.78x in uint8
#: (``benchmarks/ab_kernels.py``, workloads ``Zg f32``, ``Fg f32``, ``Zg u8``, ``Fg u8``); not
#: timed on Intel, whose one-channel cells are read by gathers. Rows of 3 or 4 channels too
#: (:func:`.backends._simd.lerp8c_window`): zoomed by 2, two threads, RGB float32 0.75x the
#: time, RGB uint8 0.78x, RGBA float32 0.85x, RGBA uint8 0.74x; RGB float32 mirrored and
#: scaled by 1.1 0.84x (against the code before them, which also clipped cells otherwise;
#: workloads ``Z f32``, ``Z u8``, ``Z4 f32``, ``Z4 u8``, ``F f32``).
LEVEL_WINDOWS: bool = not GATHER_BLOCKS and PERMUTE16


def stamp() -> tuple:
    """The choices that compiled code depends on, for the numba cache's stamp: the environment's
    (:data:`PERMUTE16`, from the target's features, needs none: numba's cache index holds the
    processor and features compiled for)."""
    return (("gather_blocks", GATHER_BLOCKS),)
