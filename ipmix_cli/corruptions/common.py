"""Small helpers every corruption module uses: sub-generators from recorded seeds."""

from __future__ import annotations

import numpy as np

SEED_LIMIT = 2**63


def draw_seed(rng: np.random.Generator) -> int:
    """A sub-seed for a corruption's large random fields, recorded in its draws instead of the fields."""
    return int(rng.integers(0, SEED_LIMIT))


def field_generator(seed: int) -> np.random.Generator:
    """The generator of the fields recorded as ``seed``."""
    return np.random.Generator(np.random.PCG64(int(seed)))


def as_float(image: np.ndarray) -> np.ndarray:
    """``np.array(x) / 255.`` as the reference starts (float64)."""
    return image / 255.0
