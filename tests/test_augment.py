"""``ipmix augment``: outputs, manifest, determinism, resume, configuration checks (SPEC §4, §2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.engine.ipmix import apply_plan
from ipmix_cli.mixsets.mixing_set import MixingSet

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def run(*arguments, input=None):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], input=input, catch_exceptions=False)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_samples_with_the_builtin_set(tmp_path):
    out = tmp_path / "out"
    result = run(SAMPLES, out, "--k", "4", "--seed", "0", "--quiet")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    records = manifest(out)
    sources = sorted(p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*.jpg"))
    assert len(records) == 4 * len(sources)
    assert [r["source"] for r in records] == sorted(r["source"] for r in records)
    for record in records:
        written = out / record["file_name"]
        assert written.is_file()
        assert record["label"] == record["source"].split("/")[0]
        assert set(record) == {
            "file_name",
            "source",
            "label",
            "copy",
            "seed",
            "mixing_picture",
            "width",
            "height",
            "sha256",
        }
        with Image.open(written) as image:  # --format auto: JPEG inputs give JPEG copies
            assert image.format == "JPEG" and image.mode == "RGB" and written.suffix == ".jpg"
            assert image.size == (record["width"], record["height"])
        with Image.open(SAMPLES / record["source"]) as original:
            assert original.size == image.size
    names = {r["file_name"] for r in records}
    assert "space/astronaut_ipmix3.jpg" in names
    run_record = json.loads((out / "ipmix_run.json").read_text())
    assert run_record["status"] == "complete" and run_record["seed"] == 0
    assert run_record["counts"]["inputs"] == len(sources) and run_record["counts"]["failed"] == 0
    assert run_record["mixing_set"]["source"] == "builtin" and len(run_record["mixing_set"]["fingerprint"]) == 64
    assert run_record["identity"]["resolved"]["imagenet"]["beta"] == 4.0
    assert not (out / ".ipmix").exists()


@pytest.mark.slow
def test_same_files_and_manifest_with_one_and_two_jobs(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 40)
    outputs = []
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        result = run(
            tmp_path / "in",
            out,
            "--k",
            "3",
            "--seed",
            "7",
            "--mixing-set",
            mixing_dir,
            "--jobs",
            jobs,
            "--trace",
            "--keep-original",
            "--quiet",
        )
        assert result.exit_code == 0, result.output
        outputs.append(folder_bytes(out))
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 40 * 4 + 1


def test_raising_k_keeps_the_first_copies(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 6)
    run(tmp_path / "in", tmp_path / "k4", "--k", "4", "--seed", "1", "--mixing-set", mixing_dir, "--quiet")
    run(tmp_path / "in", tmp_path / "k6", "--k", "6", "--seed", "1", "--mixing-set", mixing_dir, "--quiet")
    four, six = folder_bytes(tmp_path / "k4"), folder_bytes(tmp_path / "k6")
    images_four = {name: data for name, data in four.items() if name.endswith(".png")}
    assert len(images_four) == 24
    assert all(six[name] == data for name, data in images_four.items())
    assert sum(name.endswith(".png") for name in six) == 36


def test_adding_an_input_leaves_existing_outputs_unchanged(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 5)
    run(tmp_path / "in", tmp_path / "before", "--seed", "2", "--mixing-set", mixing_dir, "--quiet")
    shutil.copytree(tmp_path / "in", tmp_path / "more")
    make_inputs(tmp_path / "more", 1, labels=("birds",), seed=99)
    run(tmp_path / "more", tmp_path / "after", "--seed", "2", "--mixing-set", mixing_dir, "--quiet")
    before, after = folder_bytes(tmp_path / "before"), folder_bytes(tmp_path / "after")
    for name, data in before.items():
        if name.endswith(".png"):
            assert after[name] == data
    old_records = manifest(tmp_path / "before")
    new_records = [r for r in manifest(tmp_path / "after") if not r["source"].startswith("birds/")]
    assert new_records == old_records


def test_rerunning_resumes_and_extending_the_inputs_adds_only_new_outputs(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    first_seed = json.loads((out / "ipmix_run.json").read_text())["seed"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    # the same command without --seed reuses the recorded seed and has nothing left to do
    result = run(tmp_path / "in", out, "--mixing-set", mixing_dir)
    assert result.exit_code == 0
    assert "nothing to do: all 4 inputs already written" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    make_inputs(tmp_path / "in", 1, labels=("birds",), seed=50)
    assert run(tmp_path / "in", out, "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["seed"] == first_seed and record["counts"]["already_done"] == 4
    assert len(manifest(out)) == 5 * 4


def test_an_out_made_by_an_earlier_version_is_refused_not_mixed(tmp_path, mixing_dir):
    """0.2.0 changed the bytes of every imagenet copy (mixing cover 8/7 instead of 1.125): an OUT written
    by 0.1.0 must not be resumed as if its copies were this version's."""
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    record_path = out / "ipmix_run.json"
    record = json.loads(record_path.read_text())
    record["identity"]["ipmix_version"] = "0.1.0"
    record_path.write_text(json.dumps(record))
    refused = run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir)
    assert refused.exit_code == 2 and "ipmix_version" in refused.output


def test_other_settings_are_refused_unless_overwrite(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet")
    refused = run(tmp_path / "in", out, "--seed", "1", "--beta", "2", "--mixing-set", mixing_dir)
    assert refused.exit_code == 2
    assert "other settings" in refused.output and "overrides" in refused.output
    (out / "notes.txt").write_text("the user's own file")
    replaced = run(
        tmp_path / "in",
        out,
        "--seed",
        "1",
        "--beta",
        "2",
        "--format",
        "jpeg",
        "--mixing-set",
        mixing_dir,
        "--overwrite",
        "--quiet",
    )
    assert replaced.exit_code == 0
    assert not list(out.rglob("*.png")), "the earlier run's outputs are replaced"
    assert len(list(out.rglob("*.jpg"))) == 12
    assert (out / "notes.txt").read_text() == "the user's own file"
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "x.txt").write_text("x")
    assert run(tmp_path / "in", stranger, "--mixing-set", mixing_dir).exit_code == 2


def test_colliding_output_names_are_refused_before_writing(tmp_path, mixing_dir):
    folder = tmp_path / "in" / "cats"
    folder.mkdir(parents=True)
    pixels = np.zeros((8, 8, 3), np.uint8)
    Image.fromarray(pixels).save(folder / "a.jpg")
    Image.fromarray(pixels).save(folder / "a.png")
    result = run(tmp_path / "in", tmp_path / "out", "--mixing-set", mixing_dir)
    assert result.exit_code == 2
    assert "cats/a.jpg and cats/a.png" in result.output
    assert not (tmp_path / "out").exists()


def test_copy_numbers_are_zero_padded_beyond_ten(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1, labels=None)
    run(tmp_path / "in", tmp_path / "out", "--k", "11", "--mixing-set", mixing_dir, "--quiet")
    names = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert names == [f"img0000_ipmix{j:02d}.png" for j in range(11)]


def test_resize_crop_formats_and_keep_original(tmp_path, mixing_dir):
    (tmp_path / "in").mkdir()
    Image.fromarray(np.full((60, 90, 3), 120, np.uint8)).save(tmp_path / "in" / "wide.png")
    out = tmp_path / "out"
    result = run(
        tmp_path / "in",
        out,
        "--resize",
        "40",
        "--crop",
        "32x24",
        "--format",
        "webp",
        "--quality",
        "80",
        "--keep-original",
        "--k",
        "2",
        "--mixing-set",
        mixing_dir,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    records = manifest(out)
    assert [r["copy"] for r in records] == [None, 0, 1]
    assert records[0]["file_name"] == "wide_original.webp" and records[0]["mixing_picture"] is None
    for record in records:
        with Image.open(out / record["file_name"]) as image:
            assert image.format == "WEBP" and image.size == (32, 24)
        assert record["label"] is None


def test_trace_replays_to_the_written_pixels(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2, size=(40, 36))
    out = tmp_path / "out"
    run(tmp_path / "in", out, "--trace", "--k", "3", "--seed", "5", "--mixing-set", mixing_dir, "--quiet")
    mixing = MixingSet.from_folder(mixing_dir)
    for record in manifest(out):
        trace = json.loads(record["trace"])
        with Image.open(tmp_path / "in" / record["source"]) as image:
            pixels = np.array(image.convert("RGB"))
        crop = mixing.window(trace["mixing_picture"], trace["mixing_size"], trace["mixing_crop"], *pixels.shape[:2])
        with Image.open(out / record["file_name"]) as written:
            assert np.array_equal(np.array(written), apply_plan(pixels, crop, trace["plan"]))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--quality", "90", "--format", "png"], "--quality applies to --format jpeg, webp or auto"),
        (["--ops", "rotate,blur"], "unknown operation 'blur'; valid operations: equalize"),
        (["--ops", "rotate", "--all-ops"], "--ops and --all-ops contradict"),
        (["--patch-sizes", "4,1"], "patch sizes must be at least 2"),
        (["--crop", "12y3"], "is not W or WxH"),
        (["--background", "not-a-colour"], "is not a colour"),
        (["--k", "0"], "Invalid value for '--k'"),
        (["--severity", "11"], "Invalid value for '--severity'"),
        (["--beta", "0"], "Invalid value for '--beta'"),
        (["--format", "gif"], "Invalid value for '--format'"),
        (["--preset", "svhn"], "Invalid value for '--preset'"),
        (["--jobs", "0"], "Invalid value for '--jobs'"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, mixing_dir, arguments, message):
    make_inputs(tmp_path / "in", 1)
    result = run(tmp_path / "in", tmp_path / "out", "--mixing-set", mixing_dir, *arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_overlapping_folders_are_refused_before_writing(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    for out in (tmp_path / "in", tmp_path / "in" / "cats" / "out"):
        result = run(tmp_path / "in", out, "--mixing-set", mixing_dir)
        assert result.exit_code == 2
        assert "OUT" in result.output
    assert not (tmp_path / "in" / "cats" / "out").exists()
    nested = tmp_path / "outer"
    make_inputs(nested / "inputs", 1)
    result = run(nested / "inputs", nested, "--mixing-set", mixing_dir)
    assert result.exit_code == 2 and "IN" in result.output
    assert sorted(p.name for p in nested.iterdir()) == ["inputs"]


def test_files_from_reads_a_list_and_refuses_escapes(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 6)
    chosen = "\n".join([sources[0], "./" + sources[3], str(tmp_path / "in" / sources[5]), ""]) + "\n"
    out = tmp_path / "out"
    result = run(tmp_path / "in", out, "--files-from", "-", "--mixing-set", mixing_dir, "--quiet", input=chosen)
    assert result.exit_code == 0, result.output
    assert sorted({r["source"] for r in manifest(out)}) == sorted([sources[0], sources[3], sources[5]])
    (tmp_path / "secret.png").write_bytes((tmp_path / "in" / sources[0]).read_bytes())
    for escaping in ("../secret.png", str(tmp_path / "secret.png"), "cats/../../secret.png"):
        refused = run(
            tmp_path / "in",
            tmp_path / "other",
            "--files-from",
            "-",
            "--mixing-set",
            mixing_dir,
            input=f"{sources[1]}\n{escaping}\n",
        )
        assert refused.exit_code == 2, escaping
        assert "outside IN" in refused.output
        assert not (tmp_path / "other").exists()
    # a link that leads outside IN is that input's failure (the policy of discovery), never read
    (tmp_path / "in" / "link.png").symlink_to(tmp_path / "secret.png")
    linked = run(
        tmp_path / "in",
        tmp_path / "linked",
        "--files-from",
        "-",
        "--mixing-set",
        mixing_dir,
        input=f"{sources[1]}\nlink.png\n",
    )
    assert linked.exit_code == 1 and "link.png" in linked.stderr and "outside IN" in linked.stderr
    assert {r["source"] for r in manifest(tmp_path / "linked")} == {sources[1]}


def test_inputs_are_never_modified(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 5)
    before = folder_bytes(tmp_path / "in")
    run(tmp_path / "in", tmp_path / "out", "--keep-original", "--mixing-set", mixing_dir, "--quiet")
    assert folder_bytes(tmp_path / "in") == before


def test_print_jsonl_streams_manifest_records(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    result = run(
        tmp_path / "in", tmp_path / "out", "--print", "jsonl", "--k", "2", "--mixing-set", mixing_dir, "--quiet"
    )
    printed = sorted((json.loads(line) for line in result.stdout.splitlines()), key=lambda r: r["file_name"])
    assert printed == sorted(manifest(tmp_path / "out"), key=lambda r: r["file_name"])


def test_a_temporary_abandoned_mid_run_by_a_dead_worker_is_removed_at_the_end(tmp_path, mixing_dir, monkeypatch):
    """A worker killed while writing (a dask or ray node lost mid-run) leaves a temporary; the run that
    finishes its work must not leave it behind."""
    import subprocess
    import sys

    from ipmix_cli.disk.atomic import TEMP_PREFIX, host_tag
    from ipmix_cli.runner import engine

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    abandoned = tmp_path / "out" / f"{TEMP_PREFIX}{host_tag()}-{exited.pid}-0a1b2c3d-3.tmp"
    real_schedule = engine.schedule

    def schedule_and_abandon_a_temporary(*arguments):
        abandoned.write_bytes(b"partial")  # after the sweep at the start of the run
        real_schedule(*arguments)

    monkeypatch.setattr(engine, "schedule", schedule_and_abandon_a_temporary)
    make_inputs(tmp_path / "in", 3)
    run(tmp_path / "in", tmp_path / "out", "--k", "1", "--mixing-set", mixing_dir, "--quiet")
    assert (tmp_path / "out" / "metadata.jsonl").exists()
    assert not abandoned.exists()


@pytest.mark.parametrize("group_bytes", [1, 10**9])
def test_grouping_outputs_before_encoding_changes_no_byte(tmp_path, mixing_dir, monkeypatch, group_bytes):
    """Outputs are encoded in groups bounded by bytes (one output at a time, or a whole batch at once)."""
    from ipmix_cli.runner import tasks as worker

    make_inputs(tmp_path / "in", 5, labels=("a", "b"))
    (tmp_path / "in" / "a" / "broken.png").write_bytes(b"not a png")  # a failure inside a group
    common = ("--k", "3", "--seed", "4", "--mixing-set", mixing_dir, "--quiet", "--backend", "threading", "--jobs", "1")
    run(tmp_path / "in", tmp_path / "default", *common)
    monkeypatch.setattr(worker, "GROUP_BYTES", group_bytes)  # the workers run in this process (threading, 1 job)
    run(tmp_path / "in", tmp_path / "grouped", *common)
    assert folder_bytes(tmp_path / "grouped") == folder_bytes(tmp_path / "default")
    assert len(manifest(tmp_path / "grouped")) == 5 * 3
