"""ipmix: IPMix (NeurIPS 2023) augmentation as a reproducible dataset generator.

The package is a library first; the ``ipmix`` command is a thin layer over it.
"""

__version__ = "0.2.0"

from .engine.config import ConfigError, IPMixConfig
from .engine.ipmix import apply_plan, ipmix, ipmix_with_trace, sample_plan
from .seeding import generator_for, path_digest
from .transform import IPMix


def __getattr__(name: str):
    """``Replayer`` and ``replay_record`` (re-creating a manifest record's output) load the job layer only
    when asked for."""
    if name in ("Replayer", "replay_record"):
        from .job import replay

        return getattr(replay, name)
    raise AttributeError(f"module 'ipmix_cli' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "IPMix",
    "IPMixConfig",
    "Replayer",
    "__version__",
    "apply_plan",
    "generator_for",
    "ipmix",
    "ipmix_with_trace",
    "path_digest",
    "replay_record",
    "sample_plan",
]
