"""Re-running ``ipmix fractals build``: repairs, extension, shrinking, the recorded seed, tampered records,
and Ctrl-C (issue 10 rule 9, issue 14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from tmpfs import mounted_tmpfs, remount

from ipmix_cli.cli.main import main
from ipmix_cli.jobs import fractals as build
from ipmix_cli.jobs.fractals import BuildConfig, BuildError, build_set
from ipmix_cli.mixsets.mixing_set import MixingSet, MixingSetError
from ipmix_cli.mixsets.record import read_record

SETTINGS = ["--size", "24", "--seed", "5", "--kind", "mixed", "--jobs", "1"]


def _build(out: Path, *arguments: str):
    return CliRunner().invoke(main, ["fractals", "build", str(out), *arguments], catch_exceptions=False)


def _pictures(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def _state(folder: Path) -> dict[str, bytes]:
    """Pictures and metadata: what a repaired set must equal (the record's counters differ by nature)."""
    return {**_pictures(folder), "metadata.jsonl": (folder / "metadata.jsonl").read_bytes()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    return out


def test_a_finished_build_re_run_with_the_same_arguments_keeps_everything(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS).exit_code == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    again = _build(out, "--count", "12", *SETTINGS)
    assert again.exit_code == 0, again.output  # was: "built with other settings", listing identical ones
    assert "made 0, kept 12" in again.stderr and "other settings" not in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == stamps
    assert _state(out) == _state(reference)


def test_a_build_with_nothing_to_do_never_marks_the_record_unfinished(tmp_path, monkeypatch):
    """A reader loading the set while a no-op build runs (e.g. a second process's repair of the built-in set
    finding the first one's done) must never see "an unfinished build" (CI: the two-repairers test failed so)."""
    from ipmix_cli.runner.ledger import Ledger

    out = tmp_path / "set"
    config = BuildConfig(count=4, size=24, seed=5, kind="mixed")
    build_set(out, config, show_progress=False)
    written = []
    original = Ledger.write_run
    monkeypatch.setattr(Ledger, "write_run", lambda ledger, record: written.append(record) or original(ledger, record))
    summary = build_set(out, config, show_progress=False)
    assert (summary.made, summary.repaired, summary.kept) == (0, 0, 4)
    assert [record.extra["complete"] for record in written] == [True]  # one atomic replacement, whole
    MixingSet.from_folder(out)


@pytest.mark.parametrize("damage", ["metadata_deleted", "junk_line", "journal_left"])
def test_a_re_run_rewrites_metadata_that_is_not_exactly_the_build_s(tmp_path, damage):
    """Review: with every picture intact, a build returned early although metadata.jsonl was missing or held
    extra lines; it must write the metadata (from the ledger, never from the file it replaces) and fold and
    remove a journal left behind."""
    out = tmp_path / "set"
    config = BuildConfig(count=4, size=24, seed=5, kind="mixed")
    build_set(out, config, show_progress=False)
    expected = (out / "metadata.jsonl").read_bytes()
    journal = out / ".ipmix-journal.w-old.jsonl"
    if damage == "metadata_deleted":
        (out / "metadata.jsonl").unlink()
    elif damage == "junk_line":
        with open(out / "metadata.jsonl", "a") as stream:
            stream.write('{"index": 99, "file_name": "../x.png"}\n')
    else:
        journal.write_bytes(expected + b'{"unit": "torn')
    build_set(out, config, show_progress=False)
    assert (out / "metadata.jsonl").read_bytes() == expected and not journal.exists()
    MixingSet.from_folder(out)


def test_re_running_repairs_missing_truncated_flipped_and_linked_pictures(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    (out / "0001.png").unlink()
    data = (out / "0002.png").read_bytes()
    (out / "0002.png").write_bytes(data[: len(data) // 2])
    flipped = bytearray((out / "0003.png").read_bytes())
    flipped[-40] ^= 0x01  # inside the image data: the text chunk still reads, only the digest tells
    (out / "0003.png").write_bytes(bytes(flipped))
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not yours to overwrite")
    (out / "0004.png").unlink()
    (out / "0004.png").symlink_to(outside)
    with pytest.raises(MixingSetError, match="0001.png is missing.*repair it with `ipmix fractals build"):
        MixingSet.from_folder(out)

    result = _build(out, "--count", "12", *SETTINGS)
    assert result.exit_code == 0, result.output
    assert "repaired 4" in result.stderr and "made 0, kept 8" in result.stderr
    assert _state(out) == _state(reference)
    assert not (out / "0004.png").is_symlink() and outside.read_bytes() == b"not yours to overwrite"
    assert len(MixingSet.from_folder(out)) == 12


def test_without_seed_the_recorded_seed_is_reused(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    (out / "0007.png").unlink()
    unseeded = [argument for argument in SETTINGS if argument not in ("--seed", "5")]
    result = _build(out, "--count", "12", *unseeded)
    assert result.exit_code == 0, result.output
    assert "(seed 5, as recorded)" in result.stderr and "repaired 1" in result.stderr
    assert _state(out) == _state(reference)


@pytest.mark.slow
def test_an_unseeded_first_build_records_its_seed_for_the_re_run(tmp_path):
    out = tmp_path / "set"
    assert _build(out, "--count", "3", "--size", "16", "--kind", "spectral", "--quiet").exit_code == 0
    seed = read_record(out).config.seed
    (out / "0000.png").unlink()
    result = _build(out, "--count", "3", "--size", "16", "--kind", "spectral")
    assert result.exit_code == 0 and f"seed {seed}, as recorded" in result.stderr


def test_raising_count_extends_the_set_and_leaves_the_pictures_it_had(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "7", *SETTINGS, "--quiet").exit_code == 0
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.glob("*.png")}
    result = _build(out, "--count", "12", *SETTINGS)
    assert result.exit_code == 0, result.output
    assert "made 5, kept 7" in result.stderr
    assert {name: (out / name).read_bytes() for name in before} == {k: v[0] for k, v in before.items()}
    assert {name: (out / name).stat().st_mtime_ns for name in before} == {k: v[1] for k, v in before.items()}
    assert _state(out) == _state(reference)  # exactly a build of 12 from the start


def test_lowering_count_is_refused_with_what_would_be_left_and_overwrite_shrinks(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    refused = _build(out, "--count", "9", *SETTINGS)
    assert refused.exit_code == 2
    assert "would leave 3 behind (0009.png … 0011.png)" in refused.stderr and "--overwrite" in refused.stderr
    assert len(list(out.glob("*.png"))) == 12
    shrunk = _build(out, "--count", "9", *SETTINGS, "--overwrite")
    assert shrunk.exit_code == 0, shrunk.output
    assert "removed 3" in shrunk.stderr and "kept 9" in shrunk.stderr
    assert _pictures(out) == {name: data for name, data in _pictures(reference).items() if name < "0009.png"}
    assert len(MixingSet.from_folder(out)) == 9


def test_other_settings_are_refused_naming_the_change_and_overwrite_replaces_them(tmp_path):
    out = tmp_path / "set"
    build_set(out, BuildConfig(count=4, size=16, seed=1, kind="spectral"), show_progress=False)
    with pytest.raises(BuildError, match="other settings:\n  seed 1 → 2\n"):
        build_set(out, BuildConfig(count=4, size=16, seed=2, kind="spectral"), show_progress=False)
    build_set(out, BuildConfig(count=2, size=16, seed=2, kind="spectral"), overwrite=True, show_progress=False)
    assert sorted(p.name for p in out.glob("*.png")) == ["0000.png", "0001.png"]
    fresh = tmp_path / "fresh"
    build_set(fresh, BuildConfig(count=2, size=16, seed=2, kind="spectral"), show_progress=False)
    assert _state(out) == _state(fresh)


def test_tampered_metadata_is_never_trusted_as_a_path_or_a_digest(tmp_path, reference):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    lines = (out / "metadata.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "file_name": "../victim.png"})
    lines[1] = json.dumps({**json.loads(lines[1]), "file_name": str(victim)})
    lines[2] = json.dumps({**json.loads(lines[2]), "sha256": "0" * 64})
    lines[3] = "{not json"
    (out / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(MixingSetError, match="0000.png has no valid line in metadata.jsonl, 0001.png has no"):
        MixingSet.from_folder(out)
    result = _build(out, "--count", "12", *SETTINGS)
    assert result.exit_code == 0, result.output
    assert "made 0, kept 12" in result.stderr  # the metadata is written from the ledger, never read back
    assert victim.read_bytes() == b"precious"
    assert _state(out) == _state(reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    "record",
    ['{"count": "12"}', "[1, 2]", '{"count": 10000000000, "size": 24}', "\0\0\0", ""],
)
def test_a_damaged_record_is_refused_with_the_fix_and_overwrite_rebuilds(tmp_path, reference, record):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    (out / "ipmix_fractals.json").write_text(record)
    refused = _build(out, "--count", "12", *SETTINGS)
    assert refused.exit_code == 2 and "ipmix_fractals.json is damaged" in refused.stderr
    assert "--overwrite" in refused.stderr and "Traceback" not in refused.output
    with pytest.raises(MixingSetError, match="ipmix_fractals.json is damaged"):
        MixingSet.from_folder(out)
    assert _build(out, "--count", "12", *SETTINGS, "--overwrite", "--quiet").exit_code == 0
    assert _state(out) == _state(reference)


def test_an_unfinished_build_is_not_a_usable_set(tmp_path, monkeypatch):
    out = tmp_path / "set"
    real = build.render_picture
    calls = []

    def interrupting(config, index, digits=None):
        calls.append(index)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(config, index, digits)

    monkeypatch.setattr(build, "render_picture", interrupting)
    result = _build(out, "--count", "12", *SETTINGS)
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines() == [
        f"ipmix: interrupted; re-run the same command to resume the build in {out}"
    ]  # one line: no "Aborted!", no traceback
    with pytest.raises(MixingSetError, match="unfinished build; finish it with `ipmix fractals build"):
        MixingSet.from_folder(out)


def test_ctrl_c_in_process_then_the_re_run_completes_to_the_same_bytes(tmp_path, reference, monkeypatch):
    out = tmp_path / "set"
    real = build.render_picture
    calls = []

    def interrupting(config, index, digits=None):
        calls.append(index)
        if len(calls) == 10:  # nine pictures are written and journalled, one at a time
            raise KeyboardInterrupt
        return real(config, index, digits)

    monkeypatch.setattr(build, "render_picture", interrupting)
    assert _build(out, "--count", "12", *SETTINGS).exit_code == 130
    assert 8 <= len(list(out.glob("*.png"))) < 12
    monkeypatch.setattr(build, "render_picture", real)
    result = _build(out, "--count", "12", *SETTINGS)
    assert result.exit_code == 0 and "kept 9" in result.stderr  # the journalled pictures are trusted, not re-made
    assert _state(out) == _state(reference)


def _command(out: Path, jobs: int) -> list[str]:
    arguments = ["--count", "60", "--size", "16", "--kind", "spectral", "--seed", "3", "--jobs", str(jobs)]
    return [sys.executable, "-m", "ipmix_cli", "fractals", "build", str(out), *arguments]


def _gated(tmp_path: Path, after: int) -> tuple[dict, Path]:
    """An environment whose build stops at a known point: each process, after ``after`` pictures, writes
    ``gate.reached`` and waits until the gate is opened (``runner.tasks.TEST_GATE``)."""
    gate = tmp_path / "gate"
    return {**os.environ, "IPMIX_TEST_GATE": str(gate), "IPMIX_TEST_GATE_AFTER": str(after)}, gate


def _wait_for(process: subprocess.Popen, marker: Path) -> None:
    """Until the program writes ``marker`` (a state it reaches), or it ends (a failure of the test setup)."""
    deadline = time.monotonic() + 300  # only a bound for a broken run; a working one gets there in seconds
    while time.monotonic() < deadline:
        if marker.exists():
            return
        try:
            process.wait(timeout=0.05)  # a poll, not a sleep: returns at once if the build ended
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"the build ended (status {process.returncode}) before it reached the gate")
    pytest.fail("the build never reached the gate")


def _open_gate(gate: Path) -> None:
    """Let the processes waiting at the gate (and any that reach it later) go on."""
    Path(f"{gate}.open").touch()


@pytest.mark.slow
@pytest.mark.parametrize("jobs, whole_group", [(1, False), (2, True)])
def test_sigint_during_a_build_exits_130_with_one_line_and_the_re_run_gives_the_same_bytes(tmp_path, jobs, whole_group):
    reference = tmp_path / "reference"
    subprocess.run([*_command(reference, 1), "--quiet"], check=True)
    out = tmp_path / "set"
    environment, gate = _gated(tmp_path, after=8)
    # whole_group: a terminal's Ctrl-C reaches the driver and its workers together
    process = subprocess.Popen(
        _command(out, jobs), stderr=subprocess.PIPE, text=True, start_new_session=whole_group, env=environment
    )
    _wait_for(process, Path(f"{gate}.reached"))
    if whole_group:
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGINT)
    _open_gate(gate)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert (
        stderr.strip().splitlines()[-1] == f"ipmix: interrupted; re-run the same command to resume the build in {out}"
    )
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert 0 < len(list(out.glob("*.png"))) < 60
    assert json.loads((out / "ipmix_fractals.json").read_text())["complete"] is False

    subprocess.run([*_command(out, jobs), "--quiet"], check=True)
    assert _state(out) == _state(reference)


_WORKER_MASKS = """
import signal
from ipmix_cli.runner.backends import LokyPool

def blocked():
    with open("/proc/self/status") as status:
        mask = int(next(line for line in status if line.startswith("SigBlk:")).split()[1], 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))

pool = LokyPool(2)
handles = [pool.submit(blocked) for _ in range(8)]
found = []
while pool.in_flight:
    done = pool.next_done(5)
    if done:
        found.append(done[1])
pool.close(abort=True)
print(sorted(set(found)), blocked())
"""


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads signal masks from /proc (Linux)")
def test_workers_start_with_ctrl_c_blocked_and_the_parent_gets_its_mask_back():
    """Every worker inherits a blocked SIGINT from its first instruction (so a Ctrl-C reaching the whole process
    group cannot kill one mid-import with a traceback). Was not so: Python 3.11's resource tracker, started by
    the pool, unblocked SIGINT again before the workers were spawned."""
    done = subprocess.run([sys.executable, "-c", _WORKER_MASKS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[True]", "False"]


def test_a_full_output_folder_stops_with_one_line_and_the_re_run_after_freeing_space_completes(tmp_path, reference):
    with mounted_tmpfs(tmp_path / "disk", "24k") as disk:
        out = disk / "set"
        stopped = _build(out, "--count", "12", *SETTINGS)
        assert stopped.exit_code == 1 and "Traceback" not in stopped.output
        (line,) = stopped.stderr.strip().splitlines()
        assert line.startswith(f"ipmix: the build stopped: {out}") and line.endswith(
            ": No space left on device (free some space, then re-run the same command to resume)"
        )
        remount(disk, "size=4m")
        resumed = _build(out, "--count", "12", *SETTINGS)
        assert resumed.exit_code == 0, resumed.output
        assert _state(out) == _state(reference)
        remount(disk, "ro")
        read_only = _build(out, "--count", "13", *SETTINGS)
        assert read_only.exit_code == 2 and "Read-only file system" in read_only.stderr  # OUT cannot be used


def test_extending_past_the_digits_of_the_first_build_renames_nothing(tmp_path, monkeypatch):
    """Picture names keep the digits the first build chose (here, as if 3 pictures fit four digits and 5 did
    not), so pictures 0…N−1 keep their names and bytes, text chunk included."""
    monkeypatch.setattr(build, "default_digits", lambda count: 4 if count <= 3 else 5)
    out = tmp_path / "set"
    build_set(out, BuildConfig(count=3, size=16, seed=1, kind="spectral"), show_progress=False)
    before = _pictures(out)
    assert sorted(before) == ["0000.png", "0001.png", "0002.png"]
    build_set(out, BuildConfig(count=5, size=16, seed=1, kind="spectral"), show_progress=False)
    after = _pictures(out)
    assert sorted(after) == ["0000.png", "0001.png", "0002.png", "0003.png", "0004.png"]
    assert {name: after[name] for name in before} == before
    assert MixingSet.from_folder(out).names == sorted(after)
    fresh = tmp_path / "fresh"
    build_set(fresh, BuildConfig(count=5, size=16, seed=1, kind="spectral"), show_progress=False)
    assert sorted(_pictures(fresh)) == [f"{i:05d}.png" for i in range(5)]


@pytest.mark.slow
@pytest.mark.parametrize("planted", ["hard_link", "symlink"])
@pytest.mark.parametrize("name", [".ipmix-state.jsonl", "ipmix_fractals.json", "metadata.jsonl"])
def test_a_ledger_file_planted_as_a_link_to_a_file_outside_is_replaced_never_written_through(
    tmp_path, reference, planted, name
):
    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    (out / "0004.png").unlink()  # the re-run has something to make
    victim = tmp_path / "victim.txt"
    victim.write_text("not ipmix's\n")
    (out / name).unlink()
    os.link(victim, out / name) if planted == "hard_link" else (out / name).symlink_to(victim)
    result = _build(out, "--count", "12", *SETTINGS)
    assert "Traceback" not in result.output
    assert victim.read_text() == "not ipmix's\n"
    assert not (out / name).is_symlink() or result.exit_code != 0
    assert _build(out, "--count", "12", *SETTINGS, "--overwrite").exit_code == 0
    assert _state(out) == _state(reference)


# --- one build per folder (issue 10 rule 2) ------------------------------------------------------------------


def test_a_build_into_a_folder_another_process_holds_is_refused_naming_it(tmp_path, reference):
    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.disk.lock import hold_folder

    out = tmp_path / "set"
    assert _build(out, "--count", "12", *SETTINGS, "--quiet").exit_code == 0
    (out / "0003.png").unlink()  # something for the refused build to (not) repair
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".ipmix.lock"}
    with hold_folder(SafeFolder(out)):  # as `augment` into this folder, or another build, would hold it
        refused = _build(out, "--count", "12", *SETTINGS)
    assert refused.exit_code == 2
    assert f"another ipmix run (pid {os.getpid()}) is writing {out}" in refused.stderr
    assert "Traceback" not in refused.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".ipmix.lock"} == before
    assert _build(out, "--count", "12", *SETTINGS).exit_code == 0  # the lock went with its holder
    assert _state(out) == _state(reference)


@pytest.mark.slow
def test_a_second_build_while_one_runs_exits_2_naming_the_running_one(tmp_path):
    out = tmp_path / "set"
    environment, gate = _gated(tmp_path, after=4)
    process = subprocess.Popen(_command(out, 1), stderr=subprocess.PIPE, text=True, env=environment)
    try:
        _wait_for(process, Path(f"{gate}.reached"))  # the first build holds the folder and waits at the gate
        second = subprocess.run(_command(out, 1), capture_output=True, text=True, timeout=300)
    finally:
        _open_gate(gate)
        _, first_stderr = process.communicate(timeout=300)
    assert second.returncode == 2, second.stderr  # before: it built the same set alongside the first
    assert f"another ipmix run (pid {process.pid}) is writing {out}" in second.stderr
    assert "Traceback" not in second.stderr
    assert process.returncode == 0, first_stderr  # the first build was not disturbed by the second


@pytest.mark.slow
def test_two_unseeded_builds_started_together_make_one_whole_set_with_one_seed(tmp_path):
    """The recorded seed is read under the lock: the loser of the race is refused, or, starting after the
    winner finished, finds the set whole with the recorded seed. Before, both could draw their own seed and
    both exit 0, each having written pictures of its own seed into the folder."""
    import re

    from PIL import Image

    arguments = ["--count", "300", "--size", "16", "--kind", "spectral", "--jobs", "1"]
    for round_number in range(5):
        out = tmp_path / f"set{round_number}"
        command = [sys.executable, "-m", "ipmix_cli", "fractals", "build", str(out), *arguments]
        processes = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
        for process in processes:
            process.stderr.close()
        assert {code for code, _ in outcomes} <= {0, 2} and 0 in {code for code, _ in outcomes}, outcomes
        seed = read_record(out).config.seed
        for code, stderr in outcomes:
            assert (code == 2 and "is writing" in stderr) or re.search(rf"\(seed {seed}\b", stderr), outcomes
        lines = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
        assert len(lines) == 300 and {line["seed"] for line in lines} == {seed}
        for picture in sorted(out.glob("*.png")):
            with Image.open(picture) as image:
                assert json.loads(image.text["ipmix"])["seed"] == seed, picture.name
        assert len(MixingSet.from_folder(out)) == 300  # every digest matches its picture
