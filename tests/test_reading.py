"""Reading inputs: every mode and size becomes the faithful H×W×3 uint8 picture (SPEC §4 "Reading")."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ipmix_cli.imaging.images import read_rgb

# mode -> the lossless formats that store it
FORMATS = {
    "1": ["PNG", "BMP", "TIFF"],
    "L": ["PNG", "BMP", "TIFF", "GIF"],
    "LA": ["PNG", "TIFF"],
    "P": ["PNG", "BMP", "GIF"],
    "P+transparency": ["PNG", "GIF"],
    "RGB": ["PNG", "BMP", "TIFF", "WEBP"],
    "RGBA": ["PNG", "TIFF", "WEBP"],
    "CMYK": ["TIFF"],
    "I;16": ["PNG", "TIFF"],
    "F": ["TIFF"],
}
EXTENSIONS = {"PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "GIF": ".gif", "WEBP": ".webp"}


def _make(mode: str, height: int, width: int, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """A random picture in ``mode`` and the save options it needs."""
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, (height, width), dtype=np.uint8) * 255).convert("1"), {}
    if mode == "L":
        return Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), "L"), {}
    if mode == "LA":
        return Image.fromarray(rng.integers(0, 256, (height, width, 2), dtype=np.uint8), "LA"), {}
    if mode in ("P", "P+transparency"):
        image = Image.fromarray(rng.integers(0, 16, (height, width), dtype=np.uint8), "P")
        image.putpalette(rng.integers(0, 256, 16 * 3, dtype=np.uint8).tolist())
        return image, ({"transparency": 3} if mode == "P+transparency" else {})
    if mode in ("RGB", "RGBA", "CMYK"):
        bands = len(mode)
        pixels = rng.integers(0, 256, (height, width, bands), dtype=np.uint8)
        image = Image.frombytes(mode, (width, height), pixels.tobytes())
        return image, {}
    if mode == "I;16":
        pixels = rng.integers(0, 65536, (height, width), dtype=np.uint16)
        return Image.frombytes("I;16", (width, height), pixels.astype("<u2").tobytes()), {}
    pixels = rng.random((height, width), dtype=np.float32)  # "F": floats in [0, 1]
    return Image.fromarray(pixels, "F"), {}


def _expected(mode: str, saved: Image.Image, background: tuple[int, int, int]) -> np.ndarray:
    """What the picture stored in the file looks like in RGB: computed here, independently of ``colour``."""
    if mode in ("LA", "RGBA", "P+transparency"):
        rgba = np.asarray(saved.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:] / 255
        return alpha * rgba[..., :3] + (1 - alpha) * np.array(background, np.float64)
    if mode == "I;16":
        values = np.asarray(saved, dtype=np.int64)
        return np.repeat(((values * 255 + 32767) // 65535)[..., None], 3, axis=2)
    if mode == "F":
        values = np.asarray(saved, dtype=np.float64)
        return np.repeat(np.rint(values * 255)[..., None], 3, axis=2)
    return np.asarray(saved.convert("RGB"), dtype=np.float64)  # Pillow's own conversion (1, L, P, RGB, CMYK)


@settings(max_examples=150, deadline=None)
@given(
    mode_and_format=st.sampled_from([(mode, fmt) for mode, formats in FORMATS.items() for fmt in formats]),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    background=st.tuples(*[st.integers(0, 255)] * 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_mode_reads_as_its_faithful_rgb(tmp_path_factory, mode_and_format, height, width, background, seed):
    mode, file_format = mode_and_format
    image, options = _make(mode, height, width, np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("reading") / f"picture{EXTENSIONS[file_format]}"
    if file_format == "WEBP":
        options.update(lossless=True, exact=True)  # lossless, and colours kept under transparent pixels
    image.save(path, file_format, **options)
    before = path.read_bytes()

    pixels = read_rgb(path, background)

    assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8
    with Image.open(path) as saved:
        saved.load()
        expected = _expected(mode, saved, background)
    # alpha compositing may round either way; everything else is exact
    tolerance = 1 if mode in ("LA", "RGBA", "P+transparency") else 0
    assert np.abs(pixels.astype(np.float64) - expected).max() <= tolerance + 1e-9
    assert path.read_bytes() == before, "reading modified the input"
