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


def __getattr__(name: str):
    """``Replayer`` and ``replay_record`` (re-creating a manifest record's output) load the job layer only
    when asked for."""
    if name in ("Replayer", "replay_record"):
        from .jobs import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'ipmix_cli' has no attribute {name!r}")


__all__ = [
    "METHOD_NAMES",
    "AugMix",
    "AugMixConfig",
    "ConfigError",
    "IPMix",
    "IPMixConfig",
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
