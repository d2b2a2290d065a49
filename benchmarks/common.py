"""Helpers shared by the benchmarks: the JPEG yardstick, timing, and process-tree memory."""

from __future__ import annotations

import io
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
YARDSTICK_PHOTO = ROOT / "samples" / "space" / "astronaut.jpg"


def photo(side: int) -> np.ndarray:
    """The yardstick photograph, scaled to ``side``×``side``."""
    with Image.open(YARDSTICK_PHOTO) as image:
        return np.array(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))


def jpeg_encode_ms(rounds: int = 15, per_round: int = 100) -> float:
    """Median time to encode the 224×224 yardstick photo as JPEG quality 95."""
    image = Image.fromarray(photo(224))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            image.save(io.BytesIO(), "JPEG", quality=95)
        times.append((time.perf_counter() - start) / per_round * 1e3)
    return statistics.median(times)


def _tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree)


class PeakTreeMemory:
    """Samples the resident memory of a process tree every ``interval`` seconds; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_bytes(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


_TORCHVISION_SCHEMAS = []  # keeps the declared operator schemas alive


def load_torchvision():
    """``(torch, torchvision.transforms)`` when both are installed, else None (they are never required).

    torchvision's wheels are CUDA builds; next to a CPU-only torch its C++ operators cannot load and
    ``import torchvision`` stops at ``register_fake("torchvision::nms")`` ("operator torchvision::nms does not
    exist"). The transforms need none of those operators, so after that failure the two schemas are declared
    and the import is tried again.
    """
    import sys

    try:
        import torch
        import torchvision  # noqa: F401
    except ImportError:
        return None
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _TORCHVISION_SCHEMAS.append(library)
        import torchvision  # noqa: F401
    from torchvision import transforms

    return torch, transforms
