"""One augmented image (SPEC §1.1, §1.6): sampled structure, determinism, trace replay, properties."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_share, photo_like
from ipmix_cli import ConfigError, IPMixConfig, apply_plan, ipmix, ipmix_with_trace, sample_plan

N_PLANS = 20000


@pytest.fixture(scope="module")
def cifar_plans():
    rng = np.random.default_rng(2024)
    config = IPMixConfig.preset("cifar")
    return [sample_plan(rng, 32, 32, config) for _ in range(N_PLANS)]


@pytest.fixture(scope="module")
def imagenet_plans():
    rng = np.random.default_rng(2025)
    config = IPMixConfig.preset("imagenet")
    return [sample_plan(rng, 224, 224, config) for _ in range(N_PLANS // 2)]


@pytest.mark.slow
def test_chain_modes_and_depths(cifar_plans):
    chains = [chain for plan in cifar_plans for chain in plan["chains"]]
    assert all(len(plan["chains"]) == 3 for plan in cifar_plans)
    assert_share(sum(c["mode"] == "patch" for c in chains), len(chains), 0.5, "patch chains")
    depths = Counter(len(c["steps"]) for c in chains)
    assert set(depths) == {0, 1, 2, 3}
    for depth in range(4):
        assert_share(depths[depth], len(chains), 0.25, f"depth {depth}")


@pytest.mark.slow
def test_patch_steps(cifar_plans, imagenet_plans):
    for plans, sizes, side in ((cifar_plans, (4, 8, 16, 32), 32), (imagenet_plans, (4, 8, 16, 32, 64, 224), 224)):
        steps = [s for p in plans for c in p["chains"] if c["mode"] == "patch" for s in c["steps"]]
        counts = Counter(s["size"] for s in steps)
        assert set(counts) == set(sizes)
        for size in sizes:
            assert_share(counts[size], len(steps), 1 / len(sizes), f"patch size {size}")
        mixes = Counter(s["mix"] for s in steps)
        for name in ("add", "multiply", "random_pixels", "random_elems"):
            assert_share(mixes[name], len(steps), 0.25, f"mix {name}")
        big = [s for s in steps if s["size"] >= 8]
        exact_square = sum(s["box"][2] == s["box"][3] == s["size"] for s in big)
        # a free rectangle is also size×size with probability 1/(size−1)²
        expected = np.mean([0.5 + 0.5 / (s["size"] - 1) ** 2 for s in big])
        assert_share(exact_square, len(big), expected, "square patches")
        for s in steps:
            left, top, width, height = s["box"]
            assert 2 <= width <= s["size"] and 2 <= height <= s["size"]
            assert 0 <= left <= side - s["size"] and 0 <= top <= side - s["size"]


@pytest.mark.slow
def test_sources_follow_the_variant(cifar_plans, imagenet_plans):
    cifar_sources = {s["source"] for p in cifar_plans for c in p["chains"] for s in c["steps"] if s["op"] == "patch"}
    assert cifar_sources == {"mixing"}
    steps = [s for p in imagenet_plans for c in p["chains"] for s in c["steps"] if s["op"] == "patch"]
    augmented = [s for s in steps if s["source"] != "mixing"]
    assert_share(len(augmented), len(steps), 0.5, "imagenet sources that augment the original")
    names = Counter(s["source"]["op"] for s in augmented)
    assert set(names) == set(IPMixConfig.preset("imagenet").ops)


def test_image_steps_draw_operations_uniformly(cifar_plans):
    steps = [s for p in cifar_plans for c in p["chains"] if c["mode"] == "image" for s in c["steps"]]
    counts = Counter(s["op"] for s in steps)
    ops = IPMixConfig.preset("cifar").ops
    assert set(counts) == set(ops)
    for name in ops:
        assert_share(counts[name], len(steps), 1 / len(ops), f"operation {name}")


def test_weights_are_dirichlet_ones_and_m_is_uniform(cifar_plans):
    weights = np.array([p["weights"] for p in cifar_plans])
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    assert weights.min() > 0
    n = len(weights)
    # Dirichlet(1,1,1): each weight is Beta(1, 2), mean 1/3, sd sqrt(2/36)
    for column in weights.T:
        assert abs(column.mean() - 1 / 3) <= 4 * np.sqrt(2 / 36) / np.sqrt(n)
        assert_share(int((column < 1 - np.sqrt(0.5)).sum()), n, 0.5, "median of Beta(1, 2)")
    m = np.array([p["m"] for p in cifar_plans])
    assert_share(int((m < 0.25).sum()), n, 0.25, "m below 1/4")
    assert_share(int((m < 0.5).sum()), n, 0.5, "m below 1/2")


def test_patch_sizes_scale_with_the_image():
    cifar, imagenet = IPMixConfig.preset("cifar"), IPMixConfig.preset("imagenet")
    assert cifar.patch_sizes_for(32, 32) == (4, 8, 16, 32)
    assert imagenet.patch_sizes_for(224, 224) == (4, 8, 16, 32, 64, 224)
    assert cifar.patch_sizes_for(2, 2) == (2, 2, 2, 2)
    assert cifar.patch_sizes_for(37, 301) == (5, 9, 19, 37)  # 4·37/32 = 4.625 → 5; 18.5 → 19 (half up)
    assert imagenet.patch_sizes_for(448, 600) == (8, 16, 32, 64, 128, 448)
    assert imagenet.patch_sizes_for(112, 112) == (2, 4, 8, 16, 32, 112)
    absolute = dataclasses.replace(cifar, patch_sizes=(4, 8, 100), reference_side=None)
    assert absolute.patch_sizes_for(64, 50) == (4, 8, 50)


def test_auto_preset_follows_the_shorter_side():
    assert IPMixConfig.for_image("auto", 64, 500).variant == "cifar"
    assert IPMixConfig.for_image("auto", 65, 65).variant == "imagenet"
    assert IPMixConfig.for_image("auto", 500, 40, beta=2.0).beta == 2.0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("chains", 0, "chains must be between 1 and 64"),
        ("depth", -1, "depth must be between 0 and 64"),
        ("beta", 0.0, "beta must be a finite number > 0"),
        ("beta", float("nan"), "beta must be a finite number > 0"),
        ("severity", 11, "severity must be between 1 and 10"),
        ("severity", 2.5, "severity must be an integer"),
        ("ops", ("rotate", "blur"), "unknown operation(s) 'blur' for ipmix; valid: equalize, posterize"),
        ("ops", (), "ops must name at least one operation"),
        ("ops", ("rotate", "rotate"), "ops lists an operation twice"),
        ("patch_sizes", (4, 1), "each patch size must be at least 2"),
        ("patch_sizes", (), "patch_sizes must hold at least one size"),
        ("overflow", "saturate", "overflow must be one of wrap, clip"),
        ("variant", "svhn", "variant must be one of cifar, imagenet"),
    ],
)
def test_invalid_configurations_say_what_is_wrong(field, value, message):
    with pytest.raises(ConfigError) as error:
        dataclasses.replace(IPMixConfig.preset("cifar"), **{field: value})
    assert message in str(error.value)


def test_unknown_preset_is_an_error():
    with pytest.raises(ConfigError, match="unknown preset 'svhn'"):
        IPMixConfig.preset("svhn")


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_same_generator_state_gives_the_same_bytes(preset):
    config = IPMixConfig.preset(preset)
    side = 32 if preset == "cifar" else 96
    image, mixing = photo_like(side, side, 1), photo_like(side, side, 2)
    for seed in range(20):
        first = ipmix(image, mixing, np.random.default_rng(seed), config)
        second = ipmix(image, mixing, np.random.default_rng(seed), config)
        assert first.tobytes() == second.tobytes()
    outputs = {ipmix(image, mixing, np.random.default_rng(s), config).tobytes() for s in range(20)}
    assert len(outputs) > 15  # different generators give different images (depth 0 everywhere is rare)


@pytest.mark.parametrize("overflow", ["wrap", "clip"])
@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_trace_replay_after_json_round_trip_gives_the_same_bytes(preset, overflow):
    config = dataclasses.replace(
        IPMixConfig.preset(preset),
        overflow=overflow,
        ops=IPMixConfig().ops + ("autocontrast", "color", "contrast", "brightness", "sharpness"),
    )
    image, mixing = photo_like(48, 40, 3), photo_like(48, 40, 4)
    for seed in range(60):
        output, plan = ipmix_with_trace(image, mixing, np.random.default_rng(seed), config)
        replayed = apply_plan(image, mixing, json.loads(json.dumps(plan)))
        assert replayed.tobytes() == output.tobytes()


def test_overflow_mode_changes_only_add_and_multiply_patches():
    image, mixing = photo_like(32, 32, 5), photo_like(32, 32, 6)
    wrap = IPMixConfig.preset("cifar")
    clip = dataclasses.replace(wrap, overflow="clip")
    differ = sum(
        not np.array_equal(
            ipmix(image, mixing, np.random.default_rng(s), wrap), ipmix(image, mixing, np.random.default_rng(s), clip)
        )
        for s in range(40)
    )
    assert differ > 5


def test_depth_zero_returns_the_image():
    config = dataclasses.replace(IPMixConfig.preset("cifar"), depth=0)
    image = photo_like(20, 30, 1)
    assert np.array_equal(ipmix(image, photo_like(20, 30, 2), np.random.default_rng(0), config), image)


def test_bad_arrays_are_rejected_with_clear_errors():
    config = IPMixConfig.preset("cifar")
    rng = np.random.default_rng(0)
    good = photo_like(8, 8)
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        ipmix(good.astype(np.float32), good, rng, config)
    with pytest.raises(ValueError, match="at least 2×2"):
        ipmix(good[:1], good[:1], rng, config)
    with pytest.raises(ValueError, match="differs from the image"):
        ipmix(good, photo_like(9, 8), rng, config)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        ipmix(good, good, 0, config)


sizes = st.tuples(st.integers(2, 70), st.integers(2, 70)) | st.sampled_from(
    [(2, 2), (37, 301), (301, 37), (224, 224), (3, 200)]
)


@settings(max_examples=60, deadline=None)
@given(
    size=sizes,
    seed=st.integers(0, 2**32 - 1),
    preset=st.sampled_from(["cifar", "imagenet"]),
    overflow=st.sampled_from(["wrap", "clip"]),
    all_ops=st.booleans(),
)
def test_outputs_keep_shape_and_dtype_and_inputs_are_untouched(size, seed, preset, overflow, all_ops):
    config = IPMixConfig.preset(preset)
    config = dataclasses.replace(
        config,
        overflow=overflow,
        ops=config.ops + (("autocontrast", "color", "contrast", "brightness", "sharpness") if all_ops else ()),
    )
    image = photo_like(*size, seed=seed % 1000)
    mixing = photo_like(*size, seed=seed % 997 + 1)
    image_before, mixing_before = image.copy(), mixing.copy()
    mixing.setflags(write=False)  # the engine must not need to write to the mixing picture
    output, plan = ipmix_with_trace(image, mixing, np.random.default_rng(seed), config)
    assert output.shape == image.shape and output.dtype == np.uint8
    assert np.array_equal(image, image_before) and np.array_equal(mixing, mixing_before)
    assert apply_plan(image, mixing, json.loads(json.dumps(plan))).tobytes() == output.tobytes()
