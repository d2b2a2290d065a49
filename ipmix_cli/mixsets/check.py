"""Checking a built mixing set against its recorded digests: which pictures are intact, missing or damaged.

Used before a built set is loaded (``--mixing-set`` and the built-in set) and by ``ipmix fractals build``
to decide what to re-make. A picture is intact only when it is a regular file (never a link: a built set's
pictures are its own files) whose SHA-256 equals the one recorded for its index.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .files import HEAD_BYTES, looks_like_image, open_regular, read_regular, visible_files
from .record import METADATA_NAME, RECORD_NAME, BuildRecord, identity, picture_name

_SHOWN = 5


@dataclass
class Inspection:
    """The state of each picture of a built set (indices), and the bytes of those that were read."""

    intact: list[int] = field(default_factory=list)
    unverified: list[int] = field(default_factory=list)  # present, but no digest on record (an older ipmix)
    missing: list[int] = field(default_factory=list)
    damaged: dict[int, str] = field(default_factory=dict)  # index → what is wrong
    data: dict[int, bytes] = field(default_factory=dict)
    digests: dict[int, str] = field(default_factory=dict)  # of every picture read

    @property
    def whole(self) -> bool:
        return not (self.missing or self.damaged or self.unverified)


def inspect_pictures(
    folder: Path, count: int, digits: int, lines: dict[int, dict], keep_bytes: bool = False
) -> Inspection:
    """Read pictures 0…count−1 of the set in ``folder`` and compare each with its recorded digest."""
    found = Inspection()
    for index in range(count):
        path = Path(folder) / picture_name(index, digits)
        try:
            data = read_regular(path, follow_links=False)
        except FileNotFoundError:
            found.missing.append(index)
            continue
        except OSError as error:
            found.damaged[index] = f"is not a regular file ({error.strerror or error})"
            continue
        digest = hashlib.sha256(data).hexdigest()
        recorded = lines.get(index, {}).get("sha256")
        if recorded is None:
            found.unverified.append(index)
        elif digest != recorded:
            found.damaged[index] = "differs from its recorded digest"
            continue
        else:
            found.intact.append(index)
        found.digests[index] = digest
        if keep_bytes:
            found.data[index] = data
    return found


def stray_images(folder: Path, names: list[str]) -> list[str]:
    """Files below ``folder`` that look like images but are not among ``names`` (not made by the build)."""
    expected = set(names) | {METADATA_NAME, RECORD_NAME}
    strays = []
    for name, path in visible_files(Path(folder)):
        if name in expected:
            continue
        try:
            with open(open_regular(path), "rb") as stream:
                head = stream.read(HEAD_BYTES)
        except OSError:
            head = b""
        if looks_like_image(name, head):
            strays.append(name)
    return strays


def problems_of(found: Inspection, digits: int, limit: int = _SHOWN) -> str:
    """The first few problems of an inspection in words, e.g. "0003.png is missing, 0007.png differs …"."""
    words = [f"{picture_name(i, digits)} is missing" for i in found.missing]
    words += [f"{picture_name(i, digits)} {reason}" for i, reason in sorted(found.damaged.items())]
    text = ", ".join(words[:limit])
    return text + (f" and {len(words) - limit} more" if len(words) > limit else "")


def repair_command(folder: Path, record: BuildRecord) -> str:
    """The command that repairs (or, for a set made by another generator version, remakes) the set."""
    c = record.config
    command = f"ipmix fractals build {shlex.quote(str(folder))} --count {c.count} --size {c.size} --seed {c.seed}"
    command += f" --kind {c.kind}"
    return command + (" --overwrite" if record.identity() != identity(c) else "")
