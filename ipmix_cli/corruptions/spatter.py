"""Spatter: water drops (severities whose mode is water) or mud (the others)."""

from __future__ import annotations

import numpy as np

from . import pointwise
from .common import as_float, draw_seed, field_generator
from .cvops import canny, capped_box_levels, distance_transform, emboss_blur, equalize_hist
from .filters import gaussian, to_uint8

_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
_WATER = np.array([175 / 255.0, 238 / 255.0, 238 / 255.0])
_MUD = np.array([63 / 255.0, 42 / 255.0, 20 / 255.0])


def sample_spatter(rng: np.random.Generator, setting) -> dict:
    return {"seed": draw_seed(rng)}


def spatter(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """A normal "liquid" layer blurred by ``sigma`` and cut below ``threshold`` makes the drops.

    Water: the drops' edges (Canny 50/150), the distance to them capped at ``distance_cap``, smoothed,
    equalised and embossed, give a shading ``m`` (normalised by its maximum) that adds pale turquoise
    ``intensity · m · (175, 238, 238)``. Mud: the drop mask blurred by ``mud_sigma``, kept where ≥ 0.8, paints
    mud brown (63, 42, 20) over the image. Fields: the H×W normal layer.
    """
    v = setting.values
    liquid = field_generator(draws["seed"]).normal(v["mean"], v["std"], size=image.shape[:2])
    liquid = gaussian(liquid, v["sigma"])
    liquid[liquid < v["threshold"]] = 0
    if v["mud"]:
        mask = (liquid > v["threshold"]).astype(np.float32)
        mask = gaussian(mask, v["mud_sigma"]).astype(np.float32)
        mask[mask < 0.8] = 0
        return pointwise.mud(image, mask, _MUD.astype(np.float32))
    layer = (liquid * 255).astype(np.uint8)
    distance = distance_transform(255 - canny(layer, 50, 150))
    distance = equalize_hist(capped_box_levels(distance, v["distance_cap"]))
    distance = emboss_blur(distance, _EMBOSS).astype(np.float32)
    shading = layer * distance
    peak = shading.max()
    if peak <= 0:  # no drop at all (a tiny image): the reference would divide by zero; nothing to add
        return to_uint8(as_float(image))
    shading = (shading / peak) * np.float32(v["intensity"])
    return pointwise.water(image, shading, _WATER.astype(np.float32))
