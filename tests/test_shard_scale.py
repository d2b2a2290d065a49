"""Shard outputs at scale (issue 12): byte-identical whatever the number of jobs or the backend, after a hard
kill and a re-run, and from job shards (--shard I/N) merged into one run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile

import pytest
from click.testing import CliRunner

from conftest import folder_bytes, make_inputs, run_ok
from ipmix_cli.cli.main import main

FORMATS = ["webdataset", "parquet"]
EXTENSION = {"webdataset": "tar", "parquet": "parquet"}


def command(root, out, mixing, output_format, *extra) -> list[str]:
    return [
        sys.executable, "-m", "ipmix_cli", "augment", str(root), str(out), "--mixing-set", str(mixing),
        "--seed", "8", "--k", "2", "--output-format", output_format, "--samples-per-shard", "6", "--quiet",
        *map(str, extra),
    ]  # fmt: skip


def invoke(*arguments) -> None:
    """An in-process run (faster than a new interpreter, for the tests that need no subprocess)."""
    result = CliRunner().invoke(main, [str(a) for a in arguments[3:]], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def references(tmp_path_factory, mixing_dir):
    """IN (17 inputs: 6 shards of 3 inputs, the last of 2) and one uninterrupted single-job run per format."""
    base = tmp_path_factory.mktemp("shard-scale")
    make_inputs(base / "in", 17, labels=("a", "b", "c"))
    made = {}
    for output_format in FORMATS:
        out = base / f"reference-{output_format}"
        run_ok(command(base / "in", out, mixing_dir, output_format, "--jobs", "1"))
        made[output_format] = out
    return base / "in", made


@pytest.mark.slow
@pytest.mark.parametrize("output_format", FORMATS)
def test_shards_are_byte_identical_with_one_or_two_jobs_and_on_a_dask_cluster(
    tmp_path, mixing_dir, references, dask_cluster, output_format
):
    inputs, made = references
    expected = folder_bytes(made[output_format])
    shards = sorted(name for name in expected if name.endswith("." + EXTENSION[output_format]))
    assert shards == [f"{i:05d}.{EXTENSION[output_format]}" for i in range(6)]
    dask = ("--backend", "dask", "--scheduler", dask_cluster[0].scheduler_address)
    for name, extra in (("two", ("--jobs", "2")), ("dask", dask)):
        out = tmp_path / name
        run_ok(command(inputs, out, mixing_dir, output_format, *extra))
        assert folder_bytes(out) == expected, name
    assert json.loads((tmp_path / "dask" / ".ipmix" / "ipmix_run.json").read_text())["timings"]["backend"] == "dask"


@pytest.mark.slow
@pytest.mark.parametrize("output_format", FORMATS)
def test_a_run_killed_part_way_resumes_to_the_uninterrupted_shards(tmp_path, mixing_dir, references, output_format):
    inputs, made = references
    out = tmp_path / "out"
    killed = subprocess.run(
        command(inputs, out, mixing_dir, output_format, "--jobs", "1"),
        env={**os.environ, "IPMIX_KILL_AFTER_WRITES": "3"},  # the worker dies with the run after its 3rd shard
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL
    expected = folder_bytes(made[output_format])
    written = sorted(out.glob("0*." + EXTENSION[output_format]))
    assert [p.name for p in written] == [f"{i:05d}.{EXTENSION[output_format]}" for i in range(3)]
    for shard in written:  # a shard has its final name only when it is whole
        assert shard.read_bytes() == expected[shard.name]
    resumed = run_ok([a for a in command(inputs, out, mixing_dir, output_format, "--jobs", "2") if a != "--quiet"])
    assert "already done" in resumed.stderr
    assert folder_bytes(out) == expected


@pytest.mark.slow
@pytest.mark.parametrize("output_format", FORMATS)
def test_three_job_shards_then_merge_give_the_single_runs_shards_and_manifest(
    tmp_path, mixing_dir, references, output_format
):
    inputs, made = references
    out = tmp_path / "out"
    for index in (2, 0, 1):
        invoke(*command(inputs, out, mixing_dir, output_format, "--jobs", "1", "--shard", f"{index}/3"))
    mine = json.loads((out / ".ipmix" / "ipmix_run.shard-1-of-3.json").read_text())
    assert mine["counts"]["inputs"] == 6  # shards 1 and 4 of the output: 3 inputs each
    invoke(None, None, None, "merge", out)
    assert folder_bytes(out) == folder_bytes(made[output_format])
    merged = json.loads((out / ".ipmix" / "ipmix_run.json").read_text())
    assert merged["counts"]["inputs"] == 17 and merged["merged_from"] == 3 and merged["classes"] == ["a", "b", "c"]
    assert not list(out.glob("*.shard-*"))


@pytest.mark.slow
def test_a_shard_with_a_failed_input_is_complete_and_written_again_on_resume(tmp_path, mixing_dir):
    """An input that fails in the worker leaves its shard whole without it; the shard is recorded with the
    failure, so a re-run tries the input again (and rewrites the shard to the same bytes while it still fails)."""
    make_inputs(tmp_path / "in", 4, labels=("a", "b"))
    (tmp_path / "in" / "a" / "img0000.png").write_bytes(b"\x89PNG\r\n\x1a\n but cut")
    out = tmp_path / "out"
    first = subprocess.run(command(tmp_path / "in", out, mixing_dir, "webdataset"), capture_output=True, text=True)
    assert first.returncode == 1 and "a/img0000.png" in first.stderr
    with tarfile.open(out / "00000.tar") as archive:
        sources = {json.loads(archive.extractfile(m).read())["source"] for m in archive if m.name.endswith(".json")}
    assert sources == {"a/img0002.png", "b/img0001.png"}
    before = (out / "00000.tar").read_bytes()
    again = subprocess.run(command(tmp_path / "in", out, mixing_dir, "webdataset"), capture_output=True, text=True)
    assert again.returncode == 1 and (out / "00000.tar").read_bytes() == before


@pytest.mark.slow
def test_a_full_disk_stops_a_shard_run_with_one_line_and_the_rerun_gives_the_same_shards(
    tmp_path, mixing_dir, references
):
    from test_hardening import _mount_tmpfs, no_traceback

    inputs, made = references
    mount = tmp_path / "small"
    _mount_tmpfs(mount, "size=40k")
    try:
        out = mount / "out"
        full = subprocess.run(
            command(inputs, out, mixing_dir, "webdataset", "--jobs", "1", "--print", "paths"),
            capture_output=True,
            text=True,
        )
        assert full.returncode == 1, full.stderr
        assert "No space left on device" in full.stderr and "re-run the same command" in full.stderr
        no_traceback(full.stderr)
        printed = {line.rpartition("/")[0].rpartition("/")[2] for line in full.stdout.splitlines()}
        assert printed == {p.name for p in out.glob("*.tar")}  # only what was stored is reported
        subprocess.run(["mount", "-o", "remount,size=50m", str(mount)], check=True)
        run_ok(command(inputs, out, mixing_dir, "webdataset", "--jobs", "1"))
        assert folder_bytes(out) == folder_bytes(made["webdataset"])
    finally:
        subprocess.run(["umount", str(mount)], check=True)
