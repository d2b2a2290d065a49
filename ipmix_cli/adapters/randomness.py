"""Where an online transform's randomness comes from, call by call (SPEC §5).

Every call augments with its own ``numpy.random.Generator``, made from a ``SeedSequence`` chosen here, first
rule that applies:

1. ``rng=`` given to the call: that generator, and nothing else is read (the transform never gets here).
2. ``seed=`` given to the transform: the transform's own stream. Call ``n`` of the object (counted per
   process, from construction; a copy continues the count it was made with) uses
   ``SeedSequence(seed, spawn_key=(n,))``: the same seed gives the same sequence of augmentations whatever
   else the program draws. Inside a PyTorch DataLoader worker, the worker's seed
   (``get_worker_info().seed``, distinct per worker and per epoch) is added to the key,
   ``spawn_key=(n, worker_seed)``, so workers never repeat each other and non-persistent workers do not
   repeat the same stream every epoch; DataLoader draws those seeds from torch's generator, so repeating such
   a run needs ``manual_seed`` of torch (or the DataLoader's ``generator=``) too, as its shuffling does.
3. torch imported (by the user or any library; never imported here): two 62-bit integers drawn from torch's
   default generator (one ``torch.randint`` call), so torch's ``manual_seed`` makes a pipeline repeatable and
   DataLoader's per-worker seeding makes the workers distinct, as for torchvision's own transforms.
4. otherwise fresh OS entropy (``SeedSequence()``): never the same twice, in any process. numpy's global
   generator is not read, although issue 22 suggested it: SPEC §2 rules out ``np.random.*`` module functions
   (tests/test_seeding.py holds the package to that), and a process pool that forks copies numpy's global
   state into every worker, whose augmentations would then repeat each other's. Repeatable without torch:
   ``seed=`` or ``rng=``.

Rule 3 reads the user's framework generator; ipmix keeps no global random state of its own.
"""

from __future__ import annotations

import numbers
import sys
import threading

import numpy as np

from ..engine.config import ConfigError

_DRAW_BOUND = 1 << 62  # torch.randint's bound must fit an int64


def framework_entropy() -> list[int] | None:
    """Two 62-bit integers from torch's default generator when torch is imported, else None (OS entropy)."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "randint"):
        return torch.randint(0, _DRAW_BOUND, (2,), dtype=torch.int64).tolist()
    return None


def worker_seed() -> int | None:
    """The seed PyTorch's DataLoader gave this worker process, or None outside one."""
    data = sys.modules.get("torch.utils.data")
    info = data.get_worker_info() if data is not None and hasattr(data, "get_worker_info") else None
    return None if info is None else int(info.seed)


def check_seed(seed) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


class Randomness:
    """The per-call seed sequences of one transform (the rules above); picklable."""

    def __init__(self, seed: int | None = None):
        self.seed = check_seed(seed)
        self.calls = 0
        self._lock = threading.Lock()

    def next(self) -> np.random.SeedSequence:
        """The seed sequence of the next call."""
        if self.seed is None:
            return np.random.SeedSequence(framework_entropy())
        with self._lock:
            call = self.calls
            self.calls += 1
        worker = worker_seed()
        return np.random.SeedSequence(self.seed, spawn_key=(call,) if worker is None else (call, worker))

    def generator(self) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(self.next()))

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
