"""``ipmix merge OUT``: check the shards of a run and combine them into the files of a single run.

Each shard ``I/N`` left ``metadata.shard-I-of-N.jsonl``, ``ipmix_run.shard-I-of-N.json`` and its list of
planned inputs in ``OUT/.ipmix/``. The merge checks that every shard is present and finished with the same
settings, that every planned output is present exactly once with the digest its manifest records, and
only then writes ``metadata.jsonl`` (a heap merge of the sorted shard manifests: the same bytes a single
run writes) and ``ipmix_run.json``, and removes the shard files.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..job.manifest import STATE_DIR, Layout, merge_sorted, read_jsonl, read_run_record, write_run_record

_SHARD_RECORD = re.compile(r"^ipmix_run\.shard-(\d+)-of-(\d+)\.json$")


class MergeError(Exception):
    """The shards cannot be merged (yet); ``problems`` lists what is missing or wrong."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class MergeSummary:
    shards: int
    records: int
    failures: int


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_shards(out: Path) -> dict[tuple[int, int], dict]:
    found = {}
    for path in sorted(out.glob("ipmix_run.shard-*-of-*.json")):
        match = _SHARD_RECORD.match(path.name)
        record = read_run_record(path) if match else None
        if match and record is not None:
            found[(int(match.group(1)), int(match.group(2)))] = record
    return found


def check_shards(out: Path) -> tuple[int, dict[tuple[int, int], dict]]:
    """The shard count and records, or :class:`MergeError` naming every missing shard or file."""
    shards = find_shards(out)
    if not shards:
        raise MergeError([f"no shard records (ipmix_run.shard-I-of-N.json) in {out}"])
    counts = {count for _, count in shards}
    if len(counts) != 1:
        raise MergeError([f"shards of different splits in {out}: {', '.join(f'N={n}' for n in sorted(counts))}"])
    count = counts.pop()
    problems = []
    missing = sorted(set(range(count)) - {index for index, _ in shards})
    if missing:
        problems.append(f"missing shard(s) {', '.join(f'{i}/{count}' for i in missing)}: run them with --shard")
    identities = {repr(record.get("identity")) for record in shards.values()}
    if len(identities) > 1:
        problems.append("the shards were run with different settings; re-run them with the same options")
    seen: dict[str, str] = {}
    for (index, _), record in sorted(shards.items()):
        name = f"shard {index}/{count}"
        if not str(record.get("status", "")).startswith("complete"):
            problems.append(f"{name} has not finished (status {record.get('status')}): re-run it to resume")
            continue
        layout = Layout(out, (index, count))
        identity = record["identity"]
        expected = identity["k"] + (1 if identity["keep_original"] else 0)
        copies: dict[str, int] = {}
        for entry in read_jsonl(layout.manifest):
            target = out / entry["file_name"]
            if entry["file_name"] in seen:
                problems.append(f"{entry['file_name']} is recorded by {seen[entry['file_name']]} and {name}")
            seen[entry["file_name"]] = name
            if not target.is_file():
                problems.append(f"{name}: {entry['file_name']} is missing")
            elif _file_digest(target) != entry["sha256"]:
                problems.append(f"{name}: {entry['file_name']} does not match its recorded sha256")
            copies[entry["source"]] = copies.get(entry["source"], 0) + 1
        failed = {f["source"] for f in record.get("failures", [])}
        planned = layout.plan.read_text(encoding="utf-8").splitlines() if layout.plan.exists() else None
        if planned is None:
            problems.append(f"{name}: its list of planned inputs ({layout.plan.name}) is missing")
            continue
        for source in planned:
            if source not in failed and copies.get(source, 0) != expected:
                problems.append(f"{name}: {source} has {copies.get(source, 0)} of its {expected} outputs recorded")
    if problems:
        raise MergeError(problems)
    return count, shards


def merge_shards(out: Path, command: list[str] | None = None) -> MergeSummary:
    count, shards = check_shards(out)
    layouts = [Layout(out, (index, count)) for index in range(count)]
    records = merge_sorted([read_jsonl(layout.manifest) for layout in layouts], Layout(out).manifest)
    first = shards[(0, count)]
    failures = sorted((f for r in shards.values() for f in r.get("failures", [])), key=lambda f: f["source"])
    totals = {
        key: sum(r["counts"][key] for r in shards.values())
        for key in ("inputs", "succeeded", "failed", "already_done", "files_written", "manifest_records")
    }
    write_run_record(
        Layout(out).run_record,
        {
            "ipmix_version": __version__,
            "command": command or [],
            "identity": first["identity"],
            "in": first.get("in"),
            "out": str(out),
            "shard": None,
            "status": "complete" if not failures else "complete_with_failures",
            "seed": first["identity"]["seed"],
            "mixing_set": first["mixing_set"],
            "counts": totals,
            "failures": failures,
            "timings": {
                "shards": [{"shard": f"{i}/{count}", **shards[(i, count)].get("timings", {})} for i in range(count)]
            },
            "merged_from": count,
        },
    )
    for layout in layouts:
        layout.manifest.unlink(missing_ok=True)
        layout.run_record.unlink(missing_ok=True)
        layout.plan.unlink(missing_ok=True)
    try:
        (out / STATE_DIR).rmdir()
    except OSError:
        pass
    return MergeSummary(count, records, len(failures))
