"""Scaling out (issue: dask, ray, shards): identical results on a real cluster, after a worker dies,
and from shards merged into one run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import folder_bytes, ipmix_command, make_inputs, run_ok
from ipmix_cli.cli.main import main


def command(root: Path, out: Path, mixing: Path, *extra: str) -> list[str]:
    return ipmix_command(root, out, mixing, "--k", "2", "--seed", "8", *extra)


@pytest.fixture
def reference(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 120, labels=("a", "b", "c"))
    out = tmp_path / "reference"
    run_ok(command(tmp_path / "in", out, mixing_dir, "--backend", "loky", "--jobs", "2", "--quiet"))
    return tmp_path / "in", out


@pytest.mark.slow
def test_dask_cluster_gives_the_loky_result(tmp_path, mixing_dir, dask_cluster, reference):
    cluster, _ = dask_cluster
    inputs, expected = reference
    out = tmp_path / "dask"
    run_ok(command(inputs, out, mixing_dir, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--quiet"))
    assert folder_bytes(out) == folder_bytes(expected)
    record = json.loads((out / "ipmix_run.json").read_text())
    assert record["timings"]["backend"] == "dask"


@pytest.mark.slow
def test_a_killed_dask_worker_changes_nothing(tmp_path, mixing_dir, dask_cluster, reference):
    cluster, client = dask_cluster
    inputs, expected = reference
    out = tmp_path / "dask"
    arguments = command(
        inputs,
        out,
        mixing_dir,
        "--backend",
        "dask",
        "--scheduler",
        cluster.scheduler_address,
        "--print",
        "paths",
        "--quiet",
    )
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = next(iter(client.run(os.getpid).values()))
    killed = False
    for count, _ in enumerate(process.stdout, 1):
        if count == 40 and not killed:
            os.kill(victim, signal.SIGKILL)  # the nanny restarts it; the scheduler reschedules its tasks
            killed = True
    process.wait()
    process.stdout.close()
    process.stderr.close()
    assert killed
    if process.returncode != 0:  # the run may give up on the lost tasks; a re-run must then finish it
        run_ok(
            command(inputs, out, mixing_dir, "--backend", "dask", "--scheduler", cluster.scheduler_address, "--quiet")
        )
    assert folder_bytes(out) == folder_bytes(expected)


@pytest.mark.slow
def test_ray_gives_the_loky_result(tmp_path, mixing_dir, reference):
    pytest.importorskip("ray")
    inputs, expected = reference
    out = tmp_path / "ray"
    run_ok(command(inputs, out, mixing_dir, "--backend", "ray", "--jobs", "2", "--quiet"))
    assert folder_bytes(out) == folder_bytes(expected)


@pytest.mark.slow
def test_threading_backend_gives_the_loky_result(tmp_path, mixing_dir, reference):
    inputs, expected = reference
    out = tmp_path / "threads"
    run_ok(command(inputs, out, mixing_dir, "--backend", "threading", "--jobs", "2", "--quiet"))
    assert folder_bytes(out) == folder_bytes(expected)


@pytest.mark.slow
def test_shards_in_any_order_one_interrupted_then_merged_equal_a_single_run(tmp_path, mixing_dir, reference):
    inputs, expected = reference
    out = tmp_path / "sharded"
    run_ok(command(inputs, out, mixing_dir, "--shard", "2/3", "--jobs", "1", "--quiet"))
    killed = subprocess.run(
        command(inputs, out, mixing_dir, "--shard", "0/3", "--jobs", "1", "--quiet"),
        env={**os.environ, "IPMIX_KILL_AFTER_WRITES": "25"},
        capture_output=True,
    )
    assert killed.returncode == -signal.SIGKILL

    incomplete = subprocess.run([sys.executable, "-m", "ipmix_cli", "merge", str(out)], capture_output=True, text=True)
    assert incomplete.returncode == 1
    assert "shard 1/3 has not been run: run it (the same command with --shard 1/3)" in incomplete.stderr
    assert "shard 0/3 has not finished" in incomplete.stderr
    assert not (out / "metadata.jsonl").exists()

    run_ok(command(inputs, out, mixing_dir, "--shard", "1/3", "--jobs", "2", "--quiet"))
    resumed = run_ok(command(inputs, out, mixing_dir, "--shard", "0/3", "--jobs", "2"))
    assert "already done" in resumed.stderr
    run_ok([sys.executable, "-m", "ipmix_cli", "merge", str(out)])
    assert folder_bytes(out) == folder_bytes(expected)
    merged = json.loads((out / "ipmix_run.json").read_text())
    single = json.loads((expected / "ipmix_run.json").read_text())
    assert merged["identity"] == single["identity"]
    assert merged["counts"]["inputs"] == single["counts"]["inputs"] == 120
    assert merged["status"] == "complete" and merged["merged_from"] == 3


@pytest.mark.slow
def test_merge_names_missing_and_corrupt_files(tmp_path, mixing_dir):
    make_inputs(tmp_path / "in", 12)
    out = tmp_path / "sharded"
    for index in range(2):
        run_ok(command(tmp_path / "in", out, mixing_dir, "--shard", f"{index}/2", "--jobs", "1", "--quiet"))
    records = [json.loads(line) for line in (out / "metadata.shard-0-of-2.jsonl").read_text().splitlines()]
    (out / records[0]["file_name"]).unlink()
    (out / records[1]["file_name"]).write_bytes(b"tampered")
    result = CliRunner().invoke(main, ["merge", str(out)])
    assert result.exit_code == 1
    for record in records[:2]:
        assert f"shard 0/2: {record['file_name']} is missing or does not match its recorded sha256" in result.stderr
    assert "re-run shard 0/2 (the same command with --shard 0/2); it will redo the 2 damaged or missing files" in (
        result.stderr
    )
    assert not (out / "metadata.jsonl").exists()
    # the remedy works: the shard re-run redoes exactly those two outputs, then the merge succeeds
    rerun = run_ok(command(tmp_path / "in", out, mixing_dir, "--shard", "0/2", "--jobs", "1"))
    assert "already done" in rerun.stderr
    merged = CliRunner().invoke(main, ["merge", str(out)])
    assert merged.exit_code == 0, merged.output
    for record in records[:2]:
        assert hashlib.sha256((out / record["file_name"]).read_bytes()).hexdigest() == record["sha256"]


def test_shards_split_the_inputs_by_path_digest():
    from ipmix_cli.inputs import InputsBuilder
    from ipmix_cli.runner.engine import shard_of
    from ipmix_cli.runner.plan import selected_numbers
    from ipmix_cli.seeding import path_digest

    sources = sorted(f"class{i % 3}/img{i:04d}.png" for i in range(300))
    builder = InputsBuilder()
    for source in sources:
        builder.add(source)
    inputs = builder.build()
    parts = [[inputs.key(n) for n in selected_numbers(inputs, (index, 4), shard_of)] for index in range(4)]
    assert sorted(s for part in parts for s in part) == sorted(sources)
    assert all(40 < len(part) < 110 for part in parts)
    assert all(shard_of(s, 4) == path_digest(s) % 4 for s in sources)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--shard", "3/3", "--seed", "1"], "need 0 <= I < N"),
        (["--shard", "x", "--seed", "1"], "is not I/N"),
        (["--shard", "0/2"], "--shard needs an explicit --seed"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler applies to --backend dask"),
        (["--backend", "spark"], "Invalid value for '--backend'"),
    ],
)
def test_backend_and_shard_usage_errors(tmp_path, mixing_dir, arguments, message):
    make_inputs(tmp_path / "in", 2)
    result = CliRunner().invoke(
        main, ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--mixing-set", str(mixing_dir), *arguments]
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "backend, module, extra", [("dask", "distributed", "ipmix[dask]"), ("ray", "ray", "ipmix[ray]")]
)
def test_a_backend_that_is_not_installed_names_its_extra(tmp_path, mixing_dir, monkeypatch, backend, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail as if it were not installed
    make_inputs(tmp_path / "in", 2)
    result = CliRunner().invoke(
        main,
        ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--backend", backend, "--mixing-set", str(mixing_dir)],
    )
    assert result.exit_code == 2
    assert extra in result.output
    assert not (tmp_path / "out").exists()


def test_a_run_refused_before_it_holds_out_never_starts_workers(tmp_path, mixing_dir, monkeypatch):
    """Workers get ready (``pool.warm``) only once the run holds OUT: an early refusal (another run holds it)
    has nothing to wait for."""
    from ipmix_cli.disk.folder import SafeFolder
    from ipmix_cli.disk.lock import hold_folder
    from ipmix_cli.runner.backends import LokyPool

    warmed = []
    monkeypatch.setattr(LokyPool, "warm", lambda pool, function, *args: warmed.append(function))
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    arguments = ["augment", str(tmp_path / "in"), str(out), "--mixing-set", str(mixing_dir), "--jobs", "2"]
    with hold_folder(SafeFolder(out)):
        refused = CliRunner().invoke(main, arguments)
    assert refused.exit_code != 0 and warmed == []
    assert CliRunner().invoke(main, arguments).exit_code == 0 and len(warmed) == 1


def test_closing_after_ctrl_c_interrupted_lokys_start_does_not_hide_it(monkeypatch):
    """Ctrl-C during the warm-up can interrupt loky's manager thread in ``start``: ``shutdown`` then raises
    "cannot join thread before it is started" (seen once in CI as a traceback and exit 1 instead of 130).
    Closing waits for the thread to start and shuts down again."""
    import threading
    from types import SimpleNamespace

    from ipmix_cli.runner.backends import LokyPool

    class InterruptedStart:
        def __init__(self):
            self._executor_manager_thread = SimpleNamespace(_started=threading.Event())
            self.calls = []

        def shutdown(self, wait=True, kill_workers=False):
            self.calls.append((wait, kill_workers))
            if len(self.calls) == 1:
                self._executor_manager_thread._started.set()  # the thread gets going meanwhile
                raise RuntimeError("cannot join thread before it is started")

    pool = LokyPool(2)
    pool._made = executor = InterruptedStart()
    pool.close(abort=True)
    assert executor.calls == [(True, False), (True, False)]


@pytest.mark.slow
def test_ctrl_c_during_the_warm_up_is_an_interruption(tmp_path, mixing_dir, monkeypatch):
    from ipmix_cli.runner.backends import LokyPool

    real_warm = LokyPool.warm

    def interrupted_warm(pool, function, *args):
        real_warm(pool, function, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(LokyPool, "warm", interrupted_warm)
    make_inputs(tmp_path / "in", 2)
    arguments = ["augment", str(tmp_path / "in"), str(tmp_path / "out"), "--mixing-set", str(mixing_dir)]
    result = CliRunner().invoke(main, arguments + ["--jobs", "2"])
    assert result.exit_code == 130, result.output
    assert "re-run the same command to resume" in result.output and "Traceback" not in result.output
    monkeypatch.undo()
    assert CliRunner().invoke(main, arguments + ["--jobs", "2"]).exit_code == 0
