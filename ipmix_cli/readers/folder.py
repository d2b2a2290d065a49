"""Reading a folder of image files (the ImageFolder layout): discovery, labels and splits, lists, opening.

Discovery walks IN without following linked folders (no cycles, no duplicates), skips hidden files and
folders, and recognises images by extension or, for other names, by their first bytes. It visits each folder's
entries in the order that lists the inputs sorted by key (a folder ``a`` as ``a/``), so the inputs come out
sorted with one folder's listing in memory at a time. Everything that looks like an input but cannot be one
becomes a failure the user sees, never a silent omission or a run that stops: a link that leads outside IN, a
FIFO or device named like an image, a name that is not valid UTF-8.

**Labels and splits** (``--labels``): ``folder`` takes an input's first-level folder as its label (torchvision's
``ImageFolder``); ``split-folder`` takes the first-level folder as its split and the next one as its label
(Hugging Face's imagefolder with ``train/``, ``validation/``, ``test/``); ``none`` gives no labels; ``auto``
(the default) is ``split-folder`` when every first-level folder of IN is a split name (``SPLIT_NAMES``: the
names Hugging Face recognises), else ``folder``. Files directly in IN have no label (and no split).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from ..disk.folder import is_inside
from ..disk.inputs import InputRefused, InputRoot, describe_special
from ..errors import UsageError
from ..imaging.images import format_of_name, sniff_format
from ..inputs import InputsBuilder
from ..items import Failure, Item, is_utf8, name_bytes, name_text, one_line, printable, stem_of
from . import Found

LABEL_MODES = ("auto", "folder", "split-folder", "none")
#: First-level folder names taken for splits (Hugging Face's split keywords: ``val`` and ``valid`` load as the
#: ``validation`` split, ``training`` as ``train`` …); the records keep the folder's own name.
SPLIT_NAMES = frozenset({"train", "training", "validation", "valid", "val", "dev", "test", "testing", "eval"})


class ListError(UsageError):
    """A ``--files-from`` list that cannot be used as a whole (a usage error); the message says where and why."""


def label_of(key: str, mode: str = "folder") -> tuple[str | None, str | None]:
    """(split, label) of the input ``key`` under the labels ``mode`` (``auto`` resolved; see the module
    docstring)."""
    parts = key.split("/")
    if mode == "none" or len(parts) == 1:
        return None, None
    if mode == "split-folder":
        return parts[0], parts[1] if len(parts) > 2 else None
    return None, parts[0]


def folder_item(key: str, hint: str | None = None, mode: str = "folder") -> Item:
    """The work item of the file ``key`` (relative to IN); ``hint`` defaults to its extension's format."""
    split, label = label_of(key, mode)
    return Item(key=key, label=label, stem=stem_of(key), hint=hint or format_of_name(key), split=split)


def _sniff(path: str | bytes) -> str | None:
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


def labels_mode(root: Path, mode: str) -> str:
    """``mode`` with ``auto`` resolved by IN's first-level folders (see the module docstring)."""
    if mode != "auto":
        return mode
    try:
        with os.scandir(root) as entries:
            folders = [e.name for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
    except OSError:
        return "folder"
    return "split-folder" if folders and all(name.lower() in SPLIT_NAMES for name in folders) else "folder"


def discover(root: Path, mode: str = "folder") -> Found:
    """Every input under ``root`` (sorted by key), and the entries that look like inputs but cannot be read."""
    builder = InputsBuilder(stem_of)
    failures: list[Failure] = []
    for key, kind, info in entries(root, format_of_name, failures, sniff=True):
        split, label = label_of(key, mode)
        builder.add(key, label, split, kind or None, (info.st_size, info.st_mtime_ns))
    failures.sort(key=lambda failure: failure.key)
    return Found(builder.build(), failures)


def walk(root: Path, kind_of_name, sniff: bool = False) -> tuple[list[tuple[str, str]], list[Failure]]:
    """(key, kind) of every file under ``root`` whose name ``kind_of_name`` gives a kind (or, with ``sniff``,
    whose first bytes announce an image format), sorted by key, and the entries that look like such files but
    cannot be read (the policy of the module docstring)."""
    failures: list[Failure] = []
    found = [(key, kind) for key, kind, _ in entries(root, kind_of_name, failures, sniff)]
    failures.sort(key=lambda failure: failure.key)
    return found, failures


def entries(root: Path, kind_of_name, failures: list[Failure], sniff: bool = False) -> Iterator[tuple]:
    """(key, kind, stat) of the files ``walk`` describes, in key order, one folder listed at a time; entries
    that cannot be inputs are appended to ``failures``. Names are listed as bytes and decoded as UTF-8 whatever
    the locale (``items.name_text``)."""
    base = InputRoot(root).path
    raw_base = os.fsencode(base)
    stack: list[Iterator] = [iter(_listing(raw_base, "", failures))]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        prefix, name, item = entry
        key = prefix + name
        try:
            kind, info = _classify(item, name, base, kind_of_name, sniff)
        except OSError as error:
            failures.append(Failure(printable(key), f"cannot inspect it: {error.strerror}"))
            continue
        if kind == "folder":
            stack.append(iter(_listing(raw_base, key + "/", failures)))
        elif kind is None:
            continue
        elif not is_utf8(key):
            failures.append(
                Failure(printable(key), "its name is not valid UTF-8, which seeds and manifests need: rename it")
            )
        elif isinstance(kind, Failure):
            failures.append(Failure(key, kind.error))
        else:
            yield key, kind, info


def _listing(raw_base: bytes, prefix: str, failures: list[Failure]) -> list[tuple[str, str, os.DirEntry]]:
    """(prefix, name, entry) of the visible entries of the folder ``prefix``, in key order (a folder sorts as its
    name and ``/``)."""
    try:
        with os.scandir(os.path.join(raw_base, name_bytes(prefix)) if prefix else raw_base) as found:
            listed = [(name_text(entry.name), entry) for entry in found if not entry.name.startswith(b".")]
    except OSError as error:
        failures.append(Failure(printable(prefix.rstrip("/")) or ".", f"cannot list this folder: {error.strerror}"))
        return []
    keyed = []
    for name, entry in listed:
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_folder = False
        keyed.append((name + "/" if is_folder else name, name, entry))
    keyed.sort(key=lambda triple: triple[0])
    return [(prefix, name, entry) for _, name, entry in keyed]


def _classify(entry: os.DirEntry, name: str, base: Path, kind_of_name, sniff: bool):
    """("folder" | the kind (an image format hint, or "" for an image of unknown format) | a Failure | None (not an
    input), the file's stat). ``entry`` was listed as bytes; ``name`` is its name as text."""
    by_name = kind_of_name(name)
    if entry.is_symlink():
        real = os.path.realpath(entry.path)  # bytes, as listed
        target = Path(os.fsdecode(real))
        if not is_inside(target, base):
            if by_name is None:
                return None, None
            return Failure("", f"a symbolic link to {printable(str(target))}, outside IN: not read"), None
        try:
            info = os.stat(real)
        except OSError:
            return (Failure("", "a broken symbolic link") if by_name else None), None
        if stat.S_ISDIR(info.st_mode):
            return None, None  # linked folders are not walked: no cycles, no inputs found twice
        if not stat.S_ISREG(info.st_mode):
            if by_name:
                return Failure("", f"a link to {describe_special(info.st_mode)}, not a regular file: not read"), None
            return None, None
        return by_name or (_sniff(real) if sniff else None), info
    if entry.is_dir(follow_symlinks=False):
        return "folder", None
    info = entry.stat(follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        if by_name:
            return Failure("", f"{describe_special(info.st_mode)}, not a regular file: not read"), None
        return None, None
    return by_name or (_sniff(entry.path) if sniff else None), info


#: The longest entry a ``--files-from`` list may hold, in bytes (Linux's PATH_MAX): a list is read as a stream,
#: so ``--files-from /dev/zero`` or a binary file stops at its first overlong entry, not when memory runs out.
MAX_ENTRY_BYTES = 4096
#: … and at most this many blank entries in a row (the bound on an endless list of nothing).
MAX_BLANK_ENTRIES = 4096
_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")  # UTF-16 LE (and UTF-32 LE), UTF-16 BE, UTF-32 BE
#: ``Item.where`` of a listed name that does not exist when the run is planned (``FolderReader.plan``).
_MISSING = "missing"


def read_list(root: Path, data, null_separated: bool = False) -> list[Item]:
    """The inputs a ``--files-from`` list names, unique and sorted.

    ``data`` is the list: a path (``-`` for standard input), a binary stream, or bytes. It is read as a stream,
    one entry at a time, and held only as the set of names it lists: an entry longer than
    :data:`MAX_ENTRY_BYTES`, or more than :data:`MAX_BLANK_ENTRIES` blank entries in a row, is a usage error
    naming its line (a list that repeats names for ever, ``yes a.png``, is read for ever, in bounded memory). A
    UTF-8 byte-order mark at the start (as some editors save) is dropped.

    An entry is relative to ``root`` (SPEC §4) or absolute inside it. So that ``find in -name '*.jpg' | ipmix
    augment in/ out/ --files-from -`` works as written, a relative entry that names nothing under ``root`` but
    names a file inside ``root`` from the working directory is taken from there. An entry that leads outside
    ``root`` by its spelling is a usage error (the list is wrong); one that leads outside through a symbolic link
    is that input's failure when it is opened (the link policy of discovery); one that names nothing is that
    input's failure, "no such file under IN". Lines end with a newline (a trailing CR is dropped), or with NUL
    bytes when ``null_separated`` (``find -print0``): the only way to list names that contain a newline.
    """
    base = os.fsencode(os.path.abspath(root))  # bytes from here on: entries are bytes, whatever the locale
    inside = base.rstrip(b"/") + b"/"
    keys: dict[str, bool] = {}  # key → whether it exists
    word = "entry" if null_separated else "line"
    blanks = 0
    with _list_stream(data) as stream:
        for number, raw in _entries(stream, null_separated):
            try:
                entry = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ListError(
                    f"--files-from {word} {number} is not valid UTF-8 ({_shown(raw)}); ipmix needs UTF-8 names: "
                    "rename the file"
                ) from None
            if not entry.strip():
                blanks += 1
                if blanks > MAX_BLANK_ENTRIES:  # /dev/zero with --null, `yes ''`: an endless list of nothing
                    words = "entries" if null_separated else "lines"
                    raise ListError(
                        f"--files-from {words} {number - blanks + 1}–{number} are all blank: this is not a list "
                        "of file names"
                    )
                continue
            blanks = 0
            joined = os.path.normpath(os.path.join(base, raw))
            exists = _lexists(joined)
            if not exists and not os.path.isabs(raw):
                from_here = os.path.normpath(os.path.abspath(raw))
                if from_here.startswith(inside) and _lexists(from_here):
                    joined, exists = from_here, True
            if joined == base.rstrip(b"/") or joined == base:
                raise ListError(f"--files-from {word} {number}: {_shown(raw)} names IN itself; list files under IN")
            if not joined.startswith(inside):
                raise ListError(
                    f"--files-from {word} {number}: {_shown(raw)} is outside IN ({one_line(str(root))}); list only "
                    "files under IN"
                )
            key = name_text(joined[len(inside) :])
            keys[key] = keys.get(key, False) or exists
    items = []
    for key in sorted(keys):
        if keys[key]:
            items.append(folder_item(key, format_of_name(key) or _sniff(os.path.join(base, name_bytes(key)))))
        else:
            items.append(Item(key=key, label=None, stem=stem_of(key), hint=None, where=(key, _MISSING)))
    return items


def _shown(raw: bytes, most: int = 80) -> str:
    """An entry for a message: on one line, control characters escaped, at most ``most`` characters."""
    text = one_line(name_text(raw))
    return f"'{text if len(text) <= most else text[:most] + '…'}'"


def _lexists(path: bytes) -> bool:
    try:
        os.lstat(path)
        return True
    except OSError:
        return False


@contextmanager
def _list_stream(data) -> Iterator[BinaryIO]:
    """The list ``data`` (bytes, a binary stream, a path, ``-``) as a binary stream; :class:`ListError` when it
    cannot be read."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield io.BytesIO(bytes(data))
        return
    if hasattr(data, "read"):
        yield data
        return
    name = os.fspath(data)
    if name == "-":
        if sys.stdin is None:  # closed when ipmix started (``<&-``): Python then has no sys.stdin
            raise ListError(
                "--files-from -: standard input is closed; send the list to it (e.g. find IN -name '*.jpg' | ipmix "
                "augment … --files-from -) or name a file"
            )
        yield sys.stdin.buffer
        return
    try:
        stream = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise ListError(f"--files-from {one_line(name)}: cannot read it: {_why(error)}") from None
    with stream:
        yield stream


def _why(error: OSError) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "it is a folder"
    return error.strerror or str(error)


def _entries(stream: BinaryIO, null_separated: bool) -> Iterator[tuple[int, bytes]]:
    """(number, bytes) of each entry of the list in ``stream``, read a chunk at a time (see :func:`read_list`)."""
    separator = b"\0" if null_separated else b"\n"
    word = "entry" if null_separated else "line"
    pending, number, start = b"", 0, True
    while True:
        try:
            chunk = stream.read(_CHUNK) or b""
        except OSError as error:
            raise ListError(f"--files-from: the list cannot be read: {_why(error)}") from None
        pending += chunk
        if start:
            if chunk and len(pending) < 4:
                continue  # not yet enough to tell a byte-order mark
            if pending.startswith(_BOM):
                pending = pending[len(_BOM) :]
            elif pending.startswith(_OTHER_BOMS):
                raise ListError(
                    "--files-from: the list is UTF-16 or UTF-32 (it starts with such a byte-order mark); save it "
                    "as UTF-8, e.g. iconv -f UTF-16 -t UTF-8"
                )
            start = False
        *complete, pending = pending.split(separator)
        for raw in complete:
            number += 1
            yield number, _checked(raw, number, null_separated, word)
        if len(pending) > MAX_ENTRY_BYTES or (not null_separated and b"\0" in pending):
            _checked(pending, number + 1, null_separated, word)
        if not chunk:
            if pending:
                yield number + 1, _checked(pending, number + 1, null_separated, word)
            return


def _checked(raw: bytes, number: int, null_separated: bool, word: str) -> bytes:
    """The entry ``raw`` (a trailing CR dropped), or :class:`ListError` when it is too long or holds a NUL."""
    if not null_separated and b"\0" in raw:
        raise ListError(
            f"--files-from line {number} holds a NUL byte; for a NUL-separated list (find -print0) add --null"
        )
    if len(raw) > MAX_ENTRY_BYTES:
        raise ListError(
            f"--files-from {word} {number} is longer than {MAX_ENTRY_BYTES:,} bytes: this is not a list of file "
            "names (one a line; with --null, ended by NUL bytes)"
        )
    return raw[:-1] if not null_separated and raw.endswith(b"\r") else raw


class FolderReader:
    """Inputs from a folder: planned in the driver, opened in the workers (only inside IN, never blocking)."""

    format = "folder"

    def __init__(self, root: Path, listed: list[Item] | None = None, labels: str = "auto"):
        self.root = InputRoot(root)
        self.listed = listed
        if labels not in LABEL_MODES:
            raise UsageError(f"--labels {labels!r}: use one of {', '.join(LABEL_MODES)}")
        self.labels = labels_mode(self.root.given, labels)

    def __reduce__(self):
        # workers need no plan, only where IN is (resolved once) and how labels are read
        return FolderReader, (self.root.path, None, self.labels)

    def plan(self) -> Found:
        if self.listed is None:
            return discover(self.root.given, self.labels)
        builder = InputsBuilder(stem_of)
        missing = []
        for item in self.listed:
            if item.where[1:] == (_MISSING,):
                missing.append(Failure(item.key, "no such file under IN"))
                continue
            split, label = label_of(item.key, self.labels)
            try:
                info = os.stat(os.path.join(os.fsencode(self.root.path), name_bytes(item.key)))
                identity = (info.st_size, info.st_mtime_ns)
            except OSError:
                identity = ()  # opening it will say why
            builder.add(item.key, label, split, item.hint, identity)
        return Found(builder.build(), missing)

    def inputs(self, items: list[Item]) -> Iterator[tuple[Item, "contextmanager[BinaryIO]"]]:
        """Each item with a context manager that opens it (raising :class:`InputRefused` with the reason)."""
        for item in items:
            yield item, self._opened(item.key)

    @contextmanager
    def _opened(self, key: str) -> Iterator[BinaryIO]:
        stream = self.root.open(key)
        try:
            yield stream
        finally:
            stream.close()

    def digest(self, item: Item) -> str:
        """The SHA-256 of the input's bytes now (a re-run compares it with the one recorded)."""
        digest = hashlib.sha256()
        with self.root.open(item.key) as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def vanished(self, key: str) -> bool:
        """Whether an input a run recorded, and this run did not find, is gone from IN: only when IN says so
        (no such file). One still there (left out of a ``--files-from`` list, in a folder that could not be
        listed, unreadable now) or that cannot be looked up (an I/O error) is not: ``--prune`` keeps its
        outputs."""
        try:
            os.lstat(os.path.join(os.fsencode(self.root.path), name_bytes(key)))
        except (FileNotFoundError, NotADirectoryError):
            return True
        except (OSError, ValueError):
            return False
        return False


__all__ = [
    "FolderReader",
    "InputRefused",
    "LABEL_MODES",
    "ListError",
    "SPLIT_NAMES",
    "discover",
    "folder_item",
    "label_of",
    "read_list",
    "stem_of",
    "walk",
]
