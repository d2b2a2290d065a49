"""Working memory of a copy: many chains are blended from a running total and plain steps work in bands of rows
(or lines); the bytes stay those of whole-image arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from conftest import photo_like  # noqa: E402
from ipmix_cli.engine import bands, compiled, methods  # noqa: E402
from ipmix_cli.engine import blend as blending  # noqa: E402
from ipmix_cli.engine.config import AugMixConfig, IPMixConfig  # noqa: E402

F32 = np.float32


def one_pass_blend(image, original_weight, chains):
    """The blend as one float32 sum over whole images (what the bands and the running total must equal)."""
    total = image.astype(F32)
    total *= F32(original_weight)
    total += F32(0.5)
    for weight, chain in chains:
        term = chain.astype(F32)
        term *= F32(weight)
        total += term
    return total.astype(np.uint8)


@pytest.mark.parametrize("mode", ["plain", "compiled"])
@pytest.mark.parametrize("count", [1, 3, 4, 7])
def test_many_chains_blend_as_one_sum(monkeypatch, mode, count):
    monkeypatch.setattr(bands, "BAND_VALUES", 3 * 17 * 5)  # bands of a few rows, and a ragged last one
    image = photo_like(61, 17, 1)
    rng = np.random.default_rng(count)
    weights = rng.dirichlet(np.ones(count + 1)).tolist()
    finished = [photo_like(61, 17, 10 + i) for i in range(count)]
    chains = [{"steps": [{"op": "invert"}], "number": i} for i in range(count)] + [{"steps": []}]
    m = 0.7

    def run(original, chain):
        return finished[chain["number"]]

    with compiled.using(mode):
        made = blending.blend_chains(image, m, weights, chains, run)
    original_weight = 1.0 - m + m * weights[-1]
    expected = one_pass_blend(image, original_weight, [(m * w, c) for w, c in zip(weights, finished)])
    assert np.array_equal(made, expected)


def test_plans_of_many_chains_give_the_same_bytes_on_both_paths():
    image, mixing = photo_like(40, 36, 3), photo_like(40, 36, 4)
    for config in (IPMixConfig.for_image("cifar", 40, 36, chains=6), AugMixConfig.for_image("cifar", 40, 36, chains=5)):
        for seed in range(6):
            plan = methods.sample_plan(np.random.default_rng(seed), 40, 36, config)
            with compiled.using("plain"):
                plain = methods.apply_plan(image, mixing, plan)
            with compiled.using("compiled"):
                assert np.array_equal(methods.apply_plan(image, mixing, plan), plain)


@pytest.mark.parametrize("mix", ["add", "multiply"])
@pytest.mark.parametrize("overflow", ["wrap", "clip"])
def test_plain_steps_in_bands_give_the_values_of_whole_images(monkeypatch, mix, overflow):
    from ipmix_cli.engine.mixing import mix_float, mix_into, to_float

    chain, source = photo_like(45, 31, 5), photo_like(45, 31, 6)[::-1]
    params = {"mix": mix, "alpha": 1.7, "gamma": -0.6}
    mixed = to_float(photo_like(45, 31, 7))

    def made():
        with compiled.using("plain"):
            target = chain.copy()
            mix_into(target[3:40, 2:29], source[3:40, 2:29], params, overflow)
            return target, mix_float(mixed, source, params)

    whole = made()
    monkeypatch.setattr(bands, "BAND_VALUES", 31 * 3 * 4 + 5)  # bands of four rows
    banded = made()
    assert np.array_equal(whole[0], banded[0]) and np.array_equal(whole[1], banded[1])


@pytest.mark.parametrize("op", ["shear_x", "shear_y"])
@pytest.mark.parametrize("factor", [0.27, -0.09, 3.5])
def test_plain_shears_in_bands_of_lines_are_the_whole_shears(monkeypatch, op, factor):
    from ipmix_cli.engine.ops import apply_image_op

    image = photo_like(70, 90, 8)  # above SMALL_PIXELS: the row-run shear
    with compiled.using("plain"):
        whole = apply_image_op(image, {"op": op, "factor": factor})
        monkeypatch.setattr(bands, "BAND_VALUES", 3 * 90 * 7 + 11)  # bands of a few lines, a ragged last one
        banded = apply_image_op(image, {"op": op, "factor": factor})
    assert np.array_equal(whole, banded)
