"""A picture of the corruptions: one image × corruptions × severities, for ``ipmix preview --corrupt``."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .api import corrupt, corruption_generator
from .frost import FrostUnavailable, find_frost_pictures
from .params import resolve_preset
from .registry import ALL, get


def corruption_sheet(
    image: np.ndarray,
    corruptions: Iterable[str] = ALL,
    severities: Iterable[int] = (1, 2, 3, 4, 5),
    *,
    seed: int = 0,
    key: str = "image",
    preset: str = "auto",
    frost_pictures=None,
    skip_missing: bool = True,
):
    """A PIL image: one row per corruption (the clean image first, then each severity), captioned.

    Each tile is exactly the output ``ipmix corrupt`` makes for an input whose key is ``key`` under ``seed``
    (:func:`corruption_generator`). Without frost pictures, frost's row is left out when ``skip_missing``
    (and the title says so), else :class:`FrostUnavailable` is raised.
    """
    from ..imaging.sheets import Tile, compose

    severities = tuple(severities)
    height, width = image.shape[:2]
    rows, skipped = [], []
    for name in corruptions:
        pictures = None
        if get(name).needs_frost:
            try:
                pictures = find_frost_pictures(frost_pictures)
            except FrostUnavailable:
                if not skip_missing:
                    raise
                skipped.append(name)
                continue
        tiles = [Tile(image, name)]
        for severity in severities:
            out = corrupt(image, name, severity, corruption_generator(seed, key, name, severity), preset, pictures)
            tiles.append(Tile(out, f"severity {severity}"))
        rows.append(tiles)
    title = f"{key}: {width}×{height}, {resolve_preset(preset, height, width)} constants, seed {seed}"
    if skipped:
        title += f"\n{', '.join(skipped)} left out: no frost pictures (pip install --no-deps imagecorruptions-imaug)"
    return compose(rows, title=title.replace("×", "x"))
