"""ipmix: IPMix (NeurIPS 2023) augmentation as a reproducible dataset generator, with AugMix and PixMix.

The package is a library first; the ``ipmix`` command is a thin layer over it.
"""

__version__ = "0.3.0"

from .engine.augmix import augmix, augmix_with_trace
from .engine.config import AugMixConfig, ConfigError, IPMixConfig, PixMixConfig
from .engine.ipmix import ipmix, ipmix_with_trace
from .engine.methods import METHOD_NAMES, apply_plan, sample_plan
from .engine.pixmix import pixmix, pixmix_with_trace
from .seeding import generator_for, path_digest
from .transform import AugMix, IPMix, PixMix

__all__ = [
    "METHOD_NAMES",
    "AugMix",
    "AugMixConfig",
    "ConfigError",
    "IPMix",
    "IPMixConfig",
    "PixMix",
    "PixMixConfig",
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
    "sample_plan",
]
