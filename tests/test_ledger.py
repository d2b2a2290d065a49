"""OUT's ledger (``runner/ledger.py``): sorting with bounded memory, folding journals into the state, typed
records read back without trust."""

from __future__ import annotations

import contextlib
import json
import os

import numpy as np
import pytest

from ipmix_cli.disk.folder import SafeFolder
from ipmix_cli.errors import RunFault
from ipmix_cli.formats.jsonlines import dumps
from ipmix_cli.formats.records import FileEntry, InputEntry, UnitRecord
from ipmix_cli.runner import ledger as ledger_module
from ipmix_cli.runner.layout import Layout, layouts_in
from ipmix_cli.runner.ledger import Journal, Ledger, read_json_lines


def unit(name: str, n: int = 0, files: int = 1) -> UnitRecord:
    entries = tuple(FileEntry(f"{name}_{i}.png", "a" * 64, (1, 2, 3, 4)) for i in range(files))
    records = tuple(
        {"file_name": e.name, "source": name, "copy": i, "sha256": "a" * 64, "n": n} for i, e in enumerate(entries)
    )
    return UnitRecord(name, (InputEntry(name, 10, n, None),), entries, records)


def write(path, units) -> None:
    path.write_text("".join(json.dumps(u.to_json()) + "\n" for u in units))


@pytest.mark.parametrize("limit", [300, 2_000, 10**9])
def test_sorting_spills_to_disk_in_chunks_and_stays_stable(tmp_path, monkeypatch, limit):
    monkeypatch.setattr(ledger_module, "SORT_BYTES", limit)
    rng = np.random.default_rng(0)
    units = [unit(f"s{int(rng.integers(25)):02d}", n) for n in range(200)]
    out = SafeFolder(tmp_path)
    got = [(u.unit, u.inputs[0].mtime_ns) for u in ledger_module._sorted(out, iter(units))]
    assert got == sorted(((u.unit, u.inputs[0].mtime_ns) for u in units), key=lambda pair: pair[0])
    assert list(tmp_path.iterdir()) == []  # spilled chunks are removed


def test_journals_win_over_the_state_and_later_lines_over_earlier(tmp_path):
    out = SafeFolder(tmp_path)
    layout = Layout()
    write(tmp_path / layout.state, [unit("a", 1), unit("b", 1), unit("c", 1)])
    write(tmp_path / f"{layout.journal_prefix}1.jsonl", [unit("b", 2), unit("d", 2)])
    write(tmp_path / f"{layout.journal_prefix}2.jsonl", [unit("b", 3)])
    folded = [(u.unit, u.inputs[0].mtime_ns) for u in Ledger(out, layout, "augment").units()]
    assert folded == [("a", 1), ("b", 3), ("c", 1), ("d", 2)]


def test_a_per_file_unit_made_again_from_the_same_input_keeps_the_files_not_redone(tmp_path):
    """Raising --k: the later line holds only the new copies; the earlier copies stay, in copy order."""
    out = SafeFolder(tmp_path)
    layout = Layout()
    first = unit("a", 1, files=2)
    extra_entry = FileEntry("a_2.png", "b" * 64, (1, 2, 3, 4))
    later = UnitRecord("a", first.inputs, (extra_entry,), ({"file_name": "a_2.png", "copy": 2, "sha256": "b" * 64},))
    write(tmp_path / layout.state, [first])
    write(tmp_path / f"{layout.journal_prefix}1.jsonl", [later])
    (folded,) = Ledger(out, layout, "augment", order=lambda r: r["copy"]).units()
    assert [e.name for e in folded.files] == ["a_0.png", "a_1.png", "a_2.png"]
    changed = UnitRecord("a", (InputEntry("a", 11, 9, None),), (extra_entry,), later.records)
    write(tmp_path / f"{layout.journal_prefix}2.jsonl", [changed])  # the input changed: replaced whole
    (folded,) = Ledger(out, layout, "augment").units()
    assert [e.name for e in folded.files] == ["a_2.png"]


def test_an_edited_state_out_of_order_is_sorted_again(tmp_path):
    out = SafeFolder(tmp_path)
    layout = Layout()
    write(tmp_path / layout.state, [unit(s) for s in ("c", "a", "b")])
    assert [u.unit for u in Ledger(out, layout, "augment").units()] == ["a", "b", "c"]


GOOD = unit("ok").to_json()


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "files": [["../x.png", "a" * 64, None]]},
        {**GOOD, "files": [["/etc/passwd", "a" * 64, None]]},
        {**GOOD, "files": [["a/./b.png", "a" * 64, None]]},
        {**GOOD, "files": [["a.png", "zz", None]]},
        {**GOOD, "files": [["a.png", "a" * 64, ["x", 1, 2, 3]]]},
        {**GOOD, "records": [{"file_name": "../a.png", "sha256": "a" * 64}]},
        {**GOOD, "records": [{"file_name": "a.png", "sha256": "a" * 64, "shard": "/x.tar"}]},
        {**GOOD, "inputs": [["a", "ten", 0, None]]},
        {**GOOD, "inputs": [["a", True, 0, None]]},
        {**GOOD, "unit": 3},
        {**GOOD, "failed": [["a"]]},
        ["not", "an", "object"],
    ],
)
def test_units_read_back_are_checked_before_they_are_used(tmp_path, bad):
    layout = Layout()
    (tmp_path / layout.state).write_text(json.dumps(bad) + "\n" + json.dumps(GOOD) + "\n{torn")
    assert [u.unit for u in Ledger(SafeFolder(tmp_path), layout, "augment").units()] == ["ok"]


def test_bookkeeping_that_is_a_link_a_fifo_or_a_folder_reads_as_empty(tmp_path):
    secret = tmp_path.parent / f"{tmp_path.name}-secret.jsonl"
    secret.write_text(json.dumps(GOOD) + "\n")
    (tmp_path / "link.jsonl").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "folder.jsonl").mkdir()
    out = SafeFolder(tmp_path)
    for name in ("link.jsonl", "fifo.jsonl", "folder.jsonl", "missing.jsonl"):
        assert list(read_json_lines(out, name)) == []


def test_an_overlong_line_is_skipped_not_read_into_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger_module, "MAX_LINE_BYTES", 1000)
    (tmp_path / "m.jsonl").write_text(json.dumps({"x": "y" * 5000}) + "\n" + json.dumps({"ok": 1}) + "\n")
    assert list(read_json_lines(SafeFolder(tmp_path), "m.jsonl")) == [{"ok": 1}]


def test_json_lines_escape_what_other_tools_split_lines_on():
    line = dumps({"source": "a\u2028b\u2029c\x85d\re\nf"})
    assert len(line.splitlines()) == 1 and json.loads(line)["source"] == "a\u2028b\u2029c\x85d\re\nf"


def test_local_workers_keep_pandas_out_so_pyarrow_does_not_load_it():
    """pyarrow imports pandas on its first array only to ask about pandas objects: 45 MB per worker."""
    import subprocess
    import sys

    code = (
        "import sys; from ipmix_cli.runner.backends import worker_started; worker_started(None)\n"
        "import pyarrow as pa; pa.array([1, 2])\n"
        "print('pandas' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"


def test_top_level_bookkeeping_is_found_without_walking_the_outputs(tmp_path, monkeypatch):
    """Journals, layouts and shard locks live at OUT's top: finding them lists that folder only (walking every
    output of a million-image OUT cost seconds per call, several calls per run)."""
    import os as os_module

    out = tmp_path / "out"
    (out / "cats" / "deep").mkdir(parents=True)
    (out / "cats" / ".ipmix-journal.w-elsewhere.jsonl").write_text("")
    (out / ".ipmix-journal.w-host-1.jsonl").write_text("")
    (out / "ipmix_run.shard-0-of-2.json").write_text("{}")
    folder = SafeFolder(out)
    scanned = []
    real_scandir = os_module.scandir
    monkeypatch.setattr(
        os_module, "scandir", lambda path: scanned.append(os_module.fsdecode(path)) or real_scandir(path)
    )
    assert Layout().journals(folder) == [".ipmix-journal.w-host-1.jsonl"]
    assert [layout.suffix for layout in layouts_in(folder)] == [".shard-0-of-2"]
    assert set(scanned) == {str(out)}
    assert sorted(name for name, _ in folder.walk()) == sorted(
        [".ipmix-journal.w-host-1.jsonl", "cats/.ipmix-journal.w-elsewhere.jsonl", "ipmix_run.shard-0-of-2.json"]
    )


def test_a_worker_journal_that_cannot_be_appended_stops_the_run_naming_its_full_path(tmp_path, monkeypatch):
    """A full disk (a run fault) used to be reported with the journal's bare name, relative to nothing."""
    import errno

    out = tmp_path / "out"
    out.mkdir()
    journal = Journal(SafeFolder(out), ".ipmix-journal.w-")

    @contextlib.contextmanager
    def full(folder, name):
        def append(text):
            raise OSError(errno.ENOSPC, "No space left on device", name)

        yield append

    monkeypatch.setattr(SafeFolder, "open_append", full)
    with pytest.raises(RunFault) as stopped:
        journal.record(unit("a"))
    assert str(out / journal.name) in str(stopped.value) and "free some space" in str(stopped.value)
    journal.close()


def test_a_worker_journal_is_opened_once_per_task_and_holds_every_record(tmp_path, monkeypatch):
    """Each input's records are appended as it finishes, through one open of the journal for the task."""
    out = tmp_path / "out"
    out.mkdir()
    opened = []
    real = SafeFolder.open_append
    monkeypatch.setattr(SafeFolder, "open_append", lambda folder, name: opened.append(name) or real(folder, name))
    journal = Journal(SafeFolder(out), ".ipmix-journal.w-")
    journal.record(unit("a"))
    journal.record(unit("b"))
    assert [json.loads(line)["unit"] for line in (out / journal.name).read_text().splitlines()] == ["a", "b"]
    journal.record(unit("c"))
    journal.close()
    assert opened == [journal.name]
    assert json.loads((out / journal.name).read_text().splitlines()[-1])["unit"] == "c"


def test_a_journal_planted_as_a_hard_link_is_refused(tmp_path):
    """A hard link to a file outside OUT, planted under the journal's name, is never appended to."""
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    journal = Journal(SafeFolder(out), ".ipmix-journal.w-")
    os.link(victim, out / journal.name)
    with pytest.raises(RunFault, match="hard link"):
        journal.record(unit("a"))
    journal.close()
    assert victim.read_text() == "keep\n"


def test_a_hard_link_made_to_an_open_journal_is_refused_at_the_next_append(tmp_path):
    """The journal stays open for a task: each append checks again that it has no other name."""
    out = tmp_path / "out"
    out.mkdir()
    journal = Journal(SafeFolder(out), ".ipmix-journal.w-")
    journal.record(unit("a"))
    os.link(out / journal.name, tmp_path / "elsewhere.jsonl")
    with pytest.raises(RunFault, match="hard link"):
        journal.record(unit("b"))
    journal.close()
    assert [json.loads(line)["unit"] for line in (tmp_path / "elsewhere.jsonl").read_text().splitlines()] == ["a"]


def test_a_journal_removed_or_replaced_during_a_task_gets_the_next_records_at_its_name(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    journal = Journal(folder, ".ipmix-journal.w-")
    with folder.session():
        journal.record(unit("a"))
        (out / journal.name).unlink()
        journal.record(unit("b"))
        assert [json.loads(line)["unit"] for line in (out / journal.name).read_text().splitlines()] == ["b"]
        (out / "other").write_text("")
        os.replace(out / "other", out / journal.name)
        journal.record(unit("c"))
    journal.close()
    assert [json.loads(line)["unit"] for line in (out / journal.name).read_text().splitlines()] == ["c"]
    os.symlink(tmp_path / "victim", tmp_path / "link")
    (out / journal.name).unlink()
    os.rename(tmp_path / "link", out / journal.name)  # a link in its place: refused, never followed
    journal = Journal(folder, ".ipmix-journal.w-")
    with pytest.raises(RunFault):
        journal.record(unit("d"))
    journal.close()
    assert not (tmp_path / "victim").exists()
