"""Finding, reading and encoding images (SPEC §4: inputs, reading, writing).

Inputs are recognised by content: a file counts when its extension is an image extension or its first
bytes carry an image signature, so ``photo.dat`` holding a JPEG is found and ``notes.txt`` is not; a file
named ``.jpg`` that is not an image is found and then reported as unreadable. Reading applies the EXIF
orientation, converts every mode faithfully (``colour.to_rgb``), refuses decompression bombs and
truncated files with a reason, and never modifies the file.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..imaging.colour import WHITE, to_rgb

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".gif"}
SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "MPO", "DIB"}
_SIGNATURES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF, little endian
    b"MM\x00*",  # TIFF, big endian
)
OUTPUT_FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
PNG_COMPRESSION = 1  # fast: encoding, not compression ratio, is the budget that matters here
MIN_SIDE = 2


class UnreadableImage(Exception):
    """An input that cannot be augmented; the message is the reason reported for it."""


def looks_like_image(path: Path) -> bool:
    """By extension, or else by the file's first bytes."""
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as stream:
            head = stream.read(16)
    except OSError:
        return False
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def discover(root: Path) -> list[str]:
    """POSIX paths, relative to ``root``, of every image under it (hidden files and folders skipped), sorted."""
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        base = Path(folder)
        for name in files:
            if name.startswith("."):
                continue
            path = base / name
            if path.is_file() and looks_like_image(path):
                found.append(path.relative_to(root).as_posix())
    found.sort()
    return found


def label_of(rel_path: str) -> str | None:
    """The first-level folder of an input (ImageFolder layout); None for files directly in the root."""
    parts = rel_path.split("/")
    return parts[0] if len(parts) > 1 else None


def read_rgb(path: Path, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """The image at ``path`` as an H×W×3 uint8 array, or :class:`UnreadableImage` with the reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
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
        size = path.stat().st_size if path.exists() else 0
        raise UnreadableImage("empty file" if size == 0 else "not an image (content not recognised)") from None
    except FileNotFoundError:
        raise UnreadableImage("no such file") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise UnreadableImage(f"unreadable or truncated image: {error}") from None


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
