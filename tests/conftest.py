"""Shared helpers for the test suite: small deterministic images, and statistical tolerances."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

# The compiled kernels' machine code is kept between sessions in .pytest_cache (compiling them all costs about
# 11 s; numba compiles again whatever source changed), never in the user's cache; set before any test module
# imports numba, and inherited by the ipmix processes tests start.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "ipmix-numba"))


def binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    """``sigmas`` standard deviations of a proportion with success probability ``p`` over ``n`` draws."""
    return sigmas * math.sqrt(p * (1 - p) / n)


def assert_share(count: int, n: int, p: float, what: str) -> None:
    share = count / n
    tolerance = binomial_tolerance(p, n)
    assert abs(share - p) <= tolerance, f"{what}: share {share:.4f}, expected {p:.4f} ± {tolerance:.4f}"


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random image with edges: closer to a photograph than white noise, deterministic."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    from PIL import Image

    smooth = np.array(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR))
    noise = rng.integers(-12, 13, (height, width, 3))
    return np.clip(smooth.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Tests never touch the user's cache: the built-in mixing set is built in a session folder (the kernels'
    machine code: see ``NUMBA_CACHE_DIR`` above)."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture(scope="session")
def mixing_dir(tmp_path_factory):
    """A small procedural mixing set, built once per session."""
    from ipmix_cli.jobs.fractals import BuildConfig, build_set

    folder = tmp_path_factory.mktemp("mixing")
    build_set(folder, BuildConfig(count=24, size=64, seed=3, kind="mixed"), show_progress=False)
    return folder


def make_inputs(root, count: int, size=(24, 20), labels=("cats", "dogs"), seed: int = 0):
    """``count`` small PNG photos spread over label folders; returns their relative paths."""
    from PIL import Image

    made = []
    for index in range(count):
        label = labels[index % len(labels)] if labels else None
        folder = root / label if label else root
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo_like(size[0], size[1], seed=seed + index)).save(folder / f"img{index:04d}.png")
        made.append(f"{label}/img{index:04d}.png" if label else f"img{index:04d}.png")
    return made


def folder_bytes(folder, skip=("ipmix_run.json",)) -> dict:
    """Every file under ``folder`` with its bytes: the outputs and the manifest. Left out: the run record,
    which holds timings, and ipmix's private bookkeeping (``.ipmix*``: lock files, and a state that records
    each file's inode and times, which differ from run to run by nature)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in skip and not p.name.startswith(".ipmix")
    }


def ipmix_command(root, out, mixing, *extra) -> list[str]:
    """``ipmix augment ROOT OUT --mixing-set MIXING EXTRA…`` as a subprocess argument list."""
    import sys

    arguments = [sys.executable, "-m", "ipmix_cli", "augment", str(root), str(out), "--mixing-set", str(mixing)]
    return arguments + [str(e) for e in extra]


def run_ok(arguments: list[str], **kwargs):
    """Run a command (a list of arguments) and check that it succeeds; its completed process."""
    import subprocess

    completed = subprocess.run(arguments, capture_output=True, text=True, **kwargs)
    assert completed.returncode == 0, completed.stderr
    return completed


@pytest.fixture(scope="module")
def dask_cluster():
    """A real dask.distributed cluster: a scheduler and two worker processes (with nannies) on loopback. Its
    dashboard takes a free port: 8787 may be another cluster's on a shared machine (a warning, so an error here)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


def on_both_paths(function):
    """``function()`` on the engine's plain path and on its compiled path (numba kernels): (plain, compiled)."""
    from ipmix_cli.engine import compiled

    with compiled.using("plain"):
        plain = function()
    with compiled.using("compiled"):
        fast = function()
    return plain, fast
