"""Mixing sets (SPEC §1.5): pictures drawn per augmented copy, and the window of each that a copy mixes with.

Each copy draws a picture uniformly and a uniform crop window with its own generator. A set loaded from a
folder keeps each picture's file bytes (a few tens of kB) and decodes a picture only to scale it.

Memory per draw is bounded by the image's pixels, whatever its aspect ratio: the whole scaled picture (the
cover) is made only while it is at most ``WINDOW_FACTOR`` times the image's pixels (or ``FULL_COVER_PIXELS``);
beyond, as for a 2×40000 strip whose cover would be 45000² pixels, only the window is resampled from the
decoded picture (Pillow's ``resize(box=...)``). The draws are the same either way.

A worker caches whole scaled pictures (within a byte budget, 64 MB by default; the built-in set scaled for
224×224 images is 50 MB) only for an image size that recurs, and only while the budget holds at least a
quarter of the set scaled to that size: pictures are drawn uniformly, so a cache of a smaller part would
mostly miss while copying each whole picture. A dataset of one size then decodes and scales each picture
about once per worker. With mixed sizes a scaled picture is almost never used twice: nothing is cached, each
draw decodes and scales its picture in Pillow and only the window becomes an array. Nothing is kept decoded;
instead a picture decoded a second time is kept packed: its raw pixels compressed with zlib at level 1, which
decode three times faster than a PNG (0.25 against 0.72 ms at 256×256) and take no more room for procedural
pictures (the built-in set: 8.4 MB against 9.6 MB of PNG), within ``PACKED_BYTES`` (pictures past it, and
those whose packed pixels would take more than twice their file, such as JPEG photographs, are decoded from
their files each time; each picture is compressed at most once). A worker so holds the set's file bytes,
its packed pictures, at most one budget of scaled pictures, and the transient pictures of the draw in hand,
however many sizes its images have.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import threading
import warnings
import zlib
from collections import OrderedDict
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

import numpy as np
from PIL import Image

from ..engine import compiled
from ..imaging.colour import to_rgb
from ..imaging.images import check_pixels
from .loading import MixingSetError, fingerprint_of, load_pictures

__all__ = ["COVER_RATIO", "MixingSet", "MixingSetError", "cover_size"]

#: The mixing picture covers the image with its limiting side at this multiple of the image's, as
#: (numerator, denominator). Callers pass the ratio of the variant in use (``IPMixConfig.cover_ratio``:
#: 36/32 for cifar, 256/224 for imagenet); this default is the cifar one.
COVER_RATIO = (36, 32)
DEFAULT_CACHE_BYTES = 64 * 2**20
#: A draw makes the whole scaled picture only while it has at most this many times the image's pixels …
WINDOW_FACTOR = 4
#: … or at most this many pixels (12 MB as RGB), so that small images of any shape keep the exact full path.
FULL_COVER_PIXELS = 2**22
#: Bytes of packed pictures a set keeps (see the module docstring): all of the built-in set's 8.4 MB.
PACKED_BYTES = 32 * 2**20
#: Image sizes remembered for the recurrence count (a bounded number: mixed sizes must not grow memory).
_SIZES_REMEMBERED = 256


class MixingSet:
    """An ordered collection of pictures (RGB arrays, or encoded image files) with a fingerprint."""

    def __init__(
        self,
        pictures: list,
        names: list[str],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        fingerprint: str | None = None,
    ):
        if not pictures:
            raise MixingSetError("a mixing set needs at least one picture")
        if len(names) != len(pictures):
            raise MixingSetError("a mixing set needs one name per picture")
        for name, picture in zip(names, pictures):
            if isinstance(picture, bytes):
                continue
            if (
                not isinstance(picture, np.ndarray)
                or picture.dtype != np.uint8
                or picture.ndim != 3
                or picture.shape[2] != 3
            ):
                raise MixingSetError(f"mixing picture {name!r} is not an H×W×3 uint8 array or encoded image")
        self.pictures = pictures
        self.names = names
        self.cache_bytes = cache_bytes
        self._fingerprint = fingerprint
        self._scaled = _ByteBudgetCache(cache_bytes, _array_bytes)  # by (index, width, height)
        self._draws_by_size = _RecurrenceCounter(_SIZES_REMEMBERED)
        self._sizes: dict[int, tuple[int, int]] = {}
        self._packed = _PackedPictures(PACKED_BYTES)

    @classmethod
    def from_folder(
        cls, folder: str | Path, cache_bytes: int = DEFAULT_CACHE_BYTES, expected_fingerprint: str | None = None
    ) -> "MixingSet":
        """The pictures of ``folder`` (see ``loading``: a built set checked against its digests, or every
        image below a plain folder, hidden files skipped, in path order).

        With ``expected_fingerprint`` (a worker loading the set its parent already checked), the files are
        only read and hashed; the full check runs only if the result differs from what the parent found.
        """
        if expected_fingerprint is not None:
            quick = load_pictures(Path(folder), full_check=False)
            if quick.fingerprint == expected_fingerprint:
                return cls(quick.data, quick.names, cache_bytes, fingerprint=quick.fingerprint)
        loaded = load_pictures(Path(folder), full_check=True)
        return cls(loaded.data, loaded.names, cache_bytes, fingerprint=loaded.fingerprint)

    def __len__(self) -> int:
        return len(self.pictures)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the names and contents: two sets with equal fingerprints mix identically."""
        if self._fingerprint is None:
            digests = []
            for picture in self.pictures:
                if isinstance(picture, bytes):
                    digests.append(hashlib.sha256(picture).digest())
                else:
                    digests.append(repr(picture.shape).encode() + np.ascontiguousarray(picture).tobytes())
            self._fingerprint = fingerprint_of(self.names, digests)
        return self._fingerprint

    def picture(self, index: int) -> np.ndarray:
        """Picture ``index`` as an RGB array (decoded on each call for file-backed sets)."""
        picture = self.pictures[index]
        return np.array(self._decoded(index)) if isinstance(picture, bytes) else picture

    def _decoded(self, index: int, pack: bool = True) -> Image.Image:
        """Picture ``index`` as a Pillow RGB image (a new one on each call: from its packed pixels once it has
        been decoded twice, else from its file bytes). ``pack`` False: the caller caches what it makes of the
        picture, so this decode is not offered for packing (it would be compressed and never used)."""
        picture = self.pictures[index]
        if not isinstance(picture, bytes):
            return Image.fromarray(picture, "RGB")
        image = self._packed.get(index)
        if image is not None:
            return image
        try:
            image = _open_rgb(picture)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise MixingSetError(
                f"mixing picture {self.names[index]!r} has more pixels than ipmix's limit ({_limit_words()})"
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise MixingSetError(f"mixing picture {self.names[index]!r} cannot be decoded: {error}") from None
        if pack:
            self._packed.offer(index, image, len(picture))
        return image

    def draw(
        self, rng: np.random.Generator, height: int, width: int, ratio: tuple[int, int] = COVER_RATIO
    ) -> tuple[str, np.ndarray, list[int], list[int]]:
        """Draw a picture and a crop window: its name, a read-only H×W×3 array, [left, top] of the window,
        and [width, height] of the scaled picture it was cut from (all a replay needs)."""
        name, window, crop, size = self.draw_deferred(rng, height, width, ratio)
        return name, window(), crop, size

    def draw_deferred(
        self, rng: np.random.Generator, height: int, width: int, ratio: tuple[int, int] = COVER_RATIO
    ) -> tuple[str, Callable[[], np.ndarray], list[int], list[int]]:
        """:meth:`draw`, with the window's pixels left to a callable that makes them on its first call (the
        same draws from ``rng``; a copy whose plan never mixes with the picture never scales it)."""
        index = int(rng.integers(len(self.pictures)))
        size = cover_size(*self.picture_size(index), height, width, ratio)
        top = int(rng.integers(0, size[1] - height + 1))
        left = int(rng.integers(0, size[0] - width + 1))
        window = _Deferred(lambda: self._window(index, size, left, top, height, width))
        return self.names[index], window, [left, top], [size[0], size[1]]

    def window(self, name: str, size: list[int], crop: list[int], height: int, width: int) -> np.ndarray:
        """The mixing pixels a traced copy used: picture ``name`` scaled to ``size`` = [width, height], cut at
        ``crop`` = [left, top] to ``height``×``width`` (the ``mixing_*`` fields of a manifest trace)."""
        if name not in self.names:
            raise MixingSetError(f"mixing picture {name!r} is not in this mixing set")
        left, top = (int(v) for v in crop)
        size = (int(size[0]), int(size[1]))
        if not (0 <= top <= size[1] - height and 0 <= left <= size[0] - width):
            raise MixingSetError(f"crop {crop} of a {size[0]}×{size[1]} picture does not hold {width}×{height}")
        return self._window(self.names.index(name), size, left, top, height, width)

    def _window(self, index: int, size: tuple[int, int], left: int, top: int, height: int, width: int) -> np.ndarray:
        """Picture ``index`` scaled to ``size``, cut at (left, top) to height×width: read-only. The largest
        picture the scaling makes is checked against the pixel limit first (``TooManyPixels``, the input's
        failure)."""
        windowed = size[0] * size[1] > max(WINDOW_FACTOR * height * width, FULL_COVER_PIXELS)
        made = _scaled_extent(size, width, height) if windowed else size
        check_pixels(*made, "its mixing picture, scaled to cover it, would be", "make it smaller with --resize")
        if windowed:
            return _read_only(np.asarray(_resampled_window(self._decoded(index), size, left, top, width, height)))
        scaled = self._scaled.get((index, size))
        if scaled is None and self._worth_caching(size, height, width):
            scaled = self.resized(index, size)
        if scaled is not None:
            return scaled[top : top + height, left : left + width]
        return _read_only(_scaled_window(self._decoded(index), size, left, top, width, height))

    def _worth_caching(self, size: tuple[int, int], height: int, width: int) -> bool:
        """Whether to keep the scaled pictures of this image size: the budget holds a quarter of the set's
        (estimated from this one's ``size``) or more, and the size has been drawn a quarter of the set's length
        of times before (among the most recent sizes)."""
        if len(self) * size[0] * size[1] * 3 > 4 * self.cache_bytes:
            return False
        return self._draws_by_size.recurs((height, width), max(1, len(self) // 4))

    def scaled(self, index: int, height: int, width: int, ratio: tuple[int, int] = COVER_RATIO) -> np.ndarray:
        """Picture ``index`` scaled (bilinear, antialiased) to cover ``height``×``width`` at ``ratio``."""
        picture_height, picture_width = self.picture_size(index)
        return self.resized(index, cover_size(picture_height, picture_width, height, width, ratio))

    def picture_size(self, index: int) -> tuple[int, int]:
        """(height, width) of picture ``index``, from its header once."""
        size = self._sizes.get(index)
        if size is None:
            picture = self.pictures[index]
            if isinstance(picture, bytes):
                try:
                    with _pillow_quiet(), Image.open(io.BytesIO(picture)) as opened:  # reads the header only
                        size = opened.height, opened.width
                except Image.DecompressionBombError:
                    raise MixingSetError(
                        f"mixing picture {self.names[index]!r} has more pixels than ipmix's limit ({_limit_words()})"
                    ) from None
                except (OSError, ValueError, SyntaxError, EOFError) as error:
                    raise MixingSetError(f"mixing picture {self.names[index]!r} cannot be decoded: {error}") from None
            else:
                size = picture.shape[:2]
            self._sizes[index] = size
        return size

    def resized(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """Picture ``index`` scaled (bilinear, antialiased) to ``size`` = (width, height), read-only, cached."""
        key = (index, tuple(size))
        scaled = self._scaled.get(key)
        if scaled is None:
            picture = self._decoded(index, pack=False)  # the scaled picture is cached instead
            scaled = _read_only(_scaled_window(picture, tuple(size), 0, 0, size[0], size[1]))
            self._scaled.put(key, scaled)
        return scaled


def _scaled_window(
    picture: Image.Image, size: tuple[int, int], left: int, top: int, width: int, height: int
) -> np.ndarray:
    """The window (left, top, width, height) of ``picture`` scaled to ``size`` = (width, height) by Pillow's
    bilinear antialiased resize: by the kernels when they are in use (``kernels.resize_window``, Pillow's
    arithmetic bit for bit, making only the window's pixels: about half Pillow's time for a 224×224 window of
    a 252×252 cover), else by Pillow (the whole scaled picture, then cut)."""
    kernels = compiled.active()
    rule = _vertical_first_rule(kernels) if kernels is not None else None
    if rule is None or picture.mode != "RGB":
        whole = picture.resize(tuple(size), Image.Resampling.BILINEAR)
        return np.array(whole.crop((left, top, left + width, top + height)))
    shrink_y, shrink_x = picture.height - size[1], picture.width - size[0]
    vertical_first = rule and shrink_y > 0 and shrink_y > 2 * shrink_x
    out = np.empty((height, width, 3), np.uint8)
    kernels.resize_window(np.asarray(picture), out, size[0], size[1], left, top, vertical_first)
    return out


@functools.lru_cache(maxsize=1)
def _vertical_first_rule(kernels) -> bool | None:
    """Which order of passes the installed Pillow's resize takes: True when it runs the vertical pass first where
    the height shrinks by more than twice what the width does (as Pillow 13 does), False when it always runs the
    horizontal one first (as older Pillows did), None when the kernel matches neither (it is then not used)."""
    probe = np.random.default_rng(44).integers(0, 256, (44, 43, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(probe).resize((187, 32), Image.Resampling.BILINEAR))
    for rule in (True, False):
        made = np.empty((32, 187, 3), np.uint8)
        kernels.resize_window(probe, made, 187, 32, 0, 0, rule)
        if np.array_equal(made, expected):
            return rule
    return None


def _resampled_window(picture: Image.Image, size: tuple[int, int], left: int, top: int, width: int, height: int):
    """The window (left, top, width, height) of ``picture`` scaled to ``size``, without the whole scaled picture.

    The passes are made one at a time, horizontal then vertical (Pillow's order when it enlarges, as the
    covers of long images do), from only the source rows the window needs. Along an axis where the cover is
    at most twice the window (the long side of a strip), the whole extent is resampled with the very
    coefficients of the whole scaled picture and then cut; along the other, only the window's span is, from a
    source box that Pillow holds in single precision. The result equals the cut of the whole scaled picture
    but for that rounding: at most one level, in a small share of the values (see the README's "Choices").
    """
    (x_from, x_to, out_width, cut_left), (y_from, y_to, out_height, cut_top) = (
        _axis_span(picture.width, size[0], left, width),
        _axis_span(picture.height, size[1], top, height),
    )
    reach = max(Fraction(picture.height, size[1]), 1) + 1  # the filter's reach in source rows, and one for rounding
    first = max(0, math.floor(y_from - reach))
    last = min(picture.height, math.ceil(y_to + reach))
    rows = picture.crop((0, first, picture.width, last))  # exact: only the rows the window needs
    across = rows.resize((out_width, last - first), Image.Resampling.BILINEAR, box=(x_from, 0, x_to, last - first))
    down = across.resize(
        (out_width, out_height), Image.Resampling.BILINEAR, box=(0, y_from - first, out_width, y_to - first)
    )
    return down.crop((cut_left, cut_top, cut_left + width, cut_top + height))


def _scaled_extent(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """(width, height) of the largest picture :func:`_resampled_window` makes (see :func:`_axis_span`)."""
    return (size[0] if size[0] <= 2 * width else width), (size[1] if size[1] <= 2 * height else height)


def _axis_span(source: int, scaled: int, start: int, length: int) -> tuple[float, float, int, int]:
    """(source from, source to, pixels to compute, where the window starts in them) along one axis."""
    if scaled <= 2 * length:
        return 0, source, scaled, start  # the whole extent: exactly the whole picture's coefficients
    ratio = Fraction(source, scaled)
    return float(start * ratio), float(min((start + length) * ratio, source)), length, 0


class _Deferred:
    """A value made by ``make`` on the first call, then kept."""

    __slots__ = ("_make", "_value")

    def __init__(self, make: Callable[[], Any]):
        self._make, self._value = make, None

    def __call__(self) -> Any:
        if self._value is None:
            self._value, self._make = self._make(), None
        return self._value


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


class _RecurrenceCounter:
    """How often each of the most recent ``limit`` keys was seen; thread-safe, bounded in memory, and pickled
    empty (counts start afresh in each worker process)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._counts: OrderedDict[Hashable, int] = OrderedDict()
        self._lock = threading.Lock()

    def recurs(self, key: Hashable, times: int) -> bool:
        """Count one more sight of ``key``; whether it had been seen at least ``times`` times before."""
        with self._lock:
            seen = self._counts.pop(key, 0)
            self._counts[key] = seen + 1
            if len(self._counts) > self.limit:
                self._counts.popitem(last=False)
            return seen >= times

    def __getstate__(self):
        return {"limit": self.limit}

    def __setstate__(self, state):
        self.__init__(state["limit"])


class _PackedPictures:
    """Decoded pictures kept as zlib-compressed raw pixels: a picture is packed on its second decode, while the
    packed bytes stay within ``budget``, and then kept (never evicted: packing costs about 1 ms a picture, so
    churning would cost more than it saves). A picture is compressed at most once: one whose packed pixels
    would not fit the budget, or would take more than twice its file's bytes (a JPEG photograph: its decoder
    is faster than inflating several times its bytes), is never offered again. Thread-safe; pickles empty,
    like the caches."""

    def __init__(self, budget: int):
        self.budget = budget
        self.bytes = 0
        self.compressions = 0  # how many pictures were compressed (each at most once)
        self._packed: dict[int, tuple[str, tuple[int, int], bytes]] = {}
        self._seen: set[int] = set()  # indices decoded once: at most the set's length
        self._refused: set[int] = set()
        self._lock = threading.Lock()

    def get(self, index: int) -> Image.Image | None:
        entry = self._packed.get(index)
        if entry is None:
            return None
        mode, size, data = entry
        return Image.frombytes(mode, size, zlib.decompress(data))

    def offer(self, index: int, image: Image.Image, file_bytes: int) -> None:
        """Note a decode of picture ``index`` (whose file has ``file_bytes``); pack it if this is its second
        decode and it is worth keeping."""
        with self._lock:
            if index in self._packed or index in self._refused or self.bytes >= self.budget:
                return
            if index not in self._seen:
                self._seen.add(index)
                return
            self._refused.add(index)  # claimed: no other thread compresses it too
            self.compressions += 1
        data = zlib.compress(image.tobytes(), 1)
        with self._lock:
            if len(data) <= 2 * file_bytes and self.bytes + len(data) <= self.budget:
                self._refused.discard(index)
                self._packed[index] = (image.mode, image.size, data)
                self.bytes += len(data)

    def __len__(self) -> int:
        return len(self._packed)

    def __getstate__(self):
        return {"budget": self.budget}

    def __setstate__(self, state):
        self.__init__(state["budget"])


class _ByteBudgetCache:
    """The most recently used values whose sizes add up to at most ``budget`` bytes (the newest value is kept
    even when it alone is larger). Thread-safe: the threading backend shares one mixing set between threads.
    Pickles empty, so a mixing set sent to workers does not carry its cached pictures along."""

    def __init__(self, budget: int, size_of: Callable[[Any], int]):
        self.budget, self.size_of = budget, size_of
        self.bytes = 0
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if key in self._values:  # another thread made it meanwhile
                return
            self._values[key] = value
            self.bytes += self.size_of(value)
            while self.bytes > self.budget and len(self._values) > 1:
                _, dropped = self._values.popitem(last=False)
                self.bytes -= self.size_of(dropped)

    def __len__(self) -> int:
        return len(self._values)

    def __getstate__(self):
        return {"budget": self.budget, "size_of": self.size_of}

    def __setstate__(self, state):
        self.__init__(state["budget"], state["size_of"])


def _open_rgb(data: bytes) -> Image.Image:
    # no ``with``: to_rgb may return the opened image itself, and an in-memory file needs no closing
    with _pillow_quiet(bombs="error"):
        opened = Image.open(io.BytesIO(data))
        opened.load()
        return to_rgb(opened)


@contextmanager
def _pillow_quiet(bombs: str = "ignore") -> Iterator[None]:
    """Pillow's warnings silenced (they would reach stderr as raw lines); the decompression-bomb warning
    ``bombs`` ("error": a picture over the pixel limit is refused; the set's loading refuses such pictures
    up front, so this guards sets made in Python)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter(bombs, Image.DecompressionBombWarning)
        yield


def _limit_words() -> str:
    from ..imaging.images import pixel_limit

    limit = pixel_limit()
    return "no limit" if limit is None else f"{limit:,} pixels, Pillow's decompression-bomb limit"


def _array_bytes(array: np.ndarray) -> int:
    return array.nbytes


def cover_size(
    picture_height: int, picture_width: int, height: int, width: int, ratio: tuple[int, int] = COVER_RATIO
) -> tuple[int, int]:
    """(width, height) of the picture scaled so that it covers the image with ``ratio`` × the image's side on
    its limiting side, rounded half up, in exact arithmetic (a 256² picture for a 224² image at 256/224
    is exactly 256², never 255 or 257 through float error).

    Integers only: the scale factor is ``numerator / denominator`` and ``round_half_up(side × factor)`` is
    ``(2 × side × numerator + denominator) // (2 × denominator)``. It runs for every output, where
    ``fractions.Fraction`` cost 45 µs an output under the profiler.
    """
    # the limiting side is the one with the larger image/picture ratio: width/picture_width >= height/picture_height
    if width * picture_height >= height * picture_width:
        numerator, denominator = ratio[0] * width, ratio[1] * picture_width
    else:
        numerator, denominator = ratio[0] * height, ratio[1] * picture_height
    new_width = max(width, (2 * picture_width * numerator + denominator) // (2 * denominator))
    new_height = max(height, (2 * picture_height * numerator + denominator) // (2 * denominator))
    return new_width, new_height
