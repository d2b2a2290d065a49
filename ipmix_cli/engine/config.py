"""The IPMix configuration: presets of SPEC §1.6 and validation in one place."""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any

from .mixing import OVERFLOW_MODES
from .ops import ALL_OPS, DEFAULT_OPS

VARIANTS = ("cifar", "imagenet")
PRESETS = ("auto", "cifar", "imagenet")
#: ``auto`` uses ``cifar`` for images whose shorter side is at most this, else ``imagenet``.
AUTO_CIFAR_MAX_SIDE = 64
#: How far a mixing picture covers the image, per variant, as (numerator, denominator): the reference's
#: CIFAR pipeline resizes mixing pictures to 36 and crops 32; its ImageNet pipeline resizes to 256 and crops 224.
COVER_RATIOS = {"cifar": (36, 32), "imagenet": (256, 224)}


class ConfigError(ValueError):
    """An invalid configuration value; the message says which field and what is allowed."""


@dataclass(frozen=True)
class IPMixConfig:
    """Everything that decides how one image is augmented.

    ``patch_sizes`` are given at ``reference_side`` and scaled to each image's shorter side; with
    ``reference_side=None`` they are absolute pixel sizes. Either way they are capped at the shorter side.
    """

    variant: str = "cifar"
    chains: int = 3
    depth: int = 3
    beta: float = 3.0
    severity: int = 3
    ops: tuple[str, ...] = DEFAULT_OPS
    patch_sizes: tuple[int, ...] = (4, 8, 16, 32)
    reference_side: int | None = 32
    overflow: str = "wrap"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))
        object.__setattr__(self, "patch_sizes", tuple(self.patch_sizes))
        _check_choice("variant", self.variant, VARIANTS)
        object.__setattr__(self, "chains", _check_int("chains", self.chains, 1, 64))
        object.__setattr__(self, "depth", _check_int("depth", self.depth, 0, 64))
        if (
            not isinstance(self.beta, numbers.Real)
            or isinstance(self.beta, bool)
            or not (math.isfinite(self.beta) and self.beta > 0)
        ):
            raise ConfigError(f"beta must be a finite number > 0, got {self.beta!r}")
        object.__setattr__(self, "beta", float(self.beta))
        object.__setattr__(self, "severity", _check_int("severity", self.severity, 1, 10))
        if not self.ops:
            raise ConfigError(f"ops must name at least one operation; valid: {', '.join(ALL_OPS)}")
        unknown = [name for name in self.ops if name not in ALL_OPS]
        if unknown:
            raise ConfigError(f"unknown operation(s) {', '.join(map(repr, unknown))}; valid: {', '.join(ALL_OPS)}")
        if len(set(self.ops)) != len(self.ops):
            raise ConfigError(f"ops lists an operation twice: {', '.join(self.ops)}")
        if not self.patch_sizes:
            raise ConfigError("patch_sizes must hold at least one size")
        sizes = tuple(_check_int("each patch size", size, 2, None) for size in self.patch_sizes)
        object.__setattr__(self, "patch_sizes", sizes)
        if self.reference_side is not None:
            side = _check_int("reference_side", self.reference_side, 2, None)
            object.__setattr__(self, "reference_side", side)
        _check_choice("overflow", self.overflow, OVERFLOW_MODES)

    @classmethod
    def preset(cls, name: str) -> "IPMixConfig":
        """The reference settings of ``cifar`` or ``imagenet`` (SPEC §1.6)."""
        if name == "cifar":
            return cls()
        if name == "imagenet":
            return cls(
                variant="imagenet",
                beta=4.0,
                severity=1,
                patch_sizes=(4, 8, 16, 32, 64, 224),
                reference_side=224,
            )
        raise ConfigError(f"unknown preset {name!r}; use 'cifar' or 'imagenet' (or 'auto' per image size)")

    @classmethod
    def for_image(cls, preset: str, height: int, width: int, **overrides: Any) -> "IPMixConfig":
        """The configuration for one image: ``auto`` resolved by its size, then ``overrides`` applied."""
        base = cls.preset(resolve_preset(preset, height, width))
        return dataclasses.replace(base, **overrides) if overrides else base

    def patch_sizes_for(self, height: int, width: int) -> tuple[int, ...]:
        """Patch sizes for an image: scaled by ``S / reference_side`` (rounded half up), ≥ 2, ≤ S."""
        return _scaled_patch_sizes(self.patch_sizes, self.reference_side, min(height, width))

    @property
    def cover_ratio(self) -> tuple[int, int]:
        """The mixing picture's limiting side over the image's, exactly: 36/32 (cifar) or 256/224 (imagenet)."""
        return COVER_RATIOS[self.variant]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "ops": list(self.ops), "patch_sizes": list(self.patch_sizes)}


@functools.lru_cache(maxsize=256)
def _scaled_patch_sizes(sizes: tuple[int, ...], reference_side: int | None, side: int) -> tuple[int, ...]:
    if reference_side is None:
        return tuple(min(side, size) for size in sizes)
    ref = reference_side
    return tuple(min(side, max(2, (2 * size * side + ref) // (2 * ref))) for size in sizes)


def resolve_preset(preset: str, height: int, width: int) -> str:
    """``auto`` → ``cifar`` when min(H, W) ≤ 64, else ``imagenet``; explicit presets pass through."""
    if preset == "auto":
        return "cifar" if min(height, width) <= AUTO_CIFAR_MAX_SIDE else "imagenet"
    if preset not in VARIANTS:
        raise ConfigError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    return preset


def _check_int(field: str, value: Any, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{field} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{field} must be {bound}, got {value}")
    return int(value)


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field} must be one of {', '.join(choices)}, got {value!r}")
