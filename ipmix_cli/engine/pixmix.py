"""PixMix (Hendrycks et al., CVPR 2022) as andyzoujm/pixmix defines it: sample a plan, apply it.

With probability 1/2 the image is first augmented by one operation (AugMix's list), else taken as it is;
then ``randint(0, rounds)`` times (its ``k``, inclusive) it is mixed with either one more augmentation of the
*original* or the mixing picture (1/2 each), by ``add`` or ``multiply`` (1/2 each) with coefficients drawn
as IPMix's with ``beta``, and clipped to [0, 1]. The reference keeps the image in float32 between rounds (it
feeds the float tensor to the network, normalised): so does this, and the result is rounded to bytes once,
at the end. There is no byte wrap. The draws come in the reference's order (``cifar.py``, ``pixmix()``).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import compiled
from .config import PixMixConfig
from .draws import Draws
from .mixing import (
    PIXMIX_MIXES,
    compiles_float_round,
    mix_float,
    mix_float_first,
    mix_float_next,
    sample_mix,
    to_bytes,
    to_float,
)
from .ops import AUGMIX_LEVELS, apply_image_op, sample_image_op
from .plans import (
    Explanation,
    Plan,
    require_mixing,
    sample_and_apply,
)


def sample_plan(rng: np.random.Generator, height: int, width: int, config: PixMixConfig) -> Plan:
    """Draw everything random about one PixMix output of an ``height``×``width`` image."""
    draws = Draws(rng)

    def augmentation() -> dict:
        return sample_image_op(draws, config.ops, config.severity, height, width, AUGMIX_LEVELS)

    start = augmentation() if draws.coin() else None
    rounds = []
    for _ in range(draws.integer(0, config.rounds)):
        source = augmentation() if draws.coin() else "mixing"
        rounds.append({"source": source, **sample_mix(draws, config.beta, PIXMIX_MIXES)})
    return {"method": "pixmix", "height": height, "width": width, "start": start, "rounds": rounds}


@compiled.counted
def apply_checked(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """Apply a sampled PixMix plan (arguments already checked; ``methods.apply_plan`` checks them)."""
    start = _start(image, plan)
    if not plan["rounds"]:
        return start.copy() if start is image else start  # byte → float32 → byte gives the byte back
    kernels = compiled.active()
    if kernels is not None and all(compiles_float_round(step) for step in plan["rounds"]):
        return _apply_rounds_compiled(kernels, image, mixing, plan, start)
    mixed = None
    for _, mixed in iterate_rounds(image, mixing, plan, start, in_place=True):
        pass
    return to_bytes(mixed)


def _apply_rounds_compiled(
    kernels, image: np.ndarray, mixing: np.ndarray | None, plan: Plan, start: np.ndarray
) -> np.ndarray:
    """The rounds and the final rounding by the kernels (the same float32 values as :func:`iterate_rounds`):
    the first round from the start's bytes into one flat float32 image, each later one in place."""
    mixed = None
    for step in plan["rounds"]:
        picture = require_mixing(mixing) if step["source"] == "mixing" else apply_image_op(image, step["source"])
        source = np.ascontiguousarray(picture).reshape(-1)
        if mixed is None:
            mixed = np.empty(source.size, np.float32)
            mix_float_first(kernels, np.ascontiguousarray(start).reshape(-1), source, step, mixed)
        else:
            mix_float_next(kernels, mixed, source, step)
    out = np.empty(image.shape, np.uint8)
    kernels.float_to_bytes(mixed, out.reshape(-1))
    return out


def _start(image: np.ndarray, plan: Plan) -> np.ndarray:
    return image if plan["start"] is None else apply_image_op(image, plan["start"])


def iterate_rounds(
    image: np.ndarray, mixing: np.ndarray | None, plan: Plan, start: np.ndarray, in_place: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each round: the source it mixed in (uint8) and the float32 image after it, from ``start`` (the
    image after the plan's start step, computed once by the caller); ``in_place``: one float32 image, updated
    by every round (a state is then gone at the next round)."""
    mixed = to_float(start)
    for step in plan["rounds"]:
        source = step["source"]
        picture = require_mixing(mixing) if source == "mixing" else apply_image_op(image, source)
        mixed = mix_float(mixed, picture, step, out=mixed if in_place else None)
        yield picture, mixed


def explain(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> Explanation:
    """The start, then per round the image before it, the picture mixed in and the image after it."""
    start = plan["start"]
    before = _start(image, plan)
    rows = [[("start: the original", image)] if start is None else [("start", image), (start, before)]]
    rounds = iterate_rounds(image, mixing, plan, before)
    for number, (step, (picture, mixed)) in enumerate(zip(plan["rounds"], rounds), 1):
        after = to_bytes(mixed)
        source = "mixing picture" if step["source"] == "mixing" else step["source"]
        rows.append([(f"round {number}", before), (source, picture), (step, after)])
        before = after
    count = len(plan["rounds"])
    formula = "result = the start" if not count else "each round: mixed = clip(mix(mixed, picture), 0, 1)"
    return Explanation(rows, f"{count} mixing round{'s' if count != 1 else ''}", formula)


def pixmix(image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: PixMixConfig) -> np.ndarray:
    """One PixMix output of ``image`` (H×W×3 uint8) using the prepared mixing picture ``mixing``."""
    return pixmix_with_trace(image, mixing, rng, config)[0]


def pixmix_with_trace(
    image: np.ndarray, mixing: np.ndarray, rng: np.random.Generator, config: PixMixConfig
) -> tuple[np.ndarray, Plan]:
    """As :func:`pixmix`, also returning the plan (the trace) that produced the output."""
    return sample_and_apply(image, mixing, rng, config, sample_plan, apply_checked)
