"""``IPMix``, ``AugMix`` and ``PixMix`` as albumentations transforms (``ImageOnlyTransform`` subclasses), for
``A.Compose`` pipelines.

Arguments are the plain transforms' (``mixing_set``, ``preset``, ``background`` and the method's settings,
torchvision's AugMix names included) and albumentations' ``p``. Randomness follows albumentations: the
probability is albumentations' own draw, and each application draws its seed in ``get_params()`` from the
transform's albumentations generator, which ``A.Compose(..., seed=…)`` sets, so a seeded Compose repeats
itself; there is no ``seed=`` here. One addition: albumentations 2.0 gives the copies of a Compose in
PyTorch DataLoader workers the same generator state, so its transforms repeat each other's draws worker by
worker; inside a worker the worker's seed (distinct per worker and per epoch, drawn by DataLoader from
torch's generator) is added to ours, as for ``seed=`` on the plain transforms. (docs/python-api.md shows a
``worker_init_fn`` that reseeds albumentations' own transforms per worker too.)

As for every albumentations ``ImageOnlyTransform``, ``image`` (and ``images``) are transformed, in the
dtype and layout they came in (H×W×C uint8, or float32 in [0, 1]), and masks, boxes and keypoints pass
through unchanged: the operations move the image's content, so use it where the label is the class.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import transform as plain
from ..imaging.colour import WHITE
from .randomness import worker_seed

try:
    import albumentations as A
except ImportError as error:
    raise ImportError(f"ipmix.albumentations needs albumentations ({error})") from error

_SEED_BOUND = 1 << 62


class _Albumentations(A.ImageOnlyTransform):
    plain: plain._Transform  # set by the subclass's __init__, with p=1: albumentations draws the probability

    def get_params(self) -> dict[str, Any]:
        draw = self.random_generator.integers(0, _SEED_BOUND, size=2).tolist()
        worker = worker_seed()  # albumentations 2.0 gives every worker's copy the same generator state
        return {"ipmix_seed": draw if worker is None else [*draw, worker]}

    def apply(self, img: np.ndarray, ipmix_seed: list[int], **params: Any) -> np.ndarray:
        return self.plain.augment(img, np.random.Generator(np.random.PCG64(ipmix_seed)))

    def get_transform_init_args(self) -> dict[str, Any]:
        given = {"preset": self.plain.configs.preset, **self.plain.configs.overrides}
        return given if isinstance(self.plain, plain.AugMix) else {"mixing_set": self.plain._source, **given}


class IPMix(_Albumentations):
    """:class:`ipmix.IPMix` as an albumentations transform."""

    def __init__(self, mixing_set=None, preset: str = "auto", p: float = 1.0, *, background=WHITE, **settings):
        super().__init__(p=p)
        self.plain = plain.IPMix(mixing_set, preset, 1.0, background=background, **settings)


class AugMix(_Albumentations):
    """:class:`ipmix.AugMix` as an albumentations transform."""

    def __init__(self, preset: str = "auto", p: float = 1.0, *, background=WHITE, **settings):
        super().__init__(p=p)
        self.plain = plain.AugMix(preset, 1.0, background=background, **settings)


class PixMix(_Albumentations):
    """:class:`ipmix.PixMix` as an albumentations transform."""

    def __init__(self, mixing_set=None, preset: str = "auto", p: float = 1.0, *, background=WHITE, **settings):
        super().__init__(p=p)
        self.plain = plain.PixMix(mixing_set, preset, 1.0, background=background, **settings)
