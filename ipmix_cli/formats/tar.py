"""Listing a tar's members without trusting it: headers only, nothing extracted, every claim checked.

The standard library's ``tarfile`` parses the headers (ustar, pax, GNU), reading through a guard that refuses
any single read larger than ``MAX_HEADER_BYTES`` (a pax or long-name header claiming gigabytes would otherwise
be read into memory). A member is reported with where its data lies in the file; whether that data is all
there (``offset + size`` within the file) is checked here, and a tar that does not end with its end-of-archive
marker (cut short, or damaged part-way) is reported, with every member before the damage still listed.
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 1 << 20
BLOCK = 512
#: WebDataset's rule (``tariterators.base_plus_ext``): the key is the member name up to the first dot of its
#: base name, the field is the rest.
_KEY_AND_FIELD = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")


class TarDamaged(Exception):
    """The tar cannot be read past some point; the message says where and why."""


@dataclass(frozen=True)
class Member:
    field: str  # the name after the key, e.g. "jpg", "seg.png" (lower case, as WebDataset readers see it)
    name: str
    kind: str  # "file", "link", "sparse" or "other" (FIFO, device…); folders are not listed
    offset: int
    size: int
    complete: bool  # all of its data lies within the file
    target: str = ""  # a link's target


@dataclass
class Sample:
    key: str
    members: list[Member] = field(default_factory=list)


class _Guard:
    """The file as ``tarfile`` reads it, refusing oversized single reads (see the module docstring)."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_HEADER_BYTES:
            raise TarDamaged(f"a header claims {size} bytes of header data, more than ipmix reads")
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


def key_and_field(name: str) -> tuple[str, str] | None:
    """A member name's sample key and field, as WebDataset splits it; None for names it skips (no dot in the
    base name, a base name starting with a dot, or a ``__meta__`` name)."""
    match = _KEY_AND_FIELD.match(name)
    if not match:
        return None
    key, member_field = match.group(1), match.group(2)
    base = key.rpartition("/")[2]
    if not base or base.startswith((".", "__")):  # hidden and __meta__ names ("a/.b.jpg" would give key "a/")
        return None
    return key, member_field.lower()


def _kind(info: tarfile.TarInfo) -> str | None:
    if info.isdir():
        return None
    if info.issym() or info.islnk():
        return "link"
    if info.issparse():
        return "sparse"
    return "file" if info.isreg() else "other"


def samples(stream) -> tuple[list[Sample], str | None]:
    """The samples of the tar open in ``stream`` (members grouped by key, in the tar's order, adjacent members
    only, as WebDataset groups them), and a description of the damage that ended the listing early, if any."""
    size = os.fstat(stream.fileno()).st_size
    found: list[Sample] = []
    try:
        archive = tarfile.TarFile(fileobj=_Guard(stream), mode="r", encoding="utf-8", errors="surrogateescape")
    except (tarfile.TarError, TarDamaged, OSError, ValueError, EOFError, UnicodeError, OverflowError) as error:
        return found, f"not a readable tar ({error})"
    damage = None
    while True:
        try:
            info = archive.next()
        except (tarfile.TarError, TarDamaged, OSError, ValueError, EOFError, UnicodeError, OverflowError) as error:
            damage = f"the tar is damaged or cut short after byte {archive.offset} ({error})"
            break
        archive.members.clear()  # listed once, here; a huge tar must not pile up TarInfo objects
        if info is None:
            damage = _end_marker(stream, archive.offset, size)
            break
        if info.size < 0:
            damage = f"the tar is damaged at byte {info.offset} (a member of negative size)"
            break
        kind = _kind(info)
        split = key_and_field(info.name)
        if kind is None or split is None:
            continue
        key, member_field = split
        complete = kind != "file" or info.offset_data + info.size <= size
        member = Member(member_field, info.name, kind, info.offset_data, info.size, complete, info.linkname)
        if found and found[-1].key == key:
            found[-1].members.append(member)
        else:
            found.append(Sample(key, [member]))
    return found, damage


def _end_marker(stream, offset: int, size: int) -> str | None:
    """None when the tar ends with its end-of-archive marker (a zero block) at ``offset``; else what is wrong."""
    if offset >= size:
        return f"the tar ends at byte {size} without its end-of-archive marker (cut short?)"
    stream.seek(offset)
    block = stream.read(BLOCK)
    if len(block) == BLOCK and not block.strip(b"\0"):
        return None
    return f"the tar holds damaged data at byte {offset}, where a member or its end should be; nothing after it is read"
