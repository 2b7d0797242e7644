"""The LLVM-IR helpers of the CPU kernels: ``borrow`` gives a view that shares the data,
shape and strides of its array and holds no reference (null meminfo), slices included."""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from warpkit.backends._simd import borrow


@intrinsic
def _meminfo(typingctx, arr):
    """The address of an array's meminfo (0 for none)."""

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.meminfo, ir.IntType(64))

    return types.uint64(arr), codegen


@njit
def _owned_and_borrowed(a):
    v = borrow(a)
    return _meminfo(a), _meminfo(v), _meminfo(v[1:]), _meminfo(v.reshape(v.size))


@njit
def _write_through(a, value):
    v = borrow(a)
    v[1, 2] = value
    return v.shape, v.strides, v.sum()


def test_a_borrowed_view_holds_no_reference():
    a = np.arange(12.0).reshape(3, 4)
    owned, view, row_slice, flat = _owned_and_borrowed(a)
    assert owned != 0
    assert (view, row_slice, flat) == (0, 0, 0)


def test_a_borrowed_view_shares_data_shape_and_strides():
    base = np.arange(40.0).reshape(5, 8)
    a = base[::2, 1:6]  # not contiguous: strides must carry over
    shape, strides, total = _write_through(a, -100.0)
    assert base[2, 3] == -100.0
    assert shape == a.shape and strides == a.strides
    assert total == a.sum()
