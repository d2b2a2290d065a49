"""The constants of the two reference generators, and how each size-dependent one scales with the image.

``CIFAR`` holds ``make_cifar_c.py``'s constants (CIFAR-10-C, 32×32); ``IMAGENET`` holds the ``imagenet_c``
package's (ImageNet-C, 224×224). Both are transcribed as the reference writes them, one tuple per severity 1–5.

Scaling: an image whose shorter side is ``S`` gets ``scale = S / R``, with ``R`` the preset's reference side
(32 or 224). A constant that is a length in pixels (a blur's sigma or radius, a displacement, a layer's grain)
is multiplied by ``scale``; ratios, probabilities, intensities and quality factors are not. At exactly the
reference side ``scale`` is 1 and every value below is the reference's. :func:`resolve` turns (name, severity,
preset, height, width) into the concrete values one corruption uses; ``docs/corruptions.md`` gives the rule
per corruption and the reference quirks kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.config import PRESETS as PRESETS  # auto, cifar, imagenet: as augment's
from ..engine.config import ConfigError
from ..engine.config import resolve_preset as _resolve_preset
from ..errors import UsageError

#: The reference side of each preset: the images its constants were written for.
REFERENCE_SIDE = {"cifar": 32, "imagenet": 224}
SEVERITIES = (1, 2, 3, 4, 5)

# make_cifar_c.py (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py)
CIFAR = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    "zoom_blur": ((1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01)),
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    "spatter": (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
    "jpeg_compression": (80, 65, 58, 50, 40),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # (alpha, sigma, affine) as IMSIZE * factor with IMSIZE = 32
    "elastic_transform": (
        (32 * 0, 32 * 0, 32 * 0.08),
        (32 * 0.05, 32 * 0.2, 32 * 0.07),
        (32 * 0.08, 32 * 0.06, 32 * 0.06),
        (32 * 0.1, 32 * 0.04, 32 * 0.05),
        (32 * 0.1, 32 * 0.03, 32 * 0.03),
    ),
}

# imagenet_c/corruptions.py (hendrycks/robustness, ImageNet-C/imagenet_c), as make_imagenet_c.py
IMAGENET = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (1, 2, 3, 4, 6),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    "zoom_blur": ((1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03)),
    "fog": ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)),
    "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    "snow": (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    "spatter": (
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),
    "jpeg_compression": (25, 18, 15, 10, 7),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    # (alpha, sigma, affine) as 244 * factor: "244 should have been 224, but ultimately nothing is incorrect"
    "elastic_transform": (
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ),
}

TABLES = {"cifar": CIFAR, "imagenet": IMAGENET}
#: cifar's frost pictures are shrunk by 0.2 before cropping (``cv2.resize(frost, (0, 0), fx=0.2, fy=0.2)``);
#: imagenet's are cropped at their own size.
FROST_PICTURE_SCALE = {"cifar": 0.2, "imagenet": 1.0}
#: The side of fog's plasma map (a power of two) at the reference size: 32 (cifar) and 256 (imagenet).
FOG_MAP_SIDE = {"cifar": 32, "imagenet": 256}
#: Spatter's water drops: the distance to a drop's edge is capped at 20 pixels (``cv2.threshold(dist, 20, ...)``).
SPATTER_DISTANCE_CAP = 20.0


class CorruptionError(UsageError):
    """An invalid corruption name, severity, preset or image; the message says what is allowed."""


def resolve_preset(preset: str, height: int, width: int) -> str:
    """``auto`` → ``cifar`` when min(H, W) ≤ 64, else ``imagenet`` (as ``ipmix augment``); explicit presets pass
    through."""
    try:
        return _resolve_preset(preset, height, width)
    except ConfigError as error:
        raise CorruptionError(str(error)) from None


@dataclass(frozen=True)
class Setting:
    """Everything a corruption needs to know before drawing: the scaled values of one (name, severity, preset,
    size). ``values`` is a JSON-serialisable dict (it goes into a trace as is)."""

    name: str
    severity: int
    preset: str
    height: int
    width: int
    scale: float
    values: dict

    def to_dict(self) -> dict:
        return {
            "corruption": self.name,
            "severity": self.severity,
            "preset": self.preset,
            "scale": self.scale,
            "values": self.values,
        }


def resolve(name: str, severity: int, preset: str, height: int, width: int) -> Setting:
    """The concrete values of corruption ``name`` at ``severity`` for an ``height``×``width`` image."""
    if not (isinstance(severity, (int, np.integer)) and not isinstance(severity, bool) and 1 <= severity <= 5):
        raise CorruptionError(f"severity must be an integer from 1 to 5, not {severity!r}")
    if height < 1 or width < 1:
        raise CorruptionError(f"an image must be at least 1×1, not {height}×{width}")
    preset = resolve_preset(preset, height, width)
    table = TABLES[preset]
    if name not in table:
        raise CorruptionError(f"unknown corruption {name!r}")
    scale = min(height, width) / REFERENCE_SIDE[preset]
    c = table[name][int(severity) - 1]
    values = _RULES[name](c, scale, preset, height, width)
    return Setting(name, int(severity), preset, int(height), int(width), float(scale), values)


# --- the rules: reference constants -> values for one image ------------------------------------------


def _lengths(*pairs):
    return {key: float(value) for key, value in pairs}


def _noise(key):
    return lambda c, s, preset, h, w: {key: float(c)}


def _glass(c, s, preset, h, w):
    sigma, delta, iterations = c
    # The sweep's largest step is a whole number of pixels, at least one.
    return {"sigma": float(sigma * s), "max_delta": max(1, int(round(delta * s))), "iterations": int(iterations)}


def _defocus(c, s, preset, h, w):
    radius, alias = c
    return _lengths(("radius", radius * s), ("alias_blur", alias * s))


def _motion(c, s, preset, h, w):
    radius, sigma = c
    return _lengths(("radius", radius * s), ("sigma", sigma * s))


def _zoom(c, s, preset, h, w):
    start, stop, step = c
    # np.arange exactly as the reference writes it, floating-point end point included
    # (np.arange(1, 1.06, 0.01) has seven factors, 1.00 to 1.06).
    return {"zooms": [float(z) for z in np.arange(start, stop, step)]}


def _fog(c, s, preset, h, w):
    strength, decay = c
    return {"strength": float(strength), "decay": float(decay), "map_side": FOG_MAP_SIDE[preset]}


def _frost(c, s, preset, h, w):
    image_weight, frost_weight = c
    return {
        "image_weight": float(image_weight),
        "frost_weight": float(frost_weight),
        "picture_scale": float(FROST_PICTURE_SCALE[preset] * s),
    }


def _snow(c, s, preset, h, w):
    mean, std, zoom, threshold, radius, sigma, blend = c
    return {
        "mean": float(mean),
        "std": float(std),
        "zoom": float(max(1.0, zoom * s)),
        "threshold": float(threshold),
        "radius": float(radius * s),
        "sigma": float(sigma * s),
        "blend": float(blend),
    }


def _spatter(c, s, preset, h, w):
    mean, std, sigma, threshold, fourth, mud = c
    values = {
        "mean": float(mean),
        "std": float(std),
        "sigma": float(sigma * s),
        "threshold": float(threshold),
        "mud": bool(mud),
    }
    if mud:
        values["mud_sigma"] = float(fourth * s)  # a blur of the mud mask: a length
    else:
        values["intensity"] = float(fourth)  # the water's strength: a ratio
        values["distance_cap"] = float(max(1.0, SPATTER_DISTANCE_CAP * s))
    return values


def _saturate(c, s, preset, h, w):
    return {"factor": float(c[0]), "shift": float(c[1])}


def _pixelate(c, s, preset, h, w):
    # The reference shrinks 224 (or 32) to int(224 * c): blocks of 1/c pixels at the reference side, so
    # 1/(c * scale) pixels here; a side never grows (a block is at least one pixel).
    side = REFERENCE_SIDE[preset]
    short = min(h, w)
    return {
        "factor": float(c),
        "height": min(h, max(1, int(h * side / short * c))),
        "width": min(w, max(1, int(w * side / short * c))),
    }


def _elastic(c, s, preset, h, w):
    alpha, sigma, affine = c
    # sigma and the affine jitter are lengths. The smoothed noise's amplitude falls as 1/sigma in two dimensions,
    # so a displacement that grows with the image needs alpha * scale**2.
    return _lengths(("alpha", alpha * s * s), ("sigma", sigma * s), ("affine", affine * s))


_RULES = {
    "gaussian_noise": _noise("sigma"),
    "shot_noise": lambda c, s, preset, h, w: {"photons": int(c)},
    "impulse_noise": _noise("amount"),
    "speckle_noise": _noise("sigma"),
    "gaussian_blur": lambda c, s, preset, h, w: {"sigma": float(c * s)},
    "glass_blur": _glass,
    "defocus_blur": _defocus,
    "motion_blur": _motion,
    "zoom_blur": _zoom,
    "fog": _fog,
    "frost": _frost,
    "snow": _snow,
    "spatter": _spatter,
    "contrast": lambda c, s, preset, h, w: {"factor": float(c)},
    "brightness": lambda c, s, preset, h, w: {"shift": float(c)},
    "saturate": _saturate,
    "jpeg_compression": lambda c, s, preset, h, w: {"quality": int(c)},
    "pixelate": _pixelate,
    "elastic_transform": _elastic,
}
