"""``IPMix``, ``AugMix`` and ``PixMix`` as torchvision v2 transforms (``torchvision.transforms.v2.Transform``),
for ``v2.Compose`` and anything that takes v2 transforms (timm's and torchvision's training recipes).

Arguments are the plain transforms' (``mixing_set``, ``preset``, ``p``, ``seed``, ``background`` and the
method's settings, torchvision's AugMix names included). In a call, as in torchvision's own AugMix:

- images are transformed: ``tv_tensors.Image``, PIL images, and a plain tensor when the sample holds no
  explicit image (torchvision's rule for plain tensors); each comes back in its own type, dtype and layout;
- labels and any other values pass through unchanged;
- bounding boxes, masks, keypoints and videos are refused with a TypeError, as ``v2.AugMix`` refuses them:
  the operations move the image's content, so such targets would silently stop matching it.

Randomness: one draw per call (``make_params``) by the plain transform's rules, torch's generator unless
``seed=`` is given, shared by every image of the sample. Written against torchvision 0.29 (``make_params``
and ``transform`` are the public names of the methods a v2 transform overrides).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import PIL.Image

from .. import transform as plain

try:
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2
except ImportError as error:
    raise ImportError(f"ipmix.torchvision needs torch and torchvision ({error})") from error

if not hasattr(v2.Transform, "make_params"):  # older torchvision called it _get_params
    raise ImportError("ipmix's torchvision adapters need a torchvision whose v2.Transform has make_params()")

_REFUSED = tuple(
    getattr(tv_tensors, name) for name in ("BoundingBoxes", "Mask", "KeyPoints", "Video") if hasattr(tv_tensors, name)
)


def _is_plain_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and not isinstance(value, tv_tensors.TVTensor)


class _V2(v2.Transform):
    PLAIN: type[plain._Transform]
    _transformed_types = (tv_tensors.Image, PIL.Image.Image, _is_plain_tensor)

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.plain = self.PLAIN(*args, **kwargs)

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        for value in flat_inputs:
            if isinstance(value, _REFUSED):
                raise TypeError(
                    f"{type(self).__name__}() does not transform {type(value).__name__}: its operations move the"
                    " image's content, so these would no longer match it (as torchvision's AugMix refuses them)"
                )

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"seed": self.plain.randomness.next() if self.plain.p > 0 else None}  # p=0 draws nothing

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        seed = params["seed"]
        return self.plain.augment(inpt, None if seed is None else np.random.Generator(np.random.PCG64(seed)))

    def extra_repr(self) -> str:
        return repr(self.plain).split("(", 1)[1][:-1]


class IPMix(_V2):
    """:class:`ipmix.IPMix` as a torchvision v2 transform (arguments as there)."""

    PLAIN = plain.IPMix


class AugMix(_V2):
    """:class:`ipmix.AugMix` as a torchvision v2 transform; takes torchvision's ``severity``,
    ``mixture_width``, ``chain_depth``, ``alpha`` and ``all_ops`` (which defaults to False here, as in the
    reference code; torchvision's defaults to True)."""

    PLAIN = plain.AugMix


class PixMix(_V2):
    """:class:`ipmix.PixMix` as a torchvision v2 transform (arguments as there)."""

    PLAIN = plain.PixMix
