"""``ipmix fractals build``: write a folder of procedural mixing pictures (SPEC §3).

Picture ``i`` depends only on (seed, i, kind, size), so a build is reproducible with any number of jobs
and resumable: pictures already present are kept and the rest are made. Each PNG is written atomically
and carries its own metadata in a text chunk, so ``metadata.jsonl`` can always be rebuilt from the
pictures on disk; it is written last, when every picture exists.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from joblib import Parallel, delayed
from PIL import Image, PngImagePlugin

from .. import __version__
from ..disk.atomic import remove_stale_temporaries, write_bytes_atomic, write_text_atomic
from ..progress import progress_bar
from ..seeding import generator_for_index
from .fractals import IFS_POINTS, KINDS, make_picture

#: Bumped whenever the pictures a (kind, size, seed, index) produces change, so caches are rebuilt.
GENERATOR_VERSION = 1
RECORD_NAME = "ipmix_fractals.json"
METADATA_NAME = "metadata.jsonl"
_TEXT_KEY = "ipmix"
_PNG_COMPRESSION = 3
MIN_SIZE, MAX_SIZE = 8, 4096


class BuildError(ValueError):
    """A build that cannot go ahead; the message says why and how to proceed."""


@dataclass(frozen=True)
class BuildConfig:
    count: int
    size: int
    seed: int
    kind: str = "ifs"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise BuildError(f"count must be at least 1, got {self.count}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise BuildError(f"size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {self.size}")
        if self.kind not in KINDS:
            raise BuildError(f"unknown kind {self.kind!r}; use one of {', '.join(KINDS)}")

    def record(self) -> dict:
        return {**asdict(self), "generator_version": GENERATOR_VERSION, "ifs_points": IFS_POINTS}

    def file_name(self, index: int) -> str:
        return f"{index:0{max(4, len(str(self.count - 1)))}d}.png"


def render_picture(config: BuildConfig, index: int) -> tuple[bytes, dict]:
    """The PNG bytes and metadata record of picture ``index``."""
    kind, picture = make_picture(config.kind, generator_for_index(config.seed, index), config.size)
    record = {
        "file_name": config.file_name(index),
        "index": index,
        "kind": kind,
        "seed": config.seed,
        "params": picture.params,
    }
    info = PngImagePlugin.PngInfo()
    info.add_text(_TEXT_KEY, json.dumps(record, separators=(",", ":")))
    buffer = io.BytesIO()
    Image.fromarray(picture.pixels, "RGB").save(buffer, "PNG", pnginfo=info, compress_level=_PNG_COMPRESSION)
    return buffer.getvalue(), record


def _make_batch(config: BuildConfig, out: Path, indices: list[int]) -> list[dict]:
    records = []
    for index in indices:
        data, record = render_picture(config, index)
        write_bytes_atomic(out / config.file_name(index), data)
        records.append(record)
    return records


def _read_record(path: Path) -> dict | None:
    try:
        with Image.open(path) as image:
            text = image.text.get(_TEXT_KEY)  # type: ignore[attr-defined]
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None


def build_set(
    out: Path, config: BuildConfig, jobs: int = 1, overwrite: bool = False, show_progress: bool = True
) -> dict:
    """Make every missing picture of ``config`` in ``out``, then write the metadata and the record."""
    out = Path(out)
    record_path = out / RECORD_NAME
    wanted = {**config.record(), "complete": False}
    if record_path.exists():
        existing = json.loads(record_path.read_text())
        same = {k: v for k, v in existing.items() if k not in ("complete", "ipmix_version")} == {
            k: v for k, v in wanted.items() if k != "complete"
        }
        if not same and not overwrite:
            raise BuildError(
                f"{out} holds a mixing set built with other settings ({_describe(existing)}); "
                "choose another folder or pass --overwrite to replace it"
            )
        if not same:
            _remove_built_files(out)
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise BuildError(
            f"{out} is not empty and holds no ipmix mixing set; choose an empty folder or pass --overwrite"
        )
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    write_text_atomic(record_path, json.dumps({**wanted, "ipmix_version": __version__}, indent=2) + "\n")

    records: dict[int, dict] = {}
    missing = []
    for index in range(config.count):
        found = _read_record(out / config.file_name(index)) if (out / config.file_name(index)).exists() else None
        if found is not None and found.get("index") == index:
            records[index] = found
        else:
            missing.append(index)

    batch = 8
    batches = [missing[i : i + batch] for i in range(0, len(missing), batch)]
    with progress_bar(len(missing), f"building {config.kind} pictures", show_progress, unit="pic") as bar:
        if jobs == 1 or len(batches) <= 1:
            results = (_make_batch(config, out, b) for b in batches)
        else:
            results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(_make_batch)(config, out, b) for b in batches
            )
        for made in results:
            for record in made:
                records[record["index"]] = record
            bar.update(len(made))

    lines = "".join(json.dumps(records[i], separators=(",", ":")) + "\n" for i in range(config.count))
    write_text_atomic(out / METADATA_NAME, lines)
    final = {
        **wanted,
        "complete": True,
        "ipmix_version": __version__,
        "made": len(missing),
        "kept": config.count - len(missing),
    }
    write_text_atomic(record_path, json.dumps(final, indent=2) + "\n")
    return final


def is_complete(out: Path, config: BuildConfig) -> bool:
    try:
        existing = json.loads((Path(out) / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return False
    wanted = config.record()
    return bool(existing.get("complete")) and all(existing.get(k) == v for k, v in wanted.items())


def _describe(record: dict) -> str:
    return ", ".join(f"{k}={record.get(k)}" for k in ("kind", "count", "size", "seed", "generator_version"))


def _remove_built_files(out: Path) -> None:
    """Remove what an earlier build wrote (its pictures, metadata and record), nothing else."""
    for path in out.iterdir():
        if path.is_file() and (
            path.name in (METADATA_NAME, RECORD_NAME) or (path.suffix == ".png" and path.stem.isdigit())
        ):
            path.unlink()


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
