"""Images as users hand them to an online transform, and back in the same type and layout (SPEC §5).

The augmentation itself is byte-exact on H×W×3 uint8 RGB; this module takes what a training pipeline holds
to that and back:

========================  ===========================================  ==========================================
given                     augmented as                                 returned
========================  ===========================================  ==========================================
PIL image                 RGB, as the CLI reads files (alpha over the  the same mode for L, LA, RGB and RGBA (alpha
                          background, 16-bit scaled, palettes          opaque); RGB for any other mode
                          expanded)
numpy H×W or H×W×C        C = 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA    the same shape and dtype
torch H×W or C×H×W        the same, channels first                     the same shape, dtype, device and tensor
                                                                       class (a ``tv_tensors.Image`` stays one)
========================  ===========================================  ==========================================

Arrays and tensors are uint8, or floating point in [0, 1] (anything else is refused: a normalised tensor
means the transform was placed after ``Normalize``). A float image is quantised to the nearest of the 256
levels, augmented, and returned as the uint8 result times 1/255 in its own dtype (the computation
``v2.ToDtype(scale=True)`` does), so float and uint8 inputs give the same augmentation. A grey image is
augmented as RGB with equal channels and returned through Pillow's L conversion (ITU-R 601-2 luma); alpha is
composited over the background before augmenting (geometric operations move the content, the old alpha would
no longer fit) and returned fully opaque. torch is never imported here: a tensor is recognised by its module.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..imaging.colour import channels_to_rgb, check_channels, rgb_to_channels, to_rgb

#: Pillow modes returned as they came; every other mode comes back as RGB.
KEPT_MODES = ("L", "LA", "RGB", "RGBA")


class Picture:
    """One image as the user gave it: checked on construction (cheap: shape, dtype, value range), converted to
    H×W×3 uint8 RGB by :meth:`rgb` and back to the user's type and layout by :meth:`restore`."""

    def __init__(self, image, background: tuple[int, int, int]):
        self.image = image
        self.background = background
        if isinstance(image, Image.Image):
            self.kind = "pil"
        elif isinstance(image, np.ndarray):
            self.kind = "numpy"
            self.channels = check_channels(image.shape)
            _check_values(image.dtype, image, "array")
        elif _is_tensor(image):
            self.kind = "torch"
            self.channels = check_channels(tuple(image.shape), "C×H×W")
            _check_tensor(image)
        else:
            raise TypeError(
                f"expected a PIL image, a numpy H×W×C array or a torch C×H×W tensor, got {type(image).__name__}"
            )

    def rgb(self) -> np.ndarray:
        if self.kind == "pil":
            return np.array(to_rgb(self.image, self.background))
        return channels_to_rgb(_to_uint8(self._hwc()), self.background)

    def restore(self, rgb: np.ndarray):
        if self.kind == "pil":
            out = Image.fromarray(rgb, "RGB")
            mode = self.image.mode if self.image.mode in KEPT_MODES else "RGB"
            return out if mode == "RGB" else out.convert(mode)
        pixels = rgb_to_channels(rgb, self.channels)
        if self.kind == "numpy":
            dtype = self.image.dtype
            return pixels if dtype == np.uint8 else pixels.astype(dtype) * dtype.type(1 / 255)
        return _to_tensor(pixels, self.image)

    def _hwc(self) -> np.ndarray:
        if self.kind == "numpy":
            return self.image
        tensor = self.image.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype.itemsize < 4:
            tensor = tensor.float()  # numpy has no bfloat16
        array = tensor.numpy()
        return array if array.ndim == 2 else array.transpose(1, 2, 0)


def _is_tensor(image) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(image, getattr(torch, "Tensor", ()))


def _check_values(dtype, array, what: str) -> None:
    if dtype == np.uint8:
        return
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{what}s must be uint8, or floating point in [0, 1]; got {dtype}")
    if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
        finite = array[np.isfinite(array)]
        low, high = (finite.min(), finite.max()) if finite.size else (float("nan"),) * 2
        raise ValueError(
            f"a floating-point image must hold values in [0, 1], got {low:g} to {high:g}"
            " (augment before Normalize; scale 0–255 values by 1/255)"
        )


def _check_tensor(tensor) -> None:
    import torch

    if tensor.dtype == torch.uint8:
        return
    if not tensor.is_floating_point():
        raise ValueError(f"tensors must be uint8, or floating point in [0, 1]; got {tensor.dtype}")
    values = tensor.detach()
    if values.numel() and not (torch.isfinite(values).all() and values.min() >= 0 and values.max() <= 1):
        finite = values[torch.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.numel() else (float("nan"),) * 2
        raise ValueError(
            f"a floating-point image must hold values in [0, 1], got {low:g} to {high:g}"
            " (augment before Normalize; scale 0–255 values by 1/255)"
        )


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    return np.rint(array.astype(np.float64) * 255).astype(np.uint8)


def _to_tensor(pixels: np.ndarray, like):
    import torch

    chw = pixels if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    out = torch.from_numpy(np.ascontiguousarray(chw))
    if like.dtype != torch.uint8:
        out = out.to(like.dtype).mul_(1.0 / 255)  # as v2.ToDtype(dtype, scale=True) turns uint8 into float
    out = out.to(like.device)
    return out if type(like) is torch.Tensor else out.as_subclass(type(like))
