"""Running it for real (issue: operations): progress in logs, extending runs, finer resume, ``ipmix verify``,
the ``auto`` format, client fit (ImageFolder, Hugging Face ``datasets``), and the wording of messages."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, make_inputs, photo_like
from conftest import ipmix_command as command
from ipmix_cli.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def run(*arguments, input=None):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], input=input, catch_exceptions=False)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def stamps(out: Path) -> dict[str, tuple[int, int]]:
    """Every output's (modification time, inode): a file rewritten, even with the same bytes, changes them."""
    return {
        p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.stat().st_ino)
        for p in out.rglob("*")
        if p.is_file() and "_ipmix" in p.name
    }


# --- progress ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_progress_in_a_log_is_plain_lines_at_milestones_and_quiet_silences_it(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 40)
    logged = subprocess.run(
        command(tmp_path / "in", tmp_path / "out", mixing_dir, "--jobs", "1"), capture_output=True, text=True
    )
    assert logged.returncode == 0, logged.stderr
    lines = [line for line in logged.stderr.splitlines() if line.startswith("ipmix: augmenting")]
    assert lines[0] == "ipmix: augmenting 40 inputs"
    shares = [int(m.group(1)) for m in (re.search(r"\((\d+)%\)", line) for line in lines[1:]) if m]
    assert len(shares) >= 3 and shares == sorted(shares) and shares[-1] < 100
    assert all(re.search(r"\d+/40 inputs \(\d+%\), [\d.]+ inputs/s, ETA \d+:\d\d:\d\d", line) for line in lines[1:])
    assert "\r" not in logged.stderr  # no bar in a log
    quiet = subprocess.run(
        command(tmp_path / "in", tmp_path / "quiet", mixing_dir, "--jobs", "1", "--quiet"), capture_output=True
    )
    assert quiet.returncode == 0 and quiet.stderr == b""


def test_progress_lines_come_every_interval_and_at_quarter_marks_counting_failures():
    from ipmix_cli.runner.progress import Progress

    now = [0.0]
    stream = io.StringIO()
    progress = Progress(total=100, stream=stream, clock=lambda: now[0], interval=30.0)
    for step in range(1, 100):
        now[0] = step * 2.0  # one input every two seconds
        progress.update(1, failed=1 if step == 10 else 0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "ipmix: augmenting 100 inputs"
    marks = [line.split(" (")[0].rsplit(" ", 2)[-2] for line in lines[1:]]
    # 30 s after the last line, and at 25, 50 and 75 %
    assert marks == ["15/100", "25/100", "40/100", "50/100", "65/100", "75/100", "90/100"]
    assert lines[1] == "ipmix: augmenting 15/100 inputs (15%), 0.5 inputs/s, ETA 0:02:50, 1 failed"


# --- extending and resuming ------------------------------------------------------------------------------------


def test_raising_k_adds_exactly_the_new_copies_and_touches_no_other(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--k", "2", "--seed", "3", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    before_bytes, before_stamps = folder_bytes(out, skip=("ipmix_run.json", "metadata.jsonl")), stamps(out)
    result = run(tmp_path / "in", out, "--k", "3", "--seed", "3", "--mixing-set", mixing_dir)
    assert result.exit_code == 0, result.output
    after_bytes, after_stamps = folder_bytes(out, skip=("ipmix_run.json", "metadata.jsonl")), stamps(out)
    added = set(after_bytes) - set(before_bytes)
    assert added == {name.replace("_ipmix1.", "_ipmix2.") for name in before_bytes if "_ipmix1." in name}
    assert all(after_bytes[name] == data for name, data in before_bytes.items())
    assert all(after_stamps[name] == stamp for name, stamp in before_stamps.items())
    assert len(manifest(out)) == 5 * 3
    reference = tmp_path / "reference"
    assert (
        run(tmp_path / "in", reference, "--k", "3", "--seed", "3", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    )
    assert folder_bytes(out) == folder_bytes(reference)


def test_lowering_k_says_what_it_would_leave_behind(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--k", "4", "--seed", "3", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    lowered = run(tmp_path / "in", out, "--k", "2", "--seed", "3", "--mixing-set", mixing_dir)
    assert lowered.exit_code == 2
    expected = "holds 4 copies per input; --k 2 would leave copies 2–3 of every input behind, still listed"
    assert expected in lowered.output
    assert "--overwrite" in lowered.output


@pytest.mark.slow
def test_an_interrupted_run_resumes_only_the_inputs_not_yet_recorded(tmp_path, mixing_dir):
    from test_fractal_repair import _gated, _open_gate, _wait_for

    make_inputs(tmp_path / "in", 150)
    out = tmp_path / "out"
    environment, gate = _gated(tmp_path, after=10)  # each worker stops after 10 inputs until the gate opens
    process = subprocess.Popen(
        command(tmp_path / "in", out, mixing_dir, "--seed", "2", "--jobs", "2", "--print", "paths"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    _wait_for(process, Path(f"{gate}.reached"))
    process.send_signal(signal.SIGINT)
    _open_gate(gate)
    process.stdout.read()
    assert process.wait(timeout=300) == 130
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    assert "re-run the same command to resume" in stderr
    finished = {r["source"] for r in manifest(out)}
    on_disk = stamps(out)
    assert 0 < len(finished) < 150
    assert {name.rsplit("_ipmix", 1)[0] for name in on_disk} == {s.rsplit(".", 1)[0] for s in finished}
    resumed = run(tmp_path / "in", out, "--seed", "2", "--mixing-set", mixing_dir, "--quiet")
    assert resumed.exit_code == 0
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["counts"]["already_done"] == len(finished)
    assert record["counts"]["files_written"] == (150 - len(finished)) * 4
    after = stamps(out)
    assert all(after[name] == stamp for name, stamp in on_disk.items()), "a finished input was made again"


@pytest.mark.slow
def test_a_hard_kill_loses_at_most_the_inputs_still_in_flight(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 60)
    out = tmp_path / "out"
    killed = subprocess.run(
        command(tmp_path / "in", out, mixing_dir, "--seed", "2", "--jobs", "1", "--quiet"),
        env={**os.environ, "IPMIX_KILL_AFTER_WRITES": "100"},
    )
    assert killed.returncode == -signal.SIGKILL
    journal = [json.loads(line) for name in out.glob(".ipmix-journal*.jsonl") for line in name.read_text().splitlines()]
    recorded = {entry[0] for unit in journal for entry in unit["inputs"]}
    complete_on_disk = {
        s for s in {name.rsplit("_ipmix", 1)[0] for name in stamps(out)} if len(list(out.glob(f"{s}_ipmix*"))) == 4
    }
    # each input is recorded as it finishes: the kill loses at most the one input being written
    recorded_stems = {source.rsplit(".", 1)[0] for source in recorded}
    assert len(recorded) >= 20 and recorded_stems <= complete_on_disk
    assert len(complete_on_disk - recorded_stems) <= 1
    kept = {name: stamp for name, stamp in stamps(out).items() if name.rsplit("_ipmix", 1)[0] + ".png" in recorded}
    assert run(tmp_path / "in", out, "--seed", "2", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["counts"]["already_done"] == len(recorded)
    assert record["counts"]["files_written"] == (60 - len(recorded)) * 4
    after = stamps(out)
    assert all(after[name] == stamp for name, stamp in kept.items())


# --- ipmix verify ---------------------------------------------------------------------------------------


def verify(out: Path, *extra):
    return CliRunner().invoke(main, ["verify", str(out), *map(str, extra)])


@pytest.mark.parametrize("trace", [True, False])
def test_verify_passes_a_good_out_and_replays_copies_from_traces_or_seeds(tmp_path, mixing_dir, trace):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    extra = ["--trace"] if trace else []
    assert (
        run(tmp_path / "in", out, "--seed", "5", "--keep-original", "--mixing-set", mixing_dir, *extra).exit_code == 0
    )
    result = verify(out, "--replay", "20")
    assert result.exit_code == 0, result.output
    assert "20 records intact, 20 replayed" in result.stderr


@pytest.mark.parametrize("method, trace", [("augmix", True), ("augmix", False), ("pixmix", True), ("pixmix", False)])
def test_verify_replays_every_method(tmp_path, mixing_dir, method, trace):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    mixing = [] if method == "augmix" else ["--mixing-set", mixing_dir]
    extra = ["--trace"] if trace else []
    result = run(tmp_path / "in", out, "--method", method, "--seed", "5", *mixing, *extra, "--quiet")
    assert result.exit_code == 0, result.output
    replayed = verify(out, "--replay", "12")
    assert replayed.exit_code == 0, replayed.output
    assert "12 records intact, 12 replayed" in replayed.stderr


def test_verify_finds_a_changed_byte_a_missing_file_a_stray_file_and_a_wrong_trace(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "5", "--trace", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    changed = out / "cats" / "img0000_ipmix1.png"
    data = bytearray(changed.read_bytes())
    data[-30] ^= 1
    changed.write_bytes(bytes(data))
    (out / "dogs" / "img0001_ipmix0.png").unlink()
    (out / "dogs" / "stray.png").write_bytes(b"x")
    records = manifest(out)
    traced = next(r for r in records if r["file_name"] == "cats/img0002_ipmix3.png")
    trace = json.loads(traced["trace"])
    trace["plan"]["m"] = 0.0  # the recorded trace no longer says how the copy was made
    traced["trace"] = json.dumps(trace)
    (out / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = verify(out, "--replay", "16")
    assert result.exit_code == 1
    assert "cats/img0000_ipmix1.png: its bytes differ from the manifest's sha256" in result.stderr
    assert "dogs/img0001_ipmix0.png: missing" in result.stderr
    assert "dogs/stray.png: in OUT but not in the manifest" in result.stderr
    assert "cats/img0002_ipmix3.png: replaying its trace gives other bytes" in result.stderr


@pytest.mark.parametrize("output_format", ["webdataset", "parquet"])
def test_verify_reads_shard_outputs_and_finds_changed_images_members_and_missing_shards(
    tmp_path, mixing_dir, output_format
):
    pytest.importorskip("pyarrow")
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    arguments = ["--seed", "5", "--trace", "--output-format", output_format, "--samples-per-shard", "8"]
    assert run(tmp_path / "in", out, *arguments, "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    good = verify(out, "--replay", "5")
    assert good.exit_code == 0, good.output
    assert "24 records intact, 5 replayed" in good.stderr
    shards = sorted(
        p.name for p in out.iterdir() if p.suffix == f".{'tar' if output_format == 'webdataset' else 'parquet'}"
    )
    assert len(shards) == 3
    (out / shards[2]).unlink()
    first = out / shards[0]
    if output_format == "webdataset":  # an image byte, and a sample's .json, changed in place
        import tarfile

        with tarfile.open(first) as archive:
            members = {m.name: m for m in archive.getmembers()}
        image = next(m for name, m in members.items() if name.endswith((".png", ".jpg")))
        json_member = next(
            m for name, m in members.items() if name.endswith(".json") and not name.startswith(image.name[:-4])
        )
        data = bytearray(first.read_bytes())
        data[image.offset_data + image.size - 20] ^= 1
        data[json_member.offset_data + 2] ^= 1
        first.write_bytes(bytes(data))
        changed = f"{shards[0]}/{image.name}: its bytes differ"
    else:  # the file rewritten with one image replaced: still a valid Parquet file
        import pyarrow.parquet as pq

        table = pq.read_table(first)
        images = table.column("image").to_pylist()
        images[0] = {"bytes": images[0]["bytes"][:-1] + b"\0", "path": images[0]["path"]}
        pq.write_table(table.set_column(0, table.schema.field("image"), [images]), first)
        changed = f"{shards[0]}/{images[0]['path']}: its bytes differ"
    result = verify(out)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any(changed in line for line in lines), result.stderr
    assert f"{shards[0]}: its bytes differ from those the run wrote" in result.stderr
    assert sum(shards[2] in line for line in lines) == 1  # a missing shard is one line, not one per copy
    assert f"{shards[2]}: missing (a whole shard" in result.stderr


def test_verify_refuses_a_folder_without_a_run_and_a_locked_out(tmp_path):
    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.disk.lock import hold_folder

    (tmp_path / "empty").mkdir()
    assert verify(tmp_path / "empty").exit_code == 2
    with hold_folder(SafeFolder(tmp_path / "empty")):
        result = verify(tmp_path / "empty")
    assert result.exit_code == 2 and "is writing" in result.output


# --- the auto format ------------------------------------------------------------------------------------------


def test_auto_format_gives_jpeg_copies_of_jpeg_inputs_and_png_of_the_rest(tmp_path, mixing_dir):
    (tmp_path / "in" / "mixed").mkdir(parents=True)
    Image.fromarray(photo_like(40, 50, seed=1)).save(tmp_path / "in" / "mixed" / "photo.jpg", quality=90)
    Image.fromarray(photo_like(40, 50, seed=2)).save(tmp_path / "in" / "mixed" / "drawing.png")
    (tmp_path / "in" / "mixed" / "camera.dat").write_bytes((tmp_path / "in" / "mixed" / "photo.jpg").read_bytes())
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--k", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    formats = {}
    for record in manifest(out):
        with Image.open(out / record["file_name"]) as image:
            formats[record["file_name"]] = image.format
    assert formats == {
        "mixed/photo_ipmix0.jpg": "JPEG",
        "mixed/camera_ipmix0.jpg": "JPEG",  # a JPEG by content, whatever its name says
        "mixed/drawing_ipmix0.png": "PNG",
    }
    assert (
        run(tmp_path / "in", tmp_path / "jpg", "--format", "jpg", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    )
    assert all(name.endswith(".jpg") for name in (r["file_name"] for r in manifest(tmp_path / "jpg")))


# --- client fit ---------------------------------------------------------------------------------------------------

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def image_folder(root: Path, is_valid_file=None) -> tuple[list[str], list[tuple[str, int]]]:
    """torchvision's ``ImageFolder`` discovery when torchvision is installed, else the same rules written out
    (torchvision 0.28 ``datasets/folder.py``: every directory entry of the root is a class, hidden ones too;
    samples are the files below it, walked following links, with an image extension; a class without samples
    is an error)."""
    try:
        from torchvision.datasets import ImageFolder

        if getattr(ImageFolder, "stub", False):
            raise ImportError("the stub below")
    except Exception:  # noqa: BLE001 - not installed here (it needs torch): the rules below
        classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
        samples = []
        for index, name in enumerate(classes):
            found = []
            for folder, _, files in sorted(os.walk(root / name, followlinks=True)):
                for file in sorted(files):
                    path = os.path.join(folder, file)
                    ok = is_valid_file(path) if is_valid_file else path.lower().endswith(IMG_EXTENSIONS)
                    if ok:
                        found.append((path, index))
            if not found:
                raise FileNotFoundError(f"Found no valid file for the classes {name}")
            samples.extend(found)
        return classes, samples
    dataset = ImageFolder(str(root), is_valid_file=is_valid_file)
    return dataset.classes, dataset.samples


def augmented_copies(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*_ipmix*") if p.suffix == ".png"}


@pytest.mark.slow
def test_image_folder_sees_exactly_the_copies_of_a_finished_an_interrupted_and_a_sharded_out(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 30)
    finished = tmp_path / "finished"
    assert run(tmp_path / "in", finished, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    interrupted = tmp_path / "interrupted"
    subprocess.run(
        command(tmp_path / "in", interrupted, mixing_dir, "--seed", "1", "--jobs", "1", "--quiet"),
        env={**os.environ, "IPMIX_KILL_AFTER_WRITES": "50"},
    )
    sharded = tmp_path / "sharded"
    for index in (0, 1):
        result = run(tmp_path / "in", sharded, "--seed", "1", "--shard", f"{index}/3", "--mixing-set", mixing_dir)
        assert result.exit_code == 0
    for out in (finished, interrupted, sharded):
        classes, samples = image_folder(out)
        assert classes == sorted({name.split("/")[0] for name in augmented_copies(out)}), out
        assert set(classes) <= {"cats", "dogs"}
        assert {Path(path).relative_to(out).as_posix() for path, _ in samples} == augmented_copies(out)
        assert all(Path(path).parts[-2] == classes[label] for path, label in samples)


def test_originals_are_excluded_by_the_documented_filter(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--keep-original", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    recipe = readme_recipe("imagefolder")
    scope = {"OUT": str(out)}
    with stub_torchvision():
        exec(recipe, scope)  # noqa: S102 - the README's own code
    paths = {Path(path).relative_to(out).as_posix() for path, _ in scope["dataset"].samples}
    assert paths == augmented_copies(out) and len(paths) == 16


def test_datasets_recipe_gives_a_class_label_with_the_folder_names(tmp_path, mixing_dir, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    make_inputs(tmp_path / "in", 6, labels=("zebra", "ant", "mole"))
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--k", "2", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    scope = {"OUT": str(out)}
    exec(readme_recipe("datasets"), scope)  # noqa: S102
    dataset = scope["dataset"]
    label = dataset.features["label"]
    assert type(label).__name__ == "ClassLabel" and label.names == ["ant", "mole", "zebra"]
    by_file = {r["file_name"]: r["label"] for r in manifest(out)}
    assert len(dataset) == 12
    for row in dataset.select_columns(["source", "copy", "label"]):
        name = f"{row['source'].rsplit('.', 1)[0]}_ipmix{row['copy']}.png"
        assert label.int2str(row["label"]) == by_file[name]


def test_torch_dataset_recipe_reads_clean_and_two_copies(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert (
        run(tmp_path / "in", out, "--k", "2", "--keep-original", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    )
    scope = {"OUT": str(out)}
    exec(readme_recipe("manifest"), scope)  # noqa: S102
    dataset = scope["dataset"]
    assert len(dataset) == 4
    images, label = dataset[0]
    assert [image.size for image in images] == [(20, 24)] * 3 and label in (0, 1)


def readme_recipe(name: str) -> str:
    """The README's code block introduced by ``# recipe: NAME``."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"```python\n# recipe: " + re.escape(name) + r"\n(.*?)```", text, re.S)
    assert match, f"README has no recipe {name!r}"
    code = match.group(1)
    assert 'out = "out"' in code, "a recipe names OUT once, in its first lines"
    return code.replace('out = "out"', "out = OUT")


class stub_torchvision:
    """Make ``from torchvision.datasets import ImageFolder`` give the rules above when torchvision is absent."""

    def __enter__(self):
        import types

        self.saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.datasets")}
        try:
            import torchvision.datasets  # noqa: F401

            self.saved = None
            return self
        except Exception:  # noqa: BLE001
            pass

        class ImageFolder:
            stub = True

            def __init__(self, root, is_valid_file=None):
                self.classes, self.samples = image_folder(Path(root), is_valid_file)

        package = types.ModuleType("torchvision")
        datasets = types.ModuleType("torchvision.datasets")
        datasets.ImageFolder = ImageFolder
        package.datasets = datasets
        sys.modules.update({"torchvision": package, "torchvision.datasets": datasets})
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            for key, module in self.saved.items():
                if module is None:
                    sys.modules.pop(key, None)
                else:
                    sys.modules[key] = module


# --- wording --------------------------------------------------------------------------------------------------------


def test_help_texts_wrap_at_one_width_and_preview_states_its_own_seed_default():
    widths = []
    wide = {"COLUMNS": "200"}  # a wide terminal: click then wraps at the commands' one maximum width
    for name in ([], ["augment"], ["preview"], ["merge"], ["verify"], ["fractals", "build"], ["fractals", "preview"]):
        text = CliRunner().invoke(main, [*name, "--help"], env=wide).output
        widths.append(max(len(line) for line in text.splitlines()))
    assert max(widths) <= 100, widths
    preview = CliRunner().invoke(main, ["preview", "--help"], env=wide).output
    assert "[default: 0]" in " ".join(preview.split()) and "drawn and recorded" not in preview


def test_explain_copy_out_of_range_names_only_what_the_user_passed(tmp_path, mixing_dir):
    photo = tmp_path / "a.png"
    Image.fromarray(photo_like(24, 24)).save(photo)
    sheet = tmp_path / "e.png"
    fine = CliRunner().invoke(
        main, ["preview", "--explain", str(photo), "--copy", "9", "--mixing-set", str(mixing_dir), "-o", str(sheet)]
    )
    assert fine.exit_code == 0, fine.output  # no --k given: copy 9 simply exists
    refused = CliRunner().invoke(
        main,
        [
            "preview",
            "--explain",
            str(photo),
            "--copy",
            "9",
            "--k",
            "4",
            "--mixing-set",
            str(mixing_dir),
            "-o",
            str(sheet),
        ],
    )
    assert refused.exit_code == 2 and "--copy 9 is out of range for --k 4 (copies 0–3)" in refused.output


def test_a_refused_configuration_shows_old_and_new_values(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    refused = run(tmp_path / "in", out, "--seed", "1", "--beta", "2", "--format", "jpeg", "--mixing-set", mixing_dir)
    assert refused.exit_code == 2
    assert "format: 'auto' → 'jpeg'" in refused.output and "overrides: none → beta=2.0" in refused.output


def test_replay_record_is_a_documented_api(tmp_path, mixing_dir):
    import ipmix_cli

    make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--k", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    record = manifest(out)[0]
    with Image.open(out / record["file_name"]) as image:
        assert np.array_equal(np.array(image), ipmix_cli.replay_record(out, record))


def test_replaying_a_tampered_record_is_a_replay_error_and_a_tampered_size_never_scales(tmp_path, mixing_dir):
    from ipmix_cli import Replayer
    from ipmix_cli.jobs.replay import ReplayError

    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "5", "--trace", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    record = manifest(out)[0]
    trace = json.loads(record["trace"])
    replayer = Replayer(out)
    huge = {**record, "trace": json.dumps({**trace, "mixing_size": [30000, 30000]})}
    with pytest.raises(ReplayError, match="is not the cover size"):
        replayer.pixels(huge)
    for tampered in ({**record, "source": 5}, {**record, "trace": "{"}, {**record, "trace": "[1]"}):
        with pytest.raises(ReplayError):
            replayer.pixels(tampered)
    run_record = json.loads((out / "ipmix_run.json").read_text())
    run_record["identity"]["overrides"] = ["not", "a", "dict"]
    (out / "ipmix_run.json").write_text(json.dumps(run_record))
    with pytest.raises(ReplayError, match="settings ipmix never writes"):
        Replayer(out)


def test_the_first_log_line_tells_inputs_done_before_from_inputs_that_failed_before_starting():
    import io

    from ipmix_cli.runner.progress import Progress

    stream = io.StringIO()
    Progress(total=10, done=4, failed=1, stream=stream).close()
    assert "augmenting 6 inputs (3 already done, 1 failed before starting)" in stream.getvalue()
    fresh = io.StringIO()
    Progress(total=6, done=1, failed=1, stream=fresh).close()
    assert "augmenting 5 inputs (1 failed before starting)" in fresh.getvalue() and "already" not in fresh.getvalue()


def test_a_resumed_runs_bar_says_how_many_were_already_done():
    """On a terminal the bar starts at the inputs done before; its label says so (a bar at 32 % from the start
    read as a fault)."""
    import io

    from ipmix_cli.runner.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    shown = Terminal()
    progress = Progress(total=10, done=3, stream=shown)
    progress.update(1)
    progress.close()
    assert "augmenting (3 already done)" in shown.getvalue() and "4/10" in shown.getvalue()
