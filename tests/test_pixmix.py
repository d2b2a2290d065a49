"""PixMix (andyzoujm/pixmix): the plan's structure against the definition, the float32 mixing, replay, presets."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest

from conftest import assert_share, photo_like
from ipmix_cli import ConfigError, PixMixConfig, apply_plan, pixmix, pixmix_with_trace
from ipmix_cli.engine.mixing import mix_float, to_bytes, to_float
from ipmix_cli.engine.ops import AUGMIX_OPS, apply_image_op
from ipmix_cli.engine.pixmix import iterate_rounds, sample_plan

N_PLANS = 20000
F32 = np.float32


@pytest.fixture(scope="module")
def plans():
    rng = np.random.default_rng(41)
    config = PixMixConfig.preset("cifar")
    return [sample_plan(rng, 32, 32, config) for _ in range(N_PLANS)]


def test_presets_follow_the_reference_scripts():
    cifar, imagenet = PixMixConfig.preset("cifar"), PixMixConfig.preset("imagenet")
    # cifar.py: --beta 3, --k 4, --aug-severity 3; imagenet.py: --beta 4, --k 4, --aug-severity 1
    assert (cifar.beta, cifar.rounds, cifar.severity) == (3.0, 4, 3)
    assert (imagenet.beta, imagenet.rounds, imagenet.severity) == (4.0, 4, 1)
    assert cifar.ops == AUGMIX_OPS  # pixmix_utils.augmentations: AugMix's list
    assert cifar.cover_ratio == (36, 32) and imagenet.cover_ratio == (256, 224)  # Resize(36)/Crop(32), 256/224


def test_start_rounds_sources_and_mixes(plans):
    assert_share(sum(plan["start"] is not None for plan in plans), N_PLANS, 0.5, "augmented starts")
    counts = Counter(len(plan["rounds"]) for plan in plans)
    assert set(counts) == {0, 1, 2, 3, 4}  # randint(k + 1): 0…k
    for rounds in range(5):
        assert_share(counts[rounds], N_PLANS, 0.2, f"{rounds} rounds")
    steps = [step for plan in plans for step in plan["rounds"]]
    augmented = [step for step in steps if step["source"] != "mixing"]
    assert_share(len(augmented), len(steps), 0.5, "rounds mixing an augmented original")
    assert_share(sum(step["mix"] == "add" for step in steps), len(steps), 0.5, "add rather than multiply")
    assert {step["mix"] for step in steps} == {"add", "multiply"}
    assert_share(sum(step["gamma"] >= 0 for step in steps), len(steps), 0.5, "first coefficient branch")
    operations = [step["source"] for step in augmented] + [plan["start"] for plan in plans if plan["start"]]
    names = Counter(op["op"] for op in operations)
    for name in AUGMIX_OPS:
        assert_share(names[name], len(operations), 1 / len(AUGMIX_OPS), f"operation {name}")
    assert {op["cutoff"] for op in operations if op["op"] == "autocontrast"} == {0}


def _reference_round(mixed, source, params):
    """pixmix_utils.add / multiply then torch.clip(0, 1), written out in float32 (powers correctly rounded)."""
    u = params["alpha"]
    alpha = F32(u) if u <= 1 else F32(1) + F32(u - 1)
    gamma = F32(params["gamma"])
    img1 = mixed * F32(2)
    img2 = source.astype(F32) / F32(255) * F32(2)
    if params["mix"] == "add":
        out = alpha * (img1 - F32(1)) + gamma * (img2 - F32(1))
        out = (out + F32(1)) / F32(2)
    else:
        first = (img1.astype(np.float64) ** np.float64(alpha)).astype(F32)
        second = (np.maximum(img2, F32(1e-37)).astype(np.float64) ** np.float64(gamma)).astype(F32)
        out = first * second / F32(2)
    return np.clip(out, F32(0), F32(1))


@pytest.mark.parametrize("name", ["add", "multiply"])
@pytest.mark.parametrize("alpha, gamma", [(0.74, 0.13), (1.31, -0.42), (1.02, -0.07), (0.2, 0.9)])
def test_mixing_is_the_references_float32_arithmetic(name, alpha, gamma):
    rng = np.random.default_rng(3)
    source = np.repeat(np.arange(256, dtype=np.uint8), 3 * 64).reshape(256, 64, 3)  # every source byte
    for mixed in (to_float(rng.integers(0, 256, (256, 64, 3), dtype=np.uint8)), rng.random((256, 64, 3), F32)):
        mixed[0, :4] = np.array([0, 1, 0.5, 1e-7], F32)[:, None]  # the ends of [0, 1] and a tiny value
        params = {"mix": name, "alpha": alpha, "gamma": gamma}
        ours = mix_float(mixed, source, params)
        assert ours.dtype == F32 and np.array_equal(ours, _reference_round(mixed, source, params))
        assert ours.min() >= 0 and ours.max() <= 1


def test_the_image_stays_float32_between_rounds_and_is_clipped_after_each():
    image, mixing = photo_like(32, 32, 1), photo_like(32, 32, 2)
    config = dataclasses.replace(PixMixConfig(), rounds=4)
    quantising_would_differ = clipped = 0
    for seed in range(200):
        output, plan = pixmix_with_trace(image, mixing, np.random.default_rng(seed), config)
        start = image if plan["start"] is None else apply_image_op(image, plan["start"])
        if not plan["rounds"]:
            assert np.array_equal(output, start)  # byte → float32 → byte gives the byte back
            continue
        mixed = start.astype(F32) / F32(255)
        as_bytes = start
        for step in plan["rounds"]:
            source = mixing if step["source"] == "mixing" else apply_image_op(image, step["source"])
            mixed = _reference_round(mixed, source, step)
            clipped += int(((mixed == 0) | (mixed == 1)).any())
            as_bytes = to_bytes(_reference_round(to_float(as_bytes), source, step))  # a byte image between rounds
        assert np.array_equal(output, to_bytes(mixed))
        quantising_would_differ += not np.array_equal(output, as_bytes)
        states = [state for _, state in iterate_rounds(image, mixing, plan, start)]
        assert all(state.dtype == F32 and 0 <= state.min() and state.max() <= 1 for state in states)
    assert clipped > 20 and quantising_would_differ > 10


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_trace_replay_after_json_round_trip_and_determinism(preset):
    config = PixMixConfig.preset(preset)
    image, mixing = photo_like(48, 40, 3), photo_like(48, 40, 4)
    before = image.copy()
    mixing.setflags(write=False)
    outputs = set()
    for seed in range(40):
        output, plan = pixmix_with_trace(image, mixing, np.random.default_rng(seed), config)
        assert plan["method"] == "pixmix"
        assert apply_plan(image, mixing, json.loads(json.dumps(plan))).tobytes() == output.tobytes()
        assert pixmix(image, mixing, np.random.default_rng(seed), config).tobytes() == output.tobytes()
        outputs.add(output.tobytes())
    assert np.array_equal(image, before) and len(outputs) > 25  # zero rounds without a start: the image


def test_a_plan_that_mixes_a_picture_needs_one():
    plan = {
        "method": "pixmix",
        "height": 8,
        "width": 8,
        "start": None,
        "rounds": [{"source": "mixing", "mix": "add", "alpha": 0.5, "gamma": 0.5}],
    }
    with pytest.raises(ValueError, match="none was given"):
        apply_plan(photo_like(8, 8), None, plan)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("rounds", -1, "rounds must be between 0 and 64"),
        ("beta", 0.0, "beta must be a finite number > 0"),
        ("severity", 0, "severity must be between 1 and 10"),
        ("ops", ("invert",), "unknown operation(s) 'invert' for pixmix"),
    ],
)
def test_invalid_configurations_say_what_is_wrong(field, value, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(PixMixConfig(), **{field: value})
    assert message in str(error.value)
