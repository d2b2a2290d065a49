"""Writers: how encoded outputs are stored, one class per output format behind one small interface.

A worker opens a writer for one task, ``Writer(out, options, unit, keys)``: ``out`` is OUT (a ``SafeFolder``),
``unit`` the output shard the task writes whole (sharded formats; None for ``files``), ``keys`` the keys of
the task's inputs in planned order (a shard's samples are numbered by them, and its record lists them). Then:

- ``add(item, output, data, encoder) -> dict``: store one encoded output; returns its location fields for its
  manifest record (``file_name``, and ``shard`` for sharded formats or the private ``_sig`` for ``files``);
- ``drop(item)``: the input failed part-way; forget (or remove) the outputs it stored;
- ``close()``: a sharded writer renames its finished shard into place and returns the shard's record,
  ``{"name", "keys", "failed", "classes", "sha256", "_sig"}`` (see ``resume.plan_units``); ``files`` returns None;
- ``abort()``: nothing half-written keeps a final name.

A format may also define ``finish(out, manifest, target, run)``, called after the run (and ``ipmix merge``) has
written the manifest ``manifest`` (JSON lines), to write the same rows in its own form to ``target`` (the
WebDataset format's ``metadata.parquet``). Adding a format is one module here and one line in ``WRITERS``.
"""

from __future__ import annotations

import importlib

#: name → (module, class, whether a task writes one whole output shard)
WRITERS = {
    "files": ("files", "FilesWriter", False),
    "webdataset": ("webdataset", "WebDatasetWriter", True),
    "parquet": ("parquet", "ParquetWriter", True),
}


def writer_class(name: str):
    module, cls, _ = WRITERS[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def is_sharded(name: str) -> bool:
    return WRITERS[name][2]


def open_writer(name: str, out, options, unit: str | None, keys: tuple[str, ...] = ()):
    return writer_class(name)(out, options, unit, keys)


def finish(name: str, out, manifest: str, target: str, run: dict) -> None:
    """The format's own manifest (see the module docstring), if it has one."""
    if name not in WRITERS:  # read back from a run record: never trusted
        return
    step = getattr(writer_class(name), "finish", None)
    if step is not None:
        step(out, manifest, target, run)


def signature(info) -> list[int]:
    """What identifies a file's bytes without reading them: size, times and inode. Any change to the file
    (even one that restores its modification time) changes its ctime, so a file whose signature still matches
    its record is trusted; any other is hashed again."""
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
