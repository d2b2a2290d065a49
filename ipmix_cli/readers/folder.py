"""Reading a folder of image files (the ImageFolder layout): discovery, ``--files-from`` lists, opening.

Discovery walks IN without following linked folders (no cycles, no duplicates), skips hidden files and
folders, and recognises images by extension or, for other names, by their first bytes. Everything that looks
like an input but cannot be one becomes a failure the user sees, never a silent omission or a run that stops:
a link that leads outside IN, a FIFO or device named like an image, a name that is not valid UTF-8.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from ..disk.folder import is_inside
from ..disk.inputs import InputRefused, InputRoot, describe_special
from ..errors import UsageError
from ..imaging.images import format_of_name, sniff_format
from ..items import Failure, Item, is_utf8, printable


class ListError(UsageError):
    """A ``--files-from`` list that cannot be used as a whole (a usage error); the message says where and why."""


def label_of(key: str) -> str | None:
    """The first-level folder of an input (ImageFolder layout); None for files directly in IN."""
    folder, _, _ = key.partition("/")
    return folder if "/" in key else None


def stem_of(key: str) -> str:
    """``key`` without its extension: the stem its output names are built from."""
    folder, _, name = key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return f"{folder}/{stem}" if folder else stem


def folder_item(key: str, hint: str | None = None) -> Item:
    """The work item of the file ``key`` (relative to IN); ``hint`` defaults to its extension's format."""
    return Item(key=key, label=label_of(key), stem=stem_of(key), hint=hint or format_of_name(key), where=(key,))


def _item(key: str, hint: str | None) -> Item:
    return Item(key=key, label=label_of(key), stem=stem_of(key), hint=hint, where=(key,))


def _sniff(path: str) -> str | None:
    """The format announced by the first bytes of the regular file ``path`` (never blocks, never follows)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return sniff_format(os.read(fd, 16))
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass
class Found:
    items: list[Item]
    failures: list[Failure]
    classes: tuple[str, ...] | None = None  # class names the input declares for numeric labels (Parquet)


def discover(root: Path) -> Found:
    """Every input under ``root`` (sorted by key), and the entries that look like inputs but cannot be read."""
    found, failures = walk(root, format_of_name, sniff=True)
    return Found([_item(key, kind) for key, kind in found], failures)


def walk(root: Path, kind_of_name, sniff: bool = False) -> tuple[list[tuple[str, str]], list[Failure]]:
    """(key, kind) of every file under ``root`` whose name ``kind_of_name`` gives a kind (or, with ``sniff``,
    whose first bytes announce an image format), sorted by key, and the entries that look like such files but
    cannot be read (the policy of the module docstring)."""
    base = InputRoot(root).path
    items: list[tuple[str, str]] = []
    failures: list[Failure] = []
    stack = [""]
    while stack:
        prefix = stack.pop()
        try:
            entries = list(os.scandir(base / prefix if prefix else base))
        except OSError as error:
            failures.append(Failure(printable(prefix.rstrip("/")) or ".", f"cannot list this folder: {error.strerror}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            key = prefix + entry.name
            try:
                kind = _classify(entry, base, kind_of_name, sniff)
            except OSError as error:
                failures.append(Failure(printable(key), f"cannot inspect it: {error.strerror}"))
                continue
            if kind == "folder":
                stack.append(key + "/")
            elif kind is None:
                continue
            elif not is_utf8(key):
                failures.append(
                    Failure(printable(key), "its name is not valid UTF-8, which seeds and manifests need: rename it")
                )
            elif isinstance(kind, Failure):
                failures.append(Failure(key, kind.error))
            else:
                items.append((key, kind))
    items.sort()
    failures.sort(key=lambda failure: failure.key)
    return items, failures


def _classify(entry: os.DirEntry, base: Path, kind_of_name, sniff: bool):
    """ "folder", the kind (str; an image format hint, or "" for an image of unknown format), a Failure, or None
    (not an input)."""
    by_name = kind_of_name(entry.name)
    if entry.is_symlink():
        target = Path(os.path.realpath(entry.path))
        if not is_inside(target, base):
            if by_name is None:
                return None
            return Failure("", f"a symbolic link to {printable(str(target))}, outside IN: not read")
        try:
            mode = os.stat(target).st_mode
        except OSError:
            return Failure("", "a broken symbolic link") if by_name else None
        if stat.S_ISDIR(mode):
            return None  # linked folders are not walked: no cycles, no inputs found twice
        if not stat.S_ISREG(mode):
            return Failure("", f"a link to {describe_special(mode)}, not a regular file: not read") if by_name else None
        return by_name or (_sniff(str(target)) if sniff else None)
    if entry.is_dir(follow_symlinks=False):
        return "folder"
    mode = entry.stat(follow_symlinks=False).st_mode
    if not stat.S_ISREG(mode):
        return Failure("", f"{describe_special(mode)}, not a regular file: not read") if by_name else None
    return by_name or (_sniff(entry.path) if sniff else None)


def read_list(root: Path, data: bytes, null_separated: bool = False) -> list[Item]:
    """The inputs a ``--files-from`` list names, unique and sorted.

    An entry is relative to ``root`` (SPEC §4) or absolute inside it. So that ``find in -name '*.jpg' | ipmix
    augment in/ out/ --files-from -`` works as written, a relative entry that names nothing under ``root`` but
    names a file inside ``root`` from the working directory is taken from there. An entry that leads outside
    ``root`` by its spelling is a usage error (the list is wrong); one that leads outside through a symbolic link
    is that input's failure when it is opened (the link policy of discovery). Lines end with a newline (a
    trailing CR is dropped), or with NUL bytes when ``null_separated`` (``find -print0``): the only way to list
    names that contain a newline.
    """
    separator = b"\0" if null_separated else b"\n"
    base = os.path.abspath(root)
    keys: set[str] = set()
    for number, raw in enumerate(data.split(separator), 1):
        if not null_separated:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if b"\0" in raw:
                raise ListError(
                    f"--files-from line {number} holds a NUL byte; for a NUL-separated list (find -print0) add --null"
                )
        try:
            entry = raw.decode("utf-8")
        except UnicodeDecodeError:
            where = f"entry {number}" if null_separated else f"line {number}"
            raise ListError(
                f"--files-from {where} is not valid UTF-8 ({printable(raw.decode('utf-8', 'surrogateescape'))!r}); "
                "ipmix needs UTF-8 names: rename the file"
            ) from None
        if not entry.strip():
            continue
        joined = os.path.normpath(os.path.join(base, entry))
        if not os.path.lexists(joined) and not os.path.isabs(entry):
            from_here = os.path.normpath(os.path.abspath(entry))
            if os.path.lexists(from_here) and from_here.startswith(base + os.sep):
                joined = from_here
        if not joined.startswith(base + os.sep):
            where = f"entry {number}" if null_separated else f"line {number}"
            raise ListError(f"--files-from {where}: {entry!r} is outside IN ({root}); list only files under IN")
        keys.add(Path(os.path.relpath(joined, base)).as_posix())
    return [_item(key, format_of_name(key) or _sniff(os.path.join(base, key))) for key in sorted(keys)]


class FolderReader:
    """Inputs from a folder: planned in the driver, opened in the workers (only inside IN, never blocking)."""

    format = "folder"

    def __init__(self, root: Path, listed: list[Item] | None = None):
        self.root = InputRoot(root)
        self.listed = listed

    def __reduce__(self):
        return FolderReader, (self.root.path, None)  # workers need no plan, only where IN is (resolved once)

    def plan(self) -> Found:
        if self.listed is not None:
            return Found(list(self.listed), [])
        return discover(self.root.given)

    def inputs(self, items: list[Item]) -> Iterator[tuple[Item, "contextmanager[BinaryIO]"]]:
        """Each item with a context manager that opens it (raising :class:`InputRefused` with the reason)."""
        for item in items:
            yield item, self._opened(item.where[0])

    @contextmanager
    def _opened(self, key: str) -> Iterator[BinaryIO]:
        stream = self.root.open(key)
        try:
            yield stream
        finally:
            stream.close()


__all__ = [
    "FolderReader",
    "Found",
    "InputRefused",
    "ListError",
    "discover",
    "folder_item",
    "label_of",
    "read_list",
    "stem_of",
    "walk",
]
