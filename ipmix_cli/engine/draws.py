"""The random draws of one plan, all taken from a stream of uniforms.

A ``Generator`` method call costs about a microsecond (``integers`` and ``dirichlet`` several), which
made sampling most of the cost of a 32×32 image. ``Draws`` takes uniforms from the generator in blocks
and derives every draw from them exactly:

- ``Beta(a, 1)`` is ``U**(1/a)`` and ``Beta(1, b)`` is ``1 − U**(1/b)`` (inverse CDFs), ``Beta(1, 1)`` is ``U``;
- ``Dirichlet(1, …, 1)`` is normalised ``−log U`` (normalised standard exponentials);
- an integer uniform on ``n`` values maps a 53-bit uniform onto ``n`` buckets, whose bias is below
  ``n / 2**53``: far beyond anything a statistical test could see.

Everything stays a pure function of the generator's state, so outputs stay reproducible.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

_BLOCK = 48


def _block(rng: np.random.Generator) -> list[float]:
    return rng.random(_BLOCK).tolist()


class Draws:
    """Uniform-derived draws from ``rng``, taken in blocks of 48 uniforms."""

    __slots__ = ("_uniforms",)

    def __init__(self, rng: np.random.Generator):
        # one C-level iterator over blocks of uniforms: next() on it runs no Python code
        blocks = map(_block, itertools.repeat(rng))
        self._uniforms = itertools.chain.from_iterable(blocks)

    def uniform(self) -> float:
        """Uniform on [0, 1)."""
        return next(self._uniforms)

    def between(self, low: float, high: float) -> float:
        """Uniform on [low, high)."""
        return low + (high - low) * next(self._uniforms)

    def index(self, n: int) -> int:
        """Uniform on {0, …, n − 1}."""
        # u ≤ 1 − 2⁻⁵³, and (1 − 2⁻⁵³)·n rounds to a double below n for every integer n ≤ 2⁵³, so
        # this is at most n − 1 with no guard
        return int(next(self._uniforms) * n)

    def integer(self, low: int, high: int) -> int:
        """Uniform on {low, …, high}, both inclusive."""
        return low + int(next(self._uniforms) * (high - low + 1))  # as index()

    def coin(self) -> bool:
        """True with probability 1/2."""
        return next(self._uniforms) < 0.5

    def beta_a1(self, a: float) -> float:
        """Beta(a, 1)."""
        return next(self._uniforms) ** (1.0 / a)

    def beta_1b(self, b: float) -> float:
        """Beta(1, b)."""
        return 1.0 - next(self._uniforms) ** (1.0 / b)

    def dirichlet_ones(self, k: int) -> list[float]:
        """Dirichlet(1, …, 1) on k weights."""
        exponentials = [-math.log(1.0 - next(self._uniforms)) for _ in range(k)]
        total = sum(exponentials)
        return [e / total for e in exponentials]

    def subseed(self) -> int:
        """A 53-bit integer seed for bulk draws (e.g. a pixel mask), exact through JSON."""
        return int(next(self._uniforms) * 2**53)
