"""Pixel-level mixing operations and patch sampling (SPEC §1.3, §1.4).

Operands are uint8 patches; the arithmetic runs on the patch only (never the whole image), and
``add``/``multiply`` results go back to uint8 through the overflow conversion of §1.3. A uint8 operand takes
only 256 values, so each operand's term is a 256-entry table computed once per step: no per-pixel
powers, and a patch value costs two lookups and one add or multiply.

``multiply`` with ``--overflow wrap`` repeats the reference's float32 arithmetic (see :func:`_multiply_wrap`),
because the byte cast keeps the low bits of results up to about 1e9, where float64 and float32 disagree.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..seeding import MASK_CONSTANTS, mask_state, mask_uniforms
from . import compiled
from .bands import row_bands
from .draws import Draws
from .ops import Box

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
    """``(2a)^α · max(2b, 1e−37)^γ / 2``.

    ``wrap`` follows the reference's float32 arithmetic exactly (:func:`_multiply_wrap`). ``clip`` evaluates
    255·r = T_a[A] · T_b[B] from float64 tables; the product cannot overflow there (at most 510 · 1e37).
    """
    if overflow == "wrap":
        return _multiply_wrap(a, b, params)
    table_a = 127.5 * np.exp(params["alpha"] * _LOG_DOUBLE)
    table_b = np.exp(params["gamma"] * _LOG_DOUBLE_FLOORED)
    scaled = table_a.take(a)
    scaled *= table_b.take(b)
    return _scaled_to_uint8(scaled, overflow)


# The reference's operands (``ToTensor``: byte / 255 in float32) doubled, for the image (row 0) and for the
# source, clamped at float32(1e−37) (row 1), held in float64 for the powers.
_DOUBLED32 = np.arange(256, dtype=np.float32) / _F32(255) * _F32(2)
_POWER_BASES = np.stack([_DOUBLED32, np.maximum(_DOUBLED32, _F32(1e-37))]).astype(np.float64)
#: Where a source term is capped (see _multiply_wrap): far above where every byte is 0.
_SOURCE_CAP = 2.0**51
_HALF_255 = _F32(127.5)


def float32_exponents(params: Params) -> np.ndarray:
    """α and γ as the reference's float32 tensors use them, as a (2, 1) float32 column.

    The reference draws ``a = np.float32(Beta(β, 1))`` or ``a = 1 + np.float32(Beta(1, β))`` and
    ``b = ±np.float32(Beta(1, β))``; torch casts a scalar operand to the tensor's float32, so the second α is
    float32(1 + float32(u)): one rounding of u, then one of the sum. Our α keeps ``1 + u`` in float64, from
    which ``α − 1`` recovers u exactly.
    """
    alpha = params["alpha"]
    if alpha > 1:
        alpha = _F32(1) + _F32(alpha - 1)  # a float32 sum: rounded once
    return np.array([[alpha], [params["gamma"]]], np.float32)


def power_tables(exponents: np.ndarray) -> np.ndarray:
    """(2a)^α (row 0) and max(2b, 1e−37)^γ (row 1) for every byte, correctly rounded to float32."""
    return np.power(_POWER_BASES, exponents).astype(np.float32)


def _multiply_wrap(a: np.ndarray, b: np.ndarray, params: Params) -> np.ndarray:
    """``multiply`` exactly as the reference computes it, then its wrapping byte cast.

    What hzlsaber/IPMix does (``IPMix_utils.multiply`` on ``ToTensor`` patches, then ``ToPILImage``), every
    step in float32: ``a = byte/255`` and ``b`` likewise; ``img1 = a·2``, ``img2 = b·2``;
    ``img1 ** α`` and ``img2.clip(1e−37) ** γ`` (the clamp value is float32(1e−37)); their product, rounded;
    ``/ 2`` (exact); then ``ToPILImage``'s ``mul(255)``, rounded, and ``.byte()``, which truncates toward
    zero and keeps the low byte. Where b = 0 and γ < 0 the source term is up to 1e37, products reach 1e9
    and beyond, and the byte is made of the float32 product's low bits: float64 arithmetic changes about
    one byte in seven there.

    Here the powers come from 256-entry tables, correctly rounded (:func:`power_tables`; torch's CPU
    kernel uses SLEEF's vectorised powf, within 1 ULP, so a machine running the reference may differ in a
    power's last bit: 0.3 % of the b = 0 bytes on one AVX-512 machine, against 14 % for float64). Halving a
    product is exact, so ``(p / 2)·255`` rounds as ``p·127.5`` does. Only the b = 0 source term can exceed
    2⁵¹; it is capped there: a nonzero image term is at least (2/255)² > 2⁻¹⁴, so a capped product times
    127.5 exceeds 2³¹, where every float32 is a multiple of 256 and its byte is 0, as the reference's
    (``inf`` included) would be; the cap keeps every value finite and inside int64.
    """
    tables = power_tables(float32_exponents(params))
    if tables[1, 0] > _SOURCE_CAP:
        tables[1, 0] = _SOURCE_CAP
    scaled = tables[0].take(a)
    scaled *= tables[1].take(b)
    scaled *= _HALF_255
    return scaled.astype(np.int64).astype(np.uint8)


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


#: PixMix's mixing operations (andyzoujm/pixmix ``pixmix_utils.mixings``).
PIXMIX_MIXES: tuple[str, ...] = ("add", "multiply")


def sample_mix(draws: Draws, beta: float, names: tuple[str, ...] = MIX_NAMES) -> Params:
    """One mixing operation drawn uniformly from ``names`` (IPMix's four by default), with its coefficients."""
    name = names[draws.index(len(names))]
    return {"mix": name, **MIX_OPS[name].sample(draws, beta)}


def apply_mix(a: np.ndarray, b: np.ndarray, params: Params, overflow: str) -> np.ndarray:
    """Mix two uint8 patches of one shape; returns a new uint8 patch."""
    return MIX_OPS[params["mix"]].apply(a, b, params, overflow)


def mix_into_box(
    image: np.ndarray, box: Box, source: np.ndarray, at: tuple[int, int], params: Params, overflow: str
) -> None:
    """``mix_into`` of ``box`` (left, top, width, height) of ``image`` with the box of the same size at ``at``
    (left, top) of ``source``: IPMix's patch step. The masked mixes of the kernels read and write the boxes in
    place, row by row, when both images are C-contiguous (as the engine's are) and apart, instead of through
    views. A box that does not lie inside both images is a ValueError on either path."""
    box = left, top, width, height = tuple(map(operator.index, box))  # (whole numbers on both paths: numba
    at = source_left, source_top = tuple(map(operator.index, at))  # would truncate fractions)
    kernels = compiled.active()
    mix = params["mix"]
    if (
        kernels is not None
        and (mix == "random_elems" or mix == "random_pixels")
        and image.flags.c_contiguous
        and source.flags.c_contiguous
        and not np.may_share_memory(image, source)
        and _select_masked(kernels, image, box, source, at, params)
    ):
        return
    _check_boxes(image, box, source, at)
    target = image[top : top + height, left : left + width]
    mix_into(target, source[source_top : source_top + height, source_left : source_left + width], params, overflow)


def _check_boxes(image: np.ndarray, box: Box, source: np.ndarray, at: tuple[int, int]) -> None:
    """A ValueError unless ``box`` lies inside ``image`` and the box of its size at ``at`` inside ``source`` (whole
    numbers: numpy's unsigned ones would wrap in the subtractions)."""
    left, top, width, height = box
    source_left, source_top = at
    if not (
        0 < width
        and 0 < height
        and 0 <= left <= image.shape[1] - width
        and 0 <= top <= image.shape[0] - height
        and 0 <= source_left <= source.shape[1] - width
        and 0 <= source_top <= source.shape[0] - height
        and image.shape[2:] == source.shape[2:] == (3,)
    ):
        raise ValueError(f"box {box} (and at {at} of the source {source.shape}) does not fit the image {image.shape}")


def _select_masked(kernels, image: np.ndarray, box: Box, source: np.ndarray, at: tuple, params: Params) -> bool:
    """``kernels.select_masked`` of C-contiguous images that do not overlap (the mask's uniforms are made in the
    kernel, as used); False, with nothing done, when the kernel does not take them: a box that does not fit (it
    checks), a number beyond int64 or an array of another kind (numba refuses the call)."""
    left, top, width, height = box
    high, low = mask_state(params["mask_seed"])
    q, per_value = _F32(params["q"]), params["mix"] == "random_elems"
    arguments = (image, top, left, source, at[1], at[0], height, width)
    try:
        return kernels.select_masked(*arguments, high, low, MASK_CONSTANTS, q, per_value)
    except (OverflowError, TypeError):
        return False


def mix_into(target: np.ndarray, source: np.ndarray, params: Params, overflow: str) -> None:
    """``target[...] = apply_mix(target, source, params, overflow)``: ``target`` (a patch of the chain's image,
    usually a view) is overwritten by its mix with ``source``. By the kernels when they are in use, for
    coefficients our samplers draw (0 < α ≤ 2, |γ| ≤ 1: every conversion stays in range there); a plan with
    others (a hand-edited trace) takes the plain path."""
    kernels = compiled.active()
    if target.shape != source.shape:  # (the kernels index ``source`` as ``target``, unchecked)
        raise ValueError(f"cannot mix a patch of shape {source.shape} into one of shape {target.shape}")
    if (  # the kernels take writable H×W×3 uint8 patches: anything else is the plain path's to judge
        kernels is None
        or target.size == 0
        or target.shape[2:] != (3,)
        or target.dtype != np.uint8
        or source.dtype != np.uint8
        or not target.flags.writeable
    ):
        if params["mix"] in ("add", "multiply"):  # elementwise: in bands of rows, for small float temporaries
            for rows in row_bands(target.shape):
                target[rows] = apply_mix(target[rows], source[rows], params, overflow)
        else:
            target[...] = apply_mix(target, source, params, overflow)
        return
    mix = params["mix"]
    if np.may_share_memory(target, source):  # the kernels read the source as they write the target
        source = source.copy()
    if mix in ("random_pixels", "random_elems"):
        whole = np.ascontiguousarray(target)  # the kernel takes whole images and a box: views are copied
        box = (0, 0, *target.shape[1::-1])
        if not _select_masked(kernels, whole, box, np.ascontiguousarray(source), (0, 0), params):
            _check_boxes(whole, box, source, (0, 0))  # (raises: the kernel found the patches do not fit)
        if whole is not target:
            target[...] = whole
        return
    alpha, gamma = params["alpha"], params["gamma"]
    if not (0 < alpha <= 2 and -1 <= gamma <= 1) or overflow not in OVERFLOW_MODES:
        target[...] = apply_mix(target, source, params, overflow)
        return
    if mix == "add":
        kind = kernels.ADD_WRAP if overflow == "wrap" else kernels.ADD_CLIP
        kernels.add_patch(target, source, _CENTRED, float(alpha), float(gamma), kind)
    elif overflow == "wrap":
        tables = power_tables(float32_exponents(params))
        if tables[1, 0] > _SOURCE_CAP:
            tables[1, 0] = _SOURCE_CAP
        tables = tables.astype(np.float64)  # exactly the float32 values: the kernel rounds as float32 does
        kernels.mix_patch(target, source, tables[0], tables[1], kernels.MULTIPLY_WRAP)
    else:
        table_a = 127.5 * np.exp(alpha * _LOG_DOUBLE)
        kernels.mix_patch(target, source, table_a, np.exp(gamma * _LOG_DOUBLE_FLOORED), kernels.MULTIPLY_CLIP)


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


# --- whole images in float32, kept between rounds (PixMix) ---------------------------------------------


def to_float(image: np.ndarray) -> np.ndarray:
    """A uint8 image as the reference's tensors hold it (``ToTensor``): byte / 255 in float32."""
    return np.divide(image, _F32(255), dtype=np.float32)  # a correctly rounded division, as torch's


def to_bytes(mixed: np.ndarray) -> np.ndarray:
    """A float32 image in [0, 1] rounded to uint8: ``⌊255·x + ½⌋`` (round half up) in float32 (in bands of rows)."""
    out = np.empty(mixed.shape, np.uint8)
    for rows in row_bands(mixed.shape):
        scaled = mixed[rows] * _F32(255)
        scaled += _F32(0.5)
        out[rows] = scaled
    return out


def mix_float(mixed: np.ndarray, source: np.ndarray, params: Params, out: np.ndarray | None = None) -> np.ndarray:
    """PixMix's ``add`` or ``multiply`` of a float32 image in [0, 1] with a uint8 source, clipped to [0, 1].

    As andyzoujm/pixmix computes it, in float32 and in its order: ``add`` is ``(α·(2x − 1) + γ·(2s − 1) + 1)
    / 2``, ``multiply`` is ``(2x)^α · max(2s, 1e−37)^γ / 2`` (powers correctly rounded to float32, as in
    IPMix's ``multiply``), then ``torch.clip(·, 0, 1)``. The source's power comes from a 256-entry table;
    the image's is computed per value, since after the first round it is no longer a byte. In bands of rows
    (the values do not depend on them), so that the float64 powers stay small; into ``out`` when given (which
    may be ``mixed`` itself).
    """
    exponents = float32_exponents(params)
    out = np.empty(mixed.shape, np.float32) if out is None else out
    source_powers = power_tables(exponents)[1] if params["mix"] != "add" else None
    for rows in row_bands(mixed.shape):
        out[rows] = _mix_float_band(mixed[rows], source[rows], params["mix"], exponents, source_powers)
    return out


def _mix_float_band(
    mixed: np.ndarray, source: np.ndarray, mix: str, exponents: np.ndarray, source_powers: np.ndarray | None
) -> np.ndarray:
    alpha, gamma = exponents[0, 0], exponents[1, 0]
    result = mixed * _F32(2)
    if mix == "add":
        result -= _F32(1)
        result *= alpha
        term = to_float(source)  # on a whole image, four passes cost less than one 256-entry table's take
        term *= _F32(2)
        term -= _F32(1)
        term *= gamma
        result += term
        result += _F32(1)
    else:
        result = np.power(result.astype(np.float64), np.float64(alpha)).astype(np.float32)
        result *= source_powers.take(source)
    result *= _F32(0.5)
    np.minimum(result, _F32(1), out=result)
    np.maximum(result, _F32(0), out=result)
    return result


# --- the same rounds by the kernels (``kernels.pixmix_first``, ``pixmix_round``) ------------------------------

#: Where a multiply round's kernel records the values whose power it leaves to numpy (about 1 in 10,000): at
#: least a block of the kernel's, so that every call goes on.
_DOUBTFUL_CAPACITY = 1024
_BYTES_DOUBLED = (to_float(np.arange(256, dtype=np.uint8)) * _F32(2)).astype(np.float64)


def compiles_float_round(params: Params) -> bool:
    """Whether the kernels make :func:`mix_float`'s round for these parameters: those our samplers draw
    (0 < α ≤ 2, |γ| ≤ 1), where the kernel's power is proven accurate; a hand-edited trace may hold others."""
    if params["mix"] not in PIXMIX_MIXES:
        return False
    alpha, gamma = (float(value) for value in float32_exponents(params)[:, 0])
    return 0 < alpha <= 2 and -1 <= gamma <= 1


def mix_float_first(kernels, start: np.ndarray, source: np.ndarray, params: Params, out: np.ndarray) -> None:
    """``out`` (flat float32) ← ``mix_float(to_float(start), source, params)`` for flat uint8 ``start`` and
    ``source``. The image is still bytes: a multiply takes both powers from 256-entry tables, as
    :func:`power_tables` and :func:`mix_float` compute them."""
    exponents = float32_exponents(params)
    alpha, gamma = exponents[0, 0], exponents[1, 0]
    if params["mix"] == "add":
        kernels.pixmix_first(start, source, alpha, gamma, _NO_POWERS, _NO_POWERS, kernels.PIXMIX_ADD, out)
        return
    image_powers = np.power(_BYTES_DOUBLED, np.float64(alpha)).astype(np.float32)
    source_powers = power_tables(exponents)[1]
    kernels.pixmix_first(start, source, alpha, gamma, image_powers, source_powers, kernels.PIXMIX_MULTIPLY, out)


def mix_float_next(kernels, mixed: np.ndarray, source: np.ndarray, params: Params) -> None:
    """``mixed`` (flat float32) ← ``mix_float(mixed, source, params)`` in place, for flat uint8 ``source``. The
    few values whose power the kernel leaves to numpy (see ``kernels.pixmix_round``) are computed as
    :func:`mix_float` computes them, from their values before the round (which the kernel leaves there)."""
    exponents = float32_exponents(params)
    alpha, gamma = exponents[0, 0], exponents[1, 0]
    if params["mix"] == "add":
        kernels.pixmix_round(mixed, source, alpha, gamma, _NO_POWERS, kernels.PIXMIX_ADD, 0, _NO_INDICES)
        return
    source_powers = power_tables(exponents)[1]
    doubtful = np.empty(_DOUBTFUL_CAPACITY, np.int64)
    position = 0
    while position < mixed.size:
        found, position = kernels.pixmix_round(
            mixed, source, alpha, gamma, source_powers, kernels.PIXMIX_MULTIPLY, position, doubtful
        )
        if found:
            where = doubtful[:found]
            result = mixed[where] * _F32(2)  # mix_float's multiply, on these values alone
            result = np.power(result.astype(np.float64), np.float64(alpha)).astype(np.float32)
            result *= source_powers.take(source[where])
            result *= _F32(0.5)
            np.minimum(result, _F32(1), out=result)
            np.maximum(result, _F32(0), out=result)
            mixed[where] = result


_NO_POWERS = np.empty(0, np.float32)
_NO_INDICES = np.empty(0, np.int64)
