"""ipmix's own Parquet writer (``writers/parquet_file.py``), read back by pyarrow: values, nulls, types, row
groups and metadata; and a process writing Parquet shards never loads pyarrow."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipmix_cli.formats.parquet_file import ParquetStream

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FIELDS = [
    ("image", [("bytes", "binary"), ("path", "string")]),
    ("name", "string"),
    ("label", "int64"),
    ("seed", "uint64"),
]

images = st.none() | st.fixed_dictionaries(
    {"bytes": st.none() | st.binary(max_size=64), "path": st.none() | st.text(max_size=12)}
)
rows = st.fixed_dictionaries(
    {
        "image": images,
        "name": st.none() | st.text(max_size=20),
        "label": st.none() | st.integers(-(2**63), 2**63 - 1),
        "seed": st.none() | st.integers(0, 2**64 - 1),
    }
)


def written(groups: list[list[dict]], metadata=None) -> bytes:
    sink = io.BytesIO()
    table = ParquetStream(sink, FIELDS, metadata or {"huggingface": "{}"}, "ipmix")
    for group in groups:
        table.write_rows(group)
    table.close()
    return sink.getvalue()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(rows, max_size=40), max_size=4))
def test_pyarrow_reads_back_every_row_and_null_in_its_row_groups(groups):
    data = written(groups)
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.num_row_groups == sum(1 for group in groups if group)
    assert pq.read_table(io.BytesIO(data)).to_pylist() == [row for group in groups for row in group]
    assert data == written(groups)  # the bytes are a function of the rows


def test_types_names_and_metadata_are_what_readers_expect():
    data = written(
        [[{"image": {"bytes": b"x", "path": "a.jpg"}, "name": "ä", "label": 1, "seed": 2**64 - 1}]],
        {
            "huggingface": '{"info": {}}',
            "another": "value",
        },
    )
    schema = pq.read_schema(io.BytesIO(data))
    assert schema.types == [
        pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
        pa.string(),
        pa.int64(),
        pa.uint64(),
    ]
    assert schema.names == ["image", "name", "label", "seed"]
    assert schema.metadata == {b"another": b"value", b"huggingface": b'{"info": {}}'}
    assert pq.ParquetFile(io.BytesIO(data)).metadata.created_by == "ipmix"


def test_a_file_without_rows_has_the_schema_and_no_row_group():
    data = written([[], []])
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 0
    assert pq.read_table(io.BytesIO(data)).num_rows == 0


@pytest.mark.parametrize(
    "row",
    [{"name": 5}, {"label": "5"}, {"label": True}, {"seed": -1}, {"seed": 2**64}, {"image": {"bytes": "text"}}],
)
def test_a_value_of_the_wrong_type_is_refused(row):
    table = ParquetStream(io.BytesIO(), FIELDS, {}, "ipmix")
    with pytest.raises((TypeError, OverflowError, ValueError)):
        table.write_rows([row])


def test_writing_parquet_shards_and_their_manifest_never_loads_pyarrow(tmp_path):
    """pyarrow costs a process about 50 MB: a worker writing Parquet shards must not pay it."""
    code = f"""
import sys, json
from ipmix_cli.disk.folder import SafeFolder
from ipmix_cli.jobs.augment import COLUMNS
from ipmix_cli.writers import WriterSettings
from ipmix_cli.writers.parquet import open_table, write_manifest
out = SafeFolder({str(tmp_path)!r})
columns = COLUMNS + (("meta", "string"),)
with out.open_new("t.parquet") as stream:
    table = open_table(stream, ("a", "b"), columns, image=True)
    table.write_rows([{{"image": {{"bytes": b"x", "path": "p.jpg"}}, "file_name": "p.jpg", "label": 1}}])
    table.close()
record = {{"file_name": "p.jpg", "source": "a/p.jpg", "label": "a", "sha256": "0" * 64, "meta": None}}
out.write_bytes("metadata.jsonl", (json.dumps(record) + "\\n").encode())
write_manifest(out, "metadata.jsonl", "metadata.parquet", WriterSettings(("a",), columns))
print("pyarrow" in sys.modules)
"""
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False"]
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column("image").to_pylist() == [{"bytes": b"x", "path": "p.jpg"}]
    assert pq.read_table(tmp_path / "metadata.parquet").column("label").to_pylist() == [0]
