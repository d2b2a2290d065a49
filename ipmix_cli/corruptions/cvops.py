"""The few OpenCV operations spatter's water drops go through, with OpenCV's exact integer semantics:
``Canny`` (3×3 Sobel, L1 gradient), ``distanceTransform`` (L2, 5×5 chamfer mask), ``equalizeHist``, an 8-bit
``filter2D`` and ``blur``. The tests compare each with OpenCV where it is installed."""

from __future__ import annotations

import numpy as np

from ._compiled import njit

_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)


def canny(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """OpenCV ``Canny(image, low, high)`` (aperture 3, L1 gradient) of an 8-bit image: 255 on edges, else 0."""
    padded = np.pad(image.astype(np.int32), 1, mode="edge")  # Sobel with BORDER_REPLICATE
    dx = (
        (padded[:-2, 2:] - padded[:-2, :-2])
        + 2 * (padded[1:-1, 2:] - padded[1:-1, :-2])
        + (padded[2:, 2:] - padded[2:, :-2])
    )
    dy = (
        (padded[2:, :-2] - padded[:-2, :-2])
        + 2 * (padded[2:, 1:-1] - padded[:-2, 1:-1])
        + (padded[2:, 2:] - padded[:-2, 2:])
    )
    magnitude = np.abs(dx) + np.abs(dy)
    candidate = _non_maximum(magnitude, dx, dy, int(np.floor(low)))
    strong = candidate & (magnitude > int(np.floor(high)))
    return np.where(_hysteresis(candidate, strong), 255, 0).astype(np.uint8)


def _non_maximum_numpy(magnitude, dx, dy, low):
    """Pixels above ``low`` that are local maxima across their gradient (OpenCV's sector rules, ties broken
    towards the right and the bottom, magnitudes outside the image 0)."""
    m = np.pad(magnitude, 1)
    centre = m[1:-1, 1:-1]
    x = np.abs(dx).astype(np.int64)
    y = np.abs(dy).astype(np.int64) << 15
    tg22x = x * _TG22
    tg67x = tg22x + (x << 16)
    horizontal = y < tg22x
    vertical = ~horizontal & (y > tg67x)
    diagonal = ~horizontal & ~vertical
    keep_h = (centre > m[1:-1, :-2]) & (centre >= m[1:-1, 2:])
    keep_v = (centre > m[:-2, 1:-1]) & (centre >= m[2:, 1:-1])
    same_sign = (dx ^ dy) >= 0  # s = 1: up-left against down-right; s = -1: up-right against down-left
    keep_d = np.where(
        same_sign,
        (centre > m[:-2, :-2]) & (centre > m[2:, 2:]),
        (centre > m[:-2, 2:]) & (centre > m[2:, :-2]),
    )
    keep = (horizontal & keep_h) | (vertical & keep_v) | (diagonal & keep_d)
    return keep & (magnitude > low)


@njit(fallback=_non_maximum_numpy)
def _non_maximum(magnitude, dx, dy, low):
    """Pixels above ``low`` that are local maxima across their gradient (OpenCV's sector rules, ties broken
    towards the right and the bottom, magnitudes outside the image 0)."""
    height, width = magnitude.shape
    keep = np.zeros((height, width), dtype=np.bool_)
    for i in range(height):
        for j in range(width):
            m = magnitude[i, j]
            if m <= low:
                continue
            left = magnitude[i, j - 1] if j > 0 else 0
            right = magnitude[i, j + 1] if j < width - 1 else 0
            up = magnitude[i - 1, j] if i > 0 else 0
            down = magnitude[i + 1, j] if i < height - 1 else 0
            x = abs(np.int64(dx[i, j]))
            y = abs(np.int64(dy[i, j])) << 15
            tg22x = x * _TG22
            if y < tg22x:
                keep[i, j] = m > left and m >= right
            elif y > tg22x + (x << 16):
                keep[i, j] = m > up and m >= down
            else:
                if (dx[i, j] ^ dy[i, j]) >= 0:
                    a = magnitude[i - 1, j - 1] if i > 0 and j > 0 else 0
                    b = magnitude[i + 1, j + 1] if i < height - 1 and j < width - 1 else 0
                else:
                    a = magnitude[i - 1, j + 1] if i > 0 and j < width - 1 else 0
                    b = magnitude[i + 1, j - 1] if i < height - 1 and j > 0 else 0
                keep[i, j] = m > a and m > b
    return keep


def _hysteresis_numpy(candidate, strong):
    edges = strong.copy()
    while True:
        grown = np.pad(edges, 1)
        near = np.zeros_like(edges)
        for dy in range(3):
            for dx in range(3):
                near |= grown[dy : dy + edges.shape[0], dx : dx + edges.shape[1]]
        grown = edges | (near & candidate)
        if np.array_equal(grown, edges):
            return edges
        edges = grown


@njit(fallback=_hysteresis_numpy)
def _hysteresis(candidate, strong):
    """Candidates 8-connected to a strong pixel through candidates."""
    height, width = candidate.shape
    edges = strong.copy()
    stack = np.empty((height * width, 2), dtype=np.int64)
    top = 0
    for i in range(height):
        for j in range(width):
            if strong[i, j]:
                stack[top, 0] = i
                stack[top, 1] = j
                top += 1
    while top > 0:
        top -= 1
        i = stack[top, 0]
        j = stack[top, 1]
        for di in range(-1, 2):
            for dj in range(-1, 2):
                a = i + di
                b = j + dj
                if 0 <= a < height and 0 <= b < width and candidate[a, b] and not edges[a, b]:
                    edges[a, b] = True
                    stack[top, 0] = a
                    stack[top, 1] = b
                    top += 1
    return edges


_HV = np.float32(1.0)
_DIAG = np.float32(1.4)
_LONG = np.float32(2.1969)
_FAR = np.float32(1e20)


@njit  # the chamfer passes are sequential along each row: without numba they run as plain loops
def _distance_5x5(source):
    height, width = source.shape
    temp = np.full((height + 4, width + 4), _FAR, dtype=np.float32)
    for i in range(height):
        r = i + 2
        for j in range(width):
            c = j + 2
            if source[i, j] == 0:
                temp[r, c] = 0
            else:
                t0 = temp[r - 2, c - 1] + _LONG
                t0 = min(t0, temp[r - 2, c + 1] + _LONG)
                t0 = min(t0, temp[r - 1, c - 2] + _LONG)
                t0 = min(t0, temp[r - 1, c - 1] + _DIAG)
                t0 = min(t0, temp[r - 1, c] + _HV)
                t0 = min(t0, temp[r - 1, c + 1] + _DIAG)
                t0 = min(t0, temp[r - 1, c + 2] + _LONG)
                t0 = min(t0, temp[r, c - 1] + _HV)
                temp[r, c] = t0
    for i in range(height - 1, -1, -1):
        r = i + 2
        for j in range(width - 1, -1, -1):
            c = j + 2
            t0 = temp[r, c]
            if t0 > _HV:
                t0 = min(t0, temp[r + 2, c + 1] + _LONG)
                t0 = min(t0, temp[r + 2, c - 1] + _LONG)
                t0 = min(t0, temp[r + 1, c + 2] + _LONG)
                t0 = min(t0, temp[r + 1, c + 1] + _DIAG)
                t0 = min(t0, temp[r + 1, c] + _HV)
                t0 = min(t0, temp[r + 1, c - 1] + _DIAG)
                t0 = min(t0, temp[r + 1, c - 2] + _LONG)
                t0 = min(t0, temp[r, c + 1] + _HV)
                temp[r, c] = t0
    return temp[2 : height + 2, 2 : width + 2].copy()


def distance_transform(image: np.ndarray) -> np.ndarray:
    """OpenCV ``distanceTransform(image, DIST_L2, 5)`` as the opencv-python wheels compute it (through Intel
    IPP): chamfer distances with steps 1, 1.4 and 2.1969 added in float32, to the nearest zero pixel."""
    return _distance_5x5(np.ascontiguousarray(image))


def equalize_hist(image: np.ndarray) -> np.ndarray:
    """OpenCV ``equalizeHist`` of an 8-bit image."""
    histogram = np.bincount(image.ravel(), minlength=256)
    first = int(np.argmax(histogram > 0))
    total = image.size
    if histogram[first] == total:
        return np.full_like(image, first)
    scale = np.float32(255) / np.float32(total - histogram[first])
    lut = np.zeros(256, dtype=np.uint8)
    running = np.cumsum(histogram[first + 1 :])
    lut[first + 1 :] = np.clip(np.rint(running.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    return lut[image]


def filter2d_u8(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """OpenCV ``filter2D(image, CV_8U, kernel)`` of an 8-bit image with a 3×3 integer kernel (correlation,
    borders ``BORDER_REFLECT_101``, saturated)."""
    return np.clip(_sum3x3(image, np.asarray(kernel, dtype=np.int64)), 0, 255).astype(np.uint8)


def blur3_u8(image: np.ndarray) -> np.ndarray:
    """OpenCV ``blur(image, (3, 3))`` of an 8-bit image: the rounded 3×3 mean, borders ``BORDER_REFLECT_101``."""
    return ((2 * _sum3x3(image, _ONES) + 9) // 18).astype(np.uint8)


def _capped_box_levels_numpy(distance, cap):
    from .filters import box3

    capped = np.minimum(distance, np.float32(cap))
    return box3(capped).astype(np.float32).astype(np.uint8)


@njit(fallback=_capped_box_levels_numpy)
def capped_box_levels(distance, cap):
    """``uint8(float32(blur3(min(distance, cap))))``: the distances capped (``cv2.threshold(TRUNC)``), their 3×3
    mean (``BORDER_REFLECT_101``), truncated to 8 bits."""
    height, width = distance.shape
    limit = np.float32(cap)
    out = np.empty((height, width), dtype=np.uint8)
    for i in range(height):
        for j in range(width):
            total = 0.0
            for b in range(-1, 2):
                column = j + b
                if width == 1:
                    column = 0
                elif column < 0:
                    column = -column
                elif column >= width:
                    column = 2 * width - 2 - column
                vertical = 0.0
                for a in range(-1, 2):
                    row = i + a
                    if height == 1:
                        row = 0
                    elif row < 0:
                        row = -row
                    elif row >= height:
                        row = 2 * height - 2 - row
                    vertical += np.float64(min(distance[row, column], limit))
                total += vertical
            out[i, j] = np.uint8(np.float32(total / 9.0))
    return out


def _sum3x3_numpy(values, kernel):
    padded = np.pad(values.astype(np.int64), 1, mode="reflect")
    height, width = values.shape
    total = np.zeros((height, width), dtype=np.int64)
    for a in range(3):
        for b in range(3):
            total += kernel[a, b] * padded[a : a + height, b : b + width]
    return total


@njit(fallback=_sum3x3_numpy)
def _sum3x3(values, kernel):
    """The 3×3 integer correlation of an integer image, borders ``BORDER_REFLECT_101``."""
    height, width = values.shape
    total = np.zeros((height, width), dtype=np.int64)
    for i in range(height):
        for a in range(3):
            row = i + a - 1
            if height == 1:
                row = 0
            elif row < 0:
                row = -row
            elif row >= height:
                row = 2 * height - 2 - row
            for j in range(width):
                for b in range(3):
                    column = j + b - 1
                    if width == 1:
                        column = 0
                    elif column < 0:
                        column = -column
                    elif column >= width:
                        column = 2 * width - 2 - column
                    total[i, j] += kernel[a, b] * np.int64(values[row, column])
    return total


_ONES = np.ones((3, 3), dtype=np.int64)


def emboss_blur(levels: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``blur3_u8(filter2d_u8(levels, kernel))``: OpenCV's 8-bit ``filter2D`` (saturated), then its 8-bit 3×3
    ``blur`` (the rounded mean), both with ``BORDER_REFLECT_101``."""
    embossed = np.clip(_sum3x3(levels, np.asarray(kernel, dtype=np.int64)), 0, 255)
    return ((2 * _sum3x3(embossed, _ONES) + 9) // 18).astype(np.uint8)
