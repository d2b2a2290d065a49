"""Faithful conversion of any Pillow image to RGB (SPEC §4 "Reading").

Transparency is composited over a background colour instead of being dropped, and 16-bit data is scaled
to 8 bits instead of being clipped.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def has_transparency(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or (image.mode in {"P", "L", "RGB"} and "transparency" in image.info)


def to_rgb(image: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """An RGB version of ``image``: alpha over ``background``, 16-bit and float scaled, palettes expanded."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if has_transparency(image):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.int64)
        values = np.clip(values, 0, 65535)
        eight = ((values * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(eight, "L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        eight = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(eight, "L").convert("RGB")
    return image.convert("RGB")


def to_rgb_array(image, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """An H×W×3 uint8 array from a Pillow image or an H×W / H×W×1 / H×W×3 / H×W×4 uint8 array."""
    if isinstance(image, Image.Image):
        return np.array(to_rgb(image, background))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H×W, H×W×1, H×W×3 or H×W×4 array, got shape {array.shape}")
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        return np.array(to_rgb(Image.fromarray(array, "RGBA"), background))
    return np.ascontiguousarray(array)
