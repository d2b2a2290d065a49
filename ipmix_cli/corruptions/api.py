"""The public functions of :mod:`ipmix_cli.corruptions`: one corrupted image, its trace, its generator."""

from __future__ import annotations

import numpy as np

from ..seeding import path_digest
from .frost import FrostPictures, find_frost_pictures
from .params import CorruptionError, resolve
from .registry import get


def corruption_generator(seed: int, key: str, corruption: str, severity: int) -> np.random.Generator:
    """The generator of the output (``corruption``, ``severity``) of the input with key ``key`` (its POSIX path
    relative to the input root) under global seed ``seed``:
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(blake2b(key), blake2b(corruption), severity))))``, the
    digests as in :func:`ipmix_cli.seeding.path_digest`. An output depends on nothing else: not on which other
    corruptions, severities or inputs a run has, nor on their order."""
    spawn = (path_digest(key), path_digest(corruption), int(severity))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=spawn)))


def corrupt(
    image: np.ndarray,
    name: str,
    severity: int,
    rng: np.random.Generator,
    preset: str = "auto",
    frost_pictures: str | FrostPictures | None = None,
) -> np.ndarray:
    """``image`` (H×W×3 uint8, not modified) corrupted by ``name`` at ``severity`` (1–5), H×W×3 uint8.

    ``preset`` picks the constants: ``cifar`` (CIFAR-10-C's), ``imagenet`` (ImageNet-C's) or ``auto``
    (``cifar`` when the shorter side is at most 64). Lengths scale with the image (``docs/corruptions.md``).
    Every random draw comes from ``rng``. ``frost_pictures`` (a folder) is needed by ``frost`` only; by default
    an installed distribution's pictures are used, and :class:`FrostUnavailable` says how to get them.
    """
    return corrupt_with_trace(image, name, severity, rng, preset, frost_pictures)[0]


def corrupt_with_trace(image, name, severity, rng, preset="auto", frost_pictures=None) -> tuple[np.ndarray, dict]:
    """:func:`corrupt`, and its trace: the resolved values and the draws (JSON-serialisable), which
    :func:`replay` turns back into the same image."""
    image = _check_image(image)
    entry = get(name)
    setting = resolve(name, severity, preset, image.shape[0], image.shape[1])
    pictures = find_frost_pictures(frost_pictures) if entry.needs_frost else None
    if entry.needs_frost:
        draws = entry.sample(rng, setting, pictures)
        out = entry.apply(image, setting, draws, pictures)
    else:
        draws = entry.sample(rng, setting)
        out = entry.apply(image, setting, draws)
    return out, {**setting.to_dict(), "draws": draws}


def replay(image: np.ndarray, trace: dict, frost_pictures=None) -> np.ndarray:
    """The output a trace of :func:`corrupt_with_trace` describes, from the same input image."""
    image = _check_image(image)
    entry = get(trace["corruption"])
    setting = resolve(trace["corruption"], trace["severity"], trace["preset"], image.shape[0], image.shape[1])
    if entry.needs_frost:
        return entry.apply(image, setting, trace["draws"], find_frost_pictures(frost_pictures))
    return entry.apply(image, setting, trace["draws"])


def layer_pixels(name: str, severity: int, preset: str, height: int, width: int) -> int:
    """An upper bound of the largest plane (in pixels) corrupting an ``height``×``width`` image allocates:
    what a caller checks against its pixel limit before corrupting (the input itself included)."""
    import math

    from .filters import _fast_length

    setting = resolve(name, severity, preset, height, width)
    v = setting.values
    largest = height * width

    def blurred(sigma: float, truncate: float) -> int:  # a separable gaussian, direct or through the FFT
        radius = int(truncate * sigma + 0.5)
        return max(
            _fast_length(height + 2 * radius) * width, height * _fast_length(width + 2 * radius), 2 * height * width
        )

    if name == "fog":
        from .weather import fog_geometry

        rows, columns, _, _ = fog_geometry(height, width, setting.scale, v["map_side"])
        largest = max(largest, rows * columns)
    elif name == "defocus_blur":
        half = 8 if v["radius"] <= 8 else math.ceil(v["radius"])
        largest = max(largest, _fast_length(height + 2 * half) * _fast_length(width + 2 * half))
    elif name in ("motion_blur", "snow"):
        largest = max(largest, height * (width + 2 * (2 * math.ceil(v["radius"]) + 1)))
    if name in ("gaussian_blur", "glass_blur", "spatter"):
        largest = max(largest, blurred(v["sigma"], 4.0))
    if name == "spatter" and v["mud"]:
        largest = max(largest, blurred(v["mud_sigma"], 4.0))
    if name == "elastic_transform":
        largest = max(largest, blurred(v["sigma"], 3.0))
    return int(largest)


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CorruptionError("an image must be an H×W×3 uint8 array")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise CorruptionError(f"an image must be at least 1×1, not {image.shape[0]}×{image.shape[1]}")
    return np.ascontiguousarray(image)
