"""The online transform of SPEC §5, and the one code path that turns an image into one augmented copy.

``augment_copy`` is shared by the ``IPMix`` transform, the dataset generator and previews, so all three
give the same bytes for the same generator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from .engine.config import IPMixConfig, resolve_preset
from .engine.ipmix import Plan, apply_plan, sample_plan
from .imaging.colour import WHITE, to_rgb_array
from .mixsets.mixing_set import MixingSet


@dataclasses.dataclass(frozen=True)
class Copy:
    """One augmented copy: the pixels, the mixing picture and crop it used, and its plan (the trace)."""

    pixels: np.ndarray
    mixing_picture: str
    mixing_crop: list[int]  # [left, top] of the window in the scaled picture
    mixing_size: list[int]  # [width, height] the picture was scaled to before the window was cut
    plan: Plan
    mixing_window: np.ndarray  # the H×W window of the scaled picture that the plan mixed with

    def trace(self) -> dict:
        return {
            "mixing_picture": self.mixing_picture,
            "mixing_size": self.mixing_size,
            "mixing_crop": self.mixing_crop,
            "plan": self.plan,
        }


def augment_copy(image: np.ndarray, mixing_set: MixingSet, rng: np.random.Generator, config: IPMixConfig) -> Copy:
    """Draw the mixing picture and its crop, then the IPMix plan, from ``rng``; apply the plan."""
    height, width = image.shape[:2]
    picture_name, mixing, crop, size = mixing_set.draw(rng, height, width, config.cover_ratio)
    plan = sample_plan(rng, height, width, config)
    return Copy(apply_plan(image, mixing, plan), picture_name, crop, size, plan, mixing)


class ConfigResolver:
    """Per-image configuration: the preset (``auto`` resolved by size) with the user's overrides."""

    def __init__(self, preset: str = "auto", **overrides):
        self.preset = preset
        self.overrides = overrides
        self.by_variant = {
            variant: IPMixConfig.for_image(variant, 1, 1, **overrides)
            for variant in (("cifar", "imagenet") if preset == "auto" else (preset,))
        }

    def __call__(self, height: int, width: int) -> IPMixConfig:
        return self.by_variant[resolve_preset(self.preset, height, width)]


class IPMix:
    """A picklable IPMix transform for online use, e.g. inside a PyTorch ``Dataset``.

    ``transform(image, rng=None)`` returns a PIL image of the same size. Pass ``rng`` (for example
    ``ipmix_cli.generator_for(seed, path, epoch)``) for reproducible results; without it each call draws
    fresh OS entropy, so copies of the transform in different data-loader workers never repeat each other.
    ``mixing_set`` is a folder, a :class:`MixingSet`, or ``None`` for the built-in procedural set.
    """

    def __init__(
        self,
        mixing_set: str | Path | MixingSet | None = None,
        preset: str = "auto",
        background: tuple[int, int, int] = WHITE,
        **overrides,
    ):
        self.configs = ConfigResolver(preset, **overrides)
        self.background = background
        self._given = mixing_set
        self._source = mixing_set if not isinstance(mixing_set, MixingSet) else None
        self._mixing_set = mixing_set if isinstance(mixing_set, MixingSet) else None

    @property
    def mixing_set(self) -> MixingSet:
        if self._mixing_set is None:
            from .mixsets.builtin import load_mixing_set

            self._mixing_set = load_mixing_set(self._source)
        return self._mixing_set

    def __call__(self, image, rng: np.random.Generator | None = None) -> Image.Image:
        pixels = to_rgb_array(image, self.background)
        if rng is None:
            rng = np.random.default_rng()
        config = self.configs(pixels.shape[0], pixels.shape[1])
        return Image.fromarray(augment_copy(pixels, self.mixing_set, rng, config).pixels, "RGB")

    def __getstate__(self):
        state = self.__dict__.copy()
        if not isinstance(self._given, MixingSet):
            state["_mixing_set"] = None  # a folder or the built-in set: reloaded in the receiving process
        return state

    def __repr__(self) -> str:
        overrides = "".join(f", {k}={v!r}" for k, v in self.configs.overrides.items())
        return f"IPMix(mixing_set={self._source!r}, preset={self.configs.preset!r}{overrides})"
