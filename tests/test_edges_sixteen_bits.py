"""16-bit images are scaled to 8 bits with round(v·255/65535), exactly, whatever their layout (issue 21; SPEC §4
"Reading"). Pillow keeps only the high byte of 16-bit colour (v >> 8), one level off for a quarter of the
values: every value 0…65535 of every channel is checked here, in every layout Pillow reads 16-bit colour in."""

from __future__ import annotations

import io

import numpy as np
import pytest
from edges_images import eight_bits, every_sixteen_bit_value, png_bytes, tiff_bytes
from PIL import Image

from ipmix_cli.imaging.images import decode_rgb


def _as_eight_bit_file(values: np.ndarray, mode: str, file_format: str = "PNG", **options) -> np.ndarray:
    """How ipmix reads the same picture stored with 8 bits: what a 16-bit file must read as."""
    buffer = io.BytesIO()
    Image.fromarray(values, mode).save(buffer, file_format, **options)
    return decode_rgb(io.BytesIO(buffer.getvalue()))


def test_the_scaling_is_round_v_times_255_over_65535_for_every_value():
    from ipmix_cli.imaging.colour import eight_of_sixteen

    values = np.arange(65536).reshape(256, 256)
    assert np.array_equal(eight_of_sixteen(values), eight_bits(values))
    assert np.array_equal(eight_of_sixteen(values.astype(np.uint16)), eight_bits(values))
    high, low = (values >> 8).astype(np.uint8), (values & 0xFF).astype(np.uint8)
    assert np.array_equal(eight_of_sixteen(high, low), eight_bits(values))


@pytest.mark.parametrize("interlace", [False, True], ids=["plain", "adam7"])
@pytest.mark.parametrize("mode", ["L", "RGB", "LA", "RGBA"])
def test_every_16_bit_png_value_is_scaled_exactly(mode, interlace):
    values = every_sixteen_bit_value(len(mode))
    pixels = decode_rgb(io.BytesIO(png_bytes(values, mode, interlace=interlace)))
    eight = eight_bits(values)
    if mode == "RGB":
        expected = eight
    elif mode == "L":
        expected = np.repeat(eight, 3, axis=2)
    else:  # alpha scaled the same way, then composited as 8-bit alpha is
        expected = _as_eight_bit_file(eight if mode == "RGBA" else eight, mode)
    assert np.array_equal(pixels, expected)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "deflate"])
@pytest.mark.parametrize("little_endian", [True, False], ids=["II", "MM"])
@pytest.mark.parametrize(
    "layout",
    [("RGB", 3, None, "RGB"), ("RGB", 4, 2, "RGBA"), ("RGB", 4, 0, "RGB"), ("CMYK", 4, None, "CMYK")],
    ids=["rgb48", "rgba64", "rgbx64", "cmyk64"],
)
def test_every_16_bit_tiff_value_is_scaled_exactly(layout, little_endian, compress):
    photometric, channels, extra, mode = layout
    values = every_sixteen_bit_value(channels, seed=channels)
    pixels = decode_rgb(io.BytesIO(tiff_bytes(values, photometric, little_endian, compress, extra)))
    eight = eight_bits(values)
    assert np.array_equal(pixels, _as_eight_bit_file(eight[..., :3] if mode == "RGB" else eight, mode, "TIFF"))


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_grey_in_every_mode_is_scaled_exactly(mode, tmp_path):
    values = np.arange(65536).reshape(256, 256)
    if mode == "I":
        image = Image.fromarray(values.astype(np.int32), "I")
    else:
        image = Image.frombytes(mode, (256, 256), values.astype("<u2" if mode == "I;16" else ">u2").tobytes())
    image.save(tmp_path / "grey.tif")
    with Image.open(tmp_path / "grey.tif") as opened:
        assert opened.mode == mode
    pixels = decode_rgb(io.BytesIO((tmp_path / "grey.tif").read_bytes()))
    assert np.array_equal(pixels, np.repeat(eight_bits(values)[..., None], 3, axis=2))


def test_a_16_bit_colour_key_is_compared_on_all_16_bits():
    values = every_sixteen_bit_value(3, seed=5)[:4, :4].copy()
    key = tuple(int(v) for v in values[1, 1])
    values[2, 2] = key
    values[3, 3] = (key[0], key[1], key[2] ^ 1)  # differs from the key in the low byte only: opaque
    pixels = decode_rgb(io.BytesIO(png_bytes(values, "RGB", transparency=key)), background=(0, 10, 20))
    eight = eight_bits(values)
    for y, x in np.ndindex(4, 4):
        transparent = (y, x) in ((1, 1), (2, 2))
        assert tuple(pixels[y, x]) == ((0, 10, 20) if transparent else tuple(eight[y, x])), (y, x)


def test_a_16_bit_grey_key_is_transparent():
    values = np.array([[0, 1000, 65535], [1000, 1001, 7]])
    pixels = decode_rgb(io.BytesIO(png_bytes(values, "L", transparency=1000)), background=(9, 8, 7))
    assert [tuple(p) for p in pixels.reshape(-1, 3)] == [
        (0, 0, 0),
        (9, 8, 7),
        (255, 255, 255),
        (9, 8, 7),
        (4, 4, 4),
        (0, 0, 0),
    ]


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_16_bit_colour_keeps_its_exif_orientation(orientation):
    values = every_sixteen_bit_value(3, seed=orientation)[:6, :9]
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(eight_bits(values)).save(buffer, "PNG", exif=exif)
    raw = png_bytes(values, "RGB")
    chunk = buffer.getvalue()[buffer.getvalue().index(b"eXIf") - 4 :]
    chunk = chunk[: 12 + int.from_bytes(chunk[:4], "big")]
    with_exif = raw[: raw.index(b"IDAT") - 4] + chunk + raw[raw.index(b"IDAT") - 4 :]
    assert np.array_equal(decode_rgb(io.BytesIO(with_exif)), decode_rgb(io.BytesIO(buffer.getvalue())))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "deflate"])
@pytest.mark.parametrize("little_endian", [True, False], ids=["II", "MM"])
def test_16_bit_premultiplied_alpha_is_divided_in_16_bits_then_scaled(little_endian, compress):
    rng = np.random.default_rng(7)
    alpha = rng.permutation(65536).reshape(256, 256).astype(np.int64)
    colour = np.stack([rng.integers(0, alpha + 1) for _ in range(3)], axis=2)  # premultiplied: c <= a
    colour[0, :3] = [[65535, 0, 0]] * 3  # and some that are not (clamped), with their alphas below
    values = np.dstack([colour, alpha])
    data = tiff_bytes(values, "RGB", little_endian, compress, extra=1)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == "RGBA" and "RGBa;16" in str(opened.tile[0].args)
    straight = np.where(
        alpha[..., None] > 0, (2 * colour * 65535 + alpha[..., None]) // np.maximum(2 * alpha, 1)[..., None], 0
    )
    expected = np.dstack([eight_bits(np.minimum(straight, 65535)), eight_bits(alpha)])
    assert np.array_equal(decode_rgb(io.BytesIO(data)), _as_eight_bit_file(expected, "RGBA"))
