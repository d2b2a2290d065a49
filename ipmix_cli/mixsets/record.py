"""What a built mixing set records about itself, read back without trusting it.

A set made by ``ipmix fractals build`` holds ``ipmix_fractals.json`` (its settings; ``complete`` once whole)
and ``metadata.jsonl`` (one line per picture with the picture's SHA-256). The build itself is a job on the
engine (``jobs.fractals``), whose ledger keeps its progress; this module only reads a set back.

Nothing read here is trusted: a record is validated field by field, a line is kept only when it names the
picture its index gives, and picture names are always made from the index, never taken from a file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UsageError
from .files import open_regular
from .fractals import IFS_POINTS, KINDS

#: Bumped whenever the pictures a (kind, size, seed, index) produces change, so caches are rebuilt.
GENERATOR_VERSION = 1
RECORD_NAME = "ipmix_fractals.json"
METADATA_NAME = "metadata.jsonl"
MIN_SIZE, MAX_SIZE = 8, 4096
MAX_COUNT = 10**8
_MAX_RECORD_BYTES = 2**20
_MAX_LINE_BYTES = 2**20
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: The settings that decide a picture's bytes; ``count`` only decides how many there are.
IDENTITY = ("kind", "size", "seed", "generator_version", "ifs_points")


class BuildError(UsageError):
    """A build that cannot go ahead; the message says why and how to proceed."""


class RecordError(ValueError):
    """A record that is not what ipmix writes (damaged or edited); the message names the file."""


@dataclass(frozen=True)
class BuildConfig:
    count: int
    size: int
    seed: int
    kind: str = "ifs"

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_COUNT:
            raise BuildError(f"count must be between 1 and {MAX_COUNT}, got {self.count}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise BuildError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if self.kind not in KINDS:
            raise BuildError(f"unknown kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.seed < 0:
            raise BuildError(f"seed must be at least 0, got {self.seed}")

    def record(self) -> dict:
        return {**asdict(self), "generator_version": GENERATOR_VERSION, "ifs_points": IFS_POINTS}

    def file_name(self, index: int, digits: int | None = None) -> str:
        return picture_name(index, default_digits(self.count) if digits is None else digits)


def default_digits(count: int) -> int:
    """Digits of the picture numbers of a new set of ``count`` pictures (0000.png … at least)."""
    return max(4, len(str(count - 1)))


def picture_name(index: int, digits: int) -> str:
    """A picture's file name. ``digits`` is fixed when a set is first built, so extending a set past 9999
    pictures neither renames nor changes the pictures it had (10000.png follows 9999.png)."""
    return f"{index:0{digits}d}.png"


@dataclass(frozen=True)
class BuildRecord:
    """A validated ``ipmix_fractals.json``."""

    config: BuildConfig
    generator_version: int
    ifs_points: int
    digits: int
    complete: bool

    def identity(self) -> dict:
        c = self.config
        version, points = self.generator_version, self.ifs_points
        return {"kind": c.kind, "size": c.size, "seed": c.seed, "generator_version": version, "ifs_points": points}

    def names(self) -> list[str]:
        return [picture_name(index, self.digits) for index in range(self.config.count)]

    def describe(self) -> str:
        c = self.config
        return (
            f"kind={c.kind}, count={c.count}, size={c.size}, seed={c.seed}, generator_version={self.generator_version}"
        )


def identity(config: BuildConfig) -> dict:
    """The settings of ``config`` that decide the pictures' bytes, as this version of ipmix makes them."""
    return {k: v for k, v in config.record().items() if k in IDENTITY}


def read_record(folder: Path) -> BuildRecord | None:
    """The record of the set in ``folder``; None when there is none; :class:`RecordError` when it is damaged."""
    path = Path(folder) / RECORD_NAME
    try:
        with os.fdopen(open_regular(path), "rb") as stream:
            data = stream.read(_MAX_RECORD_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RecordError(f"{path} cannot be read: {error.strerror or error}") from None
    try:
        raw = json.loads(data)
        if len(data) > _MAX_RECORD_BYTES or not isinstance(raw, dict):
            raise ValueError("not a record")
        fields = {name: raw[name] for name in ("count", "size", "seed", "generator_version", "ifs_points")}
        if not all(type(value) is int for value in fields.values()) or not isinstance(raw["kind"], str):
            raise ValueError("a setting has the wrong type")
        config = BuildConfig(count=fields["count"], size=fields["size"], seed=fields["seed"], kind=raw["kind"])
        digits = raw.get("digits", default_digits(config.count))
        if type(digits) is not int or not default_digits(1) <= digits <= len(str(MAX_COUNT)):
            raise ValueError("bad digits")
        complete = raw.get("complete")
        if not isinstance(complete, bool):
            raise ValueError("bad completion flag")
    except (ValueError, KeyError, TypeError, BuildError, UnicodeDecodeError, RecursionError) as error:
        raise RecordError(f"{path} is damaged ({error})") from None
    return BuildRecord(config, fields["generator_version"], fields["ifs_points"], digits, complete)


def read_lines(folder: Path, config: BuildConfig, digits: int) -> dict[int, dict]:
    """The valid picture lines of ``metadata.jsonl``, by index.

    A line counts only when it is a JSON object for an index of the set, names exactly the file that index
    gives, carries the set's seed and a SHA-256; anything else is ignored (its picture is then re-made).
    """
    lines: dict[int, dict] = {}
    for name in (METADATA_NAME,):
        for line in _lines_of(Path(folder) / name):
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(entry, dict):
                continue
            index = entry.get("index")
            if type(index) is not int or not 0 <= index < config.count:
                continue
            digest = entry.get("sha256")
            if entry.get("file_name") != picture_name(index, digits) or entry.get("seed") != config.seed:
                continue
            if digest is not None and not (isinstance(digest, str) and _DIGEST.fullmatch(digest)):
                continue
            lines[index] = entry
    return lines


def _lines_of(path: Path):
    try:
        stream = os.fdopen(open_regular(path), "rb")
    except OSError:
        return
    with stream:
        while True:
            line = stream.readline(_MAX_LINE_BYTES + 1)
            if not line:
                return
            if len(line) <= _MAX_LINE_BYTES and line.endswith(b"\n"):  # a torn last line is no line
                yield line
