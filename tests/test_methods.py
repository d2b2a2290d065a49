"""The registry of methods: settings checked against the method, plans dispatched by it, the transforms."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import photo_like
from ipmix_cli import AugMix, AugMixConfig, IPMix, IPMixConfig, PixMix, PixMixConfig, apply_plan, sample_plan
from ipmix_cli.engine.config import ConfigError
from ipmix_cli.engine.copies import ConfigResolver, augment_copy
from ipmix_cli.engine.methods import METHODS, check_settings, engine_overrides, method_of
from ipmix_cli.engine.ops import ALL_OPS, AUGMIX_ALL_OPS
from ipmix_cli.mixsets.mixing_set import MixingSet

CONFIGS = {"ipmix": IPMixConfig, "augmix": AugMixConfig, "pixmix": PixMixConfig}


def test_every_method_is_registered_with_its_configuration():
    assert list(METHODS) == ["ipmix", "augmix", "pixmix"]
    for name, config in CONFIGS.items():
        assert METHODS[name].config is config and method_of(config()) is METHODS[name]
    assert [name for name, method in METHODS.items() if method.uses_mixing] == ["ipmix", "pixmix"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"method": "augmix", "patch_sizes": (4, 8)}, "--patch-sizes does not apply to --method augmix"),
        ({"method": "augmix", "mixing_set": "m"}, "--mixing-set does not apply to --method augmix"),
        ({"method": "augmix", "overflow": "clip", "beta": 2.0}, "--beta, --overflow do not apply to --method augmix"),
        ({"method": "pixmix", "chains": 2}, "--chains does not apply to --method pixmix"),
        ({"method": "ipmix", "alpha": 0.5}, "--alpha does not apply to --method ipmix"),
        ({"method": "ipmix", "rounds": 2}, "--rounds does not apply to --method ipmix"),
        ({"method": "cutmix"}, "unknown method 'cutmix'; use one of ipmix, augmix, pixmix"),
        ({"method": "augmix", "ops": ("rotate",), "all_ops": True}, "--ops and --all-ops contradict"),
        ({"method": "augmix", "ops": ("mirror",)}, "unknown operation(s) 'mirror' for augmix"),
        ({"method": "augmix", "depth": 0}, "depth must be between 1 and 64"),
    ],
)
def test_settings_that_do_not_apply_to_the_method_are_errors_naming_both(settings, message):
    with pytest.raises(ConfigError) as error:
        engine_overrides(settings)
    assert message in str(error.value)


def test_settings_become_the_methods_overrides():
    assert engine_overrides({"method": "augmix", "all_ops": True, "alpha": 0.5, "depth": 2}) == {
        "alpha": 0.5,
        "depth": 2,
        "ops": AUGMIX_ALL_OPS,
    }
    assert engine_overrides({"method": "ipmix", "all_ops": True, "patch_sizes": [4, 8]}) == {
        "ops": ALL_OPS,
        "patch_sizes": (4, 8),
        "reference_side": None,
    }
    assert engine_overrides({"method": "pixmix", "rounds": 0, "beta": None, "all_ops": False}) == {"rounds": 0}
    assert check_settings({"preset": "cifar", "k": 3}) is METHODS["ipmix"]  # IPMix by default


def test_resolver_says_whether_the_method_needs_mixing_pictures():
    resolver = ConfigResolver("auto", "augmix", severity=2)
    assert not resolver.needs_mixing and resolver(32, 32) == AugMixConfig(severity=2)
    assert resolver(100, 100) == AugMixConfig(variant="imagenet", severity=2)
    assert ConfigResolver("imagenet", "pixmix").needs_mixing and set(ConfigResolver("imagenet").by_variant) == {
        "imagenet"
    }


@pytest.mark.parametrize("name", list(METHODS))
def test_any_plan_replays_through_the_registry_after_a_json_round_trip(name):
    config = CONFIGS[name].preset("cifar")
    image = photo_like(40, 36, 1)
    square = MixingSet([photo_like(64, 64, seed=4)], ["square"])
    for seed in range(30):
        made = augment_copy(image, square if METHODS[name].uses_mixing else None, np.random.default_rng(seed), config)
        trace = json.loads(json.dumps(made.trace()))
        window = None
        if trace["mixing_picture"] is not None:
            window = square.window(trace["mixing_picture"], trace["mixing_size"], trace["mixing_crop"], 40, 36)
        assert apply_plan(image, window, trace["plan"]).tobytes() == made.pixels.tobytes()
        assert sample_plan(np.random.default_rng(seed), 40, 36, config)["method"] == name
    if name == "augmix":
        assert made.mixing_picture is made.mixing_crop is made.mixing_size is made.mixing_window is None


def test_traces_of_ipmix_02_without_a_method_replay_as_ipmix():
    image, mixing = photo_like(32, 32, 1), photo_like(32, 32, 2)
    plan = sample_plan(np.random.default_rng(3), 32, 32, IPMixConfig())
    old = {key: value for key, value in plan.items() if key != "method"}
    assert apply_plan(image, mixing, old).tobytes() == apply_plan(image, mixing, plan).tobytes()


def test_a_method_with_mixing_pictures_needs_a_set():
    with pytest.raises(ValueError, match="PixMix mixes with pictures"):
        augment_copy(photo_like(8, 8), None, np.random.default_rng(0), PixMixConfig())


@pytest.mark.parametrize("transform_class, needs_set", [(AugMix, False), (PixMix, True), (IPMix, True)])
def test_transforms_are_picklable_reproducible_and_the_shared_code_path(transform_class, needs_set, mixing_dir):
    arguments = (mixing_dir,) if needs_set else ()
    transform = transform_class(*arguments, preset="auto", severity=2)
    clone = pickle.loads(pickle.dumps(transform))
    assert len(pickle.dumps(transform)) < 10_000
    pixels = photo_like(40, 90, 4)
    first = transform(Image.fromarray(pixels), rng=np.random.default_rng(5))
    assert isinstance(first, Image.Image) and first.size == (90, 40) and first.mode == "RGB"
    assert first.tobytes() == clone(pixels, rng=np.random.default_rng(5)).tobytes()
    method = transform_class.METHOD
    config = CONFIGS[method].for_image("auto", 40, 90, severity=2)
    mixing = MixingSet.from_folder(mixing_dir) if needs_set else None
    expected = augment_copy(pixels, mixing, np.random.default_rng(5), config)
    assert np.array_equal(np.array(first), expected.pixels)
    assert transform_class.__name__ in repr(transform)
    if not needs_set:
        assert transform.mixing_set is None  # AugMix never loads a mixing set


def test_transforms_reject_settings_of_other_methods():
    with pytest.raises(ConfigError, match="patch_sizes: not a setting of augmix; it has chains, depth"):
        AugMix(patch_sizes=(4,))
    with pytest.raises(ConfigError, match="alpha must be a finite number > 0"):
        AugMix(alpha=-1.0)


def _tampered_plans():
    from ipmix_cli import (
        AugMixConfig,
        IPMixConfig,
        PixMixConfig,
        augmix_with_trace,
        ipmix_with_trace,
        pixmix_with_trace,
    )

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    ipmix_plan = ipmix_with_trace(image, image, np.random.default_rng(3), IPMixConfig.preset("cifar"))[1]
    augmix_plan = augmix_with_trace(image, np.random.default_rng(3), AugMixConfig.preset("cifar"))[1]
    pixmix_plan = pixmix_with_trace(image, image, np.random.default_rng(3), PixMixConfig.preset("cifar"))[1]
    patch = next(s for c in ipmix_plan["chains"] for s in c["steps"] if "box" in s)
    yield "wrong method", {**ipmix_plan, "method": "augmix"}
    yield "pixmix as ipmix", {**pixmix_plan, "method": "ipmix"}
    yield "m above 1", {**augmix_plan, "m": 2.0}
    yield "m a string", {**augmix_plan, "m": "x"}
    yield "weights not summing to 1", {**augmix_plan, "weights": [5.0, 0.0, 0.0]}
    yield "weights of another length", {**augmix_plan, "weights": [0.5, 0.5]}
    yield "an unknown overflow", {**ipmix_plan, "overflow": "saturate"}
    yield "height a string", {**augmix_plan, "height": "32"}
    yield "a negative box", json.loads(json.dumps(ipmix_plan).replace(json.dumps(patch["box"]), "[-4, 0, 8, 8]"))
    yield (
        "a box beyond the image",
        json.loads(json.dumps(ipmix_plan).replace(json.dumps(patch["box"]), "[30, 0, 8, 8]")),
    )
    yield (
        "a mix PixMix has not",
        json.loads(
            json.dumps(pixmix_plan).replace('"add"', '"random_pixels"').replace('"multiply"', '"random_pixels"')
        ),
    )
    yield "an unknown op", {**augmix_plan, "chains": [{"steps": [{"op": "melt"}]}] * 3}
    yield "not a dict", ["method", "ipmix"]


@pytest.mark.parametrize("what, plan", list(_tampered_plans()), ids=[w for w, _ in _tampered_plans()])
def test_apply_plan_refuses_tampered_plans_with_a_value_error(what, plan):
    """A plan read back from a trace may be edited: never a crash inside numpy, never a silently wrong image."""
    from ipmix_cli import apply_plan

    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mixing = None if isinstance(plan, dict) and plan.get("method") == "augmix" else image
    with pytest.raises(ValueError):
        apply_plan(image, mixing, plan)
