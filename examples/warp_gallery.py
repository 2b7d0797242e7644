"""Warp scikit-image's astronaut several ways and write a before/after figure.

Run from the repository root::

    python examples/warp_gallery.py            # writes examples/warp_gallery.png

Tiles, left to right and top to bottom: the original; rotated 30° (zeros padding); scaled by
0.8 and sheared 20° (constant padding, white); rotated 45° at scale 0.6 (reflection padding);
scaled by 0.4 (wrap padding: the picture tiles the plane); a 4x zoom on the face with nearest
interpolation. No plotting library is needed: the tiles are laid out with numpy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from skimage import data
from skimage.transform import resize

import warpkit.transforms as T
from warpkit.io import write_image
from warpkit.warp import warp

TILE = 200
OUTPUT = Path(__file__).with_name("warp_gallery.png")
MARGIN = 8


def downscale(image: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, C) uint8 image resized, anti-aliased, to (size, size, C) uint8."""
    small = resize(image, (size, size), anti_aliasing=True, preserve_range=True)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def tiles(img: np.ndarray) -> list[np.ndarray]:
    """The six panels of the figure, each (TILE, TILE, 3) uint8."""
    shape = img.shape
    sheared = T.compose(T.scale(0.8, shape), T.shear(20, shape))
    face = (0.43 * shape[1], 0.22 * shape[0])  # (x, y) of the astronaut's face
    zoom = T.compose(T.translate(0.5 * shape[1] - face[0], 0.5 * shape[0] - face[1], shape),
                     T.scale(4.0, shape))
    return [
        img,
        warp(img, T.rotate(30, shape)),
        warp(img, sheared, padding_mode="constant", cval=255),
        warp(img, T.rotate(45, shape, scale=0.6), padding_mode="reflection"),
        warp(img, T.scale(0.4, shape), padding_mode="wrap"),
        warp(img, zoom, mode="nearest"),
    ]


def mosaic(panels: list[np.ndarray], columns: int = 3) -> np.ndarray:
    """Panels in a grid with white margins."""
    rows = -(-len(panels) // columns)
    h, w, c = panels[0].shape
    out = np.full((rows * (h + MARGIN) + MARGIN, columns * (w + MARGIN) + MARGIN, c), 255,
                  dtype=np.uint8)
    for k, p in enumerate(panels):
        r, q = divmod(k, columns)
        y, x = MARGIN + r * (h + MARGIN), MARGIN + q * (w + MARGIN)
        out[y : y + h, x : x + w] = p
    return out


def main(path: str | Path = OUTPUT) -> Path:
    img = downscale(data.astronaut(), TILE)
    write_image(path, mosaic(tiles(img)))
    return Path(path)


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
