"""Noise: gaussian, shot (Poisson), impulse (salt and pepper) and speckle. Per pixel, so nothing scales with the
image. Each draws one sub-seed; its fields are drawn from it in the order the docstrings say."""

from __future__ import annotations

import functools

import numpy as np

from . import pointwise
from ._compiled import njit
from .common import draw_seed, field_generator


def sample_seed(rng: np.random.Generator, setting) -> dict:
    return {"seed": draw_seed(rng)}


def gaussian_noise(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """``x + N(0, sigma²)`` per value (fields: one standard normal per value)."""
    noise = field_generator(draws["seed"]).standard_normal(image.shape)
    return pointwise.add_noise(image, noise, setting.values["sigma"], False)


def speckle_noise(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """``x + x · N(0, sigma²)`` per value (fields: one standard normal per value)."""
    noise = field_generator(draws["seed"]).standard_normal(image.shape)
    return pointwise.add_noise(image, noise, setting.values["sigma"], True)


def impulse_noise(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """scikit-image's ``random_noise(mode='s&p', amount=a)``: each value is replaced with probability ``a``, by
    1 or 0 with probability 1/2 each (fields: a uniform per value for the replacement, then one for the salt)."""
    generator = field_generator(draws["seed"])
    flip = generator.random(image.shape)
    salt = generator.random(image.shape)
    return pointwise.impulse(image, flip, salt, setting.values["amount"])


def shot_noise(image: np.ndarray, setting, draws: dict) -> np.ndarray:
    """``Poisson(x · c) / c`` per value, ``c`` photons at full scale.

    Drawn by inverting the Poisson distribution function with one uniform per value: the same distribution as
    ``np.random.poisson``, and since an 8-bit value has only 256 rates, the 256 distribution functions are
    tabulated once per ``c`` (counts above ``c`` clip to 255 and share the table's last bucket). Fields: a
    uniform per value.
    """
    photons = setting.values["photons"]
    cdf, guide, levels = _shot_table(photons)
    u = field_generator(draws["seed"]).random(image.shape)
    return levels[_poisson_counts(image, u, cdf, guide)]


def _poisson_counts_numpy(image, u, cdf, guide):
    counts = np.empty(image.shape, dtype=np.int64)
    for value in np.unique(image):
        where = image == value
        counts[where] = np.searchsorted(cdf[value], u[where], side="right")
    return counts


@njit(fallback=_poisson_counts_numpy)
def _poisson_counts(image, u, cdf, guide):
    """For each value, the number of its distribution function's entries ≤ its uniform: a guide table gives
    where to start (the count at the start of the uniform's bucket), a short scan finishes."""
    flat_image = image.ravel()
    flat_u = u.ravel()
    counts = np.empty(flat_image.shape[0], dtype=np.int64)
    size = cdf.shape[1]
    buckets = guide.shape[1]
    for n in range(flat_image.shape[0]):
        value = flat_image[n]
        target = flat_u[n]
        k = guide[value, int(target * buckets)]
        while k < size and cdf[value, k] <= target:
            k += 1
        counts[n] = k
    return counts.reshape(image.shape)


@functools.lru_cache(maxsize=16)
def _shot_table(photons: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every 8-bit value ``v``, the Poisson distribution function at counts 0..c-1 of the rate
    ``(v / 255) · c`` (a 256×c table), a guide table into it, and the output level of each count 0..c,
    ``uint8(clip(k / c, 0, 1) · 255)`` exactly as the reference computes it."""
    rates = (np.arange(256) / 255.0) * photons
    k = np.arange(photons, dtype=np.float64)
    # log pmf = -rate + k log rate - log k!, cumulated; rate 0 puts all mass on count 0
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, photons, dtype=np.float64)))])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = -rates[:, None] + k[None, :] * np.log(rates)[:, None] - log_factorial[None, :]
    pmf = np.exp(log_pmf)
    pmf[0] = 0.0
    pmf[0, 0] = 1.0
    cdf = np.minimum(np.cumsum(pmf, axis=1), 1.0)
    levels = (np.clip(np.arange(photons + 1) / float(photons), 0, 1) * 255).astype(np.uint8)
    # guide[v, g]: the count at u = g / G, so that a uniform in bucket g needs only a few steps from there
    buckets = max(64, 4 * photons)
    guide = np.stack([np.searchsorted(row, np.arange(buckets) / buckets, side="right") for row in cdf])
    for array in (cdf, guide, levels):
        array.setflags(write=False)
    return cdf, guide, levels
