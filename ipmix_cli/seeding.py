"""The only place random generators are made (SPEC §2).

Every output owns a generator derived from (global seed, item identity), never from scheduling order,
so results do not depend on workers, backends, order of processing or interruption.
"""

from __future__ import annotations

import hashlib
import secrets

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


def generator_from_subseed(sub_seed: int) -> np.random.Generator:
    """A generator for bulk draws recorded in a trace as one integer (e.g. a random pixel mask)."""
    return np.random.Generator(np.random.PCG64(int(sub_seed)))


def fresh_seed() -> int:
    """A new global seed when the user gives none; it is recorded so the run can be repeated."""
    return secrets.randbits(32)
