"""One augmented image (SPEC §1.1): sample every random draw into a plan, then apply the plan.

The plan is plain JSON-serialisable data, so it doubles as the trace of an output: applying a plan that
went through ``json.dumps``/``json.loads`` gives the same bytes.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .config import IPMixConfig
from .draws import Draws
from .mixing import apply_mix, sample_box, sample_mix
from .ops import apply_image_op, apply_image_op_region, sample_image_op

Plan = dict
_F32 = np.float32


def sample_plan(rng: np.random.Generator, height: int, width: int, config: IPMixConfig) -> Plan:
    """Draw everything random about one output of an ``height``×``width`` image, in a fixed order."""
    draws = Draws(rng)
    weights = draws.dirichlet_ones(config.chains)
    m = draws.uniform()  # Beta(1, 1)
    sizes = config.patch_sizes_for(height, width)
    chains = []
    for _ in range(config.chains):
        mode = "patch" if draws.coin() else "image"
        depth = draws.integer(0, config.depth)
        if mode == "image":
            steps = [sample_image_op(draws, config.ops, config.severity, height, width) for _ in range(depth)]
        else:
            steps = [_sample_patch_step(draws, height, width, sizes, config) for _ in range(depth)]
        chains.append({"mode": mode, "steps": steps})
    return {
        "height": height,
        "width": width,
        "weights": weights,
        "m": m,
        "overflow": config.overflow,
        "chains": chains,
    }


def _sample_patch_step(draws: Draws, height: int, width: int, sizes: tuple[int, ...], config: IPMixConfig) -> dict:
    size = sizes[draws.index(len(sizes))]
    mix = sample_mix(draws, config.beta)
    left, top, patch_width, patch_height = sample_box(draws, height, width, size)
    source: str | dict = "mixing"
    if config.variant == "imagenet" and draws.coin():
        source = sample_image_op(draws, config.ops, config.severity, height, width)
    return {
        "op": "patch",
        "size": size,
        "box": [left, top, patch_width, patch_height],
        "source": source,
        **mix,
    }


def apply_plan(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """Apply a sampled plan to ``image`` with mixing picture ``mixing``; neither input is modified."""
    _check_image("image", image)
    if image.shape[:2] != (plan["height"], plan["width"]):
        raise ValueError(
            f"the plan was sampled for {plan['height']}×{plan['width']} but the image is "
            f"{image.shape[0]}×{image.shape[1]}"
        )
    _check_mixing(mixing, image)
    return _apply_checked(image, mixing, plan)


def _check_mixing(mixing: np.ndarray | None, image: np.ndarray) -> None:
    if mixing is not None:
        _check_image("mixing", mixing)
        if mixing.shape != image.shape:
            raise ValueError(f"mixing picture shape {mixing.shape} differs from the image's {image.shape}")


def _apply_checked(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """:func:`apply_plan` for arguments already checked (the checks cost several µs on a 32×32 image)."""
    m = plan["m"]
    original_weight = 1.0 - m
    finished = []
    for weight, chain in zip(plan["weights"], plan["chains"]):
        if not chain["steps"]:
            original_weight += m * weight  # a chain of depth 0 is the image itself
            continue
        finished.append((m * weight, _apply_chain(image, mixing, chain, plan["overflow"])))
    return _blend(image, original_weight, finished)


def _apply_chain(image: np.ndarray, mixing: np.ndarray | None, chain: dict, overflow: str) -> np.ndarray:
    current = image
    for current in iterate_chain(image, mixing, chain, overflow):
        pass
    return current


def iterate_chain(image: np.ndarray, mixing: np.ndarray | None, chain: dict, overflow: str) -> Iterator[np.ndarray]:
    """The chain's image after each of its steps (a patch chain updates one array in place: copy to keep)."""
    if chain["mode"] == "image":
        current = image
        for step in chain["steps"]:
            current = apply_image_op(current, step)
            yield current
        return
    current = image.copy()
    for step in chain["steps"]:
        left, top, patch_width, patch_height = step["box"]
        rows = slice(top, top + patch_height)
        cols = slice(left, left + patch_width)
        source = step["source"]
        if source == "mixing":
            if mixing is None:
                raise ValueError("this plan mixes with a mixing picture, but none was given")
            source_patch = mixing[rows, cols]
        else:
            source_patch = apply_image_op_region(image, source, step["box"])
        current[rows, cols] = apply_mix(current[rows, cols], source_patch, step, overflow)
        yield current


def _blend(image: np.ndarray, original_weight: float, chains: list) -> np.ndarray:
    """``round(w₀·x + Σ wᵢ·chainᵢ)`` in float32 (round half up).

    The weights sum to one, so the sum stays in [0, 255] up to float error far below 0.5, and truncating
    ``sum + 0.5`` rounds it without overflowing 255.
    """
    if not chains:
        return image.copy()
    # Casts first, then same-type arithmetic: numpy's mixed uint8 × float32 loops buffer their casts.
    total = image.astype(_F32)
    total *= _F32(original_weight)
    total += _F32(0.5)
    for weight, chain in chains:
        term = chain.astype(_F32)
        term *= _F32(weight)
        total += term
    return total.astype(np.uint8)


def _check_image(name: str, array: np.ndarray) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        got = f"{array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray) else type(array)
        raise ValueError(f"{name} must be an H×W×3 uint8 array, got {got}")
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise ValueError(f"{name} must be at least 2×2 pixels, got {array.shape[0]}×{array.shape[1]}")


def ipmix(image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: IPMixConfig) -> np.ndarray:
    """One IPMix output of ``image`` (H×W×3 uint8) using the prepared mixing picture ``mixing``."""
    return ipmix_with_trace(image, mixing, rng, config)[0]


def ipmix_with_trace(
    image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: IPMixConfig
) -> tuple[np.ndarray, Plan]:
    """As :func:`ipmix`, also returning the plan (the trace) that produced the output."""
    _check_image("image", image)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    _check_mixing(mixing, image)
    plan = sample_plan(rng, image.shape[0], image.shape[1], config)
    return _apply_checked(image, mixing, plan), plan
