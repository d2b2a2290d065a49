"""What the job engine itself costs as a run grows (issue 20): the driver's memory per input, a re-run with
nothing to do, and the per-input overhead on tiny inputs.

For each size N (default 10,000, 40,000 and 100,000 inputs of 8×8 pixels in 100 class folders, K = 1,
``--format png``), in a fresh process each:

- a first run (``--jobs 2``, loky): wall time, and the driver's own peak resident memory (``ru_maxrss`` of the
  process that runs ``ipmix``'s ``main``; the workers are other processes);
- a re-run of the same command: wall time (nothing to do), and its driver's peak.

It prints the driver's memory per input as the slope between the smallest and the largest N (what a run of
1.28 million inputs would add, extrapolated), the nothing-to-do time and the first run's time per input.
Inputs and outputs go under ``--work`` (default: a folder in /dev/shm, so that the file system's own costs on
ext4 after mass deletions do not blur the figures).

    python benchmarks/bench_ledger.py [--sizes 10000,40000,100000] [--work /dev/shm]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUN = """
import resource, sys, time
from ipmix_cli.cli.main import main
started = time.perf_counter()
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
seconds = time.perf_counter() - started
print("RESULT", seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, file=sys.stderr)
"""


def make_inputs(root: Path, count: int) -> None:
    """``count`` 8×8 PNGs (the same small bytes: the engine does not care) in 100 class folders."""
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    for folder in range(100):
        (root / f"c{folder:03d}").mkdir(parents=True)
    for index in range(count):
        (root / f"c{index % 100:03d}" / f"i{index:07d}.png").write_bytes(data)


def run(arguments: list[str], environment: dict) -> tuple[float, int]:
    completed = subprocess.run([sys.executable, "-c", RUN, *arguments], capture_output=True, text=True, env=environment)
    line = next((line for line in completed.stderr.splitlines() if line.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"the run failed:\n{completed.stderr[-2000:]}")
    _, seconds, peak = line.split()
    return float(seconds), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,40000,100000")
    parser.add_argument("--work", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-ledger-", dir=arguments.work))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    environment["XDG_CACHE_HOME"] = str(work / "cache")
    results = []
    try:
        for size in sizes:
            inputs, out = work / f"in-{size}", work / f"out-{size}"
            make_inputs(inputs, size)
            command = ["augment", str(inputs), str(out), "--k", "1", "--seed", "0", "--format", "png"]
            command += ["--jobs", "2", "--quiet"]
            first, first_peak = run(command, environment)
            again, again_peak = run(command, environment)
            records = len((out / "metadata.jsonl").read_text().splitlines())
            assert records == size, (records, size)
            results.append(
                {"inputs": size, "first_s": first, "first_peak": first_peak, "again_s": again, "again_peak": again_peak}
            )
            print(
                f"{size:>7} inputs: first run {first:7.2f} s ({1000 * first / size:.3f} ms an input), driver peak "
                f"{first_peak / 2**20:7.1f} MB; nothing to do {again:6.2f} s, driver peak {again_peak / 2**20:7.1f} MB",
                flush=True,
            )
            shutil.rmtree(inputs)
            shutil.rmtree(out)
        low, high = results[0], results[-1]
        span = high["inputs"] - low["inputs"]
        if span > 0:
            for key, what in (("first_peak", "first run"), ("again_peak", "nothing-to-do run")):
                slope = (high[key] - low[key]) / span
                print(
                    f"driver memory per input ({what}), {low['inputs']}→{high['inputs']}: {slope:.0f} bytes; "
                    f"at 1.28 M inputs: +{slope * 1.28e6 / 2**20:.0f} MB over {low[key] / 2**20:.0f} MB"
                )
        print(json.dumps(results))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
