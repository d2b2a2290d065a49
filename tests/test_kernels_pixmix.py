"""PixMix's float32 rounds by the kernels give the plain path's float32 values exactly (``mixing.mix_float``).

The multiply round's kernel computes its own power and leaves the values it cannot round with certainty to
numpy: those are forced here (exact float32 midpoints of squares, subnormal operands, more of them than the
kernel has room to record) as well as drawn at random, over image sizes, exponents and value ranges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from conftest import photo_like  # noqa: E402
from ipmix_cli.engine import compiled, methods  # noqa: E402
from ipmix_cli.engine.config import PixMixConfig  # noqa: E402
from ipmix_cli.engine.mixing import (  # noqa: E402
    compiles_float_round,
    float32_exponents,
    mix_float,
    mix_float_first,
    mix_float_next,
    power_tables,
    to_float,
)

F32 = np.float32
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def kernels():
    with compiled.using("compiled"):
        yield compiled.active()


sizes = st.tuples(st.integers(1, 300), st.integers(1, 200)) | st.sampled_from([(1, 1), (1, 7), (3, 5), (224, 224)])
alphas = st.floats(1e-4, 2.0) | st.sampled_from([1.0, 2.0, 0.5, 1.5, 1 + 2**-20, 1e-4])
gammas = st.floats(-1.0, 1.0) | st.sampled_from([-1.0, 0.0, 1.0])


def mixed_image(count: int, seed: int, kind: str) -> np.ndarray:
    """``count`` float32 values in [0, 1] as a round leaves them: spread, or with many zeros, ones, tiny and
    subnormal values, or few distinct values (a flat image)."""
    rng = np.random.default_rng(seed)
    values = rng.random(count, dtype=F32)
    if kind == "edges":
        pick = rng.integers(0, 6, count)
        values[pick == 0] = 0
        values[pick == 1] = 1
        values[pick == 2] **= 30
        values[pick == 3] = F32(1e-40)  # subnormal
        values[pick == 4] = -F32(0)
    elif kind == "flat":
        values = rng.random(3, dtype=F32)[rng.integers(0, 3, count)]
    return values


def params_of(mix: str, alpha: float, gamma: float) -> dict:
    if alpha > 1:  # as the samplers give it: 1 + Beta(1, β)
        return {"mix": mix, "alpha": alpha, "gamma": -abs(gamma)}
    return {"mix": mix, "alpha": alpha, "gamma": gamma}


@EXAMPLES
@given(
    size=sizes,
    mix=st.sampled_from(["add", "multiply"]),
    alpha=alphas,
    gamma=gammas,
    kind=st.sampled_from(["spread", "edges", "flat"]),
    seed=st.integers(0, 2**16),
)
def test_a_later_round_is_the_plain_round(kernels, size, mix, alpha, gamma, kind, seed):
    count = size[0] * size[1] * 3
    mixed = mixed_image(count, seed, kind)
    source = photo_like(*size, seed).reshape(-1)
    source[: min(count, 7)] = 0  # the source's b = 0 term: 1e−37^γ
    params = params_of(mix, alpha, gamma)
    assert compiles_float_round(params)
    expected = mix_float(mixed, source, params)
    mix_float_next(kernels, mixed, source, params)
    assert np.array_equal(mixed, expected)


@EXAMPLES
@given(size=sizes, mix=st.sampled_from(["add", "multiply"]), alpha=alphas, gamma=gammas, seed=st.integers(0, 2**16))
def test_a_first_round_is_the_plain_round(kernels, size, mix, alpha, gamma, seed):
    start = photo_like(*size, seed).reshape(-1)
    source = photo_like(*size, seed + 1).reshape(-1)
    source[: min(start.size, 5)] = 0
    params = params_of(mix, alpha, gamma)
    out = np.full(start.size, np.nan, F32)
    mix_float_first(kernels, start, source, params, out)
    assert np.array_equal(out, mix_float(to_float(start), source, params))


def test_powers_on_a_float32_midpoint_are_left_to_numpy(kernels):
    """(1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴ lies exactly halfway between two float32 values: the kernel's power cannot
    round it with certainty, leaves it, records it, and the caller's numpy rounds it (half to even, as the plain
    path); with more such values than the kernel has room to record, it stops and is called again."""
    base = F32(1 + 2**-12) / F32(2)  # 2x = 1 + 2⁻¹²
    params = {"mix": "multiply", "alpha": 2.0, "gamma": 0.0}
    exponents = float32_exponents(params)
    for repeat in (3, 5000):
        mixed = np.full(repeat, base, F32)
        mixed[0] = F32(0.3)
        source = np.full(repeat, 255, np.uint8)
        expected = mix_float(mixed, source, params)
        state = mixed.copy()
        doubtful = np.empty(600, np.int64)
        found, stop = kernels.pixmix_round(
            state, source, exponents[0, 0], exponents[1, 0], power_tables(exponents)[1], 1, 0, doubtful
        )
        assert found == min(repeat - 1, 511) and stop == (repeat if repeat < 512 else 512)
        assert np.array_equal(state[doubtful[:found]], mixed[doubtful[:found]])  # left as they were
        mix_float_next(kernels, mixed, source, params)
        assert np.array_equal(mixed, expected)


def test_a_hand_made_round_outside_the_sampled_ranges_is_not_compiled():
    assert not compiles_float_round({"mix": "multiply", "alpha": 2.5, "gamma": 0.2})
    assert not compiles_float_round({"mix": "add", "alpha": 0.5, "gamma": -1.5})
    assert not compiles_float_round({"mix": "random_pixels", "q": 0.5, "mask_seed": 1})
    image, mixing = photo_like(20, 24, 1), photo_like(20, 24, 2)
    plan = {
        "method": "pixmix",
        "height": 20,
        "width": 24,
        "start": None,
        "rounds": [
            {"source": "mixing", "mix": "multiply", "alpha": 0.7, "gamma": 0.3},
            {"source": "mixing", "mix": "multiply", "alpha": 3.0, "gamma": -0.4},
        ],
    }
    with compiled.using("plain"):
        plain = methods.apply_plan(image, mixing, plan)
    with compiled.using("compiled"):
        assert np.array_equal(methods.apply_plan(image, mixing, plan), plain)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([(2, 2), (5, 3), (32, 32), (37, 61), (96, 80)]),
    preset=st.sampled_from(["cifar", "imagenet"]),
    rounds=st.sampled_from([4, 9]),
    seed=st.integers(0, 2**32 - 1),
)
def test_pixmix_plans_of_many_rounds_give_the_plain_bytes(size, preset, rounds, seed):
    config = PixMixConfig.for_image(preset, *size, rounds=rounds)
    image, mixing = photo_like(*size, seed % 997), photo_like(*size, seed % 997 + 1)
    mixing = mixing[:, ::-1]  # a view, as a mixing window is
    for copy in range(3):
        plan = methods.sample_plan(np.random.default_rng([seed, copy]), *size, config)
        with compiled.using("plain"):
            plain = methods.apply_plan(image, mixing, plan)
        with compiled.using("compiled"):
            fast = methods.apply_plan(image, mixing, plan)
        assert fast.dtype == np.uint8 and np.array_equal(fast, plain)


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [2.0, 1.5, 1 + 2**-20, 1.0, 0.7, 1e-4])
@pytest.mark.parametrize("binade", [126, 106, 1])
def test_every_mantissa_of_a_binade_gets_numpys_power(kernels, alpha, binade):
    """All 2²³ values of one binade (x in [½, 1), [2⁻²¹, 2⁻²⁰) and the smallest normal one): every value the
    kernel's own power gives is numpy's, and it leaves few to numpy (a power accurate as its docstring says
    flags about one value in 10,000: here at most one in 1,000)."""
    mixed = ((binade << 23) | np.arange(1 << 23, dtype=np.uint32)).view(F32)
    source = np.zeros(mixed.size, np.uint8)  # the source's term max(0, 1e−37)^0.01 ≈ 0.43: nothing is clipped
    params = {"mix": "multiply", "alpha": alpha, "gamma": 0.01}
    expected = mix_float(mixed, source, params)
    exponents = float32_exponents(params)
    state = mixed.copy()
    doubtful = np.empty(mixed.size, np.int64)
    found, stop = kernels.pixmix_round(
        state, source, exponents[0, 0], exponents[1, 0], power_tables(exponents)[1], 1, 0, doubtful
    )
    assert stop == mixed.size and found <= mixed.size // 1000
    kept = np.ones(mixed.size, bool)
    kept[doubtful[:found]] = False
    assert np.array_equal(state[kept], expected[kept])
