"""Writers: how encoded outputs are stored, one class per output format behind one small interface.

A writer is opened by a worker for one task, receives each output (``add``, which returns the output's
location fields for its manifest record), forgets an input that failed part-way (``drop``), and ends with
``close`` (a sharded writer renames its finished shard into place and returns the shard's record) or ``abort``
(nothing half-written keeps a final name). Adding a format is one module here and one line in ``WRITERS``.
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


def open_writer(name: str, out, options, unit: str | None):
    return writer_class(name)(out, options, unit)


def signature(info) -> list[int]:
    """What identifies a file's bytes without reading them: size, times and inode. Any change to the file
    (even one that restores its modification time) changes its ctime, so a file whose signature still matches
    its record is trusted; any other is hashed again."""
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
