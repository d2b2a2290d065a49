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
    """An H×W×3 uint8 array from a Pillow image or an H×W / H×W×C uint8 array (see :func:`channels_to_rgb`)."""
    if isinstance(image, Image.Image):
        return np.array(to_rgb(image, background))
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"arrays must be uint8, got {array.dtype}")
    return channels_to_rgb(array, background)


#: Channel counts of an H×W×C array: grey, grey with alpha, RGB, RGBA (Pillow's L, LA, RGB, RGBA).
CHANNEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def check_channels(shape: tuple[int, ...], layout: str = "H×W×C") -> int | None:
    """The channel count of an image of ``shape`` (None for H×W); a clear error for any other shape."""
    if len(shape) == 2:
        return None
    channels = shape[0] if layout == "C×H×W" else shape[-1]
    if len(shape) != 3 or channels not in CHANNEL_MODES:
        hint = " (a C×H×W array? use array.transpose(1, 2, 0))" if layout == "H×W×C" else ""
        hint = " (an H×W×C tensor? use tensor.permute(2, 0, 1))" if layout == "C×H×W" else hint
        raise ValueError(f"expected an H×W or {layout} image with C in 1, 2, 3, 4, got shape {tuple(shape)}{hint}")
    return channels


def channels_to_rgb(pixels: np.ndarray, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """H×W×3 uint8 from an H×W or H×W×C uint8 array: grey (C = 1) repeated in the three channels, alpha
    (C = 2 or 4) composited over ``background`` as :func:`to_rgb` does for Pillow images."""
    channels = check_channels(pixels.shape)
    if channels is None:
        pixels = pixels[..., None]
    if channels in (None, 1):
        return np.repeat(pixels, 3, axis=2)
    if channels in (2, 4):
        return np.array(to_rgb(Image.fromarray(np.ascontiguousarray(pixels), CHANNEL_MODES[channels]), background))
    return np.ascontiguousarray(pixels)


def rgb_to_channels(rgb: np.ndarray, channels: int | None) -> np.ndarray:
    """An H×W×3 uint8 image in the layout :func:`channels_to_rgb` took it from (``channels`` None for H×W):
    grey by Pillow's L conversion (ITU-R 601-2 luma, exact for an image whose three channels are equal) and
    alpha fully opaque, since the transparency was composited before."""
    if channels == 3:
        return rgb
    colour = rgb if channels == 4 else np.array(Image.fromarray(rgb, "RGB").convert("L"))
    if channels is None:
        return colour
    if channels == 1:
        return colour[..., None]
    opaque = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([colour if channels == 4 else colour[..., None], opaque], axis=2)
