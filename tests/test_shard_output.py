"""Shard output formats (issue 12): WebDataset tars and Parquet files, read by the real clients (webdataset,
Hugging Face datasets, pyarrow), byte for byte what the files format writes, assigned to shards by the
documented rule, and resumed shard by shard."""

from __future__ import annotations

import gc
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs
from ipmix_cli.cli.main import main

CLASSES = ["cats", "dogs", "owls"]


def augment(root: Path, out: Path, mixing: Path, *extra) -> object:
    arguments = ["augment", str(root), str(out), "--mixing-set", str(mixing), "--seed", "4", "--jobs", "1"]
    return CliRunner().invoke(main, [*arguments, *map(str, extra)], catch_exceptions=False)


def manifest(out: Path) -> list[dict]:
    """The manifest: at OUT's top for files, in OUT/.ipmix/ for shard outputs (hidden from dataset readers)."""
    path = out / "metadata.jsonl" if (out / "metadata.jsonl").exists() else out / ".ipmix" / "metadata.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def tar_samples(path: Path) -> list[tuple[str, dict[str, bytes]]]:
    """(key, {field: bytes}) of every sample, grouping adjacent members as WebDataset does."""
    samples: list[tuple[str, dict[str, bytes]]] = []
    with tarfile.open(path) as archive:
        for info in archive:
            key, _, field = info.name.partition(".")
            if not samples or samples[-1][0] != key:
                samples.append((key, {}))
            samples[-1][1][field] = archive.extractfile(info).read()
    return samples


@pytest.fixture
def hf_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return str(tmp_path / "hf-cache")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::ResourceWarning")  # webdataset 1.0.2 leaves its tar files to the collector
def test_webdataset_shards_iterate_with_webdataset_every_sample_with_image_json_and_cls(tmp_path, mixing_dir):
    wds = pytest.importorskip("webdataset")
    make_inputs(tmp_path / "in", 9, labels=CLASSES)
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset", "--k", "2",
                     "--samples-per-shard", "6")  # fmt: skip
    assert result.exit_code == 0, result.output
    shards = sorted(out.glob("*.tar"))
    assert [p.name for p in shards] == ["00000.tar", "00001.tar", "00002.tar"]  # 6 // 2 = 3 inputs per shard
    records = manifest(out)
    dataset = wds.WebDataset([str(p) for p in shards], shardshuffle=False).decode("pil")
    samples = list(dataset)
    assert len(samples) == len(records) == 18
    for sample, record in zip(samples, records):  # shards hold the inputs in key order, copies in order
        assert {"jpg", "json", "cls"} <= set(sample)
        assert sample["json"] == record
        assert sample["cls"] == CLASSES.index(record["label"])
        assert sample["jpg"].size == (record["width"], record["height"])
        assert "." not in sample["__key__"] and sample["__key__"] + ".jpg" == record["file_name"]
        assert Path(sample["__url__"]).name == record["shard"]
    del dataset, samples
    gc.collect()


def test_tar_members_have_fixed_headers_and_each_sample_is_adjacent(tmp_path, mixing_dir):
    import hashlib

    make_inputs(tmp_path / "in", 5, labels=CLASSES)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset", "--keep-original").exit_code == 0
    records = {(r["shard"], r["file_name"]): r for r in manifest(out)}
    with tarfile.open(out / "00000.tar") as archive:
        members = archive.getmembers()
        for info in members:
            assert (info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode) == (0, 0, 0, "", "", 0o644)
            assert info.isreg()
        keys = [info.name.partition(".")[0] for info in members]
        runs = [key for index, key in enumerate(keys) if index == 0 or keys[index - 1] != key]
        assert len(runs) == len(set(runs)) == 5 * 5  # every sample's members together, each sample once
        for info in members:
            if info.name.endswith(".jpg"):
                data = archive.extractfile(info).read()
                assert hashlib.sha256(data).hexdigest() == records[("00000.tar", info.name)]["sha256"]
    assert any(name.endswith("_original.jpg") for _, name in records)


@pytest.mark.slow
def test_shards_load_with_hugging_face_datasets_images_and_labels_intact(tmp_path, mixing_dir, hf_offline):
    from datasets import ClassLabel, load_dataset

    make_inputs(tmp_path / "in", 6, labels=CLASSES)
    for output_format in ("webdataset", "parquet"):
        out = tmp_path / output_format
        result = augment(tmp_path / "in", out, mixing_dir, "--output-format", output_format, "--k", "2",
                         "--samples-per-shard", "4", "--trace")  # fmt: skip
        assert result.exit_code == 0, result.output
        records = manifest(out)
        files = sorted(str(p) for p in out.glob("0*." + ("tar" if output_format == "webdataset" else "parquet")))
        assert len(files) == 3
        loaded = load_dataset(output_format, data_files={"train": files}, cache_dir=hf_offline)["train"]
        assert loaded.num_rows == len(records) == 12
        for row, record in zip(loaded, records):
            if output_format == "webdataset":
                image, label, fields = row["jpg"], row["cls"], row["json"]
                assert fields["source"] == record["source"] and fields["sha256"] == record["sha256"]
            else:
                image, label, fields = row["image"], row["label"], row
                for name in ("file_name", "shard", "source", "copy", "seed", "mixing_picture", "sha256", "trace"):
                    assert row[name] == record[name], name
            assert isinstance(image, Image.Image) and image.size == (record["width"], record["height"])
            assert label == CLASSES.index(record["label"])
        if output_format == "parquet":
            assert loaded.features["label"] == ClassLabel(names=CLASSES)


def test_the_manifest_reads_with_pyarrow_as_the_same_rows(tmp_path, mixing_dir):
    pq = pytest.importorskip("pyarrow.parquet")
    make_inputs(tmp_path / "in", 4, labels=CLASSES)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset", "--k", "3").exit_code == 0
    table = pq.read_table(out / ".ipmix" / "metadata.parquet")
    rows = table.to_pylist()
    records = manifest(out)
    assert len(rows) == len(records) == 12
    for row, record in zip(rows, records):
        assert row["label"] == CLASSES.index(record["label"])
        assert {k: v for k, v in row.items() if k not in ("label", "meta")} == {
            k: v for k, v in record.items() if k != "label"
        }
    names = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]["label"]["names"]
    assert names == CLASSES


def _images_by_copy(out: Path, output_format: str) -> dict[tuple, bytes]:
    found = {}
    if output_format == "files":
        for record in manifest(out):
            found[record["source"], record["copy"]] = (out / record["file_name"]).read_bytes()
    elif output_format == "webdataset":
        for shard in sorted(out.glob("*.tar")):
            for _, fields in tar_samples(shard):
                record = json.loads(fields["json"])
                found[record["source"], record["copy"]] = fields["png"]
    else:
        import pyarrow.parquet as pq

        for shard in sorted(out.glob("0*.parquet")):
            for row in pq.read_table(shard).to_pylist():
                found[row["source"], row["copy"]] = row["image"]["bytes"]
    return found


@pytest.mark.slow
def test_shards_hold_exactly_the_bytes_the_files_format_writes(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 5, labels=CLASSES)
    images = {}
    for output_format in ("files", "webdataset", "parquet"):
        out = tmp_path / output_format
        shards = () if output_format == "files" else ("--samples-per-shard", "7")
        result = augment(tmp_path / "in", out, mixing_dir, "--output-format", output_format, "--format", "png",
                         "--keep-original", *shards)  # fmt: skip
        assert result.exit_code == 0, result.output
        images[output_format] = _images_by_copy(out, output_format)
    assert len(images["files"]) == 5 * 5
    assert images["webdataset"] == images["files"] == images["parquet"]


def test_format_auto_gives_jpeg_in_shards_and_unlabelled_inputs_get_class_minus_one(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3, labels=CLASSES)
    Image.new("RGB", (20, 20), "red").save(tmp_path / "in" / "loose.png")  # directly in IN: no label
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset", "--k", "1").exit_code == 0
    samples = tar_samples(out / "00000.tar")
    assert all(set(fields) == {"jpg", "json", "cls"} for _, fields in samples)  # PNG inputs, JPEG copies
    assert all(fields["jpg"][:3] == b"\xff\xd8\xff" for _, fields in samples)
    by_source = {json.loads(fields["json"])["source"]: int(fields["cls"]) for _, fields in samples}
    assert by_source["loose.png"] == -1 and by_source["dogs/img0001.png"] == CLASSES.index("dogs")


def test_inputs_without_labels_give_no_cls_members(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3, labels=())
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset", "--k", "1").exit_code == 0
    assert all(set(fields) == {"jpg", "json"} for _, fields in tar_samples(out / "00000.tar"))
    assert json.loads((out / ".ipmix" / "ipmix_run.json").read_text())["classes"] is None


def _shard_sources(out: Path) -> dict[str, list[str]]:
    return {
        shard.name: sorted({json.loads(fields["json"])["source"] for _, fields in tar_samples(shard)})
        for shard in sorted(out.glob("*.tar"))
    }


@pytest.mark.slow
def test_inputs_go_to_shards_in_sorted_runs_and_added_inputs_leave_earlier_shards_alone(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 12, labels=("cats", "dogs"))
    out = tmp_path / "out"
    settings = ("--output-format", "webdataset", "--k", "2", "--samples-per-shard", "5")  # 5 // 2 = 2 inputs
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    ordered = sorted(sources)
    assert _shard_sources(out) == {f"{i:05d}.tar": ordered[2 * i : 2 * i + 2] for i in range(6)}
    before = {p.name: (p.read_bytes(), p.stat().st_ino) for p in out.glob("*.tar")}

    # an input that sorts after every other one: the earlier shards are neither changed nor rewritten
    Image.new("RGB", (20, 24), "blue").save(tmp_path / "in" / "dogs" / "zz.png")
    again = augment(tmp_path / "in", out, mixing_dir, *settings)
    assert again.exit_code == 0 and "12 already done" in again.output
    after = {p.name: (p.read_bytes(), p.stat().st_ino) for p in out.glob("*.tar")}
    assert {name: after[name] for name in before} == before
    assert _shard_sources(out)["00006.tar"] == ["dogs/zz.png"]

    # an input that sorts first shifts every run: every shard is rewritten
    Image.new("RGB", (20, 24), "green").save(tmp_path / "in" / "cats" / "a.png")
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    assert _shard_sources(out)["00000.tar"] == ["cats/a.png", "cats/img0000.png"]
    assert (out / "00000.tar").read_bytes() != before["00000.tar"][0]
    assert len(manifest(out)) == 14 * 2


@pytest.mark.slow
def test_removed_inputs_leave_no_stale_shard_behind(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 6, labels=("cats", "dogs"))
    out = tmp_path / "out"
    settings = ("--output-format", "webdataset", "--k", "1", "--samples-per-shard", "2")
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    assert len(list(out.glob("*.tar"))) == 3
    for source in sorted(sources)[:2]:
        (tmp_path / "in" / source).unlink()
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    assert _shard_sources(out) == {"00000.tar": sorted(sources)[2:4], "00001.tar": sorted(sources)[4:]}
    assert sorted(r["source"] for r in manifest(out)) == sorted(sources)[2:]


@pytest.mark.slow
def test_a_new_class_renumbers_every_shard(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4, labels=("cats", "dogs"))
    out = tmp_path / "out"
    settings = ("--output-format", "webdataset", "--k", "1", "--samples-per-shard", "2")
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    first = tar_samples(out / "00000.tar")[0][1]
    assert json.loads(first["json"])["source"] == "cats/img0000.png" and first["cls"] == b"0"
    (tmp_path / "in" / "ants").mkdir()
    Image.new("RGB", (20, 24), "blue").save(tmp_path / "in" / "ants" / "zz.png")  # sorts first: cats become 1
    again = augment(tmp_path / "in", out, mixing_dir, *settings)
    assert again.exit_code == 0 and "already done" not in again.output
    by_source = {json.loads(f["json"])["source"]: f["cls"] for p in out.glob("*.tar") for _, f in tar_samples(p)}
    assert by_source["cats/img0000.png"] == b"1" and by_source["ants/zz.png"] == b"0"


@pytest.mark.slow
def test_a_damaged_shard_is_rewritten_with_the_same_bytes_and_only_it(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 6, labels=CLASSES)
    out = tmp_path / "out"
    settings = ("--output-format", "parquet", "--k", "2", "--samples-per-shard", "4")
    assert augment(tmp_path / "in", out, mixing_dir, *settings).exit_code == 0
    original = {p.name: p.read_bytes() for p in out.glob("0*.parquet")}
    (out / "00001.parquet").write_bytes(b"PAR1 tampered")
    again = augment(tmp_path / "in", out, mixing_dir, *settings)
    assert again.exit_code == 0 and "4 already done" in again.output
    assert {p.name: p.read_bytes() for p in out.glob("0*.parquet")} == original


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["webdataset", "parquet"])
def test_shard_output_needs_no_pyarrow_and_verifying_parquet_without_it_names_the_extra(
    tmp_path, mixing_dir, monkeypatch, output_format
):
    """Both shard formats (and WebDataset's Parquet manifest) are written by ipmix's own writer."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    make_inputs(tmp_path / "in", 1)
    result = augment(tmp_path / "in", tmp_path / "out", mixing_dir, "--output-format", output_format)
    assert result.exit_code == 0, result.output
    checked = CliRunner().invoke(main, ["verify", str(tmp_path / "out")])
    if output_format == "webdataset":
        assert checked.exit_code == 0, checked.output
    else:
        assert checked.exit_code == 1 and "pip install 'ipmix[parquet]'" in checked.output
    assert "Traceback" not in checked.output


def test_a_seed_beyond_64_bits_is_refused_for_shards(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1)
    arguments = ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--mixing-set", str(mixing_dir)]
    result = CliRunner().invoke(main, [*arguments, "--output-format", "parquet", "--seed", str(2**64)])
    assert result.exit_code == 2 and "below 2**64" in result.output


def test_tar_member_helpers_write_what_tarfile_reads():
    from ipmix_cli.writers.webdataset import member

    data = bytes(range(256)) * 3
    stream = io.BytesIO(member("00000_0_ipmix0.png", data) + b"\0" * 1024)
    with tarfile.open(fileobj=stream) as archive:
        (info,) = archive.getmembers()
        assert info.name == "00000_0_ipmix0.png" and archive.extractfile(info).read() == data


def test_dropping_a_shard_on_a_full_disk_raises_nothing_and_leaves_no_temporary(tmp_path):
    """Closing the dropped shard's temporary flushes its buffer, which fails on the full disk that made the
    run drop it: that second error must not replace the run's one-line stop with a worker traceback."""
    from test_hardening import _mount_tmpfs

    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.writers import WriterSettings
    from ipmix_cli.writers.webdataset import WebDatasetWriter

    mount = tmp_path / "small"
    _mount_tmpfs(mount, "size=64k")
    try:
        out = SafeFolder(mount)
        writer = WebDatasetWriter(out, WriterSettings(None, (), 10), "00000.tar")
        writer._open()
        writer._sink.write(b"x" * 1000)  # held in the stream's buffer
        filler = mount / "filler"
        with open(filler, "wb", buffering=0) as stream:  # the disk is now full
            try:
                while True:
                    stream.write(b"\0" * 4096)
            except OSError:
                pass
        writer.abort()
        assert sorted(p.name for p in mount.iterdir()) == ["filler"]
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_worker_processes_give_pyarrow_the_system_allocator_and_keep_pandas_out():
    """A Parquet-writing worker holds 10 MB less with the system allocator than with pyarrow's jemalloc."""
    pytest.importorskip("pyarrow")
    code = (
        "from ipmix_cli.runner.backends import worker_started\n"
        "worker_started()\n"
        "import sys, pyarrow as pa\n"
        "pa.array([1, 2])\n"
        "print(pa.default_memory_pool().backend_name, 'pandas' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert shown == ["system", "False"]
