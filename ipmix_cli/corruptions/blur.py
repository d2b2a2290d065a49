"""Blurs: gaussian, glass, defocus, motion and zoom."""

from __future__ import annotations

import math

import numpy as np

from ._compiled import njit
from .common import as_float, field_generator
from .filters import fft_filter2d, gaussian, to_uint8, zoom_coordinates
from .motion import motion_blur as _imagemagick_motion_blur


def no_draws(rng: np.random.Generator, setting) -> dict:
    return {}


def gaussian_blur(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """scikit-image ``gaussian(x, sigma)`` (border ``nearest``, truncated at 4 sigma)."""
    return to_uint8(gaussian(as_float(image), setting.values["sigma"]))


# --- glass blur ------------------------------------------------------------------------------------------------


def glass_blur(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """Blur, shuffle pixels locally, blur again.

    The sweep visits rows ``H - d`` down to ``d + 1`` and, in each, columns ``W - d`` down to ``d + 1``; at each
    pixel it draws ``dx, dy`` uniformly from ``{-d, …, d - 1}`` (numpy's ``randint(-d, d)``: one-sided) and,
    as the reference's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` does on numpy rows, *copies* pixel
    ``(h + dy, w + dx)`` onto ``(h, w)`` (the tuple assignment reads a view, so it is no swap). The sweep is
    sequential: a pixel copied may be copied again further up. Fields: the (iterations, rows, columns, 2)
    int16 integers, ``dx`` then ``dy``.
    """
    values = setting.values
    sigma, delta, iterations = values["sigma"], values["max_delta"], values["iterations"]
    height, width = image.shape[:2]
    shuffled = to_uint8(gaussian(as_float(image), sigma))
    rows, columns = max(0, height - 2 * delta), max(0, width - 2 * delta)
    shifts = field_generator(draws["seed"]).integers(-delta, delta, size=(iterations, rows, columns, 2), dtype=np.int16)
    shuffled = _glass_sweep(shuffled, shifts, delta)
    return to_uint8(gaussian(shuffled / 255.0, sigma))


def _glass_sweep_numpy(pixels, shifts, delta):
    # The sweep is sequential (a copied pixel may be read again), so there is no vector form: plain loops.
    out = pixels.copy()
    height, width = out.shape[:2]
    for i in range(shifts.shape[0]):
        for a, h in enumerate(range(height - delta, delta, -1)):
            for b, w in enumerate(range(width - delta, delta, -1)):
                out[h, w] = out[h + shifts[i, a, b, 1], w + shifts[i, a, b, 0]]
    return out


@njit(fallback=_glass_sweep_numpy)
def _glass_sweep(pixels, shifts, delta):
    out = pixels.copy()
    height, width, depth = out.shape
    for i in range(shifts.shape[0]):
        a = 0
        for h in range(height - delta, delta, -1):
            b = 0
            for w in range(width - delta, delta, -1):
                hp = h + shifts[i, a, b, 1]
                wp = w + shifts[i, a, b, 0]
                for c in range(depth):
                    out[h, w, c] = out[hp, wp, c]
                b += 1
            a += 1
    return out


# --- defocus blur ----------------------------------------------------------------------------------------------


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """The reference's ``disk``: an aliased disk ``X² + Y² ≤ r²`` on a grid of half-width 8 (``r ≤ 8``) or
    ``ceil(r)``, normalised, then blurred by OpenCV's ``GaussianBlur`` with a 3×3 (``r ≤ 8``) or 5×5 kernel of
    sigma ``alias_blur`` and borders ``BORDER_REFLECT_101``."""
    half = 8 if radius <= 8 else int(math.ceil(radius))
    size = 3 if radius <= 8 else 5
    grid = np.arange(-half, half + 1, dtype=np.float64)
    x, y = np.meshgrid(grid, grid)
    disk = ((x**2 + y**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    taps = _opencv_gaussian(size, alias_blur)
    blurred = np.pad(disk.astype(np.float64), size // 2, mode="reflect")
    rows = sum(taps[k] * blurred[k : k + disk.shape[0]] for k in range(size))
    return sum(taps[k] * rows[:, k : k + disk.shape[1]] for k in range(size))


def _opencv_gaussian(size: int, sigma: float) -> np.ndarray:
    """OpenCV's ``getGaussianKernel(size, sigma)`` for sigma > 0."""
    sigma = max(sigma, 1e-12)
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def defocus_blur(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """Each channel correlated with :func:`disk_kernel` (OpenCV ``filter2D``, borders ``BORDER_REFLECT_101``)."""
    kernel = disk_kernel(setting.values["radius"], setting.values["alias_blur"])
    return to_uint8(fft_filter2d(as_float(image), kernel, "reflect"))


# --- motion blur -----------------------------------------------------------------------------------------------


def sample_motion(rng: np.random.Generator, setting) -> dict:
    return {"angle": float(rng.uniform(-45, 45))}


def motion_blur(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """ImageMagick's ``MotionBlurImage(radius, sigma, angle)`` (see :mod:`.motion`), angle ~ U(-45°, 45°)."""
    return _imagemagick_motion_blur(image, setting.values["radius"], setting.values["sigma"], draws["angle"])


# --- zoom blur ------------------------------------------------------------------------------------------------


def zoom_blur(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """The mean of the image and its ``clipped_zoom`` at every factor (scipy ``zoom(order=1)`` of the centre
    crop, per axis, so any aspect ratio works), in float32 as the reference."""
    x = (image / 255.0).astype(np.float32)
    zooms = setting.values["zooms"]
    height, width = image.shape[:2]
    row_lower, row_weight, row_limit = _stack([zoom_coordinates(height, z) for z in zooms])
    col_lower, col_weight, col_limit = _stack([zoom_coordinates(width, z) for z in zooms])
    identity = np.array([z == 1.0 for z in zooms])  # a zoom by exactly 1 is the image itself
    total = _zoom_sum(x, row_lower, row_weight, row_limit, col_lower, col_weight, col_limit, identity)
    return to_uint8((x + total) / np.float32(len(zooms) + 1))


def _stack(coordinates):
    lower = np.stack([c[0] for c in coordinates])
    weight = np.stack([c[1] for c in coordinates])
    limit = np.array([c[2] for c in coordinates], dtype=np.int64)
    return lower, weight, limit


def _zoom_sum_numpy(x, row_lower, row_weight, row_limit, col_lower, col_weight, col_limit, identity):
    total = np.zeros(x.shape, dtype=np.float32)
    source = x.astype(np.float64)
    for z in range(row_lower.shape[0]):
        r0, c0 = row_lower[z], col_lower[z]
        r1, c1 = np.minimum(r0 + 1, row_limit[z]), np.minimum(c0 + 1, col_limit[z])
        wr, wc = row_weight[z][:, None, None], col_weight[z][None, :, None]
        rows = source[r0] * (1.0 - wr) + source[r1] * wr
        total += (rows[:, c0] * (1.0 - wc) + rows[:, c1] * wc).astype(np.float32)
    return total


@njit(fallback=_zoom_sum_numpy)
def _zoom_sum(x, row_lower, row_weight, row_limit, col_lower, col_weight, col_limit, identity):
    """Each zoom separably, one channel plane at a time: rows interpolated first (contiguous), then columns."""
    height, width, depth = x.shape
    planes = np.empty((depth, height, width))
    for i in range(height):
        for j in range(width):
            for c in range(depth):
                planes[c, i, j] = x[i, j, c]
    total = np.zeros((depth, height, width), dtype=np.float32)
    row = np.empty(width)
    upper = np.empty(width, dtype=np.int64)
    for z in range(row_lower.shape[0]):
        if identity[z]:  # interpolating at the samples themselves gives them back exactly
            for c in range(depth):
                for i in range(height):
                    for j in range(width):
                        total[c, i, j] += np.float32(planes[c, i, j])
            continue
        lower = col_lower[z]
        weights = col_weight[z]
        for j in range(width):
            upper[j] = min(lower[j] + 1, col_limit[z])
        for c in range(depth):
            for i in range(height):
                r0 = row_lower[z, i]
                r1 = min(r0 + 1, row_limit[z])
                wr = row_weight[z, i]
                first = planes[c, r0]  # views first: the loops below then vectorise
                second = planes[c, r1]
                target = total[c, i]
                for j in range(width):
                    row[j] = first[j] * (1.0 - wr) + second[j] * wr
                for j in range(width):
                    wc = weights[j]
                    target[j] += np.float32(row[lower[j]] * (1.0 - wc) + row[upper[j]] * wc)
    out = np.empty((height, width, depth), dtype=np.float32)
    for i in range(height):
        for j in range(width):
            for c in range(depth):
                out[i, j, c] = total[c, i, j]
    return out
