"""Reading a folder of Parquet files with an image column: every row is one input.

- Seed key and manifest ``source``: ``<file relative to IN>/<row number>``, the row number zero-padded to the
  width of the file's last row number (``train-00000.parquet/0042``); or the value of ``--key-column``.
- Image (``--image-column``, default ``image``): a Hugging Face ``Image`` struct (``bytes``, ``path``) or raw
  bytes. A struct without bytes names a file by ``path`` (relative to the Parquet file's folder, or absolute),
  read only when it lies inside IN.
- Label (``--label-column``, default ``label`` where a file has a column of that name): class numbers (integer,
  boolean, or float and decimal columns of whole numbers, as ``labels.class_number_of`` takes them; with the
  names a ``ClassLabel`` in the ``huggingface`` schema metadata declares, kept as the run's class list) or class
  names (text); a negative number (-1), NaN or null means no label. A row whose label is no class number (a
  fraction, beyond 64 bits) is that row's failure; a label column of another type (a list, a date…) is the
  file's failure, even when it is only the default ``label``: it is never silently read as "no label".
- Other columns without binary data pass through to the records as ``meta`` (values of at most
  ``META_BYTES`` as JSON); workers read them, so the driver never holds them.

The driver reads only the footer and the label and key columns. A file that cannot be read, has no usable
image column, or claims more rows than it has bytes is that file's failure; a null or undecodable image is
its row's failure. Workers read the image column in batches of ``BATCH`` rows, so memory stays bounded
whatever a file's row groups hold.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
from pathlib import Path
from typing import Iterator

from ..disk.folder import UnsafePath
from ..disk.inputs import InputRefused, InputRoot
from ..imaging.images import UnreadableImage
from ..inputs import InputsBuilder
from ..items import Failure, Item, is_utf8
from ..labels import NotAClassNumber, class_number_of
from . import PARQUET_SUFFIXES, Found, PlanError, Source
from .folder import walk
from .streams import digest_of, in_memory, refused

BATCH = 64
META_BYTES = 64 * 1024


def _parquet_kind(name: str) -> str | None:
    return "parquet" if name.lower().endswith(PARQUET_SUFFIXES) else None


def _modules():
    from ..formats.arrow import MissingPyarrow, pyarrow_modules

    try:
        return pyarrow_modules()
    except MissingPyarrow as error:
        raise PlanError(f"--input-format parquet: {error}") from None


def _image_type(column_type) -> str | None:
    """``struct`` (an Image struct), ``binary`` (raw bytes), or None (not an image column)."""
    pa, _ = _modules()
    binary = (pa.types.is_binary, pa.types.is_large_binary)
    if any(test(column_type) for test in binary):
        return "binary"
    if pa.types.is_struct(column_type):
        names = {column_type.field(i).name: column_type.field(i).type for i in range(column_type.num_fields)}
        if "bytes" in names and any(test(names["bytes"]) for test in binary):
            return "struct"
    return None


def _label_kind(column_type) -> str | None:
    """``number`` or ``name`` for a usable label column type, else None."""
    pa, _ = _modules()
    if pa.types.is_dictionary(column_type):
        column_type = column_type.value_type
    if any(test(column_type) for test in (pa.types.is_integer, pa.types.is_boolean, pa.types.is_floating)):
        return "number"
    if pa.types.is_decimal(column_type) or pa.types.is_null(column_type):
        return "number"  # a column of nulls only: no labels
    if pa.types.is_string(column_type) or pa.types.is_large_string(column_type):
        return "name"
    return None


def _declared_names(schema, column: str) -> tuple[str, ...] | None:
    """The ``ClassLabel`` names the ``huggingface`` schema metadata declares for ``column``, if any."""
    try:
        metadata = json.loads((schema.metadata or {}).get(b"huggingface", b"{}"))
        feature = (metadata.get("info") or {}).get("features", {}).get(column) or {}
        names = feature.get("names") if feature.get("_type") == "ClassLabel" else None
        if not isinstance(names, list):
            return None
        names = tuple(str(name) for name in names)
        for name in names:
            name.encode("utf-8")  # JSON can hold lone surrogates ("\\udcff"): such a list is not text, and ignored
        return names
    except (ValueError, AttributeError, TypeError):  # (UnicodeEncodeError is a ValueError)
        return None


def _has_binary(column_type) -> bool:
    pa, _ = _modules()
    if pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type):
        return True
    if pa.types.is_fixed_size_binary(column_type):
        return True
    if pa.types.is_struct(column_type):
        return any(_has_binary(column_type.field(i).type) for i in range(column_type.num_fields))
    if pa.types.is_list(column_type) or pa.types.is_large_list(column_type):
        return _has_binary(column_type.value_type)
    return False


def _json_value(value):
    """A column value as JSON (meta): text for dates and other types, no NaN, binary left out (None)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, (datetime.date, datetime.time, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)


class ParquetReader:
    """Rows of the Parquet files under IN (see the module docstring)."""

    format = "parquet"

    def __init__(self, root: Path, source: Source = Source("parquet")):
        self.root = InputRoot(root)
        self.source = source
        _modules()

    def __reduce__(self):
        return ParquetReader, (self.root.path, self.source)  # IN as resolved at the start

    # --- the driver: listing -----------------------------------------------------------------------------

    def plan(self) -> Found:
        files, failures = walk(self.root.given, _parquet_kind)
        builder = InputsBuilder(decode_where=decode_where)
        owners: dict[str, str] = {}
        declared: dict[tuple, str] = {}
        labelled = False
        for file_key, _ in files:
            try:
                listed = self._rows(file_key)
            except InputRefused as error:
                failures.append(Failure(file_key, str(error)))
                continue
            names, rows, has_label, identity = listed
            labelled = labelled or has_label
            if names is not None:
                declared.setdefault(names, file_key)
            for where, key, label in rows:
                if isinstance(key, Failure):
                    failures.append(Failure(where, key.error))
                elif key in owners:
                    failures.append(Failure(where, f"its seed key {key!r} is also that of {owners[key]}"))
                else:
                    owners[key] = where
                    stem = f"{file_key.rpartition('.')[0]}/{where.rpartition('/')[2]}"
                    row = int(where.rpartition("/")[2])
                    builder.add(key, label, None, None, identity, (builder.names.number(file_key), row), stem)
        del owners
        if len(declared) > 1:
            (first, a), (second, b) = list(declared.items())[:2]
            raise PlanError(f"{a} and {b} declare different class names for their labels ({list(first)[:5]}…)")
        if self.source.label_column and len(builder.keys) and not labelled:
            raise PlanError(f"--label-column {self.source.label_column!r}: no Parquet file under IN has this column")
        failures.sort(key=lambda failure: failure.key)
        return Found(builder.build(), failures, next(iter(declared), None))

    def _rows(self, file_key: str):
        """(declared class names, [(row's default key, seed key or Failure, label)], whether it has labels)."""
        _, pq = _modules()
        with self.root.open(file_key) as stream:
            info = os.fstat(stream.fileno())
            size = info.st_size
            try:
                parquet = pq.ParquetFile(stream)
                schema = parquet.schema_arrow
                count = parquet.metadata.num_rows
            except Exception as error:  # noqa: BLE001 - whatever pyarrow finds wrong with a file is its failure
                raise InputRefused(f"not a readable Parquet file ({error})") from None
            if count > size:
                raise InputRefused(f"claims {count} rows in {size} bytes: not a real table, not read")
            image = self.source.image_column
            if image not in schema.names:
                columns = ", ".join(schema.names)
                raise InputRefused(f"has no column {image!r} (its columns: {columns}); see --image-column")
            if _image_type(schema.field(image).type) is None:
                raise InputRefused(f"its column {image!r} holds {schema.field(image).type}, not images")
            label_column = self._label_column(schema)
            columns = [c for c in (label_column, self.source.key_column) if c]
            if self.source.key_column and self.source.key_column not in schema.names:
                raise InputRefused(f"has no --key-column {self.source.key_column!r}")
            try:
                table = parquet.read(columns=columns) if columns else None
            except Exception as error:  # noqa: BLE001
                raise InputRefused(f"its label or key column cannot be read ({error})") from None
        labels = table.column(label_column).to_pylist() if label_column else [None] * count
        keys = table.column(self.source.key_column).to_pylist() if self.source.key_column else None
        width = len(str(max(count - 1, 0)))
        names = _declared_names(schema, label_column) if label_column else None
        rows = []
        for row in range(count):
            where = f"{file_key}/{row:0{width}d}"
            key = self._key(keys[row]) if keys is not None else where
            label = labels[row]
            if not isinstance(label, str):
                try:
                    label = class_number_of(label, f"its label (column {label_column!r})")
                except NotAClassNumber as error:
                    key, label = Failure("", str(error)), None
            rows.append((where, key, label))
        return names, rows, label_column is not None, (info.st_size, info.st_mtime_ns)

    def _label_column(self, schema) -> str | None:
        wanted = self.source.label_column
        if wanted:
            if wanted not in schema.names:
                return None
            if _label_kind(schema.field(wanted).type) is None:
                held = schema.field(wanted).type
                raise InputRefused(f"its --label-column {wanted!r} holds {held}, not class names or numbers")
            return wanted
        if "label" in schema.names:
            if _label_kind(schema.field("label").type) is None:
                held = schema.field("label").type
                raise InputRefused(
                    f"its column 'label' holds {held}, not class names or numbers; name the column that holds "
                    "the labels with --label-column"
                )
            return "label"
        return None

    def _key(self, value):
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            return Failure("", f"its --key-column {self.source.key_column!r} is empty or not a text or number")
        key = str(value)
        if not is_utf8(key):
            return Failure("", f"its --key-column {self.source.key_column!r} is not valid UTF-8")
        return key

    # --- the workers: reading --------------------------------------------------------------------------

    def digest(self, item: Item) -> str:
        return digest_of(self, item)

    def vanished(self, key: str) -> bool:
        return True

    def inputs(self, items: list[Item]) -> Iterator[tuple[Item, object]]:
        """Each item's image, file by file in row order, reading the image column in small batches."""
        by_file: dict[str, list[Item]] = {}
        for item in items:
            by_file.setdefault(item.where[0], []).append(item)
        for file_key in sorted(by_file):
            yield from self._file_inputs(file_key, sorted(by_file[file_key], key=lambda item: item.where[1]))

    def _file_inputs(self, file_key: str, items: list[Item]):
        _, pq = _modules()
        try:
            stream = self.root.open(file_key)
        except InputRefused as error:
            for item in items:
                yield item, refused(error)
            return
        pending = list(items)
        with stream:
            try:
                parquet = pq.ParquetFile(stream)
                image = self.source.image_column
                schema = parquet.schema_arrow
                kind = _image_type(schema.field(image).type)
                meta = [n for n in schema.names if n != image and not _has_binary(schema.field(n).type)]
                for group, start, end in _row_groups(parquet):
                    if not pending:
                        break
                    if pending[0].where[1] >= end:
                        continue  # none of its rows is wanted
                    position = start
                    for batch in parquet.iter_batches(batch_size=BATCH, row_groups=[group], columns=[image, *meta]):
                        stop = position + batch.num_rows
                        while pending and pending[0].where[1] < stop:
                            item = pending.pop(0)
                            yield self._input(file_key, item, batch, item.where[1] - position, kind, meta)
                        position = stop
                        if not pending or pending[0].where[1] >= end:
                            break
            except Exception as error:  # noqa: BLE001 - a damaged file fails its remaining rows, not the run
                reason = UnreadableImage(f"its Parquet file cannot be read here ({error})")
                for item in pending:
                    yield item, refused(reason)
                return
        for item in pending:  # rows the file no longer has
            yield item, refused(UnreadableImage("its Parquet file has fewer rows than when the run started"))

    def _input(self, file_key: str, item: Item, batch, offset: int, kind: str, meta: list[str]):
        value = batch.column(0)[offset].as_py()
        values = {}
        for index, name in enumerate(meta, start=1):
            converted = _json_value(batch.column(index)[offset].as_py())
            if len(json.dumps(converted, ensure_ascii=False)) <= META_BYTES:
                values[name] = converted
        if values:
            item = dataclasses.replace(item, meta=values)
        if kind == "binary":
            data, path = value, None
        else:
            data, path = (value or {}).get("bytes"), (value or {}).get("path")
        if data:
            return item, in_memory(data)
        if path:
            return item, self._referenced(file_key, path)
        return item, refused(UnreadableImage("its image is null (no bytes and no path)"))

    def _referenced(self, file_key: str, path: str):
        """The file an Image struct names by path, when it lies inside IN."""
        folder = Path(self.root.path, file_key).parent
        target = Path(os.path.normpath(folder / path))
        try:
            relative = target.relative_to(self.root.path).as_posix()
        except ValueError:
            return refused(InputRefused(f"its image is the file {path}, outside IN: not read"))
        try:
            return self.root.open(relative)  # a file is its own context manager: closed after reading
        except (InputRefused, UnsafePath) as error:
            return refused(InputRefused(f"its image file {path}: {error}"))


def decode_where(flat: tuple[int, ...], names: list) -> tuple:
    """A row's place: (file, row number)."""
    return names[flat[0]], flat[1]


def _row_groups(parquet) -> list[tuple[int, int, int]]:
    """(row group, its first row, the row after its last) of every row group, in order."""
    groups, first = [], 0
    for group in range(parquet.metadata.num_row_groups):
        count = parquet.metadata.row_group(group).num_rows
        groups.append((group, first, first + count))
        first += count
    return groups
