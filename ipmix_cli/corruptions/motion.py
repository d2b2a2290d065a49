"""ImageMagick's motion blur (``MotionBlurImage``, as Wand's ``motion_blur`` calls it), without ImageMagick.

The kernel is one-sided: ``width = 2 * ceil(radius) + 1`` taps, tap ``i`` (0 ≤ i < width) weighted
``exp(-i² / (2 sigma²))`` (normalised to sum 1) and reading the pixel at ``(x + ox_i, y + oy_i)`` with
``ox_i = ceil(i cos(angle) - 0.5)`` and ``oy_i = ceil(i sin(angle) - 0.5)`` (``angle`` in degrees, y pointing
down); pixels outside the image repeat the nearest edge pixel (ImageMagick's default ``edge`` virtual pixels).
Each output is computed in ImageMagick's 16-bit quantum (an 8-bit value ``v`` is ``257 v``), rounded to the
nearest quantum ``q`` and brought back to 8 bits as ImageMagick (6.9, Q16) writes an 8-bit PNG: ``q // 257``
(checked pixel for pixel against ``MagickMotionBlurImage`` by the tests where Wand is installed).
"""

from __future__ import annotations

import math

import numpy as np

from ._compiled import njit


def kernel(radius: float, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weights and the (x, y) offsets of ImageMagick's motion-blur kernel."""
    width = int(2.0 * math.ceil(radius) + 1.0) if radius > 1e-12 else 3
    sigma = sigma if abs(sigma) >= 1e-12 else 1e-12
    i = np.arange(width, dtype=np.float64)
    weights = np.exp(-(i * i) / (2.0 * sigma * sigma)) / (math.sqrt(2.0 * math.pi) * sigma)
    weights /= weights.sum()
    theta = math.radians(angle)
    point_x = width * math.sin(theta)
    point_y = width * math.cos(theta)
    hypot = math.hypot(point_x, point_y)
    offset_x = np.ceil(i * point_y / hypot - 0.5).astype(np.int64)
    offset_y = np.ceil(i * point_x / hypot - 0.5).astype(np.int64)
    return weights, offset_x, offset_y


def motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """``image`` (H×W×C or H×W uint8) blurred as ImageMagick's ``MotionBlurImage(radius, sigma, angle)``."""
    weights, offset_x, offset_y = kernel(radius, sigma, angle)
    height, width = image.shape[:2]
    planes = image.reshape(height, width, -1)
    # Columns are clamped once, by padding each row with its edge pixels; rows are clamped per tap.
    pad = int(np.abs(offset_x).max())
    padded = np.pad(planes, ((0, 0), (pad, pad), (0, 0)), mode="edge").astype(np.float64)
    starts = (offset_x + pad) * planes.shape[2]
    rows = padded.reshape(height, -1)
    out = _motion_blur(rows, weights * 257.0, starts, offset_y, width * planes.shape[2])
    return out.reshape(image.shape)


def _motion_blur_numpy(rows, weights, starts, offset_y, length):
    height = rows.shape[0]
    total = np.zeros((height, length))
    for k in range(weights.shape[0]):
        source = np.clip(np.arange(height) + offset_y[k], 0, height - 1)
        total += weights[k] * rows[source, starts[k] : starts[k] + length]
    q = np.floor(np.clip(total, 0.0, 65535.0) + 0.5).astype(np.int64)
    return (q // 257).astype(np.uint8)


@njit(fallback=_motion_blur_numpy)
def _motion_blur(rows, weights, starts, offset_y, length):
    """Per output row, the weighted sum of the taps' shifted source rows (contiguous, so it vectorises), then
    ImageMagick's rounding to 16 bits and truncation to 8."""
    height = rows.shape[0]
    out = np.empty((height, length), dtype=np.uint8)
    total = np.empty(length)
    for y in range(height):
        total[:] = 0.0
        for k in range(weights.shape[0]):
            source = min(max(y + offset_y[k], 0), height - 1)
            weight = weights[k]
            row = rows[source, starts[k] : starts[k] + length]  # a view first: the loop below then vectorises
            for j in range(length):
                total[j] += weight * row[j]
        for j in range(length):
            value = min(max(total[j], 0.0), 65535.0)
            out[y, j] = np.uint8(np.int32(value + 0.5) // 257)  # value ≥ 0: truncation is floor
    return out
