"""The online transforms of SPEC §5 (``IPMix``, ``AugMix``, ``PixMix``), built on ``engine.copies.augment_copy``,
the one code path the dataset generator and the previews use too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .engine.copies import ConfigResolver, augment_copy
from .engine.plans import check_image
from .imaging.colour import WHITE, to_rgb_array
from .mixsets.mixing_set import MixingSet


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
            from .jobs.builtin_set import load_mixing_set

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
