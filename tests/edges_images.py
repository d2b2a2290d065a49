"""Hand-made image files for the edge tests: PNGs of any bit depth with every filter type, TIFFs of 16-bit
colour in both byte orders (Pillow cannot write 16-bit colour), and headers that declare any size."""

from __future__ import annotations

import struct
import zlib

import numpy as np

PNG_COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _filtered(rows: np.ndarray, bpp: int) -> bytes:
    """Every row with a filter type (0–4, cycling), so a decoder's unfiltering is exercised at ``bpp`` bytes."""
    out = []
    previous = np.zeros(rows.shape[1], np.int32)
    for index, row in enumerate(rows.astype(np.int32)):
        kind = index % 5
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upper_left = np.concatenate([np.zeros(bpp, np.int32), previous[:-bpp]])
        if kind == 0:
            value = row
        elif kind == 1:
            value = row - left
        elif kind == 2:
            value = row - previous
        elif kind == 3:
            value = row - (left + previous) // 2
        else:
            p = left + previous - upper_left
            pa, pb, pc = np.abs(p - left), np.abs(p - previous), np.abs(p - upper_left)
            predictor = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, previous, upper_left))
            value = row - predictor
        out.append(bytes([kind]) + (value % 256).astype(np.uint8).tobytes())
        previous = row
    return b"".join(out)


def png_bytes(
    values: np.ndarray, mode: str, bits: int = 16, transparency: tuple | int | None = None, interlace: bool = False
) -> bytes:
    """A PNG of ``values`` (H×W×C integers in the bit depth) in ``mode`` (L, RGB, LA, RGBA)."""
    if values.ndim == 2:
        values = values[..., None]
    height, width, channels = values.shape
    dtype = ">u2" if bits == 16 else np.uint8
    bpp = channels * bits // 8
    header = struct.pack(">IIBBBBB", width, height, bits, PNG_COLOUR_TYPES[mode], 0, 0, 1 if interlace else 0)
    if interlace:
        data = b""
        for y0, x0, dy, dx in (
            (0, 0, 8, 8),
            (0, 4, 8, 8),
            (4, 0, 8, 4),
            (0, 2, 4, 4),
            (2, 0, 4, 2),
            (0, 1, 2, 2),
            (1, 0, 2, 1),
        ):
            sub = values[y0::dy, x0::dx]
            if sub.size:
                raw = np.frombuffer(sub.astype(dtype).tobytes(), np.uint8).reshape(sub.shape[0], -1)
                data += _filtered(raw, bpp)
    else:
        raw = np.frombuffer(values.astype(dtype).tobytes(), np.uint8).reshape(height, -1)
        data = _filtered(raw, bpp)
    chunks = [_chunk(b"IHDR", header)]
    if transparency is not None:
        key = (transparency,) if isinstance(transparency, int) else transparency
        chunks.append(_chunk(b"tRNS", struct.pack(f">{len(key)}H", *key)))
    chunks += [_chunk(b"IDAT", zlib.compress(data)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width``×``height`` (RGB, 8 bits) and holds one empty row."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0")) + _chunk(b"IEND", b"")


def tiff_bytes(
    values: np.ndarray, photometric: str, little_endian: bool = True, compress: bool = False, extra: int | None = None
) -> bytes:
    """An uncompressed (or deflate) 16-bit TIFF of H×W×C ``values``; ``photometric`` "RGB" or "CMYK";
    ``extra``: ExtraSamples value for a fourth RGB channel (0 unspecified, 2 unassociated alpha)."""
    order = "<" if little_endian else ">"
    height, width, channels = values.shape
    data = values.astype(f"{order}u2").tobytes()
    if compress:
        data = zlib.compress(data)
    entries = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, channels, None),  # bits per sample: written out of line
        (259, 3, 1, 8 if compress else 1),
        (262, 3, 1, {"RGB": 2, "CMYK": 5}[photometric]),
        (273, 4, 1, None),  # strip offset
        (277, 3, 1, channels),
        (278, 4, 1, height),
        (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ]
    if extra is not None:
        entries.append((338, 3, 1, extra))
    entries.sort()
    ifd_offset = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bits_offset = ifd_offset + ifd_size
    data_offset = bits_offset + 2 * channels
    body = struct.pack(f"{order}H", len(entries))
    for tag, kind, count, value in entries:
        if tag == 258:
            value = bits_offset if channels > 2 else None
            if value is None:
                packed = struct.pack(f"{order}HH", 16, 16)
                body += struct.pack(f"{order}HHI", tag, kind, count) + packed
                continue
            body += struct.pack(f"{order}HHII", tag, kind, count, value)
            continue
        if tag == 273:
            value = data_offset
        if kind == 3:
            body += struct.pack(f"{order}HHIHH", tag, kind, count, value, 0)
        else:
            body += struct.pack(f"{order}HHII", tag, kind, count, value)
    body += struct.pack(f"{order}I", 0)
    head = (b"II*\x00" if little_endian else b"MM\x00*") + struct.pack(f"{order}I", ifd_offset)
    return head + body + struct.pack(f"{order}{channels}H", *([16] * channels)) + data


def every_sixteen_bit_value(channels: int, seed: int = 0) -> np.ndarray:
    """A 256×256×``channels`` array in which each channel holds each value 0…65535 once (shuffled)."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(65536).reshape(256, 256) for _ in range(channels)], axis=2).astype(np.int64)


def eight_bits(values: np.ndarray) -> np.ndarray:
    """round(v·255/65535), computed independently of ipmix (exact integers, ties impossible)."""
    return ((2 * values * 255 + 65535) // (2 * 65535)).astype(np.uint8)
