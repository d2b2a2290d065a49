"""Faithful conversion of any Pillow image to RGB (SPEC §4 "Reading").

Transparency is composited over a background colour instead of being dropped, and 16-bit data is scaled
to 8 bits instead of being clipped.

**16 bits, exactly.** Every 16-bit value ``v`` (grey, colour or alpha) becomes ``round(v·255/65535)`` (never
a tie: 65535 is odd); the 8-bit image is then converted like any other (alpha composited over the background
as for 8-bit alpha). Pillow keeps 16-bit grey as it is (modes ``I;16``, ``I;16B``, ``I``), but decodes 16-bit
colour (48-bit RGB, 64-bit RGBA, 16-bit grey with alpha, 16-bit CMYK, premultiplied RGBA) to its *high byte*,
``v >> 8``, which is one level off for a quarter of the values. For those, :func:`sixteen_bit_decodes` names a
second way to decode the same file that yields the *low* bytes (the same filters and layout, the other byte of
each value), and :func:`with_exact_sixteen_bits` joins the two decodes into the exact 8-bit image. A 16-bit
colour key (PNG ``tRNS``) is compared on the 16-bit values; premultiplied colour is divided by its alpha in 16
bits (``min(65535, round(c·65535/a))``, 0 where the alpha is 0) before it is scaled.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image

WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def has_transparency(image: Image.Image) -> bool:
    return image.mode in _ALPHA_MODES or (image.mode in {"P", "L", "RGB"} and "transparency" in image.info)


#: round(v·255/65535) for every 16-bit value v.
_EIGHT_OF_SIXTEEN = ((np.arange(65536, dtype=np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
#: Rows converted at a time (the 16-bit index of a band is all the extra memory the conversion takes).
_BAND_VALUES = 1 << 20
_NATIVE = "L" if sys.byteorder == "little" else "B"


def eight_of_sixteen(values: np.ndarray, low: np.ndarray | None = None) -> np.ndarray:
    """``round(v·255/65535)`` of 16-bit ``values`` (integers, clipped to 0…65535), as uint8; with ``low``,
    ``values`` are the high bytes and ``low`` the low bytes. Made a band of rows at a time, so the only
    memory it takes beyond the result is one band's index."""
    eight = np.empty(values.shape, np.uint8)
    rows = max(1, _BAND_VALUES // max(1, values[0].size))
    for top in range(0, values.shape[0], rows):
        band = slice(top, top + rows)
        if low is not None:
            index = (values[band].astype(np.uint16) << 8) | low[band]
        else:
            index = np.clip(values[band], 0, 65535)
        eight[band] = _EIGHT_OF_SIXTEEN[index]
    return eight


@dataclass(frozen=True)
class SixteenBits:
    """How to decode a file of 16-bit colour exactly: the raw mode of each of two decodes (``high``: None keeps
    Pillow's), and what the two hold (``kind``: "bytes" the high and the low byte of each value; "grey alpha"
    the second holds all four bytes of grey and alpha; "premultiplied" both raw, colour premultiplied by alpha)."""

    high: str | None
    low: str
    kind: str


def _swapped(order: str) -> str:
    return "L" if (_NATIVE if order == "N" else order) == "B" else "B"


def sixteen_bit_decodes(image: Image.Image) -> SixteenBits | None:
    """For an opened, not yet loaded image whose 16-bit colour Pillow decodes to high bytes: the decodes that give
    it exactly (see the module docstring); None for every other image.

    A raw mode ``X;16B`` and its twin ``X;16L`` unfilter and unpack the same data, each keeping one byte of a
    value: decoded with the twin, the file gives its low bytes. PNG grey and alpha (``LA;16B``, opened as RGBA)
    has no twin: it is read as raw ``RGBA``, its 4 bytes as they are. Premultiplied ``RGBa;16`` is read raw twice
    (``RGBA;16``, both orders), and divided by its alpha here, in 16 bits."""
    if len(image.tile) != 1 or image.mode not in ("RGB", "RGBA", "CMYK"):
        return None
    args = image.tile[0].args
    rawmode = args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else None)
    if not isinstance(rawmode, str) or ";16" not in rawmode:
        return None
    base, _, order = rawmode.partition(";16")
    if order not in ("B", "L", "N"):
        return None
    if rawmode == "LA;16B" and image.mode == "RGBA":
        return SixteenBits(None, "RGBA", "grey alpha")
    if base == "RGBa" and image.mode == "RGBA":
        native = _NATIVE if order == "N" else order
        return SixteenBits(f"RGBA;16{native}", f"RGBA;16{_swapped(order)}", "premultiplied")
    if base in ("RGB", "RGBA", "RGBX", "CMYK"):
        return SixteenBits(None, f"{base};16{_swapped(order)}", "bytes")
    return None


def with_exact_sixteen_bits(high: Image.Image, low: Image.Image, decodes: SixteenBits) -> Image.Image:
    """The 8-bit image of 16-bit colour decoded twice as ``decodes`` says (:func:`sixteen_bit_decodes`), each value
    ``round(v·255/65535)``; a 16-bit colour key (PNG ``tRNS``) becomes transparency."""
    if decodes.kind == "grey alpha":
        grey_alpha = np.asarray(low)  # grey high, grey low, alpha high, alpha low
        return Image.fromarray(eight_of_sixteen(grey_alpha[..., 0::2], grey_alpha[..., 1::2]), "LA")
    key = high.info.get("transparency")
    keyed = high.mode == "RGB" and isinstance(key, tuple) and len(key) == 3
    channels = len(high.getbands()) + (1 if keyed else 0)
    eight = np.empty((high.height, high.width, channels), np.uint8)
    rows = max(1, _BAND_VALUES // max(1, high.width * channels))
    for top in range(0, high.height, rows):  # a band at a time: never both decodes as arrays at once
        box = (0, top, high.width, min(high.height, top + rows))
        highs, lows = np.asarray(high.crop(box)), np.asarray(low.crop(box))
        band = eight[box[1] : box[3]]
        if decodes.kind == "premultiplied":
            band[...] = _straight(highs, lows)
            continue
        band[..., : highs.shape[2]] = eight_of_sixteen(highs, lows)
        if keyed:
            keys = [int(value) >> 8 for value in key], [int(value) & 0xFF for value in key]
            transparent = np.all((highs == np.array(keys[0], np.uint8)) & (lows == np.array(keys[1], np.uint8)), axis=2)
            band[..., 3] = np.where(transparent, 0, 255)
    return Image.fromarray(eight, "RGBA" if keyed else high.mode)


def _straight(highs: np.ndarray, lows: np.ndarray) -> np.ndarray:
    """8-bit straight RGBA of 16-bit premultiplied RGBA (high and low bytes): each colour ``c`` becomes
    ``min(65535, round(c·65535/a))`` (0 where ``a`` is 0), then every value ``round(v·255/65535)``."""
    values = (highs.astype(np.int64) << 8) | lows
    alpha = values[..., 3:]
    colour = np.where(alpha > 0, (values[..., :3] * 65535 * 2 + alpha) // np.maximum(2 * alpha, 1), 0)
    values[..., :3] = np.minimum(colour, 65535)
    return _EIGHT_OF_SIXTEEN[values]


def _keyed_grey(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """16-bit grey with a 16-bit colour key (PNG ``tRNS``): the key's pixels transparent, over ``background``."""
    values = np.asarray(image)
    alpha = np.where(values == image.info["transparency"], 0, 255).astype(np.uint8)
    grey_alpha = Image.fromarray(np.dstack([eight_of_sixteen(values), alpha]), "LA")
    return to_rgb(grey_alpha, background)


def to_rgb(image: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """An RGB version of ``image``: alpha over ``background``, 16-bit and float scaled, palettes expanded."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in _SIXTEEN_BIT_MODES and isinstance(image.info.get("transparency"), int):
        return _keyed_grey(image, background)
    if has_transparency(image):
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    if image.mode in _SIXTEEN_BIT_MODES:
        return Image.fromarray(eight_of_sixteen(np.asarray(image)), "L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        eight = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(eight, "L").convert("RGB")
    return image.convert("RGB")


#: Pixels converted at a time by :func:`rgb_array`.
_BAND_PIXELS = 1 << 18


def rgb_array(image: Image.Image, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """``to_rgb(image, background)`` as a writable H×W×3 uint8 array, converted a band of rows at a time.

    Whole, the conversion holds the image, its RGB version (4 bytes a pixel in Pillow; an RGBA composite
    several), that version's bytes and the array at once; a band at a time it holds the image, the array and one
    band. Every conversion of ``to_rgb`` works pixel by pixel, so the bands give the very same values, except
    for float images, whose scale depends on the whole image's maximum: those are converted whole."""
    width, height = image.size
    if image.mode == "F" or width * height <= _BAND_PIXELS:
        return np.array(to_rgb(image, background))
    pixels = np.empty((height, width, 3), np.uint8)
    rows = max(1, _BAND_PIXELS // width)
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        pixels[top : top + band.height] = np.asarray(to_rgb(band, background))
    return pixels


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
