"""Shared helpers for the test suite: small deterministic images, and statistical tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    """``sigmas`` standard deviations of a proportion with success probability ``p`` over ``n`` draws."""
    return sigmas * math.sqrt(p * (1 - p) / n)


def assert_share(count: int, n: int, p: float, what: str) -> None:
    share = count / n
    tolerance = binomial_tolerance(p, n)
    assert abs(share - p) <= tolerance, f"{what}: share {share:.4f}, expected {p:.4f} ± {tolerance:.4f}"


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random image with edges: closer to a photograph than white noise, deterministic."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    from PIL import Image

    smooth = np.array(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))
    noise = rng.integers(-12, 13, (height, width, 3))
    return np.clip(smooth.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
