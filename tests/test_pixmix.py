"""PixMix (andyzoujm/pixmix): the plan's structure against the definition, the float32 mixing, replay, presets."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import assert_share, photo_like
from ipmix_cli import ConfigError, PixMixConfig, apply_plan, pixmix, pixmix_with_trace
from ipmix_cli.engine.mixing import mix_float, to_bytes, to_float
from ipmix_cli.engine.ops import AUGMIX_LEVELS, AUGMIX_OPS, apply_image_op
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


@pytest.mark.slow
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


# --- cifar.py's pixmix() replayed on fixed draws ------------------------------------------------------
#
# What andyzoujm/pixmix does for one CIFAR image, written out step by step: ``orig`` is a PIL image; the start
# is ``augment_input(orig)`` or ``orig``, made a tensor (``ToTensor``: byte / 255 in float32); each round mixes
# that tensor with ``tensorize(augment_input(orig))`` (an augmentation of the *original*, never of the mixed
# image) or ``tensorize(mixing_pic)``, by ``add`` or ``multiply`` with ``get_ab(beta)``'s coefficients, then
# ``torch.clip(mixed, 0, 1)``; ``normalize`` comes last and is affine, so the float32 tensor before it is
# compared. An operation draw is (name, level, sign flipped), as ``pixmix_utils`` draws them
# (``sample_level`` then ``uniform() > 0.5`` or ``random() > 0.5``); a coefficient draw is (branch, x, y):
# branch 1 is ``a = float32(x)``, ``b = float32(y)``, branch 2 ``a = 1 + float32(x)``, ``b = −float32(y)``.

REFERENCE_DRAWS = [  # (start operation or None, [(source: operation or "mixing", mix, coefficient draw)])
    (None, []),
    (("rotate", 2.71, True), []),
    (None, [("mixing", "add", (1, 0.8312, 0.2214))]),
    (("shear_x", 2.93, False), [(("solarize", 2.6, False), "multiply", (2, 0.3871, 0.6125))]),
    (
        ("autocontrast", 1.3, False),
        [
            (("translate_y", 2.95, True), "add", (2, 0.9503, 0.8817)),
            ("mixing", "multiply", (1, 0.4427, 0.0931)),
            (("equalize", 0.4, False), "add", (1, 0.6672, 0.4412)),
            (("shear_y", 2.2, True), "multiply", (2, 0.1205, 0.9968)),
        ],
    ),
    (
        ("posterize", 2.77, False),
        [
            (("rotate", 1.8, False), "multiply", (1, 0.9712, 0.5504)),
            (("translate_x", 2.3, False), "add", (2, 0.5014, 0.3303)),
            ("mixing", "add", (2, 0.0722, 0.7761)),
        ],
    ),
    (("solarize", 1.15, False), [(("posterize", 0.9, False), "add", (1, 0.2988, 0.9101))]),
    (("equalize", 2.0, False), [("mixing", "multiply", (2, 0.8845, 0.0517)), ("mixing", "add", (1, 0.99, 0.01))]),
    (("translate_x", 2.99, True), [(("autocontrast", 0.7, False), "multiply", (1, 0.2461, 0.7385))]),
]
BILINEAR = Image.Resampling.BILINEAR


def _reference_augment(orig: Image.Image, draw) -> Image.Image:
    """``augment_input(orig)``: one of ``pixmix_utils.augmentations`` at ``level``, on a copy of ``orig``."""
    name, level, flipped = draw
    size = orig.size  # pixmix_utils.IMAGE_SIZE: 32 for CIFAR

    def int_parameter(maxval):
        return int(level * maxval / 10)

    def float_parameter(maxval):
        return float(level) * maxval / 10.0

    def signed(value):
        return -value if flipped else value

    image = orig.copy()
    if name == "autocontrast":
        return ImageOps.autocontrast(image)
    if name == "equalize":
        return ImageOps.equalize(image)
    if name == "posterize":
        return ImageOps.posterize(image, 4 - int_parameter(4))
    if name == "rotate":
        return image.rotate(signed(int_parameter(30)), resample=BILINEAR)
    if name == "solarize":
        return ImageOps.solarize(image, 256 - int_parameter(256))
    if name in ("shear_x", "shear_y"):
        shear = signed(float_parameter(0.3))
        matrix = (1, shear, 0, 0, 1, 0) if name == "shear_x" else (1, 0, 0, shear, 1, 0)
        return image.transform(size, Image.Transform.AFFINE, matrix, resample=BILINEAR)
    shift = signed(int_parameter(size[0] / 3))
    matrix = (1, 0, shift, 0, 1, 0) if name == "translate_x" else (1, 0, 0, 0, 1, shift)
    return image.transform(size, Image.Transform.AFFINE, matrix, resample=BILINEAR)


def _tensorize(image: Image.Image) -> np.ndarray:
    return np.asarray(image).astype(F32) / F32(255)  # ToTensor (layout aside): a correctly rounded division


def _get_ab(draw):
    branch, x, y = draw
    if branch == 1:
        return F32(x), F32(y)
    return 1 + F32(x), -F32(y)  # a numpy float32 sum


def _power(base, exponent):
    return (base.astype(np.float64) ** np.float64(exponent)).astype(F32)  # torch's float32 pow, correctly rounded


def _reference_pixmix(orig: Image.Image, mixing_pic: Image.Image, draws) -> list[np.ndarray]:
    """cifar.py's ``pixmix()`` on fixed draws: the float32 image after the start and after each round."""
    start, rounds = draws
    mixed = _tensorize(orig if start is None else _reference_augment(orig, start))
    states = [mixed]
    for source, mix, coefficients in rounds:
        aug_image_copy = _tensorize(mixing_pic if source == "mixing" else _reference_augment(orig, source))
        a, b = _get_ab(coefficients)
        if mix == "add":
            img1, img2 = mixed * F32(2) - F32(1), aug_image_copy * F32(2) - F32(1)
            out = a * img1 + b * img2
            mixed = (out + F32(1)) / F32(2)
        else:
            img1, img2 = mixed * F32(2), aug_image_copy * F32(2)
            out = _power(img1, a) * _power(np.maximum(img2, F32(1e-37)), b)
            mixed = out / F32(2)
        mixed = np.clip(mixed, F32(0), F32(1))  # torch.clip(mixed, 0, 1)
        assert mixed.dtype == F32
        states.append(mixed)
    return states


class _Sign:
    """Stands in for the draws of a level mapping: its one coin is the sign (``True``: negated)."""

    def __init__(self, flipped: bool):
        self.flipped = flipped

    def coin(self) -> bool:
        return self.flipped


def _our_step(draw) -> dict:
    """The plan step our sampler makes from the same draw (its level mapping, AugMix's)."""
    name, level, flipped = draw
    return {"op": name, **AUGMIX_LEVELS[name](_Sign(flipped), level, 32, 32)}


def _our_plan(draws) -> dict:
    start, rounds = draws
    steps = []
    for source, mix, (branch, x, y) in rounds:
        alpha, gamma = (x, y) if branch == 1 else (1 + x, -y)
        picture = "mixing" if source == "mixing" else _our_step(source)
        steps.append({"source": picture, "mix": mix, "alpha": alpha, "gamma": gamma})
    return {"method": "pixmix", "height": 32, "width": 32, "start": start and _our_step(start), "rounds": steps}


def test_the_draws_cover_every_operation_mix_and_coefficient_branch():
    starts = [start for start, _ in REFERENCE_DRAWS if start]
    rounds = [step for _, steps in REFERENCE_DRAWS for step in steps]
    operations = starts + [source for source, _, _ in rounds if source != "mixing"]
    assert {name for name, _, _ in operations} == set(AUGMIX_OPS)
    assert {(mix, draw[0]) for _, mix, draw in rounds} == {(m, b) for m in ("add", "multiply") for b in (1, 2)}
    assert {len(steps) for _, steps in REFERENCE_DRAWS} == {0, 1, 2, 3, 4}  # randint(k + 1): 0…k


@pytest.mark.parametrize("draws", REFERENCE_DRAWS, ids=lambda d: f"{d[0] and d[0][0]}+{len(d[1])}")
def test_cifar_pixmix_is_the_references_arithmetic_step_by_step(draws):
    image, mixing = photo_like(32, 32, 21), photo_like(32, 32, 22)
    theirs = _reference_pixmix(Image.fromarray(image), Image.fromarray(mixing), draws)
    plan = _our_plan(draws)
    start = image if plan["start"] is None else apply_image_op(image, plan["start"])
    assert np.array_equal(to_float(start), theirs[0])  # the start: the reference's augment_input(orig)
    ours = [state for _, state in iterate_rounds(image, mixing, plan, start)]
    assert len(ours) == len(theirs) - 1
    for number, (state, expected) in enumerate(zip(ours, theirs[1:]), 1):
        assert state.dtype == F32 and np.array_equal(state, expected), f"round {number} differs"
    output = apply_plan(image, mixing, json.loads(json.dumps(plan)))
    assert np.array_equal(output, to_bytes(theirs[-1]))  # rounded once, at the end


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
