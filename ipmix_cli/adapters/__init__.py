"""What connects the online transforms to the frameworks users train with: image types and layouts
(``images``), where each call's randomness comes from (``randomness``), and thin adapters for torchvision's
v2 transforms (``torchvision``) and albumentations (``albumentations``), each importable only where its
framework is installed."""
