"""Pillow's bilinear affine transform, reproduced exactly in numpy from precomputed gather tables.

On small images Pillow's fixed costs (array ↔ image conversions, its Python wrapper, a C loop at about
40 ns per pixel) exceed the work itself. A transform's geometry depends only on the image size and the
coefficients, so it can be turned once into tables (which input values each output value reads, with which
weights); applying the tables is then one gather and a few array operations. Rotations by whole degrees
recur constantly, so their tables are cached. Shears have a continuous factor, so nothing recurs; but a shear
moves pixels along one axis only, which makes its gather short enough to compute each time (``shear``).

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


_PIXEL = np.dtype((np.void, 24))  # one RGB pixel in float64, gathered as a single item


@lru_cache(maxsize=32)
def _centres(count: int) -> np.ndarray:
    centres = np.arange(count, dtype=np.float64) + 0.5
    centres.flags.writeable = False
    return centres


@lru_cache(maxsize=32)
def _line_starts(lines: int, stride: int, as_row: bool) -> np.ndarray:
    starts = np.arange(lines, dtype=np.intp) * stride
    starts = starts[None, :] if as_row else starts[:, None]
    starts.flags.writeable = False
    return starts


def shear(image: np.ndarray, factor: float, axis: int) -> np.ndarray:
    """Pillow's bilinear shear, bit for bit: ``axis=1`` is ``(1, factor, 0, 0, 1, 0)`` (shear_x),
    ``axis=0`` is ``(1, 0, 0, factor, 1, 0)`` (shear_y).

    Along the other axis the sampled position is the pixel centre exactly, so its weight is 0 and only two
    neighbours count: ``p₀ + (p₁ − p₀)·d`` along ``axis``. Each output pixel's position is computed as Pillow
    computes it (a shear's fraction may differ in its last bits from pixel to pixel of a line). Whole pixels
    are gathered as single 24-byte items, and pixels outside the image read an extra black pixel.
    Fastest on small images; the cost grows faster than Pillow's beyond about 64×64.
    """
    height, width = image.shape[:2]
    count = height * width
    if axis == 1:  # u = 1·(x + ½) + factor·(y + ½) + 0
        position = (factor * _centres(height))[:, None] + _centres(width)
        length, stride = width, 1
        starts = _line_starts(height, width, as_row=False)
    else:  # v = factor·(x + ½) + 1·(y + ½) + 0
        position = factor * _centres(width) + _centres(height)[:, None]
        length, stride = height, width
        starts = _line_starts(width, 1, as_row=True)
    outside = position < 0
    outside |= position >= length
    position -= 0.5
    base = np.floor(position)
    weight = position - base
    base = base.astype(np.intp)
    first = np.maximum(base, 0)
    second = np.minimum(base + 1, length - 1, out=base)
    if stride != 1:
        first *= stride
        second *= stride
    first += starts
    second += starts
    np.copyto(first, count, where=outside)  # the black pixel after the image
    np.copyto(second, count, where=outside)
    values = np.empty(3 * count + 3)
    values[: 3 * count] = image.reshape(-1)
    values[3 * count :] = 0
    pixels = values.view(_PIXEL)
    low = pixels.take(first).view(np.float64)
    mixed = pixels.take(second).view(np.float64)
    mixed -= low
    mixed *= np.repeat(weight, 3).reshape(mixed.shape)
    mixed += low
    return mixed.astype(np.uint8).reshape(image.shape)
