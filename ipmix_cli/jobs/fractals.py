"""``ipmix fractals build``: a folder of procedural mixing pictures (SPEC §3), as a job on the engine.

A work item is a picture index; picture ``i`` depends only on (seed, i, kind, size), so a build is
reproducible with any number of jobs and resumes byte for byte after any interruption (the engine's ledger
records each picture as it is written). Re-running a build checks every picture against its recorded SHA-256
and re-makes only those missing or damaged; a larger ``count`` adds pictures and leaves the others untouched;
a smaller one is refused unless ``overwrite`` (then the pictures past it are removed).

The folder is what ``mixsets.loading`` reads as a built set: numbered PNGs, ``metadata.jsonl`` (one line per
picture: its parameters and SHA-256) and ``ipmix_fractals.json`` (the settings, ``complete`` once whole).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from PIL import Image, PngImagePlugin

from ..errors import UsageError
from ..inputs import InputsBuilder
from ..items import Item
from ..mixsets.check import stray_images
from ..mixsets.fractals import make_picture
from ..mixsets.record import (
    GENERATOR_VERSION,
    MAX_SIZE,
    MIN_SIZE,
    BuildConfig,
    BuildError,
    RecordError,
    default_digits,
    identity,
    picture_name,
    read_record,
)
from ..readers import Found
from ..runner.backends import BackendSpec, usable_cores
from ..runner.engine import Request, run
from ..runner.job import Job, Made, Output, Render
from ..runner.progress import note
from ..seeding import generator_for_index

__all__ = ["GENERATOR_VERSION", "MAX_SIZE", "MIN_SIZE", "BuildConfig", "BuildError", "BuildSummary", "build_set"]

_TEXT_KEY = "ipmix"
_PNG_COMPRESSION = 3
_PICTURE = re.compile(r"^\d{4,}\.png$")
#: A build of more pictures than this says that it is planning before the bar appears.
_MANY = 100_000


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


class PictureIndices:
    """The pictures of a build as work items: keys are zero-padded indices (so key order is index order)."""

    format = "indices"

    def __init__(self, count: int):
        self.count = count

    def plan(self) -> Found:
        builder = InputsBuilder(stem_of=lambda key: key)
        for index in range(self.count):
            builder.add(key_of(index), where=(index,))
        return Found(builder.build(), [])

    def inputs(self, items: list[Item]) -> Iterator[tuple[Item, object]]:
        for item in items:
            yield item, nullcontext(None)

    def find(self, key: str) -> Item:
        """The item of picture ``key`` (a zero-padded index), without planning every picture."""
        index = int(key)
        return Item(key=key_of(index), label=None, stem=key_of(index), hint=None, where=(index,))

    def digest(self, item: Item) -> str | None:
        return None

    def vanished(self, key: str) -> bool:
        return False  # pictures past --count are removed only by --overwrite (``FractalsJob.keeps``)


def key_of(index: int) -> str:
    return f"{index:012d}"


class FractalsJob(Job):
    """See the module docstring."""

    name = "fractals"
    record_base = "ipmix_fractals"
    what = "pic"
    log_progress = False  # a bar on a terminal; a build's log says only how it ended

    def __init__(self, config: BuildConfig, digits: int | None = None, seed_given: bool = True):
        self.config, self.digits, self.seed_given = config, digits or default_digits(config.count), seed_given
        self.reader = PictureIndices(config.count)
        self.recorded_seed = False

    def __reduce__(self):
        return FractalsJob, (self.config, self.digits, self.seed_given)

    @property
    def verb(self) -> str:
        return f"building {self.config.kind} pictures"

    @property
    def seed(self) -> int:
        return self.config.seed

    def plan(self) -> Found:
        return self.reader.plan()

    def identity(self) -> dict:
        return identity(self.config)

    def settle(self, previous) -> FractalsJob:
        """The seed recorded in the folder when none was given, and the digits of its first build."""
        if previous is None:
            return self
        config, recorded_seed = self.config, False
        seed = previous.identity.get("seed")
        if not self.seed_given and isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
            config, recorded_seed = dataclasses.replace(config, seed=seed), True
        digits = previous.extra.get("digits")
        job = FractalsJob(config, digits if isinstance(digits, int) and 4 <= digits <= 12 else self.digits)
        job.recorded_seed = recorded_seed
        return job

    def comparable(self, record, sibling: bool) -> tuple[dict, dict]:
        return dict(record.identity), self.identity()

    def differences(self, old: dict, new: dict) -> list[str]:
        return [
            f"{key} {old.get(key)} → {new.get(key)}"
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key)
        ]

    def shrinking(self, previous) -> str | None:
        recorded = previous.extra.get("count")
        count = self.config.count
        if not isinstance(recorded, int) or count >= recorded:
            return None
        first, last = picture_name(count, self.digits), picture_name(recorded - 1, self.digits)
        return (
            f"holds {recorded} pictures; --count {count} would leave {recorded - count} behind ({first} … {last}); "
            f"pass --overwrite to remove them (pictures 0–{count - 1} are kept), or choose another folder"
        )

    def summary_fields(self, counts: dict) -> dict:
        redone = counts.get("redone", 0)
        return {
            "made": counts.get("files_written", 0) - redone,
            "repaired": redone,
            "kept": counts.get("already_done", 0),
            "removed": counts.get("pruned", 0),
        }

    def keeps(self, record: dict) -> bool:
        index = record.get("index")
        return isinstance(index, int) and 0 <= index < self.config.count

    def run_fields(self, status: str = "running") -> dict:
        return {
            **self.config.record(),
            "digits": self.digits,
            "complete": status == "complete",
        }

    def outputs(self, item: Item) -> list[Output]:
        index = item.where[0]
        return [Output(0, picture_name(index, self.digits), "picture")]

    def owns(self, name: str) -> bool:
        return bool(_PICTURE.match(name))

    def key_of(self, record: dict) -> str:
        index = record["index"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.config.count:
            raise ValueError(f"the record's index {index!r} is not one of this set's pictures")
        return key_of(index)

    def nothing_found(self) -> str:
        return "a mixing set needs at least one picture"

    # --- the workers -----------------------------------------------------------------------------------

    def render(self, item: Item, stream, outputs: list[Output]) -> Iterator[Render]:
        data, line = render_picture(self.config, item.where[0], self.digits)
        for output in outputs:
            yield Render(output, data=data, fields=line)

    def encode(self, item: Item, render: Render) -> Made:
        import hashlib

        line = {key: value for key, value in render.fields.items() if key != "file_name"}
        return Made(render.output, render.data, ".png", {**line, "sha256": hashlib.sha256(render.data).hexdigest()})


def job_of_record(record, reader=None) -> FractalsJob:
    """The build that wrote a run record (``ipmix_fractals.json``; ``reader`` is unused: pictures are made from
    their index). A tampered field is a ``TypeError``, ``KeyError``, ``ValueError`` or ``BuildError`` here."""
    identity, digits = record.identity, record.extra.get("digits")
    if identity.get("generator_version") != GENERATOR_VERSION:
        raise ValueError(
            f"the set was made by generator version {identity.get('generator_version')}, not {GENERATOR_VERSION}"
        )
    config = BuildConfig(
        int(record.extra["count"]), int(identity["size"]), int(identity["seed"]), str(identity["kind"])
    )
    return FractalsJob(config, digits if isinstance(digits, int) and 4 <= digits <= 12 else None)


@dataclass(frozen=True)
class BuildSummary:
    """What a build did: pictures made fresh, re-made because missing or damaged, kept, and removed."""

    config: BuildConfig
    made: int
    repaired: int
    kept: int
    removed: int
    strays: list[str]
    seed_recorded: bool = False  # the seed was the one recorded in the folder
    failed: list = dataclasses.field(default_factory=list)  # pictures that could not be written, and why


def build_set(
    out: Path,
    config: BuildConfig,
    jobs: int = 1,
    overwrite: bool = False,
    show_progress: bool = True,
    recorded_seed: bool = False,
    wait: bool = False,
    command: list[str] | None = None,
) -> BuildSummary:
    """Make every missing or damaged picture of ``config`` in ``out``, then write the metadata and the record.

    With ``recorded_seed``, the seed recorded in ``out`` is used when there is one (a re-run without ``--seed``
    repairs the same set) and ``config.seed`` only for a new set. The folder is locked for the whole build:
    :class:`BuildError` when another ipmix process holds it, or with ``wait`` the build waits for it."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BuildError(f"{out} is a file, not a folder; choose another output folder")
    _check_record(out, overwrite)
    if config.count > _MANY:
        note(f"planning a build of {config.count} pictures in {out}", show_progress)
    job = FractalsJob(config, seed_given=not recorded_seed)
    # one job: in this process (pictures are ipmix's own computation, with no input that could kill a worker)
    request = Request(
        out=out,
        backend=BackendSpec("threading" if jobs == 1 else "loky", jobs, explicit=True),
        overwrite=overwrite,
        show_progress=show_progress,
        command=command or [],
        wait_for_lock=wait,
    )
    try:
        summary = run(job, request)
    except UsageError as error:
        raise BuildError(str(error)) from None
    settled = summary.job
    names = [picture_name(index, settled.digits) for index in range(settled.config.count)]
    return BuildSummary(
        settled.config,
        made=summary.files_written - summary.redone,
        repaired=summary.redone,
        kept=summary.already_done,
        removed=summary.pruned,
        strays=stray_images(out, names),
        seed_recorded=settled.recorded_seed,
        failed=summary.failures,
    )


def _check_record(out: Path, overwrite: bool) -> None:
    """A damaged record is refused with the fix (the engine would take it for another run's remains)."""
    try:
        read_record(out) if out.exists() else None
    except RecordError as error:
        if not overwrite:
            raise BuildError(f"{error}; pass --overwrite to rebuild the set in {out}") from None


def default_jobs() -> int:
    return usable_cores()


__all__ += ["FractalsJob", "default_jobs", "render_picture", "os"]
