"""Atomic writes: complete files under their final names, usual permissions, nothing left behind."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from ipmix_cli.disk import atomic
from ipmix_cli.disk.atomic import TEMP_PREFIX, write_bytes_atomic


def test_writes_make_folders_use_the_umask_and_leave_no_temporaries(tmp_path):
    target = tmp_path / "new" / "deeper" / "a.png"
    write_bytes_atomic(target, b"first")
    write_bytes_atomic(target, b"second")  # replaces
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~atomic._UMASK
    assert not [p for p in target.parent.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_leftover_with_the_next_temporary_name_is_skipped(tmp_path, monkeypatch):
    counter = iter(range(10))
    monkeypatch.setattr(atomic, "_temporary_names", counter)
    leftover = tmp_path / f"{TEMP_PREFIX}{atomic._token()}-0.png"
    leftover.write_bytes(b"crash leftover")
    write_bytes_atomic(tmp_path / "b.png", b"data")
    assert (tmp_path / "b.png").read_bytes() == b"data"
    assert leftover.read_bytes() == b"crash leftover"  # never written into


def test_a_folder_removed_after_its_first_write_is_made_again(tmp_path):
    folder = tmp_path / "gone"
    write_bytes_atomic(folder / "a.png", b"1")
    (folder / "a.png").unlink()
    folder.rmdir()
    write_bytes_atomic(folder / "b.png", b"2")
    assert (folder / "b.png").read_bytes() == b"2"


def test_a_forked_child_names_its_temporaries_apart_from_its_parent():
    parent_token = atomic._token()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, atomic._token().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_token = os.read(read, 100).decode()
    assert child_token != parent_token and child_token.startswith(f"{atomic.host_tag()}-{pid}-")


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_a_sweep_removes_only_temporaries_no_live_writer_owns(tmp_path):
    host = atomic.host_tag()
    folder = tmp_path / "class"
    folder.mkdir()
    crashed = folder / f"{TEMP_PREFIX}{host}-{dead_pid()}-0a1b2c3d-5.png"
    live_other = folder / f"{TEMP_PREFIX}{host}-{os.getppid()}-0a1b2c3d-5.png"  # pytest's parent is alive
    ours = folder / f"{TEMP_PREFIX}{atomic._token()}-7.png"
    other_bits = "00000000" if atomic._token().endswith("-ffffffff") else "ffffffff"
    same_pid_earlier_process = folder / f"{TEMP_PREFIX}{host}-{os.getpid()}-{other_bits}-7.png"
    other_host_fresh = folder / f"{TEMP_PREFIX}00000000-{dead_pid()}-0a1b2c3d-5.png"
    other_host_old = folder / f"{TEMP_PREFIX}00000000-{dead_pid()}-0a1b2c3d-6.png"
    unparsed_old = folder / f"{TEMP_PREFIX}123-abc-1.png"  # an earlier version's naming
    for path in (crashed, live_other, ours, same_pid_earlier_process, other_host_fresh, other_host_old, unparsed_old):
        path.write_bytes(b"partial")
    old = time.time() - atomic.FOREIGN_TEMPORARY_AGE - 60
    for path in (other_host_old, unparsed_old):
        os.utime(path, (old, old))

    assert atomic.remove_stale_temporaries(tmp_path) == 0  # not recursive: the folder is one level down
    assert atomic.remove_stale_temporaries(tmp_path, recursive=True) == 4
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(p.name for p in (live_other, ours, other_host_fresh))


def test_a_zombie_writer_owns_nothing(tmp_path):
    """A SIGKILLed worker nobody reaps (a container's first process may never) still answers kill(pid, 0)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # it has exited, but stays a zombie: not reaped
        os.kill(pid, 0)  # the precondition: the zombie still "exists"
        leftover = tmp_path / f"{TEMP_PREFIX}{atomic.host_tag()}-{pid}-0a1b2c3d-1.png"
        leftover.write_bytes(b"partial")
        assert atomic.remove_stale_temporaries(tmp_path) == 1
        assert not leftover.exists()
    finally:
        os.waitpid(pid, 0)


def test_a_process_that_started_after_the_write_only_reuses_the_pid(tmp_path):
    child = subprocess.Popen(["cat"], stdin=subprocess.PIPE)  # alive until its input closes
    try:
        host = atomic.host_tag()
        fresh = tmp_path / f"{TEMP_PREFIX}{host}-{child.pid}-0a1b2c3d-1.png"
        from_before = tmp_path / f"{TEMP_PREFIX}{host}-{child.pid}-0a1b2c3d-2.png"
        for path in (fresh, from_before):
            path.write_bytes(b"partial")
        long_ago = time.time() - 600  # written before the child existed: by an earlier owner of its pid
        os.utime(from_before, (long_ago, long_ago))
        assert atomic.remove_stale_temporaries(tmp_path) == 1
        assert fresh.exists() and not from_before.exists()
    finally:
        child.stdin.close()
        child.wait()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_session_gives_the_same_stats_with_one_walk_a_folder(tmp_path, monkeypatch):
    """Checking a run's outputs in a session stats through held folder descriptors: the same results as
    without (files, missing names, a linked folder on the way, a link itself), each folder reached once, and
    nothing left open afterwards."""
    from ipmix_cli.disk import folder as folder_module
    from ipmix_cli.disk.folder import SafeFolder

    out = tmp_path / "out"
    for name in ("a/1.png", "a/2.png", "b/c/3.png", "top.png"):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"x" * len(name))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "4.png").write_bytes(b"y")
    os.symlink(tmp_path / "elsewhere", out / "linked")
    os.symlink(out / "top.png", out / "a" / "link.png")
    names = ["a/1.png", "a/2.png", "a/gone.png", "a/link.png", "b/c/3.png", "linked/4.png", "top.png", "a/1.png"]
    folder = SafeFolder(out)

    def answers():
        return [None if s is None else (s.st_ino, s.st_size, s.st_mode) for s in map(folder.stat, names)]

    expected = answers()
    assert expected[2] is None and expected[5] is None and expected[0] is not None
    opened = []
    real_open = os.open
    monkeypatch.setattr(folder_module.os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    before = _open_fds()
    with folder.session():
        assert answers() == expected
    assert _open_fds() == before
    # a/, b/c/, linked/ (refused, so tried again), the top folder: a/ is still held the second time
    assert sum(1 for path in opened if str(path) == str(folder.path)) == 4
    opened.clear()
    assert answers() == expected  # outside a session: one walk a name again
    assert sum(1 for path in opened if str(path) == str(folder.path)) == len(names)


def test_writes_in_a_session_reach_each_folder_once_and_make_a_removed_one_again(tmp_path, monkeypatch):
    from ipmix_cli.disk import folder as folder_module
    from ipmix_cli.disk.folder import SafeFolder

    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    walks = []
    real_open_folder = SafeFolder._open_folder
    monkeypatch.setattr(SafeFolder, "_open_folder", lambda self, p, c: walks.append(p) or real_open_folder(self, p, c))
    before = _open_fds()
    with folder.session():
        for index in range(5):
            folder.write_bytes(f"a/b/{index}.png", b"x")
            folder.write_bytes(f"c/{index}.png", b"y")
        assert walks == [("a", "b"), ("c",)]
        shutil.rmtree(out / "a")  # removed while held: the next write makes it again
        folder.write_bytes("a/b/again.png", b"z")
        assert folder.remove("c/0.png") and not folder.remove("c/0.png")
    assert _open_fds() == before
    assert (out / "a" / "b" / "again.png").read_bytes() == b"z"
    assert sorted(p.name for p in (out / "c").iterdir()) == ["1.png", "2.png", "3.png", "4.png"]
    assert not [p for p in out.rglob("*") if p.name.startswith(folder_module.TEMP_PREFIX)]


def test_a_folder_replaced_by_a_link_during_a_session_is_never_written_through(tmp_path):
    """Held descriptors name the folder that was reached: a link put in its place leads nowhere; after the
    session the link is refused as always."""
    from ipmix_cli.disk.folder import SafeFolder

    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    folder = SafeFolder(out)
    with folder.session():
        folder.write_bytes("a/1.png", b"x")
        os.rename(out / "a", tmp_path / "moved")
        os.symlink(victim, out / "a")
        folder.write_bytes("a/2.png", b"y")  # into the held folder, wherever it is now
    assert list(victim.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "moved").iterdir()) == ["1.png", "2.png"]
    with pytest.raises(OSError, match="symbolic link"):
        folder.write_bytes("a/3.png", b"z")
    assert list(victim.iterdir()) == []


def test_sessions_of_two_threads_on_one_folder_hold_their_own_descriptors(tmp_path):
    import threading

    from ipmix_cli.disk.folder import SafeFolder

    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    started, ended = threading.Barrier(2), threading.Barrier(2)
    errors = []

    def writer(name):
        try:
            with folder.session():
                started.wait()
                for index in range(50):
                    folder.write_bytes(f"{name}/{index}.png", b"x")
            ended.wait()  # one thread's session ending never closes the other's descriptors
            with folder.session():
                folder.write_bytes(f"{name}/last.png", b"y")
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    assert errors == []
    assert len(list((out / "a").iterdir())) == len(list((out / "b").iterdir())) == 51


def test_a_session_holds_a_bounded_number_of_folders_and_never_closes_one_in_use(tmp_path, monkeypatch):
    from ipmix_cli.disk import folder as folder_module
    from ipmix_cli.disk.folder import SafeFolder

    monkeypatch.setattr(folder_module, "_HELD_FOLDERS", 2)
    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    before = _open_fds()
    with folder.session():
        with folder.open_new("shard.tar") as unfinished:  # a shard being written while other folders come and go
            unfinished.write(b"head")
            for index in range(6):
                folder.write_bytes(f"f{index}/x.png", b"x")
            assert _open_fds() <= before + 3  # the root, one sub-folder, the unfinished file
            unfinished.write(b"tail")
    assert _open_fds() == before
    assert (out / "shard.tar").read_bytes() == b"headtail"
    assert all((out / f"f{index}" / "x.png").read_bytes() == b"x" for index in range(6))


def test_a_single_append_checks_the_file_it_just_opened_only_once(tmp_path, monkeypatch):
    """``append_text`` opens the file through its name: looking the name up again would be work done twice."""
    from ipmix_cli.disk.folder import SafeFolder

    out = tmp_path / "out"
    out.mkdir()
    folder = SafeFolder(out)
    looked_up = []
    real_stat = SafeFolder.stat
    monkeypatch.setattr(SafeFolder, "stat", lambda self, name: looked_up.append(name) or real_stat(self, name))
    folder.append_text("j.jsonl", "a\n")
    assert looked_up == [] and (out / "j.jsonl").read_text() == "a\n"
    with folder.open_append("j.jsonl") as append:
        append("b\n")
        append("c\n")
    assert looked_up == ["j.jsonl"] and (out / "j.jsonl").read_text() == "a\nb\nc\n"
