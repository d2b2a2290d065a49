"""What every method's plans share: the checks before one is sampled or applied, and its explanation.

A plan is plain JSON-serialisable data holding every random draw of one output (``method``, ``height``,
``width`` and the method's own fields), so it doubles as the output's trace: applying a plan that went
through ``json.dumps``/``json.loads`` gives the same bytes.
"""

from __future__ import annotations

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


def check_plan_fits(plan: Plan, image: np.ndarray) -> None:
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
    return apply(image, mixing, plan)


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


def require_mixing(mixing: np.ndarray | None) -> np.ndarray:
    """The mixing picture a plan step mixes with; an error if the caller gave none."""
    if mixing is None:
        raise ValueError("this plan mixes with a mixing picture, but none was given")
    return mixing
