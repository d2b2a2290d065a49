"""``ipmix merge OUT``: check the shards of a run and combine them into the files of a single run.

Each shard ``I/N`` left its run record, its state (records with file signatures), its manifest and its list of
planned inputs in OUT. The merge checks that every shard is present and finished with the same settings, that
every planned output is present exactly once with its recorded bytes, and only then writes the state and
manifest of a single run (a heap merge of the sorted shard states: the bytes a single run writes) and its run
record, and removes the shard files. Every problem it reports names its remedy.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..disk.folder import SafeFolder
from ..disk.lock import LockHeld, hold_folder
from ..errors import RunFault
from ..items import printable
from ..writers import finish
from .state import (
    Layout,
    layouts_in,
    read_json,
    read_json_lines,
    read_jsonl,
    read_records,
    read_units,
    record_key,
    still_valid,
    write_json,
    write_state_and_manifest,
)


class MergeError(RunFault):
    """The shards cannot be merged (yet); ``problems`` lists what is missing or wrong, each with its remedy."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class MergeSummary:
    shards: int
    records: int
    failures: int
    already: bool = False  # OUT held a single run already (merged before): nothing was done


def _rerun(shard: tuple[int, int], what: str) -> str:
    return f"re-run shard {shard[0]}/{shard[1]} (the same command with --shard {shard[0]}/{shard[1]}); {what}"


def check_shards(out: SafeFolder) -> tuple[int, dict[tuple[int, int], dict]]:
    """The shard count and run records, or :class:`MergeError` naming every problem and its remedy."""
    layouts = [layout for layout in layouts_in(out) if layout.shard]
    shards = {layout.shard: read_json(out, layout.run_record) for layout in layouts}
    if not shards:
        raise MergeError([f"no shards in {out.path} (files such as ipmix_run.shard-0-of-4.json): nothing to merge"])
    counts = {count for _, count in shards}
    if len(counts) != 1:
        shown = ", ".join(f"N={n}" for n in sorted(counts))
        raise MergeError(
            [
                f"shards of different splits in {out.path} ({shown}): keep one split; re-run the others' inputs "
                "with that split, or start over with --overwrite"
            ]
        )
    count = counts.pop()
    problems = []
    missing = sorted(set(range(count)) - {index for index, _ in shards})
    for index in missing:
        problems.append(
            f"shard {index}/{count} has not been run: run it (the same command with --shard {index}/{count})"
        )
    identities = {repr(((record or {}).get("identity"), (record or {}).get("k"))) for record in shards.values()}
    if len(identities) > 1:
        problems.append(
            "the shards were run with different settings: re-run the odd ones with the settings of the others "
            "(compare 'identity' in their ipmix_run.shard-*.json)"
        )
    seen: dict[str, str] = {}
    for shard, record in sorted(shards.items()):
        problems.extend(_check_shard(out, shard, record, seen))
    if problems:
        raise MergeError(problems)
    return count, shards


def _check_shard(out: SafeFolder, shard: tuple[int, int], record: dict | None, seen: dict[str, str]) -> list[str]:
    name = f"shard {shard[0]}/{shard[1]}"
    layout = Layout(shard)
    if record is None:
        return [f"{name}: its run record is missing or unreadable: " + _rerun(shard, "it will resume")]
    status = str(record.get("status", ""))
    if not status.startswith("complete"):
        return [f"{name} has not finished (status {status or 'unknown'}): " + _rerun(shard, "it will resume")]
    identity = record.get("identity") or {}
    sharded = identity.get("output_format", "files") != "files"
    expected = int(record.get("k") or 0) + (1 if identity.get("keep_original") else 0)
    failed = {f.get("source") for f in record.get("failures", []) if isinstance(f, dict)}
    planned = [value for value in _plan(out, layout)]
    if not planned and not out.is_file(layout.plan):
        return [f"{name}: its list of planned inputs ({layout.plan}) is missing: " + _rerun(shard, "it will write it")]
    problems, broken = [], 0
    units = read_units(out, layout) if sharded else {}
    for unit_name, unit in units.items():
        if still_valid(out, unit_name, unit["sha256"], unit.get("_sig")) is None:
            problems.append(f"{name}: {unit_name} is missing or does not match its recorded sha256")
            broken += 1
    copies: dict[str, int] = {}
    for entry in read_records(out, layout.state):
        location = f"{entry['shard']}/{entry['file_name']}" if sharded and "shard" in entry else entry["file_name"]
        if location in seen:
            problems.append(f"{printable(location)} is recorded by {seen[location]} and {name}")
        seen[location] = name
        if not sharded and still_valid(out, entry["file_name"], entry["sha256"], entry.get("_sig")) is None:
            problems.append(f"{name}: {printable(entry['file_name'])} is missing or does not match its recorded sha256")
            broken += 1
            continue
        copies[entry["source"]] = copies.get(entry["source"], 0) + 1
    short = [source for source in planned if source not in failed and copies.get(source, 0) < expected]
    for source in short[:20]:
        problems.append(f"{name}: {printable(source)} has {copies.get(source, 0)} of its {expected} outputs recorded")
    if len(short) > 20:
        problems.append(f"{name}: … and {len(short) - 20} more inputs with outputs missing")
    if problems:
        files = f"the {broken} damaged or missing file{'s' if broken != 1 else ''}" if broken else "what is missing"
        problems.append(f"{name}: " + _rerun(shard, f"it will redo {files}"))
    return problems


def _plan(out: SafeFolder, layout: Layout) -> list[str]:
    """A shard's planned inputs: JSON strings, one per line (names with newlines or U+2028 survive)."""
    return [value for value in read_json_lines(out, layout.plan) if isinstance(value, str)]


def merge_shards(out_path: Path, command: list[str] | None = None) -> MergeSummary:
    out = SafeFolder(out_path)
    try:
        with hold_folder(out, None, what="writing"):
            return _merge(out, command)
    except LockHeld as error:
        raise MergeError([f"{error} (merge when every shard has finished)"]) from None


def _merge(out: SafeFolder, command: list[str] | None) -> MergeSummary:
    whole_record = read_json(out, Layout().run_record)
    if whole_record is not None and not any(layout.shard for layout in layouts_in(out)):
        counts = whole_record.get("counts") if isinstance(whole_record.get("counts"), dict) else {}
        return MergeSummary(0, int(counts.get("manifest_records") or 0), 0, already=True)  # merged before
    count, shards = check_shards(out)
    layouts = [Layout((index, count)) for index in range(count)]
    whole = Layout()
    states = [read_records(out, layout.state) for layout in layouts]
    records = write_state_and_manifest(out, whole, heapq.merge(*states, key=record_key))
    first = shards[(0, count)]
    output_format = first.get("identity", {}).get("output_format", "files")
    finish(output_format, out, whole.manifest, whole.parquet_manifest, first)  # its identity and classes
    if output_format != "files":
        units = [unit for layout in layouts for _, unit in sorted(read_units(out, layout).items())]
        from .state import dumps

        out.write_bytes(whole.units, "".join(dumps(unit) + "\n" for unit in units).encode("utf-8"))
    failures = sorted((f for r in shards.values() for f in r.get("failures", [])), key=lambda f: f["source"])
    totals = {
        key: sum(int((r.get("counts") or {}).get(key) or 0) for r in shards.values())
        for key in ("inputs", "succeeded", "failed", "already_done", "files_written")
    }
    totals["manifest_records"] = records
    write_json(
        out,
        whole.run_record,
        {
            "ipmix_version": __version__,
            "command": command or [],
            "identity": first["identity"],
            "k": first.get("k"),
            "copy_digits": first.get("copy_digits"),
            "in": first.get("in"),
            "out": str(out.path),
            "shard": None,
            "status": "complete" if not failures else "complete_with_failures",
            "seed": first["identity"]["seed"],
            "mixing_set": first.get("mixing_set"),
            "counts": totals,
            "failures": failures,
            "timings": {
                "shards": [{"shard": f"{i}/{count}", **shards[(i, count)].get("timings", {})} for i in range(count)]
            },
            "merged_from": count,
            **({"classes": first["classes"]} if "classes" in first else {}),
        },
    )
    for layout in layouts:
        for name in layout.files():
            out.remove(name)
    for name, _ in list(out.walk(recursive=False)):
        if name.startswith(".ipmix-shard-") and name.endswith(".lock"):
            out.remove(name)
    return MergeSummary(count, records, len(failures))


__all__ = ["MergeError", "MergeSummary", "check_shards", "merge_shards", "read_jsonl"]
