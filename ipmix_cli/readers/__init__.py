"""Readers: what IN holds, as work items. One module per input format behind one small interface.

- ``plan() -> Found(inputs, failures, classes)`` runs in the driver: every input, compactly (``inputs.Inputs``,
  a sequence of :class:`~..items.Item` sorted by key, which is its seed key), and every input that cannot be one
  as a ``Failure`` with its reason. A problem of the whole input (e.g. contradictory options) is a
  :class:`PlanError`, a usage error.
- ``inputs(items) -> Iterator[(item, context manager opening a binary stream of its image)]`` runs in the
  workers. It may yield the items in another order (the order it can read them in) and with ``meta`` filled in
  (members or columns read only now, so the driver never holds them), but nothing else changed.
- ``digest(item)``: the SHA-256 of the input's bytes now (a re-run compares it with the one recorded when the
  input's identity changed); ``vanished(key)``: whether a recorded input is gone from IN.
- Readers pickle small (``__reduce__``): workers get where IN is and the settings, never the plan.

Formats: a folder of images (``folder``), a folder of WebDataset ``.tar`` shards (``webdataset``), a folder of
Parquet files with an image column (``parquet``). :func:`detect` tells them apart by IN's contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError

INPUT_FORMATS = ("folder", "webdataset", "parquet")
TAR_SUFFIXES = (".tar",)
PARQUET_SUFFIXES = (".parquet",)


class PlanError(UsageError):
    """IN cannot be read as asked (a usage problem, exit 2); the message says why and how to fix it."""


@dataclass(frozen=True)
class Found:
    """What a reader found: the inputs (sorted by key), the entries that cannot be inputs, and the class names
    an input format declared for numeric labels (Parquet's ``ClassLabel``)."""

    inputs: object  # inputs.Inputs
    failures: list = field(default_factory=list)
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Source:
    """How IN is read: its format and the format's options (``None``: the default)."""

    format: str = "folder"
    image_key: str | None = None  # webdataset: the member (its name after the key) holding the image
    label_field: str | None = None  # webdataset: the JSON field holding the label (default: the .cls member)
    key_field: str | None = None  # webdataset: the JSON field holding the seed key (default: shard/sample key)
    image_column: str = "image"  # parquet
    label_column: str | None = None  # parquet (default: "label" where a file has it)
    key_column: str | None = None  # parquet (default: file/row number)

    def identity(self) -> dict:
        """What decides the items (so the outputs): empty for a folder, the run identity's ``input`` otherwise."""
        if self.format == "folder":
            return {}
        names = ("image_key", "label_field", "key_field")
        if self.format == "parquet":
            names = ("image_column", "label_column", "key_column")
        return {"format": self.format, **{name: getattr(self, name) for name in names}}


def kind_of_name(name: str) -> str | None:
    """``tar``, ``parquet`` or ``image`` by a file name's extension (detection never reads files). A manifest
    (``metadata.parquet``, ``metadata.shard-0-of-4.parquet``: the metadata file of Hugging Face's image folders
    and of ipmix's WebDataset output) is no input."""
    from ..imaging.images import format_of_name

    lower = name.lower()
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    if lower.endswith(PARQUET_SUFFIXES):
        return None if lower.startswith("metadata.") else "parquet"
    return "image" if format_of_name(name) else None


def detect(root: Path) -> str:
    """The format of IN by its files' extensions: images, ``.tar`` shards or ``.parquet`` files (manifests
    aside); a folder holding more than one of them is a :class:`PlanError` that asks for ``--input-format``."""
    from .folder import walk

    found, _ = walk(root, kind_of_name)
    counts: dict[str, int] = {}
    for _, kind in found:
        counts[kind] = counts.get(kind, 0) + 1
    if len(counts) > 1:
        words = {"image": "image files", "tar": ".tar shards", "parquet": ".parquet files"}
        held = " and ".join(f"{count} {words[kind]}" for kind, count in sorted(counts.items()))
        choices = {"image": "folder", "tar": "webdataset", "parquet": "parquet"}
        options = " or ".join(choices[kind] for kind in sorted(counts))
        raise PlanError(f"IN ({root}) holds {held}; say which to read with --input-format {options}")
    if counts.get("tar"):
        return "webdataset"
    if counts.get("parquet"):
        return "parquet"
    return "folder"


def open_reader(root: Path, source: Source):
    """The reader of ``root`` as ``source`` says (its format already decided)."""
    if source.format == "webdataset":
        from .webdataset import WebDatasetReader

        return WebDatasetReader(root, source)
    if source.format == "parquet":
        from .parquet import ParquetReader

        return ParquetReader(root, source)
    from .folder import FolderReader

    return FolderReader(root)
