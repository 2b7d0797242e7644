"""The workloads that ``ab_kernels.py`` times and ``profile_kernels.py`` profiles: the CPU
kernels called directly, on arrays made once, for any module of kernels (``backends.cpu``, or
a git revision's copy of it).

W1 (1024x1024x3 float32 turned 30° and scaled 0.9, bilinear, zeros), W1u8, W1u16, RGBAu8,
W1f64, grey f32, grey u8 and grey u16 (one channel), W3 (64x224x224x3 float32, random θ),
W3f64, W2fwd and W2bwd (256x60x60x1 float32 forward and backward, random θ; W2tbwd the backward
for θ alone, an STN's whose input is the data; W2sfwd and W2sbwd with the θ of the suite's
W2), and W1bwd (the backward of
W1's image and θ: one sample, so its tasks split the image and scatter in a second pass);
W1gbwd and W2gbwd, the backward of W1 and W2 through the grids of their θ; W3bwd, the backward
of a batch of 16 of W3's images (224x224 RGB float32, random θ); B32u8 and B28u8, batches of
256 small uint8 images (32x32 RGB, 28x28 grey; random θ), as data augmentation warps them;
B64u8 (256 64x64 RGB), B128u8 and B128f32 (64 128x128 RGB), rows narrower than the spans'
144 pixels; G128u8 and G256u8, batches of grey uint8 images turned 20°; I256u8 and I256f32,
16 grey 256x256 images turned 20° and zoomed by 2, so that every row lies inside the image;
Zg u8, Zg f32, Z u8 and Z f32, W1's grey and RGB images zoomed by 2 (a map without rotation:
rows at one height); Zs u8 and Zs f32, 16 grey 256x256 images zoomed so (short rows, where
what a row costs besides its pixels shows);
Z4 u8 and Z4 f32, an RGBA image zoomed so; Fg f32, Fg u8 and F f32, the grey and RGB images
mirrored left to right and scaled by 1.1; rows at one height narrower than the spans' 144
pixels: Zt u8 (256 grey 32x32 images zoomed by 2), Zm f32 and Zm3 u8 (64 grey float32 and RGB
uint8 128x128 ones), Sm f32 (the grey ones shifted by a fraction of a pixel: an edge column in
every row); Dg u8, Dg f32, D4 u8, D u8 and D f32, W1's grey, RGBA and RGB images shrunk by 2
(into 512x512, θ the identity), Dg4 u8 the grey one shrunk by 4; Og u8, Og f32 and O u8, the
grey and RGB ones shrunk by 1.25 into their own size (a border of zeros round them), Sg f32 the
grey one shifted by a fraction of a pixel (an edge column in every row), Ig f32 the grey one
under the identity (its last column exactly on the image's, which the row code gathers)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def workloads(rng: np.random.Generator) -> dict[str, Callable]:
    """name -> a function that makes the workload's arrays and returns ``make``; ``make(cpu)``
    returns (a function that runs it once with kernel module ``cpu``, its output arrays).
    Imports warpkit when called, not before (scripts set numba's environment first)."""
    from warpkit._bench import rotation_theta, w2_arrays

    def random_theta(n: int) -> np.ndarray:
        return np.tile(np.eye(2, 3), (n, 1, 1)) + rng.normal(0, 0.15, (n, 2, 3))

    def stn_theta() -> np.ndarray:  # the suite's W2 θ, in float64 as the other workloads'
        return w2_arrays()[1].astype(np.float64)

    def image(shape, dtype):
        if np.dtype(dtype).kind == "f":
            return rng.random(shape).astype(dtype)
        return rng.integers(0, 256, shape).astype(dtype)

    def forward(shape, dtype, theta, out_hw=None):
        x = image(shape, dtype)
        cval = np.zeros(shape[3])

        def make(cpu):
            hw = shape[1:3] if out_hw is None else out_hw
            out = np.empty((shape[0], *hw, shape[3]), x.dtype)
            if x.dtype.kind == "f":
                return lambda: cpu.affine_sample(x, theta, out, 0, 0, False, cval), (out,)
            work = np.empty(0, np.float32 if x.dtype.itemsize < 4 else np.float64)
            return (lambda: cpu.affine_sample_int(x, theta, out, 0, 0, False, cval, work),
                    (out,))

        return make

    def backward(shape, theta, need_gin=True):
        x, gout = image(shape, np.float32), image(shape, np.float32)

        def make(cpu):
            gin, gtheta = np.empty_like(x), np.empty((shape[0], 2, 3))
            target = gin if need_gin else None
            return (lambda: cpu.affine_sample_backward(gout, x, theta, target, gtheta, 0, 0,
                                                       False, np.zeros(shape[3])),
                    (gin, gtheta) if need_gin else (gtheta,))

        return make

    def grid_backward(shape, theta):
        x, gout = image(shape, np.float32), image(shape, np.float32)
        grid = np.empty((shape[0], shape[1], shape[2], 2), np.float32)

        def make(cpu):
            cpu.affine_grid(theta.astype(np.float32), grid, False)
            gin, ggrid = np.empty_like(x), np.empty_like(grid)
            return (lambda: cpu.grid_sample_backward(gout, x, grid, gin, ggrid, 0, 0, False,
                                                     np.zeros(shape[3])), (gin, ggrid))

        return make

    rgb, grey, w2, w3 = (1, 1024, 1024, 3), (1, 1024, 1024, 1), (256, 60, 60, 1), (64, 224, 224, 3)
    rgba = (1, 1024, 1024, 4)
    zoom = np.array([[[0.5, 0.0, 0.0123], [0.0, 0.5, -0.0271]]])  # by 2, off the pixel grid
    flip = np.array([[[-0.9, 0.0, 0.0123], [0.0, 0.9, -0.0271]]])  # mirrored, scaled by 1.1
    shift = np.array([[[1.0, 0.0, 0.0123], [0.0, 1.0, -0.0271]]])  # a shift: edges in each row
    same = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])  # into half the size: shrunk by 2
    out_zoom = np.array([[[1.25, 0.0, 0.0123], [0.0, 1.25, -0.0271]]])  # shrunk, a border round
    turned = rotation_theta(30.0, 0.9)
    return {
        "W1": lambda: forward(rgb, np.float32, turned),
        "W1u8": lambda: forward(rgb, np.uint8, turned),
        "W1u16": lambda: forward(rgb, np.uint16, turned),
        "RGBAu8": lambda: forward((1, 1024, 1024, 4), np.uint8, turned),
        "W1f64": lambda: forward(rgb, np.float64, turned),
        "grey f32": lambda: forward(grey, np.float32, turned),
        "grey u8": lambda: forward(grey, np.uint8, turned),
        "grey u16": lambda: forward(grey, np.uint16, turned),
        "grey f64": lambda: forward(grey, np.float64, turned),
        "B32u8": lambda: forward((256, 32, 32, 3), np.uint8, random_theta(256)),
        "B28u8": lambda: forward((256, 28, 28, 1), np.uint8, random_theta(256)),
        "B64u8": lambda: forward((256, 64, 64, 3), np.uint8, random_theta(256)),
        "B128u8": lambda: forward((64, 128, 128, 3), np.uint8, random_theta(64)),
        "B128f32": lambda: forward((64, 128, 128, 3), np.float32, random_theta(64)),
        "G128u8": lambda: forward((64, 128, 128, 1), np.uint8, rotation_theta(20.0, 0.9, 64)),
        "G256u8": lambda: forward((16, 256, 256, 1), np.uint8, rotation_theta(20.0, 0.9, 16)),
        "I256u8": lambda: forward((16, 256, 256, 1), np.uint8, rotation_theta(20.0, 2.0, 16)),
        "I256f32": lambda: forward((16, 256, 256, 1), np.float32, rotation_theta(20.0, 2.0, 16)),
        "Zs u8": lambda: forward((16, 256, 256, 1), np.uint8, np.tile(zoom, (16, 1, 1))),
        "Zs f32": lambda: forward((16, 256, 256, 1), np.float32, np.tile(zoom, (16, 1, 1))),
        "Zt u8": lambda: forward((256, 32, 32, 1), np.uint8, np.tile(zoom, (256, 1, 1))),
        "Zm f32": lambda: forward((64, 128, 128, 1), np.float32, np.tile(zoom, (64, 1, 1))),
        "Zm3 u8": lambda: forward((64, 128, 128, 3), np.uint8, np.tile(zoom, (64, 1, 1))),
        "Sm f32": lambda: forward((64, 128, 128, 1), np.float32, np.tile(shift, (64, 1, 1))),
        "Zg u8": lambda: forward(grey, np.uint8, zoom),
        "Zg f32": lambda: forward(grey, np.float32, zoom),
        "Fg f32": lambda: forward(grey, np.float32, flip),
        "Fg u8": lambda: forward(grey, np.uint8, flip),
        "Z u8": lambda: forward(rgb, np.uint8, zoom),
        "Z f32": lambda: forward(rgb, np.float32, zoom),
        "Z4 u8": lambda: forward(rgba, np.uint8, zoom),
        "Z4 f32": lambda: forward(rgba, np.float32, zoom),
        "F f32": lambda: forward(rgb, np.float32, flip),
        "Dg u8": lambda: forward(grey, np.uint8, same, (512, 512)),
        "Dg f32": lambda: forward(grey, np.float32, same, (512, 512)),
        "D4 u8": lambda: forward(rgba, np.uint8, same, (512, 512)),
        "D u8": lambda: forward(rgb, np.uint8, same, (512, 512)),
        "D f32": lambda: forward(rgb, np.float32, same, (512, 512)),
        "Dg4 u8": lambda: forward(grey, np.uint8, same, (256, 256)),
        "Og u8": lambda: forward(grey, np.uint8, out_zoom),
        "Og f32": lambda: forward(grey, np.float32, out_zoom),
        "O u8": lambda: forward(rgb, np.uint8, out_zoom),
        "Sg f32": lambda: forward(grey, np.float32, shift),
        "Ig f32": lambda: forward(grey, np.float32, same),
        "W3": lambda: forward(w3, np.float32, random_theta(64)),
        "W3f64": lambda: forward(w3, np.float64, random_theta(64)),
        "W2fwd": lambda: forward(w2, np.float32, random_theta(256)),
        "W2bwd": lambda: backward(w2, random_theta(256)),
        "W2tbwd": lambda: backward(w2, random_theta(256), need_gin=False),
        "W2sfwd": lambda: forward(w2, np.float32, stn_theta()),
        "W2sbwd": lambda: backward(w2, stn_theta()),
        "W1bwd": lambda: backward(rgb, turned),
        "W1gbwd": lambda: grid_backward(rgb, turned),
        "W2gbwd": lambda: grid_backward(w2, random_theta(256)),
        "W3bwd": lambda: backward((16, 224, 224, 3), random_theta(16)),
    }

