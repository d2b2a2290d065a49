"""The last step IPMix and AugMix share: ``(1 − m)·x + m·Σ wᵢ·chainᵢ``, rounded back to bytes.

Both references blend in normalised tensor space; the normalisation is affine per channel and the weights
sum to one, so blending in [0, 255] gives the same image (SPEC §1.1).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import bands, compiled

_F32 = np.float32


#: At most this many finished chains are kept for one pass of the blend; with more chains, each is added to a
#: float32 running total as it finishes (12 bytes a pixel, against 3 for each chain kept).
CHAINS_KEPT = 3


def blend_chains(image: np.ndarray, m: float, weights: list[float], chains: list, run: Callable) -> np.ndarray:
    """``(1 − m)·image + m·Σ wᵢ·run(image, chainᵢ)``; a chain without steps is the image itself (not run).

    The sum is formed in float32 in the order ``w₀·x + ½``, then each chain's term in turn (``w₀`` holds the
    chains without steps): up to ``CHAINS_KEPT`` chains are kept and blended in one pass, more are added to a
    running total one by one as they finish, in the same order, so that memory does not grow with the chains."""
    original_weight = 1.0 - m
    for weight, chain in zip(weights, chains):
        if not chain["steps"]:
            original_weight += m * weight
    running = [(m * weight, chain) for weight, chain in zip(weights, chains) if chain["steps"]]
    if len(running) <= CHAINS_KEPT:
        return blend(image, original_weight, [(weight, run(image, chain)) for weight, chain in running])
    total = _start_total(image, original_weight)
    for weight, chain in running:
        _add_term(total, run(image, chain), weight)
    return _round_total(total, image.shape)


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
    # Casts first, then same-type arithmetic: numpy's mixed uint8 × float32 loops buffer their casts. In bands of
    # rows, so that the float32 total and term stay small.
    out = np.empty(image.shape, np.uint8)
    for rows in bands.row_bands(image.shape):
        total = image[rows].astype(_F32)
        total *= _F32(original_weight)
        total += _F32(0.5)
        for weight, chain in chains:
            term = chain[rows].astype(_F32)
            term *= _F32(weight)
            total += term
        out[rows] = total
    return out


def _start_total(image: np.ndarray, original_weight: float) -> np.ndarray:
    """``w₀·x + ½`` in float32, flat: the start of a running total."""
    total = np.empty(image.size, _F32)
    flat = np.ascontiguousarray(image).reshape(-1)
    for part_slice in bands.row_bands(flat.shape):
        part = total[part_slice]
        part[...] = flat[part_slice]
        part *= _F32(original_weight)
        part += _F32(0.5)
    return total


def _add_term(total: np.ndarray, chain: np.ndarray, weight: float) -> None:
    """``total += float32(chain)·w`` (the product rounded to float32 first, as in :func:`blend`)."""
    flat = np.ascontiguousarray(chain).reshape(-1)
    kernels = compiled.active()
    if kernels is not None:
        kernels.blend_add(total, flat, _F32(weight))
        return
    for part in bands.row_bands(flat.shape):
        term = flat[part].astype(_F32)
        term *= _F32(weight)
        total[part] += term


def _round_total(total: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The running total truncated to bytes (it already holds the ½ that rounds it)."""
    return total.astype(np.uint8).reshape(shape)


def _blend_compiled(kernels, image: np.ndarray, original_weight: float, chains: list) -> np.ndarray:
    """:func:`blend` of one to three chains in one pass (``kernels.blend``: the same float32 operations); unused
    operands repeat the image with weight 0 (the kernel reads ``len(chains)`` of them)."""
    padded = chains + [(0.0, image)] * (3 - len(chains))
    (weight_a, a), (weight_b, b), (weight_c, c) = padded
    out = np.empty(image.shape, np.uint8)
    kernels.blend(
        _flat(image),
        _F32(original_weight),
        _flat(a),
        _F32(weight_a),
        _flat(b),
        _F32(weight_b),
        _flat(c),
        _F32(weight_c),
        len(chains),
        out.reshape(-1),
    )
    return out


def _flat(array: np.ndarray) -> np.ndarray:
    return (array if array.flags.c_contiguous else np.ascontiguousarray(array)).reshape(-1)
