"""ipmix: IPMix (NeurIPS 2023), AugMix and PixMix augmentation, reproducibly from a seed.

``ipmix`` is the library's public name; ``ipmix_cli`` is the same code under its first name and keeps
working. The online transforms (:class:`IPMix`, :class:`AugMix`, :class:`PixMix`) take PIL images, numpy
H×W×C arrays and torch C×H×W tensors and return the same; ``ipmix.torchvision`` holds them as torchvision v2
transforms and ``ipmix.albumentations`` as albumentations transforms (each where that library is
installed). docs/python-api.md is the guide.
"""

from ipmix_cli import (
    METHOD_NAMES,
    AugMix,
    AugMixConfig,
    ConfigError,
    IPMix,
    IPMixConfig,
    PixMix,
    PixMixConfig,
    __version__,
    apply_plan,
    augmix,
    augmix_with_trace,
    generator_for,
    ipmix,
    ipmix_with_trace,
    path_digest,
    pixmix,
    pixmix_with_trace,
    sample_plan,
)
from ipmix_cli.mixsets.loading import MixingSetError
from ipmix_cli.mixsets.mixing_set import MixingSet

_LAZY = {"Replayer", "replay_record"}  # they load the job layer: only when asked for
_ADAPTERS = {"torchvision", "albumentations"}  # they import their framework: only when asked for


def __getattr__(name: str):
    if name in _LAZY:
        import ipmix_cli

        return getattr(ipmix_cli, name)
    if name in _ADAPTERS:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ipmix' has no attribute {name!r}")


__all__ = [
    "METHOD_NAMES",
    "AugMix",
    "AugMixConfig",
    "ConfigError",
    "IPMix",
    "IPMixConfig",
    "MixingSet",
    "MixingSetError",
    "PixMix",
    "PixMixConfig",
    "Replayer",
    "__version__",
    "apply_plan",
    "augmix",
    "augmix_with_trace",
    "generator_for",
    "ipmix",
    "ipmix_with_trace",
    "path_digest",
    "pixmix",
    "pixmix_with_trace",
    "replay_record",
    "sample_plan",
]
