"""The uniform-derived draws: exact bounds and the distributions they promise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import assert_share
from ipmix_cli.engine.draws import Draws


class _Fixed:
    """Stands in for a Generator whose every uniform is ``value``."""

    def __init__(self, value: float):
        self.value = value

    def random(self, count: int) -> np.ndarray:
        return np.full(count, self.value)


def test_index_never_reaches_n_even_at_the_largest_uniform():
    largest = 1.0 - 2.0**-53  # the largest value Generator.random returns
    sizes = [1, 2, 3, 7, 10, 255, 256, 1000, 2**20 - 1, 2**20, 2**31 + 11, 2**52, 2**53 - 1, 2**53]
    for n in sizes:
        assert Draws(_Fixed(largest)).index(n) == n - 1
        assert Draws(_Fixed(0.0)).index(n) == 0


def test_integer_and_coin_are_uniform():
    draws = Draws(np.random.default_rng(5))
    n = 60000
    values = [draws.integer(2, 6) for _ in range(n)]
    for v in range(2, 7):
        assert_share(values.count(v), n, 0.2, f"integer value {v}")
    assert_share(sum(draws.coin() for _ in range(n)), n, 0.5, "heads")


def test_draws_are_a_pure_function_of_the_generator_state():
    first = Draws(np.random.default_rng(9))
    second = Draws(np.random.default_rng(9))
    assert [first.uniform() for _ in range(200)] == [second.uniform() for _ in range(200)]


def test_gamma_based_beta_and_dirichlet_have_their_distributions():
    """Beta(a, b) and Dirichlet(α, …) for shapes other than 1 (AugMix's α): means and known CDF values."""
    import math

    draws = Draws(np.random.default_rng(17))
    n = 20000
    # Beta(0.5, 0.5) is the arcsine law: CDF (2/π)·asin(√x); Beta(3, 1.5) has mean 2/3
    arcsine = [draws.beta(0.5, 0.5) for _ in range(n)]
    assert_share(sum(v < 0.1 for v in arcsine), n, 2 / math.pi * math.asin(math.sqrt(0.1)), "Beta(½, ½) below 0.1")
    skewed = np.array([draws.beta(3.0, 1.5) for _ in range(n)])
    sd = math.sqrt(3 * 1.5 / (4.5**2 * 5.5))
    assert abs(skewed.mean() - 2 / 3) <= 4 * sd / math.sqrt(n)
    # tiny shapes neither underflow to a zero sum nor leave [0, 1]
    tiny = np.array([draws.dirichlet(0.02, 4) for _ in range(2000)])
    assert np.allclose(tiny.sum(axis=1), 1) and tiny.min() >= 0
    # Dirichlet(0.5, 0.5, 0.5): each weight Beta(0.5, 1), CDF √x, so P(w < 1/4) = 1/2
    weights = np.array([draws.dirichlet(0.5, 3) for _ in range(n)])
    for column in weights.T:
        assert_share(int((column < 0.25).sum()), n, 0.5, "Dirichlet(½,½,½) weight below 1/4")
    # α = 1 and Beta(1, 1) keep the exact exponential and uniform paths
    first, second = Draws(np.random.default_rng(3)), Draws(np.random.default_rng(3))
    assert first.dirichlet(1.0, 3) == second.dirichlet_ones(3) and first.beta(1, 1) == second.uniform()


def test_normals_are_standard():
    draws = Draws(np.random.default_rng(23))
    n = 20000
    values = np.array([draws.normal() for _ in range(n)])
    assert abs(values.mean()) <= 4 / np.sqrt(n)
    assert_share(int((values < -1).sum()), n, 0.15865525393145707, "normals below −1")


@pytest.mark.parametrize("alpha", [1e-3, 1e-6])
def test_beta_with_tiny_parameters_saturates_at_0_and_1_instead_of_overflowing(alpha):
    """Beta(α, α) for α → 0 puts half its mass at each end; the logistic of a log-ratio beyond ±709 must not
    raise (it did for 30 % of AugMix copies at --alpha 1e-3)."""
    draws = Draws(np.random.default_rng(0))
    n = 4000
    values = [draws.beta(alpha, alpha) for _ in range(n)]
    assert all(0.0 <= v <= 1.0 for v in values)
    upper = sum(v > 0.5 for v in values) / n
    assert abs(upper - 0.5) < 4 * math.sqrt(0.25 / n)  # symmetric: 4 standard errors
    assert sum(v in (0.0, 1.0) or min(v, 1 - v) < 1e-12 for v in values) / n > 0.9
