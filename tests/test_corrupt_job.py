"""``ipmix corrupt`` as a job: ImageNet-C's layout, records, loading per corruption and severity, frost and its
pictures, extending an OUT with more corruptions (issue 23). The engine's promises are in ``test_contract.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.corruptions import corrupt as corrupt_image
from ipmix_cli.corruptions import corruption_generator


def corrupt(root: Path, out: Path, *extra):
    arguments = ["corrupt", str(root), str(out), "--seed", "2", "--jobs", "1"]
    return CliRunner().invoke(main, [*arguments, *map(str, extra)])


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_outputs_follow_imagenet_c_and_are_the_library_s_images(tmp_path):
    sources = make_inputs(tmp_path / "in", 3, size=(40, 30))
    out = tmp_path / "out"
    result = corrupt(tmp_path / "in", out, "--corruptions", "fog,impulse_noise", "--severities", "1,4")
    assert result.exit_code == 0, result.output
    expected = {f"{c}/{s}/{source}" for c in ("fog", "impulse_noise") for s in (1, 4) for source in sources}
    assert {r["file_name"] for r in records(out)} == expected
    record = next(r for r in records(out) if r["file_name"] == f"fog/4/{sources[1]}")
    assert (record["corruption"], record["severity"], record["source"], record["label"]) == (
        "fog",
        4,
        sources[1],
        "dogs",
    )
    with Image.open(tmp_path / "in" / sources[1]) as image:
        pixels = np.array(image.convert("RGB"))
    made = corrupt_image(pixels, "fog", 4, corruption_generator(2, sources[1], "fog", 4), "auto")
    with Image.open(out / "fog" / "4" / sources[1]) as written:
        assert np.array_equal(np.array(written), made)  # PNG inputs give PNG outputs: exact


@pytest.mark.slow
def test_one_corruption_at_one_severity_loads_as_an_image_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    make_inputs(tmp_path / "in", 4, size=(20, 20))
    out = tmp_path / "out"
    assert corrupt(tmp_path / "in", out, "--corruptions", "snow", "--severities", "3").exit_code == 0
    datasets.disable_progress_bars()
    loaded = datasets.load_dataset("imagefolder", data_dir=str(out / "snow" / "3"))["train"]
    assert len(loaded) == 4 and loaded.features["label"].names == ["cats", "dogs"]


@pytest.mark.slow
def test_more_corruptions_add_outputs_and_change_none_and_fewer_are_refused(tmp_path):
    make_inputs(tmp_path / "in", 2, size=(20, 20))
    out = tmp_path / "out"
    assert corrupt(tmp_path / "in", out, "--corruptions", "contrast", "--severities", "2").exit_code == 0
    first = {p: p.read_bytes() for p in out.rglob("*.png")}
    more = corrupt(tmp_path / "in", out, "--corruptions", "contrast,pixelate", "--severities", "2,3")
    assert more.exit_code == 0, more.output
    assert all(path.read_bytes() == data for path, data in first.items())
    assert len(records(out)) == 2 * 2 * 2
    fewer = corrupt(tmp_path / "in", out, "--corruptions", "pixelate", "--severities", "2,3")
    assert fewer.exit_code == 2 and "holds outputs this run does not name (contrast 2, contrast 3)" in fewer.output
    trimmed = corrupt(tmp_path / "in", out, "--corruptions", "pixelate", "--severities", "2,3", "--overwrite")
    assert trimmed.exit_code == 0
    assert {r["corruption"] for r in records(out)} == {"pixelate"} and not (out / "contrast").exists()
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


@pytest.mark.slow
def test_frost_without_its_pictures_is_refused_in_one_line_or_left_out_when_asked(tmp_path, monkeypatch):
    from ipmix_cli.corruptions import frost

    monkeypatch.setattr(frost, "installed_folder", lambda: None)
    make_inputs(tmp_path / "in", 1, size=(20, 20))
    refused = corrupt(tmp_path / "in", tmp_path / "out", "--corruptions", "frost,fog", "--severities", "1")
    assert refused.exit_code == 2 and "frost needs ImageNet-C's six frost pictures" in refused.output
    assert "--skip-missing" in refused.output and not (tmp_path / "out").exists()
    skipped = corrupt(
        tmp_path / "in", tmp_path / "out", "--corruptions", "frost,fog", "--severities", "1", "--skip-missing"
    )
    assert skipped.exit_code == 0 and "frost left out" in skipped.stderr
    assert {r["corruption"] for r in records(tmp_path / "out")} == {"fog"}


def test_bad_choices_are_usage_errors_naming_what_is_allowed(tmp_path):
    make_inputs(tmp_path / "in", 1, size=(20, 20))
    unknown = corrupt(tmp_path / "in", tmp_path / "out", "--corruptions", "rain")
    assert (
        unknown.exit_code == 2 and "unknown corruption 'rain'" in unknown.output and "gaussian_noise" in unknown.output
    )
    severity = corrupt(tmp_path / "in", tmp_path / "out", "--severities", "0-6")
    assert severity.exit_code == 2 and "each must be from 1 to 5" in severity.output


@pytest.mark.slow
def test_preview_corrupt_draws_the_outputs_corrupt_writes(tmp_path):
    make_inputs(tmp_path / "in", 1, size=(32, 32), labels=None)
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(
        main,
        ["preview", "--corrupt", str(tmp_path / "in" / "img0000.png"), "-o", str(sheet), "--seed", "2"]
        + ["--corruptions", "fog,shot_noise", "--severities", "1,5"],
    )
    assert result.exit_code == 0, result.output
    assert (
        corrupt(tmp_path / "in", tmp_path / "out", "--corruptions", "fog,shot_noise", "--severities", "1,5").exit_code
        == 0
    )
    from ipmix_cli.imaging.sheets import CAPTION, PAD

    with Image.open(sheet) as image:
        figure = np.array(image)
    top = PAD + CAPTION + PAD  # one title line
    for row, name in enumerate(("shot_noise", "fog")):  # rows in the benchmark's order
        for column, severity in enumerate((1, 5), start=1):
            y, x = top + row * (32 + CAPTION + PAD), PAD + column * (32 + PAD)
            with Image.open(tmp_path / "out" / name / str(severity) / "img0000.png") as written:
                assert np.array_equal(figure[y : y + 32, x : x + 32], np.array(written))


def _replay(out: Path, *extra) -> object:
    return CliRunner().invoke(main, ["verify", str(out), "--replay", "100", *map(str, extra)])


@pytest.mark.parametrize("writer", ["files", "webdataset"])
def test_verify_replay_makes_corrupt_outputs_again_and_notices_other_settings(tmp_path, writer):
    """``verify --replay`` re-runs the corrupt job's own render and encode (not augment's): every output of an
    untouched OUT replays to its bytes, including settings that change them (crop, preset, JPEG quality); a run
    record whose seed was edited no longer replays, though every file still matches the manifest."""
    make_inputs(tmp_path / "in", 3, size=(40, 30))
    out = tmp_path / "out"
    settings = ["--corruptions", "fog,shot_noise,jpeg_compression", "--severities", "2,5", "--crop", "24x20"]
    shards = ["--output-format", writer, "--samples-per-shard", "2"] if writer != "files" else []
    result = corrupt(
        tmp_path / "in", out, *settings, "--preset", "imagenet", "--format", "jpeg", "--quality", "80", *shards
    )
    assert result.exit_code == 0, result.output
    replayed = _replay(out)
    assert replayed.exit_code == 0, replayed.output
    assert "18 replayed" in replayed.output
    run_record = out / "ipmix_run.json" if writer == "files" else out / ".ipmix" / "ipmix_run.json"
    record = json.loads(run_record.read_text())
    record["identity"]["seed"] += 1
    run_record.write_text(json.dumps(record))
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0  # the files are what the manifest says
    replayed = _replay(out)
    assert replayed.exit_code == 1
    assert replayed.output.count("replaying its seed gives other bytes") == 12  # JPEG compression draws nothing
    assert not [line for line in replayed.output.splitlines() if "jpeg_compression" in line]


def test_verify_replay_of_corrupt_says_where_the_inputs_went(tmp_path):
    make_inputs(tmp_path / "in", 2, size=(20, 20))
    out = tmp_path / "out"
    assert corrupt(tmp_path / "in", out, "--corruptions", "contrast", "--severities", "1").exit_code == 0
    (tmp_path / "in").rename(tmp_path / "moved")
    replayed = _replay(out)
    assert replayed.exit_code == 1 and "pass the folder with --in" in replayed.output
    replayed = _replay(out, "--in", tmp_path / "moved")
    assert replayed.exit_code == 0 and "2 replayed" in replayed.output, replayed.output
