"""Work items: what a reader finds in IN and a worker turns into outputs.

An item's ``key`` is its identity everywhere: the seed key of SPEC §2 (the POSIX path relative to IN for a
folder; ``<shard>/<sample key>`` for a sample of a WebDataset or Parquet shard), the manifest's ``source``, and
the order of the manifest. Items are small and picklable: they carry where the image is, never its bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    key: str
    label: str | int | None
    stem: str  # the outputs' name without suffix, relative to OUT (files format): e.g. "cats/tabby"
    hint: str | None  # the input's image format by extension or signature ("jpeg", "png", ...), if known
    where: tuple = ()  # where the reader finds the image (reader-specific integers, see ``inputs.Inputs``)
    meta: dict = field(default_factory=dict)  # the input's other fields, passed through to its records
    split: str | None = None  # the split IN's layout puts it in (train, validation, test), if any
    identity: tuple = ()  # (size, modification time in ns) of the file holding it when the run was planned


@dataclass(frozen=True)
class Failure:
    """An input that produced no outputs, and why (the message a user reads)."""

    key: str
    error: str

    def to_dict(self) -> dict:
        return {"source": self.key, "error": self.error}


def stem_of(key: str) -> str:
    """``key`` without its extension: the stem its output names are built from (``cats/tabby.jpg`` → ``cats/tabby``)."""
    folder, _, name = key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return f"{folder}/{stem}" if folder else stem


def stem_digest(stem: str) -> int:
    """An 8-byte digest of an output stem, to find inputs whose outputs would share names among many."""
    return int.from_bytes(hashlib.blake2b(name_bytes(stem), digest_size=8).digest(), "big")


def name_bytes(name: str) -> bytes:
    """The bytes a name ipmix holds as text stands for (a key, an output name): its UTF-8, and the original bytes
    of a name that is not valid UTF-8 (held, as Python does in a UTF-8 locale, as lone surrogates). The same in
    every locale: never ``os.fsencode``, which encodes with the locale's encoding (ASCII under ``LC_ALL=C``)."""
    return name.encode("utf-8", "surrogateescape")


def name_text(raw: bytes) -> str:
    """A name the file system gave as bytes, as ipmix holds it: decoded as UTF-8 whatever the locale, bytes that
    are not UTF-8 kept as lone surrogates (:func:`is_utf8` refuses those)."""
    return raw.decode("utf-8", "surrogateescape")


def path_text(path) -> str:
    """A path as ipmix records and shows it (run records, messages): its bytes decoded as UTF-8 whatever the
    locale, bytes that are not UTF-8 shown as ``\\xNN`` (so the record is valid UTF-8 JSON)."""
    import os

    return printable(name_text(os.fsencode(str(path))))


def printable(name: str) -> str:
    """``name`` as valid UTF-8 for messages and JSON: bytes a file system gave that are not UTF-8 (held by
    Python as lone surrogates) are shown as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_LINE_BREAKING = {code: f"\\u{code:04x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]}
_LINE_BREAKING.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def one_line(text: str) -> str:
    """``text`` for one line of a message: control characters and line separators a file name may hold are
    shown escaped (``\\n``, ``\\u2028``), so a crafted name cannot split a message or forge a line of it."""
    return printable(text).translate(_LINE_BREAKING)


def is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
