"""Low-level steps of the CPU kernels written directly in LLVM IR: a 4-lane bilinear pixel (and
its coordinate gradients), 8 one-channel pixels (and theirs) with gathers, 8 integer pixels of
1, 3 or 4 channels (:func:`lerp8c`), 8 one-channel edge pixels (:func:`edge8`) and a prefetch
for the gather, a view of an array that counts no references for row loops, a multiply-add
that rounds the same at every call site for affine coordinates, hints for wider vectors, for
arrays that do not overlap and for inlining, and a constant turned into a run-time value
(:func:`dynamic`).

LLVM does not vectorise the per-pixel work of a channels-last gather by itself (four corners
of 3 or 4 channels each, at addresses known only at run time): the loads and stores may alias
as far as it can tell, and the trip count is tiny. :func:`lerp4` states it explicitly: four
unaligned 4-lane loads, the weights broadcast, and one 4-lane store — a handful of vector
instructions where the scalar code needs 12-16 loads and 3-4 stores per pixel.

With one channel there is nothing to vectorise within a pixel; :func:`lerp8` takes 8 pixels
of a row at once instead, reading their corners with masked gathers (LLVM would not vectorise
that loop either: it cannot bound the addresses the gathers read, so it cannot rule out that
the stores change them), and :func:`edge8` 8 of a row's edge pixels, each corner read only
where it lies inside the image. Integer pixels are narrow enough for gathers whatever their
channels: :func:`lerp8c` reads 8 pixels' corners of up to 4 channels with a gather each. Where
gathers cost per element (AMD's Zen), their twins :func:`lerp8_pairs`, :func:`lerp8_loads`,
:func:`grad8_loads` and :func:`lerp8c_loads` read the cells of 8 one-channel pixels with two
plain loads each and shuffles instead (:func:`_pairs8`; :mod:`warpkit._tuning` chooses); in a
row at one height, :func:`lerp8_window` picks 8 one-channel pixels' corners from two windows of
16 values by a permute of lanes, and :func:`lerp8c_window` those of 8 pixels of 3 or 4
channels from two windows of 32; :func:`lerp_level` takes 16 values (AVX-512) or 8 (AVX2) of
such a row of 1, 3 or 4 channels from two windows of twice as many, its cells from a table made
once per map.

Rounding is the scalar code's: ``(v00·a + v01·b) + (v10·c + v11·d)`` with the same
fused multiply-adds allowed (``contract``; each row's sum fuses its first product, see
:func:`_bilinear`), in the weights' dtype, so lanes equal what the scalar path computes.
"""

from __future__ import annotations

import re

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array
from numba.np.numpy_support import as_dtype

from .._tuning import PERMUTE8, PERMUTE16

_CONTRACT = ("contract",)


@intrinsic
def lerp4(typingctx, flat, oflat, p, p2, step, q, a, b, c, d):
    """``oflat[q:q+4] = (flat[p:p+4]·a + flat[p+step:p+step+4]·b)
    + (flat[p2:p2+4]·c + flat[p2+step:p2+step+4]·d)`` on 4 lanes at once.

    ``a``-``d`` are float scalars of one dtype, the arithmetic's; ``flat`` a 1-D contiguous
    array of any boolean, integer or float dtype, whose values are converted to it as the
    scalar code's mixed arithmetic converts them (integers the dispatcher pairs with float32
    have at most 16 bits, so exactly). ``oflat`` is a 1-D contiguous array of the weights'
    dtype, or, with float32 weights and an integer ``flat`` of at most 16 bits, an integer
    array of at most 16 bits: then the 4 lanes are rounded half to even, clipped to the
    range of its dtype and stored as integers (the scalar code's :func:`.cpu._store`).
    ``p``, ``p2``, ``step`` and ``q`` are unsigned 64-bit element indices. No bounds checks:
    the caller guarantees that every index read or written is inside.
    """
    if not lerp4_writes(flat.dtype, oflat.dtype, a) or not a == b == c == d:
        return None
    sig = types.void(flat, oflat, p, p2, step, q, a, b, c, d)

    def codegen(context, builder, signature, args):
        flat_v, oflat_v, p_v, p2_v, step_v, q_v, a_v, b_v, c_v, d_v = args
        src = context.make_array(signature.args[0])(context, builder, flat_v).data
        dst = context.make_array(signature.args[1])(context, builder, oflat_v).data
        src_t, dst_t, work_t = signature.args[0].dtype, signature.args[1].dtype, signature.args[6]
        elt = context.get_data_type(work_t)
        vec = ir.VectorType(elt, 4)
        src_elt = context.get_data_type(src_t)  # a byte for booleans
        src_vec = ir.VectorType(src_elt, 4)
        src_item = context.get_abi_sizeof(src_elt)

        def at(base, idx, v):
            return builder.bitcast(builder.gep(base, [idx]), v.as_pointer())

        def load(idx):
            return _to_work(builder, builder.load(at(src, idx, src_vec), align=src_item), src_t,
                            work_t, vec)

        result = _bilinear(builder, load(p_v), load(builder.add(p_v, step_v)), load(p2_v),
                           load(builder.add(p2_v, step_v)),
                           [_splat(builder, w, vec) for w in (a_v, b_v, c_v, d_v)])
        if isinstance(dst_t, types.Integer):
            result = _to_integers(builder, result, dst_t)
        builder.store(result, at(dst, q_v, result.type), align=dst_t.bitwidth // 8)
        return context.get_dummy_value()

    return sig, codegen


def _bilinear(builder, v00, v01, v10, v11, w):
    """``(v00·w[0] + v01·w[1]) + (v10·w[2] + v11·w[3])`` lane by lane, with the fused
    multiply-adds the scalar code allows (``contract``): its rounding, for every step here.

    Each row's sum is ``llvm.fmuladd(v00, w[0], v01·w[1])``: the first product fused where the
    target has a fast multiply-add, as LLVM fuses the scalar code's and :func:`lerp4`'s sums.
    Left to LLVM, the fusion of a sum of two contractable products may take either product
    (in 16-lane vectors of permuted lanes it took the second: values 1 ulp apart)."""
    vt = v00.type
    fmuladd = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vt, [vt] * 3),
        f"llvm.fmuladd.v{vt.count}f{vt.element.intrinsic_name[1:]}")

    def row(a, x, b, y):
        return builder.call(fmuladd, [a, x, builder.fmul(b, y, flags=_CONTRACT)])

    return builder.fadd(row(v00, w[0], v01, w[1]), row(v10, w[2], v11, w[3]), flags=_CONTRACT)


def lerp4_writes(src, dst, work) -> bool:
    """Whether :func:`lerp4` takes pixels of numba dtype ``src`` to ``dst`` with arithmetic
    in the float dtype ``work``."""
    if not isinstance(work, types.Float) or not isinstance(
        src, (types.Float, types.Integer, types.Boolean)
    ):
        return False
    if isinstance(dst, types.Integer):
        return work.bitwidth == 32 and dst.bitwidth <= 16 and isinstance(src, types.Integer) \
            and src.bitwidth <= 16
    return dst == work


def _to_work(builder, raw, src_t, work_t, vec):
    """The lanes ``raw`` of numba dtype ``src_t`` as the float vector type ``vec`` of dtype
    ``work_t``, converted as the scalar code's mixed arithmetic converts them."""
    if src_t == work_t:
        return raw
    if isinstance(src_t, types.Float):
        convert = builder.fpext if src_t.bitwidth < work_t.bitwidth else builder.fptrunc
    elif isinstance(src_t, types.Integer) and src_t.signed:
        convert = builder.sitofp
    else:  # unsigned, or a boolean (a byte holding 0 or 1)
        convert = builder.uitofp
    return convert(raw, vec)


def _to_integers(builder, v, dst_t):
    """Float lanes rounded half to even (``llvm.rint`` in the default rounding mode, as
    ``np.rint``), clipped to the range of the integer dtype ``dst_t`` (at most 16 bits) and
    narrowed to it. The lanes are finite and below 2**31 in magnitude (bilinear values of
    16-bit integers)."""
    i32 = ir.IntType(32)
    vt = v.type
    rint = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vt, [vt]),
                                          f"llvm.rint.v{vt.count}f32")
    ivec = ir.VectorType(i32, vt.count)
    n = builder.fptosi(builder.call(rint, [v]), ivec)
    info = np.iinfo(as_dtype(dst_t))
    lo, hi = int(info.min), int(info.max)
    lo_v = ir.Constant(ivec, [lo] * vt.count)
    hi_v = ir.Constant(ivec, [hi] * vt.count)
    n = builder.select(builder.icmp_signed("<", n, lo_v), lo_v, n)
    n = builder.select(builder.icmp_signed(">", n, hi_v), hi_v, n)
    return builder.trunc(n, ir.VectorType(ir.IntType(dst_t.bitwidth), vt.count))


def _stored_integers(builder, v, dst_t):
    """Float64 lanes as :func:`.store._store` stores them into the integer dtype ``dst_t`` (at
    most 16 bits) from float32 arithmetic: taken to float32, clipped to the dtype's range
    (±inf to its ends) and NaN as 0, then rounded and narrowed by :func:`_to_integers`."""
    info = np.iinfo(as_dtype(dst_t))
    ft = ir.VectorType(ir.FloatType(), v.type.count)
    x = builder.fptrunc(v, ft)

    def const(c):
        return ir.Constant(ft, [float(c)] * ft.count)

    # np.fmin(x, hi) (a NaN x gives hi), then np.fmax(.., lo), then (x == x)·that
    y = builder.select(builder.fcmp_ordered("<", x, const(info.max)), x, const(info.max))
    y = builder.select(builder.fcmp_ordered(">", y, const(info.min)), y, const(info.min))
    return _to_integers(builder, builder.select(builder.fcmp_ordered("ord", x, x), y,
                                                const(0.0)), dst_t)


_LANES = 8


def _splat(builder, x, vt):
    """A vector of type ``vt`` with every lane ``x``."""
    i32 = ir.IntType(32)
    undef = ir.Constant(vt, ir.Undefined)
    zeros = ir.Constant(ir.VectorType(i32, vt.count), [0] * vt.count)
    return builder.shuffle_vector(builder.insert_element(undef, x, ir.Constant(i32, 0)), undef,
                                  zeros)


def _vload(builder, base_ptr, idx, vt, align):
    """The vector of type ``vt`` at element ``idx`` of ``base_ptr`` (unaligned)."""
    return builder.load(builder.bitcast(builder.gep(base_ptr, [idx]), vt.as_pointer()),
                        align=align)


def _block_arrays(context, builder, signature, args):
    """The data of the first three array arguments of an 8-pixel step (image, output, offsets),
    then the data of the fourth, the weights (a C-contiguous (4, n) array), and its n."""
    src, dst, offs = (context.make_array(signature.args[k])(context, builder, args[k]).data
                      for k in range(3))
    wts = context.make_array(signature.args[3])(context, builder, args[3])
    return src, dst, offs, wts.data, cgutils.unpack_tuple(builder, wts.shape, 2)[1]


def _weight_rows(builder, data, n, j, vt, align):
    """The four weights of the pixels from column j, as vectors of type ``vt``: rows 0 to 3 of
    the C-contiguous (4, n) array at ``data``."""
    i64 = ir.IntType(64)
    return [_vload(builder, data, builder.add(builder.mul(ir.Constant(i64, r), n), j), vt, align)
            for r in range(4)]


def _pairs8_at(builder, src, elt, item, offsets, base, step):
    """:func:`_pairs8` of the cells at ``base`` + the 8 lanes of the int64 vector ``offsets``."""
    cells = builder.add(offsets, _splat(builder, base, offsets.type))
    return _pairs8(builder, src, elt, item, [builder.extract_element(
        cells, ir.Constant(ir.IntType(32), k)) for k in range(_LANES)], step)


def _corners8(context, builder, src, elt, offs_data, base, j, step, lim, flag=None,
              loads=False):
    """The shared part of :func:`lerp8` and :func:`grad8`: the mask of lanes whose offset
    ``offs[j + k]`` is below ``lim`` (unsigned) and, for those lanes, the four corners
    flat[r], flat[r + 1], flat[r + step], flat[r + step + 1] with r = base + offs[j + k], read
    with masked gathers (0 in the other lanes, which read nothing); and the 8 offsets. With
    ``flag`` (an unsigned 64-bit value, not None), a lane whose offset less ``flag`` is below
    ``lim`` (unsigned) is read too, at that offset less ``flag``; it is in the mask, and in a
    second mask returned with it (None without ``flag``).

    float32 corners come two at a time: flat[r] and flat[r + 1] are adjacent, so one gather of
    8-byte elements reads both and a shuffle splits them into even and odd lanes (2 gathers
    instead of 4; gathers cost per element, on Zen 4 most of all: there W2's forward took
    0.84x-0.85x the time, a grey 1024x1024 float32 image 0.82x, W2's backward 0.95x-0.98x).
    With ``loads``, every lane reads its cell with plain loads instead (:func:`_pairs8`), the
    lanes outside the mask the cell at offset 0 (from ``base``): the caller guarantees that
    that cell lies inside ``src`` too."""
    i32, i64 = ir.IntType(32), ir.IntType(64)
    item = context.get_abi_sizeof(elt)
    ivec = ir.VectorType(i64, _LANES)
    offsets = _vload(builder, offs_data, j, ivec, 8)
    limits = _splat(builder, lim, ivec)
    mask = builder.icmp_unsigned("<", offsets, limits)
    o = offsets
    flagged = None
    if flag is not None:  # negative codes less flag stay far above lim (unsigned)
        unflagged = builder.sub(offsets, _splat(builder, flag, ivec))
        flagged = builder.and_(builder.icmp_unsigned("<", unflagged, limits), builder.not_(mask))
        o = builder.select(flagged, unflagged, offsets)
        mask = builder.or_(mask, flagged)
    # lanes outside the mask get offset 0: their addresses stay harmless and unused
    o = builder.select(mask, o, ir.Constant(ivec, [0] * _LANES))
    if loads:  # plain loads: every lane reads, those outside the mask cell 0
        return mask, _pairs8_at(builder, src, elt, item, o, base, step), offsets, flagged
    nbytes = ir.Constant(ivec, [item] * _LANES)
    first = builder.add(_splat(builder, builder.ptrtoint(src, i64), ivec),
                        builder.mul(builder.add(o, _splat(builder, base, ivec)), nbytes))
    below = builder.add(first, _splat(builder, builder.mul(step, ir.Constant(i64, item)), ivec))

    def gather(addr, t):  # the lanes of type t at byte addresses addr, 0 outside the mask
        vt, pt = ir.VectorType(t, _LANES), ir.VectorType(t.as_pointer(), _LANES)
        return _masked(builder, "gather", vt, [builder.inttoptr(addr, pt), ir.Constant(i32, item),
                                               mask, ir.Constant(vt, None)])

    if item == 4:  # the two corners of a cell row are adjacent: one 8-byte gather for both
        lanes = ir.VectorType(i32, _LANES)
        even = ir.Constant(lanes, list(range(0, 2 * _LANES, 2)))
        odd = ir.Constant(lanes, list(range(1, 2 * _LANES, 2)))

        def pair(addr):
            both = builder.bitcast(gather(addr, i64), ir.VectorType(elt, 2 * _LANES))
            return (builder.shuffle_vector(both, both, even),
                    builder.shuffle_vector(both, both, odd))

        return mask, [*pair(first), *pair(below)], offsets, flagged
    corners = [gather(first, elt), gather(builder.add(first, nbytes), elt), gather(below, elt),
               gather(builder.add(below, nbytes), elt)]
    return mask, corners, offsets, flagged


def _masked(builder, name, vt, args):
    """A call of the masked memory intrinsic ``llvm.masked.<name>`` (load, store, gather,
    scatter) for vectors of type ``vt``, with the argument list ``args`` (the value for stores
    and scatters, the pointer or pointers, the alignment, the mask and, for loads and gathers,
    the value of the lanes off the mask)."""
    suffix = {"float": "f32", "double": "f64"}.get(str(vt.element), str(vt.element))
    kind = "p0" if name in ("load", "store") else f"v{vt.count}p0"
    ret = ir.VoidType() if name in ("store", "scatter") else vt
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
        ret, [a.type for a in args]), f"llvm.masked.{name}.v{vt.count}{suffix}.{kind}")
    return builder.call(fn, args)


def _masked_store(builder, value, ptr, mask, align):
    """``llvm.masked.store`` of ``value`` at ``ptr``, in the lanes of ``mask``."""
    _masked(builder, "store", value.type, [value, ptr, ir.Constant(ir.IntType(32), align), mask])


@intrinsic
def lerp8(typingctx, flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill):
    """Bilinear of the 8 one-channel pixels j..j+7 of a row at once, with gathers.

    A lane k whose offset ``o = offs[j + k]`` is below ``lim`` (compared unsigned, so negative
    codes are never below it) gets ``oflat[q + k] = (flat[r]·w0 + flat[r + 1]·w1) +
    (flat[r + step]·w2 + flat[r + step + 1]·w3)`` with r = base + o and ``w = wts[:, j + k]``,
    the rounding of :func:`lerp4` and of the scalar code. With ``flag`` (unsigned 64-bit, or
    None), a lane whose offset less ``flag`` is below ``lim`` is a flagged one: it is computed
    the same way at r = base + o - flag and written unless its result is NaN. A lane
    whose offset is ``code`` (an int64, or None) gets ``oflat[q + k] = fill`` (a scalar of the
    dtype of ``oflat``) and reads nothing; the other lanes, and flagged lanes whose result is
    NaN, write nothing (and the other lanes read nothing). Returns the lanes not written as a
    bit mask (bit k for pixel j + k).

    ``flat`` and ``oflat`` are 1-D contiguous arrays of one float dtype, ``offs`` a 1-D
    contiguous int64 array, ``wts`` a C-contiguous (4, n) array of the float dtype; ``base``,
    ``j``, ``q``, ``step`` and ``lim`` are unsigned 64-bit. No bounds checks: the caller
    guarantees that the lanes read (below ``lim``, and flagged) read inside ``flat`` and that
    j + 8 <= n.
    """
    return _lerp8(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill, False)


@intrinsic
def lerp8_loads(typingctx, flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill):
    """:func:`lerp8` with the corners read by plain loads instead of gathers (:func:`_pairs8`):
    the same values. Every lane reads a cell, those outside the mask the cell at offset 0, so
    the caller also guarantees that the cell at ``base`` lies inside ``flat``."""
    return _lerp8(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill, True)


def _lerp8(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill, loads):
    """The signature and code of :func:`lerp8` (plain loads for the corners when ``loads``)."""
    if not (isinstance(oflat.dtype, types.Float) and flat.dtype == oflat.dtype == wts.dtype
            and offs.dtype == types.int64 and wts.ndim == 2):
        return None
    fills = not isinstance(code, types.NoneType)
    if fills and not (isinstance(code, types.Integer) and fill == oflat.dtype):
        return None
    flags = not isinstance(flag, types.NoneType)
    if flags and flag != types.uint64:
        return None
    sig = types.uint64(flat, oflat, offs, wts, base, j, q, step, lim, flag, code, fill)

    def codegen(context, builder, signature, args):
        base_v, j_v, q_v, step_v, lim_v, flag_v, code_v, fill_v = args[4:]
        src, dst, offs_data, wts_data, n = _block_arrays(context, builder, signature, args)
        elt = context.get_data_type(signature.args[1].dtype)
        item = context.get_abi_sizeof(elt)
        vec = ir.VectorType(elt, _LANES)
        mask, (v00, v01, v10, v11), offsets, flagged = _corners8(
            context, builder, src, elt, offs_data, base_v, j_v, step_v, lim_v,
            flag_v if flags else None, loads)
        w = _weight_rows(builder, wts_data, n, j_v, vec, item)

        result = _bilinear(builder, v00, v01, v10, v11, w)
        written = mask
        if flags:  # a flagged lane whose result is NaN is left to the caller
            nan = builder.fcmp_unordered("uno", result, result)
            written = builder.and_(written, builder.not_(builder.and_(flagged, nan)))
        if fills:
            filled = builder.icmp_signed("==", offsets, _splat(builder, code_v, offsets.type))
            result = builder.select(mask, result, _splat(builder, fill_v, vec))
            written = builder.or_(written, filled)
        _masked_store(builder, result, builder.gep(dst, [q_v]), written, item)
        return builder.zext(builder.bitcast(builder.not_(written), ir.IntType(8)),
                            ir.IntType(64))

    return sig, codegen


def _pairs8(builder, src, elt, item, cells, step):
    """The four corners of 8 one-channel pixels of LLVM type ``elt`` (``item`` bytes) whose
    cells start at the element indices ``cells`` (8 unsigned 64-bit values), as the gathers of
    :func:`_corners8` and :func:`lerp8c` read them, but with plain loads: each pixel's two cell
    rows are two loads of two values (flat[r], flat[r + 1] and flat[r + step],
    flat[r + step + 1]), and shuffles turn the 8 pixels' quads into the four corner vectors
    (pixels k and k + 4 side by side in one 8-lane vector, then a 4x4 transpose within each
    half). Every cell is read: the caller guarantees that all 8 lie inside ``src``."""
    i32 = ir.IntType(32)

    def order(*lanes):
        return ir.Constant(ir.VectorType(i32, len(lanes)), list(lanes))

    pair = ir.VectorType(elt, 2)
    quads = []
    for r in cells:
        top = _vload(builder, src, r, pair, item)
        bottom = _vload(builder, src, builder.add(r, step), pair, item)
        quads.append(builder.shuffle_vector(top, bottom, order(0, 1, 2, 3)))
    # rows k = 0..3: pixel k's quad in lanes 0-3, pixel k + 4's in lanes 4-7
    rows = [builder.shuffle_vector(quads[k], quads[k + 4], order(*range(8))) for k in range(4)]
    low, high = order(0, 8, 1, 9, 4, 12, 5, 13), order(2, 10, 3, 11, 6, 14, 7, 15)
    t0, t1, t2, t3 = (builder.shuffle_vector(rows[a], rows[a + 1], half)
                      for a in (0, 2) for half in (low, high))
    first, second = order(0, 1, 8, 9, 4, 5, 12, 13), order(2, 3, 10, 11, 6, 7, 14, 15)
    return [builder.shuffle_vector(t0, t2, first), builder.shuffle_vector(t0, t2, second),
            builder.shuffle_vector(t1, t3, first), builder.shuffle_vector(t1, t3, second)]


@intrinsic
def lerp8_pairs(typingctx, flat, oflat, offs, wts, base, j, q, step):
    """:func:`lerp8` of 8 one-channel float pixels that all lie strictly inside the image (a
    row's interior span), their corners read with plain loads instead of gathers
    (:func:`_pairs8`): ``oflat[q + k] = (flat[r]·w0 + flat[r + 1]·w1) + (flat[r + step]·w2 +
    flat[r + step + 1]·w3)`` with r = base + offs[j + k] and ``w = wts[:, j + k]``, for
    0 <= k < 8, the rounding of :func:`lerp8`, so the same values.

    On the Zen 4 machine, where a gather costs per element, a grey 1024x1024 float32 image's
    span took 0.78x the time with these loads (turned 30°; 0.65x unturned), in a stand-alone
    comparison (:data:`warpkit._tuning.GATHER_BLOCKS` chooses where).

    ``flat`` and ``oflat`` are 1-D contiguous arrays of one float dtype, ``offs`` a 1-D
    contiguous int64 array, ``wts`` a C-contiguous (4, n) array of that dtype; ``base``, ``j``,
    ``q`` and ``step`` unsigned 64-bit. No bounds checks: the caller guarantees that the 8 cells
    lie inside ``flat`` and that j + 8 <= n.
    """
    if not (isinstance(oflat.dtype, types.Float) and flat.dtype == oflat.dtype == wts.dtype
            and offs.dtype == types.int64 and wts.ndim == 2):
        return None
    sig = types.void(flat, oflat, offs, wts, base, j, q, step)

    def codegen(context, builder, signature, args):
        base_v, j_v, q_v, step_v = args[4:]
        src, dst, offs_data, wts_data, n = _block_arrays(context, builder, signature, args)
        i64 = ir.IntType(64)
        elt = context.get_data_type(signature.args[1].dtype)
        item = context.get_abi_sizeof(elt)
        vec = ir.VectorType(elt, _LANES)
        cells = [builder.add(base_v, builder.load(
            builder.gep(offs_data, [builder.add(j_v, ir.Constant(i64, k))]), align=8))
            for k in range(_LANES)]
        corners = _pairs8(builder, src, elt, item, cells, step_v)
        w = _weight_rows(builder, wts_data, n, j_v, vec, item)
        result = _bilinear(builder, *corners, w)
        builder.store(result, builder.bitcast(builder.gep(dst, [q_v]), vec.as_pointer()),
                      align=item)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lerp8_window(typingctx, flat, oflat, offs, wts, base, j, q, step):
    """:func:`lerp8_pairs` for 8 pixels of a row at one height (a map without rotation or
    shear: every cell in the same two source rows) whose cells lie within 15 columns of each
    other: each source row is read once, as a window of 16 values from the leftmost cell, and
    the four corners are picked from the two windows by the pixels' columns in them (a
    permute of lanes), instead of two loads and shuffles a pixel. The same values to the bit.

    On the Zen 4 machine the blocks of a grey 1024x1024 float32 image zoomed by 2 (or by 1.1)
    took 0.74x-0.75x the time of :func:`lerp8_pairs`'s in a stand-alone copy of the span (the
    whole image 0.88x-0.95x, uint8 0.71x-0.78x: see :data:`warpkit._tuning.LEVEL_WINDOWS`). With
    :data:`warpkit._tuning.PERMUTE16` (AVX-512) the pick is one permute per corner (LLVM
    emits ``vpermd``); without
    it, lane by lane (the same values, slower: :data:`warpkit._tuning.LEVEL_WINDOWS` takes this
    step only with the permute).

    Integer pixels (one-channel rows of :func:`lerp8c`'s types: an integer ``flat`` and
    ``oflat`` of at most 16 bits) are converted to float32 as :func:`lerp8c` converts them, and
    the results rounded and clipped as it stores them: its values to the bit.

    ``flat`` and ``oflat`` are 1-D contiguous arrays, both float32 or both such integers,
    ``wts`` a C-contiguous (4, n) float32 array and ``offs`` a 1-D contiguous int64 array;
    ``base``, ``j``, ``q`` and ``step`` unsigned 64-bit. No bounds checks: the caller guarantees
    that j + 8 <= n, that the offsets ``offs[j:j + 8]`` are monotonic (a row at one height) and
    differ by at most 14, and that the 16 values from ``base`` + their least, and as many
    ``step`` further, lie inside ``flat``.
    """
    if not _window_types(flat, oflat, offs, wts):
        return None
    sig = types.void(flat, oflat, offs, wts, base, j, q, step)

    def codegen(context, builder, signature, args):
        q_v = args[6]
        src, dst, offs_data, wts_data, n = _block_arrays(context, builder, signature, args)
        dst_t = signature.args[1].dtype
        vec = ir.VectorType(ir.FloatType(), _LANES)
        columns, rows = _windows(context, builder, signature, args, src, offs_data, 2 * _LANES)
        right = builder.add(columns, ir.Constant(columns.type, [1] * _LANES))
        corners = [_pick8(builder, r, c) for r in rows for c in (columns, right)]
        w = _weight_rows(builder, wts_data, n, args[5], vec, 4)
        _store_bilinear(builder, dst, q_v, dst_t, corners, w)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic(prefer_literal=True)
def lerp_level(typingctx, flat, oflat, cols, fxs, row, least, step, gy, fy, j, q, nc, stored,
               lanes, window):
    """``lanes`` values (a literal: 16 or 8) of a row at one height of ``nc`` channels (a map
    without rotation: every cell in the same two source rows) from a table of its values:
    their cells ``cols`` (int32; value k of a pixel whose cell starts at x0·nc has the cell
    x0·nc + k, its right corners ``nc`` further) and x fractions ``fxs`` (float32), made once
    for the row's map (:mod:`.level`), and the row's y fraction ``fy`` and ``gy`` = 1 - ``fy``
    (float32). The corners are picked from windows of each source row read from ``least`` (the
    least of the cells), ``window`` values (a literal):

    - 2·``lanes``: one window a source row, each corner picked from its two halves
      (:func:`_pick2`: one two-source permute with AVX-512 for 16 lanes, two of AVX2's
      one-source permutes and a select for 8);
    - ``lanes``: two windows a source row, from ``least`` and ``nc`` values further, the left
      corners picked from the first and the right ones from the second (:func:`_pick1`: one
      one-source permute a corner); for cells less spread out, half the permutes of the first.

    The weights are :func:`.common._weights`' products of the same float32 fractions and the
    sum :func:`_bilinear`'s: the values of :func:`lerp8_window`, :func:`lerp8c_window`,
    :func:`lerp4` and the scalar code to the bit.

    Integer pixels (of :func:`lerp8c`'s types) are converted to float32 and the results
    rounded and clipped as :func:`lerp8_window` does. Only the first ``stored`` values (an
    integer, 1 to ``lanes``) are written (a masked store where fewer than ``lanes``): the
    others are computed from the cells and fractions the table holds after them, whatever
    those are, and dropped (a block of fewer values, for cells spread too far for ``lanes``).

    ``flat`` and ``oflat`` are 1-D contiguous arrays, both float32 or both such integers;
    ``cols`` and ``fxs`` 1-D contiguous; ``row`` (the flat index of the cells' row), ``step``
    (the values from one source row to the next), ``j`` and ``q`` unsigned 64-bit, ``least``,
    ``nc`` and ``stored`` integers. No bounds checks: the caller guarantees that j + ``lanes``
    <= ``cols.size`` and ``fxs.size``, that ``cols[j:j + stored]`` lie in [``least``,
    ``least`` + 2·``lanes`` - 1 - ``nc``] (``window`` = 2·``lanes``) or in [``least``,
    ``least`` + ``lanes`` - 1] (``window`` = ``lanes``), and that the ``window`` + ``nc``
    values from ``row + least``, and as many ``step`` further, lie inside ``flat``. (The
    permutes read an index's low bits alone, so a dropped value's cell may lie anywhere.)"""
    f32 = types.float32
    width = lanes.literal_value if isinstance(lanes, types.IntegerLiteral) else None
    span = window.literal_value if isinstance(window, types.IntegerLiteral) else None
    if not (width in (8, 16) and span in (width, 2 * width)
            and window_dtypes(flat.dtype, oflat.dtype) and cols.dtype == types.int32
            and fxs.dtype == f32 and gy == fy == f32 and isinstance(nc, types.Integer)
            and isinstance(stored, types.Integer)):
        return None
    sig = types.void(flat, oflat, cols, fxs, row, least, step, gy, fy, j, q, nc, stored, lanes,
                     window)

    def codegen(context, builder, signature, args):
        row_v, least_v, step_v, gy_v, fy_v, j_v, q_v, nc_v, stored_v = args[4:13]
        src, dst, cols_d, fxs_d = (context.make_array(signature.args[k])(context, builder,
                                                                         args[k]).data
                                   for k in range(4))
        src_t, dst_t = signature.args[0].dtype, signature.args[1].dtype
        i32 = ir.IntType(32)
        vec = ir.VectorType(ir.FloatType(), width)
        ivec = ir.VectorType(i32, width)
        columns = builder.sub(_vload(builder, cols_d, j_v, ivec, 4),
                              _splat(builder, _as_i32(builder, least_v), ivec))
        fx = _vload(builder, fxs_d, j_v, vec, 4)
        gx = builder.fsub(ir.Constant(vec, [1.0] * width), fx)
        gy_s, fy_s = _splat(builder, gy_v, vec), _splat(builder, fy_v, vec)
        w = [builder.fmul(gx, gy_s), builder.fmul(fx, gy_s), builder.fmul(gx, fy_s),
             builder.fmul(fx, fy_s)]  # _weights' products
        src_elt = context.get_data_type(src_t)
        item = context.get_abi_sizeof(src_elt)
        nc64 = builder.sext(nc_v, ir.IntType(64)) if nc_v.type.width < 64 else nc_v

        def values(at):  # ``width`` values from flat[at], as float32
            return _to_work(builder, _vload(builder, src, at, ir.VectorType(src_elt, width),
                                            item), src_t, types.float32, vec)

        start = builder.add(row_v, least_v)
        corners = []
        for at in (start, builder.add(start, step_v)):
            if span == width:  # the right corners from a window nc values on
                corners += [_pick1(builder, values(at), columns),
                            _pick1(builder, values(builder.add(at, nc64)), columns)]
            else:
                right = builder.add(columns, _splat(builder, _as_i32(builder, nc_v), ivec))
                lo, hi = values(at), values(builder.add(at, ir.Constant(at.type, width)))
                corners += [_pick2(builder, lo, hi, c) for c in (columns, right)]
        _store_bilinear(builder, dst, q_v, dst_t, corners, w, _as_i32(builder, stored_v))
        return context.get_dummy_value()

    return sig, codegen


def _store_bilinear(builder, dst, q, dst_t, corners, w, stored=None):
    """:func:`_bilinear` of the float32 lanes ``corners`` (v00, v01, v10, v11) and weights
    ``w``, stored from element ``q`` of ``dst`` (data of numba dtype ``dst_t``): rounded and
    clipped first (:func:`_to_integers`) when ``dst_t`` is an integer. With ``stored`` (an
    i32), only the first ``stored`` lanes: all of them by a plain store, fewer by a masked
    one."""
    result = _bilinear(builder, *corners, w)
    if isinstance(dst_t, types.Integer):
        result = _to_integers(builder, result, dst_t)
    n = result.type.count
    at = builder.gep(dst, [q])
    align = dst_t.bitwidth // 8

    def store_all():
        builder.store(result, builder.bitcast(at, result.type.as_pointer()), align=align)

    if stored is None:
        store_all()
        return
    i32 = ir.IntType(32)
    every = builder.icmp_signed(">=", stored, ir.Constant(i32, n))
    with builder.if_else(every, likely=True) as (whole, part):
        with whole:
            store_all()
        with part:
            lanes = ir.Constant(ir.VectorType(i32, n), list(range(n)))
            _masked_store(builder, result, at,
                          builder.icmp_signed("<", lanes, _splat(builder, stored, lanes.type)),
                          align)


def _as_i32(builder, v):
    """The integer ``v`` (of any width; a value that fits 32 bits) as a 32-bit one."""
    width = v.type.width
    if width == 32:
        return v
    i32 = ir.IntType(32)
    return builder.trunc(v, i32) if width > 32 else builder.sext(v, i32)


def window_dtypes(src, dst) -> bool:
    """Whether the window steps (:func:`lerp8_window`, :func:`lerp8c_window`,
    :func:`lerp_level`) take pixels of numba dtype ``src`` into ``dst``: float32 into
    float32, or integers of :func:`lerp8c`'s (at most 16 bits), computed in float32."""
    f32 = types.float32
    return (src == dst == f32) or (isinstance(dst, types.Integer) and lerp4_writes(src, dst, f32))


def _window_types(flat, oflat, offs, wts) -> bool:
    """Whether :func:`lerp8_window` and :func:`lerp8c_window` take these numba array types:
    pixels of :func:`window_dtypes`, float32 weights in a (4, n) array, int64 offsets."""
    return (window_dtypes(flat.dtype, oflat.dtype) and wts.dtype == types.float32
            and offs.dtype == types.int64 and wts.ndim == 2)


def _windows(context, builder, signature, args, src, offs_data, width):
    """The shared start of the window steps (arguments ``flat, oflat, offs, wts, base, j, q,
    step``; ``src`` and ``offs_data`` the data of the first and third, from
    :func:`_block_arrays`): the 8 pixels' cells as columns from the leftmost one (i32 lanes, in
    values), and the two windows of ``width`` values from that cell, in its row and ``step``
    values on, converted to float32 as :func:`lerp8c` converts integers."""
    base_v, j_v, step_v = args[4], args[5], args[7]
    src_t = signature.args[0].dtype
    src_elt = context.get_data_type(src_t)
    i32, i64 = ir.IntType(32), ir.IntType(64)
    cells = _vload(builder, offs_data, j_v, ir.VectorType(i64, _LANES), 8)
    first = builder.extract_element(cells, ir.Constant(i32, 0))
    last = builder.extract_element(cells, ir.Constant(i32, _LANES - 1))
    least = builder.select(builder.icmp_signed("<", first, last), first, last)
    columns = builder.trunc(builder.sub(cells, _splat(builder, least, cells.type)),
                            ir.VectorType(i32, _LANES))
    start = builder.add(base_v, least)
    raw = ir.VectorType(src_elt, width)
    window = ir.VectorType(ir.FloatType(), width)
    item = context.get_abi_sizeof(src_elt)
    rows = [_to_work(builder, _vload(builder, src, at, raw, item), src_t, types.float32, window)
            for at in (start, builder.add(start, step_v))]
    return columns, rows


@intrinsic(prefer_literal=True)
def lerp8c_window(typingctx, flat, oflat, offs, wts, base, j, q, step, nc):
    """:func:`lerp8_window` for 8 pixels of ``nc`` = 3 or 4 channels (a literal) of a row at
    one height whose cells lie within 32 - 2·nc values of each other (9 columns with 3
    channels, 7 with 4): each source row is read once, as a window of 32 values from the
    leftmost cell, and each corner's 8·nc lanes are picked from the two halves of its row's
    window (one two-source permute per 16 lanes with AVX-512, LLVM's ``vpermt2ps``; lane by
    lane without), the weights spread to their pixels' lanes by a fixed permute. The arithmetic
    is :func:`lerp4`'s, lane by lane, so the same values to the bit; exactly the 8·nc values
    are written (no junk lane).

    ``flat`` and ``oflat`` are 1-D contiguous arrays, both float32 or both integers of
    :func:`lerp8c`'s types (converted, rounded and clipped as :func:`lerp4` does), ``wts`` a
    C-contiguous (4, n) float32 array, ``offs`` a 1-D contiguous int64 array of cell offsets
    (multiples of ``nc``); ``base``, ``j``, ``q`` and ``step`` unsigned 64-bit. No bounds
    checks: the caller guarantees that j + 8 <= n, that the offsets ``offs[j:j + 8]`` are
    monotonic and that their first and last differ by at most 32 - 2·nc, and that the 32
    values from ``base`` + their least, and as many ``step`` further, lie inside ``flat``.
    """
    k = nc.literal_value if isinstance(nc, types.IntegerLiteral) else None
    if k not in (3, 4) or not _window_types(flat, oflat, offs, wts):
        return None
    sig = types.void(flat, oflat, offs, wts, base, j, q, step, nc)

    def codegen(context, builder, signature, args):
        j_v, q_v = args[5], args[6]
        src, dst, offs_data, wts_data, n = _block_arrays(context, builder, signature, args)
        dst_t = signature.args[1].dtype
        i32 = ir.IntType(32)
        wide = 2 * _LANES
        columns, rows = _windows(context, builder, signature, args, src, offs_data, 2 * wide)
        halves = [[builder.shuffle_vector(r, r, ir.Constant(ir.VectorType(i32, wide), list(
            range(h * wide, (h + 1) * wide)))) for h in range(2)] for r in rows]
        w = _weight_rows(builder, wts_data, n, j_v, ir.VectorType(ir.FloatType(), _LANES), 4)
        lanes = _LANES * k
        for h in range(0, lanes, wide):  # 16 output lanes at a time: pixel l // k, channel l % k
            count = min(wide, lanes - h)
            pixel = ir.Constant(ir.VectorType(i32, wide),
                                [min((h + i) // k, _LANES - 1) for i in range(wide)])
            channel = ir.Constant(ir.VectorType(i32, wide),
                                  [(h + i) % k if i < count else 0 for i in range(wide)])
            left = builder.add(builder.shuffle_vector(columns, columns, pixel), channel)
            right = builder.add(left, ir.Constant(left.type, [k] * wide))
            corners = [_pick2(builder, lo, hi, idx) for lo, hi in halves for idx in (left, right)]
            result = _bilinear(builder, *corners,
                               [builder.shuffle_vector(r, r, pixel) for r in w])
            if count < wide:
                result = builder.shuffle_vector(result, result, ir.Constant(
                    ir.VectorType(i32, count), list(range(count))))
            if isinstance(dst_t, types.Integer):
                result = _to_integers(builder, result, dst_t)
            at = builder.gep(dst, [builder.add(q_v, ir.Constant(q_v.type, h))])
            builder.store(result, builder.bitcast(at, result.type.as_pointer()),
                          align=dst_t.bitwidth // 8)
        return context.get_dummy_value()

    return sig, codegen


def _pick1(builder, window, lanes):
    """The n lanes of the float vector ``window`` (n lanes) at the n indices ``lanes`` (i32,
    each below n): one permute with AVX2 for 8 lanes (``vpermps``,
    :data:`warpkit._tuning.PERMUTE8`) or AVX-512 for 16 (:data:`warpkit._tuning.PERMUTE16`);
    else one lane at a time."""
    n = window.type.count
    name = {8: PERMUTE8 and "llvm.x86.avx2.permps",
            16: PERMUTE16 and "llvm.x86.avx512.permvar.sf.512"}.get(n)
    if name:
        permute = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(window.type, [window.type, lanes.type]), name)
        return builder.call(permute, [window, lanes])
    return _lane_by_lane(builder, window, lanes)


def _pick2(builder, lo, hi, lanes):
    """The n lanes of the 2n values ``lo`` then ``hi`` (float vectors of n lanes) at the n
    indices ``lanes`` (i32, each below 2n): for 16 lanes one two-source permute with AVX-512
    (:data:`warpkit._tuning.PERMUTE16`), for 8 two of AVX2's one-source permutes (``vpermps``,
    which reads an index's low three bits) and a select by the index's fourth
    (:data:`warpkit._tuning.PERMUTE8`); else one lane at a time."""
    n = lo.type.count
    if n == 16 and PERMUTE16:
        permute = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(lo.type, [lo.type, lanes.type, hi.type]),
            "llvm.x86.avx512.vpermi2var.ps.512")
        return builder.call(permute, [lo, lanes, hi])
    if n == 8 and PERMUTE8:  # vpermps reads the low three bits of each index
        low = builder.icmp_signed("<", lanes, ir.Constant(lanes.type, [n] * n))
        return builder.select(low, _pick1(builder, lo, lanes), _pick1(builder, hi, lanes))
    both = builder.shuffle_vector(lo, hi, ir.Constant(ir.VectorType(ir.IntType(32), 2 * n),
                                                      list(range(2 * n))))
    return _lane_by_lane(builder, both, lanes)


def _pick8(builder, window, lanes):
    """The 8 lanes of the 16-lane float vector ``window`` at the 8 indices ``lanes`` (i32, each
    below 16): one permute with AVX-512 (:data:`warpkit._tuning.PERMUTE16`), else one lane at a
    time."""
    i32 = ir.IntType(32)
    if PERMUTE16:
        wide = ir.VectorType(i32, 2 * _LANES)
        index = builder.shuffle_vector(lanes, ir.Constant(lanes.type, ir.Undefined),
                                       ir.Constant(wide, list(range(_LANES)) + [0] * _LANES))
        permute = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(window.type, [window.type, wide]),
            "llvm.x86.avx512.permvar.sf.512")
        picked = builder.call(permute, [window, index])
        return builder.shuffle_vector(picked, ir.Constant(window.type, ir.Undefined),
                                      ir.Constant(ir.VectorType(i32, _LANES),
                                                  list(range(_LANES))))
    return _lane_by_lane(builder, window, lanes)


def _lane_by_lane(builder, source, lanes):
    """The lanes of the vector ``source`` at the indices ``lanes`` (an i32 vector, each below
    ``source``'s count), picked one at a time: the permutes' fallback where the processor has
    none."""
    i32 = ir.IntType(32)
    out = ir.Constant(ir.VectorType(source.type.element, lanes.type.count), ir.Undefined)
    for k in range(lanes.type.count):
        lane = builder.extract_element(lanes, ir.Constant(i32, k))
        out = builder.insert_element(out, builder.extract_element(source, lane),
                                     ir.Constant(i32, k))
    return out


@intrinsic(prefer_literal=True)
def lerp8c(typingctx, flat, oflat, offs, wts, base, j, q, row, lim, nc):
    """Bilinear of the 8 pixels j..j+7 of a row of an integer image of ``nc`` = 1, 3 or 4
    channels at once, into an integer output: what the scalar code (:func:`lerp4` for 3 and 4
    channels) computes and stores for each of them (the same operations, so the same values),
    the corners read by gathers.

    Pixel k (0 <= k < 8) reads the cell at r = base + offs[j + k]: its corners at flat[r],
    flat[r + nc], flat[r + row] and flat[r + row + nc], 4 lanes each with 3 or 4 channels,
    as :func:`lerp4` (with 3 channels the 4th is the next pixel's first, read and unused); the
    two corners of a cell row are read as one value where they fit in 8 bytes: 4 bytes from
    its start with one channel (2 past the cell for one-byte pixels), 8 for one-byte pixels of
    3 or 4 channels (2 past the cell with 3). It takes its weights ``wts[:, j + k]`` and
    writes ``oflat[q + nc·k:q + nc·(k + 1)]`` (only its own values: nothing past the 8th
    pixel). Only when every offset is below ``lim`` (unsigned); else it reads and writes
    nothing. Returns whether it wrote. (Writing the pixels below ``lim`` alone, with masks,
    made W1u8, whose blocks are all inside, 1.15x slower, its constants no longer in
    registers, and small images no faster.)

    ``flat`` is a 1-D contiguous integer array of at most 16 bits, ``oflat`` a 1-D contiguous
    integer array of at most 16 bits, ``offs`` a 1-D contiguous int64 array, ``wts`` a
    C-contiguous (4, n) float32 array, ``nc`` a literal; ``base``, ``j``, ``q``, ``row`` and
    ``lim`` are unsigned 64-bit. No bounds checks: the caller guarantees that what the cells
    of offsets below ``lim`` read lies inside ``flat``, the pixels' values inside ``oflat``,
    and that j + 8 <= n.
    """
    return _lerp8c(flat, oflat, offs, wts, base, j, q, row, lim, nc, False)


@intrinsic(prefer_literal=True)
def lerp8c_loads(typingctx, flat, oflat, offs, wts, base, j, q, row, lim, nc):
    """:func:`lerp8c` with the corners of one-channel pixels read by plain loads instead of
    gathers (:func:`_pairs8`; 3 and 4 channels keep the gathers): the same values."""
    return _lerp8c(flat, oflat, offs, wts, base, j, q, row, lim, nc, True)


def _lerp8c(flat, oflat, offs, wts, base, j, q, row, lim, nc, loads):
    """The signature and code of :func:`lerp8c` (plain loads for one channel when
    ``loads``)."""
    f32 = types.float32
    if not (isinstance(nc, types.IntegerLiteral) and nc.literal_value in (1, 3, 4)
            and isinstance(oflat.dtype, types.Integer) and wts.dtype == f32
            and lerp4_writes(flat.dtype, oflat.dtype, f32) and offs.dtype == types.int64
            and wts.ndim == 2 and wts.layout == "C"):
        return None
    C = nc.literal_value
    L = 1 if C == 1 else 4  # lanes a pixel
    sig = types.boolean(flat, oflat, offs, wts, base, j, q, row, lim, nc)

    def codegen(context, builder, signature, args):
        base_v, j_v, q_v, row_v, lim_v = args[4:9]
        src, dst, offs_data, wts_data, n = _block_arrays(context, builder, signature, args)
        src_t, dst_t = signature.args[0].dtype, signature.args[1].dtype
        src_elt = context.get_data_type(src_t)
        item = context.get_abi_sizeof(src_elt)
        i8, i32, i64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
        lanes = L * _LANES
        ivec = ir.VectorType(i64, _LANES)
        offsets = _vload(builder, offs_data, j_v, ivec, 8)
        inside = builder.icmp_unsigned("<", offsets, _splat(builder, lim_v, ivec))
        every = builder.icmp_unsigned("==", builder.bitcast(inside, i8), ir.Constant(i8, 0xFF))
        with builder.if_then(every, likely=True):
            fvec = ir.VectorType(ir.FloatType(), lanes)
            on = ir.Constant(inside.type, [1] * _LANES)
            first = builder.add(_splat(builder, builder.ptrtoint(src, i64), ivec),
                                builder.mul(builder.add(offsets, _splat(builder, base_v, ivec)),
                                            ir.Constant(ivec, [item] * _LANES)))
            right = ir.Constant(i64, C * item)
            down = builder.mul(row_v, ir.Constant(i64, item))

            def gather(shift, size):  # 8 values of ``size`` bytes, each pixel's ``shift`` past r
                t = ir.IntType(8 * size)
                vt = ir.VectorType(t, _LANES)
                ptrs = builder.inttoptr(builder.add(first, _splat(builder, shift, ivec)),
                                        ir.VectorType(t.as_pointer(), _LANES))
                raw = _masked(builder, "gather", vt, [ptrs, ir.Constant(i32, item), on,
                                                      ir.Constant(vt, None)])
                return builder.bitcast(raw, ir.VectorType(src_elt, size // item * _LANES))

            def lanes_of(v):
                return _to_work(builder, v, src_t, f32, fvec)

            if C == 1 and loads:
                v00, v01, v10, v11 = (lanes_of(v) for v in _pairs8_at(
                    builder, src, src_elt, item, offsets, base_v, row_v))
            elif C == 1 or item == 1:  # a cell row's two corners in one gather, split by shuffles
                size = 4 if C == 1 else 8
                per = size // item  # values of the image in each gathered one

                def pair(shift):
                    both = gather(shift, size)
                    return [lanes_of(builder.shuffle_vector(both, both, ir.Constant(
                        ir.VectorType(i32, lanes), [per * (k // L) + dx + k % L
                                                    for k in range(lanes)])))
                            for dx in (0, C)]

                (v00, v01), (v10, v11) = pair(ir.Constant(i64, 0)), pair(down)
            else:  # a gather per corner, of its 4 lanes
                v00, v01 = lanes_of(gather(ir.Constant(i64, 0), 4 * item)), lanes_of(
                    gather(right, 4 * item))
                v10, v11 = lanes_of(gather(down, 4 * item)), lanes_of(
                    gather(builder.add(down, right), 4 * item))
            # each pixel's weight on its lanes
            spread = ir.Constant(ir.VectorType(i32, lanes), [k // L for k in range(lanes)])
            w = [v if L == 1 else builder.shuffle_vector(v, v, spread) for v in _weight_rows(
                builder, wts_data, n, j_v, ir.VectorType(ir.FloatType(), _LANES), 4)]

            result = _to_integers(builder, _bilinear(builder, v00, v01, v10, v11, w), dst_t)
            kept = [k for k in range(lanes) if C != 3 or k % 4 != 3]  # no junk 4th lanes
            result = builder.shuffle_vector(result, result, ir.Constant(
                ir.VectorType(i32, len(kept)), kept))
            ptr = builder.bitcast(builder.gep(dst, [q_v]), result.type.as_pointer())
            builder.store(result, ptr, align=dst_t.bitwidth // 8)
        return every

    return sig, codegen


def edge8_takes(src, dst, work) -> bool:
    """Whether :func:`edge8` takes one-channel pixels of numba dtype ``src`` to ``dst`` with
    weights of dtype ``work``: a float image into its own dtype (weights of that dtype), or
    an integer image of at most 16 bits into its own (float32 weights, as every such image)."""
    return src == dst and lerp4_writes(src, dst, work)


@intrinsic
def edge8(typingctx, flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts):
    """Bilinear of the one-channel edge pixels j = edges[k + i], 0 <= i < 8 and k + i < ne, of
    a row, 8 at a time: ``oflat[obase + j]`` gets what :func:`.gather._edge_bilinear` stores
    for the pixel at (px[j], py[j]) (its float64 arithmetic, the same operations in the same
    order, so the same rounding), corners outside the image reading ``fill``. An integer
    image's values are then stored as :func:`.store._store` stores them (in the dtype of the
    weights ``wts``, clipped to the integer dtype's range, NaN as 0, rounded half to even). A
    pixel with a NaN coordinate is left, untouched: returns those lanes as a bit mask (bit i
    for edges[k + i]).

    The corners read are those inside the image (0 <= column < W, 0 <= row < H) whatever the
    coordinates (an outside corner of weight exactly 0 reads 0, not ``fill``); the caller
    guarantees that finite coordinates lie in [-1, W) x [-1, H), where this is
    :func:`._edge_bilinear`'s result. ``flat`` and ``oflat`` are 1-D contiguous arrays of
    one dtype that :func:`edge8_takes` with the dtype of ``wts`` (any array: only its dtype
    is used), ``px`` and ``py`` float64, ``edges`` intp, all 1-D contiguous; ``k``, ``ne``,
    ``base``, ``obase``, ``W``, ``H`` int64, ``fill`` a float (taken to float64).
    """
    f64 = types.float64
    arrays = (flat, oflat, px, py, edges)
    if not (isinstance(wts, types.Array) and edge8_takes(flat.dtype, oflat.dtype, wts.dtype)
            and px.dtype == py.dtype == f64 and edges.dtype == types.intp
            and all(a.ndim == 1 and a.layout == "C" for a in arrays)
            and isinstance(fill, types.Float)):
        return None
    sig = types.uint64(flat, oflat, px, py, edges, k, ne, base, obase, W, H, fill, wts)

    def codegen(context, builder, signature, args):
        src, dst, xs, ys, cols = [context.make_array(signature.args[i])(context, builder,
                                                                         args[i]).data
                                  for i in range(5)]
        k_v, ne_v, base_v, obase_v, w_v, h_v, fill_v = args[5:12]
        fill_v = context.cast(builder, fill_v, signature.args[11], types.float64)
        src_t, dst_t = signature.args[0].dtype, signature.args[1].dtype
        i32, i64 = ir.IntType(32), ir.IntType(64)
        elt = context.get_data_type(signature.args[0].dtype)
        item = context.get_abi_sizeof(elt)
        ivec, dvec = ir.VectorType(i64, _LANES), ir.VectorType(ir.DoubleType(), _LANES)
        vec = ir.VectorType(elt, _LANES)
        c = _CONTRACT

        def splat(x, vt=ivec):
            return _splat(builder, x, vt)

        def const(x, vt=ivec):
            return ir.Constant(vt, [x] * _LANES)

        def align(n):
            return ir.Constant(i32, n)

        active = builder.icmp_signed("<", builder.add(splat(k_v), ir.Constant(
            ivec, list(range(_LANES)))), splat(ne_v))
        cols_ptr = builder.bitcast(builder.gep(cols, [k_v]), ivec.as_pointer())
        j = _masked(builder, "load", ivec, [cols_ptr, align(8), active, const(0)])

        def at(base_ptr, idx, vt):  # the addresses of base_ptr[idx], lane by lane
            size = ir.Constant(ivec, [context.get_abi_sizeof(vt.element)] * _LANES)
            addr = builder.add(splat(builder.ptrtoint(base_ptr, i64)), builder.mul(idx, size))
            return builder.inttoptr(addr, ir.VectorType(vt.element.as_pointer(), _LANES))

        def gather(base_ptr, idx, mask, vt):
            width = context.get_abi_sizeof(vt.element)
            return _masked(builder, "gather", vt, [at(base_ptr, idx, vt), align(width), mask,
                                                   ir.Constant(vt, None)])

        ix = gather(xs, j, active, dvec)
        iy = gather(ys, j, active, dvec)
        ok = builder.and_(active, builder.and_(builder.fcmp_ordered("ord", ix, ix),
                                               builder.fcmp_ordered("ord", iy, iy)))
        # NaN lanes (and those off) at 0, the rest kept to (-2, size + 1): every value below
        # is defined, and a conversion to integers cannot overflow
        floor = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dvec, [dvec]),
                                               f"llvm.floor.v{_LANES}f64")

        def cell(x, size):  # (fraction, first index) as _edge_cell's
            lo, hi = const(-2.0, dvec), builder.sitofp(builder.add(splat(size), const(1)), dvec)
            x = builder.select(ok, x, const(0.0, dvec))
            x = builder.select(builder.fcmp_ordered("<", x, lo), lo, x)
            x = builder.select(builder.fcmp_ordered(">", x, hi), hi, x)
            x0 = builder.call(floor, [x])
            return builder.fsub(x, x0, flags=c), builder.fptosi(x0, ivec)

        def within(i, size):
            return builder.and_(builder.icmp_signed(">=", i, const(0)),
                                builder.icmp_signed("<", i, splat(size)))

        fx, xa = cell(ix, w_v)
        fy, ya = cell(iy, h_v)
        xb, yb = builder.add(xa, const(1)), builder.add(ya, const(1))
        p = builder.add(splat(base_v), builder.add(builder.mul(ya, splat(w_v)), xa))
        fills = splat(fill_v, dvec)
        unit = const(1.0, dvec)

        def sub(a, b):
            return builder.fsub(a, b, flags=c)

        def mul(a, b):
            return builder.fmul(a, b, flags=c)

        def add(a, b):
            return builder.fadd(a, b, flags=c)

        w00, w01 = mul(sub(unit, fx), sub(unit, fy)), mul(fx, sub(unit, fy))
        w10, w11 = mul(sub(unit, fx), fy), mul(fx, fy)

        def corner(dy, dx, in_y, in_x, w):  # flat[p + dy·W + dx] where inside, else the fill
            mask = builder.and_(ok, builder.and_(in_y, in_x))
            at = builder.add(p, builder.add(builder.mul(const(dy), splat(w_v)), const(dx)))
            v = _to_work(builder, gather(src, at, mask, vec), src_t, types.float64, dvec)
            # an outside corner of weight 0 reads 0 (sample_point's weighed_fill)
            fill = builder.select(builder.fcmp_ordered("!=", w, const(0.0, dvec)), fills,
                                  const(0.0, dvec))
            return builder.select(mask, v, fill)

        iy0, iy1, ix0, ix1 = within(ya, h_v), within(yb, h_v), within(xa, w_v), within(xb, w_v)
        v00, v01 = corner(0, 0, iy0, ix0, w00), corner(0, 1, iy0, ix1, w01)
        v10, v11 = corner(1, 0, iy1, ix0, w10), corner(1, 1, iy1, ix1, w11)
        # v00·w00 + v01·w01 + v10·w10 + v11·w11, summed from the left, as the scalar code
        value = add(add(add(mul(v00, w00), mul(v01, w01)), mul(v10, w10)), mul(v11, w11))
        if isinstance(dst_t, types.Integer):
            value = _stored_integers(builder, value, dst_t)
        elif item != 8:
            value = builder.fptrunc(value, vec)
        _masked(builder, "scatter", vec, [value, at(dst, builder.add(splat(obase_v), j), vec),
                                          align(item), ok])
        left = builder.and_(active, builder.not_(ok))
        return builder.zext(builder.bitcast(left, ir.IntType(8)), i64)

    return sig, codegen


@intrinsic
def grad8(typingctx, flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim):
    """The coordinate gradients of the 8 one-channel pixels j..j+7 of a row at once (the
    backward's counterpart of :func:`lerp8`).

    A lane k whose offset ``o = offs[j + k]`` is below ``lim`` (unsigned) gets, with
    r = base + o, v00..v11 = flat[r], flat[r + 1], flat[r + step], flat[r + step + 1],
    g = gflat[q + k], fx = fxs[j + k], fy = fys[j + k]::

        dgx[j + k] = 0 + g·((v01 - v00)·(1 - fy) + (v11 - v10)·fy)
        dgy[j + k] = 0 + g·((v10 - v00)·(1 - fx) + (v11 - v01)·fx)

    the scalar code's operations (differences of values in the image's dtype, the rest in
    float64; with ``contract`` LLVM may fuse them differently here and in the scalar code, so
    float64 results can differ from it in the last bits); the other lanes read nothing from
    ``flat`` and write nothing. ``flat`` and ``gflat`` are 1-D contiguous arrays of one float
    dtype, ``offs`` int64, ``fxs``, ``fys``, ``dgx``, ``dgy`` float64, all 1-D contiguous;
    ``base``, ``j``, ``q``, ``step`` and ``lim`` unsigned 64-bit. No bounds checks: the
    caller guarantees that j + 8 and q + 8 stay inside the row's arrays and that the lanes
    below ``lim`` read inside ``flat``.
    """
    return _grad8(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim, False)


@intrinsic
def grad8_loads(typingctx, flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim):
    """:func:`grad8` with the corners read by plain loads instead of gathers (:func:`_pairs8`,
    as :func:`lerp8_loads`): the same values for float32 pixels. Every lane reads a cell, those
    at or past ``lim`` the cell at offset 0, so the caller also guarantees that the cell at
    ``base`` lies inside ``flat``. The backward takes it for float32 pixels only: with these
    loads LLVM fused the multiply-adds of float64 gradients otherwise than with the gathers
    (values differed in the last bit)."""
    return _grad8(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim, True)


def _grad8(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim, loads):
    """The signature and code of :func:`grad8` (plain loads for the corners when ``loads``)."""
    f64 = types.float64
    if not (isinstance(flat.dtype, types.Float) and flat.dtype == gflat.dtype
            and offs.dtype == types.int64 and fxs.dtype == fys.dtype == dgx.dtype == dgy.dtype
            == f64):
        return None
    sig = types.void(flat, gflat, offs, fxs, fys, dgx, dgy, base, j, q, step, lim)

    def codegen(context, builder, signature, args):
        base_v, j_v, q_v, step_v, lim_v = args[7:]
        src, gsrc, offs_data, fx_data, fy_data, dgx_data, dgy_data = [
            context.make_array(signature.args[k])(context, builder, args[k]).data
            for k in range(7)]
        elt = context.get_data_type(signature.args[0].dtype)
        item = context.get_abi_sizeof(elt)
        dvec = ir.VectorType(ir.DoubleType(), _LANES)
        mask, (v00, v01, v10, v11), _, _ = _corners8(context, builder, src, elt, offs_data,
                                                     base_v, j_v, step_v, lim_v, loads=loads)

        def wide(v):
            return v if item == 8 else builder.fpext(v, dvec)

        g = wide(_vload(builder, gsrc, q_v, ir.VectorType(elt, _LANES), item))
        fx = _vload(builder, fx_data, j_v, dvec, 8)
        fy = _vload(builder, fy_data, j_v, dvec, 8)
        c = _CONTRACT
        unit = ir.Constant(dvec, [1.0] * _LANES)
        nought = ir.Constant(dvec, [0.0] * _LANES)

        def grad(a0, a1, b0, b1, f):  # 0 + g·((a1 - a0)·(1 - f) + (b1 - b0)·f)
            # the differences in the image's dtype, as the scalar code's mixed arithmetic
            near = builder.fmul(wide(builder.fsub(a1, a0, flags=c)),
                                builder.fsub(unit, f, flags=c), flags=c)
            far = builder.fmul(wide(builder.fsub(b1, b0, flags=c)), f, flags=c)
            return builder.fadd(nought, builder.fmul(g, builder.fadd(near, far, flags=c),
                                                     flags=c), flags=c)

        _masked_store(builder, grad(v00, v01, v10, v11, fy), builder.gep(dgx_data, [j_v]), mask,
                      8)
        _masked_store(builder, grad(v00, v10, v01, v11, fx), builder.gep(dgy_data, [j_v]), mask,
                      8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def grad4(typingctx, flat, gflat, p, p2, step, q, fx, fy, nc):
    """The coordinate gradients (gx, gy) of one interior pixel of 3 or 4 channels, its four
    corners read as 4 lanes each (the backward's counterpart of :func:`lerp4`):
    v00..v11 = flat[p:p+4], flat[p+step:p+step+4], flat[p2:p2+4], flat[p2+step:p2+step+4],
    g = gflat[q:q+4], and, channel by channel in the scalar code's order,

        gx = 0 + Σ_c g_c·((v01_c - v00_c)·(1 - fy) + (v11_c - v10_c)·fy)
        gy = 0 + Σ_c g_c·((v10_c - v00_c)·(1 - fx) + (v11_c - v01_c)·fx)

    over the first ``nc`` lanes (a constant, 3 or 4; with 3 the 4th lane reads the next
    pixel's first channel and is left out). The differences are taken in the image's dtype and
    the rest in float64, the operations of the scalar code in its order (with ``contract``
    LLVM may still fuse them differently here and there, so results can differ from the
    scalar code's in the last bits, as :func:`grad8`'s). ``flat`` and ``gflat`` are 1-D
    contiguous arrays of one float dtype; ``p``, ``p2``, ``step`` and ``q`` unsigned 64-bit
    element indices, ``fx`` and ``fy`` float64. No bounds checks: the caller guarantees that
    the 4 lanes read from every index stay inside."""
    f64 = types.float64
    if not (isinstance(flat.dtype, types.Float) and flat.dtype == gflat.dtype
            and fx == fy == f64 and isinstance(nc, types.IntegerLiteral)
            and nc.literal_value in (3, 4)):
        return None
    sig = types.UniTuple(f64, 2)(flat, gflat, p, p2, step, q, fx, fy, nc)

    def codegen(context, builder, signature, args):
        _, _, p_v, p2_v, step_v, q_v, fx_v, fy_v, _ = args
        src = context.make_array(signature.args[0])(context, builder, args[0]).data
        gsrc = context.make_array(signature.args[1])(context, builder, args[1]).data
        n = signature.args[8].literal_value
        elt = context.get_data_type(signature.args[0].dtype)
        item = context.get_abi_sizeof(elt)
        vec = ir.VectorType(elt, 4)
        dvec = ir.VectorType(ir.DoubleType(), 4)
        c = _CONTRACT

        def wide(v):
            return v if item == 8 else builder.fpext(v, dvec)

        def load(idx):
            return _vload(builder, src, idx, vec, item)

        v00 = load(p_v)
        v01 = load(builder.add(p_v, step_v))
        v10 = load(p2_v)
        v11 = load(builder.add(p2_v, step_v))
        g = wide(_vload(builder, gsrc, q_v, vec, item))
        unit = ir.Constant(dvec, [1.0] * 4)

        def grad(a0, a1, b0, b1, f):  # 0 + Σ g·((a1 - a0)·(1 - f) + (b1 - b0)·f), lane by lane
            fv = _splat(builder, f, dvec)
            near = builder.fmul(wide(builder.fsub(a1, a0, flags=c)),
                                builder.fsub(unit, fv, flags=c), flags=c)
            far = builder.fmul(wide(builder.fsub(b1, b0, flags=c)), fv, flags=c)
            x = builder.fadd(near, far, flags=c)
            acc = ir.Constant(ir.DoubleType(), 0.0)
            for k in range(n):
                lane = ir.Constant(ir.IntType(32), k)
                term = builder.fmul(builder.extract_element(g, lane),
                                    builder.extract_element(x, lane), flags=c)
                acc = builder.fadd(acc, term, flags=c)
            return acc

        gx = grad(v00, v01, v10, v11, fy_v)
        gy = grad(v00, v10, v01, v11, fx_v)
        return context.make_tuple(builder, signature.return_type, [gx, gy])

    return sig, codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to fetch ``arr[idx]`` into cache (``llvm.prefetch``, read, high locality).
    ``idx`` is an unsigned element index; an address outside the array is harmless (a
    prefetch never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte_ptr = ir.IntType(8).as_pointer()
        address = builder.bitcast(builder.gep(data, [args[1]]), byte_ptr)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def borrow(typingctx, arr):
    """A view of ``arr`` that holds no reference: the same data, shape and strides, with a null
    meminfo and parent, so that numba's reference counting skips it (``NRT_incref`` and
    ``NRT_decref`` return at once on a null meminfo instead of doing an atomic add).

    Row loops pass their arrays to non-inlined functions and slice them many times per row;
    each of those counts a reference with an atomic instruction on the array's meminfo, which
    is shared by every thread for the input and output images. The caller guarantees that
    ``arr`` outlives the view (it is used only inside the kernel call that holds ``arr``).
    """
    if not isinstance(arr, types.Array):
        return None
    sig = arr(arr)

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        view = context.make_array(signature.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(src, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return sig, codegen


@intrinsic
def head_view(typingctx, arr, shape):
    """The first ``prod(shape)`` items of the C-contiguous ``arr`` as a C-contiguous
    array of ``shape`` (a tuple of integers) that holds no reference, like :func:`borrow`.

    ``arr.reshape`` calls a C helper (``numba_attempt_nocopy_reshape``) that LLVM cannot
    remove; the row loops made three such calls a row (perf: ~4% of W3's time). The caller
    guarantees that ``prod(shape) <= arr.size`` (:func:`.cpu._head` checks it) and that
    ``arr`` outlives the view.
    """
    if not (isinstance(arr, types.Array) and arr.layout == "C"
            and isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)):
        return None
    ndim = shape.count
    sig = types.Array(arr.dtype, ndim, "C")(arr, shape)

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        view = context.make_array(signature.return_type)(context, builder)
        dims = [context.cast(builder, d, shape.dtype, types.intp)
                for d in cgutils.unpack_tuple(builder, args[1], ndim)]
        strides = [src.itemsize] * ndim
        for k in range(ndim - 2, -1, -1):
            strides[k] = builder.mul(strides[k + 1], dims[k + 1])
        populate_array(view, data=src.data, shape=dims, strides=strides,
                       itemsize=src.itemsize, meminfo=None)
        return view._getvalue()

    return sig, codegen


@intrinsic
def muladd(typingctx, a, b, c):
    """``a·b + c`` for floats of one dtype, as ``llvm.fmuladd``: LLVM fuses it into one
    multiply-add when the target has a fast one, else emits a multiply and an add.

    LLVM makes that choice per target, not per call site, whatever the caller's fastmath
    flags; a plain ``a * b + c`` is fused only where the caller allows contraction. The CPU
    forward computes a fused affine row's coordinates with it both where it finds the row's
    column spans and where it computes the pixels' coordinates, so that the two agree to the
    bit (``tests/test_affine_spans.py`` checks it).
    """
    if not (isinstance(a, types.Float) and a == b == c):
        return None
    sig = a(a, b, c)

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.return_type)
        name = "llvm.fmuladd.f64" if signature.return_type.bitwidth == 64 else "llvm.fmuladd.f32"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty] * 3), name)
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def prefer512(typingctx):
    """Ask LLVM to vectorise the loops of the calling function with 512-bit vectors.

    LLVM's tuning for recent Intel CPUs prefers 256-bit vectors even where AVX-512 is there,
    which halves the width of the vectorised coordinate passes (4 float64 per vector). Called
    first thing in a non-inlined ``@njit`` function, this sets the function attribute
    ``"prefer-vector-width"="512"`` on it (what clang's ``-mprefer-vector-width=512`` sets): on
    the Intel Xeon machine W1u8 took 0.96x the time, a grey uint8 image 0.95x-0.96x, W3
    0.97x-0.98x (W1 and W2 unchanged; the backward's passes measured no faster and do without
    it); CPUs without AVX-512 keep their widest vectors. llvmlite's function attributes take
    only a fixed list of names, so the attribute goes into its set directly; should that set
    ever change, the hint is dropped and the code is the same as without it.
    """
    def codegen(context, builder, signature, args):
        try:
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        except TypeError:  # not a set any more: no hint
            pass
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def noinline(typingctx):
    """Keep the calling function out of line.

    LLVM inlines a small function with one call site into its caller, where its loop then
    shares the caller's registers and spills; a row pass meant to run as a function of its own
    calls this first thing, which sets the function attribute ``noinline`` on it.
    """
    def codegen(context, builder, signature, args):
        builder.function.attributes.add("noinline")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def alwaysinline(typingctx):
    """Have LLVM inline the calling function into every caller.

    numba's own inlining (``@njit(inline="always")``) copies the callee's IR into every call
    site before typing it again there, and the copy costs the callee's blocks times its
    variables (numba deep-copies the variable scope with every block): the large row
    functions of the CPU kernels took seconds each to inline, and the backward's row pass,
    inlined into six specialisations, most of its compile time. A plain ``@njit`` function
    that calls this first thing is typed and compiled once per signature and still ends up
    inside its callers (function attribute ``alwaysinline``), as if written there. Its loops
    are optimised in its own module first, so it takes the hints its callers would set on
    them (:func:`prefer512`) and their ``fastmath`` flags.
    """
    def codegen(context, builder, signature, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def restrict(typingctx):
    """Tell LLVM that the array arguments of the calling function do not overlap.

    Called first thing in a non-inlined ``@njit`` function, this marks the data pointer of
    each of its array arguments ``noalias`` (C's ``restrict``), so that LLVM vectorises its
    loops without first testing at run time whether the arrays overlap, and without the
    scalar copy of the loop it keeps for when they do. The caller guarantees that no memory
    one of its arrays writes is reached through another of its arguments. On the Intel Xeon
    machine those tests took a third of :func:`.cpu._backward_cells` on W2's 60-pixel rows.
    Arrays inside tuple arguments are left alone, as is everything should numba ever name
    its arguments differently (then the code is the same as without the hint).
    """
    def codegen(context, builder, signature, args):
        for a in builder.function.args:  # an array ``x`` is passed as arg.x.0 ... arg.x.6
            if _ARRAY_DATA.fullmatch(a.name) and isinstance(a.type, ir.PointerType):
                a.add_attribute("noalias")
        return context.get_dummy_value()

    return types.none(), codegen


#: The name numba gives the data pointer of a top-level array argument (its 5th field).
_ARRAY_DATA = re.compile(r"arg\.[^.]+\.4")


@intrinsic
def dynamic(typingctx, x):
    """``x`` as a run-time value of its type rather than a compile-time constant: a literal
    argument (``True``, ``0``) comes back typed as a plain ``bool`` or ``int64``, any other
    value as it is.

    numba passes literals on from function to function, and compiles a callee once per
    combination of literal values it gets. Passed through this, such an argument no longer
    makes another compilation of a callee that does not need it constant; a callee that LLVM
    inlines still sees the constant and folds it there.
    """
    plain = types.unliteral(x)
    sig = plain(x)

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[0], signature.args[0], signature.return_type)

    return sig, codegen
