"""IPMix, one augmented image (SPEC §1.1): sample every random draw into a plan, then apply the plan.

The plan is plain JSON-serialisable data, so it doubles as the trace of an output: applying a plan that
went through ``json.dumps``/``json.loads`` gives the same bytes.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import compiled
from .blend import blend_chains
from .config import IPMixConfig
from .draws import Draws
from .mixing import mix_into_box, sample_box, sample_mix
from .ops import apply_image_op_region, iterate_ops, sample_image_op
from .plans import (
    Explanation,
    Plan,
    check_and_apply,
    require_mixing,
    sample_and_apply,
)


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
        "method": "ipmix",
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
    """Apply a sampled IPMix plan to ``image`` with mixing picture ``mixing``; neither input is modified."""
    return check_and_apply(image, mixing, plan, apply_checked)


@compiled.counted
def apply_checked(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """:func:`apply_plan` for arguments already checked (the checks cost several µs on a 32×32 image)."""

    def run(image: np.ndarray, chain: dict) -> np.ndarray:
        current = image
        for current in iterate_chain(image, mixing, chain, plan["overflow"]):
            pass
        return current

    return blend_chains(image, plan["m"], plan["weights"], plan["chains"], run)


def iterate_chain(image: np.ndarray, mixing: np.ndarray | None, chain: dict, overflow: str) -> Iterator[np.ndarray]:
    """The chain's image after each of its steps (a patch chain updates one array in place: copy to keep)."""
    if chain["mode"] == "image":
        yield from iterate_ops(image, chain["steps"])
        return
    current = image.copy()
    for step in chain["steps"]:
        box, source = step["box"], step["source"]
        if source == "mixing":
            mix_into_box(current, box, require_mixing(mixing), box[:2], step, overflow)
        else:
            mix_into_box(current, box, apply_image_op_region(image, source, box), (0, 0), step, overflow)
        yield current


def explain(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> Explanation:
    """Each chain after each of its steps, with its weight and mode."""
    rows = []
    for number, (weight, chain) in enumerate(zip(plan["weights"], plan["chains"]), start=1):
        if not chain["steps"]:
            rows.append([(f"chain {number} w={weight:.2f}: depth 0", image)])
            continue
        row = [(f"chain {number} ({chain['mode']}) w={weight:.2f}", image)]
        for step, state in zip(chain["steps"], iterate_chain(image, mixing, chain, plan["overflow"])):
            row.append((step, state.copy()))
        rows.append(row)
    return Explanation(rows, f"m = {plan['m']:.2f}", chain_formula(plan["m"], plan["weights"]))


def chain_formula(m: float, weights: list[float]) -> str:
    """``result = (1 − m)*original + Σ (m·wᵢ)*chainᵢ`` with the numbers filled in."""
    terms = " + ".join(f"{m * w:.2f}*chain{i + 1}" for i, w in enumerate(weights))
    return f"result = {1 - m:.2f}*original + {terms}"


def ipmix(image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: IPMixConfig) -> np.ndarray:
    """One IPMix output of ``image`` (H×W×3 uint8) using the prepared mixing picture ``mixing``."""
    return ipmix_with_trace(image, mixing, rng, config)[0]


def ipmix_with_trace(
    image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: IPMixConfig
) -> tuple[np.ndarray, Plan]:
    """As :func:`ipmix`, also returning the plan (the trace) that produced the output."""
    return sample_and_apply(image, mixing, rng, config, sample_plan, apply_checked)
