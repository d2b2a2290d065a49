"""A newcomer's first run: `ipmix augment samples/ out/ --k 4 --seed 0` with the default options against
the same with `--jobs 1`, as real subprocesses (start-up and imports count), alternating the order in each
repeat. Issue 22: the 9-sample run with default options must be no slower than one process; a run of at most
16 inputs without `--jobs` runs in the driver instead of starting a pool (``runner.backends``).

Also reports what importing the command costs, and that the modules only a run needs (joblib, loky, tqdm,
asyncio, numba) are not among those `ipmix --help` imports.

    python benchmarks/bench_small_run.py [--repeat 9] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT  # noqa: E402

LAZY = ("joblib", "loky", "tqdm", "asyncio", "numba")


def timed_run(out: Path, extra: list[str], env: dict) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "ipmix", "augment", str(ROOT / "samples"), str(out), "--k", "4", "--seed", "0"]
    started = time.perf_counter()
    subprocess.run([*command, "--quiet", *extra], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--out", type=Path, default=None, help="where the outputs go (default: a temporary folder)")
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    work = Path(tempfile.mkdtemp(dir=args.out))
    try:
        out = work / "out"
        timed_run(out, [], env)  # the built-in mixing set and numba's cache, made once before measuring
        timed_run(out, ["--jobs", "1"], env)
        default, single = [], []
        for repeat in range(args.repeat):
            order = [(default, []), (single, ["--jobs", "1"])]
            for times, extra in order if repeat % 2 == 0 else reversed(order):
                times.append(timed_run(out, extra, env))
        check = "import sys, ipmix_cli.cli.main; print(','.join(m for m in %r if m in sys.modules))" % (LAZY,)
        imports = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            loaded = subprocess.run([sys.executable, "-c", check], check=True, env=env, capture_output=True, text=True)
            imports.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"9 samples, --k 4, {args.repeat} repeats, median wall time of the whole process")
    print(f"  default options   {statistics.median(default):6.3f} s   (runs {', '.join(f'{t:.2f}' for t in default)})")
    print(f"  --jobs 1          {statistics.median(single):6.3f} s   (runs {', '.join(f'{t:.2f}' for t in single)})")
    print(f"  default / --jobs 1: {statistics.median(default) / statistics.median(single):.3f}")
    print(
        f"import ipmix_cli.cli.main in a fresh interpreter: {statistics.median(imports):.3f} s (median, with start-up)"
    )
    print(f"  modules of a run imported by it: {loaded.stdout.strip() or 'none'} (of {', '.join(LAZY)})")


if __name__ == "__main__":
    main()
