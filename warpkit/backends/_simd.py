"""Low-level steps of the CPU kernels written directly in LLVM IR: a 4-lane bilinear pixel and
a prefetch for the gather, a view of an array that counts no references for row loops, and a
multiply-add that rounds the same at every call site for affine coordinates.

LLVM does not vectorise the per-pixel work of a channels-last gather by itself (four corners
of 3 or 4 channels each, at addresses known only at run time): the loads and stores may alias
as far as it can tell, and the trip count is tiny. :func:`lerp4` states it explicitly: four
unaligned 4-lane loads, the weights broadcast, and one 4-lane store — a handful of vector
instructions where the scalar code needs 12-16 loads and 3-4 stores per pixel.

Rounding is the scalar code's: ``(v00·a + v01·b) + (v10·c + v11·d)`` with the same
fused multiply-adds allowed (``contract``), so lanes equal what the scalar path computes.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_CONTRACT = ("contract",)


@intrinsic
def lerp4(typingctx, flat, oflat, p, p2, step, q, a, b, c, d):
    """``oflat[q:q+4] = (flat[p:p+4]·a + flat[p+step:p+step+4]·b)
    + (flat[p2:p2+4]·c + flat[p2+step:p2+step+4]·d)`` on 4 lanes at once.

    ``oflat`` is a 1-D contiguous float32 or float64 array and ``a``-``d`` scalars of its
    dtype; ``flat`` a 1-D contiguous array of any boolean, integer or float dtype, whose
    values are converted to ``oflat``'s dtype as the scalar code's mixed arithmetic converts
    them (integers the dispatcher pairs with float32 have at most 16 bits, so exactly).
    ``p``, ``p2``, ``step`` and ``q`` are unsigned 64-bit element indices. No bounds checks:
    the caller guarantees that every index read or written is inside.
    """
    if not isinstance(oflat.dtype, types.Float) or not isinstance(
        flat.dtype, (types.Float, types.Integer, types.Boolean)
    ):
        return None
    sig = types.void(flat, oflat, p, p2, step, q, a, b, c, d)

    def codegen(context, builder, signature, args):
        flat_v, oflat_v, p_v, p2_v, step_v, q_v, a_v, b_v, c_v, d_v = args
        src = context.make_array(signature.args[0])(context, builder, flat_v).data
        dst = context.make_array(signature.args[1])(context, builder, oflat_v).data
        src_t, dst_t = signature.args[0].dtype, signature.args[1].dtype
        elt = context.get_data_type(dst_t)
        vec = ir.VectorType(elt, 4)
        src_elt = context.get_data_type(src_t)  # a byte for booleans
        src_vec = ir.VectorType(src_elt, 4)
        src_item = context.get_abi_sizeof(src_elt)
        undef = ir.Constant(vec, ir.Undefined)
        lane0 = ir.Constant(ir.IntType(32), 0)
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), 4), [0, 0, 0, 0])

        def at(base, idx, v):
            return builder.bitcast(builder.gep(base, [idx]), v.as_pointer())

        def load(idx):
            raw = builder.load(at(src, idx, src_vec), align=src_item)
            if src_t == dst_t:
                return raw
            if isinstance(src_t, types.Float):
                convert = builder.fpext if src_t.bitwidth < dst_t.bitwidth else builder.fptrunc
            elif isinstance(src_t, types.Integer) and src_t.signed:
                convert = builder.sitofp
            else:  # unsigned, or a boolean (a byte holding 0 or 1)
                convert = builder.uitofp
            return convert(raw, vec)

        def splat(x):
            return builder.shuffle_vector(builder.insert_element(undef, x, lane0), undef, zeros)

        def mul(v, w):
            return builder.fmul(v, splat(w), flags=_CONTRACT)

        top = builder.fadd(
            mul(load(p_v), a_v), mul(load(builder.add(p_v, step_v)), b_v), flags=_CONTRACT
        )
        bottom = builder.fadd(
            mul(load(p2_v), c_v), mul(load(builder.add(p2_v, step_v)), d_v), flags=_CONTRACT
        )
        result = builder.fadd(top, bottom, flags=_CONTRACT)
        builder.store(result, at(dst, q_v, vec), align=dst_t.bitwidth // 8)
        return context.get_dummy_value()

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
