"""Procedural mixing pictures and ``ipmix fractals build`` (SPEC §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ipmix_cli.cli.main import main
from ipmix_cli.disk.atomic import TEMP_PREFIX, host_tag
from ipmix_cli.jobs.fractals import BuildConfig, BuildError, build_set, render_picture
from ipmix_cli.mixsets import fractals
from ipmix_cli.seeding import generator_for_index


def _files(folder: Path) -> dict[str, bytes]:
    """The pictures and metadata, and the record's settings: what a set is (the record's counts, timings and
    command, and ipmix's private ledger, which records file signatures, differ by nature)."""
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".ipmix") and p.name != "ipmix_fractals.json"
    }
    record = json.loads((folder / "ipmix_fractals.json").read_text())
    settings = ("count", "size", "seed", "kind", "generator_version", "ifs_points", "digits", "complete")
    files["ipmix_fractals.json"] = json.dumps({key: record[key] for key in settings}, sort_keys=True).encode()
    return files


_without_counts = _files


def test_every_map_is_a_contraction_and_the_sigma_factor_is_in_range():
    for index in range(400):
        system = fractals.sample_ifs(generator_for_index(3, index))
        maps = len(system["maps"])
        assert 2 <= maps <= 4
        low, high = fractals.sigma_factor_range(maps)
        assert low <= system["sigma_factor"] <= high
        total = 0.0
        for row, (s1, s2) in zip(system["maps"], system["singular_values"]):
            singular = np.linalg.svd(np.array(row[:4]).reshape(2, 2), compute_uv=False)
            assert singular[0] < 1, "not a contraction"
            assert np.allclose(singular, [s1, s2], atol=1e-9)
            assert 0 <= s2 <= s1 <= 1
            total += singular[0] + 2 * singular[1]
        assert abs(total - system["sigma_factor"]) < 1e-9
        assert abs(sum(system["probabilities"]) - 1) < 1e-9


def test_singular_values_meet_their_constraints_for_every_map_count():
    rng = np.random.default_rng(0)
    for maps in (2, 3, 4):
        for _ in range(300):
            factor = rng.uniform(*fractals.sigma_factor_range(maps))
            pairs = fractals.sample_singular_values(rng, maps, factor)
            assert np.all(pairs >= 0) and np.all(pairs <= 1) and np.all(pairs[:, 1] <= pairs[:, 0])
            assert abs((pairs[:, 0] + 2 * pairs[:, 1]).sum() - factor) < 1e-9


@pytest.mark.parametrize("kind", ["ifs", "dead_leaves", "spectral"])
def test_pictures_are_structured_not_blank(kind):
    for index in range(12):
        made, picture = fractals.make_picture(kind, generator_for_index(5, index), 96)
        pixels = picture.pixels
        assert made == kind and pixels.shape == (96, 96, 3) and pixels.dtype == np.uint8
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "nearly a single colour"
        assert pixels.std() > 10
        if kind == "ifs":
            assert picture.params["coverage"] >= fractals.MIN_COVERAGE


def test_degenerate_systems_are_rejected_and_redrawn(monkeypatch):
    real = fractals.sample_ifs
    calls = []

    def collapsing_first(rng):
        calls.append(1)
        system = real(rng)
        if len(calls) == 1:  # every map squashes to (almost) one point: nothing covered
            system["maps"] = [[1e-4, 0, 0, 1e-4, 0.1, 0.1] for _ in system["maps"]]
        return system

    monkeypatch.setattr(fractals, "sample_ifs", collapsing_first)
    picture = fractals.make_ifs(generator_for_index(0, 0), 64)
    assert picture.params["attempts"] >= 2
    assert picture.params["coverage"] >= fractals.MIN_COVERAGE


def test_mixed_kind_draws_among_the_kinds():
    kinds = {fractals.make_picture("mixed", generator_for_index(1, i), 32)[0] for i in range(30)}
    assert kinds == {"ifs", "dead_leaves", "spectral"}


def test_same_seed_and_index_give_the_same_bytes_and_indices_differ():
    config = BuildConfig(count=4, size=64, seed=9)
    first = [render_picture(config, i)[0] for i in range(4)]
    assert first == [render_picture(config, i)[0] for i in range(4)]
    assert len(set(first)) == 4


def test_same_bytes_in_a_separate_process():
    config = BuildConfig(count=3, size=64, seed=11, kind="mixed")
    code = (
        "import sys, hashlib\n"
        "from ipmix_cli.jobs.fractals import BuildConfig, render_picture\n"
        "c = BuildConfig(count=3, size=64, seed=11, kind='mixed')\n"
        "print(' '.join(hashlib.sha256(render_picture(c, i)[0]).hexdigest() for i in range(3)))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    import hashlib

    assert output.split() == [hashlib.sha256(render_picture(config, i)[0]).hexdigest() for i in range(3)]


@pytest.mark.slow
def test_build_is_identical_with_one_and_two_jobs(tmp_path):
    runner = CliRunner()
    for jobs in (1, 2):
        result = runner.invoke(
            main,
            [
                "fractals",
                "build",
                str(tmp_path / f"j{jobs}"),
                "--count",
                "20",
                "--size",
                "48",
                "--seed",
                "4",
                "--kind",
                "mixed",
                "--jobs",
                str(jobs),
            ],
        )
        assert result.exit_code == 0, result.output
    assert _files(tmp_path / "j1") == _files(tmp_path / "j2")
    lines = (tmp_path / "j1" / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(line)["index"] for line in lines] == list(range(20))
    assert {json.loads(line)["file_name"] for line in lines} == {f"{i:04d}.png" for i in range(20)}


@pytest.mark.slow
def test_an_interrupted_build_resumes_to_the_same_folder(tmp_path):
    command = [
        sys.executable,
        "-m",
        "ipmix_cli",
        "fractals",
        "build",
        "--count",
        "30",
        "--size",
        "48",
        "--seed",
        "2",
        "--jobs",
        "1",
        "--quiet",
    ]
    reference = tmp_path / "reference"
    subprocess.run([*command, str(reference)], check=True)

    interrupted = tmp_path / "interrupted"
    environment = {**os.environ, "IPMIX_KILL_AFTER_WRITES": "12"}
    killed = subprocess.Popen([*command, str(interrupted)], env=environment)
    assert killed.wait() == -9
    assert not (interrupted / "metadata.jsonl").exists()
    assert 0 < len(list(interrupted.glob("*.png"))) < 30
    leftover = interrupted / f"{TEMP_PREFIX}{host_tag()}-{killed.pid}-0a1b2c3d-12.png"
    leftover.write_bytes(b"partial")  # as a kill mid-write would leave

    subprocess.run([*command, str(interrupted)], check=True)
    assert _without_counts(interrupted) == _without_counts(reference)


def test_a_different_configuration_is_refused_unless_overwrite(tmp_path):
    build_set(tmp_path / "set", BuildConfig(count=3, size=32, seed=1), show_progress=False)
    with pytest.raises(BuildError, match="other settings"):
        build_set(tmp_path / "set", BuildConfig(count=3, size=32, seed=2), show_progress=False)
    build_set(tmp_path / "set", BuildConfig(count=2, size=32, seed=2), overwrite=True, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "set").glob("*.png")) == ["0000.png", "0001.png"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not empty"):
        build_set(tmp_path / "other", BuildConfig(count=1, size=32, seed=1), show_progress=False)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--count", "0"], "Invalid value for '--count'"),
        (["--size", "1"], "Invalid value for '--size'"),
        (["--kind", "blobs"], "Invalid value for '--kind'"),
        (["--jobs", "0"], "Invalid value for '--jobs'"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, arguments, message):
    result = CliRunner().invoke(main, ["fractals", "build", str(tmp_path / "x"), *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("kind", ["ifs", "mixed"])
def test_verify_checks_a_built_set_and_replays_its_pictures(tmp_path, kind):
    """A mixing set is an OUT like any other: ``verify`` passes on it (its state is the build's, not an
    augment run's without a record), ``--replay`` makes pictures again from their index, and a picture
    whose recorded parameters were made with another seed is caught by the replay alone."""
    out = tmp_path / "set"
    arguments = ["fractals", "build", str(out), "--count", "6", "--size", "32", "--seed", "3", "--kind", kind]
    assert CliRunner().invoke(main, [*arguments, "--quiet"]).exit_code == 0
    checked = CliRunner().invoke(main, ["verify", str(out), "--replay", "6"])
    assert checked.exit_code == 0 and "6 records intact, 6 replayed" in checked.output, checked.output
    record = json.loads((out / "ipmix_fractals.json").read_text())
    record["identity"]["seed"] = 4
    (out / "ipmix_fractals.json").write_text(json.dumps(record))
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    checked = CliRunner().invoke(main, ["verify", str(out), "--replay", "6"])
    assert checked.exit_code == 1 and checked.output.count("gives other bytes") == 6, checked.output
