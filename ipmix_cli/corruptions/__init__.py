"""Corruption-robustness test sets (CIFAR-10-C / ImageNet-C), as a library.

The fifteen common corruptions of the benchmark and the four extra ones, severities 1–5, with the constants of
``make_cifar_c.py`` (``cifar``) or of the ``imagenet_c`` package (``imagenet``), for images of any size::

    from ipmix_cli.corruptions import corrupt, corruption_generator
    rng = corruption_generator(seed=0, key="cat/001.jpg", corruption="fog", severity=3)
    foggy = corrupt(image, "fog", 3, rng, preset="auto")

``docs/corruptions.md`` gives each corruption, how its lengths scale with the image, and the reference quirks
kept. :mod:`.scoring` turns a model's results on a corrupted set into corruption errors and mCE.
"""

from .api import corrupt, corrupt_with_trace, corruption_generator, layer_pixels, replay
from .frost import FrostPictures, FrostUnavailable, find_frost_pictures
from .params import PRESETS, SEVERITIES, CorruptionError, resolve, resolve_preset
from .registry import ALL, COMMON, CORRUPTIONS, EXTRA, GROUPS, parse_severities, select
from .scoring import CorruptionScores, score


def corruption_sheet(*args, **kwargs):
    """One image × corruptions × severities as a PIL image (see :func:`.sheet.corruption_sheet`)."""
    from .sheet import corruption_sheet as make

    return make(*args, **kwargs)


def available(name: str, frost_pictures=None) -> bool:
    """Whether ``name`` can run here (only ``frost`` can be missing: it needs its pictures)."""
    from .registry import get

    if not get(name).needs_frost:
        return True
    try:
        find_frost_pictures(frost_pictures)
    except FrostUnavailable:
        return False
    return True


def names(group: str = "all") -> tuple[str, ...]:
    """The corruptions of ``common``, ``extra`` or ``all``, in the benchmark's order."""
    return select(group)


__all__ = [
    "ALL",
    "COMMON",
    "CORRUPTIONS",
    "EXTRA",
    "GROUPS",
    "PRESETS",
    "SEVERITIES",
    "CorruptionError",
    "CorruptionScores",
    "FrostPictures",
    "FrostUnavailable",
    "available",
    "corrupt",
    "corrupt_with_trace",
    "corruption_sheet",
    "corruption_generator",
    "find_frost_pictures",
    "layer_pixels",
    "names",
    "parse_severities",
    "replay",
    "resolve",
    "resolve_preset",
    "score",
    "select",
]
