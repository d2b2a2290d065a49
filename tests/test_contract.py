"""One contract, every implementation: each job (augment, corrupt) with each writer (files, WebDataset, Parquet),
each reader (a folder, WebDataset shards, Parquet files) and each backend keeps the engine's promises.

- a bad input among good ones is that input's failure, recorded; the others are written; ``verify`` passes;
- the bytes do not depend on the backend or the number of workers;
- a run killed part-way (SIGKILL) and re-run ends with the bytes of an uninterrupted run;
- job shards (``--shard I/N``) merged give the bytes of a single run.

A new job, format or backend is proved by adding one entry below.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_inputs
from ipmix_cli.cli.main import main

JOBS = {
    "augment": ["augment", "--k", "2"],
    "corrupt": ["corrupt", "--corruptions", "fog,glass_blur,shot_noise", "--severities", "2,5"],
}
WRITERS = ["files", "webdataset", "parquet"]
OUTPUT_SUFFIXES = (".png", ".jpg", ".webp", ".tar", ".parquet")


def _arguments(job: str, root: Path, out: Path, mixing: Path, writer: str, *extra) -> list[str]:
    command, *settings = JOBS[job]
    arguments = [command, str(root), str(out), "--seed", "6", *settings, "--output-format", writer, "--quiet"]
    if writer != "files":
        arguments += ["--samples-per-shard", "6"]
    if job == "augment":
        arguments += ["--mixing-set", str(mixing)]
    return arguments + [str(e) for e in extra]


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in OUTPUT_SUFFIXES and not p.name.startswith(("metadata", "."))
    }


def _manifest(out: Path) -> bytes:
    path = out / "metadata.jsonl" if (out / "metadata.jsonl").exists() else out / ".ipmix" / "metadata.jsonl"
    return path.read_bytes()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("in")
    make_inputs(root, 7, size=(20, 18))
    (root / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return root


@pytest.fixture(scope="module")
def references(inputs, tmp_path_factory, mixing_dir) -> dict:
    """Each (job, writer) run once, uninterrupted, in-process."""
    made = {}
    for job in JOBS:
        for writer in WRITERS:
            out = tmp_path_factory.mktemp(f"{job}-{writer}") / "out"
            result = CliRunner().invoke(
                main, _arguments(job, inputs, out, mixing_dir, writer, "--jobs", "1", "--backend", "threading")
            )
            assert result.exit_code == 1, result.output  # the broken input fails alone
            made[job, writer] = out
    return made


CASES = [(job, writer) for job in JOBS for writer in WRITERS]


@pytest.mark.parametrize("job, writer", CASES)
def test_a_bad_input_fails_alone_and_the_out_verifies(references, job, writer):
    out = references[job, writer]
    record_path = out / "ipmix_run.json" if writer == "files" else out / ".ipmix" / "ipmix_run.json"
    import json

    record = json.loads(record_path.read_text())
    assert record["status"] == "complete_with_failures" and record["job"] == job
    assert [f["source"] for f in record["failures"]] == ["cats/broken.png"]
    assert record["counts"]["succeeded"] == 7
    checked = CliRunner().invoke(main, ["verify", str(out)])
    assert checked.exit_code == 0, checked.output


@pytest.mark.slow
@pytest.mark.parametrize("backend, jobs", [("loky", 2), ("threading", 2), ("dask", 2), ("ray", 2)])
@pytest.mark.parametrize("job, writer", CASES)
def test_the_bytes_do_not_depend_on_the_backend(inputs, references, tmp_path, mixing_dir, job, writer, backend, jobs):
    if backend in ("dask", "ray"):
        pytest.importorskip("distributed" if backend == "dask" else "ray")
        if (job, writer) != ("corrupt", "files") and (job, writer) != ("augment", "parquet"):
            pytest.skip("a cluster is slow to start: two combinations stand for the others")
    out = tmp_path / "out"
    extra = ["--jobs", str(jobs), "--backend", backend]
    completed = subprocess.run(
        [sys.executable, "-m", "ipmix_cli", *_arguments(job, inputs, out, mixing_dir, writer, *extra)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 1, completed.stderr
    assert _outputs(out) == _outputs(references[job, writer])
    assert _manifest(out) == _manifest(references[job, writer])


@pytest.mark.slow
@pytest.mark.parametrize("job, writer", CASES)
def test_a_run_killed_part_way_resumes_to_the_uninterrupted_bytes(
    inputs, references, tmp_path, mixing_dir, job, writer
):
    """SIGKILL to the whole run (driver and workers) while a worker waits at the test gate after 2 inputs."""
    from test_fractal_repair import _gated, _wait_for

    out = tmp_path / "out"
    command = [sys.executable, "-m", "ipmix_cli", *_arguments(job, inputs, out, mixing_dir, writer, "--jobs", "2")]
    environment, gate = _gated(tmp_path, after=2)
    process = subprocess.Popen(command, env=environment, start_new_session=True, stderr=subprocess.DEVNULL)
    _wait_for(process, Path(f"{gate}.reached"))
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert _outputs(out) != _outputs(references[job, writer])  # it stopped part-way
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 1, resumed.stderr
    assert _outputs(out) == _outputs(references[job, writer])
    assert _manifest(out) == _manifest(references[job, writer])
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


@pytest.mark.parametrize("job, writer", CASES)
def test_job_shards_merged_give_the_single_runs_bytes(inputs, references, tmp_path, mixing_dir, job, writer):
    out = tmp_path / "out"
    for index in (1, 0):
        extra = ["--jobs", "1", "--backend", "threading", "--shard", f"{index}/2"]
        result = CliRunner().invoke(main, _arguments(job, inputs, out, mixing_dir, writer, *extra))
        assert result.exit_code in (0, 1), result.output
    merged = CliRunner().invoke(main, ["merge", str(out)])
    assert merged.exit_code == 0, merged.output
    assert _outputs(out) == _outputs(references[job, writer])
    assert _manifest(out) == _manifest(references[job, writer])
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["webdataset", "parquet"])
@pytest.mark.parametrize("job", list(JOBS))
def test_every_reader_feeds_every_job(references, tmp_path, mixing_dir, job, reader):
    """The shards a run wrote are read back as inputs: every sample becomes an input, and ``verify`` passes."""
    pytest.importorskip("pyarrow")
    source = references["augment", reader]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, _arguments(job, source, out, mixing_dir, "files", "--jobs", "1"))
    assert result.exit_code == 0, result.output
    import json

    count = len((out / "metadata.jsonl").read_text().splitlines())
    per_input = 2 if job == "augment" else 6
    assert count == 7 * 2 * per_input  # 7 inputs × 2 copies in the shards, each made into per_input outputs
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0
    assert json.loads((out / "ipmix_run.json").read_text())["identity"]["input"]["format"] == reader
