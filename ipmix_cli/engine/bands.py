"""Bands of rows: how a plain (numpy) step bounds its float temporaries, whatever the image's size.

numpy's arithmetic on a whole image makes whole-image temporaries, in float64 up to 8 bytes a value; working on
bands of rows of about ``BAND_VALUES`` values makes them a few megabytes instead. Only elementwise steps are
banded, so the values are the same. No image of 224×224 or less is split.
"""

from __future__ import annotations

BAND_VALUES = 1 << 18


def row_bands(shape: tuple[int, ...], values: int | None = None) -> list[slice]:
    """Slices of whole rows (the first axis of ``shape``) of about ``values`` (``BAND_VALUES``) values each, at
    least one row a band."""
    height = shape[0]
    per_row = 1
    for side in shape[1:]:
        per_row *= side
    rows = max(1, (BAND_VALUES if values is None else values) // max(1, per_row))
    return [slice(top, min(top + rows, height)) for top in range(0, height, rows)]
