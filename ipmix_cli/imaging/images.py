"""Finding, reading and encoding images (SPEC §4: inputs, reading, writing).

Inputs are recognised by content (``sniff_format``) or extension (``format_of_name``); finding them is the
readers' job (``readers/``). Reading applies the EXIF orientation, converts every mode faithfully
(``colour.to_rgb``), refuses decompression bombs and truncated files with a reason, and never modifies the
file.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ..errors import InputFailure
from .colour import WHITE, to_rgb

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO", "DIB"}
_SIGNATURE_FORMATS = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),  # little endian
    (b"MM\x00*", "tiff"),  # big endian
)
_EXTENSION_FORMATS = {
    **dict.fromkeys(("jpg", "jpeg", "jpe", "jfif"), "jpeg"),
    "png": "png",
    "webp": "webp",
    **dict.fromkeys(("bmp", "dib"), "bmp"),
    **dict.fromkeys(("tif", "tiff"), "tiff"),
    "gif": "gif",
}
OUTPUT_FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
PNG_COMPRESSION = 1  # fast: encoding, not compression ratio, is the budget that matters here
MIN_SIDE = 2


class UnreadableImage(InputFailure):
    """An input that cannot be augmented; the message is the reason reported for it."""


def sniff_format(head: bytes) -> str | None:
    """The image format a file's first bytes announce (``jpeg``, ``png``, ``gif``, ``bmp``, ``tiff``, ``webp``)."""
    for signature, name in _SIGNATURE_FORMATS:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def format_of_name(name: str) -> str | None:
    """The image format an extension names (``jpeg`` for .jpg, .jpeg, .jpe, .jfif), or None."""
    suffix = name.rpartition(".")[2].lower() if "." in name else ""
    return _EXTENSION_FORMATS.get(suffix)


def read_rgb(path: Path, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """The image at ``path`` as an H×W×3 uint8 array, or :class:`UnreadableImage` with the reason."""
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        raise UnreadableImage("no such file") from None
    except OSError as error:
        raise UnreadableImage(f"cannot open it: {error.strerror}") from None
    with stream:
        return decode_rgb(stream, background)


def decode_rgb(stream: BinaryIO, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """The image in the binary ``stream`` as an H×W×3 uint8 array, or :class:`UnreadableImage` with the reason.

    Applies the EXIF orientation, converts every mode faithfully, refuses decompression bombs (Pillow's limit)
    before decoding pixels, and reads only as much of the stream as the image needs.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                if image.format not in SUPPORTED_FORMATS:
                    raise UnreadableImage(f"unsupported image format {image.format}")
                image.seek(0)  # the first frame of an animation
                image.load()
                oriented = ImageOps.exif_transpose(image)
                return np.array(to_rgb(oriented, background))
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnreadableImage(f"decompression bomb refused: {error}") from None
    except Image.UnidentifiedImageError:
        empty = _is_empty(stream)
        raise UnreadableImage("empty file" if empty else "not an image (content not recognised)") from None
    except MemoryError:
        raise UnreadableImage("not enough memory to decode it") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError) as error:
        raise UnreadableImage(f"unreadable or truncated image: {error}") from None


def _is_empty(stream: BinaryIO) -> bool:
    try:
        stream.seek(0)
        return stream.read(1) == b""
    except (OSError, ValueError):
        return False


def resize_shorter(pixels: np.ndarray, side: int) -> np.ndarray:
    """Scale so the shorter side is ``side`` (antialiased bicubic), keeping the aspect ratio."""
    height, width = pixels.shape[:2]
    scale = side / min(height, width)
    size = (max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5)))
    if size == (width, height):
        return pixels
    return np.array(Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BICUBIC, reducing_gap=None))


def centre_crop(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centred ``width``×``height`` window (offsets rounded down)."""
    full_height, full_width = pixels.shape[:2]
    if full_width < width or full_height < height:
        raise UnreadableImage(
            f"image is {full_width}×{full_height}, smaller than the crop {width}×{height}; add --resize"
        )
    top, left = (full_height - height) // 2, (full_width - width) // 2
    return np.ascontiguousarray(pixels[top : top + height, left : left + width])


@dataclass(frozen=True)
class Encoder:
    """How outputs are encoded: ``png`` (fast compression), ``jpeg`` or ``webp`` at ``quality``."""

    format: str = "png"
    quality: int = 95

    @property
    def extension(self) -> str:
        return OUTPUT_FORMATS[self.format][1]

    def encode(self, pixels: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        image = Image.fromarray(pixels, "RGB")
        pillow_format = OUTPUT_FORMATS[self.format][0]
        if self.format == "png":
            image.save(buffer, pillow_format, compress_level=PNG_COMPRESSION)
        else:
            image.save(buffer, pillow_format, quality=self.quality)
        return buffer.getvalue()
