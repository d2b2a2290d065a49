"""Finding, reading and encoding images (SPEC §4: inputs, reading, writing).

Inputs are recognised by content (``sniff_format``) or extension (``format_of_name``); finding them is the
readers' job (``readers/``). Reading applies the EXIF orientation, converts every mode faithfully
(``colour.to_rgb``; 16-bit data exactly, ``colour.sixteen_bit``), refuses decompression bombs and truncated
files with a reason, and never modifies the file.

**The pixel limit** (SPEC §6): no image ipmix makes has more than :func:`pixel_limit` pixels, Pillow's
decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``, 89,478,485), the limit inputs are decoded under. Each
maker computes its result's size first and calls :func:`check_pixels` before allocating anything
(``resize_shorter``, ``centre_crop``; the mixing picture's cover in ``mixsets``): an input that would exceed it
fails with one line naming the limit.

**Encoder limits**: each output format's encoder refuses sides beyond a limit (``SIDE_LIMITS``: libjpeg 65,500,
libwebp 16,383, PNG 2**31 - 1). :meth:`Encoder.check` refuses such an image before the encoder sees it (libjpeg
would print a raw line on stderr), with the way out; anything else an encoder refuses is the input's failure
too.

**Warnings**: Pillow reports odd but readable files (corrupt EXIF, a malformed MPO, palette transparency) with
Python warnings; while ipmix decodes or encodes an image they are silenced (the image is read as Pillow reads
it), except the decompression-bomb warning, which refuses the image.
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
from ..items import one_line
from .colour import WHITE, rgb_array, sixteen_bit_decodes, with_exact_sixteen_bits

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


class TooManyPixels(UnreadableImage):
    """An image ipmix would make (or decode) with more pixels than :func:`pixel_limit`."""


class EncoderLimit(UnreadableImage):
    """An output the chosen encoder cannot store (a side beyond its limit, or refused by it)."""


def pixel_limit() -> int | None:
    """The most pixels an image ipmix decodes or makes may have: Pillow's decompression-bomb limit, read at
    each call (a program using the library may change ``PIL.Image.MAX_IMAGE_PIXELS``; None: no limit)."""
    return Image.MAX_IMAGE_PIXELS


def check_pixels(width: int, height: int, what: str, fix: str = "") -> None:
    """:class:`TooManyPixels` when a ``width``×``height`` image is over :func:`pixel_limit`; ``what`` names the
    image in the message ("--resize 20000 would make it"), ``fix`` says what to do instead."""
    limit = pixel_limit()
    if limit is not None and width * height > limit:
        raise TooManyPixels(
            f"{what} {width}×{height} = {width * height:,} pixels, over ipmix's limit of {limit:,} pixels "
            f"(Pillow's decompression-bomb limit){'; ' + fix if fix else ''}"
        )


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
    before decoding pixels, and reads only as much of the stream as the image needs. 16-bit data is scaled to
    8 bits exactly (``colour.with_exact_sixteen_bits``: Pillow keeps only the high byte of 16-bit colour).
    """
    said: list = []
    try:
        with warnings.catch_warnings(record=True) as said:  # kept, never printed (see the module docstring)
            warnings.simplefilter("always")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                if image.format not in SUPPORTED_FORMATS:
                    raise UnreadableImage(f"unsupported image format {image.format}")
                _check_decoded_size(*image.size)  # the warning filter is process-wide: threads may race on it
                image.seek(0)  # the first frame of an animation
                wide = sixteen_bit_decodes(image)
                if wide is not None and wide.high is not None:
                    image.tile = [_with_rawmode(image.tile[0], wide.high)]
                image.load()
                if wide is not None:
                    exact = with_exact_sixteen_bits(image, _low_bytes(stream, wide.low), wide)
                    return rgb_array(_oriented_as(exact, image), background)
                ImageOps.exif_transpose(image, in_place=True)
                return rgb_array(image, background)
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(
            f"decompression bomb refused: it has more than ipmix's limit of {pixel_limit():,} pixels "
            "(Pillow's decompression-bomb limit)"
        ) from None
    except Image.UnidentifiedImageError:
        raise UnreadableImage(_unidentified(stream, said)) from None
    except MemoryError:
        raise UnreadableImage("not enough memory to decode it") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, IndexError, TypeError) as error:
        raise UnreadableImage(f"unreadable or truncated image: {error}") from None


def _check_decoded_size(width: int, height: int) -> None:
    limit = pixel_limit()
    if limit is not None and width * height > limit:
        raise UnreadableImage(
            f"decompression bomb refused: it is {width}×{height} = {width * height:,} pixels, over ipmix's limit of "
            f"{limit:,} pixels (Pillow's decompression-bomb limit)"
        )


#: EXIF orientation → the transpose that undoes it (``ImageOps.exif_transpose``'s table).
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _low_bytes(stream: BinaryIO, rawmode: str) -> Image.Image:
    """The image in ``stream`` decoded a second time with ``rawmode``: the low bytes of its 16-bit values."""
    stream.seek(0)
    with Image.open(stream) as again:
        again.seek(0)
        again.tile = [_with_rawmode(again.tile[0], rawmode)]
        again.load()
        return again.copy()


def _with_rawmode(tile, rawmode: str):
    return tile._replace(args=rawmode if isinstance(tile.args, str) else (rawmode, *tile.args[1:]))


def _oriented_as(image: Image.Image, source: Image.Image) -> Image.Image:
    """``image`` turned as the EXIF orientation of ``source`` says (pixels are converted one by one, so turning
    before or after the conversion gives the same picture)."""
    method = _ORIENTATIONS.get(source.getexif().get(0x0112))
    return image if method is None else image.transpose(method)


def _unidentified(stream: BinaryIO, said: list) -> str:
    """Why Pillow found no image in ``stream``: empty, not an image, or a damaged file of a format its first
    bytes announce (with what Pillow's reader of that format said, from the warnings it left)."""
    try:
        stream.seek(0)
        head = stream.read(16)
    except (OSError, ValueError):
        head = b"?"
    if head == b"":
        return "empty file"
    announced = sniff_format(head)
    if announced is None:
        return "not an image (content not recognised)"
    reasons = [str(w.message) for w in said if "cannot identify" not in str(w.message)]
    return f"a damaged {announced.upper()} file, not read" + (f": {one_line(reasons[0])[:200]}" if reasons else "")


def shorter_side_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) of a ``width``×``height`` image scaled so its shorter side is ``side``."""
    scale = side / min(height, width)
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def resize_shorter(pixels: np.ndarray, side: int) -> np.ndarray:
    """Scale so the shorter side is ``side`` (antialiased bicubic), keeping the aspect ratio; the size is checked
    against the pixel limit before anything is allocated."""
    height, width = pixels.shape[:2]
    size = shorter_side_size(width, height, side)
    if size == (width, height):
        return pixels
    check_pixels(*size, f"--resize {side} would make it", "choose a smaller --resize")
    return np.asarray(Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.BICUBIC, reducing_gap=None))


def centre_crop(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centred ``width``×``height`` window (offsets rounded down)."""
    full_height, full_width = pixels.shape[:2]
    if full_width < width or full_height < height:
        raise UnreadableImage(
            f"image is {full_width}×{full_height}, smaller than the crop {width}×{height}; add --resize"
        )
    check_pixels(width, height, "--crop would make it", "choose a smaller --crop")
    top, left = (full_height - height) // 2, (full_width - width) // 2
    return np.ascontiguousarray(pixels[top : top + height, left : left + width])


#: The longest side each output format's encoder accepts: libjpeg's JPEG_MAX_DIMENSION (JPEG itself allows
#: 65,535), libwebp's WEBP_MAX_DIMENSION, and PNG's 31-bit sizes.
SIDE_LIMITS = {"jpeg": 65_500, "webp": 16_383, "png": 2**31 - 1}
_FORMAT_NAMES = {"jpeg": "JPEG", "webp": "WebP", "png": "PNG"}


@dataclass(frozen=True)
class Encoder:
    """How outputs are encoded: ``png`` (fast compression), ``jpeg`` or ``webp`` at ``quality``."""

    format: str = "png"
    quality: int = 95

    @property
    def extension(self) -> str:
        return OUTPUT_FORMATS[self.format][1]

    def check(self, width: int, height: int) -> None:
        """:class:`EncoderLimit` when this format cannot store a ``width``×``height`` image (see ``SIDE_LIMITS``),
        with the way out; callers may check as soon as they know an output's size."""
        limit = SIDE_LIMITS[self.format]
        if max(width, height) > limit:
            name = _FORMAT_NAMES[self.format]
            others = " or ".join(
                f"--format {f}" for f in ("png", "jpeg", "webp") if SIDE_LIMITS[f] >= max(width, height)
            )
            raise EncoderLimit(
                f"a {width}×{height} image cannot be written as {name}, which allows at most {limit:,} pixels a "
                f"side; write it with {others}, or make it smaller with --resize or --crop"
            )

    def encode(self, pixels: np.ndarray) -> bytes:
        """The encoded bytes of an H×W×3 uint8 array; :class:`EncoderLimit` when the format cannot store it."""
        height, width = pixels.shape[:2]
        self.check(width, height)
        buffer = io.BytesIO()
        image = Image.fromarray(pixels, "RGB")
        pillow_format = OUTPUT_FORMATS[self.format][0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.format == "png":
                    image.save(buffer, pillow_format, compress_level=PNG_COMPRESSION)
                else:
                    image.save(buffer, pillow_format, quality=self.quality)
        except MemoryError:
            raise EncoderLimit(f"not enough memory to encode it as {_FORMAT_NAMES[self.format]}") from None
        except (OSError, ValueError) as error:
            raise EncoderLimit(
                f"the {_FORMAT_NAMES[self.format]} encoder refused a {width}×{height} image ({error}); "
                "try another --format"
            ) from None
        return buffer.getvalue()
