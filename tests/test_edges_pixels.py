"""Resources with a bound (issue 21): the pixel limit holds for every image ipmix makes, checked before it is
allocated; each output format's encoder limits are checked before the encoder runs; and no line of Pillow's
warnings or of libjpeg/libwebp reaches the user. Each fault is the input's failure, with one line naming the
limit."""

from __future__ import annotations

import io
import json
import tracemalloc
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ipmix_cli.cli.main import main
from ipmix_cli.imaging.images import (
    TooManyPixels,
    centre_crop,
    resize_shorter,
)
from ipmix_cli.mixsets import mixing_set as mixing_module
from ipmix_cli.mixsets.mixing_set import MixingSet

LIMIT = Image.MAX_IMAGE_PIXELS


def augment(*arguments):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], catch_exceptions=False)


def failures(out) -> dict[str, str]:
    return {f["source"]: f["error"] for f in json.loads((out / "ipmix_run.json").read_text())["failures"]}


@pytest.fixture
def resizes_seen(monkeypatch):
    """Every size Pillow is asked to resize to: none may be over the pixel limit."""
    seen = []
    original = Image.Image.resize

    def resize(self, size, *args, **kwargs):
        seen.append(tuple(size))
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", resize)
    return seen


# --- 1. the pixel limit: --resize, --crop, the mixing picture's cover ----------------------------------------


@pytest.mark.parametrize(
    "shape, side",
    [((16, 32), 20000), ((32, 16), 20000), ((2, 3), 8000), ((9460, 2), 9460), ((100, 100), 9460)],
    ids=["wide", "tall", "tiny", "strip", "square-just-over"],
)
def test_resize_beyond_the_limit_fails_before_anything_is_allocated(shape, side, resizes_seen):
    pixels = np.zeros((*shape, 3), np.uint8)
    tracemalloc.start()
    try:
        with pytest.raises(TooManyPixels) as refused:
            resize_shorter(pixels, side)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and resizes_seen == []
    message = str(refused.value)
    assert f"--resize {side}" in message and f"{LIMIT:,} pixels" in message and "\n" not in message


def test_resize_up_to_the_limit_is_made(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    assert resize_shorter(np.zeros((2, 4, 3), np.uint8), 10).shape == (10, 20, 3)  # exactly 200 pixels
    with pytest.raises(TooManyPixels):
        resize_shorter(np.zeros((2, 4, 3), np.uint8), 11)


def test_a_crop_over_the_limit_fails(monkeypatch):
    pixels = np.zeros((20, 20, 3), np.uint8)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert centre_crop(pixels, 10, 10).shape == (10, 10, 3)
    with pytest.raises(TooManyPixels, match="--crop"):
        centre_crop(pixels, 11, 10)


@pytest.mark.parametrize("ratio", [(36, 32), (256, 224)], ids=["cifar", "imagenet"])
@pytest.mark.parametrize("shape", [(40, 40), (30, 53), (2, 700), (700, 2)], ids=["square", "oblong", "wide", "tall"])
def test_the_mixing_pictures_cover_is_held_to_the_limit(monkeypatch, resizes_seen, shape, ratio):
    """Whichever way the cover is made (whole, or only the window for strips), nothing over the limit is
    allocated: the draw fails as the input's failure, naming the limit."""
    monkeypatch.setattr(mixing_module, "FULL_COVER_PIXELS", 64)  # strips take the window path at this size
    pictures = [np.random.default_rng(i).integers(0, 256, (9, 7, 3), dtype=np.uint8) for i in range(3)]
    mixing = MixingSet(pictures, ["a.png", "b.png", "c.png"])
    height, width = shape
    cover = mixing_module.cover_size(9, 7, height, width, ratio)
    windowed = cover[0] * cover[1] > max(4 * height * width, 64)
    made = mixing_module._scaled_extent(cover, width, height) if windowed else cover
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", made[0] * made[1])
    for seed in range(4):
        assert mixing.draw(np.random.default_rng(seed), height, width, ratio)[1].shape == (height, width, 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", made[0] * made[1] - 1)
    resizes_seen.clear()
    mixing = MixingSet(pictures, ["a.png", "b.png", "c.png"])  # no cached cover
    with pytest.raises(TooManyPixels) as refused:
        mixing.draw(np.random.default_rng(0), height, width, ratio)
    assert f"{made[0] * made[1] - 1:,} pixels" in str(refused.value) and "mixing picture" in str(refused.value)
    assert resizes_seen == []


def test_a_mixing_picture_over_the_limit_is_refused_when_the_set_loads(tmp_path):
    folder = tmp_path / "mixing"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "small.png")
    Image.new("1", (12000, 12000)).save(folder / "huge.png")  # 144 Mpixels in a few kB
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(mixing_module.MixingSetError) as refused:
            MixingSet.from_folder(folder)
    assert seen == []
    assert "huge.png (12000×12000 = 144,000,000 pixels" in str(refused.value) and f"{LIMIT:,}" in str(refused.value)


@pytest.mark.slow
@pytest.mark.parametrize("side", [9500, 12000, 14000], ids=["just-over", "144Mpx", "over-twice"])
def test_a_mixing_picture_over_the_limit_in_a_set_made_in_python_fails_without_a_warning(side):
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    mixing = MixingSet([buffer.getvalue()], ["huge.png"])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(mixing_module.MixingSetError, match="more pixels than ipmix's limit"):
            mixing.draw(np.random.default_rng(0), 16, 16)
    assert seen == []


def test_resize_over_the_limit_is_the_inputs_failure_in_a_run(tmp_path, mixing_dir, monkeypatch):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 16)).save(tmp_path / "in" / "small.png")
    Image.new("RGB", (2, 2)).save(tmp_path / "in" / "tiny.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 15_000)  # in-process: the threading backend sees it
    out = tmp_path / "out"
    result = augment(
        tmp_path / "in",
        out,
        "--resize",
        100,
        "--k",
        1,
        "--seed",
        0,
        "--jobs",
        1,
        "--backend",
        "threading",
        "--mixing-set",
        mixing_dir,
        "--quiet",
    )
    assert result.exit_code == 1
    assert failures(out) == {
        "small.png": "--resize 100 would make it 200×100 = 20,000 pixels, over ipmix's limit of 15,000 pixels "
        "(Pillow's decompression-bomb limit); choose a smaller --resize"
    }
    assert [json.loads(line)["source"] for line in (out / "metadata.jsonl").read_text().splitlines()] == ["tiny.png"]


def test_loading_a_mixing_folder_with_odd_pictures_prints_no_warning(tmp_path):
    import struct

    folder = tmp_path / "mixing"
    folder.mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 80, 200)).save(buffer, "JPEG")
    jpeg = buffer.getvalue()
    ifd = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0xB002, 7, 16, 50) + b"\0" * 4
    payload = b"MPF\x00" + ifd
    (folder / "mpo.jpg").write_bytes(jpeg[:2] + b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        mixing = MixingSet.from_folder(folder)
        mixing.draw(np.random.default_rng(0), 8, 8)
    assert len(mixing) == 1 and [str(w.message) for w in seen] == []
