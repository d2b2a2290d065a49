"""ipmix: IPMix (NeurIPS 2023) augmentation as a reproducible dataset generator.

The package is a library first; the ``ipmix`` command is a thin layer over it.
"""

__version__ = "0.3.0"

from .engine.config import ConfigError, IPMixConfig
from .engine.ipmix import apply_plan, ipmix, ipmix_with_trace, sample_plan
from .seeding import generator_for, path_digest
from .transform import IPMix

__all__ = [
    "ConfigError",
    "IPMix",
    "IPMixConfig",
    "__version__",
    "apply_plan",
    "generator_for",
    "ipmix",
    "ipmix_with_trace",
    "path_digest",
    "sample_plan",
]
