"""The uniform-derived draws: exact bounds and the distributions they promise."""

from __future__ import annotations

import numpy as np

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
