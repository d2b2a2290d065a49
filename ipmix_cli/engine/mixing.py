"""Pixel-level mixing operations and patch sampling (SPEC §1.3, §1.4).

Operands are uint8 patches; the arithmetic runs on the patch only (never the whole image), and
``add``/``multiply`` results go back to uint8 through the overflow conversion of §1.3. A uint8 operand takes
only 256 values, so each operand's term is a 256-entry float64 table computed once per step: no per-pixel
powers, and a patch value costs two lookups and one add or multiply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..seeding import mask_uniforms
from .draws import Draws

Params = dict
OVERFLOW_MODES = ("wrap", "clip")
_F32 = np.float32
_INT32_LIMIT = _F32(2.0**31)


def to_uint8(result: np.ndarray, overflow: str) -> np.ndarray:
    """Convert a mixed patch in [0, 1] float space (possibly far outside it) back to uint8.

    ``wrap`` is the reference's byte cast: ``trunc(255·r) mod 256``, non-finite values and values beyond
    ±2³¹ becoming 0. ``clip`` is ``round(255·clip(r, 0, 1))`` (round half to even).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.multiply(result, _F32(255), dtype=_F32)
    np.copyto(scaled, _F32(0), where=np.isnan(scaled))
    return _scaled_to_uint8(scaled, overflow)


def _scaled_to_uint8(scaled: np.ndarray, overflow: str) -> np.ndarray:
    """As :func:`to_uint8` for ``255·r`` already computed (float, no NaN, modified in place)."""
    if overflow == "clip":
        np.minimum(scaled, 255, out=scaled)
        np.maximum(scaled, 0, out=scaled)
        np.rint(scaled, out=scaled)
        return scaled.astype(np.uint8)
    if overflow != "wrap":
        raise ValueError(f"unknown overflow mode {overflow!r}; use one of {', '.join(OVERFLOW_MODES)}")
    # ±2³¹ and anything beyond (±inf included) are ≡ 0 (mod 256), so clamping there gives the
    # reference's 0 for them. The float → int64 cast truncates toward zero, the int64 → uint8 cast wraps.
    # (minimum and maximum: np.clip's Python wrapper costs more than both on a small patch)
    np.minimum(scaled, _INT32_LIMIT, out=scaled)
    np.maximum(scaled, -_INT32_LIMIT, out=scaled)
    return scaled.astype(np.int64).astype(np.uint8)


_LEVELS = np.arange(256, dtype=np.float64) / 255  # every value a uint8 operand can take, in [0, 1]
_CENTRED = (2 * _LEVELS - 1) * 127.5  # 255·(2a − 1)/2
with np.errstate(divide="ignore"):
    _LOG_DOUBLE = np.log(2 * _LEVELS)  # log(2a), −inf at a = 0 so that (2a)^α = 0 there
    _LOG_DOUBLE_FLOORED = np.log(np.maximum(2 * _LEVELS, 1e-37))  # log(max(2b, 1e−37))


def _sample_coefficients(draws: Draws, beta: float) -> Params:
    """``α ~ Beta(β, 1), γ ~ Beta(1, β)`` or ``α = 1 + Beta(1, β), γ = −Beta(1, β)``, each with prob. 1/2."""
    if draws.coin():
        return {"alpha": draws.beta_a1(beta), "gamma": draws.beta_1b(beta)}
    return {"alpha": 1 + draws.beta_1b(beta), "gamma": -draws.beta_1b(beta)}


def _sample_mask(draws: Draws, beta: float) -> Params:
    return {"q": draws.uniform(), "mask_seed": draws.subseed()}


def _add(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """``((2a − 1)·α + (2b − 1)·γ + 1) / 2``, evaluated as 255·r = T_a[A] + T_b[B] from 256-entry tables."""
    table_a = _CENTRED * params["alpha"]
    table_a += 127.5
    table_b = _CENTRED * params["gamma"]
    scaled = table_a.take(a)
    scaled += table_b.take(b)
    if overflow == "wrap":
        # |α| ≤ 2 and |γ| ≤ 1 bound |255·r| by 1,000: a 16-bit integer holds it exactly, and the int16 →
        # uint8 cast wraps as the reference's byte cast does.
        return scaled.astype(np.int16).astype(np.uint8)
    return _scaled_to_uint8(scaled, overflow)


def _multiply(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """``(2a)^α · max(2b, 1e−37)^γ / 2``, evaluated as 255·r = T_a[A] · T_b[B] from 256-entry tables.

    The product is taken in float64, where it cannot overflow (at most 510 · 1e37); anything beyond ±2³¹
    then becomes 0 in the wrap conversion, as in the reference.
    """
    table_a = 127.5 * np.exp(params["alpha"] * _LOG_DOUBLE)
    table_b = np.exp(params["gamma"] * _LOG_DOUBLE_FLOORED)
    scaled = table_a.take(a)
    scaled *= table_b.take(b)
    return _scaled_to_uint8(scaled, overflow)


def _random_pixels(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """``a`` where ``u < q`` else ``b``, with one ``u`` per pixel shared by the three channels."""
    u = mask_uniforms(params["mask_seed"], a.shape[:2])
    keep = np.repeat((u < _F32(params["q"]))[..., None], 3, axis=2)  # no length-3 broadcast loop
    return np.where(keep, a, b)


def _random_elems(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """As ``random_pixels`` with an independent ``u`` for every channel value."""
    u = mask_uniforms(params["mask_seed"], a.shape)
    return np.where(u < _F32(params["q"]), a, b)


@dataclass(frozen=True)
class MixOp:
    name: str
    sample: Callable[[Draws, float], Params]
    apply: Callable[[np.ndarray, np.ndarray, Params, str], np.ndarray]


_REGISTRY = [
    MixOp("add", _sample_coefficients, _add),
    MixOp("multiply", _sample_coefficients, _multiply),
    MixOp("random_pixels", _sample_mask, _random_pixels),
    MixOp("random_elems", _sample_mask, _random_elems),
]
MIX_OPS: dict[str, MixOp] = {op.name: op for op in _REGISTRY}
MIX_NAMES: tuple[str, ...] = tuple(MIX_OPS)


def sample_mix(draws: Draws, beta: float) -> Params:
    """One mixing operation drawn uniformly from the four, with its coefficients."""
    name = MIX_NAMES[draws.index(len(MIX_NAMES))]
    return {"mix": name, **MIX_OPS[name].sample(draws, beta)}


def apply_mix(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """Mix two uint8 patches of one shape; returns a new uint8 patch."""
    return MIX_OPS[params["mix"]].apply(a, b, params, overflow)


def sample_box(draws: Draws, height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a patch for patch size ``size`` (SPEC §1.4).

    The corner is uniform over the positions of an ``size``×``size`` square; half the time the patch is that
    square, otherwise its sides are drawn independently from U{2, …, size}.
    """
    left = draws.integer(0, width - size)
    top = draws.integer(0, height - size)
    if draws.coin():
        return left, top, size, size
    return left, top, draws.integer(2, size), draws.integer(2, size)
