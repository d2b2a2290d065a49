"""The built-in mixing set: procedural fractals made on first use and cached per user (SPEC §1.5).

256 IFS fractals of 256×256 pixels (seed 0), about 11 MB on disk in ``$XDG_CACHE_HOME/ipmix`` (else
``~/.cache/ipmix``); the first run builds them in about 3.5 seconds. Every use checks each cached picture
against its recorded SHA-256 (about 10 ms): a missing or damaged picture is re-made in place, a stray image
file is removed, and a folder that is not a real folder (a link, a file) is replaced; a cache that cannot be
written (read-only, full) is an error naming the folder and the way out, raised only when the built-in set is
needed and damaged or absent. Two processes building at once is safe: a first build goes into a private
staging folder renamed into place (the first rename wins), and repairs write each picture atomically with
the same bytes.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from ..disk.folder import make_folder
from ..errors import RunFault
from ..mixsets.check import inspect_pictures, problems_of, stray_images
from ..mixsets.loading import MixingSetError
from ..mixsets.mixing_set import MixingSet
from ..mixsets.record import GENERATOR_VERSION, BuildConfig, BuildError, RecordError, identity, read_lines, read_record
from ..runner.progress import note
from .fractals import build_set

BUILTIN = BuildConfig(count=256, size=256, seed=0, kind="ifs")


class BuiltinUnavailable(MixingSetError):
    """The built-in set is needed but its cache folder cannot hold it; the message names the folder and fix."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ipmix"


def builtin_folder() -> Path:
    c = BUILTIN
    return cache_root() / f"builtin-v{GENERATOR_VERSION}-{c.kind}-{c.count}x{c.size}-seed{c.seed}"


def ensure_builtin(show_progress: bool = True) -> Path:
    """The built-in set's folder, checked picture by picture; built first, or repaired, when it needs to be."""
    folder = builtin_folder()
    problem = builtin_problem(folder)
    if problem is None:
        return folder
    try:
        if problem == "absent":
            what = f"{BUILTIN.count} fractals, a few seconds, once per user"
            note(f"building the built-in mixing set ({what}) in {folder}", show_progress)
            _build_fresh(folder, show_progress)
        else:
            note(f"repairing the built-in mixing set in {folder}: {problem}", show_progress)
            _repair(folder, show_progress)
        problem = builtin_problem(folder)
    except (OSError, BuildError, RunFault) as error:
        raise BuiltinUnavailable(_unavailable(folder, error)) from None
    if problem is not None:
        raise BuiltinUnavailable(
            f"the built-in mixing set in {folder} is still damaged after a repair ({problem}); "
            "remove the folder, or pass --mixing-set DIR"
        )
    return folder


def builtin_in_memory(show_progress: bool = True) -> MixingSet:
    """The built-in set made in memory, for a run that must write nothing (``--dry-run``) when the cache does
    not hold it whole: the same pictures, names and fingerprint as the cached folder's."""
    from ..mixsets.record import default_digits, picture_name
    from .fractals import render_picture

    note(f"making the built-in mixing set in memory ({BUILTIN.count} fractals; a real run caches it)", show_progress)
    digits = default_digits(BUILTIN.count)
    pictures = [render_picture(BUILTIN, index, digits)[0] for index in range(BUILTIN.count)]
    return MixingSet(pictures, [picture_name(index, digits) for index in range(BUILTIN.count)])


def builtin_problem(folder: Path) -> str | None:
    """None when ``folder`` holds the whole built-in set, "absent" when there is nothing, else what is wrong."""
    try:
        info = os.lstat(folder)
    except (FileNotFoundError, NotADirectoryError):  # (a file on the way is reported when building)
        return "absent"
    except OSError as error:
        return f"it cannot be examined ({error.strerror})"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    try:
        record = read_record(folder)
    except RecordError as error:
        return str(error)
    if record is None or not record.complete:
        return "its build is unfinished"
    if record.config != BUILTIN or record.identity() != identity(BUILTIN):
        return "it was built with other settings"
    found = inspect_pictures(folder, BUILTIN.count, record.digits, read_lines(folder, BUILTIN, record.digits))
    if found.unverified:
        return f"{len(found.unverified)} pictures have no recorded digest (made by an older ipmix)"
    if not found.whole:
        return problems_of(found, record.digits)
    strays = stray_images(folder, record.names())
    return f"it holds image files it did not make ({', '.join(strays[:3])})" if strays else None


def _build_fresh(folder: Path, show_progress: bool) -> None:
    make_folder(folder.parent)  # never a folder outside the path (a `..` after a missing part is refused)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        built = build_set(staging, BUILTIN, jobs=1, overwrite=True, show_progress=show_progress)
        if built.failed:
            raise OSError(f"{len(built.failed)} pictures could not be written ({built.failed[0]['error']})")
        try:
            os.rename(staging, folder)
        except OSError:
            if builtin_problem(folder) is not None:  # not a concurrent build's result either: replace the wreck
                _set_aside(folder)
                os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _repair(folder: Path, show_progress: bool) -> None:
    """Re-make what is wrong in place (each picture written atomically, so concurrent readers and repairers
    see whole files); anything stranger (not a folder, a folder where a picture should be) is rebuilt anew."""
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        _set_aside(folder)
        _build_fresh(folder, show_progress)
        return
    try:
        built = build_set(folder, BUILTIN, jobs=1, overwrite=True, show_progress=show_progress, wait=True)
        if built.failed:  # e.g. a folder where a picture should be: the picture could not be written
            raise OSError(f"{len(built.failed)} pictures could not be written")
        record = read_record(folder)
        for top in sorted({name.split("/")[0] for name in stray_images(folder, record.names() if record else [])}):
            _remove_entry(folder / top)  # our own folder: what the build did not make goes
    except (OSError, RecordError, RunFault):
        if builtin_problem(folder) is None:  # a concurrent repair finished it
            return
        _set_aside(folder)
        _build_fresh(folder, show_progress)


def _remove_entry(path: Path) -> None:
    """Remove a file, a link (never what it points to) or a whole folder (without following links in it)."""
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _set_aside(path: Path) -> None:
    """Move a damaged cache entry out of the way (a link or file is removed itself, never what it points to)."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{path.name}-old-", dir=path.parent))
    os.rename(path, trash / "set")
    shutil.rmtree(trash, ignore_errors=True)


def _unavailable(folder: Path, error: Exception) -> str:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    blocking = next((p for p in reversed(folder.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        reason = f"{blocking} is a file, not a folder"
    return (
        f"the built-in mixing set cannot be prepared in {folder} ({reason}); set XDG_CACHE_HOME to a "
        f"writable folder with about 15 MB free, or pass --mixing-set DIR (e.g. one made by `ipmix fractals build`)"
    )


def load_mixing_set(source: str | Path | None = None, show_progress: bool = True) -> MixingSet:
    """A mixing set from a folder, or the built-in one when ``source`` is None."""
    folder = ensure_builtin(show_progress) if source is None else Path(source)
    return MixingSet.from_folder(folder)
