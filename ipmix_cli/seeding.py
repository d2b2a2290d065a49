"""The only place random generators are made (SPEC §2).

Every output owns a generator derived from (global seed, item identity), never from scheduling order,
so results do not depend on workers, backends, order of processing or interruption.
"""

from __future__ import annotations

import hashlib
import secrets
import threading

import numpy as np


def path_digest(rel_path: str) -> int:
    """128-bit BLAKE2b digest of a POSIX relative path (UTF-8), read as a big-endian integer."""
    return int.from_bytes(hashlib.blake2b(rel_path.encode("utf-8"), digest_size=16).digest(), "big")


def generator_for(seed: int, rel_path: str, copy: int) -> np.random.Generator:
    """The generator of copy ``copy`` of the input at ``rel_path`` under global seed ``seed``."""
    key = (path_digest(rel_path), int(copy))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


def generator_for_index(seed: int, index: int) -> np.random.Generator:
    """The generator of item ``index`` of an indexed collection (e.g. a generated mixing picture)."""
    seq = np.random.SeedSequence(int(seed), spawn_key=(int(index),))
    return np.random.Generator(np.random.PCG64(seq))


_STATE_BITS = (1 << 128) - 1
_STATE_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645  # odd: sub-seeds map to distinct states
_STATE_OFFSET = 0x5851F42D4C957F2D14057B7EF767814F
_MASK_INCREMENT = 0xDA3E39CB94B95BDB  # one fixed PCG64 stream; sub-seeds pick far-apart states in it


class _MaskStream(threading.local):
    """One PCG64 per thread, re-positioned for every mask: building a new seeded generator costs
    about 15 µs, as much as a whole small patch mix, where setting the state costs a few."""

    def __init__(self) -> None:
        self.bit_generator = np.random.PCG64(0)
        self.generator = np.random.Generator(self.bit_generator)


_MASK_STREAM = _MaskStream()

#: numpy's PCG64: state ← state·multiplier + increment (mod 2¹²⁸), then the output function of the new state.
_PCG64_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
#: How many interleaved lanes the compiled masks advance (``engine/kernels.py``): lane j makes outputs j, j + 4, …
MASK_LANES = 4


def _jump(steps: int) -> tuple[int, int]:
    """(multiplier, increment) of ``steps`` steps of the mask stream at once."""
    multiplier, increment = 1, 0
    for _ in range(steps):
        multiplier = multiplier * _PCG64_MULTIPLIER & _STATE_BITS
        increment = (increment * _PCG64_MULTIPLIER + _MASK_INCREMENT) & _STATE_BITS
    return multiplier, increment


_MASK_JUMP = _jump(MASK_LANES)


def mask_stream(sub_seed: int) -> np.ndarray:
    """What the compiled masks need to make :func:`mask_uniforms`'s values for ``sub_seed``: ten 64-bit words,
    (high, low) of the starting state, of the increment, of the multiplier, and of the multiplier and increment of
    ``MASK_LANES`` steps at once."""
    state = (int(sub_seed) * _STATE_MULTIPLIER + _STATE_OFFSET) & _STATE_BITS
    numbers = (state, _MASK_INCREMENT, _PCG64_MULTIPLIER, *_MASK_JUMP)
    return np.array([word for number in numbers for word in (number >> 64, number & _LOW_BITS)], np.uint64)


_LOW_BITS = (1 << 64) - 1


def mask_uniforms(sub_seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 uniforms on [0, 1) for a pixel mask recorded in a trace as one integer ``sub_seed``.

    The values are PCG64's from a state that is a fixed bijection of ``sub_seed``, so they depend on
    the sub-seed alone (not on the thread or on earlier masks).
    """
    stream = _MASK_STREAM
    stream.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": (int(sub_seed) * _STATE_MULTIPLIER + _STATE_OFFSET) & _STATE_BITS, "inc": _MASK_INCREMENT},
        "has_uint32": 0,
        "uinteger": 0,
    }
    return stream.generator.random(shape, dtype=np.float32)


def fresh_seed() -> int:
    """A new global seed when the user gives none; it is recorded so the run can be repeated."""
    return secrets.randbits(32)
