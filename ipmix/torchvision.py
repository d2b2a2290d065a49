"""ipmix's transforms as torchvision v2 transforms (needs torchvision); see ipmix_cli/adapters/torchvision.py."""

from ipmix_cli.adapters.torchvision import AugMix, IPMix, PixMix

__all__ = ["AugMix", "IPMix", "PixMix"]
