"""The CPU sampler reads and writes only inside its arrays.

For 3-channel float32 and integer images the gather reads 4 lanes per pixel (a junk lane that
runs one value past the pixel) and writes 4 lanes where the next pixel writes after it; for
every image it also prefetches ahead (a prefetch never faults, so that part is not checked).
One-channel float images are gathered 8 pixels at a time (``lerp8``), and so are the interior
spans of integer images (``lerp8c``, whose one-byte pixels of 1 or 3 channels read 2 values
past a cell row). The backward of 3- and 4-channel float images reads 4 lanes per corner and
per output gradient (``grad4``).
Here the input and the output end exactly where an unreadable, unwritable page begins, and θ
sends interior pixels to the last cell of the last image: a read or write one value too far
kills the process. The sampling runs in a child process so that such a crash is a clean
failure, and its results are compared with the loop reference.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference as ref

from warpkit.backends._cpu.forward import SPAN_COLUMNS

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="guard pages are set with Linux's mprotect"
)

CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    import numpy as np
    from warpkit.backends import cpu
    from warpkit.warp import warp

    libc = ctypes.CDLL(None, use_errno=True)

    def guarded(shape, dtype):
        # a C-contiguous array whose last byte lies just before a PROT_NONE page
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        page = mmap.PAGESIZE
        total = (nbytes + page - 1) // page * page + page
        buf = mmap.mmap(-1, total)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        if libc.mprotect(ctypes.c_void_p(addr + total - page), page, 0) != 0:
            raise OSError(ctypes.get_errno(), "mprotect failed")
        start = total - page - nbytes
        return np.frombuffer(buf, np.uint8, nbytes, start).view(dtype).reshape(shape)

    src = np.load(sys.argv[1])
    theta = np.load(sys.argv[2])
    results = {}
    for dtype in ("float32", "float64"):
        img = guarded(src.shape, dtype)
        img[...] = src
        out = guarded(src.shape, dtype)
        cpu.affine_sample(img, theta, out, 0, 0, False, np.zeros(src.shape[3], dtype))
        results[dtype] = np.array(out)
    u8 = guarded(src.shape[1:], np.uint8)
    u8[...] = np.rint(src[-1] * 255)
    results["uint8"] = warp(u8, theta[-1])
    for dtype in ("float32", "float64"):  # the backward: a batch, and the last image alone
        for name, part in (("batch", slice(None)), ("single", slice(-1, None))):
            x, th = src[part], theta[part]
            img = guarded(x.shape, dtype)
            img[...] = x
            gout = guarded(x.shape, dtype)
            gout[...] = np.cos(np.arange(x.size)).reshape(x.shape)
            gin = guarded(x.shape, dtype)
            gth = np.empty((x.shape[0], 2, 3))
            cpu.affine_sample_backward(gout, img, th, gin, gth, 0, 0, False,
                                       np.zeros(x.shape[3]))
            results[f"gin {name} {dtype}"] = np.array(gin)
            results[f"gth {name} {dtype}"] = gth
    np.savez(sys.argv[3], **results)
    """
)


def _zoom(scale, degrees):
    """θ of a zoom (scale < 1: in) and a rotation about the centre."""
    a = np.radians(degrees)
    return scale * np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0]])


def _last_row_ends(theta, H, W):
    """Source pixel x of the first and of the last pixel of the last output row, and its y
    (align_corners=False; θ without rotation)."""
    x = np.array([-1.0 + 1.0 / W, 1.0 - 1.0 / W])
    y = 1.0 - 1.0 / H
    gx = theta[0, 0] * x + theta[0, 2]
    gy = theta[1, 1] * y + theta[1, 2]
    return ((gx + 1) * W - 1) / 2, ((gy + 1) * H - 1) / 2


# rows classified (24 wide) and rows cut into spans; one channel: float rows 8 pixels at a time,
# and the spans of integer ones
@pytest.mark.parametrize(
    ("channels", "width"),
    [(3, 24), (4, 24), (3, SPAN_COLUMNS + 8), (4, SPAN_COLUMNS + 8), (1, 24),
     (1, SPAN_COLUMNS + 8)],
)
def test_reads_and_writes_stay_inside_the_arrays(tmp_path, channels, width):
    rng = np.random.default_rng(7)
    src = rng.random((2, 16, width, channels))
    H, W = src.shape[1:3]
    # the last image is mirrored left-right and zoomed in slightly: the first pixel of the last
    # output row falls in the last cell of the image (x0 = W - 2, y0 = H - 2), so its junk
    # lane would read one value past the input, and the last pixel of that row is interior
    # (on the 4-lane path), so a junk store there would write one value past the output
    sx = 1.0 - 1.5 / (W - 1)  # the first pixel at x = W - 1.75, the last at x = 0.75
    theta = np.stack([_zoom(0.95, 1.0), np.array([[-sx, 0.0, 0.0], [0.0, 0.95, 0.0]])])
    (x_first, x_last), y = _last_row_ends(theta[-1], H, W)
    assert W - 2 <= x_first < W - 1 and H - 2 <= y < H - 1, (x_first, y)
    assert 0 <= x_last < W - 2, x_last

    np.save(tmp_path / "src.npy", src)
    np.save(tmp_path / "theta.npy", theta)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "src.npy"), str(tmp_path / "theta.npy"),
         str(tmp_path / "out.npz")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"child exited with {done.returncode}:\n{done.stderr[-3000:]}"
    got = np.load(tmp_path / "out.npz")
    expected = ref.affine_sample(src, theta)
    for dtype in ("float32", "float64"):
        np.testing.assert_allclose(got[dtype], expected, **ref.tolerances(dtype))
    u8 = np.rint(src[-1] * 255)
    expected_u8 = np.clip(np.rint(ref.affine_sample(u8[None], theta[-1:])[0]), 0, 255)
    assert np.abs(got["uint8"].astype(float) - expected_u8).max() <= 1
    for name, part in (("batch", slice(None)), ("single", slice(-1, None))):
        x, th = src[part], theta[part]
        gout = np.cos(np.arange(x.size)).reshape(x.shape)
        for dtype in ("float32", "float64"):
            rgin, rgth = ref.affine_sample_backward(gout.astype(dtype), x.astype(dtype), th,
                                                    x.shape[1:3])
            tol = ref.tolerances(dtype)
            np.testing.assert_allclose(got[f"gin {name} {dtype}"], rgin, **tol)
            # grad_theta sums H * W terms of size ~ W: the float32 tolerance scaled with it
            scale = 1.0 if dtype == "float64" else 1.0 + 0.1 * H * W * max(H, W)
            np.testing.assert_allclose(got[f"gth {name} {dtype}"], rgth, rtol=tol["rtol"],
                                       atol=tol["atol"] * scale)
