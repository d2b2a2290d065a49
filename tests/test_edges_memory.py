"""Memory per pixel outside the engine (issue 21): decoding converts a band of rows at a time, so it holds the
decoded image, the array and one band, never the image's RGB version, its bytes and the array at once; and
the bands give the very values of a whole conversion, in every mode."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
import pytest
from PIL import Image

from ipmix_cli.imaging import colour
from ipmix_cli.imaging.colour import rgb_array, to_rgb
from ipmix_cli.imaging.images import decode_rgb


def _picture(mode: str, rng) -> Image.Image:
    height, width = 37, 23
    if mode in ("P", "P+t"):
        image = Image.fromarray(rng.integers(0, 8, (height, width), dtype=np.uint8), "P")
        image.putpalette(rng.integers(0, 256, 24, dtype=np.uint8).tolist())
        if mode == "P+t":
            image.info["transparency"] = bytes(rng.integers(0, 256, 8, dtype=np.uint8))
        return image
    if mode == "I;16":
        return Image.frombytes("I;16", (width, height), rng.integers(0, 65536, (height, width), np.uint16).tobytes())
    if mode == "F":
        return Image.fromarray(rng.random((height, width), dtype=np.float32), "F")
    bands = len(Image.new(mode, (1, 1)).getbands())
    return Image.frombytes(mode, (width, height), rng.integers(0, 256, (height, width, bands), np.uint8).tobytes())


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "L", "1", "P", "P+t", "CMYK", "I;16", "F", "YCbCr"])
def test_a_banded_conversion_gives_the_values_of_a_whole_one(mode, monkeypatch):
    image = _picture(mode, np.random.default_rng(len(mode)))
    whole = np.array(to_rgb(image, (3, 140, 250)))
    monkeypatch.setattr(colour, "_BAND_PIXELS", 50)  # bands of two rows
    banded = rgb_array(image, (3, 140, 250))
    assert banded.flags.writeable and banded.dtype == np.uint8
    assert np.array_equal(banded, whole)


def _peak_bytes_of(function) -> int:
    """The peak resident memory ``function`` adds, measured in a forked child (a fresh heap), on Linux."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets the peak (VmHWM)

            def status() -> dict:
                with open("/proc/self/status") as stream:
                    return {
                        k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in stream) if "kB" in v
                    }

            before = status()["VmRSS"]
            function()
            os.write(write_end, str(status()["VmHWM"] - before).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as stream:
        text = stream.read()
    os.waitpid(pid, 0)
    return int(text)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/proc/self/clear_refs"), reason="Linux")
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_decoding_a_large_image_holds_at_most_a_few_bytes_a_pixel(mode):
    width, height = 2048, 1536
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 32, width // 32, len(mode)), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small, mode).resize((width, height), Image.Resampling.NEAREST).save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    from ipmix_cli.allocator import tune_allocator

    tune_allocator()  # as in a worker
    peak = _peak_bytes_of(lambda: decode_rgb(io.BytesIO(data)))
    # the decoded image (4 bytes a pixel in Pillow) and the array (3), and one band: before, an RGB image took
    # 13-17 bytes a pixel (image, bytes, array, and a copy by exif_transpose), RGBA 22
    assert peak / (width * height) < 10, peak / (width * height)
