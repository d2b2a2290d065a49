"""The configurations of the three methods: their presets (SPEC §1.6) and validation, in one place.

Each method has a frozen configuration with a ``cifar`` and an ``imagenet`` preset, taken from its reference
implementation's training scripts (the README's "Methods" section says where each default comes from);
``auto`` picks one by the image's shorter side, and every field can be overridden on its own.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import UsageError
from .mixing import OVERFLOW_MODES
from .ops import ALL_OPS, AUGMIX_ALL_OPS, AUGMIX_OPS, DEFAULT_OPS

VARIANTS = ("cifar", "imagenet")
PRESETS = ("auto", "cifar", "imagenet")
#: ``auto`` uses ``cifar`` for images whose shorter side is at most this, else ``imagenet``.
AUTO_CIFAR_MAX_SIDE = 64
#: How far a mixing picture covers the image, per variant, as (numerator, denominator): the reference's
#: CIFAR pipeline resizes mixing pictures to 36 and crops 32; its ImageNet pipeline resizes to 256 and crops 224.
#: (IPMix and PixMix prepare their mixing pictures alike.)
COVER_RATIOS = {"cifar": (36, 32), "imagenet": (256, 224)}


class ConfigError(UsageError):
    """An invalid configuration value; the message says which field and what is allowed."""


class MethodConfig:
    """What every method's configuration shares: presets per variant, per-image resolution, a record.

    Subclasses are frozen dataclasses whose defaults are the ``cifar`` preset; ``IMAGENET`` holds the fields the
    ``imagenet`` preset changes, ``ALL_OPS`` the operations ``--all-ops`` selects.
    """

    METHOD: ClassVar[str]
    IMAGENET: ClassVar[dict]
    ALL_OPS: ClassVar[tuple[str, ...]]

    @classmethod
    def preset(cls, name: str):
        """The reference settings of ``cifar`` or ``imagenet``."""
        if name == "cifar":
            return cls()
        if name == "imagenet":
            return cls(variant="imagenet", **cls.IMAGENET)
        raise ConfigError(f"unknown preset {name!r}; use 'cifar' or 'imagenet' (or 'auto' per image size)")

    @classmethod
    def for_image(cls, preset: str, height: int, width: int, **overrides: Any):
        """The configuration for one image: ``auto`` resolved by its size, then ``overrides`` applied."""
        base = cls.preset(resolve_preset(preset, height, width))
        if not overrides:
            return base
        fields = [field.name for field in dataclasses.fields(cls) if field.name != "variant"]
        unknown = [name for name in overrides if name not in fields]
        if unknown:
            raise ConfigError(f"{', '.join(unknown)}: not a setting of {cls.METHOD}; it has {', '.join(fields)}")
        return dataclasses.replace(base, **overrides)

    @property
    def cover_ratio(self) -> tuple[int, int]:
        """The mixing picture's limiting side over the image's, exactly: 36/32 (cifar) or 256/224 (imagenet)."""
        return COVER_RATIOS[self.variant]

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class IPMixConfig(MethodConfig):
    """Everything that decides how IPMix augments one image.

    ``patch_sizes`` are given at ``reference_side`` and scaled to each image's shorter side; with
    ``reference_side=None`` they are absolute pixel sizes. Either way they are capped at the shorter side.
    """

    METHOD: ClassVar[str] = "ipmix"
    IMAGENET: ClassVar[dict] = {
        "beta": 4.0,
        "severity": 1,
        "patch_sizes": (4, 8, 16, 32, 64, 224),
        "reference_side": 224,
    }
    ALL_OPS: ClassVar[tuple[str, ...]] = ALL_OPS

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
        _check_choice("variant", self.variant, VARIANTS)
        _set(self, "chains", _check_int("chains", self.chains, 1, 64))
        _set(self, "depth", _check_int("depth", self.depth, 0, 64))
        _set(self, "beta", _check_positive("beta", self.beta))
        _set(self, "severity", _check_int("severity", self.severity, 1, 10))
        _set(self, "ops", _check_ops(self.ops, self.ALL_OPS, self.METHOD))
        _set(self, "patch_sizes", tuple(self.patch_sizes))
        if not self.patch_sizes:
            raise ConfigError("patch_sizes must hold at least one size")
        _set(self, "patch_sizes", tuple(_check_int("each patch size", size, 2, None) for size in self.patch_sizes))
        if self.reference_side is not None:
            _set(self, "reference_side", _check_int("reference_side", self.reference_side, 2, None))
        _check_choice("overflow", self.overflow, OVERFLOW_MODES)

    def patch_sizes_for(self, height: int, width: int) -> tuple[int, ...]:
        """Patch sizes for an image: scaled by ``S / reference_side`` (rounded half up), ≥ 2, ≤ S."""
        return _scaled_patch_sizes(self.patch_sizes, self.reference_side, min(height, width))


@dataclass(frozen=True)
class AugMixConfig(MethodConfig):
    """AugMix (google-research/augmix): ``chains`` chains (its mixture width) of ``depth`` operations each
    (``None``: drawn per chain from 1…3, the reference's ``-1``), at ``severity``; chain weights from
    Dirichlet(α, …, α) and the skip weight from Beta(α, α)."""

    METHOD: ClassVar[str] = "augmix"
    IMAGENET: ClassVar[dict] = {"severity": 1}
    ALL_OPS: ClassVar[tuple[str, ...]] = AUGMIX_ALL_OPS

    variant: str = "cifar"
    chains: int = 3
    depth: int | None = None
    severity: int = 3
    alpha: float = 1.0
    ops: tuple[str, ...] = AUGMIX_OPS

    def __post_init__(self) -> None:
        _check_choice("variant", self.variant, VARIANTS)
        _set(self, "chains", _check_int("chains", self.chains, 1, 64))
        if self.depth is not None:
            _set(self, "depth", _check_int("depth", self.depth, 1, 64))
        _set(self, "severity", _check_int("severity", self.severity, 1, 10))
        _set(self, "alpha", _check_positive("alpha", self.alpha))
        _set(self, "ops", _check_ops(self.ops, self.ALL_OPS, self.METHOD))


@dataclass(frozen=True)
class PixMixConfig(MethodConfig):
    """PixMix (andyzoujm/pixmix): the image, augmented or not, mixed with up to ``rounds`` (its ``k``)
    pictures, each an augmented original or the mixing picture, by add or multiply with coefficients drawn
    with ``beta``; operations from AugMix's list at ``severity``."""

    METHOD: ClassVar[str] = "pixmix"
    IMAGENET: ClassVar[dict] = {"beta": 4.0, "severity": 1}
    ALL_OPS: ClassVar[tuple[str, ...]] = AUGMIX_ALL_OPS

    variant: str = "cifar"
    rounds: int = 4
    beta: float = 3.0
    severity: int = 3
    ops: tuple[str, ...] = AUGMIX_OPS

    def __post_init__(self) -> None:
        _check_choice("variant", self.variant, VARIANTS)
        _set(self, "rounds", _check_int("rounds", self.rounds, 0, 64))
        _set(self, "beta", _check_positive("beta", self.beta))
        _set(self, "severity", _check_int("severity", self.severity, 1, 10))
        _set(self, "ops", _check_ops(self.ops, self.ALL_OPS, self.METHOD))


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


def _set(config: Any, field: str, value: Any) -> None:
    object.__setattr__(config, field, value)  # normalising a frozen dataclass's field in __post_init__


def _check_int(field: str, value: Any, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{field} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{field} must be {bound}, got {value}")
    return int(value)


def _check_positive(field: str, value: Any) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_ops(ops: Any, valid: tuple[str, ...], method: str) -> tuple[str, ...]:
    ops = tuple(ops)
    if not ops:
        raise ConfigError(f"ops must name at least one operation; valid for {method}: {', '.join(valid)}")
    unknown = [name for name in ops if name not in valid]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ConfigError(f"unknown operation(s) {names} for {method}; valid: {', '.join(valid)}")
    if len(set(ops)) != len(ops):
        raise ConfigError(f"ops lists an operation twice: {', '.join(ops)}")
    return ops


def _check_choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{field} must be one of {', '.join(choices)}, got {value!r}")
