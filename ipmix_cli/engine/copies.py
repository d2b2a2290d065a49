"""One augmented copy of one image: the single code path the dataset jobs, the previews and the online transforms
share, so all of them give the same bytes for the same generator and configuration."""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from .config import MethodConfig, resolve_preset
from .methods import Method, method_named, method_of
from .plans import Plan


@dataclasses.dataclass(frozen=True)
class Copy:
    """One augmented copy: the pixels, the mixing picture and crop it used, and its plan (the trace).

    For a method without mixing pictures (AugMix) ``mixing_picture``, ``mixing_crop``, ``mixing_size`` and
    ``mixing_window`` are None.
    """

    pixels: np.ndarray
    mixing_picture: str | None
    mixing_crop: list[int] | None  # [left, top] of the window in the scaled picture
    mixing_size: list[int] | None  # [width, height] the picture was scaled to before the window was cut
    plan: Plan
    window: Callable[[], np.ndarray] | None  # makes the window (once); only if the plan or a caller needs it

    @property
    def mixing_window(self) -> np.ndarray | None:
        """The H×W window of the scaled picture that the plan mixed with (made now if no step needed it)."""
        return None if self.window is None else self.window()

    def trace(self) -> dict:
        return {
            "mixing_picture": self.mixing_picture,
            "mixing_size": self.mixing_size,
            "mixing_crop": self.mixing_crop,
            "plan": self.plan,
        }


def augment_copy(image: np.ndarray, mixing_set, rng: np.random.Generator, config: MethodConfig) -> Copy:
    """One copy by the method ``config`` belongs to: first the mixing picture and its crop (methods that use
    one; ``mixing_set`` may be None for the others), then the plan, all from ``rng``; then the plan applied.
    The picture is scaled and cut only if a step of the plan mixes with it."""
    method = method_of(config)
    height, width = image.shape[:2]
    name = window = crop = size = None
    if method.uses_mixing:
        if mixing_set is None:
            raise ValueError(f"{method.title} mixes with pictures: give a mixing set")
        name, window, crop, size = mixing_set.draw_deferred(rng, height, width, config.cover_ratio)
    plan = method.sample(rng, height, width, config)
    return Copy(method.apply(image, window, plan), name, crop, size, plan, window)


class ConfigResolver:
    """Per-image configuration of one method: the preset (``auto`` resolved by size) with the user's overrides.

    ``needs_mixing`` says whether the method draws mixing pictures (a job can skip loading a set when not).
    """

    def __init__(self, preset: str = "auto", method: str = "ipmix", **overrides):
        self.preset = preset
        self.method: Method = method_named(method)
        self.overrides = overrides
        self.by_variant = {
            variant: self.method.config.for_image(variant, 1, 1, **overrides)
            for variant in (("cifar", "imagenet") if preset == "auto" else (preset,))
        }

    @property
    def needs_mixing(self) -> bool:
        return self.method.uses_mixing

    def __call__(self, height: int, width: int) -> MethodConfig:
        return self.by_variant[resolve_preset(self.preset, height, width)]
