"""The ``parquet`` output format: ``OUT/NNNNN.parquet`` shards, one row per copy, readable by Hugging Face
``datasets`` as an image dataset; and the Parquet form of the manifest (``metadata.parquet``).

Columns: ``image``, a Hugging Face ``Image`` struct (``bytes``: the encoded copy, ``path``: its name), then every
manifest column the job declares (``WriterSettings.columns``; for ``augment``: ``file_name``, ``shard``,
``source``, ``label``, ``copy``, ``seed``, ``mixing_picture``, ``width``, ``height``, ``sha256``, ``trace`` with
``--trace`` and ``meta``): ``label`` as the class number (``labels.py``; null without a label), ``meta`` (the
input's other members or columns) as JSON text. The ``huggingface`` schema metadata declares the
image column, and the class names as a ``ClassLabel`` when the labels are names, so ``datasets`` decodes images
to PIL and gives labels their names.

The files are written by ``parquet_file`` (ipmix's own writer: pyarrow would cost every worker about 50 MB),
so the bytes are a function of the rows alone: row groups of exactly ``ROW_GROUP`` rows (the last one shorter),
no compression or statistics, the metadata JSON serialised with sorted keys. pyarrow is needed only to read
Parquet (inputs, ``verify``).
"""

from __future__ import annotations

import json

from ..formats.arrow import pyarrow_modules
from ..formats.jsonlines import dumps
from ..formats.parquet_file import ParquetStream
from ..labels import class_number, numbering
from .sharded import ShardWriter

#: Rows per row group: a reader holds one row group's images at a time (about 10 MB of 224×224 JPEGs).
ROW_GROUP = 100
MANIFEST_ROW_GROUP = 50_000
#: ``created_by`` of every file written (Parquet readers show it; it is fixed, so bytes do not depend on it).
CREATED_BY = "ipmix"


def fields(columns, image: bool) -> list:
    """The table's columns for ``parquet_file``: the image struct, then the job's manifest ``columns``."""
    image_column: list = [("image", [("bytes", "binary"), ("path", "string")])] if image else []
    return image_column + [tuple(column) for column in columns]


def metadata(classes: tuple[str, ...] | None, image: bool) -> dict[str, str]:
    """The ``huggingface`` key-value metadata: the image column, and the class names as a ``ClassLabel``."""
    features: dict = {"image": {"_type": "Image"}} if image else {}
    if classes:
        features["label"] = {"_type": "ClassLabel", "names": list(classes)}
    return {"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True, ensure_ascii=False)}


def open_table(sink, classes: tuple[str, ...] | None, columns, image: bool) -> ParquetStream:
    return ParquetStream(sink, fields(columns, image), metadata(classes, image), CREATED_BY)


def row(record: dict, numbers: dict[str, int], columns) -> dict:
    """A manifest record as a row of the table (without the image): ``label`` as its class number (null
    without a label), ``meta`` as JSON text, every other column as the record has it."""
    values = {}
    for name, _ in columns:
        value = record.get(name)
        if name == "label":
            value = None if value is None else class_number(value, numbers)
        elif name == "meta":
            value = dumps(value) if value is not None else None
        values[name] = value
    return values


class ParquetWriter(ShardWriter):
    extension = "parquet"

    def __init__(self, out, settings, unit, keys=()):
        super().__init__(out, settings, unit, keys)
        self._rows: list[dict] = []
        self._table: ParquetStream | None = None

    def _sample(self, name, item, made, record):
        values = row(record, self._numbers, self.settings.columns)
        return {"image": {"bytes": made.data, "path": record["file_name"]}, **values}

    def _begin(self, sink) -> None:
        self._table = open_table(sink, self.settings.classes, self.settings.columns, image=True)

    def _emit(self, sink, samples: list) -> None:
        self._rows.extend(samples)
        while len(self._rows) >= ROW_GROUP:
            self._table.write_rows(self._rows[:ROW_GROUP])
            del self._rows[:ROW_GROUP]

    def _end(self, sink) -> None:
        self._table.write_rows(self._rows)
        self._rows = []
        table, self._table = self._table, None
        table.close()

    def _discard(self) -> None:
        self._table, self._rows = None, []

    @staticmethod
    def read_images(out, shard: str):
        """``(file name, bytes)`` of every row's image in an output shard, one row group at a time (for
        ``verify``); an unreadable file is a ``ValueError``."""
        _, pq = pyarrow_modules()
        with out.open_read(shard) as stream:
            parquet = pq.ParquetFile(stream)
            for group in range(parquet.num_row_groups):
                for image in parquet.read_row_group(group, columns=["image"]).column("image").to_pylist():
                    if image and isinstance(image.get("path"), str) and isinstance(image.get("bytes"), bytes):
                        yield image["path"], image["bytes"]


def write_manifest(out, manifest: str, target: str, settings) -> None:
    """``target``: the JSON-lines ``manifest`` in OUT as a Parquet table (the job's columns, without the image),
    written atomically in row groups of ``MANIFEST_ROW_GROUP`` rows."""
    classes = tuple(settings.classes) if settings.classes is not None else None
    numbers = numbering(classes)
    with out.open_read(manifest) as lines, out.open_new(target) as stream:
        table = open_table(stream, classes, settings.columns, image=False)
        rows: list[dict] = []
        for line in lines:
            rows.append(row(json.loads(line), numbers, settings.columns))
            if len(rows) == MANIFEST_ROW_GROUP:
                table.write_rows(rows)
                rows = []
        table.write_rows(rows)
        table.close()
