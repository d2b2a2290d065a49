"""What the ledger promises across runs (issue 20): changed inputs are made again, removed ones are reported and
pruned on request, splits load as splits, shard outputs load from OUT with folder readers, no input name
collides with ipmix's own files, and ``--dry-run`` writes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs, photo_like
from ipmix_cli.cli.main import main


def augment(root: Path, out: Path, mixing: Path, *extra):
    arguments = ["augment", str(root), str(out), "--mixing-set", str(mixing), "--seed", "3", "--k", "2"]
    return CliRunner().invoke(main, [*arguments, *map(str, extra)])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def stamps(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*.png")}


# --- changed, touched and removed inputs --------------------------------------------------------------------


@pytest.mark.slow
def test_an_edited_input_is_made_again_a_touched_one_is_not_and_both_are_said(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--jobs", "1").exit_code == 0
    before = stamps(out)
    edited, touched = tmp_path / "in" / "cats" / "img0000.png", tmp_path / "in" / "dogs" / "img0001.png"
    Image.fromarray(photo_like(24, 20, seed=99)).save(edited)  # the same name, other pixels
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))  # the same bytes
    again = augment(tmp_path / "in", out, mixing_dir, "--jobs", "1")
    assert again.exit_code == 0, again.output
    assert "1 input(s) changed since their outputs were made: made again" in again.stderr
    after = stamps(out)
    redone = {name for name in after if after[name] != before[name]}
    assert redone == {"cats/img0000_ipmix0.png", "cats/img0000_ipmix1.png"}
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["counts"]["changed"] == 1 and record["counts"]["already_done"] == 3
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    third = augment(tmp_path / "in", out, mixing_dir, "--jobs", "1")
    assert "nothing to do" in third.stderr and stamps(out) == after  # the touched input's new time was recorded


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["webdataset", "parquet"])
def test_an_edited_input_makes_its_shard_again_and_leaves_the_others(tmp_path, mixing_dir, writer):
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    shards = ("--output-format", writer, "--samples-per-shard", "4", "--jobs", "1")
    assert augment(tmp_path / "in", out, mixing_dir, *shards).exit_code == 0
    extension = "tar" if writer == "webdataset" else "parquet"
    before = {p.name: p.read_bytes() for p in out.glob(f"*.{extension}")}
    assert len(before) == 3
    Image.fromarray(photo_like(24, 20, seed=77)).save(tmp_path / "in" / "dogs" / "img0005.png")  # the last shard's
    again = augment(tmp_path / "in", out, mixing_dir, *shards)
    assert again.exit_code == 0 and "1 input(s) changed" in again.stderr
    after = {p.name: p.read_bytes() for p in out.glob(f"*.{extension}")}
    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == [f"00002.{extension}"]
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


def test_a_removed_input_is_reported_kept_and_listed_until_prune_removes_it(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (tmp_path / "in" / "cats" / "img0002.png").unlink()
    kept = augment(tmp_path / "in", out, mixing_dir)
    assert kept.exit_code == 0
    assert "1 input(s) no longer in IN: their outputs are kept and listed; --prune removes them" in kept.stderr
    assert (out / "cats" / "img0002_ipmix0.png").exists()
    assert "cats/img0002.png" in {r["source"] for r in records(out / "metadata.jsonl")}
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    pruned = augment(tmp_path / "in", out, mixing_dir, "--prune")
    assert pruned.exit_code == 0 and "their 2 outputs removed (--prune)" in pruned.stderr
    assert not (out / "cats" / "img0002_ipmix0.png").exists()
    assert "cats/img0002.png" not in {r["source"] for r in records(out / "metadata.jsonl")}
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


def test_a_list_run_does_not_take_inputs_it_did_not_list_for_removed(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    listing = tmp_path / "list.txt"
    listing.write_text(sources[0] + "\n")
    subset = augment(tmp_path / "in", out, mixing_dir, "--files-from", listing, "--prune")
    assert subset.exit_code == 0 and "no longer in IN" not in subset.stderr
    assert len(records(out / "metadata.jsonl")) == 8  # the other inputs' outputs are untouched


# --- splits ---------------------------------------------------------------------------------------------------


def _split_folder(root: Path) -> None:
    for split, count in (("train", 3), ("val", 2), ("test", 2)):
        make_inputs(root / split, count, size=(16, 16), labels=("cat", "dog"), seed=len(split))


def test_split_folders_become_splits_that_datasets_loads_with_their_class_names(tmp_path, mixing_dir):
    datasets = pytest.importorskip("datasets")
    _split_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir)
    assert result.exit_code == 0, result.output
    manifest = records(out / "metadata.jsonl")
    assert {(r["split"], r["label"]) for r in manifest} == {
        (split, label) for split in ("train", "val", "test") for label in ("cat", "dog")
    }
    assert (out / "train" / "metadata.jsonl").exists() and (out / "val" / "metadata.jsonl").exists()
    run = json.loads((out / "ipmix_run.json").read_text())
    assert run["splits"] == ["test", "train", "val"] and run["classes"] == ["cat", "dog"]
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out))
    assert set(loaded) == {"train", "validation", "test"}
    assert len(loaded["train"]) == 3 * 2 and len(loaded["validation"]) == 2 * 2
    assert sorted(set(loaded["train"]["label"])) == ["cat", "dog"]
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


@pytest.mark.parametrize("labels, expected", [("folder", {("train", None), ("val", None), ("test", None)})])
def test_labels_option_overrides_the_split_rule(tmp_path, mixing_dir, labels, expected):
    _split_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--labels", labels).exit_code == 0
    assert {(r["label"], r.get("split")) for r in records(out / "metadata.jsonl")} == expected
    none = tmp_path / "none"
    assert augment(tmp_path / "in", none, mixing_dir, "--labels", "none").exit_code == 0
    assert {r["label"] for r in records(none / "metadata.jsonl")} == {None}


@pytest.mark.slow
def test_a_dry_run_counts_splits_and_classes_and_writes_nothing(tmp_path, mixing_dir):
    _split_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert not out.exists()
    assert "train / cat: 2" in result.stderr and "val / dog: 1" in result.stderr
    assert "to make: 7 inputs → 14 outputs, about" in result.stderr
    assert augment(tmp_path / "in", out, mixing_dir, "--jobs", "1").exit_code == 0
    before = stamps(out)
    again = augment(tmp_path / "in", out, mixing_dir, "--k", "3", "--dry-run")
    assert "already done in" in again.stderr and "to make: 7 inputs → 7 outputs" in again.stderr
    assert stamps(out) == before and not (out / "cats").exists()


# --- shard outputs and folder readers ------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["webdataset", "parquet"])
def test_shard_outputs_load_from_out_with_folder_readers(tmp_path, mixing_dir, writer):
    datasets = pytest.importorskip("datasets")
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow.dataset as pds

    make_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    assert (
        augment(tmp_path / "in", out, mixing_dir, "--output-format", writer, "--samples-per-shard", "4").exit_code == 0
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        f"{i:05d}.{'tar' if writer == 'webdataset' else 'parquet'}" for i in range(3)
    ]
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset(writer, data_dir=str(out))["train"]
    assert len(loaded) == 10
    if writer == "parquet":
        assert pq.read_table(out).num_rows == 10 and pds.dataset(out).count_rows() == 10


# --- names that would collide with ipmix's own files ----------------------------------------------------------

RESERVED = ["metadata.jsonl", "metadata.csv", "metadata.parquet", "ipmix_run.json", "ipmix_fractals.json"]


@pytest.mark.parametrize("name", RESERVED)
def test_a_class_folder_named_like_an_ipmix_file_fails_its_inputs_not_out(tmp_path, mixing_dir, name):
    make_inputs(tmp_path / "in", 2, labels=("cats",))
    make_inputs(tmp_path / "in", 1, labels=(name,), seed=5)
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{name}/img0000.png: its folder '{name}' has the name of a file ipmix writes in OUT" in result.stderr
    assert (out / "metadata.jsonl").is_file() and (out / "ipmix_run.json").is_file()
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 1  # and again: OUT is not wedged


def test_a_folder_below_a_split_named_like_a_split_manifest_fails_its_inputs(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in" / "train", 2, labels=("cat",))
    make_inputs(tmp_path / "in" / "train", 1, labels=("metadata.jsonl",), seed=9)
    result = augment(tmp_path / "in", tmp_path / "out", mixing_dir)
    assert result.exit_code == 1 and "train/metadata.jsonl/img0000.png" in result.stderr
    assert (tmp_path / "out" / "train" / "metadata.jsonl").is_file()


def test_a_listed_input_under_an_ipmix_name_fails_alone(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in" / ".ipmix-state.jsonl", 1, labels=None)
    make_inputs(tmp_path / "in", 1, labels=None, seed=4)
    listing = tmp_path / "list.txt"
    listing.write_text(".ipmix-state.jsonl/img0000.png\nimg0000.png\n")
    result = augment(tmp_path / "in", tmp_path / "out", mixing_dir, "--files-from", listing)
    assert result.exit_code == 1 and "starts with .ipmix" in result.stderr
    assert CliRunner().invoke(main, ["verify", str(tmp_path / "out")]).exit_code == 0


# --- help ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["augment", "corrupt"])
def test_help_lists_options_by_group_with_examples(command):
    shown = CliRunner().invoke(main, [command, "--help"]).output
    sections = [line for line in shown.splitlines() if line.endswith("options:") or line == "Examples:"]
    middle = "Augmentation options:" if command == "augment" else "Corruption options:"
    assert sections == ["Input options:", middle, "Output options:", "Run options:", "Other options:", "Examples:"]
    assert f"ipmix {command} " in shown.split("Examples:")[1]


def test_k_has_a_short_form():
    assert "-k, --k" in CliRunner().invoke(main, ["augment", "--help"]).output
