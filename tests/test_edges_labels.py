"""Labels that shards cannot store (issue 21): a class number beyond int64 (a ``.cls`` member, a JSON field, a
uint64 Parquet column) is that input's failure, never an OverflowError that stops every shard-output run;
float, decimal and boolean label columns are read as documented (``labels.py``), never silently as "no label"."""

from __future__ import annotations

import decimal
import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from ipmix_cli.cli.main import main
from ipmix_cli.labels import INT64_MAX, NotAClassNumber, class_number, class_number_of
from ipmix_cli.readers import Source
from ipmix_cli.readers.webdataset import WebDatasetReader

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def png(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 5), (seed * 40 % 256, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def write_tar(path: Path, samples: dict[str, dict[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as archive:
        for key, members in samples.items():
            for field, data in {"png": png(len(key)), **members}.items():
                info = tarfile.TarInfo(f"{key}.{field}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def plan(root: Path, **source) -> tuple[dict, dict]:
    found = WebDatasetReader(root, Source("webdataset", **source)).plan()
    return {i.key: i.label for i in found.inputs}, {f.key: f.error for f in found.failures}


CLS = {
    "max": (b"9223372036854775807", INT64_MAX),
    "zero": (b"0", 0),
    "spaced": (b" 7\n", 7),
    "plus": (b"+3", 3),
    "negative": (b"-1", None),
    "huge-negative": (b"-99999999999999999999999999", None),
    "over": (b"9223372036854775808", "beyond the largest class number"),
    "huge": (b"99999999999999999999999999", "beyond the largest class number"),
    "underscore": (b"5_000", "not a class number"),
    "arabic": ("٣".encode(), "not a class number"),
    "exponent": (b"1e3", "not a class number"),
    "empty": (b"", "not a class number"),
    "control": (b"\x1b[2J", "not a class number"),
}


def test_cls_members_beyond_int64_or_not_ascii_digits_fail_their_sample(tmp_path):
    write_tar(tmp_path / "in" / "a.tar", {name: {"cls": value} for name, (value, _) in CLS.items()})
    labels, failed = plan(tmp_path / "in")
    for name, (_, expected) in CLS.items():
        key = f"a.tar/{name}"
        if isinstance(expected, str):
            assert expected in failed[key] and "\x1b" not in failed[key], (name, failed.get(key))
        else:
            assert labels[key] == expected, name


JSON_LABELS = {
    "int": (3, 3),
    "whole-float": (3.0, 3),
    "true": (True, 1),
    "false": (False, 0),
    "null": (None, None),
    "negative": (-1, None),
    "name": ("cat", "cat"),
    "fraction": (2.5, "not a whole number"),
    "big-float": (1e30, "beyond the largest class number"),
    "over": (2**63, "beyond the largest class number"),
    "array": ([1], "is a JSON array"),
    "object": ({"a": 1}, "is a JSON object"),
}


def test_json_label_fields_of_every_type(tmp_path):
    samples = {name: {"json": json.dumps({"y": value}).encode()} for name, (value, _) in JSON_LABELS.items()}
    write_tar(tmp_path / "in" / "a.tar", samples)
    labels, failed = plan(tmp_path / "in", label_field="y")
    for name, (_, expected) in JSON_LABELS.items():
        key = f"a.tar/{name}"
        if isinstance(expected, str) and name != "name":
            assert expected in failed[key], (name, failed.get(key))
        else:
            assert labels[key] == expected, name


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        (True, 1),
        (0, 0),
        (INT64_MAX, INT64_MAX),
        (-(2**70), None),
        (float("nan"), None),
        (decimal.Decimal("NaN"), None),
        (decimal.Decimal("12.000"), 12),
        (2.0, 2),
        (INT64_MAX + 1, NotAClassNumber),
        (2**64 - 1, NotAClassNumber),
        (float("inf"), NotAClassNumber),
        (0.5, NotAClassNumber),
        (decimal.Decimal("1.5"), NotAClassNumber),
        (b"3", NotAClassNumber),
    ],
)
def test_class_number_of_every_kind_of_value(value, expected):
    if expected is NotAClassNumber:
        with pytest.raises(NotAClassNumber):
            class_number_of(value)
        with pytest.raises(NotAClassNumber):  # what the shard writers call: never an OverflowError
            class_number(value, {})
    else:
        assert class_number_of(value) == expected


def _parquet(path: Path, label, label_type=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [{"bytes": png(i), "path": f"{i}.png"} for i in range(len(label))]
    table = pa.table({"image": images, "label": pa.array(label, type=label_type)})
    pq.write_table(table, path)


PARQUET_COLUMNS = {
    "uint64": ([5, 2**64 - 1, 2**63, 0], pa.uint64(), [5, "beyond", "beyond", 0]),
    "float64": ([2.0, float("nan"), 2.5, -1.0], pa.float64(), [2, None, "not a whole number", None]),
    "nullable-float": ([1.0, None], pa.float64(), [1, None]),
    "bool": ([True, False, None], pa.bool_(), [1, 0, None]),
    "decimal": ([decimal.Decimal("3.00"), decimal.Decimal("3.50")], pa.decimal128(5, 2), [3, "not a whole"]),
    "dictionary": ([3, 4, 3], pa.dictionary(pa.int8(), pa.int64()), [3, 4, 3]),
    "float16": ([1.0, 2.0], pa.float16(), [1, 2]),
    "nulls-only": ([None, None], pa.null(), [None, None]),
}


@pytest.mark.parametrize("column", sorted(PARQUET_COLUMNS))
def test_parquet_label_columns_of_every_number_type(tmp_path, column):
    from ipmix_cli.readers.parquet import ParquetReader

    values, label_type, expected = PARQUET_COLUMNS[column]
    if column == "dictionary":
        array = pa.array(values).dictionary_encode()
        path = tmp_path / "in" / "t.parquet"
        path.parent.mkdir(parents=True)
        images = [{"bytes": png(i), "path": f"{i}.png"} for i in range(len(values))]
        pq.write_table(pa.table({"image": images, "label": array}), path)
    else:
        _parquet(tmp_path / "in" / "t.parquet", values, label_type)
    found = ParquetReader(tmp_path / "in").plan()
    labels = {item.key: item.label for item in found.inputs}
    failed = {failure.key: failure.error for failure in found.failures}
    for row, wanted in enumerate(expected):
        key = f"t.parquet/{row}"
        if isinstance(wanted, str):
            assert wanted in failed[key], (row, failed.get(key))
        else:
            assert labels[key] == wanted and type(labels[key]) is type(wanted), (row, labels.get(key))


@pytest.mark.parametrize(
    "label_type, values",
    [(pa.list_(pa.int64()), [[1], [2]]), (pa.date32(), [0, 1]), (pa.binary(), [b"a", b"b"])],
    ids=["list", "date", "binary"],
)
def test_a_default_label_column_that_cannot_hold_labels_is_the_files_failure(tmp_path, label_type, values):
    from ipmix_cli.readers.parquet import ParquetReader

    _parquet(tmp_path / "in" / "t.parquet", values, label_type)
    found = ParquetReader(tmp_path / "in").plan()
    assert len(found.inputs) == 0 and [f.key for f in found.failures] == ["t.parquet"]
    assert "--label-column" in found.failures[0].error and "'label'" in found.failures[0].error


def augment(*arguments):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], catch_exceptions=False)


@pytest.mark.parametrize("writer", ["webdataset", "parquet"])
@pytest.mark.parametrize("reader", ["webdataset", "parquet"])
def test_a_label_beyond_int64_fails_its_input_and_every_shard_output_run_finishes(tmp_path, mixing_dir, reader, writer):
    root = tmp_path / "in"
    if reader == "webdataset":
        write_tar(root / "a.tar", {"big": {"cls": b"99999999999999999999999999"}, "fine": {"cls": b"2"}})
        bad, good = "a.tar/big", "a.tar/fine"
    else:
        _parquet(root / "a.parquet", [2**64 - 1, 2], pa.uint64())
        bad, good = "a.parquet/0", "a.parquet/1"
    out = tmp_path / "out"
    for attempt in range(2):  # and the same on a re-run
        result = augment(
            root,
            out,
            "--output-format",
            writer,
            "--seed",
            1,
            "--k",
            1,
            "--jobs",
            1,
            "--backend",
            "threading",
            "--mixing-set",
            mixing_dir,
            "--quiet",
        )
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "OverflowError" not in result.output
        run = json.loads((out / ".ipmix" / "ipmix_run.json").read_text())
        assert run.get("status") != "running"
        assert {f["source"] for f in run["failures"]} == {bad}
        assert "beyond the largest class number" in run["failures"][0]["error"]
    records = [json.loads(line) for line in (out / ".ipmix" / "metadata.jsonl").read_text().splitlines()]
    assert [(r["source"], r["label"]) for r in records] == [(good, 2)]
    if writer == "webdataset":  # its Parquet manifest stores labels as int64 too
        assert pq.read_table(out / ".ipmix" / "metadata.parquet").column("label").to_pylist() == [2]
