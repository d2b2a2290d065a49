"""The random draws of one plan, all taken from a stream of uniforms.

A ``Generator`` method call costs about a microsecond (``integers`` and ``dirichlet`` several), which
made sampling most of the cost of a 32×32 image. ``Draws`` takes uniforms from the generator in blocks
and derives every draw from them exactly:

- ``Beta(a, 1)`` is ``U**(1/a)`` and ``Beta(1, b)`` is ``1 − U**(1/b)`` (inverse CDFs), ``Beta(1, 1)`` is ``U``;
- ``Dirichlet(1, …, 1)`` is normalised ``−log U`` (normalised standard exponentials);
- an integer uniform on ``n`` values maps a 53-bit uniform onto ``n`` buckets, whose bias is below
  ``n / 2**53``: far beyond anything a statistical test could see;
- ``Gamma(a)`` for other shapes (AugMix's ``Dirichlet(α, …, α)`` and ``Beta(α, α)`` when α ≠ 1) is Marsaglia and
  Tsang's squeeze-free rejection method on Box–Muller normals, with ``Gamma(a) = Gamma(a + 1)·U^(1/a)`` below
  shape 1, kept in logarithms so that tiny shapes cannot underflow to a sum of zero.

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

    def dirichlet(self, alpha: float, k: int) -> list[float]:
        """Dirichlet(α, …, α) on k weights."""
        if alpha == 1:
            return self.dirichlet_ones(k)
        logs = [self._log_gamma(alpha) for _ in range(k)]
        top = max(logs)
        scaled = [math.exp(value - top) for value in logs]
        total = sum(scaled)
        return [value / total for value in scaled]

    def beta(self, a: float, b: float) -> float:
        """Beta(a, b): ``G_a / (G_a + G_b)`` for independent gammas (a uniform when a = b = 1)."""
        if a == 1 and b == 1:
            return self.uniform()
        log_a, log_b = self._log_gamma(a), self._log_gamma(b)
        difference = log_b - log_a  # beyond ±700 the logistic is 0 or 1 in float64: saturate, never overflow
        return 0.0 if difference > 700 else 1.0 / (1.0 + math.exp(difference))

    def normal(self) -> float:
        """Standard normal (Box–Muller, one of the pair)."""
        radius = math.sqrt(-2.0 * math.log(1.0 - next(self._uniforms)))
        return radius * math.cos(2.0 * math.pi * next(self._uniforms))

    def _log_gamma(self, shape: float) -> float:
        """The logarithm of a Gamma(shape, 1) variate."""
        if shape < 1:
            # Gamma(a) = Gamma(a + 1)·U^(1/a), U on (0, 1]
            return self._log_gamma(shape + 1) + math.log(1.0 - next(self._uniforms)) / shape
        d = shape - 1.0 / 3.0
        c = 1.0 / math.sqrt(9.0 * d)
        while True:
            x = self.normal()
            v = 1.0 + c * x
            if v <= 0:
                continue
            v = v * v * v
            u = 1.0 - next(self._uniforms)
            if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
                return math.log(d) + math.log(v)

    def subseed(self) -> int:
        """A 53-bit integer seed for bulk draws (e.g. a pixel mask), exact through JSON."""
        return int(next(self._uniforms) * 2**53)
