"""The ``parquet`` output format: ``OUT/NNNNN.parquet`` shards, one row per copy, readable by Hugging Face
``datasets`` as an image dataset; and the Parquet form of the manifest (``metadata.parquet``).

Columns: ``image``, a Hugging Face ``Image`` struct (``bytes``: the encoded copy, ``path``: its name), then every
manifest column: ``file_name``, ``shard``, ``source``, ``label`` (the class number, ``labels.py``; null without a
label), ``copy``, ``seed``, ``mixing_picture``, ``width``, ``height``, ``sha256``, ``trace`` (with ``--trace``) and
``meta`` (the input's other members or columns, as JSON text). The ``huggingface`` schema metadata declares the
image column, and the class names as a ``ClassLabel`` when the labels are names, so ``datasets`` decodes images
to PIL and gives labels their names.

The bytes are a function of the rows: fixed writer options, row groups of exactly ``ROW_GROUP`` rows (the last
one shorter), no statistics or page index, the metadata JSON serialised with sorted keys. They also depend on
the pyarrow version, which Parquet records in every file (``created_by``).
"""

from __future__ import annotations

import json

from ..labels import class_number, numbering
from ..state import dumps
from .sharded import ShardWriter

#: Rows per row group: a reader holds one row group's images at a time (about 10 MB of 224×224 JPEGs).
ROW_GROUP = 100
MANIFEST_ROW_GROUP = 50_000
EXTRA = "pip install 'ipmix[parquet]'"


class MissingPyarrow(ImportError):
    """pyarrow is not installed; the message names the extra that installs it."""


def pyarrow_modules():
    """``(pyarrow, pyarrow.parquet)``, or :class:`MissingPyarrow` with a one-line remedy."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingPyarrow(f"Parquet needs pyarrow: {EXTRA}") from None
    return pyarrow, pyarrow.parquet


def check_pyarrow() -> None:
    """:class:`MissingPyarrow` unless pyarrow can be imported, without importing it (it costs a process about
    40 MB, which a driver that never writes Parquet should not pay)."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise MissingPyarrow(f"Parquet needs pyarrow: {EXTRA}")


def writer_options() -> dict:
    """Fixed ``pyarrow.parquet.ParquetWriter`` options, so that equal rows give equal bytes."""
    return {
        "compression": "none",  # encoded images do not compress; the other columns are small
        "use_dictionary": False,
        "write_statistics": False,
        "write_page_index": False,
        "store_schema": True,  # the schema metadata (huggingface) lives there
        "version": "2.6",
        "data_page_version": "1.0",
    }


def schema(classes: tuple[str, ...] | None, trace: bool, image: bool):
    """The table's schema (see the module docstring) with its ``huggingface`` metadata."""
    pa, _ = pyarrow_modules()
    fields = []
    features: dict = {}
    if image:
        fields.append(("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])))
        features["image"] = {"_type": "Image"}
    fields += [
        ("file_name", pa.string()),
        ("shard", pa.string()),
        ("source", pa.string()),
        ("label", pa.int64()),
        ("copy", pa.int64()),
        ("seed", pa.uint64()),
        ("mixing_picture", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("sha256", pa.string()),
    ]
    if trace:
        fields.append(("trace", pa.string()))
    fields.append(("meta", pa.string()))
    if classes:
        features["label"] = {"_type": "ClassLabel", "names": list(classes)}
    metadata = {"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True, ensure_ascii=False)}
    return pa.schema(fields, metadata=metadata)


def row(record: dict, numbers: dict[str, int], trace: bool) -> dict:
    """A manifest record as a row of the table (without the image)."""
    label = record.get("label")
    values = {
        "file_name": record["file_name"],
        "shard": record.get("shard"),
        "source": record["source"],
        "label": None if label is None else class_number(label, numbers),
        "copy": record.get("copy"),
        "seed": record.get("seed"),
        "mixing_picture": record.get("mixing_picture"),
        "width": record.get("width"),
        "height": record.get("height"),
        "sha256": record["sha256"],
    }
    if trace:
        values["trace"] = record.get("trace")
    values["meta"] = dumps(record["meta"]) if record.get("meta") is not None else None
    return values


class ParquetWriter(ShardWriter):
    extension = "parquet"

    def __init__(self, out, options, unit, keys=()):
        super().__init__(out, options, unit, keys)
        self._schema = schema(options.classes, options.trace, image=True)
        self._rows: list[dict] = []
        self._writer = None

    def _sample(self, name, item, data, encoder, record):
        values = row(record, self._numbers, self.options.trace)
        return {"image": {"bytes": data, "path": record["file_name"]}, **values}

    def _begin(self, sink) -> None:
        _, pq = pyarrow_modules()
        self._writer = pq.ParquetWriter(sink, self._schema, **writer_options())

    def _emit(self, sink, samples: list) -> None:
        self._rows.extend(samples)
        while len(self._rows) >= ROW_GROUP:
            self._write(self._rows[:ROW_GROUP])
            del self._rows[:ROW_GROUP]

    def _end(self, sink) -> None:
        if self._rows:
            self._write(self._rows)
            self._rows = []
        writer, self._writer = self._writer, None
        writer.close()

    def _discard(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the temporary is removed next whatever state it is in
                pass

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

    def _write(self, rows: list[dict]) -> None:
        pa, _ = pyarrow_modules()
        table = pa.Table.from_pylist(rows, schema=self._schema)
        self._writer.write_table(table, row_group_size=len(rows))


def write_manifest(out, manifest: str, target: str, run: dict) -> None:
    """``target``: the JSON-lines ``manifest`` in OUT as a Parquet table (the columns above, without the image),
    written atomically in row groups of ``MANIFEST_ROW_GROUP`` rows; ``run`` is the run record (identity, classes)."""
    pa, pq = pyarrow_modules()
    classes = tuple(run["classes"]) if run.get("classes") is not None else None
    trace = bool((run.get("identity") or {}).get("trace"))
    table_schema = schema(classes, trace, image=False)
    numbers = numbering(classes)
    with out.open_read(manifest) as lines, out.open_new(target) as stream:
        writer = pq.ParquetWriter(stream, table_schema, **writer_options())
        rows: list[dict] = []
        for line in lines:
            rows.append(row(json.loads(line), numbers, trace))
            if len(rows) == MANIFEST_ROW_GROUP:
                writer.write_table(pa.Table.from_pylist(rows, schema=table_schema), row_group_size=len(rows))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema=table_schema), row_group_size=len(rows))
        writer.close()
