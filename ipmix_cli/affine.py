"""Pillow's bilinear affine transform, reproduced exactly in numpy from precomputed gather tables.

On small images Pillow's fixed costs (array ↔ image conversions, its Python wrapper, a C loop at about
40 ns per pixel) exceed the work itself. A transform's geometry depends only on the image size and the
coefficients, so it can be turned once into tables (which input values each output value reads, with which
weights); applying the tables is then one gather and a few array operations. Rotations by whole degrees
recur constantly, so their tables are cached.

Pillow's semantics (``Image.transform(size, AFFINE, (a, b, c, d, e, f), resample=BILINEAR)``), kept bit for
bit: output pixel (x, y) samples the input at ``u = a·(x + ½) + b·(y + ½) + c``, ``v = d·(x + ½) + e·(y + ½) + f``;
it is black when (u, v) lies outside [0, W) × [0, H); otherwise, with ``x₀ = ⌊u − ½⌋``, ``y₀ = ⌊v − ½⌋`` and
neighbours clamped to the image, it is ``top + (bottom − top)·dy`` with ``top = p(x₀, y₀) + (p(x₀+1, y₀) −
p(x₀, y₀))·dx`` (bottom likewise on row y₀+1), computed in float64 and truncated to uint8.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

Coefficients = tuple  # (a, b, c, d, e, f)


class AffineTables(NamedTuple):
    """Where each output value of an H×W×3 image reads from, and how it weighs what it reads."""

    index: np.ndarray  # (2, 2, H·W·3) flat input indices: [left | right][top row | bottom row]
    dx: np.ndarray  # (H·W·3,) float64 horizontal weight of the right neighbours
    dy: np.ndarray  # (H·W·3,) float64 vertical weight of the bottom row
    outside: np.ndarray  # flat output indices that are black


def build_tables(height: int, width: int, coefficients: Coefficients) -> AffineTables:
    """The gather tables of the affine transform ``coefficients`` on an ``height``×``width``×3 image."""
    a, b, c, d, e, f = (float(value) for value in coefficients)
    xs = np.arange(width, dtype=np.float64) + 0.5
    ys = np.arange(height, dtype=np.float64)[:, None] + 0.5
    # the same operations in the same order as Pillow's C code, so every rounding is the same
    u = a * xs + b * ys
    u += c
    v = d * xs + e * ys
    v += f
    outside = (u < 0) | (u >= width) | (v < 0) | (v >= height)
    u -= 0.5
    v -= 0.5
    column = np.floor(u)
    row = np.floor(v)
    dx = u - column
    dy = v - row
    column = column.astype(np.intp)
    row = row.astype(np.intp)
    left = np.clip(column, 0, width - 1)
    right = np.clip(column + 1, 0, width - 1)
    top = np.clip(row, 0, height - 1) * width
    bottom = np.clip(row + 1, 0, height - 1) * width
    pixels = np.stack([np.stack([top + left, bottom + left]), np.stack([top + right, bottom + right])])
    channels = np.arange(3, dtype=np.intp)
    index = (pixels.reshape(2, 2, -1, 1) * 3 + channels).reshape(2, 2, -1)
    tables = AffineTables(
        index=index,
        dx=np.repeat(dx.ravel(), 3),
        dy=np.repeat(dy.ravel(), 3),
        outside=(np.flatnonzero(outside)[:, None] * 3 + channels).ravel(),
    )
    for array in tables:
        array.flags.writeable = False
    return tables


#: Whole-degree rotations of one image size: at most 64 sets of tables (about 10 MB at 32×32).
cached_tables = lru_cache(maxsize=64)(build_tables)


def apply_tables(image: np.ndarray, tables: AffineTables) -> np.ndarray:
    """The transformed image (a new H×W×3 uint8 array); ``image`` is not modified."""
    values = np.ascontiguousarray(image).reshape(-1).take(tables.index).astype(np.float64)
    rows = values[1]  # right neighbours of the top and bottom rows, becoming the interpolated rows
    rows -= values[0]
    rows *= tables.dx
    rows += values[0]
    mixed = rows[1]
    mixed -= rows[0]
    mixed *= tables.dy
    mixed += rows[0]
    out = mixed.astype(np.uint8)
    out[tables.outside] = 0
    return out.reshape(image.shape)
