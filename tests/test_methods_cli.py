"""Every method through ``ipmix augment`` and ``ipmix preview``: the samples end to end, with a hard kill and a
resume, the same bytes with one and two jobs, the run identity, and settings refused for the wrong method."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.engine.methods import apply_plan
from ipmix_cli.imaging.images import centre_crop, decode_rgb, resize_shorter
from ipmix_cli.jobs.builtin_set import ensure_builtin
from ipmix_cli.mixsets.mixing_set import MixingSet

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _augment(out: Path, method: str, *extra: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ipmix_cli", "augment", str(SAMPLES), str(out), "--method", method]
    command += ["--k", "2", "--seed", "3", "--resize", "40", "--crop", "40", "--format", "png", "--trace", "--quiet"]
    command += extra
    environment = {**os.environ, "IPMIX_KILL_AFTER_WRITES": str(kill_after or 0)}
    return subprocess.run(command, capture_output=True, text=True, env=environment)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ipmix", "augmix", "pixmix"])
def test_samples_end_to_end_killed_and_resumed_equal_one_run_with_two_jobs(tmp_path, method):
    reference = tmp_path / "reference"
    done = _augment(reference, method, "--jobs", "2")
    assert done.returncode == 0, done.stderr
    killed = _augment(tmp_path / "out", method, "--jobs", "1", kill_after=6)
    assert killed.returncode == -signal.SIGKILL
    resumed = _augment(tmp_path / "out", method, "--jobs", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert folder_bytes(tmp_path / "out") == folder_bytes(reference)

    records = [json.loads(line) for line in (reference / "metadata.jsonl").read_text().splitlines()]
    assert len(records) == 2 * len(list(SAMPLES.rglob("*.jpg")))
    identity = json.loads((reference / "ipmix_run.json").read_text())["identity"]
    expected = {
        "ipmix": {"beta": 3.0, "patch_sizes": [4, 8, 16, 32], "overflow": "wrap"},
        "augmix": {"alpha": 1.0, "depth": None, "chains": 3},
        "pixmix": {"rounds": 4, "beta": 3.0},
    }[method]
    assert identity["method"] == method and expected.items() <= identity["resolved"]["cifar"].items()
    mixing = MixingSet.from_folder(ensure_builtin(show_progress=False)) if method != "augmix" else None
    for record in records:  # every copy replays from its trace to the written bytes
        trace = json.loads(record["trace"])
        assert trace["plan"]["method"] == method
        with open(SAMPLES / record["source"], "rb") as stream:
            pixels = centre_crop(resize_shorter(decode_rgb(stream), 40), 40, 40)
        window = None
        if method == "augmix":
            assert record["mixing_picture"] is None and identity["mixing_set"] == {"fingerprint": ""}
        else:
            window = mixing.window(trace["mixing_picture"], trace["mixing_size"], trace["mixing_crop"], 40, 40)
        with Image.open(reference / record["file_name"]) as written:
            assert np.array_equal(np.array(written), apply_plan(pixels, window, trace["plan"]))


def invoke(*arguments):
    return CliRunner().invoke(main, [str(a) for a in arguments], catch_exceptions=False)


def test_the_method_is_part_of_the_run_identity(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert invoke("augment", tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    refused = invoke("augment", tmp_path / "in", out, "--seed", "1", "--method", "augmix")
    assert refused.exit_code == 2 and "method: 'ipmix' → 'augmix'" in refused.output


def test_keep_original_with_two_copies_gives_the_jsd_triple(tmp_path):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    result = invoke("augment", tmp_path / "in", out, "--method", "augmix", "--k", "2", "--keep-original", "--quiet")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    by_source: dict[str, list] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record["copy"])
    assert all(copies == [None, 0, 1] for copies in by_source.values()) and len(by_source) == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--method", "augmix", "--patch-sizes", "4,8"], "--patch-sizes does not apply to --method augmix"),
        (["--method", "augmix", "--beta", "2"], "--beta does not apply to --method augmix"),
        (["--method", "pixmix", "--depth", "2"], "--depth does not apply to --method pixmix"),
        (["--method", "ipmix", "--rounds", "2"], "--rounds does not apply to --method ipmix"),
        (["--method", "augmix", "--ops", "mirror"], "unknown operation(s) 'mirror' for augmix"),
        (["--method", "augmix", "--depth", "0"], "depth must be between 1 and 64"),
        (["--method", "cutmix"], "Invalid value for '--method'"),
    ],
)
@pytest.mark.parametrize("command", ["augment", "preview"])
def test_settings_of_another_method_are_usage_errors(tmp_path, command, arguments, message):
    make_inputs(tmp_path / "in", 1)
    target = [tmp_path / "out"] if command == "augment" else ["-o", tmp_path / "sheet.png"]
    result = invoke(command, tmp_path / "in", *target, *arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "sheet.png").exists()


@pytest.mark.parametrize("method", ["augmix", "pixmix"])
def test_preview_tiles_and_explanation_equal_the_written_files(tmp_path, mixing_dir, method):
    make_inputs(tmp_path / "in", 2, size=(40, 40))
    options = ["--method", method, "--seed", "4", "--k", "3"] + (
        ["--mixing-set", mixing_dir] if method != "augmix" else []
    )
    assert invoke("augment", tmp_path / "in", tmp_path / "out", *options, "--quiet").exit_code == 0
    sheet, figure = tmp_path / "sheet.png", tmp_path / "explain.png"
    assert invoke("preview", tmp_path / "in", *options, "-o", sheet).exit_code == 0
    image = tmp_path / "in" / "cats" / "img0000.png"
    result = invoke("preview", "--explain", image, "--root", tmp_path / "in", "--copy", "2", *options, "-o", figure)
    assert result.exit_code == 0, result.output
    from test_preview import tile

    with Image.open(sheet) as shown, Image.open(tmp_path / "out" / "cats" / "img0000_ipmix1.png") as written:
        assert np.array_equal(tile(np.array(shown), 0, 2, 40), np.array(written))
    result_column = 1 if method == "augmix" else 2  # AugMix shows no mixing picture
    with Image.open(figure) as shown, Image.open(tmp_path / "out" / "cats" / "img0000_ipmix2.png") as written:
        assert np.array_equal(tile(np.array(shown), 0, result_column, 40, title_lines=2), np.array(written))
