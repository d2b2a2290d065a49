"""Loading a folder of mixing pictures: a plain folder of images, or a set built by ``ipmix fractals build``.

A built set (one with ``ipmix_fractals.json``) is exactly its recorded pictures, each checked against its
recorded SHA-256; a missing or damaged picture, an unfinished build, or an image file the build did not make
is an error that names the command that repairs it. A plain folder is every image below it; a file that looks
like an image but does not decode is an error listing such files, never silently left out.

The full check runs once per run (in the parent); a worker given the parent's fingerprint only reads the
files and compares the fingerprint, which hashes every byte anyway.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .check import inspect_pictures, problems_of, repair_command, stray_images
from .files import HEAD_BYTES, decode_problem, looks_like_image, opens_as_image, read_regular, visible_files
from .record import RecordError, read_lines, read_record

_SHOWN = 5


class MixingSetError(UsageError):
    """A mixing set that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Pictures:
    names: list[str]
    data: list[bytes]
    fingerprint: str


def fingerprint_of(names: list[str], digests: list[bytes]) -> str:
    """SHA-256 over the names and the SHA-256 of each picture, in order: equal fingerprints mix identically."""
    total = hashlib.sha256()
    for name, digest in zip(names, digests):
        total.update(name.encode("utf-8") + b"\0" + digest)
    return total.hexdigest()


def _pictures(names: list[str], data: list[bytes], digests: list[str] | None = None) -> Pictures:
    if digests is None:
        return Pictures(names, data, fingerprint_of(names, [hashlib.sha256(d).digest() for d in data]))
    return Pictures(names, data, fingerprint_of(names, [bytes.fromhex(d) for d in digests]))


def load_pictures(root: Path, full_check: bool = True) -> Pictures:
    """The pictures of the folder ``root``; with ``full_check`` False, the quick load of a worker (the caller
    compares its fingerprint with the parent's and falls back to the full check when they differ)."""
    root = Path(root)
    if not root.is_dir():
        raise MixingSetError(f"mixing set {str(root)!r} is not a folder")
    try:
        record = read_record(root)
    except RecordError as error:
        raise MixingSetError(
            f"{error}; rebuild the set with `ipmix fractals build {root} --overwrite` and the settings it was made "
            f"with, or remove {root / 'ipmix_fractals.json'} to use the folder as plain images"
        ) from None
    with warnings.catch_warnings():  # Pillow's warnings about odd pictures would reach stderr as raw lines
        warnings.simplefilter("ignore")
        loaded = _plain(root, full_check) if record is None else _built(root, record, full_check)
    if not loaded.names:
        raise MixingSetError(
            f"mixing set {str(root)!r} holds no readable images; build one with `ipmix fractals build`"
        )
    return loaded


def _plain(root: Path, full_check: bool) -> Pictures:
    names, data, broken = [], [], []
    for name, path in visible_files(root):
        try:
            content = read_regular(path)
        except OSError as error:
            if full_check and looks_like_image(name, b""):
                broken.append(f"{name} ({error.strerror or error})")
            continue
        if not full_check:
            if opens_as_image(content):
                names.append(name)
                data.append(content)
            continue
        if not (looks_like_image(name, content[:HEAD_BYTES]) or opens_as_image(content)):
            continue  # not a picture (e.g. metadata.jsonl, notes.txt): a mixing folder may hold other files
        problem = pixels_problem(content) or decode_problem(content)
        if problem:
            broken.append(f"{name} ({problem})")
            continue
        names.append(name)
        data.append(content)
    if broken:
        shown = ", ".join(broken[:_SHOWN]) + (f" and {len(broken) - _SHOWN} more" if len(broken) > _SHOWN else "")
        raise MixingSetError(
            f"mixing set {str(root)!r} holds {len(broken)} image file(s) that cannot be decoded: {shown}; "
            "repair them or move them out of the folder (a mixing set never leaves pictures out silently)"
        )
    return _pictures(names, data)


def pixels_problem(data: bytes) -> str | None:
    """Why a picture is over the pixel limit (from its header, before anything is decoded), or None: a mixing
    picture is decoded whole for each draw, so it is held to the limit every image ipmix makes is held to."""
    import io
    import warnings

    from PIL import Image

    from ..imaging.images import pixel_limit

    limit = pixel_limit()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return f"more than twice ipmix's limit of {limit:,} pixels (Pillow's decompression-bomb limit)"
    except Exception:  # noqa: BLE001 - whatever else is wrong is decode_problem's to say
        return None
    if limit is not None and width * height > limit:
        return (
            f"{width}×{height} = {width * height:,} pixels, over ipmix's limit of {limit:,} pixels (Pillow's "
            "decompression-bomb limit): scale it down"
        )
    return None


def _built(root: Path, record, full_check: bool) -> Pictures:
    names = record.names()
    fix = repair_command(root, record)
    if not record.complete:
        raise MixingSetError(f"mixing set {str(root)!r} is an unfinished build; finish it with `{fix}`")
    if not full_check:
        found = inspect_pictures(root, record.config.count, record.digits, {}, keep_bytes=True)
        present = sorted(found.data)
        return _pictures(
            [names[i] for i in present], [found.data[i] for i in present], [found.digests[i] for i in present]
        )
    lines = read_lines(root, record.config, record.digits)
    found = inspect_pictures(root, record.config.count, record.digits, lines, keep_bytes=True)
    older = not any("sha256" in line for line in lines.values())  # an older ipmix recorded no digests
    for index in found.unverified:
        problem = decode_problem(found.data[index]) if older else "has no valid line in metadata.jsonl"
        if problem:
            found.damaged[index] = problem if not older else f"cannot be decoded ({problem})"
    if found.missing or found.damaged:
        raise MixingSetError(
            f"mixing set {str(root)!r} is damaged: {problems_of(found, record.digits)}; repair it with `{fix}`"
        )
    strays = stray_images(root, names)
    if strays:
        shown = ", ".join(strays[:_SHOWN]) + (f" and {len(strays) - _SHOWN} more" if len(strays) > _SHOWN else "")
        raise MixingSetError(
            f"mixing set {str(root)!r} holds image files its build did not make ({shown}); a built set is exactly "
            f"its {len(names)} pictures: move them out, or remove {root / 'ipmix_fractals.json'} to use the "
            "folder as plain images"
        )
    every = range(len(names))
    return _pictures(names, [found.data[i] for i in every], [found.digests[i] for i in every])
