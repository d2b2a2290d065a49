"""OUT's bookkeeping (``job/state.py``): sorting with bounded memory, folding journals into the state, and
distrust of anything read back."""

from __future__ import annotations

import contextlib
import json
import os

import numpy as np
import pytest

from ipmix_cli.disk.folder import SafeFolder
from ipmix_cli.job import state


def record(source: str, copy, n: int = 0, name: str | None = None) -> dict:
    return {"file_name": name or f"{source}_{copy}.png", "source": source, "copy": copy, "sha256": "a" * 64, "n": n}


@pytest.mark.parametrize("chunk", [3, 7, 10_000])
def test_sorting_spills_to_disk_in_chunks_and_stays_stable(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(state, "SORT_CHUNK", chunk)
    rng = np.random.default_rng(0)
    records = [record(f"s{int(rng.integers(25)):02d}", [None, 0, 1, 2][int(rng.integers(4))], n) for n in range(200)]
    out = SafeFolder(tmp_path)
    assert list(state.sorted_records(out, iter(records))) == sorted(records, key=state.record_key)
    assert list(tmp_path.iterdir()) == []  # spilled chunks are removed


def test_the_journal_wins_over_the_state_and_later_lines_over_earlier(tmp_path):
    out = SafeFolder(tmp_path)
    layout = state.Layout()
    write = lambda name, records: (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in records))  # noqa
    write(layout.state, [record("a", 0, 1), record("b", 0, 1), record("c", None, 1)])
    write(layout.journal, [record("b", 0, 2), record("d", 1, 2)])
    write(f"{layout.worker_journal_prefix}x.jsonl", [record("b", 0, 3), record("a", 1, 3)])
    folded = [(r["source"], r["copy"], r["n"]) for r in state.current_records(out, layout)]
    assert folded == [("a", 0, 1), ("a", 1, 3), ("b", 0, 3), ("c", None, 1), ("d", 1, 2)]


def test_an_edited_state_out_of_order_is_sorted_again(tmp_path):
    out = SafeFolder(tmp_path)
    layout = state.Layout()
    (tmp_path / layout.state).write_text("".join(json.dumps(record(s, 0)) + "\n" for s in ("c", "a", "b")))
    assert [r["source"] for r in state.current_records(out, layout)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "bad",
    [
        {"file_name": "../x.png", "source": "a", "copy": 0, "sha256": "a" * 64},
        {"file_name": "/etc/passwd", "source": "a", "copy": 0, "sha256": "a" * 64},
        {"file_name": "a/./b.png", "source": "a", "copy": 0, "sha256": "a" * 64},
        {"file_name": "a.png", "source": "a", "copy": -1, "sha256": "a" * 64},
        {"file_name": "a.png", "source": "a", "copy": True, "sha256": "a" * 64},
        {"file_name": "a.png", "source": "a", "copy": 0, "sha256": "zz"},
        {"file_name": "a.png", "source": 3, "copy": 0, "sha256": "a" * 64},
        {"file_name": "a.png", "source": "a", "copy": 0, "sha256": "a" * 64, "_sig": ["x", 1, 2, 3]},
        ["not", "an", "object"],
    ],
)
def test_records_read_back_are_checked_before_they_are_used(tmp_path, bad):
    (tmp_path / "m.jsonl").write_text(json.dumps(bad) + "\n" + json.dumps(record("ok", 0)) + "\n{torn")
    assert [r["source"] for r in state.read_records(SafeFolder(tmp_path), "m.jsonl")] == ["ok"]


def test_bookkeeping_that_is_a_link_a_fifo_or_a_folder_reads_as_empty(tmp_path):
    import os

    secret = tmp_path.parent / f"{tmp_path.name}-secret.jsonl"
    secret.write_text(json.dumps(record("secret", 0)) + "\n")
    (tmp_path / "link.jsonl").symlink_to(secret)
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "folder.jsonl").mkdir()
    out = SafeFolder(tmp_path)
    for name in ("link.jsonl", "fifo.jsonl", "folder.jsonl", "missing.jsonl"):
        assert list(state.read_jsonl(out, name)) == []


def test_json_lines_escape_what_other_tools_split_lines_on():
    line = state.dumps({"source": "a\u2028b\u2029c\x85d\re\nf"})
    assert len(line.splitlines()) == 1 and json.loads(line)["source"] == "a\u2028b\u2029c\x85d\re\nf"


def test_local_workers_keep_pandas_out_so_pyarrow_does_not_load_it():
    """pyarrow imports pandas on its first array only to ask about pandas objects: 45 MB per worker."""
    import subprocess
    import sys

    code = (
        "import sys; from ipmix_cli.job.distribute import worker_started; worker_started(None)\n"
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

    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.job.state import Layout, layouts_in

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
    assert Layout().journals(folder) == [".ipmix-journal.jsonl", ".ipmix-journal.w-host-1.jsonl"]
    assert [layout.suffix for layout in layouts_in(folder)] == [".shard-0-of-2"]
    assert set(scanned) == {str(out)}
    assert sorted(name for name, _ in folder.walk()) == sorted(
        [".ipmix-journal.w-host-1.jsonl", "cats/.ipmix-journal.w-elsewhere.jsonl", "ipmix_run.shard-0-of-2.json"]
    )


def test_a_worker_journal_that_cannot_be_appended_stops_the_run_naming_its_full_path(tmp_path, monkeypatch):
    """A full disk (a run fault) used to be reported with the journal's bare name, relative to nothing."""
    import errno

    from ipmix_cli.job import worker

    out = tmp_path / "out"
    out.mkdir()
    journal = worker._Journal(SafeFolder(out), ".ipmix-journal.w-")

    @contextlib.contextmanager
    def full(folder, name):
        def append(text):
            raise OSError(errno.ENOSPC, "No space left on device", name)

        yield append

    monkeypatch.setattr(SafeFolder, "open_append", full)
    with pytest.raises(worker.RunFault) as stopped:
        journal.record([{"file_name": "a.png"}])
    assert str(out / journal.name) in str(stopped.value) and "free some space" in str(stopped.value)
    journal.close()


def test_a_worker_journal_is_opened_once_per_task_and_holds_every_record(tmp_path, monkeypatch):
    """Each input's records are appended as it finishes, through one open of the journal for the task."""
    from ipmix_cli.job import worker

    out = tmp_path / "out"
    out.mkdir()
    opened = []
    real = SafeFolder.open_append
    monkeypatch.setattr(SafeFolder, "open_append", lambda folder, name: opened.append(name) or real(folder, name))
    journal = worker._Journal(SafeFolder(out), ".ipmix-journal.w-")
    journal.record([{"file_name": "a.png"}, {"file_name": "b.png"}])
    assert (out / journal.name).read_text() == '{"file_name":"a.png"}\n{"file_name":"b.png"}\n'
    journal.record([{"file_name": "c.png"}])
    journal.close()
    assert opened == [journal.name]
    assert (out / journal.name).read_text().splitlines()[-1] == '{"file_name":"c.png"}'


def test_a_journal_planted_as_a_hard_link_is_refused(tmp_path):
    """A hard link to a file outside OUT, planted under the journal's name, is never appended to."""
    from ipmix_cli.job import worker

    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep\n")
    journal = worker._Journal(SafeFolder(out), ".ipmix-journal.w-")
    os.link(victim, out / journal.name)
    with pytest.raises(worker.RunFault, match="hard link"):
        journal.record([{"file_name": "a.png"}])
    journal.close()
    assert victim.read_text() == "keep\n"


def test_a_hard_link_made_to_an_open_journal_is_refused_at_the_next_append(tmp_path):
    """The journal stays open for a task: each append checks again that it has no other name."""
    from ipmix_cli.job import worker

    out = tmp_path / "out"
    out.mkdir()
    journal = worker._Journal(SafeFolder(out), ".ipmix-journal.w-")
    journal.record([{"file_name": "a.png"}])
    os.link(out / journal.name, tmp_path / "elsewhere.jsonl")
    with pytest.raises(worker.RunFault, match="hard link"):
        journal.record([{"file_name": "b.png"}])
    journal.close()
    assert (tmp_path / "elsewhere.jsonl").read_text() == '{"file_name":"a.png"}\n'


def test_a_journal_removed_or_replaced_during_a_task_gets_the_next_records_at_its_name(tmp_path):
    from ipmix_cli.job import worker

    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    journal = worker._Journal(folder, ".ipmix-journal.w-")
    with folder.session():
        journal.record([{"file_name": "a.png"}])
        (out / journal.name).unlink()
        journal.record([{"file_name": "b.png"}])
        assert (out / journal.name).read_text() == '{"file_name":"b.png"}\n'
        (out / "other").write_text("")
        os.replace(out / "other", out / journal.name)
        journal.record([{"file_name": "c.png"}])
    journal.close()
    assert (out / journal.name).read_text() == '{"file_name":"c.png"}\n'
    os.symlink(tmp_path / "victim", tmp_path / "link")
    (out / journal.name).unlink()
    os.rename(tmp_path / "link", out / journal.name)  # a link in its place: refused, never followed
    journal = worker._Journal(folder, ".ipmix-journal.w-")
    with pytest.raises(worker.RunFault):
        journal.record([{"file_name": "d.png"}])
    journal.close()
    assert not (tmp_path / "victim").exists()
