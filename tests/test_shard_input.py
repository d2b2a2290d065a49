"""Shard input formats (issue 12): folders of WebDataset tars and of Parquet files as IN. Seed keys, labels and
pass-through fields; the round trip from a folder through shards; a Parquet file written by Hugging Face
datasets; every bad sample its own failure; and tars and tables built to attack the reader."""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs, photo_like
from ipmix_cli.cli.main import main


def augment(root: Path, out: Path, mixing: Path, *extra) -> object:
    arguments = ["augment", str(root), str(out), "--mixing-set", str(mixing), "--seed", "4", "--jobs", "1"]
    return CliRunner().invoke(main, [*arguments, *map(str, extra)], catch_exceptions=False)


def _public(out: Path, name: str) -> Path:
    """A public ledger file: at OUT's top for files, in OUT/.ipmix/ for shard outputs."""
    return out / name if (out / name).exists() else out / ".ipmix" / name


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in _public(out, "metadata.jsonl").read_text().splitlines()]


def failures(out: Path) -> dict[str, str]:
    return {f["source"]: f["error"] for f in json.loads(_public(out, "ipmix_run.json").read_text())["failures"]}


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and not re.search(r"\w+(Error|Exception):", text), text


def encoded(seed: int, image_format: str = "PNG", size=(24, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_like(size[0], size[1], seed=seed)).save(buffer, image_format)
    return buffer.getvalue()


def write_tar(path: Path, members: list) -> None:
    """A tar of ``(name, bytes)`` members, or ready ``TarInfo`` objects with their bytes (links: None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = name if isinstance(name, tarfile.TarInfo) else tarfile.TarInfo(name)
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)


def sample(key: str, seed: int, **fields) -> list[tuple[str, bytes]]:
    members = [(f"{key}.png", encoded(seed))]
    for field, value in fields.items():
        members.append((f"{key}.{field}", value if isinstance(value, bytes) else json.dumps(value).encode()))
    return members


# --- WebDataset input ----------------------------------------------------------------------------------------


def test_samples_are_keyed_by_shard_and_key_with_cls_labels_and_their_other_members(tmp_path, mixing_dir):
    write_tar(
        tmp_path / "in" / "train" / "00012.tar",
        sample("n01_1", 1, cls=b"3", json={"caption": "a fish", "url": "http://x"}, txt=b"hello")
        + sample("n01_2", 2, cls=b"5"),
    )
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1")
    assert result.exit_code == 0, result.output
    records = manifest(out)
    assert [r["source"] for r in records] == ["train/00012.tar/n01_1", "train/00012.tar/n01_2"]
    assert [r["label"] for r in records] == [3, 5]
    assert records[0]["meta"] == {"cls": 3, "json": {"caption": "a fish", "url": "http://x"}, "txt": "hello"}
    assert records[0]["file_name"] == "train/00012/n01_1_ipmix0.png"  # PNG member, PNG copy (--format auto)
    identity = json.loads(_public(out, "ipmix_run.json").read_text())["identity"]
    assert identity["input"]["format"] == "webdataset"


@pytest.mark.slow
def test_the_seed_of_a_sample_is_its_shard_relative_key(tmp_path, mixing_dir):
    """The same sample in another place of IN (another shard name) is another input with other copies; the
    same shard under another IN gives the same copies."""
    write_tar(tmp_path / "a" / "00000.tar", sample("x", 1))
    write_tar(tmp_path / "b" / "00000.tar", sample("x", 1))
    write_tar(tmp_path / "c" / "00001.tar", sample("x", 1))
    digests = {}
    for name in "abc":
        assert augment(tmp_path / name, tmp_path / f"out-{name}", mixing_dir, "--k", "1").exit_code == 0
        digests[name] = manifest(tmp_path / f"out-{name}")[0]["sha256"]
    assert digests["a"] == digests["b"] != digests["c"]


@pytest.mark.slow
def test_image_key_and_label_field_choose_members(tmp_path, mixing_dir):
    members = [
        ("s1.seg.png", encoded(9)),
        ("s1.png", encoded(1)),
        ("s1.json", json.dumps({"label": "cat"}).encode()),
        ("s2.seg.png", encoded(8)),
        ("s2.png", encoded(2)),
        ("s2.json", json.dumps({"label": "dog"}).encode()),
    ]
    write_tar(tmp_path / "in" / "a.tar", members)
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1", "--image-key", "png", "--label-field", "label",
                     "--output-format", "parquet")  # fmt: skip
    assert result.exit_code == 0, result.output
    import pyarrow.parquet as pq

    table = pq.read_table(out / "00000.parquet")
    rows = table.to_pylist()
    assert [row["label"] for row in rows] == [0, 1]
    assert json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["label"]["names"] == ["cat", "dog"]
    # the copies are of the .png members, not of the first image member (.seg.png)
    default = tmp_path / "default"
    assert augment(tmp_path / "in", default, mixing_dir, "--k", "1", "--output-format", "parquet").exit_code == 0
    assert [r["sha256"] for r in rows] != [r["sha256"] for r in pq.read_table(default / "00000.parquet").to_pylist()]


@pytest.mark.slow
def test_folder_to_shards_to_files_reproduces_the_folder_copies_with_key_field(tmp_path, mixing_dir):
    """The issue's round trip: a folder turned into WebDataset shards (each sample's original path kept in its
    JSON, as converters such as img2dataset keep a source), read back with --key-field source, gives exactly
    the copies the folder gives: same seeds, same pixels, same bytes."""
    sources = make_inputs(tmp_path / "in", 6, labels=("cats", "dogs"))
    members = []
    for number, source in enumerate(sources):
        key = f"{number:06d}"
        members.append((f"{key}.png", (tmp_path / "in" / source).read_bytes()))
        members.append((f"{key}.json", json.dumps({"source": source, "label": source.split("/")[0]}).encode()))
    write_tar(tmp_path / "shards" / "00000.tar", members[:6])
    write_tar(tmp_path / "shards" / "00001.tar", members[6:])
    direct, through = tmp_path / "direct", tmp_path / "through"
    assert augment(tmp_path / "in", direct, mixing_dir, "--k", "3").exit_code == 0
    result = augment(tmp_path / "shards", through, mixing_dir, "--k", "3", "--key-field", "source",
                     "--label-field", "label")  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = {(r["source"], r["copy"]): r for r in manifest(direct)}
    got = {(r["source"], r["copy"]): r for r in manifest(through)}
    assert set(got) == set(expected) and len(got) == 18
    for key, record in got.items():
        assert record["sha256"] == expected[key]["sha256"] and record["label"] == expected[key]["label"]
        assert (through / record["file_name"]).read_bytes() == (direct / expected[key]["file_name"]).read_bytes()
    # without --key-field the keys are the shards' own, so the copies differ
    other = tmp_path / "other"
    assert augment(tmp_path / "shards", other, mixing_dir, "--k", "3").exit_code == 0
    assert {r["sha256"] for r in manifest(other)}.isdisjoint(r["sha256"] for r in got.values())


def test_bad_samples_fail_alone_and_every_good_one_is_written(tmp_path, mixing_dir):
    """A truncated image member, a sample without an image, a '.jpg' that is no image, a tar cut in the middle:
    each bad sample is a failure with its reason, every good sample is written, exit 1."""
    jpeg = encoded(3, "JPEG", size=(64, 64))
    write_tar(
        tmp_path / "in" / "mixed.tar",
        sample("good1", 1)
        + [("truncated.jpg", jpeg[: len(jpeg) // 2])]
        + [("noimage.json", b'{"a": 1}'), ("noimage.txt", b"x")]
        + [("notimage.jpg", b"this is text, not a JPEG")]
        + sample("good2", 2),
    )
    cut = tmp_path / "cut.tar"
    write_tar(cut, sample("c1", 4) + sample("c2", 5) + sample("c3", 6))
    data = cut.read_bytes()
    with tarfile.open(cut) as archive:
        third = next(m for m in archive.getmembers() if m.name == "c3.png")
    (tmp_path / "in" / "cut.tar").write_bytes(data[: third.offset_data + third.size // 2])  # cut inside c3.png
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1", "--output-format", "webdataset")
    assert result.exit_code == 1
    no_traceback(result.output)
    assert {r["source"] for r in manifest(out)} == {"mixed.tar/good1", "mixed.tar/good2", "cut.tar/c1", "cut.tar/c2"}
    failed = failures(out)
    assert "unreadable or truncated image" in failed["mixed.tar/truncated"]
    assert "no image member (it has noimage.json, noimage.txt)" in failed["mixed.tar/noimage"]
    assert "not an image" in failed["mixed.tar/notimage"]
    assert "the tar ends inside its image c3.png" in failed["cut.tar/c3"]
    assert "cut short" in failed["cut.tar"]
    assert len(failed) == 5
    assert "mixed.tar/truncated: unreadable or truncated image" in result.output


@pytest.mark.slow
def test_a_tar_cut_inside_a_header_or_without_its_end_marker_is_reported(tmp_path, mixing_dir):
    whole = tmp_path / "whole.tar"
    write_tar(whole, sample("a", 1) + sample("b", 2))
    data = whole.read_bytes()
    with tarfile.open(whole) as archive:
        b_header = next(m for m in archive.getmembers() if m.name == "b.png").offset
        end = max(m.offset_data + m.size for m in archive.getmembers())
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "header.tar").write_bytes(data[: b_header + 100])  # inside b's (pax) header
    (tmp_path / "in" / "nomarker.tar").write_bytes(data[: end + (-end % 512)])  # every member, no end blocks
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1")
    assert result.exit_code == 1
    no_traceback(result.output)
    assert {r["source"] for r in manifest(out)} == {"header.tar/a", "nomarker.tar/a", "nomarker.tar/b"}
    failed = failures(out)
    assert set(failed) == {"header.tar", "nomarker.tar"}
    assert "without its end-of-archive marker" in failed["nomarker.tar"]


@pytest.mark.slow
def test_hostile_tars_are_read_in_place_and_never_followed(tmp_path, mixing_dir):
    """Names leading outside, absolute names, links, a huge pax header, a decompression bomb, a FIFO named like a
    shard: each is the failure of its sample (or shard), nothing is extracted, nothing is written outside OUT."""
    link = tarfile.TarInfo("link.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("hard.png")
    hard.type, hard.linkname = tarfile.LNKTYPE, "good.png"
    bomb = io.BytesIO()
    Image.new("1", (12000, 12000)).save(bomb, "PNG")  # 144 Mpixels in a few kB: over Pillow's limit
    write_tar(
        tmp_path / "in" / "evil.tar",
        sample("good", 1)
        + [("../escape.png", encoded(2)), ("/abs.png", encoded(3)), (link, None), (hard, None)]
        + [("bomb.png", bomb.getvalue())],
    )
    huge = tarfile.TarInfo("x.png")
    huge.pax_headers = {"comment": "z" * (2 << 20)}  # a 2 MB pax header
    write_tar(tmp_path / "in" / "pax.tar", sample("first", 4) + [(huge, encoded(5))])
    os.mkfifo(tmp_path / "in" / "fifo.tar")
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1", "--output-format", "webdataset")
    assert result.exit_code == 1
    no_traceback(result.output)
    assert {r["source"] for r in manifest(out)} == {"evil.tar/good", "pax.tar/first"}
    failed = failures(out)
    assert "lead outside the shard" in failed["evil.tar/../escape"]
    assert "lead outside the shard" in failed["evil.tar//abs"]
    assert "is a link (to /etc/passwd)" in failed["evil.tar/link"]
    assert "is a link (to good.png)" in failed["evil.tar/hard"]
    assert "decompression bomb" in failed["evil.tar/bomb"]
    assert "more than ipmix reads" in failed["pax.tar"]
    assert "FIFO" in failed["fifo.tar"]
    assert not (tmp_path / "escape.png").exists() and not Path("/abs.png").exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["00000.tar"]
    assert sorted(p.name for p in (out / ".ipmix").iterdir()) == [
        "ipmix_run.json",
        "metadata.jsonl",
        "metadata.parquet",
    ]


def test_odd_samples_duplicate_keys_and_bad_labels_fail_alone(tmp_path, mixing_dir):
    write_tar(
        tmp_path / "in" / "a.tar",
        sample("ok", 1, cls=b"1")
        + sample("badcls", 2, cls=b"cat")
        + [("twice.png", encoded(3)), ("twice.PNG", encoded(4))]
        + sample("ok2", 5, cls=b"-1")
        + sample("ok", 6),  # "ok" again, after other samples
    )
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1")
    assert result.exit_code == 1
    assert [(r["source"], r["label"]) for r in manifest(out)] == [("a.tar/ok", 1), ("a.tar/ok2", None)]
    failed = failures(out)
    assert "not a class number" in failed["a.tar/badcls"]
    assert "two members share a name" in failed["a.tar/twice"]
    assert "appears again after other samples" in failed["a.tar/ok"]


def test_labels_that_mix_names_and_numbers_are_a_usage_error_for_shards(tmp_path, mixing_dir):
    write_tar(tmp_path / "in" / "a.tar", sample("x", 1, json={"label": "cat"}) + sample("y", 2, json={"label": 3}))
    result = augment(tmp_path / "in", tmp_path / "out", mixing_dir, "--label-field", "label",
                     "--output-format", "webdataset")  # fmt: skip
    assert result.exit_code == 2
    assert "mix class names and class numbers (a.tar/x: 'cat', a.tar/y: 3)" in result.output
    missing = augment(tmp_path / "in", tmp_path / "out", mixing_dir, "--label-field", "nope")
    assert missing.exit_code == 2 and "no sample's JSON member has this field" in missing.output


@pytest.mark.parametrize(
    "layout, arguments, message",
    [
        ({"a.png": "image", "b.tar": "tar"}, [], "holds 1 image files and 1 .tar shards; say which to read"),
        ({"a.tar": "tar", "b.parquet": "x"}, [], "--input-format parquet or webdataset"),
        ({"a.tar": "tar"}, ["--image-column", "x"], "--image-column applies to --input-format parquet"),
        ({"a.png": "image"}, ["--label-field", "x"], "--label-field applies to --input-format webdataset"),
        ({"a.tar": "tar"}, ["--files-from", "-"], "--files-from applies to folders of images"),
    ],
)
def test_input_format_detection_and_option_errors(tmp_path, mixing_dir, layout, arguments, message):
    (tmp_path / "in").mkdir()
    for name, kind in layout.items():
        if kind == "image":
            (tmp_path / "in" / name).write_bytes(encoded(1))
        elif kind == "tar":
            write_tar(tmp_path / "in" / name, sample("x", 1))
        else:
            (tmp_path / "in" / name).write_bytes(b"PAR1")
    result = CliRunner().invoke(
        main,
        ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--mixing-set", str(mixing_dir), *arguments],
        input="a.tar\n",
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_metadata_parquet_beside_tars_is_not_an_input(tmp_path, mixing_dir):
    """ipmix's own WebDataset output (tars and metadata.parquet) reads back as WebDataset input."""
    make_inputs(tmp_path / "in", 3)
    first = tmp_path / "first"
    assert augment(tmp_path / "in", first, mixing_dir, "--k", "1", "--output-format", "webdataset").exit_code == 0
    again = tmp_path / "again"
    result = augment(first, again, mixing_dir, "--k", "1", "--label-field", "label")
    assert result.exit_code == 0, result.output
    records = manifest(again)
    assert [r["label"] for r in records] == ["cats", "cats", "dogs"]
    assert records[0]["meta"]["json"]["source"] == "cats/img0000.png"


# --- Parquet input -------------------------------------------------------------------------------------------


def test_a_parquet_dataset_written_by_datasets_is_accepted_with_its_class_names(tmp_path, mixing_dir, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import ClassLabel, Dataset, Features, Value, load_dataset
    from datasets import Image as ImageFeature

    names = ["zebra", "ant"]  # not sorted: the declared order is kept
    features = Features({"image": ImageFeature(), "label": ClassLabel(names=names), "caption": Value("string")})
    data = {
        "image": [{"bytes": encoded(i), "path": None} for i in range(5)],
        "label": [0, 1, 1, 0, 1],
        "caption": [f"picture {i}" for i in range(5)],
    }
    (tmp_path / "in").mkdir()
    Dataset.from_dict(data, features=features).to_parquet(str(tmp_path / "in" / "train-00000.parquet"))
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "2", "--output-format", "parquet")
    assert result.exit_code == 0, result.output
    records = manifest(out)
    assert [r["source"] for r in records[::2]] == [f"train-00000.parquet/{i}" for i in range(5)]
    assert [r["label"] for r in records[::2]] == [0, 1, 1, 0, 1]
    assert records[0]["meta"] == {"caption": "picture 0", "label": 0}
    loaded = load_dataset("parquet", data_files={"train": str(out / "00000.parquet")}, cache_dir=str(tmp_path / "hf"))
    rows = loaded["train"]
    assert rows.features["label"] == ClassLabel(names=names)
    assert [row["label"] for row in rows][::2] == [0, 1, 1, 0, 1]
    assert all(isinstance(row["image"], Image.Image) for row in rows)


def _write_parquet(path: Path, columns: dict, image_type=None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    arrays = {}
    for name, values in columns.items():
        arrays[name] = pa.array(values, type=(image_type or struct) if name == "image" else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path, row_group_size=2)


@pytest.mark.slow
def test_parquet_rows_keys_labels_raw_bytes_and_images_by_path(tmp_path, mixing_dir):
    import pyarrow as pa

    inside = tmp_path / "in" / "pictures" / "p.png"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(encoded(7))
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(encoded(8))
    rows = [{"bytes": encoded(i), "path": None} for i in range(11)]
    rows += [{"bytes": None, "path": "../pictures/p.png"}, {"bytes": None, "path": str(outside)}]
    _write_parquet(tmp_path / "in" / "data" / "part.parquet", {"image": rows, "label": ["b", "a"] * 6 + ["a"]})
    _write_parquet(tmp_path / "in" / "raw.parquet", {"image": [encoded(20), encoded(21)]}, image_type=pa.binary())
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1", "--input-format", "parquet")
    assert result.exit_code == 1
    no_traceback(result.output)
    records = manifest(out)
    assert [r["source"] for r in records][:3] == [f"data/part.parquet/{row:02d}" for row in range(3)]
    assert "data/part.parquet/11" in {r["source"] for r in records}  # by a path inside IN
    assert sum(r["source"].startswith("raw.parquet/") for r in records) == 2
    assert {r["label"] for r in records if r["source"].startswith("data/")} == {"a", "b"}
    assert "outside IN: not read" in failures(out)["data/part.parquet/12"]


def test_parquet_with_a_null_image_and_garbage_bytes_fails_those_rows(tmp_path, mixing_dir):
    rows = [{"bytes": encoded(0), "path": None}, None, {"bytes": b"\x89PNG garbage", "path": None}]
    rows += [{"bytes": None, "path": None}, {"bytes": encoded(1), "path": "x.png"}]
    _write_parquet(tmp_path / "in" / "t.parquet", {"image": rows, "id": ["r0", "r1", "r2", "r3", "r4"]})
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1", "--key-column", "id", "--output-format", "parquet")
    assert result.exit_code == 1
    no_traceback(result.output)
    assert [r["source"] for r in manifest(out)] == ["r0", "r4"]
    failed = failures(out)
    assert set(failed) == {"r1", "r2", "r3"}
    assert "its image is null" in failed["r1"] and "its image is null" in failed["r3"]
    assert "not an image" in failed["r2"] or "truncated" in failed["r2"]


@pytest.mark.slow
def test_hostile_parquet_files_fail_alone(tmp_path, mixing_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    claims = pa.table({"image": pa.nulls(3_000_000, type=struct)})  # three million rows in a few kB
    pq.write_table(claims, tmp_path / "in" / "claims.parquet", compression="zstd")
    assert (tmp_path / "in" / "claims.parquet").stat().st_size < 3_000_000
    (tmp_path / "in" / "junk.parquet").write_bytes(b"PAR1" + os.urandom(64) + b"PAR1")
    _write_parquet(tmp_path / "in" / "noimage.parquet", {"picture": [b"x"]}, image_type=pa.binary())
    _write_parquet(tmp_path / "in" / "ok.parquet", {"image": [{"bytes": encoded(1), "path": None}]})
    os.mkfifo(tmp_path / "in" / "fifo.parquet")
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--k", "1")
    assert result.exit_code == 1
    no_traceback(result.output)
    assert [r["source"] for r in manifest(out)] == ["ok.parquet/0"]
    failed = failures(out)
    assert "claims 3000000 rows in" in failed["claims.parquet"]
    assert "not a readable Parquet file" in failed["junk.parquet"]
    assert "has no column 'image' (its columns: picture)" in failed["noimage.parquet"]
    assert "FIFO" in failed["fifo.parquet"]


def test_parquet_input_without_pyarrow_names_the_extra(tmp_path, mixing_dir, monkeypatch):
    import sys

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = augment(tmp_path / "in", tmp_path / "out", mixing_dir)
    assert result.exit_code == 2 and "pip install 'ipmix[parquet]'" in result.output
    no_traceback(result.output)


@pytest.mark.slow
@pytest.mark.parametrize("trace", [True, False])
def test_verify_replays_copies_made_from_webdataset_and_parquet_inputs(tmp_path, mixing_dir, trace):
    """From the trace or from the seed: the replay reads each sample through the reader the run used."""
    write_tar(tmp_path / "tars" / "part.tar", [m for i in range(3) for m in sample(f"s{i}", i, cls=b"1")])
    _write_parquet(
        tmp_path / "tables" / "part.parquet", {"image": [{"bytes": encoded(i), "path": None} for i in range(3)]}
    )
    for source in ("tars", "tables"):
        out = tmp_path / f"out-{source}"
        extra = ("--trace",) if trace else ()
        assert augment(tmp_path / source, out, mixing_dir, "--k", "2", *extra).exit_code == 0
        checked = CliRunner().invoke(main, ["verify", str(out), "--replay", "6"])
        assert checked.exit_code == 0, checked.output
        assert "6 records intact, 6 replayed" in checked.output
