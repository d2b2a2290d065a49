"""``ipmix augment`` against the real world: odd and broken files, hard kills, real clients, pipes."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, ipmix_command, make_inputs, photo_like
from ipmix_cli.cli.main import main


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width``×``height`` (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def make_odd_folder(root: Path) -> dict[str, str]:
    """Good images next to every odd case of the issue; returns the expected failures and their reason words."""
    good = root / "good"
    odd = root / "odd"
    good.mkdir(parents=True)
    odd.mkdir()
    for index in range(3):
        Image.fromarray(photo_like(30, 40, seed=index)).save(good / f"photo{index}.jpg", quality=90)
    jpeg = good / "photo0.jpg"
    (odd / "truncated.jpg").write_bytes(jpeg.read_bytes()[: len(jpeg.read_bytes()) // 2])
    (odd / "empty.jpg").write_bytes(b"")
    (odd / "notes.jpg").write_text("this is not a picture\n")
    sixteen = np.zeros((8, 10), np.uint16)
    sixteen[:, :5] = 65535
    sixteen[:, 5:] = 32768
    Image.fromarray(sixteen).save(odd / "gray16.png")
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(odd / "cmyk.jpg", quality=95)  # red
    palette = Image.new("P", (10, 8), 0)
    palette.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    palette.paste(1, (5, 0, 10, 8))
    palette.save(odd / "palette.png", transparency=1)  # left blue, right transparent
    la = np.zeros((8, 10, 2), np.uint8)
    la[..., 0] = 60
    la[:, :5, 1] = 255
    Image.fromarray(la, "LA").save(odd / "gray_alpha.png")
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[:, :5, 3] = 255
    Image.fromarray(rgba, "RGBA").save(odd / "rgba.png")
    frames = [Image.new("RGB", (12, 10), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(odd / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rotated = np.zeros((20, 40, 3), np.uint8)
    rotated[:, :20] = (255, 255, 255)  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90° clockwise
    Image.fromarray(rotated).save(odd / "exif_rotated.jpg", exif=exif, quality=95)
    Image.new("RGB", (1, 1), (10, 20, 30)).save(odd / "tiny.png")
    Image.fromarray(photo_like(2, 3000, seed=7)).save(odd / "strip.png")
    (odd / "bomb.png").write_bytes(_png_declaring(30000, 30000))
    (odd / "README.txt").write_text("not an image and not named like one: ignored\n")
    return {
        "odd/truncated.jpg": "truncated",
        "odd/empty.jpg": "empty file",
        "odd/notes.jpg": "not an image",
        "odd/tiny.png": "at least 2×2",
        "odd/bomb.png": "decompression bomb",
    }


def test_odd_and_broken_inputs(tmp_path, mixing_dir):
    expected_failures = make_odd_folder(tmp_path / "in")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "augment",
            str(tmp_path / "in"),
            str(out),
            "--k",
            "2",
            "--keep-original",
            "--format",
            "png",
            "--mixing-set",
            str(mixing_dir),
            "--quiet",
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    run_record = json.loads((out / "ipmix_run.json").read_text())
    failures = {f["source"]: f["error"] for f in run_record["failures"]}
    assert set(failures) == set(expected_failures)
    for source, words in expected_failures.items():
        assert words in failures[source], (source, failures[source])
        assert source in result.stderr
    assert run_record["status"] == "complete_with_failures"

    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    written = {r["source"] for r in records}
    assert written == {
        "good/photo0.jpg",
        "good/photo1.jpg",
        "good/photo2.jpg",
        "odd/gray16.png",
        "odd/cmyk.jpg",
        "odd/palette.png",
        "odd/gray_alpha.png",
        "odd/rgba.png",
        "odd/animated.gif",
        "odd/exif_rotated.jpg",
        "odd/strip.png",
    }
    assert all(len([r for r in records if r["source"] == s]) == 3 for s in written)

    def original(name: str) -> np.ndarray:
        with Image.open(out / "odd" / f"{name}_original.png") as image:
            assert image.mode == "RGB"
            return np.array(image)

    gray16 = original("gray16")
    assert np.all(gray16[:, :5] == 255) and np.all(gray16[:, 5:] == 128)  # scaled, not clipped
    cmyk = original("cmyk").astype(int)
    assert cmyk[..., 0].mean() > 230 and cmyk[..., 1].mean() < 25 and cmyk[..., 2].mean() < 25
    palette = original("palette")
    assert np.all(palette[:, :5] == (0, 0, 255)) and np.all(palette[:, 5:] == 255)  # transparency over white
    gray_alpha = original("gray_alpha")
    assert np.all(gray_alpha[:, :5] == 60) and np.all(gray_alpha[:, 5:] == 255)
    rgba = original("rgba")
    assert np.all(rgba[:, :5] == (0, 200, 0)) and np.all(rgba[:, 5:] == 255)
    animated = original("animated")
    assert np.all(animated == (255, 0, 0))  # the first frame
    rotated = original("exif_rotated").astype(int)
    assert rotated.shape == (40, 20, 3)  # orientation applied: landscape file shown as portrait
    assert rotated[:18].mean() > 200 and rotated[22:].mean() < 50  # the white half is now on top
    strip = [r for r in records if r["source"] == "odd/strip.png"]
    assert all((r["width"], r["height"]) == (3000, 2) for r in strip)


def test_background_colour_is_used_for_transparency(tmp_path, mixing_dir):
    (tmp_path / "in").mkdir()
    rgba = np.zeros((6, 6, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / "clear.png")
    out = tmp_path / "out"
    CliRunner().invoke(
        main,
        [
            "augment",
            str(tmp_path / "in"),
            str(out),
            "--keep-original",
            "--k",
            "1",
            "--background",
            "#102030",
            "--mixing-set",
            str(mixing_dir),
            "--quiet",
        ],
    )
    with Image.open(out / "clear_original.png") as image:
        assert np.all(np.array(image) == (16, 32, 48))


def _command(root: Path, out: Path, mixing: Path, *extra: str) -> list[str]:
    return ipmix_command(root, out, mixing, "--k", "2", "--seed", "3", "--jobs", "2", *extra)


@pytest.mark.slow
def test_sigkill_part_way_then_rerun_gives_the_uninterrupted_result(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 300, labels=("a", "b", "c"))
    reference = tmp_path / "reference"
    subprocess.run(_command(tmp_path / "in", reference, mixing_dir, "--quiet"), check=True)

    out = tmp_path / "out"
    process = subprocess.Popen(
        _command(tmp_path / "in", out, mixing_dir, "--print", "paths", "--quiet"),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    seen = 0
    for _ in process.stdout:  # wait for evidence of progress, then kill the whole process group
        seen += 1
        if seen == 200:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "metadata.jsonl").exists()
    assert 200 <= len(list(out.rglob("*.png"))) < 600

    resumed = subprocess.run(_command(tmp_path / "in", out, mixing_dir), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stderr
    assert folder_bytes(out) == folder_bytes(reference)
    assert not list(out.rglob(".ipmix-tmp-*")) and not (out / ".ipmix").exists()
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["status"] == "complete" and record["counts"]["already_done"] > 0


@pytest.mark.slow
def test_output_loads_with_hugging_face_datasets(tmp_path, mixing_dir, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_inputs(tmp_path / "in", 6, labels=("cats", "dogs", "owls"))
    out = tmp_path / "out"
    CliRunner().invoke(
        main,
        [
            "augment",
            str(tmp_path / "in"),
            str(out),
            "--k",
            "2",
            "--keep-original",
            "--mixing-set",
            str(mixing_dir),
            "--quiet",
        ],
    )
    dataset = load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))["train"]
    assert dataset.num_rows == 6 * 3
    rows = sorted(dataset, key=lambda row: (row["source"], -1 if row["copy"] is None else row["copy"]))
    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    for row, record in zip(rows, records):
        assert row["label"] == record["source"].split("/")[0] == record["label"]
        assert row["copy"] == record["copy"] and row["sha256"] == record["sha256"]
        assert row["image"].size == (record["width"], record["height"])


@pytest.mark.slow
def test_print_paths_feeds_another_command(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 5)
    out = tmp_path / "out"
    command = " ".join(_command(tmp_path / "in", out, mixing_dir, "--print", "paths", "--quiet"))
    listing = tmp_path / "list"
    (listing).mkdir()
    # exactly the brief's usage: find prints paths relative to the working directory ("in/…")
    pipeline = f"find in -name '*.png' | {command} --files-from - | xargs sha256sum"
    completed = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    digests = {
        Path(line.split()[1]).relative_to(out).as_posix(): line.split()[0] for line in completed.stdout.splitlines()
    }
    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert digests == {r["file_name"]: r["sha256"] for r in records}
    assert len(digests) == 5 * 2
