"""Faults of inputs, workers and the environment (issue: hardening; SPEC §6). Each test attacks one promise:
nothing written outside OUT or into IN, one run per OUT, one input's fault stays its own, the manifest never
lies, environment errors are one-line messages, pipes and signals end runs cleanly."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from conftest import folder_bytes, make_inputs, photo_like, run_ok
from conftest import ipmix_command as command
from ipmix_cli.cli.main import main


def run(*arguments, input=None):
    return CliRunner().invoke(main, ["augment", *map(str, arguments)], input=input, catch_exceptions=False)


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def assert_manifest_matches_files(out: Path) -> list[dict]:
    """Every record's file exists with its digest, and every output file in OUT is recorded."""
    records = manifest(out)
    for record in records:
        assert hashlib.sha256((out / record["file_name"]).read_bytes()).hexdigest() == record["sha256"], record
    listed = {r["file_name"] for r in records}
    on_disk = {
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "_ipmix" in p.name or p.name.endswith("_original.png")
    }
    assert on_disk == listed
    return records


def no_traceback(text: str) -> None:
    """No traceback and no exception's own name (``OSError: …``) reaches the user."""
    assert "Traceback" not in text and not re.search(r"\w+(Error|Exception):", text), text


# --- 1. containment -------------------------------------------------------------------------------------


def test_a_linked_subfolder_of_out_that_leads_into_in_is_never_written_through(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4, labels=("cats", "dogs"))
    before = folder_bytes(tmp_path / "in", skip=())
    out = tmp_path / "out"
    out.mkdir()
    (out / "cats").symlink_to(tmp_path / "in" / "cats")  # OUT/cats leads into IN/cats
    result = run(tmp_path / "in", out, "--mixing-set", mixing_dir, "--overwrite")
    assert result.exit_code == 1
    assert folder_bytes(tmp_path / "in", skip=()) == before, "nothing may be written into IN"
    failures = json.loads((out / "ipmix_run.json").read_text())["failures"]
    assert {f["source"] for f in failures} == {"cats/img0000.png", "cats/img0002.png"}
    assert all("symbolic link" in f["error"] for f in failures)
    assert {r["source"] for r in manifest(out)} == {"dogs/img0001.png", "dogs/img0003.png"}


def test_a_tampered_manifest_cannot_make_overwrite_delete_outside_out(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    victims = [tmp_path / "victim.png", tmp_path / "elsewhere" / "victim_ipmix0.png"]
    victims[1].parent.mkdir()
    for victim in victims:
        victim.write_bytes(b"precious")
    (out / "notes_ipmix0.png").write_bytes(b"the user's own file, named like an output but never recorded")
    forged = [
        {"file_name": "../victim.png", "source": "x", "copy": 0, "sha256": "0" * 64},
        {"file_name": str(victims[1]), "source": "y", "copy": 0, "sha256": "0" * 64},
        {"file_name": "cats/../../victim.png", "source": "z", "copy": 0, "sha256": "0" * 64},
    ]
    for name in ("metadata.jsonl", ".ipmix-state.jsonl"):
        with open(out / name, "a") as stream:
            stream.write("".join(json.dumps(record) + "\n" for record in forged))
    replaced = run(tmp_path / "in", out, "--seed", "2", "--mixing-set", mixing_dir, "--overwrite", "--quiet")
    assert replaced.exit_code == 0, replaced.output
    assert all(victim.read_bytes() == b"precious" for victim in victims)
    assert (out / "notes_ipmix0.png").exists()
    assert {r["seed"] for r in manifest(out)} == {2}


def test_a_file_link_out_of_in_is_not_read(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    secret = tmp_path / "secret.png"
    Image.fromarray(photo_like(20, 20)).save(secret)
    (tmp_path / "in" / "cats" / "leak.png").symlink_to(secret)
    (tmp_path / "in" / "cats" / "inside.png").symlink_to(tmp_path / "in" / "cats" / "img0000.png")
    out = tmp_path / "out"
    result = run(tmp_path / "in", out, "--mixing-set", mixing_dir)
    assert result.exit_code == 1
    assert "cats/leak.png" in result.stderr and "outside IN" in result.stderr
    sources = {r["source"] for r in manifest(out)}
    assert "cats/leak.png" not in sources and "cats/inside.png" in sources  # a link inside IN is an input


@pytest.mark.slow
@pytest.mark.parametrize("listed", [False, True])
def test_a_fifo_named_like_an_image_is_a_failure_not_a_hang(tmp_path, mixing_dir, listed):
    make_inputs(tmp_path / "in", 2)
    os.mkfifo(tmp_path / "in" / "cats" / "pipe.jpg")
    extra = ["--files-from", "-"] if listed else []
    stdin = "cats/pipe.jpg\ncats/img0000.png\n" if listed else None
    completed = subprocess.run(
        command(tmp_path / "in", tmp_path / "out", mixing_dir, *extra),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1, completed.stderr
    assert "cats/pipe.jpg" in completed.stderr and "FIFO" in completed.stderr
    no_traceback(completed.stderr)


# --- 2. one run per OUT ----------------------------------------------------------------------------------


def test_a_run_into_an_out_that_another_process_holds_is_refused(tmp_path, mixing_dir):
    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.disk.lock import hold_folder

    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    with hold_folder(SafeFolder(out)):
        result = run(tmp_path / "in", out, "--mixing-set", mixing_dir)
    assert result.exit_code == 2
    assert f"another ipmix run (pid {os.getpid()}) is writing" in result.output
    assert not (out / "metadata.jsonl").exists()


@pytest.mark.parametrize(
    "planted", [".ipmix.lock", ".ipmix-journal.jsonl", ".ipmix-setup.lock", ".ipmix-shard-1-of-2.lock"]
)
def test_a_bookkeeping_file_hard_linked_to_an_input_is_never_written_into(tmp_path, mixing_dir, planted):
    """Files ipmix changes in place (the lock's stamp, appended journals) are refused when they have another
    name: a hard link planted in OUT would otherwise let the run write into an input."""
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    out.mkdir()
    arguments = (tmp_path / "in", out, "--mixing-set", mixing_dir, "--seed", "1")
    if planted == ".ipmix-journal.jsonl":  # journals are appended to while a run extends a finished one
        assert run(*arguments, "--k", "1").exit_code == 0
        arguments += ("--k", "2")
    victim = next((tmp_path / "in").rglob("*.png"))
    (out / planted).hardlink_to(victim)
    before = folder_bytes(tmp_path / "in")
    shard = ("--shard", "1/2") if planted.startswith((".ipmix-setup", ".ipmix-shard")) else ()
    result = run(*arguments, *shard)
    assert folder_bytes(tmp_path / "in") == before
    no_traceback(result.output)
    if planted.endswith(".lock") and planted != ".ipmix-setup.lock":  # stamped: refused, naming the file
        assert result.exit_code in (1, 2)
        assert "hard link" in result.output and planted in result.output
    else:  # the setup lock is only ever locked; a stale journal is folded in and removed, never appended to
        assert result.exit_code == 0, result.output


def test_appending_never_writes_into_a_file_with_another_name(tmp_path):
    from ipmix_cli.disk.folder import FolderError, SafeFolder

    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "x.png").write_bytes(b"input")
    (tmp_path / "out" / "journal.jsonl").hardlink_to(tmp_path / "in" / "x.png")
    with pytest.raises(FolderError, match="hard link"):
        SafeFolder(tmp_path / "out").append_text("journal.jsonl", "{}\n")
    assert (tmp_path / "in" / "x.png").read_bytes() == b"input"


@pytest.mark.slow
def test_two_unseeded_runs_started_together_never_mix_seeds(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 24)
    for round_number in range(6):
        out = tmp_path / f"out{round_number}"
        arguments = command(tmp_path / "in", out, mixing_dir, "--k", "2", "--jobs", "1", "--quiet")
        processes = [subprocess.Popen(arguments, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outcomes = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
        for process in processes:
            process.stderr.close()
        assert {code for code, _ in outcomes} <= {0, 2}, outcomes
        assert 0 in {code for code, _ in outcomes}, outcomes
        for code, stderr in outcomes:
            if code == 2:
                assert "is writing" in stderr, stderr
        records = assert_manifest_matches_files(out)
        assert len(records) == 24 * 2
        seeds = {r["seed"] for r in records}
        assert seeds == {json.loads((out / "ipmix_run.json").read_text())["seed"]}


def test_shards_of_one_run_write_at_once_but_a_whole_run_cannot_join(tmp_path, mixing_dir):
    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.disk.lock import hold_folder

    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    out.mkdir()
    # while shard 0/2 holds OUT, shard 1/2 may run, a second shard 0/2 and a whole run may not
    with hold_folder(SafeFolder(out), (0, 2)):
        other = run(tmp_path / "in", out, "--seed", "3", "--shard", "1/2", "--mixing-set", mixing_dir, "--quiet")
        assert other.exit_code == 0, other.output
        twin = run(tmp_path / "in", out, "--seed", "3", "--shard", "0/2", "--mixing-set", mixing_dir)
        assert twin.exit_code == 2 and "shard 0/2 is already being written" in twin.output
        whole = run(tmp_path / "in", out, "--seed", "3", "--mixing-set", mixing_dir)
        assert whole.exit_code == 2 and "shard runs" in whole.output
    assert run(tmp_path / "in", out, "--seed", "3", "--shard", "0/2", "--mixing-set", mixing_dir).exit_code == 0
    assert CliRunner().invoke(main, ["merge", str(out)]).exit_code == 0
    assert len(assert_manifest_matches_files(out)) == 6 * 4
    again = CliRunner().invoke(main, ["merge", str(out)])  # merged before: nothing to do, not a failure
    assert again.exit_code == 0 and "nothing to do" in again.output


@pytest.mark.parametrize("changed, shown", [(("--k", "2"), "k: 4 → 2"), (("--severity", "2"), "overrides")])
def test_a_shard_with_other_settings_than_its_siblings_names_each_difference(tmp_path, mixing_dir, changed, shown):
    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    first = run(tmp_path / "in", out, "--seed", "3", "--shard", "0/2", "--mixing-set", mixing_dir, "--quiet")
    assert first.exit_code == 0, first.output
    other = run(tmp_path / "in", out, "--seed", "3", "--shard", "1/2", "--mixing-set", mixing_dir, *changed)
    assert other.exit_code == 2
    assert "holds shard 0/2 of a run with other settings" in other.output and shown in other.output


def test_a_refusal_lists_only_what_changed_between_a_files_run_and_a_shard_run(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    assert run(tmp_path / "in", out, "--seed", "3", "--k", "2", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    switched = run(
        tmp_path / "in", out, "--seed", "3", "--k", "2", "--mixing-set", mixing_dir, "--output-format", "webdataset"
    )
    assert switched.exit_code == 2
    assert "output_format: 'files' → 'webdataset'" in switched.output
    assert "samples_per_shard: (not used) → 1000" in switched.output
    assert "k:" not in switched.output and "None" not in switched.output
    shards = tmp_path / "shards"
    arguments = ("--seed", "3", "--mixing-set", mixing_dir, "--output-format", "webdataset")
    assert run(tmp_path / "in", shards, *arguments, "--k", "2", "--quiet").exit_code == 0
    raised = run(tmp_path / "in", shards, *arguments, "--k", "3")
    assert raised.exit_code == 2 and "k: 2 → 3" in raised.output and "K of shard outputs is fixed" in raised.output


# --- 3. one input's fault is that input's -----------------------------------------------------------------


@pytest.mark.slow
def test_a_poison_input_that_kills_its_worker_is_isolated_and_recorded(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 30)
    out = tmp_path / "out"
    environment = {**os.environ, "IPMIX_KILL_ON_INPUT": "dogs/img0013.png"}
    arguments = command(tmp_path / "in", out, mixing_dir, "--k", "2", "--jobs", "2", "--seed", "1")
    first = subprocess.run(arguments, env=environment, capture_output=True, text=True, timeout=600)
    assert first.returncode == 1, first.stderr
    assert "dogs/img0013.png: the worker process died while processing it" in first.stderr
    no_traceback(first.stderr)
    records = assert_manifest_matches_files(out)
    assert {r["source"] for r in records} == {
        f"{'cats' if i % 2 == 0 else 'dogs'}/img{i:04d}.png" for i in range(30)
    } - {"dogs/img0013.png"}
    again = subprocess.run(arguments, env=environment, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1 and "29 already done" in again.stderr  # tried once more, alone; not forever
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["counts"]["failed"] == 1 and record["status"] == "complete_with_failures"


def test_odd_names_and_a_folder_in_the_way_fail_alone(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    long_name = "a" * 246 + ".png"  # 250 bytes; with _ipmix0 added the output name is too long
    shutil.copy(tmp_path / "in" / "cats" / "img0000.png", tmp_path / "in" / "cats" / long_name)
    bad = os.fsencode(tmp_path / "in" / "cats") + b"/caf\xe9.png"
    shutil.copy(tmp_path / "in" / "cats" / "img0000.png", bad)
    out = tmp_path / "out"
    first = run(tmp_path / "in", out, "--seed", "2", "--mixing-set", mixing_dir)
    assert first.exit_code == 1
    failures = {f["source"]: f["error"] for f in json.loads((out / "ipmix_run.json").read_text())["failures"]}
    assert "name is too long" in failures[f"cats/{long_name}"]
    assert "not valid UTF-8" in failures["cats/caf\\xe9.png"]
    assert len(manifest(out)) == 4 * 4
    in_the_way = out / "dogs" / "img0001_ipmix2.png"
    in_the_way.unlink()
    in_the_way.mkdir()
    second = run(tmp_path / "in", out, "--seed", "2", "--mixing-set", mixing_dir)
    assert second.exit_code == 1
    failures = {f["source"]: f["error"] for f in json.loads((out / "ipmix_run.json").read_text())["failures"]}
    assert "a folder is in the way" in failures["dogs/img0001.png"]
    assert "dogs/img0001_ipmix2.png" not in {r["file_name"] for r in manifest(out)}


def test_an_undecodable_mixing_picture_fails_only_its_input(tmp_path, mixing_dir, monkeypatch):
    from ipmix_cli.mixsets.mixing_set import MixingSet, MixingSetError

    make_inputs(tmp_path / "in", 4)
    real_draw = MixingSet.draw_deferred
    calls = []

    def draw(self, rng, height, width, *rest):
        calls.append(1)
        if len(calls) == 3:  # the third copy drawn
            raise MixingSetError("picture 0007.png: image file is truncated")
        return real_draw(self, rng, height, width, *rest)

    monkeypatch.setattr(MixingSet, "draw_deferred", draw)
    out = tmp_path / "out"
    result = run(tmp_path / "in", out, "--k", "2", "--mixing-set", mixing_dir, "--backend", "threading", "--jobs", "1")
    assert result.exit_code == 1
    failures = json.loads((out / "ipmix_run.json").read_text())["failures"]
    assert len(failures) == 1 and "mixing picture could not be used" in failures[0]["error"]
    assert len(manifest(out)) == 3 * 2


@pytest.mark.parametrize("damage", ["truncated", "not_an_image"])
def test_a_plain_mixing_folder_with_an_undecodable_picture_is_refused_naming_it(tmp_path, damage):
    """Checked once, when the run loads the set (every picture is decoded then, about 1 ms each): one line
    naming the file and the fix, status 2, nothing written. Before, the picture was silently left out, which
    changes which picture every copy draws."""
    import io

    make_inputs(tmp_path / "in", 2)
    mixing = tmp_path / "mixing"
    (mixing / "sub").mkdir(parents=True)
    for index in range(3):
        Image.fromarray(photo_like(40, 40, seed=index)).save(mixing / f"good{index}.png")
    buffer = io.BytesIO()
    Image.fromarray(photo_like(64, 64, seed=9)).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()[:500] if damage == "truncated" else b"a note saved with a picture's name\n"
    (mixing / "sub" / "broken.jpg").write_bytes(data)
    out = tmp_path / "out"
    result = run(tmp_path / "in", out, "--mixing-set", mixing, "--seed", "1")
    assert result.exit_code == 2, result.output
    no_traceback(result.output)
    message = result.stderr.strip().splitlines()[-1]
    assert "sub/broken.jpg" in message and "cannot be decoded" in message and "move them out" in message
    assert not (out / "metadata.jsonl").exists()
    (mixing / "sub" / "broken.jpg").unlink()
    assert run(tmp_path / "in", out, "--mixing-set", mixing, "--seed", "1", "--quiet").exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 40000), (40000, 2)])
def test_a_strip_is_augmented_within_a_3_gb_address_space_and_the_others_written(tmp_path, mixing_dir, shape):
    """Under ``ulimit -v 3000000`` (the whole scaled mixing picture of a 2×40000 strip, 45714² pixels, would
    need 6.3 GB): no MemoryError, the strip's copies are written like every other input's, exit 0."""
    import resource

    make_inputs(tmp_path / "in", 3)
    Image.fromarray(photo_like(*shape, seed=5)).save(tmp_path / "in" / "cats" / "strip.png")

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3_000_000_000, 3_000_000_000))

    completed = subprocess.run(
        command(tmp_path / "in", tmp_path / "out", mixing_dir, "--k", "2", "--jobs", "1"),
        preexec_fn=limit_memory,
        capture_output=True,
        text=True,
        timeout=600,
    )
    no_traceback(completed.stderr)
    assert completed.returncode == 0, completed.stderr  # before: the strip failed ("not enough memory")
    records = assert_manifest_matches_files(tmp_path / "out")
    sources = [r["source"] for r in records]
    for source in ("cats/img0000.png", "dogs/img0001.png", "cats/img0002.png", "cats/strip.png"):
        assert sources.count(source) == 2, source
    strip = next(r for r in records if r["source"] == "cats/strip.png")
    assert (strip["height"], strip["width"]) == shape


_STRIP_PEAK = """
import resource, sys
from click.testing import CliRunner
from ipmix_cli.cli.main import main

source, out, *options = sys.argv[1:]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for seed in range(4):
    arguments = ["augment", source, f"{out}{seed}", "--seed", str(seed), *options]
    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""

#: The stated bound: augmenting one 2×40000 or 40000×2 strip (80,000 pixels; 4 copies under each of 4 seeds,
#: in the process itself) raises the peak memory of the process by at most this much (measured: 13 MB; the
#: whole scaled mixing picture alone would be 6.3 GB, a shear padded by its largest shift 1.5 to 11 GB).
STRIP_PEAK_BYTES = 64 * 2**20


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(2, 40000), (40000, 2)])
def test_the_peak_memory_of_augmenting_a_strip_is_bounded(tmp_path, mixing_dir, shape):
    (tmp_path / "in").mkdir()
    Image.fromarray(photo_like(*shape, seed=5)).save(tmp_path / "in" / "strip.png")
    arguments = [tmp_path / "in", tmp_path / "out", "--mixing-set", mixing_dir, "--k", "4", "--quiet"]
    arguments += ["--backend", "threading", "--jobs", "1"]  # in the measured process itself
    completed = subprocess.run(
        [sys.executable, "-c", _STRIP_PEAK, *map(str, arguments)], capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr
    assert int(completed.stdout) <= STRIP_PEAK_BYTES, f"{int(completed.stdout) / 2**20:.0f} MB"


@pytest.mark.slow
def test_strips_through_the_window_path_give_the_same_bytes_whatever_the_jobs_and_backend(tmp_path, mixing_dir):
    """A 2×3000 image's mixing cover (3375² pixels) is past the whole-picture limit, so its windows are
    resampled alone: that choice depends on the sizes only, never on a worker's cache or history."""
    from ipmix_cli.mixsets import mixing_set as mixset

    make_inputs(tmp_path / "in", 4)
    for index, shape in enumerate([(2, 3000), (3000, 3), (5, 2500)]):
        Image.fromarray(photo_like(*shape, seed=10 + index)).save(tmp_path / "in" / "dogs" / f"strip{index}.png")
        cover = mixset.cover_size(64, 64, *shape)
        assert cover[0] * cover[1] > max(mixset.WINDOW_FACTOR * shape[0] * shape[1], mixset.FULL_COVER_PIXELS)
    outputs = []
    for name, extra in [("one", ["--jobs", "1"]), ("two", ["--jobs", "2"]), ("threads", ["--backend", "threading"])]:
        out = tmp_path / name
        run_ok(command(tmp_path / "in", out, mixing_dir, "--k", "3", "--seed", "8", "--quiet", *extra))
        outputs.append(folder_bytes(out))
    assert outputs[0] == outputs[1] == outputs[2]


def test_the_workers_are_released_before_the_records_are_sorted_for_the_manifest(tmp_path, mixing_dir, monkeypatch):
    """The parent sorts every record of the run for the manifest (up to 100,000 in memory: about 70 MB at
    10,000 inputs with K=4); with the workers still alive that added up to the run's peak, which then grew
    with the number of inputs (355 MB at 2,000 mixed-size photos, 431 MB at 10,000). The workers now go first."""
    from ipmix_cli.runner import backends, ledger

    events = []
    real_close, real_finalize = backends.LokyPool.close, ledger.Ledger.finalize

    def close(self, abort=False):
        events.append(("close", abort))
        return real_close(self, abort)

    def finalize(*arguments, **keywords):
        events.append(("finalize",))
        return real_finalize(*arguments, **keywords)

    monkeypatch.setattr(backends.LokyPool, "close", close)
    monkeypatch.setattr(ledger.Ledger, "finalize", finalize)
    make_inputs(tmp_path / "in", 6)
    result = run(tmp_path / "in", tmp_path / "out", "--mixing-set", mixing_dir, "--jobs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    assert events.index(("close", True)) < events.index(("finalize",)), events
    assert_manifest_matches_files(tmp_path / "out")


# --- 5. the manifest never lies ----------------------------------------------------------------------------


def test_runs_over_subsets_keep_every_finished_output_in_the_manifest(tmp_path, mixing_dir):
    sources = make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    common = ("--seed", "4", "--k", "2", "--mixing-set", mixing_dir, "--quiet", "--files-from", "-")
    assert run(tmp_path / "in", out, *common, input="\n".join(sources[:3])).exit_code == 0
    assert run(tmp_path / "in", out, *common, input="\n".join(sources[3:])).exit_code == 0
    records = assert_manifest_matches_files(out)
    assert {r["source"] for r in records} == set(sources)


def test_a_resume_redoes_an_output_whose_bytes_changed_even_with_its_old_times(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    common = ("--seed", "4", "--mixing-set", mixing_dir, "--quiet")
    assert run(tmp_path / "in", out, *common).exit_code == 0
    expected = folder_bytes(out)
    victim = out / "cats" / "img0000_ipmix1.png"
    stamp = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    os.utime(victim, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same modification time
    (out / "dogs" / "img0001_ipmix3.png").unlink()
    assert run(tmp_path / "in", out, *common).exit_code == 0
    assert folder_bytes(out) == expected
    assert_manifest_matches_files(out)


def test_an_out_made_from_another_in_is_another_run(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in1", 2)
    make_inputs(tmp_path / "in2", 2, seed=10)  # same names, other pictures
    out = tmp_path / "out"
    assert run(tmp_path / "in1", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    refused = run(tmp_path / "in2", out, "--seed", "1", "--mixing-set", mixing_dir)
    assert refused.exit_code == 2
    assert "in: " in refused.output and str(tmp_path / "in2") in refused.output


@pytest.mark.slow
def test_a_killed_run_leaves_a_manifest_that_lists_only_finished_outputs(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 20)
    out = tmp_path / "out"
    arguments = command(tmp_path / "in", out, mixing_dir, "--seed", "5", "--jobs", "1", "--quiet")
    killed = subprocess.run(arguments, env={**os.environ, "IPMIX_KILL_AFTER_WRITES": "30"}, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert run(tmp_path / "in", out, "--seed", "5", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    assert len(assert_manifest_matches_files(out)) == 20 * 4


# --- 7. environment errors ------------------------------------------------------------------------------------


def test_an_out_that_cannot_be_made_is_one_line(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1)
    (tmp_path / "file").write_text("in the way")
    for out, words in (
        (tmp_path / "file", "not a folder"),
        (tmp_path / "file" / "sub", "cannot use OUT"),
        (Path("/proc/ipmix-test/out"), "cannot use OUT"),
    ):
        result = run(tmp_path / "in", out, "--mixing-set", mixing_dir)
        assert result.exit_code == 2, (out, result.output)
        assert words in result.output
        no_traceback(result.output)


@pytest.mark.parametrize(
    "listing, words",
    [(b"cats/img0000.png\n\xff\xfe.png\n", "line 2 is not valid UTF-8"), (b"cats/img0000.png\0x\n", "NUL byte")],
)
def test_a_files_from_list_that_is_not_utf8_or_holds_nul_is_a_usage_error(tmp_path, mixing_dir, listing, words):
    make_inputs(tmp_path / "in", 1)
    result = run(tmp_path / "in", tmp_path / "out", "--files-from", "-", "--mixing-set", mixing_dir, input=listing)
    assert result.exit_code == 2 and words in result.output
    no_traceback(result.output)
    assert not (tmp_path / "out").exists()


def test_an_empty_files_from_list_says_so(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1)
    result = run(tmp_path / "in", tmp_path / "out", "--files-from", "-", "--mixing-set", mixing_dir, input="\n\n")
    assert result.exit_code == 2 and "names no inputs" in result.output


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if completed.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {completed.stderr.decode().strip()}")


def test_a_read_only_out_is_one_line(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 1)
    mount = tmp_path / "ro"
    _mount_tmpfs(mount, "ro,size=1m")
    try:
        result = run(tmp_path / "in", mount / "out", "--mixing-set", mixing_dir)
        assert result.exit_code == 2 and "read-only" in result.output
        no_traceback(result.output)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_the_rerun_gives_the_same_bytes(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 40, size=(48, 48))
    common = ("--seed", "6", "--k", "3", "--format", "png", "--jobs", "1")
    reference = tmp_path / "reference"
    subprocess.run(command(tmp_path / "in", reference, mixing_dir, *common, "--quiet"), check=True)
    mount = tmp_path / "small"
    _mount_tmpfs(mount, "size=200k")
    try:
        out = mount / "out"
        full = subprocess.run(command(tmp_path / "in", out, mixing_dir, *common), capture_output=True, text=True)
        assert full.returncode == 1, full.stderr
        assert "No space left on device" in full.stderr and "re-run the same command" in full.stderr
        no_traceback(full.stderr)
        subprocess.run(["mount", "-o", "remount,size=50m", str(mount)], check=True)
        subprocess.run(command(tmp_path / "in", out, mixing_dir, *common, "--quiet"), check=True)
        assert folder_bytes(out) == folder_bytes(reference)
    finally:
        subprocess.run(["umount", str(mount)], check=True)


# --- 8. pipes and signals --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_print_paths_into_head_ends_quietly_and_the_rerun_completes(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 120)
    out = tmp_path / "out"
    arguments = command(tmp_path / "in", out, mixing_dir, "--seed", "7", "--jobs", "1", "--print", "paths")
    completed = subprocess.run(
        ["bash", "-c", " ".join(f"'{a}'" for a in arguments) + " | head -1; echo ${PIPESTATUS[0]} >&2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.stdout.count("\n") == 1
    status = int(completed.stderr.strip().splitlines()[-1])
    assert status == 141, completed.stderr
    no_traceback(completed.stderr)
    assert "joblib" not in completed.stderr and "Exception ignored" not in completed.stderr
    assert json.loads((out / "ipmix_run.json").read_text())["status"] == "interrupted"
    assert_manifest_matches_files(out)
    subprocess.run(arguments[:-2] + ["--quiet"], check=True)
    assert len(assert_manifest_matches_files(out)) == 120 * 4


def test_ctrl_c_before_the_workers_start_is_status_130_with_the_resume_line(tmp_path, mixing_dir, monkeypatch):
    """While IN is scanned or OUT's state read (a long time on a million inputs), not click's "Aborted!"/1."""
    import ipmix_cli.jobs.augment_setup as planning

    make_inputs(tmp_path / "in", 2)

    def scanning(*arguments, **keywords):
        raise KeyboardInterrupt

    monkeypatch.setattr(planning, "reader_for", scanning)
    result = CliRunner().invoke(
        main, ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--mixing-set", str(mixing_dir)]
    )
    assert result.exit_code == 130
    assert "interrupted; re-run the same command to resume into" in result.output
    assert "Aborted" not in result.output


def test_a_signal_while_the_manifest_is_written_waits_for_it_and_a_second_stops_at_once():
    from ipmix_cli.runner.schedule import Interrupted
    from ipmix_cli.runner.signals import DeferredSignals

    before = signal.getsignal(signal.SIGINT)
    with DeferredSignals() as deferred:
        os.kill(os.getpid(), signal.SIGINT)
        assert deferred.stop is not None and deferred.stop.status == 130  # held, not raised
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.slow
def test_sigint_at_any_moment_of_a_run_is_130_and_the_rerun_completes(tmp_path, mixing_dir):
    """Sent as soon as OUT is locked: while the state is read, the plan made or the first tasks run."""
    make_inputs(tmp_path / "in", 400)
    out = tmp_path / "out"
    arguments = command(tmp_path / "in", out, mixing_dir, "--seed", "4", "--k", "1", "--jobs", "2", "--quiet")
    process = subprocess.Popen(arguments, stderr=subprocess.PIPE, text=True)
    assert _wait_until(lambda: (out / ".ipmix.lock").exists() or process.poll() is not None, 60)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1]
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, stderr
    assert "re-run the same command to resume" in stderr
    no_traceback(stderr)
    assert "Aborted" not in stderr
    assert run(tmp_path / "in", out, "--seed", "4", "--k", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    assert_manifest_matches_files(out)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stream:
                    if int(stream.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "parent killed"])
def test_workers_exit_within_seconds_when_the_run_is_stopped(tmp_path, mixing_dir, how):
    make_inputs(tmp_path / "in", 400)
    process = subprocess.Popen(
        command(tmp_path / "in", tmp_path / "out", mixing_dir, "--jobs", "2", "--print", "paths"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.readline()  # the workers are running
    workers = _children(process.pid)
    assert workers
    process.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    code = process.wait(timeout=60)
    stderr = process.stderr.read()
    process.stdout.close()
    process.stderr.close()
    if how == "sigterm":
        assert code == 143, stderr
        assert "re-run the same command to resume" in stderr
        no_traceback(stderr)
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 15), "workers outlived their run"


# --- 9. names that break line-based files ------------------------------------------------------------------------


def test_names_with_line_breaks_survive_shards_and_merge(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 4)
    for index, name in enumerate(
        ("new\nline.png", "carriage\rreturn.png", "line\u2028separator.png", "next\u0085line.png")
    ):
        Image.fromarray(photo_like(20, 24, seed=40 + index)).save(tmp_path / "in" / "cats" / name)
    single = tmp_path / "single"
    assert run(tmp_path / "in", single, "--seed", "9", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    sharded = tmp_path / "sharded"
    for index in range(3):
        result = run(
            tmp_path / "in", sharded, "--seed", "9", "--shard", f"{index}/3", "--mixing-set", mixing_dir, "--quiet"
        )
        assert result.exit_code == 0, result.output
    merged = CliRunner().invoke(main, ["merge", str(sharded)])
    assert merged.exit_code == 0, merged.output
    assert folder_bytes(sharded) == folder_bytes(single)
    assert len(manifest(single)) == 8 * 4


def test_a_name_with_line_breaks_cannot_forge_lines_of_a_message(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 2)
    forged = "x\ncats\u2215img9.png: this line was forged\u2028.png"
    (tmp_path / "in" / "cats" / forged).write_bytes(b"")  # an empty file: one failure
    result = run(tmp_path / "in", tmp_path / "out", "--mixing-set", mixing_dir, "--quiet")
    assert result.exit_code == 1
    failure_lines = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert len(failure_lines) == 1, result.output
    assert "x\\ncats" in failure_lines[0] and "\\u2028" in failure_lines[0]


@pytest.mark.slow
def test_print_into_a_full_device_stops_the_run_with_one_line_and_a_true_manifest(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 6)
    out = tmp_path / "out"
    with open("/dev/full", "w") as full:
        stopped = subprocess.run(
            command(tmp_path / "in", out, mixing_dir, "--seed", "1", "--jobs", "1", "--print", "paths"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
        )
    assert stopped.returncode == 1
    assert "standard output cannot be written" in stopped.stderr and "re-run the same command" in stopped.stderr
    no_traceback(stopped.stderr)
    assert json.loads((out / "ipmix_run.json").read_text())["status"] == "stopped"
    assert_manifest_matches_files(out)
    assert run(tmp_path / "in", out, "--seed", "1", "--mixing-set", mixing_dir, "--quiet").exit_code == 0
    assert len(assert_manifest_matches_files(out)) == 6 * 4


@pytest.mark.slow
@pytest.mark.parametrize("closed", ["2>&-", "2>/dev/full", ">&-"])
def test_a_closed_standard_stream_neither_crashes_workers_nor_gets_ipmix_output_elsewhere(tmp_path, mixing_dir, closed):
    """``2>&-``: the run completes with nothing on stdout (workers got a /dev/null stderr); ``2>/dev/full`` (a
    log on a full disk): messages are lost but the status is the run's; ``>&-`` with ``--print``: a usage
    error, as there is nowhere to print."""
    import shlex

    make_inputs(tmp_path / "in", 4)
    out = tmp_path / "out"
    printing = ["--print", "paths"] if closed == ">&-" else []
    arguments = command(tmp_path / "in", out, mixing_dir, "--seed", "1", "--jobs", "2", *printing)
    capture = tmp_path / "captured.txt"
    redirect = f"2>{shlex.quote(str(capture))}" if closed == ">&-" else f">{shlex.quote(str(capture))}"
    completed = subprocess.run(["bash", "-c", f"{shlex.join(arguments)} {closed} {redirect}"])
    if closed.startswith("2>"):
        assert completed.returncode == 0
        assert capture.read_text() == ""  # stdout: nothing, not the progress line
        assert len(assert_manifest_matches_files(out)) == 4 * 4
    else:
        assert completed.returncode == 2
        assert "standard output is closed" in capture.read_text()


def test_a_fifo_planted_as_a_journal_is_refused_not_waited_on(tmp_path):
    """Opening a FIFO for writing waits for a reader: a journal name holding one must fail at once."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / ".ipmix-journal.jsonl")
    code = (
        "from ipmix_cli.disk.folder import SafeFolder\n"
        "try:\n"
        f"    SafeFolder({str(out)!r}).append_text('.ipmix-journal.jsonl', '{{}}\\n')\n"
        "except OSError as error:\n"
        "    print('refused', error)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert shown.startswith("refused") and f"{out}/.ipmix-journal.jsonl is not a regular file" in shown


@pytest.mark.slow
def test_too_few_file_descriptors_for_the_workers_is_one_line_and_loses_nothing(tmp_path, mixing_dir):
    """Under ``ulimit -n`` too low for loky's pipes and semaphores (wherever in starting the pool it runs
    out, even where loky's own error handling then fails), the run ends with one line naming the limit, never a
    traceback; a run under a normal limit then completes the same OUT, which verifies."""
    import resource

    make_inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    arguments = command(tmp_path / "in", out, mixing_dir, "--seed", "0", "--jobs", "2", "--quiet")
    said = set()
    for limit in range(12, 22):

        def lower(limit=limit):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        result = subprocess.run(arguments, capture_output=True, text=True, preexec_fn=lower)
        assert "Traceback" not in result.stderr, (limit, result.stderr)
        assert result.returncode in (0, 1, 2), (limit, result.stderr)
        if result.returncode == 2:
            assert "ulimit -n" in result.stderr, result.stderr
        said.add(result.returncode)
    assert 2 in said  # the lowest limits were too low: the case was reached
    run_ok(arguments)
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


def test_python_m_exits_130_when_a_ctrl_c_was_caught_inside_a_string_exec(tmp_path):
    """A Ctrl-C landing in a string ``exec`` (a dataclass made during an import) set CPython's "unhandled
    KeyboardInterrupt" flag: ``python -m ipmix_cli`` then died by SIGINT (-2) after printing its message."""
    (tmp_path / "probe.py").write_text(
        "import sys\n"
        "import ipmix_cli.__main__ as entry\n"
        "def interrupted():\n"
        "    try:\n"
        "        exec('raise KeyboardInterrupt')\n"
        "    except KeyboardInterrupt:\n"
        "        sys.exit(130)\n"
        "entry.main = interrupted\n"
        "entry._run()\n"
    )
    completed = subprocess.run([sys.executable, "-m", "probe"], cwd=tmp_path, capture_output=True, text=True)
    assert completed.returncode == 130, completed.stderr


def test_a_ctrl_c_while_workers_are_spawned_is_raised_once_they_are(tmp_path):
    """Held, not raised inside the block: a worker would wait for data loky had not sent and print a traceback."""
    import _thread

    from ipmix_cli.runner.backends import sigint_blocked

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with sigint_blocked():
            _thread.interrupt_main(signal.SIGINT)  # as the C handler does: Python's handler runs at its next check
            sum(range(10_000))
            reached.append("the end of the block")
    assert reached == ["the end of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
