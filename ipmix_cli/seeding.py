"""The only place random generators are made (SPEC §2).

Every output owns a generator derived from (global seed, item identity), never from scheduling order,
so results do not depend on workers, backends, order of processing or interruption.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading

import numpy as np


@functools.lru_cache(maxsize=4096)
def path_digest(rel_path: str) -> int:
    """128-bit BLAKE2b digest of a POSIX relative path (UTF-8), read as a big-endian integer."""
    return int.from_bytes(hashlib.blake2b(rel_path.encode("utf-8"), digest_size=16).digest(), "big")


def generator_for(seed: int, rel_path: str, copy: int) -> np.random.Generator:
    """The generator of copy ``copy`` of the input at ``rel_path`` under global seed ``seed``:
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(path_digest(rel_path), copy))))`` (see :class:`_KnownSequence`
    for how it is made)."""
    return np.random.Generator(np.random.PCG64(_sequence(int(seed), path_digest(rel_path), int(copy))))


def generator_for_index(seed: int, index: int) -> np.random.Generator:
    """The generator of item ``index`` of an indexed collection (e.g. a generated mixing picture):
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(index,))))``."""
    return np.random.Generator(np.random.PCG64(_sequence(int(seed), None, int(index))))


# --- numpy's SeedSequence, made faster for the keys above ----------------------------------------------------
#
# A generator per copy made by numpy's SeedSequence costs about 13 µs, much of a small image's copy. The same
# words come from SeedSequence's own algorithm (numpy/random/bit_generator.pyx, after M. O'Neill's seed_seq
# alternative: a pool of four 32-bit words hashed from the entropy, then hashed again into the state), here
# in Python integers with its first part kept per (seed, path): the copy number is the last entropy mixed in.
# The generators are numpy's own PCG64 seeded with those words; tests/test_seeding.py holds them to numpy's.

_U32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_LEFT, _MIX_RIGHT = 0xCA01F9DD, 0x4973F715


def _words(number: int) -> list[int]:
    """A non-negative integer as SeedSequence reads it: 32-bit words, lowest first (0 is one word)."""
    words = [number & _U32]
    number >>= 32
    while number:
        words.append(number & _U32)
        number >>= 32
    return words


def _mix_in(pool: list[int], constant: int, entropy: list[int]) -> int:
    """SeedSequence's ``mix_entropy`` for the words past the pool's size: each hashed into every pool word.
    Returns the hash constant as it continues."""
    for word in entropy:
        for i in range(4):
            value = word ^ constant
            constant = constant * _MULT_A & _U32
            value = value * constant & _U32
            value ^= value >> 16
            mixed = (_MIX_LEFT * pool[i] - _MIX_RIGHT * value) & _U32
            pool[i] = mixed ^ (mixed >> 16)
    return constant


@functools.lru_cache(maxsize=1024)
def _pool_before_last(seed: int, digest: int | None) -> tuple[tuple[int, ...], int]:
    """The pool and hash constant of ``SeedSequence(seed, spawn_key=(digest, …))`` before the spawn key's last
    entry (``digest`` None: a key of one entry): the run entropy padded to the pool's size, as numpy pads it
    when there is a spawn key, the pool filled, its words mixed with one another, then the digest's words."""
    entropy = _words(seed)
    entropy += [0] * (4 - len(entropy))
    if digest is not None:
        entropy += _words(digest)
    constant = _INIT_A
    pool = []
    for word in entropy[:4]:
        value = word ^ constant
        constant = constant * _MULT_A & _U32
        value = value * constant & _U32
        pool.append(value ^ (value >> 16))
    for source in range(4):
        for target in range(4):
            if source != target:
                value = pool[source] ^ constant
                constant = constant * _MULT_A & _U32
                value = value * constant & _U32
                value ^= value >> 16
                mixed = (_MIX_LEFT * pool[target] - _MIX_RIGHT * value) & _U32
                pool[target] = mixed ^ (mixed >> 16)
    constant = _mix_in(pool, constant, entropy[4:])
    return tuple(pool), constant


def _sequence(seed: int, digest: int | None, last: int) -> "np.random.bit_generator.ISeedSequence":
    """What seeds the generator of ``SeedSequence(seed, spawn_key=(digest, last))`` (or ``(last,)``)."""
    if not _FAST or seed < 0 or last < 0 or (digest is not None and digest < 0):
        key = (last,) if digest is None else (digest, last)
        return np.random.SeedSequence(seed, spawn_key=key)  # (numpy's own, and its error for negative numbers)
    return _known_sequence(seed, digest, last)


def _known_sequence(seed: int, digest: int | None, last: int) -> "_KnownSequence":
    """:func:`_sequence` with SeedSequence's words computed here (non-negative numbers)."""
    pool, constant = _pool_before_last(seed, digest)
    pool = list(pool)
    _mix_in(pool, constant, _words(last))
    constant = _INIT_B
    words = []
    for i in range(8):  # generate_state(4, uint64): eight 32-bit words, paired low word first
        value = pool[i & 3] ^ constant
        constant = constant * _MULT_B & _U32
        value = value * constant & _U32
        words.append(value ^ (value >> 16))
    state = np.array([words[i] | words[i + 1] << 32 for i in range(0, 8, 2)], np.uint64)
    return _KnownSequence(state, seed, digest, last)


def _agrees_with_numpy() -> bool:
    """Whether the words computed here are the installed numpy's (checked once, at import: a numpy that mixed its
    entropy otherwise would get its own SeedSequence, at its own speed)."""
    for seed, digest, last in ((7, path_digest("a/b.png"), 3), (2**70 + 1, None, 2**33)):
        key = (last,) if digest is None else (digest, last)
        expected = np.random.SeedSequence(seed, spawn_key=key).generate_state(4, np.uint64)
        if not np.array_equal(_known_sequence(seed, digest, last).generate_state(4, np.uint64), expected):
            return False
    return True


class _KnownSequence(np.random.bit_generator.ISpawnableSeedSequence):
    """A SeedSequence whose first four 64-bit words (all PCG64 asks for) are already known. Anything else (more
    words, ``spawn``, ``entropy``, ``spawn_key``, ``state``) comes from numpy's own SeedSequence, made when
    first needed, so a generator made here behaves as one made by numpy."""

    __slots__ = ("_state", "_key", "_numpy")

    def __init__(self, state: np.ndarray, seed: int, digest: int | None, last: int):
        self._state = state
        self._key = (seed, (last,) if digest is None else (digest, last))
        self._numpy = None

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words == 4 and np.dtype(dtype) == np.uint64:
            return self._state.copy()
        return self.numpy().generate_state(n_words, dtype)

    def spawn(self, n_children):
        return self.numpy().spawn(n_children)

    def numpy(self) -> np.random.SeedSequence:
        if self._numpy is None:
            seed, key = self._key
            self._numpy = np.random.SeedSequence(seed, spawn_key=key)
        return self._numpy

    def __getattr__(self, name: str):
        if name.startswith("_"):  # (unpickling reads slots before they are set)
            raise AttributeError(name)
        return getattr(self.numpy(), name)


_FAST = _agrees_with_numpy()


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
#: How many interleaved lanes the compiled masks advance (``engine/kernels.py``): lane j makes outputs j, j + 32, …
#: (enough independent lanes for whole vectors of them).
MASK_LANES = 32


def _mask_constants() -> np.ndarray:
    """The mask stream's step, (multiplier, increment), and ``MASK_LANES`` steps at once, as (high, low) 64-bit
    halves: what the compiled masks advance the stream with."""
    multiplier, increment = 1, 0
    for _ in range(MASK_LANES):
        multiplier = multiplier * _PCG64_MULTIPLIER & _STATE_BITS
        increment = (increment * _PCG64_MULTIPLIER + _MASK_INCREMENT) & _STATE_BITS
    numbers = (_PCG64_MULTIPLIER, _MASK_INCREMENT, multiplier, increment)
    constants = np.array([half for number in numbers for half in (number >> 64, number & (1 << 64) - 1)], np.uint64)
    constants.flags.writeable = False
    return constants


MASK_CONSTANTS = _mask_constants()


def _mask_start(sub_seed: int) -> int:
    return (int(sub_seed) * _STATE_MULTIPLIER + _STATE_OFFSET) & _STATE_BITS


def mask_state(sub_seed: int) -> tuple[int, int]:
    """(high, low) 64-bit halves of the state :func:`mask_uniforms` starts its stream from for ``sub_seed`` (the
    compiled masks make the same values from it)."""
    state = _mask_start(sub_seed)
    return state >> 64, state & 0xFFFFFFFFFFFFFFFF


def mask_uniforms(sub_seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 uniforms on [0, 1) for a pixel mask recorded in a trace as one integer ``sub_seed``.

    The values are PCG64's from a state that is a fixed bijection of ``sub_seed``, so they depend on
    the sub-seed alone (not on the thread or on earlier masks).
    """
    stream = _MASK_STREAM
    stream.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": _mask_start(sub_seed), "inc": _MASK_INCREMENT},
        "has_uint32": 0,
        "uinteger": 0,
    }
    return stream.generator.random(shape, dtype=np.float32)


def fresh_seed() -> int:
    """A new global seed when the user gives none; it is recorded so the run can be repeated."""
    return secrets.randbits(32)
