"""``ipmix verify`` checks the manifest against what the run recorded (issue 21): every way a manifest can be
edited is found, it needs no write access, and it reports what would break a dataset reader."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_inputs
from ipmix_cli.cli.main import main


def verify(out: Path):
    return CliRunner().invoke(main, ["verify", str(out)])


@pytest.fixture
def made(tmp_path, mixing_dir) -> Path:
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    arguments = ["augment", str(tmp_path / "in"), str(out), "--mixing-set", str(mixing_dir), "--seed", "1"]
    assert CliRunner().invoke(main, [*arguments, "--k", "2", "--quiet"]).exit_code == 0
    assert verify(out).exit_code == 0
    return out


def _lines(out: Path) -> list[str]:
    return (out / "metadata.jsonl").read_text().splitlines(keepends=True)


def _edit_field(field: str, value):
    def edit(out: Path) -> None:
        lines = _lines(out)
        record = json.loads(lines[1])
        record[field] = value  # the sha256 is left as it was
        lines[1] = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        (out / "metadata.jsonl").write_text("".join(lines))

    return edit


def _duplicate(out: Path) -> None:
    lines = _lines(out)
    (out / "metadata.jsonl").write_text("".join(lines + [lines[0]]))


def _truncate(out: Path) -> None:
    (out / "metadata.jsonl").write_text("".join(_lines(out))[:-30])


def _drop(out: Path) -> None:
    (out / "metadata.jsonl").write_text("".join(_lines(out)[1:]))


def _forge(out: Path) -> None:
    import hashlib

    digest = hashlib.sha256((out / "ipmix_run.json").read_bytes()).hexdigest()
    forged = {"file_name": "ipmix_run.json", "source": "x", "sha256": digest}
    (out / "metadata.jsonl").write_text("".join(_lines(out)) + json.dumps(forged) + "\n")


def _not_json(out: Path) -> None:
    (out / "metadata.jsonl").write_text("".join(_lines(out)) + "{not json\n")


EDITS = {
    "a duplicated line": (_duplicate, "is listed twice"),
    "a truncated last line": (_truncate, "not a valid record"),
    "a line removed": (_drop, "recorded by the run but missing from metadata.jsonl"),
    "a label edited, sha256 kept": (_edit_field("label", "dogs"), "differs from what the run recorded"),
    "a seed edited, sha256 kept": (_edit_field("seed", 2), "differs from what the run recorded"),
    "a size edited, sha256 kept": (_edit_field("width", 9), "differs from what the run recorded"),
    "a forged record of ipmix_run.json": (_forge, "names ipmix_run.json, one of ipmix's own files"),
    "a line that is not JSON": (_not_json, "not a valid record"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_every_way_a_manifest_can_be_edited_is_found(made, edit):
    change, message = EDITS[edit]
    change(made)
    result = verify(made)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "not the manifest the run wrote" in result.stderr  # and its digest no longer matches the run record's
    assert "Traceback" not in result.output


def test_a_run_record_that_no_longer_vouches_for_the_manifest_is_found(made):
    record = json.loads((made / "ipmix_run.json").read_text())
    record["manifest_sha256"] = "0" * 64
    (made / "ipmix_run.json").write_text(json.dumps(record))
    result = verify(made)
    assert result.exit_code == 1 and "not the manifest the run wrote" in result.stderr


def test_an_empty_folder_in_out_is_reported(made):
    (made / "birds").mkdir()
    result = verify(made)
    assert result.exit_code == 1 and "birds/: an empty folder" in result.stderr


@pytest.mark.parametrize("lock", ["a link", "missing", "a folder"])
def test_verify_needs_no_lock_file_it_can_write(made, tmp_path, lock):
    (made / ".ipmix.lock").unlink()
    if lock == "a link":
        (made / ".ipmix.lock").symlink_to(tmp_path / "elsewhere")
    elif lock == "a folder":
        (made / ".ipmix.lock").mkdir()
    result = verify(made)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "elsewhere").exists()


def test_verify_reads_an_out_it_may_not_write(made, tmp_path):
    """A read-only mount (root can write anything else): nothing is created, and the check runs."""
    from tmpfs import mounted_tmpfs, remount

    with mounted_tmpfs(tmp_path / "ro", "4m") as mount:
        subprocess.run(["cp", "-a", str(made), str(mount / "out")], check=True)
        remount(mount, "ro")
        result = verify(mount / "out")
        assert result.exit_code == 0, result.output
        assert sorted(os.listdir(mount / "out")) == sorted(os.listdir(made))


def test_merge_refuses_a_shard_whose_record_claims_another_version(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    base = ["augment", str(tmp_path / "in"), str(out), "--mixing-set", str(mixing_dir), "--seed", "1", "--quiet"]
    for index in (0, 1):
        assert CliRunner().invoke(main, [*base, "--shard", f"{index}/2"]).exit_code == 0
    path = out / "ipmix_run.shard-1-of-2.json"
    record = json.loads(path.read_text())
    record["ipmix_version"] = "0.0.1"
    path.write_text(json.dumps(record))
    merged = CliRunner().invoke(main, ["merge", str(out)])
    assert merged.exit_code == 1 and "was made by ipmix 0.0.1" in merged.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "edit",
    [
        {"job": "sharpen"},  # no such job
        {"corruptions": ["../../etc"]},  # a corruption ipmix does not have
        {"identity": {"seed": 1, "crop": "wide", "background": "blue"}},  # fields of the wrong type
    ],
    ids=["job", "corruptions", "types"],
)
def test_an_edited_run_record_is_one_line_for_merge_and_replay(tmp_path, edit):
    """The run record is read back from OUT: an edit that names no job or impossible settings is said in
    one line by ``merge`` and ``verify --replay`` (exit 1), never a traceback."""
    make_inputs(tmp_path / "in", 2, size=(20, 20))
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        arguments = ["corrupt", str(tmp_path / "in"), str(out), "--corruptions", "contrast", "--severities", "1"]
        result = CliRunner().invoke(main, [*arguments, "--seed", "1", "--shard", shard, "--jobs", "1", "--quiet"])
        assert result.exit_code == 0, result.output
    for record_path in out.glob("ipmix_run.*.json"):
        record = json.loads(record_path.read_text())
        record.update({key: {**record[key], **value} if key == "identity" else value for key, value in edit.items()})
        record_path.write_text(json.dumps(record))
    merged = CliRunner().invoke(main, ["merge", str(out)])
    assert merged.exit_code == 1 and isinstance(merged.exception, SystemExit), merged.output
    assert "cannot be merged" in merged.output, merged.output
    replayed = CliRunner().invoke(main, ["verify", str(out), "--replay", "2"])
    assert replayed.exit_code == 1 and isinstance(replayed.exception, SystemExit), replayed.output
    assert "replay:" in replayed.output, replayed.output


def _record_path(out: Path) -> Path:
    return out / "ipmix_run.json" if (out / "ipmix_run.json").exists() else out / ".ipmix" / "ipmix_run.json"


def _edit_classes(out: Path, change) -> None:
    path = _record_path(out)
    record = json.loads(path.read_text())
    record["classes"] = change(record["classes"])
    path.write_text(json.dumps(record, indent=2))


CLASS_EDITS = {
    "reordered": lambda classes: list(reversed(classes)),
    "a class renamed": lambda classes: ["birds", *classes[1:]],
    "a class dropped": lambda classes: classes[1:],
    "a class repeated": lambda classes: [classes[0], *classes],
    "not a list": lambda classes: {"cats": 0},
}


@pytest.mark.slow
@pytest.mark.parametrize("output_format", ["files", "webdataset", "parquet"])
@pytest.mark.parametrize("edit", list(CLASS_EDITS))
def test_an_edited_class_list_in_the_run_record_is_found_and_a_rerun_repairs_it(
    tmp_path, mixing_dir, output_format, edit
):
    """The README's recipes number labels by the run record's ``classes``: a list reordered or edited there would
    give every sample the wrong class without a byte of an output changing (helper-7's #24)."""
    if output_format == "parquet":
        pytest.importorskip("pyarrow")
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    command = ["augment", str(tmp_path / "in"), str(out), "--mixing-set", str(mixing_dir), "--seed", "1", "--k", "1"]
    command += ["--output-format", output_format, "--quiet"]
    assert CliRunner().invoke(main, command).exit_code == 0
    assert verify(out).exit_code == 0
    _edit_classes(out, CLASS_EDITS[edit])
    result = verify(out)
    assert result.exit_code == 1, result.output
    assert "ipmix_run.json: its class list" in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert CliRunner().invoke(main, command).exit_code == 0  # a re-run writes the record again
    assert verify(out).exit_code == 0
    assert json.loads(_record_path(out).read_text())["classes"] == ["cats", "dogs"]
