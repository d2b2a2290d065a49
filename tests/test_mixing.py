"""Pixel-level mixing (SPEC §1.3) and patch sampling (§1.4)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_share, binomial_tolerance, photo_like
from ipmix_cli.engine.draws import Draws
from ipmix_cli.engine.mixing import MIX_NAMES, apply_mix, sample_box, sample_mix, to_uint8


def test_wrap_conversion_is_the_reference_byte_cast():
    values = np.array([1.2, -0.3, 1.5, 2.0, -1.0], np.float32)
    assert to_uint8(values, "wrap").tolist() == [50, 180, 126, 254, 1]


def test_wrap_turns_non_finite_and_huge_values_into_zero():
    values = np.array([np.nan, np.inf, -np.inf, 1e10, -1e10, 3e38], np.float32)
    assert to_uint8(values, "wrap").tolist() == [0] * 6


def test_clip_conversion_clips_and_rounds():
    values = np.array([-0.5, 0.0, 0.2, 0.5, 1.0, 1.5, 2.0, np.nan], np.float32)
    assert to_uint8(values, "clip").tolist() == [0, 0, 51, 128, 255, 255, 255, 0]


def _reference(name, a, b, params, overflow):
    """The formulas of SPEC §1.3 written directly, in float64."""
    a, b = a / 255.0, b / 255.0
    alpha, gamma = params.get("alpha"), params.get("gamma")
    if name == "add":
        result = ((2 * a - 1) * alpha + (2 * b - 1) * gamma + 1) / 2
    else:
        result = (2 * a) ** alpha * np.maximum(2 * b, 1e-37) ** gamma / 2
    scaled = 255 * result
    if overflow == "clip":
        return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)
    scaled = np.where(np.abs(scaled) < 2**31, np.trunc(scaled), 0)
    return scaled.astype(np.int64).astype(np.uint8)


@pytest.mark.parametrize("name, overflow", [("add", "wrap"), ("add", "clip"), ("multiply", "clip")])
def test_add_and_multiply_follow_the_formulas(name, overflow):
    rng = np.random.default_rng(3)
    draws = Draws(rng)
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256, 1).repeat(3, axis=2)
    b = a.transpose(1, 0, 2).copy()  # every (a, b) pair of byte values
    for _ in range(20):
        params = sample_mix(draws, beta=3.0)
        params["mix"] = name
        if "alpha" not in params:
            params.update(alpha=1 + draws.beta_1b(3.0), gamma=-draws.beta_1b(3.0))
        ours = apply_mix(a, b, params, overflow)
        theirs = _reference(name, a.astype(np.float64), b.astype(np.float64), params, overflow)
        # float64 tables vs the formula's order of operations: truncation could flip only where 255·r
        # is within rounding error of an integer (none did in these draws). multiply with wrap is exact to
        # the reference's float32 arithmetic instead: see the next test.
        mismatch = ours != theirs
        assert mismatch.mean() < 1e-4, f"{name}/{overflow}: {mismatch.mean():.4%} differ"


def _power32(base, exponent):
    """A float32 power, correctly rounded (evaluated in float64)."""
    return (base.astype(np.float64) ** np.float64(exponent)).astype(np.float32)


def _reference_multiply_float32(a_bytes, b_bytes, alpha32, gamma32):
    """hzlsaber/IPMix's ``multiply`` as its tensors compute it, every step in float32: ``ToTensor`` operands
    (byte / 255), ``img * 2``, ``img1 ** a``, ``img2.clip(1e-37) ** b``, the product, ``/ 2``, then
    ``ToPILImage``'s ``mul(255).byte()``: truncation toward zero through int64, low byte kept (inf gives 0)."""
    f32 = np.float32
    img1 = a_bytes.astype(f32) / f32(255) * f32(2)
    img2 = b_bytes.astype(f32) / f32(255) * f32(2)
    out = _power32(img1, alpha32) * _power32(np.maximum(img2, f32(1e-37)), gamma32)
    out = out / f32(2)
    with np.errstate(over="ignore"):
        scaled = out * f32(255)
    scaled = np.where(np.isfinite(scaled) & (scaled < 2.0**63), scaled, 0)
    return scaled.astype(np.int64).astype(np.uint8)


# (u, γ): α = u for u < 1 (the first coefficient branch), α = 1 + u for u > 1 (the second, where the
# reference's α is float32(1 + float32(u − 1))); γ < 0 is the path where b = 0 makes products near 1e9
MULTIPLY_COEFFICIENTS = [
    (0.2656071, -0.3118892),
    (0.7395743, -0.1691138),
    (0.9931633, -0.0012035),
    (0.5101564, -0.9991641),
    (1.0606441, -0.0728935),
    (1.1765385, -0.0985349),
    (1.5000001, -0.5000003),
    (1.9993117, -0.7735993),
    (0.3333333, 0.4121212),  # γ > 0, for completeness
    (0.9, 0.02),
]


@pytest.mark.parametrize("u, gamma", MULTIPLY_COEFFICIENTS)
def test_multiply_with_wrap_is_the_references_float32_arithmetic_exactly(u, gamma):
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256, 1).repeat(3, axis=2)
    b = a.transpose(1, 0, 2).copy()  # every (a, b) pair of byte values, b = 0 included
    if u < 1:
        alpha, alpha32 = u, np.float32(u)
    else:
        rest = u - 1
        alpha, alpha32 = 1 + rest, np.float32(1) + np.float32(rest)
    ours = apply_mix(a, b, {"mix": "multiply", "alpha": alpha, "gamma": gamma}, "wrap")
    theirs = _reference_multiply_float32(a, b, alpha32, np.float32(gamma))
    assert np.array_equal(ours, theirs), f"{(ours != theirs).sum()} of {ours.size} bytes differ"
    if -0.2 < gamma < -0.01:  # at b = 0, products of 1e4 to 1e9 whose bytes are float32 low bits (from
        # γ ≈ −0.25 on, every product there exceeds 2³¹ and its byte is 0)
        assert len(np.unique(ours[:, 0])) > 8


def test_random_pixels_takes_whole_pixels_and_random_elems_single_values():
    a = np.zeros((64, 64, 3), np.uint8)
    b = np.full((64, 64, 3), 255, np.uint8)
    pixels = apply_mix(a, b, {"mix": "random_pixels", "q": 0.3, "mask_seed": 5}, "wrap")
    assert np.all((pixels == 0).all(axis=2) | (pixels == 255).all(axis=2)), "channels must share the mask"
    n = 64 * 64
    assert_share(int((pixels[..., 0] == 0).sum()), n, 0.3, "pixels taken from a")
    elems = apply_mix(a, b, {"mix": "random_elems", "q": 0.3, "mask_seed": 5}, "wrap")
    assert_share(int((elems == 0).sum()), 3 * n, 0.3, "values taken from a")
    mixed_pixels = ~((elems == 0).all(axis=2) | (elems == 255).all(axis=2))
    assert mixed_pixels.mean() > 0.3, "random_elems must choose per channel value"


def test_mask_depends_only_on_its_seed():
    a, b = photo_like(20, 30, 1), photo_like(20, 30, 2)
    params = {"mix": "random_elems", "q": 0.6, "mask_seed": 2**53 - 1}
    assert np.array_equal(apply_mix(a, b, params, "wrap"), apply_mix(a, b, dict(params), "wrap"))
    other = apply_mix(a, b, {**params, "mask_seed": 1}, "wrap")
    assert not np.array_equal(apply_mix(a, b, params, "wrap"), other)


def test_coefficient_draws_have_the_spec_distribution():
    beta = 3.0
    draws = Draws(np.random.default_rng(11))
    n = 20000
    samples = [sample_mix(draws, beta) for _ in range(4 * n)]
    counts = {name: sum(s["mix"] == name for s in samples) for name in MIX_NAMES}
    for name in MIX_NAMES:
        assert_share(counts[name], 4 * n, 0.25, f"mixing op {name}")
    coefficients = [s for s in samples if "alpha" in s]
    first_branch = [s for s in coefficients if s["gamma"] >= 0]
    assert_share(len(first_branch), len(coefficients), 0.5, "coefficient branch")
    alpha1 = np.array([s["alpha"] for s in first_branch])
    gamma1 = np.array([s["gamma"] for s in first_branch])
    second = [s for s in coefficients if s["gamma"] < 0]
    alpha2 = np.array([s["alpha"] for s in second])
    gamma2 = np.array([s["gamma"] for s in second])
    # Beta(β, 1): mean β/(β+1), var β/((β+1)²(β+2)); Beta(1, β): mean 1/(β+1), same variance
    mean_a, mean_b = beta / (beta + 1), 1 / (beta + 1)
    sd = np.sqrt(beta / ((beta + 1) ** 2 * (beta + 2)))
    for values, mean in ((alpha1, mean_a), (gamma1, mean_b), (alpha2 - 1, mean_b), (-gamma2, mean_b)):
        assert abs(values.mean() - mean) <= 4 * sd / np.sqrt(len(values))
    assert alpha1.min() > 0 and alpha1.max() < 1 and alpha2.min() > 1 and alpha2.max() < 2
    assert gamma2.min() > -1 and gamma2.max() < 0
    # the CDF of Beta(β, 1) is x^β: check one quantile
    assert_share(int((alpha1 < 0.5 ** (1 / beta)).sum()), len(alpha1), 0.5, "median of Beta(β, 1)")


def test_patch_boxes_have_the_spec_distribution():
    draws = Draws(np.random.default_rng(2))
    height, width, size = 40, 50, 16
    n = 20000
    boxes = [sample_box(draws, height, width, size) for _ in range(n)]
    lefts = np.array([b[0] for b in boxes])
    tops = np.array([b[1] for b in boxes])
    assert lefts.min() == 0 and lefts.max() == width - size
    assert tops.min() == 0 and tops.max() == height - size
    squares = sum(b[2] == size and b[3] == size for b in boxes)
    # a free rectangle is size×size with probability 1/(size−1)²
    expected_square = 0.5 + 0.5 / (size - 1) ** 2
    assert_share(squares, n, expected_square, "square patches")
    free = [b for b in boxes if not (b[2] == size and b[3] == size)]
    sides = np.array([b[2] for b in free] + [b[3] for b in free])
    assert sides.min() == 2 and sides.max() == size
    for b in boxes:
        assert b[0] + b[2] <= width and b[1] + b[3] <= height
    # left is uniform on 35 values: each share 1/35
    share = np.bincount(lefts, minlength=width - size + 1) / n
    assert np.all(np.abs(share - 1 / 35) <= binomial_tolerance(1 / 35, n, 4.5))
