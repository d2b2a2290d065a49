"""The built-in mixing set: procedural fractals made on first use and cached per user (SPEC §1.5).

256 IFS fractals of 256×256 pixels (seed 0), about 11 MB on disk in ``$XDG_CACHE_HOME/ipmix`` (else
``~/.cache/ipmix``); the first run builds them in about 3.5 seconds. Two processes building at once is safe:
each builds into its own temporary folder and the first to finish renames it into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..progress import note
from .build import GENERATOR_VERSION, BuildConfig, build_set, is_complete
from .mixing_set import MixingSet

BUILTIN = BuildConfig(count=256, size=256, seed=0, kind="ifs")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ipmix"


def builtin_folder() -> Path:
    c = BUILTIN
    return cache_root() / f"builtin-v{GENERATOR_VERSION}-{c.kind}-{c.count}x{c.size}-seed{c.seed}"


def ensure_builtin(show_progress: bool = True) -> Path:
    """The built-in set's folder, building it first if this user has none yet."""
    folder = builtin_folder()
    if is_complete(folder, BUILTIN):
        return folder
    note(
        f"building the built-in mixing set ({BUILTIN.count} fractals, a few seconds, once per user) in {folder}",
        show_progress,
    )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        build_set(staging, BUILTIN, jobs=1, overwrite=True, show_progress=show_progress)
        try:
            os.rename(staging, folder)
        except OSError:
            if not is_complete(folder, BUILTIN):  # neither a concurrent build's result: replace the wreck
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_mixing_set(source: str | Path | None = None, show_progress: bool = True) -> MixingSet:
    """A mixing set from a folder, or the built-in one when ``source`` is None."""
    folder = ensure_builtin(show_progress) if source is None else Path(source)
    return MixingSet.from_folder(folder)
