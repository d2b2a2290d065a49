"""The online transforms of SPEC §5 (``IPMix``, ``AugMix``, ``PixMix``), built on ``engine.copies.augment_copy``,
the one code path the dataset generator and the previews use too.

What was chosen where the issue was silent (docs/python-api.md says the same for users):

- Types: ``adapters/images.py`` (PIL, numpy H×W×C, torch C×H×W; uint8 or float in [0, 1]; the output has
  the input's type, layout and dtype).
- Randomness: ``adapters/randomness.py`` (``rng=`` on the call, else ``seed=`` on the transform, else torch's
  generator when torch is imported, else fresh OS entropy).
- ``p``: the probability of augmenting. ``p=0`` draws nothing and ``p=1`` draws no coin, so a ``p=1``
  transform called with ``rng=g`` gives exactly the bytes the CLI and :func:`augment_copy` give for ``g``;
  in between, the coin is the first draw of the call's generator. A call that does not augment returns the
  input object itself, not a copy (as torchvision's and albumentations' random transforms do); the input is
  still checked, so a bad image fails at every ``p``.
- Calling conventions: ``t(image)`` returns the image; ``t(image=x, **others)`` (albumentations') returns a
  dict with ``"image"`` augmented and every other key passed through unchanged.
- Settings: every field of the method's configuration, ``all_ops=True`` for the method's full operation
  list, and for AugMix torchvision's names ``mixture_width`` (our ``chains``) and ``chain_depth`` (our
  ``depth``; -1, torchvision's default, is our ``None``: 1–3 per chain). Unknown names, and two names for
  one setting, are errors.
"""

from __future__ import annotations

import dataclasses
import numbers
from pathlib import Path

import numpy as np

from .adapters.images import Picture
from .adapters.randomness import Randomness
from .engine.config import ConfigError
from .engine.copies import ConfigResolver, augment_copy
from .engine.methods import Method, method_named
from .engine.plans import check_generator, check_image
from .imaging.colour import WHITE
from .mixsets.mixing_set import MixingSet

#: torchvision's names for settings, per method: name → ours.
ALIASES = {"augmix": {"mixture_width": "chains", "chain_depth": "depth"}}


def resolve_settings(method: Method, given: dict) -> dict:
    """Configuration overrides from a transform's keyword arguments: torchvision's names translated,
    ``all_ops`` turned into the method's full ``ops`` list, anything unknown or given twice refused."""
    fields = [field.name for field in dataclasses.fields(method.config) if field.name != "variant"]
    aliases = ALIASES.get(method.name, {})
    known = [*fields, *aliases, "all_ops"]
    unknown = [name for name in given if name not in known]
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: not a setting of {method.name}; it has {', '.join(known)}")
    settings = dict(given)
    for alias, name in aliases.items():
        if alias in settings:
            if name in settings:
                raise ConfigError(f"{alias} and {name} are one setting (torchvision's name and ours); give one")
            value = settings.pop(alias)
            if alias == "chain_depth" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
                if value == -1:
                    value = None
                elif value < 1:
                    raise ConfigError(f"chain_depth must be -1 (1–3 operations, drawn per chain) or ≥ 1, got {value}")
            settings[name] = value
    all_ops = settings.pop("all_ops", False)
    if not isinstance(all_ops, (bool, np.bool_)):
        raise ConfigError(f"all_ops must be True or False, got {all_ops!r}")
    if all_ops:
        if "ops" in settings:
            raise ConfigError("ops and all_ops=True contradict each other; give one")
        settings["ops"] = method.config.ALL_OPS
    return settings


def check_probability(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ConfigError(f"p (the probability of augmenting) must be a number in [0, 1], got {p!r}")
    return float(p)


class _Transform:
    """A picklable transform for online use, e.g. inside a PyTorch ``Dataset`` or a torchvision/albumentations
    pipeline.

    ``transform(image)`` returns the image augmented, in the type and layout it came in (PIL image, numpy
    H×W×C array, torch C×H×W tensor; uint8 or float in [0, 1]); ``transform(image=x, **others)`` returns
    ``{"image": augmented, **others}``. ``p`` is the probability of augmenting. Randomness: ``rng=`` on the
    call, else the transform's ``seed=``, else torch's generator when torch is imported, else fresh OS entropy
    (see :mod:`ipmix_cli.adapters.randomness`).
    """

    METHOD = "ipmix"

    def __init__(
        self,
        mixing_set: str | Path | MixingSet | None = None,
        preset: str = "auto",
        p: float = 1.0,
        *,
        seed: int | None = None,
        background: tuple[int, int, int] = WHITE,
        **settings,
    ):
        method = method_named(self.METHOD)
        self.p = check_probability(p)
        self.randomness = Randomness(seed)
        self.configs = ConfigResolver(preset, self.METHOD, **resolve_settings(method, settings))
        self.background = background
        self._given = mixing_set
        self._source = mixing_set if not isinstance(mixing_set, MixingSet) else None
        self._mixing_set = mixing_set if isinstance(mixing_set, MixingSet) else None
        self.mixing_set  # loaded (and checked) now: a bad folder fails here, not in a DataLoader worker

    @property
    def seed(self) -> int | None:
        return self.randomness.seed

    @property
    def mixing_set(self) -> MixingSet | None:
        """The mixing set (None for a method without one), loaded once per process: an unpickled copy
        reloads and re-checks its folder or the built-in set instead of carrying the pictures along."""
        if self._mixing_set is None and self.configs.needs_mixing:
            from .jobs.builtin_set import load_mixing_set

            self._mixing_set = load_mixing_set(self._source)
        return self._mixing_set

    def __call__(self, *image, rng: np.random.Generator | None = None, **targets):
        if len(image) == 2 and rng is None and not targets:  # t(image, rng), as ipmix 0.3 took it
            image, rng = image[:1], image[1]
        if image:
            if len(image) > 1 or targets:
                raise TypeError(
                    f"{type(self).__name__} takes one image, t(image), or keywords, t(image=x, mask=m, ...)"
                )
            return self.augment(image[0], rng)
        if "image" not in targets:
            raise TypeError(f"{type(self).__name__} needs an image: t(image) or t(image=x) (albumentations' way)")
        return {**targets, "image": self.augment(targets["image"], rng)}

    def augment(self, image, rng: np.random.Generator | None = None):
        """``image`` augmented with probability ``p``, in its own type and layout; ``rng`` as for a call."""
        picture = Picture(image, self.background)
        if rng is not None:
            check_generator(rng)
        if self.p == 0:
            return image
        if rng is None:
            rng = self.randomness.generator()
        if self.p < 1 and not rng.random() < self.p:
            return image
        pixels = picture.rgb()
        check_image("image", pixels)  # as ipmix() and the CLI: at least 2×2 (an empty image is a mistake)
        config = self.configs(pixels.shape[0], pixels.shape[1])
        return picture.restore(augment_copy(pixels, self.mixing_set, rng, config).pixels)

    def __getstate__(self):
        state = self.__dict__.copy()
        if not isinstance(self._given, MixingSet):
            state["_mixing_set"] = None  # a folder or the built-in set: reloaded in the receiving process
        return state

    def _arguments(self) -> str:
        settings = "".join(f", {k}={v!r}" for k, v in self.configs.overrides.items())
        seed = f", seed={self.seed}" if self.seed is not None else ""
        return f"preset={self.configs.preset!r}, p={self.p}{seed}{settings}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mixing_set={self._source!r}, {self._arguments()})"


class IPMix(_Transform):
    """The IPMix transform. ``mixing_set`` is a folder, a :class:`MixingSet`, or ``None`` for the built-in
    procedural set; ``preset`` is ``auto`` (by image size), ``cifar`` or ``imagenet``; ``p`` the probability
    of augmenting; ``seed`` fixes the transform's own random stream; further keywords are
    :class:`IPMixConfig` fields (``chains``, ``depth``, ``beta``, ``severity``, ``ops``, ``patch_sizes``,
    ``reference_side``, ``overflow``) or ``all_ops=True``."""

    METHOD = "ipmix"


class PixMix(_Transform):
    """The PixMix transform; arguments as for :class:`IPMix`, settings the :class:`PixMixConfig` fields
    (``rounds``, ``beta``, ``severity``, ``ops``) or ``all_ops=True``."""

    METHOD = "pixmix"


class AugMix(_Transform):
    """The AugMix transform (it uses no mixing pictures). Settings: the :class:`AugMixConfig` fields
    (``chains``, ``depth``, ``severity``, ``alpha``, ``ops``), ``all_ops=True``, or torchvision's names
    ``mixture_width`` (= ``chains``) and ``chain_depth`` (= ``depth``; -1 = 1–3 per chain, our default).
    Unlike ``torchvision.transforms.v2.AugMix``, ``all_ops`` defaults to False, as in the reference code."""

    METHOD = "augmix"

    def __init__(
        self,
        preset: str = "auto",
        p: float = 1.0,
        *,
        seed: int | None = None,
        background: tuple[int, int, int] = WHITE,
        **settings,
    ):
        super().__init__(None, preset, p, seed=seed, background=background, **settings)

    def __repr__(self) -> str:
        return f"AugMix({self._arguments()})"
