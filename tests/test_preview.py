"""Previews: contact sheets equal to augment's files, the step-by-step explanation, mixing-set grids."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import make_inputs
from ipmix_cli.cli.main import main
from ipmix_cli.preview import CAPTION, PAD, describe_step

ROOT = Path(__file__).resolve().parent.parent


def invoke(*arguments):
    return CliRunner().invoke(main, [str(a) for a in arguments], catch_exceptions=False)


def tile(sheet: np.ndarray, row: int, column: int, side: int, title_lines: int = 1) -> np.ndarray:
    top = PAD + title_lines * CAPTION + PAD + row * (side + CAPTION + PAD)
    left = PAD + column * (side + PAD)
    return sheet[top : top + side, left : left + side]


def test_sheet_size_and_tiles_equal_the_files_augment_writes(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 5, size=(60, 60))
    options = ["--seed", "11", "--k", "3", "--mixing-set", mixing_dir, "--resize", "48", "--crop", "48", "--beta", "2"]
    result = invoke("augment", tmp_path / "in", tmp_path / "out", *options, "--quiet")
    assert result.exit_code == 0, result.output
    sheet_path = tmp_path / "sheet.png"
    result = invoke("preview", tmp_path / "in", "--per-folder", "4", *options, "-o", sheet_path)
    assert result.exit_code == 0, result.output
    from ipmix_cli.preview import _spread

    shown = _spread(sorted(sources), 4)
    assert {source.split("/")[0] for source in shown} == {"cats", "dogs"}  # every class shows
    with Image.open(sheet_path) as image:
        sheet = np.array(image)
    side, k = 48, 3
    assert sheet.shape[1] == PAD + (k + 1) * (side + PAD)
    assert sheet.shape[0] == PAD + CAPTION + PAD + len(shown) * (side + CAPTION + PAD)
    for row, source in enumerate(shown):
        stem = source.rsplit(".", 1)[0]
        for copy in range(k):
            with Image.open(tmp_path / "out" / f"{stem}_ipmix{copy}.png") as written:
                assert np.array_equal(tile(sheet, row, copy + 1, side), np.array(written)), (source, copy)


def test_explain_final_panel_is_the_augmented_copy(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2, size=(40, 40))
    options = ["--seed", "4", "--k", "5", "--mixing-set", mixing_dir]
    invoke("augment", tmp_path / "in", tmp_path / "out", *options, "--quiet")
    figure = tmp_path / "explain.png"
    result = invoke(
        "preview",
        "--explain",
        tmp_path / "in" / "cats" / "img0000.png",
        "--root",
        tmp_path / "in",
        "--copy",
        "3",
        *options,
        "-o",
        figure,
    )
    assert result.exit_code == 0, result.output
    with Image.open(figure) as image:
        panels = np.array(image)
    final = tile(panels, 0, 2, 40, title_lines=2)
    with Image.open(tmp_path / "out" / "cats" / "img0000_ipmix3.png") as written:
        assert np.array_equal(final, np.array(written))
    assert np.array_equal(
        tile(panels, 0, 0, 40, title_lines=2), np.array(Image.open(tmp_path / "in" / "cats" / "img0000.png"))
    )


def test_the_same_command_gives_the_same_bytes(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    outputs = []
    for name in ("a.png", "b.png"):
        invoke("preview", tmp_path / "in", "--k", "4", "--mixing-set", mixing_dir, "-o", tmp_path / name)
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    invoke("preview", tmp_path / "in", "--k", "4", "--seed", "1", "--mixing-set", mixing_dir, "-o", tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes() != outputs[0]


def test_fractal_grid(tmp_path, mixing_dir):
    result = invoke(
        "fractals",
        "preview",
        mixing_dir,
        "--count",
        "10",
        "--columns",
        "4",
        "--side",
        "60",
        "-o",
        tmp_path / "grid.png",
    )
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (PAD + 4 * (60 + PAD), PAD + CAPTION + PAD + 3 * (60 + CAPTION + PAD))


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (["preview", "missing.png", "-o", "x.png"], 2, "does not exist"),
        (["preview", "--explain", "{in}", "-o", "x.png"], 2, "--explain takes exactly one IMAGE"),
        (
            ["preview", "--explain", "{in}/cats/img0000.png", "--copy", "9", "--k", "2", "-o", "x.png"],
            2,
            "out of range",
        ),
        (["preview", "{in}/broken.png", "-o", "x.png"], 1, "cannot read an input"),
        (["preview", "{in}", "-o", "x.png", "--severity", "0"], 2, "Invalid value for '--severity'"),
        (["preview", "{in}", "-o"], 2, "requires an argument"),
        (["fractals", "preview", "{in}/cats", "-o", "x.png"], 0, ""),
        (["fractals", "preview", "{empty}", "-o", "x.png"], 2, "holds no readable images"),
    ],
)
def test_bad_inputs_and_options_get_clear_errors(tmp_path, mixing_dir, monkeypatch, arguments, code, message):
    make_inputs(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    filled = [a.format(**{"in": tmp_path / "in", "empty": tmp_path / "empty"}) for a in arguments]
    if filled[0] == "preview":
        filled[1:1] = ["--mixing-set", str(mixing_dir)]
    result = CliRunner().invoke(main, filled)
    assert result.exit_code == code, result.output
    assert message in result.output


def test_steps_are_described_for_people():
    assert describe_step({"op": "rotate", "degrees": -7}) == "rotate -7 deg"
    assert (
        describe_step({"op": "patch", "mix": "add", "box": [3, 12, 16, 9], "source": "mixing"}) == "add 16x9 @ (3,12)"
    )
    step = {"op": "patch", "mix": "multiply", "box": [0, 0, 4, 4], "source": {"op": "solarize", "threshold": 200}}
    assert describe_step(step) == "multiply 4x4 @ (0,0) from solarize >= 200"
    assert describe_step({"op": "color", "factor": 1.234}) == "color x1.23"


@pytest.mark.slow
def test_the_readme_figures_script_runs(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_figures.py"), "--small", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    for name in ("sheet.png", "explain.png", "methods.png", "fractals.png"):
        with Image.open(tmp_path / name) as image:
            assert image.width > 100 and image.height > 50


@pytest.mark.parametrize("how", ["same", "dotted", "link"])
def test_a_preview_never_writes_over_an_input(tmp_path, mixing_dir, how):
    make_inputs(tmp_path / "in", 2)
    source = next((tmp_path / "in").rglob("*.png"))
    before = source.read_bytes()
    target = {"same": source, "dotted": source.parent / "." / source.name, "link": tmp_path / "link.png"}[how]
    if how == "link":
        target.symlink_to(source)
    result = invoke("preview", str(source), "--explain", "-o", str(target), "--mixing-set", str(mixing_dir))
    assert result.exit_code == 2, result.output
    assert source.read_bytes() == before
    assert "never writes over an input" in result.output or "not a regular file" in result.output


def test_a_preview_writes_png_whatever_the_name_and_refuses_devices_and_huge_copies(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    source = next((tmp_path / "in").rglob("*.png"))
    named = tmp_path / "sheet"  # no extension
    assert invoke("preview", str(tmp_path / "in"), "-o", str(named), "--mixing-set", str(mixing_dir)).exit_code == 0
    with Image.open(named) as written:
        assert written.format == "PNG"
    device = invoke("preview", str(tmp_path / "in"), "-o", "/dev/full", "--mixing-set", str(mixing_dir))
    assert device.exit_code == 2 and "not a regular file" in device.output
    assert Path("/dev/full").is_char_device()
    for option in (["--explain", "--copy", str(10**12)], ["--k", str(10**8)]):
        huge = invoke("preview", str(source), *option, "-o", str(tmp_path / "x.png"), "--mixing-set", str(mixing_dir))
        assert huge.exit_code == 2 and "below 257" in huge.output


def test_tiles_of_other_sizes_line_up_in_equal_cells():
    """Tiles at native size in a grid of equal cells: columns line up whatever the inputs' sizes."""
    from ipmix_cli.imaging.sheets import Tile, compose

    rows = [[Tile(np.full((10, 30, 3), 255, np.uint8), "a"), Tile(np.full((20, 8, 3), 128, np.uint8), "b")]]
    rows.append([Tile(np.zeros((5, 5, 3), np.uint8), "c")])
    sheet = np.array(compose(rows))
    assert sheet.shape[1] == PAD + 2 * (30 + PAD) and sheet.shape[0] == PAD + 2 * (20 + CAPTION + PAD)
    second_column = PAD + 30 + PAD
    assert (sheet[PAD : PAD + 20, second_column + 11 : second_column + 19] == 128).all()  # centred in its cell
