"""What a hostile pass of the ledger and engine broke (issue 21's own pass, on issue 20's new design), one test
per class: a re-run that keeps a manifest listing lost files, split manifests nobody checks, labels that change
while images do not, ``--prune`` deleting what it must keep, a shard replaced while it runs, faults of the
disk as tracebacks, readers that write, and names that look like ipmix's own files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from tmpfs import mounted_tmpfs, remount

from conftest import make_inputs, photo_like
from ipmix_cli.cli.main import main


def invoke(*arguments, input=None):
    return CliRunner().invoke(main, [str(argument) for argument in arguments], input=input)


def augment(root: Path, out: Path, mixing: Path, *extra, input=None):
    arguments = ["augment", root, out, "--mixing-set", mixing, "--seed", "3", "--k", "2", "--jobs", "1", "--quiet"]
    return invoke(*arguments, *extra, input=input)


def verify(out: Path):
    return invoke("verify", out)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def listed(out: Path) -> set[str]:
    return {record["file_name"] for record in records(out / "metadata.jsonl")}


def split_layout(root: Path) -> None:
    for index, (split, label) in enumerate([("train", "cat"), ("train", "dog"), ("test", "cat"), ("test", "dog")]):
        (root / split / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(20, 18, seed=index)).save(root / split / label / f"{index}.png")


# --- the manifest lists exactly the outputs present --------------------------------------------------------


def test_a_re_run_with_nothing_to_do_drops_a_lost_output_of_an_input_gone_from_in(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (tmp_path / "in" / "cats" / "img0000.png").unlink()  # kept without --prune: its outputs stay listed…
    (out / "cats" / "img0000_ipmix0.png").unlink()  # … while they are there
    again = augment(tmp_path / "in", out, mixing_dir)
    assert again.exit_code == 0, again.output
    assert "cats/img0000_ipmix0.png" not in listed(out) and "cats/img0000_ipmix1.png" in listed(out)
    assert verify(out).exit_code == 0


def test_a_list_run_drops_a_lost_output_of_an_input_it_does_not_name(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (out / "dogs" / "img0003_ipmix0.png").unlink()
    again = augment(tmp_path / "in", out, mixing_dir, "--files-from", "-", input="cats/img0000.png\n")
    assert again.exit_code == 0, again.output
    assert "dogs/img0003_ipmix0.png" not in listed(out)
    assert verify(out).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "edit"])
def test_a_split_manifest_deleted_or_edited_is_found_by_verify_and_rewritten_by_a_re_run(tmp_path, mixing_dir, damage):
    split_layout(tmp_path / "in")
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    manifest = out / "train" / "metadata.jsonl"
    written = manifest.read_bytes()
    manifest.unlink() if damage == "delete" else manifest.write_bytes(written.replace(b'"cat"', b'"dog"'))
    checked = verify(out)
    assert checked.exit_code == 1 and "train/metadata.jsonl" in checked.output, checked.output
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    assert manifest.read_bytes() == written
    assert verify(out).exit_code == 0


@pytest.mark.slow
def test_a_split_no_longer_there_leaves_no_split_manifest_after_prune_or_overwrite(tmp_path, mixing_dir):
    split_layout(tmp_path / "in")
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    for path in (tmp_path / "in" / "test").rglob("*.png"):
        path.unlink()
    assert augment(tmp_path / "in", out, mixing_dir, "--prune").exit_code == 0
    assert not (out / "test").exists() and (out / "train" / "metadata.jsonl").is_file()
    assert verify(out).exit_code == 0
    flat = tmp_path / "flat"
    make_inputs(flat, 2)
    assert augment(flat, out, mixing_dir, "--overwrite").exit_code == 0  # another run replaces this one
    assert not (out / "train").exists()
    assert verify(out).exit_code == 0


def test_corrupt_of_an_in_with_splits_writes_no_split_manifests_and_each_folder_loads_with_its_splits(tmp_path):
    datasets = pytest.importorskip("datasets")
    split_layout(tmp_path / "in")
    out = tmp_path / "out"
    result = invoke("corrupt", tmp_path / "in", out, "--corruptions", "contrast", "--severities", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert sorted(path.relative_to(out).as_posix() for path in out.rglob("metadata.jsonl")) == ["metadata.jsonl"]
    assert not (out / "train").exists()
    for record in records(out / "metadata.jsonl"):
        assert (out / record["file_name"]).is_file()
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out / "contrast" / "2"))
    assert sorted(loaded) == ["test", "train"] and loaded["train"].features["label"].names == ["cat", "dog"]


# --- what an input says besides its image ------------------------------------------------------------------


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo_like(20, 18, seed=seed)).save(buffer, "PNG")
    return buffer.getvalue()


def _write_tar(path: Path, labels: list[int]) -> None:
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for index, label in enumerate(labels):
            for extension, data in (("png", _png(index)), ("cls", str(label).encode())):
                info = tarfile.TarInfo(f"s{index:03d}.{extension}")
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))


def _write_parquet(path: Path, labels: list[int]) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    images = pa.array([{"bytes": _png(index), "path": f"s{index}.png"} for index in range(len(labels))])
    pq.write_table(pa.table({"image": images, "label": pa.array(labels, pa.int64())}), path, compression="none")


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["webdataset", "parquet"])
def test_a_sample_whose_label_changed_while_its_image_did_not_is_made_again(tmp_path, mixing_dir, reader):
    """The container's time changes, its size and the image's bytes do not ("touched" by the image alone)."""
    write, name = (_write_tar, "a.tar") if reader == "webdataset" else (_write_parquet, "a.parquet")
    (tmp_path / "in").mkdir()
    write(tmp_path / "in" / name, [0, 1, 0, 1])
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    size = (tmp_path / "in" / name).stat().st_size
    write(tmp_path / "in" / name, [0, 1, 1, 1])
    assert (tmp_path / "in" / name).stat().st_size == size
    os.utime(tmp_path / "in" / name, ns=(0, (tmp_path / "in" / name).stat().st_mtime_ns + 10**9))
    again = augment(tmp_path / "in", out, mixing_dir)
    assert again.exit_code == 0, again.output
    fresh = tmp_path / "fresh"
    assert augment(tmp_path / "in", fresh, mixing_dir).exit_code == 0
    assert records(out / "metadata.jsonl") == records(fresh / "metadata.jsonl")


@pytest.mark.slow
def test_a_folder_added_beside_the_splits_changes_what_auto_labels_mean_and_every_record_follows(tmp_path, mixing_dir):
    split_layout(tmp_path / "in")
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (tmp_path / "in" / "extra").mkdir()
    Image.fromarray(photo_like(20, 18, seed=9)).save(tmp_path / "in" / "extra" / "x.png")  # no split name: folders
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    fresh = tmp_path / "fresh"
    assert augment(tmp_path / "in", fresh, mixing_dir).exit_code == 0
    assert records(out / "metadata.jsonl") == records(fresh / "metadata.jsonl")
    assert not (out / "train" / "metadata.jsonl").exists()  # no split any more: no split manifest
    assert verify(out).exit_code == 0


@pytest.mark.slow
def test_the_classes_of_the_run_record_name_every_label_the_manifest_holds(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    (tmp_path / "in" / "dogs").rename(tmp_path / "in" / "hounds")  # the dogs' outputs stay, without --prune
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    classes = json.loads((out / "ipmix_run.json").read_text())["classes"]
    assert classes == ["cats", "dogs", "hounds"]
    assert {record["label"] for record in records(out / "metadata.jsonl")} <= set(classes)


# --- --prune deletes only what it must ----------------------------------------------------------------------


def test_prune_keeps_the_outputs_of_a_folder_that_could_not_be_listed(tmp_path, mixing_dir, monkeypatch):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    real = os.scandir
    unlistable = os.fsencode(tmp_path / "in" / "dogs")

    def scandir(path="."):
        if isinstance(path, (str, bytes)) and os.fsencode(path).rstrip(b"/") == unlistable:
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    pruned = augment(tmp_path / "in", out, mixing_dir, "--prune")
    assert "cannot list this folder" in pruned.output
    assert sorted(p.name for p in (out / "dogs").glob("*.png")) == [
        "img0001_ipmix0.png",
        "img0001_ipmix1.png",
        "img0003_ipmix0.png",
        "img0003_ipmix1.png",
    ]


@pytest.mark.slow
def test_prune_keeps_the_outputs_an_input_now_has_under_a_name_a_gone_input_had(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--format", "png").exit_code == 0
    source = tmp_path / "in" / "cats" / "img0000.png"
    Image.open(source).convert("RGB").save(source.with_suffix(".jpg"), quality=90)
    source.unlink()  # cats/img0000.jpg now makes cats/img0000_ipmix0.png
    assert augment(tmp_path / "in", out, mixing_dir, "--format", "png", "--prune").exit_code == 0
    assert {"cats/img0000_ipmix0.png", "cats/img0000_ipmix1.png"} <= listed(out)
    assert (out / "cats" / "img0000_ipmix0.png").is_file() and len(listed(out)) == 8
    assert verify(out).exit_code == 0


# --- shards, disks, readers that must not write ------------------------------------------------------------


def fill(path: Path) -> None:
    """Write ``path`` until its file system is full, to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)


def _wait_for(process: subprocess.Popen, marker: Path) -> None:
    while not marker.exists():
        try:
            process.wait(timeout=0.05)  # a poll: returns at once if the run ended before the gate
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the run ended (status {process.returncode}) before it reached the gate")


@pytest.mark.slow
def test_a_shard_of_another_split_is_not_replaced_while_it_runs(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    gate = tmp_path / "gate"
    base = [sys.executable, "-m", "ipmix_cli", "augment", str(tmp_path / "in"), str(out), "--mixing-set"]
    base += [str(mixing_dir), "--seed", "3", "--k", "2", "--jobs", "1", "--backend", "threading", "--quiet"]
    environment = {**os.environ, "IPMIX_TEST_GATE": str(gate), "IPMIX_TEST_GATE_AFTER": "1"}
    running = subprocess.Popen([*base, "--shard", "0/2"], env=environment)
    try:
        _wait_for(running, Path(f"{gate}.reached"))
        replaced = augment(tmp_path / "in", out, mixing_dir, "--seed", "3", "--shard", "0/3", "--overwrite")
        assert replaced.exit_code == 2 and "shard 0/2 of another run is being written" in replaced.output
    finally:
        Path(f"{gate}.open").touch()
        running.wait()
    assert running.returncode == 0
    assert augment(tmp_path / "in", out, mixing_dir, "--seed", "3", "--shard", "1/2").exit_code == 0
    assert invoke("merge", out).exit_code == 0 and verify(out).exit_code == 0


@pytest.mark.slow
def test_merge_on_a_read_only_or_full_out_is_one_line_and_merging_later_works(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 8)
    with mounted_tmpfs(tmp_path / "mnt", "2m") as mount:
        out = mount / "out"
        for shard in ("0/2", "1/2"):
            assert augment(tmp_path / "in", out, mixing_dir, "--shard", shard).exit_code == 0
        remount(mount, "ro")
        merged = invoke("merge", out)
        assert merged.exit_code == 1 and isinstance(merged.exception, SystemExit), merged.output
        assert "merge again once that is fixed" in merged.output or "read-only" in merged.output
        remount(mount, "rw")
        filler = mount / "filler"
        fill(filler)
        merged = invoke("merge", out)
        assert merged.exit_code == 1 and isinstance(merged.exception, SystemExit), merged.output
        filler.unlink()
        assert invoke("merge", out).exit_code == 0 and verify(out).exit_code == 0


def test_a_run_into_an_empty_out_on_a_full_disk_is_one_line(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    with mounted_tmpfs(tmp_path / "mnt", "64k") as mount:
        (mount / "out").mkdir()
        fill(mount / "filler")
        result = augment(tmp_path / "in", mount / "out", mixing_dir)
        assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), result.output
        assert "No space left" in result.output


def test_verify_and_dry_run_sort_an_out_of_order_state_in_memory_never_in_out(tmp_path, mixing_dir, monkeypatch):
    from ipmix_cli.runner import ledger

    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    state = out / ".ipmix-state.jsonl"
    state.write_text("".join(reversed(state.read_text().splitlines(keepends=True))))  # out of order
    monkeypatch.setattr(ledger, "SORT_BYTES", 64)  # every unit a chunk of its own

    def spill(*_):
        raise AssertionError("a reader wrote a temporary into OUT")

    monkeypatch.setattr(ledger, "_spill", spill)
    assert verify(out).exit_code == 0
    assert augment(tmp_path / "in", out, mixing_dir, "--dry-run").exit_code == 0


@pytest.mark.slow
def test_a_dry_run_without_the_built_in_set_writes_no_cache(tmp_path, monkeypatch):
    make_inputs(tmp_path / "in", 2)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = invoke("augment", tmp_path / "in", tmp_path / "out", "--seed", "1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "to make: 2 inputs" in result.output
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


# --- names that look like ipmix's own files ------------------------------------------------------------------


def test_an_input_named_like_a_temporary_fails_alone_and_nothing_listed_is_swept(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    hidden = "cats/.ipmix-tmp-0a1b2c3d-1-ab-1.png"
    Image.fromarray(photo_like(20, 18, seed=5)).save(tmp_path / "in" / hidden)
    out = tmp_path / "out"
    listing = f"{hidden}\ncats/img0000.png\n"
    first = augment(tmp_path / "in", out, mixing_dir, "--files-from", "-", input=listing)
    assert first.exit_code == 1 and ".ipmix" in first.output
    assert listed(out) == {"cats/img0000_ipmix0.png", "cats/img0000_ipmix1.png"}
    assert verify(out).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["metadata.shard-0-of-2.jsonl", "ipmix_run.shard-1-of-2.json", "metadata.parquet"])
def test_a_class_folder_named_like_a_shard_s_files_fails_alone(tmp_path, mixing_dir, folder):
    make_inputs(tmp_path / "in", 4)
    (tmp_path / "in" / folder).mkdir()
    for index in range(6):  # some of them in each shard: the folder exists before either shard finishes
        Image.fromarray(photo_like(20, 18, seed=5 + index)).save(tmp_path / "in" / folder / f"x{index}.png")
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        result = augment(tmp_path / "in", out, mixing_dir, "--shard", shard)
        assert result.exit_code in (0, 1) and isinstance(result.exception, (SystemExit, type(None))), result.output
    assert invoke("merge", out).exit_code == 0
    assert not any(record["source"].startswith(folder) for record in records(out / "metadata.jsonl"))
    assert verify(out).exit_code == 0


def test_outputs_named_like_ipmix_s_files_below_the_top_verify(tmp_path, mixing_dir):
    (tmp_path / "in" / "cats").mkdir(parents=True)
    for index, name in enumerate(["ipmix_run.png", "cats/ipmix_fractals.png", "cats/metadata.png"]):
        Image.fromarray(photo_like(20, 18, seed=index)).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    result = augment(tmp_path / "in", out, mixing_dir, "--labels", "none")
    assert result.exit_code == 0, result.output
    checked = verify(out)
    assert checked.exit_code == 0, checked.output


def test_verify_finds_a_run_record_with_a_status_ipmix_never_writes(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    record = json.loads((out / "ipmix_run.json").read_text())
    record["status"] = "banana"
    (out / "ipmix_run.json").write_text(json.dumps(record))
    checked = verify(out)
    assert checked.exit_code == 1 and "'banana'" in checked.output


def test_a_shared_lock_that_is_a_link_is_one_line_for_a_shard(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".ipmix-setup.lock").symlink_to(tmp_path / "elsewhere")
    result = augment(tmp_path / "in", out, mixing_dir, "--shard", "0/2")
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "symbolic link" in result.output and not (tmp_path / "elsewhere").exists()


# --- corrupt's frost pictures ---------------------------------------------------------------------------------


def test_a_frost_picture_that_does_not_decode_is_refused_at_the_start_in_one_line(tmp_path):
    from ipmix_cli.corruptions.frost import FROST_FILES

    pictures = tmp_path / "frost"
    pictures.mkdir()
    for index, name in enumerate(FROST_FILES):
        Image.fromarray(photo_like(40, 40, seed=index)).save(pictures / name)
    (pictures / FROST_FILES[2]).write_bytes(b"not a picture")
    make_inputs(tmp_path / "in", 2)
    arguments = ["corrupt", tmp_path / "in", tmp_path / "out", "--corruptions", "frost", "--frost-pictures", pictures]
    result = invoke(*arguments, "--seed", "1")
    assert result.exit_code == 2 and FROST_FILES[2] in result.output and "cannot be decoded" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ipmix_run.json", "metadata.jsonl", ".ipmix-state.jsonl"])
def test_a_folder_where_ipmix_keeps_a_file_is_refused_before_anything_is_removed(tmp_path, mixing_dir, name):
    """(A link or a FIFO there is replaced by the file's atomic write, never followed.)"""
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    outputs = sorted(path.name for path in out.rglob("*.png"))
    (out / name).unlink()
    (out / name).mkdir()
    (out / name / "x").write_text("someone's")
    result = augment(tmp_path / "in", out, mixing_dir, "--overwrite")
    assert result.exit_code == 2 and f"{name} is a folder" in result.output, result.output
    assert sorted(path.name for path in out.rglob("*.png")) == outputs and (out / name / "x").is_file()


def test_verify_finds_an_edited_parquet_manifest_and_strays_among_ipmix_s_files(tmp_path, mixing_dir):
    pytest.importorskip("pyarrow")
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir, "--output-format", "webdataset").exit_code == 0
    assert verify(out).exit_code == 0
    parquet = out / ".ipmix" / "metadata.parquet"
    written = parquet.read_bytes()
    parquet.write_bytes(written[:-1] + bytes([written[-1] ^ 1]))
    checked = verify(out)
    assert checked.exit_code == 1 and ".ipmix/metadata.parquet: not the manifest the run wrote" in checked.output
    parquet.write_bytes(written)
    (out / ".ipmix" / "notes.txt").write_text("stray")
    (out / ".ipmix-x.png").write_bytes(b"stray")
    checked = verify(out)
    assert checked.exit_code == 1, checked.output
    assert ".ipmix/notes.txt" in checked.output and ".ipmix-x.png" in checked.output


def test_a_run_refused_while_verify_reads_does_not_blame_a_finished_run(tmp_path, mixing_dir):
    import fcntl

    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0  # its pid stays stamped in the lock file
    (out / ".ipmix.lock").write_text("999999999 " + os.uname().nodename + "\n")  # a process long gone
    fd = os.open(out / ".ipmix.lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as verify holds it
        refused = augment(tmp_path / "in", out, mixing_dir)
    finally:
        os.close(fd)
    assert refused.exit_code == 2 and "999999999" not in refused.output
    assert "another ipmix process (a run, or a verify)" in refused.output


def test_verify_refuses_while_a_shard_of_a_run_writes_out(tmp_path, mixing_dir):
    """Shards hold OUT's run lock shared, as verify does: verify also looks for a shard's own lock held."""
    import fcntl

    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", shard).exit_code == 0
    assert invoke("merge", out).exit_code == 0
    assert verify(out).exit_code == 0
    with open(out / ".ipmix-shard-1-of-2.lock", "a") as held:  # as a shard's process holds it while it runs
        fcntl.flock(held, fcntl.LOCK_EX)
        result = verify(out)
    assert result.exit_code == 2 and "shard 1/2" in result.output and "Traceback" not in result.output
    assert verify(out).exit_code == 0


def test_verify_refuses_a_check_a_shard_overlapped(tmp_path, mixing_dir, monkeypatch):
    """A shard that started (and even finished) while verify read OUT stamped its lock: verify says so."""
    from ipmix_cli.runner import verify as verifying

    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        assert augment(tmp_path / "in", out, mixing_dir, "--shard", shard).exit_code == 0
    assert invoke("merge", out).exit_code == 0
    checked = verifying._verify

    def a_shard_runs_meanwhile(*arguments):
        report = checked(*arguments)
        lock = out / ".ipmix-shard-0-of-2.lock"  # made (merge removed it) and stamped by the shard's start
        lock.write_text("4242 host\n")
        return report

    monkeypatch.setattr(verifying, "_verify", a_shard_runs_meanwhile)
    result = verify(out)
    assert result.exit_code == 2 and "shard 0/2" in result.output and "again" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("source", ["kept", "made A's"])
@pytest.mark.parametrize("where", ["state", "journal"])
def test_a_ledger_line_claiming_another_inputs_output_is_dropped_and_nothing_is_listed_twice(
    tmp_path, mixing_dir, where, source
):
    """A line of input A's unit that also lists input B's output (its digest and signature intact; its record's
    source kept as B, or made A's too), in the state or in a journal left behind: the re-run's manifest lists
    each output once, and the next run's is an untampered run's (helper-7's #15)."""
    make_inputs(tmp_path / "in", 6)
    out, clean = tmp_path / "out", tmp_path / "clean"
    for folder in (out, clean):
        assert augment(tmp_path / "in", folder, mixing_dir).exit_code == 0
    state = out / ".ipmix-state.jsonl"
    units = [json.loads(line) for line in state.read_text().splitlines()]
    forged = {**units[0], "files": units[0]["files"] + units[1]["files"][:1]}
    stolen = dict(units[1]["records"][0])
    if source == "made A's":
        stolen["source"] = units[0]["records"][0]["source"]
    forged["records"] = units[0]["records"] + [stolen]
    if where == "state":
        units[0] = forged
        state.write_text("".join(json.dumps(unit) + "\n" for unit in units))
    else:
        (out / ".ipmix-journal.w-forged.jsonl").write_text(json.dumps(forged) + "\n")
    for folder in (out, clean):  # something to do, so that the manifest is written again
        (folder / units[2]["files"][0][0]).unlink()
        assert augment(tmp_path / "in", folder, mixing_dir).exit_code == 0
    names = [record["file_name"] for record in records(out / "metadata.jsonl")]
    assert len(names) == len(set(names))
    if source == "made A's":  # listed by neither: the next run makes it again for its own input
        assert units[1]["files"][0][0] not in names
        assert augment(tmp_path / "in", out, mixing_dir).exit_code == 0
    assert (out / "metadata.jsonl").read_bytes() == (clean / "metadata.jsonl").read_bytes()
    assert verify(out).exit_code == 0
