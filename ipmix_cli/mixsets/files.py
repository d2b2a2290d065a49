"""Reading the files of a mixing-set folder: safely, and telling pictures from other files.

A FIFO or device named ``x.png`` must not hang or flood a run, so files are opened non-blocking and only
regular files are read. A file counts as a picture when its name or its first bytes say it is an image;
such a file that does not decode is reported, never silently left out (which would change the set).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from pathlib import Path

from PIL import Image

from ..items import name_text

#: Names that say "image": the formats ipmix reads, and common ones Pillow may lack a decoder for (listed so
#: that a folder of them is reported rather than silently empty).
IMAGE_EXTENSIONS = frozenset(
    ".png .apng .jpg .jpeg .jpe .jfif .webp .bmp .dib .gif .tif .tiff .ppm .pgm .pbm .pnm .tga .qoi .avif .heic "
    ".heif .jp2 .j2k .jxl .ico .psd".split()
)
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})
HEAD_BYTES = 32


def open_regular(path: Path, follow_links: bool = True) -> int:
    """A read-only descriptor of ``path`` if it is a regular file; OSError otherwise (never blocks)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_regular(path: Path, follow_links: bool = True) -> bytes:
    """The bytes of ``path`` if it is a regular file (see :func:`open_regular`)."""
    with os.fdopen(open_regular(path, follow_links), "rb") as stream:
        return stream.read()


def looks_like_image(name: str, head: bytes) -> bool:
    """Whether a file called ``name`` starting with ``head`` is meant to be an image."""
    if Path(name).suffix.lower() in IMAGE_EXTENSIONS or head.startswith(_SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES


def opens_as_image(data: bytes) -> bool:
    """Whether Pillow recognises ``data`` as an image from its header (cheap: nothing is decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)):
                return True
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def decode_problem(data: bytes) -> str | None:
    """None when ``data`` decodes to an image; otherwise why not, in a few words."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
    except Image.DecompressionBombError:
        return "too many pixels (Pillow's decompression-bomb limit)"
    except Image.UnidentifiedImageError:
        return "not a format Pillow can read"
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        return str(error) or type(error).__name__
    return None


def visible_files(root: Path) -> list[tuple[str, Path]]:
    """(POSIX name relative to ``root``, path) of every regular file below ``root`` that is not hidden, in name
    order. Links to files are followed, as a user's folder may hold them; links to folders are not entered."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():  # follows links; false for FIFOs, devices and folders
            found.append((name_text(os.fsencode(relative.as_posix())), path))  # the same name in every locale
    return sorted(found, key=lambda entry: entry[1])  # path order (by parts: a/b.png before a.png), as always
