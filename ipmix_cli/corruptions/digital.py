"""Digital: contrast, brightness, saturate, elastic transform, pixelate and JPEG compression."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from . import pointwise
from ._compiled import njit
from .common import as_float, draw_seed, field_generator
from .filters import fold_reflect101, fold_symmetric, gaussian, to_uint8


def contrast(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """``(x - mean) · c + mean``, the mean per channel over the image."""
    x = as_float(image)
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return pointwise.contrast(x, means, setting.values["factor"])


def brightness(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """HSV value ``+ c`` (clipped), through scikit-image's ``rgb2hsv``/``hsv2rgb``."""
    return _hsv_adjust(as_float(image), 1.0, 0.0, setting.values["shift"])


def saturate(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """HSV saturation ``· a + b`` (clipped). As in the reference, grey pixels (hue 0) turn red when ``b > 0``."""
    return _hsv_adjust(as_float(image), setting.values["factor"], setting.values["shift"], 0.0)


def _hsv_adjust_numpy(x, factor, shift, value_shift):
    hsv = rgb2hsv(x)
    if factor != 1.0 or shift != 0.0:
        hsv[..., 1] = np.clip(hsv[..., 1] * factor + shift, 0, 1)
    if value_shift != 0.0:
        hsv[..., 2] = np.clip(hsv[..., 2] + value_shift, 0, 1)
    return to_uint8(hsv2rgb(hsv))


@njit(fallback=_hsv_adjust_numpy)
def _hsv_adjust(x, factor, shift, value_shift):
    """rgb2hsv, saturation · factor + shift and value + value_shift (each clipped), hsv2rgb, to 8 bits: per
    pixel, with scikit-image's operations in its order."""
    height, width = x.shape[:2]
    out = np.empty((height, width, 3), dtype=np.uint8)
    change_s = factor != 1.0 or shift != 0.0
    change_v = value_shift != 0.0
    for i in range(height):
        for j in range(width):
            r = x[i, j, 0]
            g = x[i, j, 1]
            b = x[i, j, 2]
            v = max(r, g, b)
            delta = v - min(r, g, b)
            if delta == 0.0:
                s = 0.0
                h = 0.0
            else:
                s = delta / v
                h = 0.0
                if r == v:
                    h = (g - b) / delta
                if g == v:
                    h = 2.0 + (b - r) / delta
                if b == v:
                    h = 4.0 + (r - g) / delta
                h = (h / 6.0) % 1.0
            if change_s:
                s = min(max(s * factor + shift, 0.0), 1.0)
            if change_v:
                v = min(max(v + value_shift, 0.0), 1.0)
            hi = np.floor(h * 6)
            f = h * 6 - hi
            p = v * (1 - s)
            q = v * (1 - f * s)
            t = v * (1 - (1 - f) * s)
            sector = int(hi) % 6
            if sector == 0:
                rgb = (v, t, p)
            elif sector == 1:
                rgb = (q, v, p)
            elif sector == 2:
                rgb = (p, v, t)
            elif sector == 3:
                rgb = (p, q, v)
            elif sector == 4:
                rgb = (t, p, v)
            else:
                rgb = (v, p, q)
            for c in range(3):
                out[i, j, c] = np.uint8(min(max(rgb[c], 0.0), 1.0) * 255)
    return out


def rgb2hsv(rgb: np.ndarray) -> np.ndarray:
    """scikit-image's ``rgb2hsv`` of a float H×W×3 image, operation for operation (ties of the largest channel
    go to blue, then green)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    delta = v - rgb.min(-1)
    flat = delta == 0.0
    safe = np.where(flat, 1.0, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(flat, 0.0, delta / v)
    h = np.where(r == v, (g - b) / safe, 0.0)
    h = np.where(g == v, 2.0 + (b - r) / safe, h)
    h = np.where(b == v, 4.0 + (r - g) / safe, h)
    h = (h / 6.0) % 1.0
    h[flat] = 0.0
    return np.stack([h, s, v], axis=-1)


def hsv2rgb(hsv: np.ndarray) -> np.ndarray:
    """scikit-image's ``hsv2rgb``, operation for operation."""
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hi = np.floor(h * 6)
    f = h * 6 - hi
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    sector = hi.astype(np.uint8) % 6
    choices = (
        (v, t, p),
        (q, v, p),
        (p, v, t),
        (p, q, v),
        (t, p, v),
        (v, p, q),
    )
    out = np.empty(hsv.shape)
    for channel in range(3):
        out[..., channel] = np.choose(sector, [choice[channel] for choice in choices])
    return out


def jpeg_compression(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """Pillow's JPEG at ``quality`` (4:2:0), decoded again."""
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, "JPEG", quality=setting.values["quality"])
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


def pixelate(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """Pillow ``BOX`` down to (``width``, ``height``), then ``BOX`` back up."""
    v = setting.values
    height, width = image.shape[:2]
    if (v["height"], v["width"]) == (height, width):
        return image.copy()
    picture = Image.fromarray(image, "RGB")
    small = picture.resize((v["width"], v["height"]), Image.Resampling.BOX)
    return np.asarray(small.resize((width, height), Image.Resampling.BOX)).copy()


# --- elastic transform ----------------------------------------------------------------------------------------


def sample_elastic(rng: np.random.Generator, setting) -> dict:
    """The affine jitter of the three control points (x, y each), U(-affine, affine) as float32, and a seed
    for the two displacement fields."""
    affine = setting.values["affine"]
    jitter = rng.uniform(-affine, affine, size=(3, 2)).astype(np.float32)
    return {"jitter": [[float(value) for value in row] for row in jitter], "seed": draw_seed(rng)}


def elastic_transform(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """A random affine warp (OpenCV ``warpAffine``, bilinear, ``BORDER_REFLECT_101``) of three control points
    around the centre, then a smooth random displacement (uniform noise blurred by ``sigma`` with a symmetric
    border and truncated at 3 sigma, times ``alpha``) sampled bilinearly with a symmetric border (scipy
    ``map_coordinates(order=1, mode='reflect')``). Fields: the H×W uniforms of dx, then of dy."""
    v = setting.values
    height, width = image.shape[:2]
    x = image.astype(np.float32) / np.float32(255)
    matrix = _affine_matrix(height, width, np.array(draws["jitter"], dtype=np.float32))
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    warped = _warp(x, inverse, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.float32), 0)
    generator = field_generator(draws["seed"])
    dx = gaussian(generator.uniform(-1, 1, size=(height, width)), v["sigma"], "symmetric", 3.0) * v["alpha"]
    dy = gaussian(generator.uniform(-1, 1, size=(height, width)), v["sigma"], "symmetric", 3.0) * v["alpha"]
    dx = np.ascontiguousarray(dx, dtype=np.float32)
    dy = np.ascontiguousarray(dy, dtype=np.float32)
    return to_uint8(_warp(warped, np.zeros((2, 3)), dx, dy, 1))


def _affine_matrix(height: int, width: int, jitter: np.ndarray) -> np.ndarray:
    """OpenCV ``getAffineTransform(points, points + jitter)`` for the reference's three control points, with
    the centre at (x, y) = (W // 2, H // 2) (the reference writes (H // 2, W // 2): the same for its square
    images) and the points ``min(H, W) // 3`` (at least 1) from it."""
    centre = np.float32([width, height]) // 2
    half = np.float32(max(1, min(height, width) // 3))  # at least 1: a triangle, even for a 2×2 image
    points = np.float32([centre + half, [centre[0] + half, centre[1] - half], centre - half])
    moved = points + jitter
    a = np.zeros((6, 6))
    b = np.zeros(6)
    for i in range(3):
        a[2 * i, 0:3] = [points[i, 0], points[i, 1], 1.0]
        a[2 * i + 1, 3:6] = [points[i, 0], points[i, 1], 1.0]
        b[2 * i], b[2 * i + 1] = moved[i, 0], moved[i, 1]
    return np.linalg.solve(a, b).reshape(2, 3)


def _warp_numpy(x, inverse, dx, dy, displace):
    height, width = x.shape[:2]
    columns, rows = np.meshgrid(np.arange(width), np.arange(height))
    if displace:  # scipy map_coordinates at (row + dy, column + dx), symmetric border
        sy = rows + dy.astype(np.float64)
        sx = columns + dx.astype(np.float64)
        fold = fold_symmetric
    else:  # OpenCV warpAffine: dst(p) = src(inverse · p), BORDER_REFLECT_101
        sx = inverse[0, 0] * columns + inverse[0, 1] * rows + inverse[0, 2]
        sy = inverse[1, 0] * columns + inverse[1, 1] * rows + inverse[1, 2]
        fold = fold_reflect101
    y0 = np.floor(sy)
    x0 = np.floor(sx)
    wy = (sy - y0)[..., None]
    wx = (sx - x0)[..., None]
    y0 = y0.astype(np.int64)
    x0 = x0.astype(np.int64)
    ya, yb = fold(y0, height), fold(y0 + 1, height)
    xa, xb = fold(x0, width), fold(x0 + 1, width)
    source = x.astype(np.float64)
    top = source[ya, xa] * (1.0 - wx) + source[ya, xb] * wx
    bottom = source[yb, xa] * (1.0 - wx) + source[yb, xb] * wx
    return (top * (1.0 - wy) + bottom * wy).astype(np.float32)


@njit(fallback=_warp_numpy)
def _warp(x, inverse, dx, dy, displace):
    """Bilinear resampling of ``x``: at ``inverse · (column, row)`` with OpenCV's ``BORDER_REFLECT_101``
    (``displace`` 0: ``warpAffine``), or at ``(row + dy, column + dx)`` with a symmetric border (``displace``
    1: scipy's ``map_coordinates(order=1, mode='reflect')``)."""
    height, width, depth = x.shape
    out = np.empty((height, width, depth), dtype=np.float32)
    for i in range(height):
        for j in range(width):
            if displace:
                sy = i + np.float64(dy[i, j])
                sx = j + np.float64(dx[i, j])
            else:
                sx = inverse[0, 0] * j + inverse[0, 1] * i + inverse[0, 2]
                sy = inverse[1, 0] * j + inverse[1, 1] * i + inverse[1, 2]
            fy = np.floor(sy)
            fx = np.floor(sx)
            wy = sy - fy
            wx = sx - fx
            ya = np.int64(fy)
            yb = ya + 1
            xa = np.int64(fx)
            xb = xa + 1
            if ya >= 0 and xa >= 0 and yb < height and xb < width:
                pass  # inside: no border to fold
            elif displace:  # d c b a | a b c d, period 2n
                ya %= 2 * height
                ya = 2 * height - 1 - ya if ya >= height else ya
                yb %= 2 * height
                yb = 2 * height - 1 - yb if yb >= height else yb
                xa %= 2 * width
                xa = 2 * width - 1 - xa if xa >= width else xa
                xb %= 2 * width
                xb = 2 * width - 1 - xb if xb >= width else xb
            else:  # d c b | a b c d (BORDER_REFLECT_101), period 2n - 2
                ya = 0 if height == 1 else ya % (2 * height - 2)
                ya = 2 * height - 2 - ya if ya >= height else ya
                yb = 0 if height == 1 else yb % (2 * height - 2)
                yb = 2 * height - 2 - yb if yb >= height else yb
                xa = 0 if width == 1 else xa % (2 * width - 2)
                xa = 2 * width - 2 - xa if xa >= width else xa
                xb = 0 if width == 1 else xb % (2 * width - 2)
                xb = 2 * width - 2 - xb if xb >= width else xb
            for c in range(depth):
                top = np.float64(x[ya, xa, c]) * (1.0 - wx) + np.float64(x[ya, xb, c]) * wx
                bottom = np.float64(x[yb, xa, c]) * (1.0 - wx) + np.float64(x[yb, xb, c]) * wx
                out[i, j, c] = np.float32(top * (1.0 - wy) + bottom * wy)
    return out
