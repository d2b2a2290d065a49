"""What every method's plans share: the checks before one is sampled or applied, and its explanation.

A plan is plain JSON-serialisable data holding every random draw of one output (``method``, ``height``,
``width`` and the method's own fields), so it doubles as the output's trace: applying a plan that went
through ``json.dumps``/``json.loads`` gives the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Plan = dict


@dataclass(frozen=True)
class Explanation:
    """One output taken apart, for ``ipmix preview --explain``.

    ``rows`` are sequences of (caption, pixels): a caption is a heading (a string) or a sampled step (its
    parameters, which the preview describes in words). ``summary`` is a few words on the plan's draws (e.g.
    ``m = 0.42``), ``formula`` how the rows combine into the result, with the plan's numbers.
    """

    rows: list[list[tuple[str | dict, np.ndarray]]]
    summary: str
    formula: str


def check_image(name: str, array: np.ndarray) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        got = f"{array.dtype} array of shape {array.shape}" if isinstance(array, np.ndarray) else type(array)
        raise ValueError(f"{name} must be an H×W×3 uint8 array, got {got}")
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise ValueError(f"{name} must be at least 2×2 pixels, got {array.shape[0]}×{array.shape[1]}")


def check_mixing(mixing: np.ndarray | None, image: np.ndarray) -> None:
    if mixing is not None:
        check_image("mixing", mixing)
        if mixing.shape != image.shape:
            raise ValueError(f"mixing picture shape {mixing.shape} differs from the image's {image.shape}")


def check_generator(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_plan(plan: Plan) -> None:
    """A ``ValueError`` naming the first field of ``plan`` that no sampler of ours produces. A plan may come
    from a tampered trace: its values must not wrap a patch around the image or scale a blend silently."""
    from .mixing import MIX_NAMES, OVERFLOW_MODES, PIXMIX_MIXES
    from .ops import IMAGE_OPS

    def refuse(what: str) -> None:
        raise ValueError(f"not a valid plan: {what}")

    if not isinstance(plan, dict):
        refuse(f"a {type(plan).__name__}, not a dict")
    mixes = PIXMIX_MIXES if plan.get("method") == "pixmix" else MIX_NAMES
    height, width = plan.get("height"), plan.get("width")
    if not (_is_count(height) and _is_count(width) and height >= 2 and width >= 2):
        refuse(f"height and width must be whole numbers ≥ 2, got {height!r}×{width!r}")
    if "m" in plan and not (_is_number(plan["m"]) and 0 <= plan["m"] <= 1):
        refuse(f"m must be a number in [0, 1], got {plan['m']!r}")
    if "weights" in plan:
        weights = plan["weights"]
        if not (isinstance(weights, list) and weights and all(_is_number(w) and w >= 0 for w in weights)):
            refuse(f"weights must be a list of non-negative numbers, got {weights!r}")
        if abs(sum(weights) - 1) > 1e-6:
            refuse(f"weights must sum to 1, got {sum(weights)!r}")
        if not isinstance(plan.get("chains"), list) or len(plan["chains"]) != len(weights):
            refuse("there must be one weight per chain")
    if "overflow" in plan and plan["overflow"] not in OVERFLOW_MODES:
        refuse(f"overflow must be one of {', '.join(OVERFLOW_MODES)}, got {plan['overflow']!r}")

    def walk(node) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "op" and value != "patch" and value not in IMAGE_OPS:
                refuse(f"unknown operation {value!r}")
            elif key == "mix" and value not in mixes:
                refuse(f"unknown mixing operation {value!r}")
            elif key == "box":
                if not (isinstance(value, list) and len(value) == 4 and all(_is_count(v) for v in value)):
                    refuse(f"a box must be four whole numbers, got {value!r}")
                left, top, box_width, box_height = value
                if left < 0 or top < 0 or box_width < 1 or box_height < 1:
                    refuse(f"box {value} is not inside the image")
                if left + box_width > width or top + box_height > height:
                    refuse(f"box {value} is not inside the {width}×{height} image")
            elif key in ("alpha", "gamma", "q", "factor", "degrees") and not _is_number(value):
                refuse(f"{key} must be a finite number, got {value!r}")
            else:
                walk(value)

    walk({key: value for key, value in plan.items() if key not in ("m", "weights", "overflow")})


def check_plan_fits(plan: Plan, image: np.ndarray) -> None:
    check_plan(plan)
    if image.shape[:2] != (plan["height"], plan["width"]):
        raise ValueError(
            f"the plan was sampled for {plan['height']}×{plan['width']} but the image is "
            f"{image.shape[0]}×{image.shape[1]}"
        )


def check_and_apply(
    image: np.ndarray,
    mixing: np.ndarray | None,
    plan: Plan,
    apply: Callable[[np.ndarray, np.ndarray | None, Plan], np.ndarray],
) -> np.ndarray:
    """Check the arguments of a plan's replay, then ``apply`` them."""
    check_image("image", image)
    check_plan_fits(plan, image)
    check_mixing(mixing, image)
    try:
        return apply(image, mixing, plan)
    except (KeyError, TypeError, IndexError, AttributeError) as error:  # a field missing or of another method
        raise ValueError(f"not a valid {plan.get('method', 'ipmix')} plan: {type(error).__name__}: {error}") from None


def sample_and_apply(
    image: np.ndarray,
    mixing: np.ndarray | None,
    rng: np.random.Generator,
    config: Any,
    sample: Callable[[np.random.Generator, int, int, Any], Plan],
    apply: Callable[[np.ndarray, np.ndarray | None, Plan], np.ndarray],
) -> tuple[np.ndarray, Plan]:
    """Check the arguments, sample a plan for ``image``, apply it: what every method's one-call API does."""
    check_image("image", image)
    check_generator(rng)
    check_mixing(mixing, image)
    plan = sample(rng, image.shape[0], image.shape[1], config)
    return apply(image, mixing, plan), plan


def require_mixing(mixing: np.ndarray | Callable[[], np.ndarray] | None) -> np.ndarray:
    """The mixing picture a plan step mixes with; an error if the caller gave none.

    Every use of the mixing picture by an applier goes through here, so an applier may also be given a
    callable that makes the picture (``MixingSet.draw_deferred``): it is then made only when a step mixes with
    it (no step does in about 40 % of IPMix's copies at ``imagenet`` settings), and the bytes are the same."""
    if mixing is None:
        raise ValueError("this plan mixes with a mixing picture, but none was given")
    return mixing() if callable(mixing) else mixing
