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
    """Rows of captioned tiles at native size (each pixel as made), in a grid of equal cells (the largest tile's
    size) so that columns line up whatever the tiles' sizes, on a dark background, under a title whose lines
    (split at newlines) are never cut: the figure widens to fit them."""
    font = _font()
    lines = title.split("\n") if title else []
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    title_width = max((int(measure.textlength(line, font=font)) for line in lines), default=0)
    title_height = len(lines) * CAPTION + (PAD if lines else 0)
    cell_width = max(t.pixels.shape[1] for row in rows for t in row)
    cell_height = max(t.pixels.shape[0] for row in rows for t in row)
    columns = max(len(row) for row in rows)
    width = PAD + max(columns * (cell_width + PAD), title_width + PAD)
    height = PAD + title_height + len(rows) * (cell_height + CAPTION + PAD)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(lines):
        draw.text((PAD, PAD + number * CAPTION), line, fill=INK, font=font)
    y = PAD + title_height
    for row in rows:
        x = PAD
        for tile in row:
            tile_height, tile_width = tile.pixels.shape[:2]
            left, top = x + (cell_width - tile_width) // 2, y + (cell_height - tile_height) // 2
            sheet.paste(Image.fromarray(tile.pixels, "RGB"), (left, top))
            text = _fit(draw, tile.caption, font, cell_width + PAD - 2)
            draw.text((x, y + cell_height + 2), text, fill=INK, font=font)
            x += cell_width + PAD
        y += cell_height + CAPTION + PAD
    return sheet


def _fit(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> str:
    """``text``, shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
