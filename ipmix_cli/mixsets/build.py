"""``ipmix fractals build``: write a folder of procedural mixing pictures (SPEC §3), and repair or extend one.

Picture ``i`` depends only on (seed, i, kind, size), so a build is reproducible with any number of jobs.
Re-running a build checks every picture against its recorded SHA-256 and re-makes only those missing or
damaged; a larger ``count`` adds pictures and leaves the others untouched; a smaller one is refused unless
``overwrite`` (then the pictures past it are removed). Each PNG is written atomically; the digests of finished
batches are journalled as they come, and ``metadata.jsonl`` (with every digest) and the completed record are
written last.

A build holds the same exclusive lock on its folder as ``augment`` on OUT (``OUT/.ipmix.lock``, see
``disk.lock``), taken before the record is read: a second build into the folder is refused at once (or, for
the built-in set's repairs, waits), so two builds never interleave their records, journals and seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, PngImagePlugin

from ..disk.atomic import remove_stale_temporaries, write_bytes_atomic, write_text_atomic
from ..disk.folder import SafeFolder, make_folder
from ..disk.lock import LockHeld, hold_folder
from ..progress import progress_bar
from ..seeding import generator_for_index
from .check import inspect_pictures, stray_images
from .files import read_regular
from .fractals import make_picture
from .parallel import run_batches
from .record import (
    GENERATOR_VERSION,
    JOURNAL_NAME,
    MAX_SIZE,
    METADATA_NAME,
    MIN_SIZE,
    RECORD_NAME,
    BuildConfig,
    BuildError,
    BuildRecord,
    Journal,
    RecordError,
    default_digits,
    identity,
    metadata_text,
    picture_name,
    read_lines,
    read_record,
    record_text,
)

__all__ = ["GENERATOR_VERSION", "MAX_SIZE", "MIN_SIZE", "BuildConfig", "BuildError", "BuildSummary"]

_TEXT_KEY = "ipmix"
_PNG_COMPRESSION = 3
_BATCH = 8


@dataclass(frozen=True)
class BuildSummary:
    """What a build did: pictures made fresh, re-made because missing or damaged, kept, and removed."""

    config: BuildConfig
    made: int
    repaired: int
    kept: int
    removed: int
    strays: list[str]
    seed_recorded: bool = False  # the seed was the one recorded in the folder (``recorded_seed``)


def render_picture(config: BuildConfig, index: int, digits: int | None = None) -> tuple[bytes, dict]:
    """The PNG bytes and metadata line of picture ``index`` (its file name is in both)."""
    kind, picture = make_picture(config.kind, generator_for_index(config.seed, index), config.size)
    line = {
        "file_name": config.file_name(index, digits),
        "index": index,
        "kind": kind,
        "seed": config.seed,
        "params": picture.params,
    }
    info = PngImagePlugin.PngInfo()
    info.add_text(_TEXT_KEY, json.dumps(line, separators=(",", ":")))
    buffer = io.BytesIO()
    Image.fromarray(picture.pixels, "RGB").save(buffer, "PNG", pnginfo=info, compress_level=_PNG_COMPRESSION)
    return buffer.getvalue(), line


def _make_batch(config: BuildConfig, digits: int, out: Path, indices: list[int]) -> list[dict]:
    lines = []
    for index in indices:
        data, line = render_picture(config, index, digits)
        write_bytes_atomic(out / picture_name(index, digits), data)
        lines.append({**line, "sha256": hashlib.sha256(data).hexdigest()})
    return lines


def build_set(
    out: Path,
    config: BuildConfig,
    jobs: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    recorded_seed: bool = False,
    wait: bool = False,
) -> BuildSummary:
    """Make every missing or damaged picture of ``config`` in ``out``, then write the metadata and the record.

    With ``recorded_seed``, the seed recorded in ``out`` is used when there is one (a re-run without ``--seed``
    repairs the same set) and ``config.seed`` only for a new set. The folder is locked for the whole build:
    :class:`BuildError` when another ipmix process holds it, or with ``wait`` the build waits for it.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} is a file, not a folder; choose another output folder")
    folder = SafeFolder(make_folder(out))
    try:
        lock = hold_folder(folder, None, what="writing", wait=wait)
        lock.__enter__()
    except LockHeld as error:
        raise BuildError(str(error)) from None
    try:
        seed_recorded = False
        if recorded_seed:
            recorded = _recorded_seed(out)
            if recorded is not None:
                config, seed_recorded = dataclasses.replace(config, seed=recorded), True
        summary = _build_locked(out, config, jobs, overwrite, show_progress)
    finally:
        lock.__exit__(None, None, None)
    return dataclasses.replace(summary, seed_recorded=seed_recorded)


def _recorded_seed(out: Path) -> int | None:
    try:
        record = read_record(out)
    except RecordError:
        return None  # the plan refuses a damaged record (or replaces it with --overwrite)
    return None if record is None else record.config.seed


def _build_locked(out: Path, config: BuildConfig, jobs: int, overwrite: bool, show_progress: bool) -> BuildSummary:
    plan = _plan(out, config, overwrite)
    remove_stale_temporaries(out)
    if not plan.trusted:  # digests of other settings must not vouch for this build's pictures
        _remove(out, [METADATA_NAME, JOURNAL_NAME])
    removed = _remove(out, plan.remove)

    lines = read_lines(out, config, plan.digits) if plan.trusted else {}
    found = inspect_pictures(out, config.count, plan.digits, lines)
    kept = {index: lines[index] for index in found.intact}
    todo = [index for index in range(config.count) if index not in kept]
    repaired = len(found.damaged) + sum(1 for i in [*found.missing, *found.unverified] if i < plan.complete_count)
    names = [picture_name(index, plan.digits) for index in range(config.count)]
    metadata = metadata_text([kept[i] for i in range(config.count)]) if not todo else None
    if plan.trusted and not plan.remove and plan.complete_count == config.count and _unchanged(out, metadata):
        # Already whole: the record is left as it is, so a reader loading the set meanwhile (e.g. a second
        # process whose repair of the built-in set found the first one's repair done) never sees it unfinished.
        return BuildSummary(config, 0, 0, config.count, 0, stray_images(out, names))
    write_text_atomic(out / RECORD_NAME, record_text(config, plan.digits, complete=False))
    _make(out, config, plan.digits, todo, jobs, show_progress, kept)

    write_text_atomic(out / METADATA_NAME, metadata_text([kept[i] for i in range(config.count)]))
    made = len(todo) - repaired
    counts = {"made": made, "repaired": repaired, "kept": config.count - len(todo), "removed": removed}
    write_text_atomic(out / RECORD_NAME, record_text(config, plan.digits, complete=True, **counts))
    Journal(out).remove()
    return BuildSummary(config, made, repaired, counts["kept"], removed, stray_images(out, names))


def _unchanged(out: Path, metadata: str | None) -> bool:
    """Whether ``out`` already holds exactly the metadata a finished build would write (``metadata``, None
    when pictures remain to be made) and no journal: then the build has nothing to write."""
    if metadata is None or os.path.lexists(out / JOURNAL_NAME):
        return False
    try:
        return read_regular(out / METADATA_NAME, follow_links=False) == metadata.encode("utf-8")
    except OSError:
        return False


def _make(out: Path, config: BuildConfig, digits: int, todo: list[int], jobs: int, show_progress: bool, lines: dict):
    """Render and write the pictures ``todo``, journalling each finished batch's lines (into ``lines`` too)."""
    journal = Journal(out)
    batches = [todo[i : i + _BATCH] for i in range(0, len(todo), _BATCH)]
    results = run_batches(functools.partial(_make_batch, config, digits, out), batches, jobs)
    try:
        with progress_bar(len(todo), f"building {config.kind} pictures", show_progress, unit="pic") as bar:
            for made in results:
                journal.append(made)
                lines.update((line["index"], line) for line in made)
                bar.update(len(made))
    finally:
        results.close()  # on Ctrl-C or a fault: the workers are stopped before the build returns
        journal.close()


@dataclass(frozen=True)
class _Plan:
    digits: int  # of the picture names, fixed by the first build
    trusted: bool  # whether recorded digests describe pictures of this configuration
    complete_count: int  # pictures a finished earlier build of these settings had (missing ones are repairs)
    remove: list[str]  # names of an earlier build's pictures that are not part of this one


def _plan(out: Path, config: BuildConfig, overwrite: bool) -> _Plan:
    """What to keep of what ``out`` holds, or a :class:`BuildError` that says why not and what to do."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} is a file, not a folder; choose another output folder")
    try:
        record = read_record(out) if out.exists() else None
    except RecordError as error:
        if not overwrite:
            raise BuildError(f"{error}; pass --overwrite to rebuild the set in {out}") from None
        return _Plan(default_digits(config.count), False, 0, [])
    if record is None:
        if out.exists() and _has_visible_entries(out) and not overwrite:
            raise BuildError(
                f"{out} is not empty and holds no ipmix mixing set; choose an empty folder or pass --overwrite"
            )
        return _Plan(default_digits(config.count), False, 0, [])
    old_names = record.names()
    if record.identity() != identity(config):
        if not overwrite:
            raise BuildError(
                f"{out} holds a mixing set built with other settings ({_changes(record, config)}); "
                "choose another folder or pass --overwrite to replace it"
            )
        digits = default_digits(config.count)
        keep = {picture_name(index, digits) for index in range(config.count)}
        return _Plan(digits, False, 0, [name for name in old_names if name not in keep])
    if config.count < record.config.count:
        left = old_names[config.count :]
        if not overwrite:
            raise BuildError(
                f"{out} holds {record.config.count} pictures; --count {config.count} would leave {len(left)} behind "
                f"({left[0]} … {left[-1]}); pass --overwrite to remove them (pictures 0–{config.count - 1} are kept), "
                f"or choose another folder"
            )
        return _Plan(record.digits, True, config.count if record.complete else 0, left)
    return _Plan(record.digits, True, record.config.count if record.complete else 0, [])


def _changes(record: BuildRecord, config: BuildConfig) -> str:
    old, new = record.identity(), identity(config)
    changed = [f"{key} {old[key]} → {new[key]}" for key in old if old[key] != new[key]]
    return ", ".join(changed) + f"; it has {record.describe()}"


def _has_visible_entries(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return any(not entry.name.startswith(".") for entry in entries)


def _remove(out: Path, names: list[str]) -> int:
    """Unlink the named files of an earlier build (names made from its record, never read from a file)."""
    removed = 0
    for name in names:
        try:
            os.unlink(out / name)
            removed += 1
        except FileNotFoundError:
            continue
    return removed


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
