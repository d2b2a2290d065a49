"""AugMix (google-research/augmix): the plan's structure against the definition, the blend, replay, presets."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import numpy as np
import pytest

from conftest import assert_share, photo_like
from ipmix_cli import AugMixConfig, ConfigError, apply_plan, augmix, augmix_with_trace
from ipmix_cli.engine.augmix import sample_plan
from ipmix_cli.engine.ops import AUGMIX_ALL_OPS, AUGMIX_OPS, apply_image_op

N_PLANS = 20000


@pytest.fixture(scope="module")
def plans():
    rng = np.random.default_rng(31)
    config = AugMixConfig.preset("cifar")
    return [sample_plan(rng, 32, 32, config) for _ in range(N_PLANS)]


def test_presets_follow_the_reference_scripts():
    cifar, imagenet = AugMixConfig.preset("cifar"), AugMixConfig.preset("imagenet")
    # cifar.py: --mixture-width 3, --mixture-depth -1, --aug-severity 3, weights Dirichlet([1]*3), Beta(1, 1)
    assert (cifar.chains, cifar.depth, cifar.severity, cifar.alpha) == (3, None, 3, 1.0)
    # imagenet.py: the same but --aug-severity 1 (and --aug-prob-coeff 1)
    assert (imagenet.chains, imagenet.depth, imagenet.severity, imagenet.alpha) == (3, None, 1, 1.0)
    assert cifar.ops == AUGMIX_OPS and "mirror" not in AUGMIX_ALL_OPS and "invert" not in AUGMIX_ALL_OPS
    assert AugMixConfig.for_image("auto", 64, 64).variant == "cifar"
    assert AugMixConfig.for_image("auto", 65, 300).severity == 1


@pytest.mark.slow
def test_chain_count_and_depths(plans):
    chains = [chain for plan in plans for chain in plan["chains"]]
    assert all(len(plan["chains"]) == 3 for plan in plans)
    depths = Counter(len(chain["steps"]) for chain in chains)
    assert set(depths) == {1, 2, 3}
    for depth in (1, 2, 3):
        assert_share(depths[depth], len(chains), 1 / 3, f"depth {depth}")


def test_fixed_depth_and_width():
    config = dataclasses.replace(AugMixConfig(), chains=5, depth=2)
    rng = np.random.default_rng(0)
    for _ in range(200):
        plan = sample_plan(rng, 20, 30, config)
        assert [len(chain["steps"]) for chain in plan["chains"]] == [2] * 5


@pytest.mark.slow
@pytest.mark.parametrize("all_ops", [False, True])
def test_operations_are_drawn_uniformly_from_augmix_list(plans, all_ops):
    if all_ops:
        rng = np.random.default_rng(5)
        config = dataclasses.replace(AugMixConfig(), ops=AUGMIX_ALL_OPS)
        plans = [sample_plan(rng, 32, 32, config) for _ in range(N_PLANS)]
    ops = AUGMIX_ALL_OPS if all_ops else AUGMIX_OPS
    steps = [step for plan in plans for chain in plan["chains"] for step in chain["steps"]]
    counts = Counter(step["op"] for step in steps)
    assert set(counts) == set(ops)
    for name in ops:
        assert_share(counts[name], len(steps), 1 / len(ops), f"operation {name}")
    # AugMix's autocontrast has no cutoff (augmentations.py: ImageOps.autocontrast(pil_img))
    assert {step["cutoff"] for step in steps if step["op"] == "autocontrast"} == {0}


def test_default_weights_are_dirichlet_ones_and_m_uniform(plans):
    weights = np.array([plan["weights"] for plan in plans])
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    n = len(weights)
    for column in weights.T:  # Dirichlet(1, 1, 1): each weight is Beta(1, 2), median 1 − √½
        assert_share(int((column < 1 - math.sqrt(0.5)).sum()), n, 0.5, "median of Beta(1, 2)")
    m = np.array([plan["m"] for plan in plans])
    assert_share(int((m < 0.25).sum()), n, 0.25, "m below 1/4")


@pytest.mark.slow
@pytest.mark.parametrize(
    "alpha, below, expected_weight, expected_m",
    [
        # weight marginal Beta(α, 2α): for α = 0.5 that is Beta(0.5, 1), CDF √x; m ~ Beta(½, ½), CDF (2/π)·asin√x
        (0.5, 0.25, 0.5, 2 / math.pi * math.asin(math.sqrt(0.25))),
        # α = 2: weight Beta(2, 4), CDF 1 − (1−x)⁵ − 5x(1−x)⁴; m ~ Beta(2, 2), CDF 3x² − 2x³
        (2.0, 1 / 3, 1 - (2 / 3) ** 5 - 5 / 3 * (2 / 3) ** 4, 3 / 9 - 2 / 27),
    ],
)
def test_weights_and_m_follow_dirichlet_and_beta_of_alpha(alpha, below, expected_weight, expected_m):
    config = dataclasses.replace(AugMixConfig(), alpha=alpha)
    rng = np.random.default_rng(int(alpha * 10))
    plans = [sample_plan(rng, 8, 8, config) for _ in range(N_PLANS)]
    weights = np.array([plan["weights"] for plan in plans])
    m = np.array([plan["m"] for plan in plans])
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12) and weights.min() >= 0
    for column in weights.T:
        assert abs(column.mean() - 1 / 3) <= 4 * math.sqrt(2 / (9 * (3 * alpha + 1))) / math.sqrt(N_PLANS)
        assert_share(int((column < below).sum()), N_PLANS, expected_weight, f"weight below {below:.3f}")
    assert_share(int((m < below).sum()), N_PLANS, expected_m, f"m below {below:.3f}")
    assert 0 < m.min() and m.max() < 1


def test_output_is_the_blend_of_the_chains():
    image = photo_like(24, 28, 3)
    output, plan = augmix_with_trace(image, np.random.default_rng(8), AugMixConfig())
    total = (1 - plan["m"]) * image.astype(np.float64)
    for weight, chain in zip(plan["weights"], plan["chains"]):
        current = image
        for step in chain["steps"]:
            current = apply_image_op(current, step)
        total += plan["m"] * weight * current
    assert np.abs(output.astype(np.float64) - np.floor(total + 0.5)).max() <= 1  # float32 vs float64 rounding


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_trace_replay_after_json_round_trip_and_determinism(preset):
    config = dataclasses.replace(AugMixConfig.preset(preset), ops=AUGMIX_ALL_OPS, alpha=0.7)
    image = photo_like(48, 40, 3)
    before = image.copy()
    outputs = set()
    for seed in range(40):
        output, plan = augmix_with_trace(image, np.random.default_rng(seed), config)
        assert plan["method"] == "augmix"
        assert apply_plan(image, None, json.loads(json.dumps(plan))).tobytes() == output.tobytes()
        assert augmix(image, np.random.default_rng(seed), config).tobytes() == output.tobytes()
        outputs.add(output.tobytes())
    assert np.array_equal(image, before) and len(outputs) > 30  # weak operations can leave a copy unchanged


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("chains", 0, "chains must be between 1 and 64"),
        ("depth", 0, "depth must be between 1 and 64"),
        ("alpha", 0.0, "alpha must be a finite number > 0"),
        ("severity", 11, "severity must be between 1 and 10"),
        ("ops", ("rotate", "mirror"), "unknown operation(s) 'mirror' for augmix; valid: autocontrast, equalize"),
    ],
)
def test_invalid_configurations_say_what_is_wrong(field, value, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(AugMixConfig(), **{field: value})
    assert message in str(error.value)
