"""The six frost photographs of ImageNet-C, found where the user has them; never downloaded.

Frost overlays crops of six photographs that hendrycks/robustness ships (``frost1.png`` … ``frost6.jpg``);
ipmix does not redistribute them. They are looked up, in order, in ``--frost-pictures DIR`` (or the
``frost_pictures`` argument), then in an installed ``imagecorruptions-imaug``, ``imagecorruptions`` or
``imagenet-c`` distribution, through its file list (``importlib.metadata``), without importing the package.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UsageError

FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")
#: The distributions that ship the pictures, in the order they are tried.
DISTRIBUTIONS = ("imagecorruptions-imaug", "imagecorruptions", "imagenet-c")
#: SHA-256 of the reference's six pictures (identical in hendrycks/robustness and the three distributions).
REFERENCE_SHA256 = {
    "frost1.png": "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755",
    "frost2.png": "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137",
    "frost3.png": "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504",
    "frost4.jpg": "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e",
    "frost5.jpg": "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2",
    "frost6.jpg": "1f92b2f48408748085b68dd81d816ef239f42cef3029c25d041fcb6760fb4f25",
}
#: The largest picture ipmix accepts (the reference's largest is 900×600).
MAX_PICTURE_PIXELS = 40_000_000

HOW_TO_GET = (
    "frost needs ImageNet-C's six frost pictures: install them with "
    "'pip install --no-deps imagecorruptions-imaug' (or imagecorruptions, or imagenet-c), "
    "or pass --frost-pictures DIR holding frost1.png, frost2.png, frost3.png, frost4.jpg, frost5.jpg, frost6.jpg"
)


class FrostUnavailable(UsageError):
    """The frost pictures are not to be had; the message says how to get them, in one line."""


class FrostPictures:
    """The six pictures in one folder: sizes without decoding, pixels decoded once per process."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.paths = tuple(self.folder / name for name in FROST_FILES)
        missing = [path.name for path in self.paths if not path.is_file()]
        if missing:
            raise FrostUnavailable(f"{self.folder} lacks {', '.join(missing)}; {HOW_TO_GET}")
        self._sizes = None

    def __repr__(self) -> str:
        return f"FrostPictures({str(self.folder)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, FrostPictures) and other.folder == self.folder

    def __hash__(self) -> int:
        return hash(self.folder)

    def __reduce__(self):  # crosses process boundaries as its folder
        return (FrostPictures, (str(self.folder),))

    def size(self, index: int) -> tuple[int, int]:
        """(rows, columns) of picture ``index`` (0–5)."""
        if self._sizes is None:
            sizes = []
            for path in self.paths:
                with Image.open(path) as picture:
                    width, height = picture.size
                if width * height > MAX_PICTURE_PIXELS:
                    raise FrostUnavailable(f"{path} is {width}×{height}, larger than a frost picture can be")
                sizes.append((height, width))
            self._sizes = tuple(sizes)
        return self._sizes[index]

    def load(self, index: int) -> np.ndarray:
        """Picture ``index`` as an RGB uint8 array (alpha dropped, as ``cv2.imread`` drops it)."""
        self.size(index)  # checks the size before decoding
        return _decode(str(self.paths[index]), os.stat(self.paths[index]).st_mtime_ns)

    def check(self) -> None:
        """Decode every picture once: damaged pictures are refused when a run starts (one line naming the file),
        rather than failing every input's frost outputs."""
        for index, path in enumerate(self.paths):
            try:
                self.load(index)
            except FrostUnavailable:
                raise
            except Exception as error:  # noqa: BLE001 - whatever Pillow says of a file that is not a picture
                raise FrostUnavailable(
                    f"the frost picture {path} cannot be decoded ({type(error).__name__}: {error}); replace it "
                    "with the benchmark's, or point --frost-pictures at a folder of the six"
                ) from None

    def fingerprint(self) -> str:
        """SHA-256 over the six files' SHA-256 digests: what a run records to name the pictures it used."""
        digests = [_sha256(path) for path in self.paths]
        return hashlib.sha256("".join(digests).encode()).hexdigest()

    def is_reference(self) -> bool:
        """Whether these are byte for byte the reference's six pictures."""
        return all(_sha256(path) == REFERENCE_SHA256[path.name] for path in self.paths)


@functools.lru_cache(maxsize=12)
def _decode(path: str, mtime_ns: int) -> np.ndarray:
    with Image.open(path) as picture:
        pixels = np.asarray(picture.convert("RGB")).copy()
    pixels.setflags(write=False)
    return pixels


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=1)
def installed_folder() -> Path | None:
    """The folder of the frost pictures of an installed distribution that ships them, or None."""
    wanted = {_normalise(name): rank for rank, name in enumerate(DISTRIBUTIONS)}
    found: list[tuple[int, Path]] = []
    for distribution in importlib.metadata.distributions():
        name = _normalise(distribution.metadata.get("Name") or "")
        if name not in wanted:
            continue
        folders: dict[Path, set[str]] = {}
        for entry in distribution.files or ():
            parts = Path(str(entry)).parts
            if len(parts) >= 2 and parts[-2] == "frost" and parts[-1] in FROST_FILES:
                located = Path(distribution.locate_file(entry))
                folders.setdefault(located.parent, set()).add(parts[-1])
        for folder, names in folders.items():
            if len(names) == len(FROST_FILES) and all((folder / n).is_file() for n in FROST_FILES):
                found.append((wanted[name], folder))
    return min(found)[1] if found else None


def find_frost_pictures(folder: str | os.PathLike | FrostPictures | None = None) -> FrostPictures:
    """The frost pictures: those in ``folder`` when given, else an installed distribution's.

    Raises :class:`FrostUnavailable` (one line saying how to get them) when there are none.
    """
    if isinstance(folder, FrostPictures):
        return folder
    if folder is not None:
        return FrostPictures(folder)
    installed = installed_folder()
    if installed is None:
        raise FrostUnavailable(HOW_TO_GET)
    return _installed_pictures(installed)


@functools.lru_cache(maxsize=4)
def _installed_pictures(folder: Path) -> FrostPictures:
    return FrostPictures(folder)
