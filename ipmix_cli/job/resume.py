"""Deciding what a run must do in an OUT that may already hold work (SPEC §4 "Resume").

First the settings: a run continues OUT's earlier runs only when their identity (``AugmentOptions.identity``)
is equal; raising ``--k`` extends them; anything else is refused, with the old and new values, unless
``--overwrite`` (which deletes only what the earlier runs wrote). Then the inputs: an input is done when every
output it should have is recorded under the name the settings give it and its file still holds the recorded
bytes (trusted by its signature, else hashed); otherwise only its missing or damaged outputs are made again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterator

from ..disk.folder import SafeFolder, UnsafePath, clean_relative
from ..errors import UsageError
from ..items import Item
from ..labels import classes_digest
from ..seeding import fresh_seed
from ..writers import is_sharded
from .naming import looks_like_output, output_names
from .options import AugmentOptions, differences
from .state import (
    Layout,
    current_records,
    layouts_in,
    read_json,
    read_jsonl,
    read_units,
    record_key,
    still_valid,
)
from .worker import Work


class RefusedOut(UsageError):
    """OUT holds work this run must not continue or replace (a usage problem: exit 2)."""


def _state_names(layout: Layout) -> set[str]:
    return set(layout.files())


def foreign_files(out: SafeFolder) -> bool:
    """Whether OUT holds anything besides ipmix's lock files (i.e. is not empty for a first run)."""
    return any(not name.startswith((".ipmix.lock", ".ipmix-setup.lock", ".ipmix-shard-")) for name, _ in out.walk())


def settle(out: SafeFolder, layout: Layout, options: AugmentOptions, overwrite: bool) -> AugmentOptions:
    """The options this run uses in OUT (the seed and name width an earlier run recorded), after checking
    them against what OUT holds; earlier runs' files are removed first when ``overwrite`` and they differ."""
    layouts = layouts_in(out)
    records = {each: read_json(out, each.run_record) for each in layouts}
    own = records.get(layout)
    ours = [
        each for each in layouts if each == layout or (layout.shard and each.shard and each.shard[1] == layout.shard[1])
    ]
    previous = own or next((records[each] for each in ours if records.get(each)), None)
    if options.seed is None:
        seed = _recorded(previous, "seed")
        options = dataclasses.replace(options, seed=seed if isinstance(seed, int) and seed >= 0 else fresh_seed())
    digits = _recorded_top(previous, "copy_digits")
    if isinstance(digits, int) and 1 <= digits <= 20:
        options = dataclasses.replace(options, copy_digits=digits)
    identity = options.identity()
    strangers = []
    for each in layouts:
        record = records.get(each)
        same_split = layout.shard is not None and each.shard is not None and each.shard[1] == layout.shard[1]
        if each != layout and not same_split:
            strangers.append(
                (each, "shards of a run (merge them with `ipmix merge OUT`)" if each.shard else "a whole run", {}, {})
            )
            continue
        if record is None:
            strangers.append((each, "the remains of a run whose record is missing", {}, {}))
            continue
        old = record.get("identity") or {}
        comparable = dict(old)
        if not is_sharded(options.writer) and each == layout:
            comparable.pop("k", None)
        wanted = dict(identity)
        if each != layout or ("k" in comparable) != ("k" in wanted):
            # a sibling shard must make as many copies; and between a files run and a shard run K is compared
            # as K, however the two identities hold it (only a changed K is listed)
            comparable["k"], wanted["k"] = record.get("k"), options.k
        if comparable != wanted:
            strangers.append((each, None, comparable, wanted))
    if strangers and not overwrite:
        raise RefusedOut(_refusal(out, strangers))
    if strangers:
        for each, *_ in strangers:
            remove_layout(out, each)
    elif own is None and not layouts and foreign_files(out):
        if not overwrite:
            raise RefusedOut(
                f"{out.path} is not empty and holds no ipmix run; choose an empty folder, or pass --overwrite "
                "to write into it anyway (files ipmix did not write are never deleted)"
            )
    recorded_k = _recorded_top(own, "k")
    if isinstance(recorded_k, int) and options.k < recorded_k and not overwrite:
        raise RefusedOut(_lower_k(out, layout, options, recorded_k))
    return options


def _recorded(record: dict | None, name: str):
    return ((record or {}).get("identity") or {}).get(name)


def _recorded_top(record: dict | None, name: str):
    return (record or {}).get(name)


def _refusal(out: SafeFolder, strangers) -> str:
    layout, why, old, new = strangers[0]
    if why:
        return (
            f"{out.path} holds {why}; choose another folder, or pass --overwrite to replace it "
            "(only the files ipmix wrote are deleted)"
        )
    lines = differences(old, new)
    if old.get("k") != new.get("k") and new.get("output_format", "files") != "files" and not layout.shard:
        lines.append(
            "(K of shard outputs is fixed: it decides which inputs share a shard; put more copies in another OUT)"
        )
    made = f"shard {layout.shard[0]}/{layout.shard[1]} of a run" if layout.shard else "a run"
    return (
        f"{out.path} holds {made} with other settings:\n  "
        + "\n  ".join(lines)
        + "\nre-run with the earlier settings to resume, choose another folder, or pass --overwrite to replace it"
    )


def _lower_k(out: SafeFolder, layout: Layout, options: AugmentOptions, recorded_k: int) -> str:
    left = sum(1 for r in read_jsonl(out, layout.state) if isinstance(r.get("copy"), int) and r["copy"] >= options.k)
    copies = f"copy {options.k}" if recorded_k - options.k == 1 else f"copies {options.k}–{recorded_k - 1}"
    return (
        f"{out.path} holds {recorded_k} copies per input; --k {options.k} would leave {copies} of every input "
        f"behind ({left} files), still listed in the manifest. Use --k {recorded_k} (or more), or pass --overwrite "
        "to start over with fewer copies"
    )


def remove_layout(out: SafeFolder, layout: Layout) -> int:
    """Delete what a run (or shard) wrote, as its own files list it, and its bookkeeping; nothing else.

    Names read back are used only if they are clean relative names with the shape of ipmix's output names,
    so a tampered manifest cannot make this delete anything outside OUT or any file ipmix did not name.
    """
    names: set[str] = set()
    for source in (layout.state, layout.manifest, *layout.journals(out)):
        for record in read_jsonl(out, source):
            for key in ("file_name", "shard"):
                name = record.get(key)
                if isinstance(name, str) and looks_like_output(name) and (key == "shard" or "shard" not in record):
                    names.add(name)
    names.update(name for name in read_units(out, layout) if looks_like_output(name))
    removed = 0
    folders: set[str] = set()
    for name in sorted(names):
        try:
            clean_relative(name)
        except UnsafePath:
            continue
        if out.remove(name):
            removed += 1
            folders.update(_parents(name))
    for folder in sorted(folders, key=lambda f: -f.count("/")):
        out.remove_empty_folder(folder)
    for name in [*layout.files(), *layout.journals(out)]:
        out.remove(name)
    return removed


def _parents(name: str) -> Iterator[str]:
    parts = name.split("/")[:-1]
    for end in range(len(parts), 0, -1):
        yield "/".join(parts[:end])


# --- inputs ----------------------------------------------------------------------------------------------


@dataclass
class WorkPlan:
    works: list[Work] = field(default_factory=list)
    already_done: int = 0
    units: dict[str, list[Work]] = field(default_factory=dict)  # sharded writers: unit name → its works


def plan_files(out: SafeFolder, layout: Layout, items: list[Item], options: AugmentOptions) -> WorkPlan:
    """Which outputs of ``items`` (sorted by key) must be made: a merge-join with OUT's recorded outputs."""
    plan = WorkPlan()
    records = current_records(out, layout)
    pending = next(records, None)
    with out.session():
        _plan_inputs(out, plan, items, options, records, pending)
    return plan


def _plan_inputs(out, plan: WorkPlan, items: list[Item], options: AugmentOptions, records, pending) -> None:
    for item in items:
        while pending is not None and pending["source"] < item.key:
            pending = next(records, None)
        mine: dict[int | None, dict] = {}
        while pending is not None and pending["source"] == item.key:
            mine[pending.get("copy")] = pending
            pending = next(records, None)
        missing = []
        for copy, name in output_names(item, options):
            record = mine.get(copy)
            if record is None or record.get("file_name") != name or "shard" in record:
                missing.append(copy)
            elif still_valid(out, name, record["sha256"], record.get("_sig")) is None:
                missing.append(copy)
        if missing:
            plan.works.append(Work(item, tuple(missing)))
        else:
            plan.already_done += 1


def unit_name(index: int, count: int, extension: str) -> str:
    return f"{index:0{max(5, len(str(count - 1)))}d}.{extension}"


def assign_units(items: list[Item], options: AugmentOptions, extension: str) -> list[tuple[str, list[Item]]]:
    """Output shards of a sharded format: the inputs sorted by key, in runs of ``samples_per_shard // K`` inputs
    (at least one). The rule depends only on the sorted list of inputs and the settings."""
    per_unit = max(1, options.samples_per_shard // options.outputs_per_input)
    count = max(1, -(-len(items) // per_unit))
    return [
        (unit_name(index, count, extension), items[index * per_unit : (index + 1) * per_unit])
        for index in range(count)
        if items[index * per_unit : (index + 1) * per_unit]
    ]


def plan_units(
    out: SafeFolder, layout: Layout, units: list[tuple[str, list[Item]]], options: AugmentOptions
) -> WorkPlan:
    """Which output shards must be written: a shard is kept when it is recorded with exactly its planned
    inputs, none of them failed, it was numbered with the run's class list, and its file still holds the
    recorded bytes."""
    plan = WorkPlan()
    recorded = read_units(out, layout)
    classes = classes_digest(options.classes)
    for name, members in units:
        keys = [item.key for item in members]
        unit = recorded.get(name)
        if (
            unit is not None
            and unit.get("keys") == keys
            and not unit.get("failed")
            and unit.get("classes") == classes
            and still_valid(out, name, unit["sha256"], unit.get("_sig")) is not None
        ):
            plan.already_done += len(members)
            continue
        everything = tuple(copy for copy, _ in output_names(members[0], options)) if members else ()
        plan.units[name] = [Work(item, everything) for item in members]
    return plan


def remove_stale_units(out: SafeFolder, layout: Layout, units: list[tuple[str, list[Item]]]) -> int:
    """Delete the shards this layout wrote that the plan no longer names (inputs were removed, so there are
    fewer shards): a stale shard would hold copies that moved to other shards, and readers taking every shard in
    OUT would see them twice. Their records go with them (``valid_records`` keeps only present shards)."""
    planned = {name for name, _ in units}
    return sum(out.remove(name) for name in read_units(out, layout) if name not in planned and looks_like_output(name))


def valid_records(out: SafeFolder, layout: Layout, sharded: bool) -> Iterator[dict]:
    """OUT's records (state and journal folded) whose outputs are present with their recorded bytes, each file
    listed once, signatures refreshed: what the manifest may list."""
    units = read_units(out, layout) if sharded else {}
    good_units: dict[str, tuple[set, list]] = {}
    for name, unit in units.items():
        sig = still_valid(out, name, unit["sha256"], unit.get("_sig"))
        if sig is not None:
            good_units[name] = (set(unit["keys"]) - set(unit.get("failed") or []), sig)
    seen: set[str] = set()
    for record in current_records(out, layout):
        if sharded:
            shard = record.get("shard")
            location = f"{shard}/{record['file_name']}"
            if shard not in good_units or record["source"] not in good_units[shard][0] or location in seen:
                continue
            seen.add(location)
            yield record
            continue
        name = record["file_name"]
        if name in seen or "shard" in record:
            continue
        sig = still_valid(out, name, record["sha256"], record.get("_sig"))
        if sig is None:
            continue
        seen.add(name)
        yield {**record, "_sig": sig}


def valid_units(out: SafeFolder, layout: Layout) -> list[dict]:
    """The output shards still holding their recorded bytes, signatures refreshed."""
    kept = []
    for name, unit in sorted(read_units(out, layout).items()):
        sig = still_valid(out, name, unit["sha256"], unit.get("_sig"))
        if sig is not None:
            kept.append({**unit, "_sig": sig})
    return kept


__all__ = [
    "RefusedOut",
    "WorkPlan",
    "assign_units",
    "plan_files",
    "plan_units",
    "record_key",
    "remove_layout",
    "remove_stale_units",
    "settle",
    "valid_records",
    "valid_units",
]
