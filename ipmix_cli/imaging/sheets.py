"""Figures: rows of captioned tiles (contact sheets, one copy taken apart, corruption sheets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PAD = 6
CAPTION = 16
BACKGROUND = (24, 24, 28)
INK = (235, 235, 235)
DIM = (150, 150, 160)


def _font(size: int = 11):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


@dataclass(frozen=True)
class Tile:
    pixels: np.ndarray
    caption: str


def compose(rows: list[list[Tile]], title: str | None = None) -> Image.Image:
    """Rows of captioned tiles at native size, left-aligned, on a dark background, under a title whose
    lines (split at newlines) are never cut: the figure widens to fit them."""
    font = _font()
    lines = title.split("\n") if title else []
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_width = max((int(measure.textlength(line, font=font)) for line in lines), default=0)
    title_height = len(lines) * CAPTION + (PAD if lines else 0)
    width = PAD + max(max(sum(t.pixels.shape[1] + PAD for t in row) for row in rows), title_width + PAD)
    height = PAD + title_height + sum(max(t.pixels.shape[0] for t in row) + CAPTION + PAD for row in rows)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(lines):
        draw.text((PAD, PAD + number * CAPTION), line, fill=INK, font=font)
    y = PAD + title_height
    for row in rows:
        x = PAD
        row_height = max(t.pixels.shape[0] for t in row)
        for tile in row:
            sheet.paste(Image.fromarray(tile.pixels, "RGB"), (x, y))
            text = _fit(draw, tile.caption, font, tile.pixels.shape[1] + PAD - 2)
            draw.text((x, y + tile.pixels.shape[0] + 2), text, fill=INK, font=font)
            x += tile.pixels.shape[1] + PAD
        y += row_height + CAPTION + PAD
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
