"""Encoder limits and raw library output (issue 21): every output format's side limit is checked before its
encoder runs (the input's failure, naming the limit and the way out); whatever else an encoder refuses is the
input's failure too; Pillow's warnings about odd but readable files never reach the user, and libjpeg's raw
lines never run."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from edges_images import png_bytes
from PIL import Image

from ipmix_cli.cli.main import main
from ipmix_cli.imaging.images import SIDE_LIMITS, Encoder, EncoderLimit, UnreadableImage, decode_rgb

FORMATS = sorted(SIDE_LIMITS)


def augment(*arguments):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], catch_exceptions=False)


def failures(out) -> dict[str, str]:
    return {f["source"]: f["error"] for f in json.loads((out / "ipmix_run.json").read_text())["failures"]}


def strip(long_side: int, tall: bool) -> np.ndarray:
    """A 2-pixel strip with ``long_side`` pixels along its length, as a zero-stride view (no memory)."""
    shape = (long_side, 2, 3) if tall else (2, long_side, 3)
    return np.broadcast_to(np.zeros(3, np.uint8), shape)


@pytest.mark.parametrize("tall", [False, True], ids=["wide", "tall"])
@pytest.mark.parametrize("image_format", FORMATS)
def test_every_encoders_side_limit_is_checked_before_it_runs(image_format, tall, monkeypatch):
    limit = SIDE_LIMITS[image_format]
    encoder = Encoder(image_format)
    encoder.check(*((2, limit) if tall else (limit, 2)))  # at the limit: accepted
    ran = []
    monkeypatch.setattr(Image.Image, "save", lambda *a, **k: ran.append(a))
    with pytest.raises(EncoderLimit) as refused:
        encoder.encode(strip(limit + 1, tall))
    assert ran == []
    message = str(refused.value)
    assert f"at most {limit:,} pixels a side" in message and "--resize or --crop" in message
    assert "--format png" in message or image_format == "png"
    assert f"--format {image_format}" not in message


@pytest.mark.parametrize("image_format", ["jpeg", "webp"])
@pytest.mark.parametrize("tall", [False, True], ids=["wide", "tall"])
def test_the_encoders_write_images_at_their_limits(image_format, tall):
    limit = SIDE_LIMITS[image_format]
    data = Encoder(image_format, 50).encode(np.ascontiguousarray(strip(limit, tall)))
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == ((2, limit) if tall else (limit, 2))


@pytest.mark.parametrize("error", [OSError("encoder error -2"), ValueError("encoding error 7"), MemoryError()])
@pytest.mark.parametrize("image_format", FORMATS)
def test_anything_else_an_encoder_refuses_is_the_inputs_failure(image_format, error, monkeypatch):
    def refuse(*arguments, **options):
        raise error

    monkeypatch.setattr(Image.Image, "save", refuse)
    with pytest.raises(EncoderLimit) as refused:
        Encoder(image_format).encode(np.zeros((4, 4, 3), np.uint8))
    assert isinstance(refused.value, UnreadableImage) and "\n" not in str(refused.value)


def test_encoder_limits_are_the_inputs_failures_in_a_run_and_libjpeg_prints_nothing(tmp_path, mixing_dir, capfd):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (20000, 4)).save(tmp_path / "in" / "wide.png")
    Image.new("RGB", (4, 20000)).save(tmp_path / "in" / "tall.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "fine.png")
    for image_format, wanted in (("webp", {"wide.png", "tall.png"}), ("jpeg", set())):
        out = tmp_path / f"out-{image_format}"
        result = augment(
            tmp_path / "in",
            out,
            "--format",
            image_format,
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
        assert result.exit_code == (1 if wanted else 0), result.output
        if wanted:
            assert set(failures(out)) == wanted
            assert all("at most 16,383 pixels a side" in e for e in failures(out).values())
    out = tmp_path / "out-jpeg-resized"  # 4×20000 resized to 14×70000: over libjpeg's 65,500
    result = augment(
        tmp_path / "in",
        out,
        "--format",
        "jpeg",
        "--resize",
        14,
        "--k",
        1,
        "--seed",
        0,
        "--jobs",
        1,
        "--backend",
        "threading",
        "--quiet",
        "--method",
        "augmix",
    )
    assert result.exit_code == 1
    assert set(failures(out)) == {"wide.png", "tall.png"}
    assert all("65,500 pixels a side" in e for e in failures(out).values())
    assert capfd.readouterr().err == ""  # no raw line of libjpeg or libwebp on the real stderr


# --- warnings ---------------------------------------------------------------------------------------------


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def _segment(marker: bytes, payload: bytes) -> bytes:
    return marker + struct.pack(">H", len(payload) + 2) + payload


def _tiff_ifd(*entries) -> bytes:
    body = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return b"II*\x00" + struct.pack("<I", 8) + body + struct.pack("<I", 0)


def _bad_exif_jpeg() -> bytes:  # a Make tag whose data lies past the end: "Tag data larger than file"
    jpeg = _jpeg()
    return jpeg[:2] + _segment(b"\xff\xe1", b"Exif\x00\x00" + _tiff_ifd((0x010F, 2, 100, 1000))) + jpeg[2:]


def _malformed_mpo() -> bytes:  # "Image appears to be a malformed MPO file"
    jpeg = _jpeg()
    return jpeg[:2] + _segment(b"\xff\xe2", b"MPF\x00" + _tiff_ifd((0xB002, 7, 16, 50))) + jpeg[2:]


def _palette_with_byte_transparency() -> bytes:
    image = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) % 4, "P")
    image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=b"\x00\x80\xff\xff")
    return buffer.getvalue()


def _bomb_between_one_and_two_limits() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (10000, 10000)).save(buffer, "PNG")  # 100 Mpixels: Pillow only warns
    return buffer.getvalue()


WARNING_INPUTS = {
    "bad-exif.jpg": (_bad_exif_jpeg, None),
    "malformed-mpo.jpg": (_malformed_mpo, None),
    "palette-bytes.png": (_palette_with_byte_transparency, None),
    "bomb.png": (_bomb_between_one_and_two_limits, "decompression bomb refused"),
    "16bit.png": (lambda: png_bytes(np.arange(12).reshape(2, 2, 3) * 5000, "RGB"), None),
}


@pytest.mark.parametrize("name", sorted(WARNING_INPUTS))
def test_pillows_warnings_about_an_input_never_escape(name):
    make, refusal = WARNING_INPUTS[name]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if refusal:
            with pytest.raises(UnreadableImage, match=refusal):
                decode_rgb(io.BytesIO(make()))
        else:
            assert decode_rgb(io.BytesIO(make())).ndim == 3
    assert [str(w.message) for w in seen] == []


@pytest.mark.slow
def test_stderr_holds_only_ipmixs_own_lines(tmp_path, mixing_dir):
    """End to end, in a process of its own (Python prints warnings there; pytest turns them into errors): an
    IN of every input that makes a library speak gives only ipmix's lines on stderr."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, (make, _) in WARNING_INPUTS.items():
        (folder / name).write_bytes(make())
    Image.new("RGB", (20000, 2)).save(folder / "wide.png")
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "ipmix_cli",
        "augment",
        str(folder),
        str(out),
        "--format",
        "webp",
        "--k",
        "1",
        "--seed",
        "0",
        "--jobs",
        "1",
        "--backend",
        "threading",
        "--mixing-set",
        str(mixing_dir),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert completed.returncode == 1
    lines = completed.stderr.splitlines()
    assert lines and all(line.startswith(("ipmix: ", "  ")) for line in lines), completed.stderr
    assert "Warning" not in completed.stderr and "Traceback" not in completed.stderr
    assert set(failures(out)) == {"bomb.png", "wide.png"}


def test_a_bomb_is_refused_even_when_another_thread_has_reset_the_warning_filters(monkeypatch):
    """Warning filters are process-wide: with the threading backend, one thread's decode can restore the filters
    while another decodes. The pixel limit must not hang on them."""
    from ipmix_cli.imaging import images

    monkeypatch.setattr(images.warnings, "simplefilter", lambda *arguments, **options: None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")  # what a racing thread may leave in place (simplefilter is patched)
        with pytest.raises(UnreadableImage, match="10000×10000 = 100,000,000 pixels"):
            decode_rgb(io.BytesIO(_bomb_between_one_and_two_limits()))


def test_a_damaged_file_of_a_known_format_is_called_damaged_not_a_non_image():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG")
    data = buffer.getvalue()
    at = data.index(b"IDAT") - 4
    text = b"tEXtComment\x00hello"
    bad_chunk = struct.pack(">I", len(text) - 4) + text + b"\x00\x00\x04\xd2"  # a wrong CRC
    with pytest.raises(UnreadableImage, match="a damaged PNG file"):
        decode_rgb(io.BytesIO(data[:at] + bad_chunk + data[at:]))
    with pytest.raises(UnreadableImage, match="not an image"):
        decode_rgb(io.BytesIO(b"plain text, no image"))
    with pytest.raises(UnreadableImage, match="empty file"):
        decode_rgb(io.BytesIO(b""))
