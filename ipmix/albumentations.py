"""ipmix's transforms as albumentations transforms (needs albumentations); see
ipmix_cli/adapters/albumentations.py."""

from ipmix_cli.adapters.albumentations import AugMix, IPMix, PixMix

__all__ = ["AugMix", "IPMix", "PixMix"]
