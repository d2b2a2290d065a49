"""The last step IPMix and AugMix share: ``(1 − m)·x + m·Σ wᵢ·chainᵢ``, rounded back to bytes.

Both references blend in normalised tensor space; the normalisation is affine per channel and the weights
sum to one, so blending in [0, 255] gives the same image (SPEC §1.1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import compiled

_F32 = np.float32


def blend_chains(image: np.ndarray, m: float, weights: list[float], chains: list, run: Callable) -> np.ndarray:
    """``(1 − m)·image + m·Σ wᵢ·run(image, chainᵢ)``; a chain without steps is the image itself (not run)."""
    original_weight = 1.0 - m
    finished = []
    for weight, chain in zip(weights, chains):
        if not chain["steps"]:
            original_weight += m * weight
            continue
        finished.append((m * weight, run(image, chain)))
    return blend(image, original_weight, finished)


def blend(image: np.ndarray, original_weight: float, chains: list) -> np.ndarray:
    """``round(w₀·x + Σ wᵢ·chainᵢ)`` in float32 (round half up).

    The weights sum to one, so the sum stays in [0, 255] up to float error far below 0.5, and truncating
    ``sum + 0.5`` rounds it without overflowing 255.
    """
    if not chains:
        return image.copy()
    kernels = compiled.active()
    if kernels is not None and len(chains) <= 3:
        return _blend_compiled(kernels, image, original_weight, chains)
    # Casts first, then same-type arithmetic: numpy's mixed uint8 × float32 loops buffer their casts.
    total = image.astype(_F32)
    total *= _F32(original_weight)
    total += _F32(0.5)
    for weight, chain in chains:
        term = chain.astype(_F32)
        term *= _F32(weight)
        total += term
    return total.astype(np.uint8)


def _blend_compiled(kernels, image: np.ndarray, original_weight: float, chains: list) -> np.ndarray:
    """:func:`blend` of one to three chains in one pass (``kernels.blend``: the same float32 operations)."""
    flat = [np.ascontiguousarray(chain).reshape(-1) for _, chain in chains]
    weights = [_F32(weight) for weight, _ in chains]
    while len(flat) < 3:  # unused operands: the kernel reads ``len(chains)`` of them
        flat.append(flat[0])
        weights.append(_F32(0))
    out = np.empty(image.shape, np.uint8)
    a, b, c = flat
    kernels.blend(
        np.ascontiguousarray(image).reshape(-1),
        _F32(original_weight),
        a,
        weights[0],
        b,
        weights[1],
        c,
        weights[2],
        len(chains),
        out.reshape(-1),
    )
    return out
