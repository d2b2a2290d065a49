"""Writers: how encoded outputs are stored, one class per output format behind one small interface.

A worker opens a writer for one task, ``Writer(out, settings, unit, keys)``: ``out`` is OUT (a ``SafeFolder``),
``settings`` the job's :class:`WriterSettings`, ``unit`` the output shard the task writes whole (shard formats;
None for ``files``), ``keys`` the keys of the task's inputs in planned order (a shard's samples are numbered by
them). Then:

- ``add(item, made) -> (record, FileEntry | None)``: store one encoded output (``runner.job.Made``); returns its
  full manifest record (its location, ``file_name`` and for shards ``shard``, then the job's fields) and, for
  ``files``, the file written (name, SHA-256, signature) for the ledger;
- ``drop(item)``: the input failed part-way; forget (or remove) the outputs it stored;
- ``close() -> (FileEntry, failed keys) | None``: a shard writer renames its finished shard into place and
  returns it and the keys of the inputs it does not hold; ``files`` returns None;
- ``abort()``: nothing half-written keeps a final name.

A format may also define ``finish(out, manifest, target, columns, classes)``, called after the manifest is
written, to write the same rows in its own form (the WebDataset format's ``metadata.parquet``). Adding a format
is one module here and one line in ``WRITERS``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

#: name → (module, class, whether a task writes one whole output shard)
WRITERS = {
    "files": ("files", "FilesWriter", False),
    "webdataset": ("webdataset", "WebDatasetWriter", True),
    "parquet": ("parquet", "ParquetWriter", True),
}
OUTPUT_FORMATS = tuple(WRITERS)


@dataclass(frozen=True)
class WriterSettings:
    """What a writer needs to know of the job: the run's class list (shards store class numbers), the
    manifest's columns for Parquet (``(name, kind)``), and how many inputs a shard holds at most."""

    classes: tuple | None = None
    columns: tuple = ()
    inputs_per_unit: int = 1


def writer_class(name: str):
    module, cls, _ = WRITERS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def is_sharded(name: str) -> bool:
    return WRITERS[name][2]


def open_writer(name: str, out, settings: WriterSettings, unit: str | None, keys: tuple[str, ...] = ()):
    return writer_class(name)(out, settings, unit, keys)


def finish(name: str, out, manifest: str, target: str, settings: WriterSettings) -> None:
    """The format's own manifest (see the module docstring), if it has one."""
    if name not in WRITERS:  # read back from a run record: never trusted
        return
    step = getattr(writer_class(name), "finish", None)
    if step is not None:
        step(out, manifest, target, settings)
