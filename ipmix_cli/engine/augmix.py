"""AugMix (Hendrycks et al., ICLR 2020) as google-research/augmix defines it: sample a plan, apply it.

``width`` chains (our ``chains``), each of ``depth`` operations (drawn from 1…3 per chain unless fixed) drawn
uniformly from AugMix's list at the configured severity, starting from the original; chain weights from
Dirichlet(α, …, α), the skip weight ``m`` from Beta(α, α); the result is ``(1 − m)·x + m·Σ wᵢ·chainᵢ``. The
draws come in the reference's order (``augment_and_mix.py``, ``cifar.py``): the weights, ``m``, then each
chain's depth and operations. AugMix uses no mixing picture.
"""

from __future__ import annotations

import numpy as np

from . import compiled
from .blend import blend_chains
from .config import AugMixConfig
from .draws import Draws
from .ipmix import chain_formula
from .ops import AUGMIX_LEVELS, iterate_ops, sample_image_op
from .plans import Explanation, Plan, sample_and_apply

#: The reference's stochastic depth (its ``--mixture-depth -1``): uniform on 1…3.
STOCHASTIC_DEPTHS = (1, 3)


def sample_plan(rng: np.random.Generator, height: int, width: int, config: AugMixConfig) -> Plan:
    """Draw everything random about one AugMix output of an ``height``×``width`` image."""
    draws = Draws(rng)
    weights = draws.dirichlet(config.alpha, config.chains)
    m = draws.beta(config.alpha, config.alpha)
    chains = []
    for _ in range(config.chains):
        depth = config.depth or draws.integer(*STOCHASTIC_DEPTHS)
        steps = [
            sample_image_op(draws, config.ops, config.severity, height, width, AUGMIX_LEVELS) for _ in range(depth)
        ]
        chains.append({"steps": steps})
    return {"method": "augmix", "height": height, "width": width, "weights": weights, "m": m, "chains": chains}


@compiled.counted
def apply_checked(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> np.ndarray:
    """Apply a sampled AugMix plan (``mixing`` is not used; ``methods.apply_plan`` checks the arguments)."""
    return blend_chains(image, plan["m"], plan["weights"], plan["chains"], _run_chain)


def _run_chain(image: np.ndarray, chain: dict) -> np.ndarray:
    current = image
    for current in iterate_ops(image, chain["steps"]):
        pass
    return current


def explain(image: np.ndarray, mixing: np.ndarray | None, plan: Plan) -> Explanation:
    """Each chain after each of its operations, with its weight."""
    rows = []
    for number, (weight, chain) in enumerate(zip(plan["weights"], plan["chains"]), start=1):
        row = [(f"chain {number} w={weight:.2f}", image)]
        row.extend(zip(chain["steps"], iterate_ops(image, chain["steps"])))
        rows.append(row)
    return Explanation(rows, f"m = {plan['m']:.2f}", chain_formula(plan["m"], plan["weights"]))


def augmix(image: np.ndarray, rng: np.random.Generator, config: AugMixConfig) -> np.ndarray:
    """One AugMix output of ``image`` (H×W×3 uint8); the input is not modified."""
    return augmix_with_trace(image, rng, config)[0]


def augmix_with_trace(image: np.ndarray, rng: np.random.Generator, config: AugMixConfig) -> tuple[np.ndarray, Plan]:
    """As :func:`augmix`, also returning the plan (the trace) that produced the output."""
    return sample_and_apply(image, None, rng, config, sample_plan, apply_checked)
