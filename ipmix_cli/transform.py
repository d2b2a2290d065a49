"""The online transforms of SPEC §5, and the one code path that turns an image into one augmented copy.

``augment_copy`` is shared by the transforms (``IPMix``, ``AugMix``, ``PixMix``), the dataset generator and
previews, so all of them give the same bytes for the same generator and configuration.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .engine.config import MethodConfig, resolve_preset
from .engine.methods import Method, method_named, method_of
from .engine.plans import Plan, check_image
from .imaging.colour import WHITE, to_rgb_array
from .mixsets.mixing_set import MixingSet


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


def augment_copy(
    image: np.ndarray, mixing_set: MixingSet | None, rng: np.random.Generator, config: MethodConfig
) -> Copy:
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


class _Transform:
    """A picklable transform for online use, e.g. inside a PyTorch ``Dataset``.

    ``transform(image, rng=None)`` returns a PIL image of the same size. Pass ``rng`` (for example
    ``ipmix_cli.generator_for(seed, path, epoch)``) for reproducible results; without it each call draws
    fresh OS entropy, so copies of the transform in different data-loader workers never repeat each other.
    """

    METHOD = "ipmix"

    def __init__(
        self,
        mixing_set: str | Path | MixingSet | None = None,
        preset: str = "auto",
        background: tuple[int, int, int] = WHITE,
        **overrides,
    ):
        self.configs = ConfigResolver(preset, self.METHOD, **overrides)
        self.background = background
        self._given = mixing_set
        self._source = mixing_set if not isinstance(mixing_set, MixingSet) else None
        self._mixing_set = mixing_set if isinstance(mixing_set, MixingSet) else None
        self.mixing_set  # loaded (and checked) now: a bad folder fails here, not in a DataLoader worker

    @property
    def mixing_set(self) -> MixingSet | None:
        """The mixing set (None for a method without one), loaded once per process: an unpickled copy
        reloads and re-checks its folder or the built-in set instead of carrying the pictures along."""
        if self._mixing_set is None and self.configs.needs_mixing:
            from .mixsets.builtin import load_mixing_set

            self._mixing_set = load_mixing_set(self._source)
        return self._mixing_set

    def __call__(self, image, rng: np.random.Generator | None = None) -> Image.Image:
        pixels = to_rgb_array(image, self.background)
        check_image("image", pixels)  # as ipmix() and the CLI: at least 2×2 (an empty image is a mistake)
        if rng is None:
            rng = np.random.default_rng()
        config = self.configs(pixels.shape[0], pixels.shape[1])
        return Image.fromarray(augment_copy(pixels, self.mixing_set, rng, config).pixels, "RGB")

    def __getstate__(self):
        state = self.__dict__.copy()
        if not isinstance(self._given, MixingSet):
            state["_mixing_set"] = None  # a folder or the built-in set: reloaded in the receiving process
        return state

    def _arguments(self) -> str:
        overrides = "".join(f", {k}={v!r}" for k, v in self.configs.overrides.items())
        return f"preset={self.configs.preset!r}{overrides}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mixing_set={self._source!r}, {self._arguments()})"


class IPMix(_Transform):
    """The IPMix transform. ``mixing_set`` is a folder, a :class:`MixingSet`, or ``None`` for the built-in
    procedural set."""

    METHOD = "ipmix"


class PixMix(_Transform):
    """The PixMix transform; ``mixing_set`` as for :class:`IPMix`."""

    METHOD = "pixmix"


class AugMix(_Transform):
    """The AugMix transform (it uses no mixing pictures)."""

    METHOD = "augmix"

    def __init__(self, preset: str = "auto", background: tuple[int, int, int] = WHITE, **overrides):
        super().__init__(None, preset, background, **overrides)

    def __repr__(self) -> str:
        return f"AugMix({self._arguments()})"
