"""`ipmix augment` end to end, against the I/O floor of the same work, in one run.

Makes a folder of 224×224 JPEG inputs from the samples (random crops, scales and flips), then measures
side by side, alternating the order in each repeat:

- `ipmix augment --k 4 --format jpeg --quality 95` against the floor for JPEG: a process that decodes
  every input once and encodes and writes K copies with the same codec, settings and number of jobs (with
  2 jobs, and with 1, where the augmentation's own cost shows most: issue 24's target);
- the same with the default PNG output;
- `--jobs 2` against `--jobs 1` (PNG);
- `--backend dask` on a local cluster of two workers (started by ipmix) against `--backend loky` with 2 jobs;
- the peak resident memory of the whole process tree (parent and workers) at 2,000 and 10,000 inputs;
- the shard formats: `--output-format webdataset` and `parquet` with JPEG q95 copies, against `files` with
  the same codec and against the shards' I/O floor (decode each input once, encode K copies, append the
  bytes to one file per shard), all with 2 jobs; and their peak tree memory at 2,000 and 10,000 inputs.

The `mixed` case (issue 14, "memory on real photos") makes JPEG photographs of mixed sizes instead, each
side drawn from 200–600 px (crops of the samples, scaled), and runs `ipmix augment --k 4 --jobs 2` with the
default `--format auto` (JPEG q95 copies) at `--inputs` and at `--large` inputs: inputs per second and the
peak resident memory of the whole process tree. With `--against CHECKOUT` (a source tree of another ipmix
version, e.g. `git worktree add /tmp/main main`), the same runs are made with that version's code
(`PYTHONPATH=CHECKOUT`), alternating the order in each repeat, and reported side by side. Each version gets
its own built-in mixing set cache, built before the measurements.

With `--against`, the 224×224 cases that the other version can run (JPEG and PNG with 2 jobs, PNG with 1
job, dask) are also made with its code, in the same repeats, and their ratios printed.

Everything runs as a real subprocess, so start-up costs count on both sides. The subprocesses run as an
installed ipmix does: with ``PYTHONDONTWRITEBYTECODE`` removed from their environment, so that modules are
compiled once (pip compiles them at install time) rather than by every process of every run (this writes
``__pycache__`` folders into this checkout and the ``--against`` one). ``--out DIR``
puts the outputs elsewhere than the work folder: on ext4 without a journal, creating files right after a
previous run's outputs were removed scans the recently deleted inodes (up to 30 % of the CPU time of a run on
our test machine, varying from run to run); a tmpfs such as ``/dev/shm`` keeps that out of the figures.

    python benchmarks/bench_augment.py [--inputs 2000] [--large 10000] [--repeat 3] [--only uniform|mixed]
                                       [--against CHECKOUT] [--out DIR]
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

from common import ROOT, PeakTreeMemory  # noqa: E402

K = 4
TARGETS = {
    "jpeg": 5.0,
    "jpeg_one_job": 2.5,
    "png": 1.4,
    "jobs": 1.7,
    "memory_mb": 400,
    "memory_growth": 0.10,
    "dask": 1.25,
}


def make_inputs(folder: Path, count: int) -> None:
    """``count`` 224×224 JPEGs (quality 90) cut from the sample photos, in the samples' class folders."""
    import numpy as np
    from PIL import Image

    from ipmix_cli.seeding import generator_for_index

    photos = sorted((ROOT / "samples").rglob("*.jpg"))
    opened = [(p.parent.name, p.stem, Image.open(p).convert("RGB")) for p in photos]
    for index in range(count):
        label, stem, image = opened[index % len(opened)]
        rng = generator_for_index(0, index)
        side = int(min(image.size) * rng.uniform(0.45, 1.0))
        left = int(rng.integers(0, image.width - side + 1))
        top = int(rng.integers(0, image.height - side + 1))
        tile = image.crop((left, top, left + side, top + side)).resize((224, 224), Image.Resampling.BICUBIC)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        target = folder / label
        target.mkdir(parents=True, exist_ok=True)
        tile.save(target / f"{stem}_{index:05d}.jpg", quality=90)
    del np


def floor(root: str, out: str, output_format: str, jobs: int) -> None:
    """The I/O floor: decode each input once, encode and write K copies (no augmentation)."""
    from joblib import Parallel, delayed
    from PIL import Image

    from ipmix_cli.imaging.images import Encoder
    from ipmix_cli.readers.folder import discover

    found = discover(Path(root)).inputs
    sources = [found.key(index) for index in range(len(found))]
    encoder = Encoder(output_format, 95)

    def batch(chunk):
        for source in chunk:
            with Image.open(Path(root) / source) as image:
                pixels = __import__("numpy").array(image.convert("RGB"))
            target = Path(out) / source
            target.parent.mkdir(parents=True, exist_ok=True)
            for copy in range(K):
                target.with_name(f"{target.stem}_copy{copy}{encoder.extension}").write_bytes(encoder.encode(pixels))

    size = 16
    Parallel(n_jobs=jobs)(delayed(batch)(sources[i : i + size]) for i in range(0, len(sources), size))


# --- shard formats ------------------------------------------------------------------------------------------

SHARD_FORMATS = ("webdataset", "parquet")
SHARD_TARGETS = {"vs_files": 0.90, "vs_floor": 5.0}
SAMPLES_PER_SHARD = 1000  # ipmix's default


def shard_floor(root: str, out: str, jobs: int) -> None:
    """The shards' I/O floor: decode each input once, encode K JPEG q95 copies and append their bytes to one
    file per shard (inputs in key order, in runs of SAMPLES_PER_SHARD // K, as ipmix assigns them)."""
    import numpy as np
    from joblib import Parallel, delayed
    from PIL import Image

    from ipmix_cli.imaging.images import Encoder
    from ipmix_cli.readers.folder import discover

    found = discover(Path(root)).inputs
    sources = [found.key(index) for index in range(len(found))]
    per_shard = SAMPLES_PER_SHARD // K
    encoder = Encoder("jpeg", 95)
    Path(out).mkdir(parents=True, exist_ok=True)

    def shard(number: int, chunk: list[str]) -> None:
        with open(Path(out) / f"{number:05d}.bin", "wb") as stream:
            for source in chunk:
                with Image.open(Path(root) / source) as image:
                    pixels = np.array(image.convert("RGB"))
                for _ in range(K):
                    stream.write(encoder.encode(pixels))

    chunks = [sources[i : i + per_shard] for i in range(0, len(sources), per_shard)]
    Parallel(n_jobs=jobs)(delayed(shard)(number, chunk) for number, chunk in enumerate(chunks))


def shard_cases(root: Path, out: Path) -> dict[str, list[str]]:
    """The shard formats' cases, measured in the same rounds as the others (2 jobs, JPEG q95)."""
    cases = {"floor shards jpeg (2 jobs)": [sys.executable, __file__, "--shard-floor", str(root), str(out), "2"]}
    for output_format in SHARD_FORMATS:
        cases[f"ipmix {output_format} jpeg (2 jobs)"] = shard_command(root, out, output_format, 2)
    return cases


def shard_command(root: Path, out: Path, output_format: str, jobs: int) -> list[str]:
    return ipmix_command(root, out, "jpeg", jobs) + ["--output-format", output_format]


def report_shards(median: dict[str, float], peaks: dict[str, list[int]]) -> None:
    files = median["ipmix jpeg (2 jobs)"]
    floor_seconds = median["floor shards jpeg (2 jobs)"]
    for output_format in SHARD_FORMATS:
        seconds = median[f"ipmix {output_format} jpeg (2 jobs)"]
        print(
            f"  {output_format}: {1 - seconds / files:+.1%} faster than files (target >= "
            f"{1 - SHARD_TARGETS['vs_files']:.0%}), {seconds / floor_seconds:.2f}x the shard floor "
            f"(target <= {SHARD_TARGETS['vs_floor']}), peak tree memory "
            f"{statistics.median(peaks[output_format]) / 2**20:.0f} MB"
        )


def report_shard_memory(large: Path, out: Path, count: int, peaks: dict[str, list[int]], env: dict) -> None:
    """Peak tree memory of each shard format at ``count`` inputs against the smaller run's."""
    for output_format in SHARD_FORMATS:
        shutil.rmtree(out, ignore_errors=True)
        _, peak = timed(shard_command(large, out, output_format, 2), env, large.parent)
        small = statistics.median(peaks[output_format])
        print(
            f"  peak tree memory, {count} inputs ({output_format}, jpeg, 2 jobs): {peak / 2**20:.0f} MB "
            f"({peak / small - 1:+.1%}; target <= {TARGETS['memory_mb']} MB and within "
            f"{TARGETS['memory_growth']:.0%})"
        )


# --- mixed-size photographs ----------------------------------------------------------------------------------

MIXED_TARGETS = {"memory_mb": 400, "memory_growth": 0.10, "throughput": -0.05}
MIXED_SIDES = (200, 600)


def make_mixed_inputs(folder: Path, count: int) -> None:
    """``count`` JPEG photographs (quality 90) whose width and height are each drawn from 200–600 px: a crop
    of a sample photo with that aspect ratio (45–100 % of the largest such crop), scaled, sometimes mirrored."""
    from PIL import Image

    from ipmix_cli.seeding import generator_for_index

    photos = sorted((ROOT / "samples").rglob("*.jpg"))
    opened = [(p.parent.name, p.stem, Image.open(p).convert("RGB")) for p in photos]
    for index in range(count):
        label, stem, image = opened[index % len(opened)]
        rng = generator_for_index(1, index)
        width, height = (int(side) for side in rng.integers(MIXED_SIDES[0], MIXED_SIDES[1] + 1, 2))
        fit = min(image.width / width, image.height / height) * rng.uniform(0.45, 1.0)
        crop_width, crop_height = max(1, round(width * fit)), max(1, round(height * fit))
        left = int(rng.integers(0, image.width - crop_width + 1))
        top = int(rng.integers(0, image.height - crop_height + 1))
        box = (left, top, left + crop_width, top + crop_height)
        tile = image.resize((width, height), Image.Resampling.BICUBIC, box=box)
        if rng.random() < 0.5:
            tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        target = folder / label
        target.mkdir(parents=True, exist_ok=True)
        tile.save(target / f"{stem}_{index:05d}.jpg", quality=90)


def mixed_command(root: Path, out: Path) -> list[str]:
    arguments = ["augment", str(root), str(out), "--k", str(K), "--seed", "0", "--jobs", "2", "--quiet"]
    return [sys.executable, "-m", "ipmix_cli", *arguments]


def version_environments(work: Path, against: Path | None) -> dict[str, dict]:
    """The environment each version runs in (from ``work``, so that no checkout is the current folder): its
    code first on ``PYTHONPATH`` (this script's checkout, or ``against``) and its own built-in set cache."""
    versions = {"this": ROOT, "against": against} if against else {"this": ROOT}
    environments = {}
    for name, checkout in versions.items():
        env = installed_environment(XDG_CACHE_HOME=str(work / f"cache-{name}"))
        env["PYTHONPATH"] = os.pathsep.join([str(Path(checkout).resolve()), *filter(None, [env.get("PYTHONPATH")])])
        probe = "import ipmix_cli; print(ipmix_cli.__file__, ipmix_cli.__version__)"
        where = subprocess.run(
            [sys.executable, "-c", probe], env=env, cwd=work, check=True, capture_output=True, text=True
        )
        print(f"  {name}: {where.stdout.strip()}")
        subprocess.run([sys.executable, "-c", BUILD_BUILTIN], env=env, cwd=work, check=True)
        environments[name] = env
    return environments


#: Builds the built-in mixing set (outside the measurements: a one-off per user) in this or an older layout.
BUILD_BUILTIN = """
try:
    from ipmix_cli.jobs.builtin_set import ensure_builtin
except ImportError:  # ipmix 0.1.0
    from ipmix_cli.builtin import ensure_builtin
ensure_builtin(False)
"""


def installed_environment(**extra: str) -> dict:
    """This process's environment as an installed ipmix runs in: bytecode cached (see the module docstring)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def run_mixed(work: Path, inputs: int, large: int, repeat: int, against: Path | None, out: Path) -> None:
    """The mixed-size photo case: inputs/s and peak tree memory per version, at ``inputs`` and ``large``."""
    print(f"mixed-size photographs ({MIXED_SIDES[0]}-{MIXED_SIDES[1]} px a side), K={K}, 2 jobs, --format auto:")
    environments = version_environments(work, against)
    make_mixed_inputs(work / "mixed", inputs)
    seconds: dict[str, list[float]] = {name: [] for name in environments}
    peaks: dict[str, list[int]] = {name: [] for name in environments}
    for round_number in range(repeat):
        order = list(environments) if round_number % 2 == 0 else list(reversed(environments))
        for name in order:
            shutil.rmtree(out / "o", ignore_errors=True)
            elapsed, peak = timed(mixed_command(work / "mixed", out / "o"), environments[name], work)
            seconds[name].append(elapsed)
            peaks[name].append(peak)
    large_peaks: dict[str, int] = {}
    large_seconds: dict[str, float] = {}
    if large:
        make_mixed_inputs(work / "mixed-large", large)
        for name in environments:
            shutil.rmtree(out / "o", ignore_errors=True)
            large_seconds[name], large_peaks[name] = timed(
                mixed_command(work / "mixed-large", out / "o"), environments[name], work
            )
    shutil.rmtree(out / "o", ignore_errors=True)
    print(f"  {'version':<8} {'inputs/s':>9} {'peak MB':>8}   (median of {repeat} at {inputs} inputs)", end="")
    print(f"   {'inputs/s':>9} {'peak MB':>8}   (one run at {large} inputs)" if large else "")
    for name in environments:
        rate = inputs / statistics.median(seconds[name])
        line = f"  {name:<8} {rate:9.1f} {statistics.median(peaks[name]) / 2**20:8.0f}"
        if large:
            line += f"   {' ' * 36}{large / large_seconds[name]:9.1f} {large_peaks[name] / 2**20:8.0f}"
        print(line)
    this_rate = inputs / statistics.median(seconds["this"])
    this_peak = statistics.median(peaks["this"])
    if against:
        change = this_rate / (inputs / statistics.median(seconds["against"])) - 1
        print(f"  throughput vs against: {change:+.1%} (target >= {MIXED_TARGETS['throughput']:+.0%})")
    limit = MIXED_TARGETS["memory_mb"]
    print(f"  peak tree memory at {inputs} inputs: {this_peak / 2**20:.0f} MB (target <= {limit} MB)")
    if large:
        growth = large_peaks["this"] / this_peak - 1
        print(
            f"  peak tree memory at {large} inputs: {large_peaks['this'] / 2**20:.0f} MB ({growth:+.1%}; target "
            f"<= {MIXED_TARGETS['memory_mb']} MB and within {MIXED_TARGETS['memory_growth']:.0%})"
        )


# --- running -------------------------------------------------------------------------------------------------


def timed(command: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int]:
    """Wall seconds and peak tree memory (bytes) of a command."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env, cwd=cwd)
    with PeakTreeMemory(process.pid) as memory:
        code = process.wait()
    if code != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {code}")
    return time.perf_counter() - start, memory.peak


def ipmix_command(root: Path, out: Path, output_format: str, jobs: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "ipmix_cli",
        "augment",
        str(root),
        str(out),
        "--k",
        str(K),
        "--seed",
        "0",
        "--jobs",
        str(jobs),
        "--format",
        output_format,
        "--quiet",
    ]
    return command + (["--quality", "95"] if output_format == "jpeg" else [])


def floor_command(root: Path, out: Path, output_format: str, jobs: int) -> list[str]:
    return [sys.executable, __file__, "--floor", str(root), str(out), output_format, str(jobs)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--large", type=int, default=10000, help="inputs for the second memory measurement (0: skip)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-dask", dest="dask", action="store_false", help="skip the dask case (it needs pip install 'ipmix[dask]')"
    )
    parser.add_argument(
        "--only", choices=["uniform", "mixed"], default=None, help="run only the 224x224 cases, or only the mixed case"
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="also run another ipmix source tree (PYTHONPATH=CHECKOUT) and compare",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the runs write their outputs (default: the work folder; e.g. /dev/shm, see above)",
    )
    parser.add_argument("--floor", nargs=4, metavar=("IN", "OUT", "FORMAT", "JOBS"), help=argparse.SUPPRESS)
    parser.add_argument("--shard-floor", nargs=3, metavar=("IN", "OUT", "JOBS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor:
        floor(args.floor[0], args.floor[1], args.floor[2], int(args.floor[3]))
        return 0
    if args.shard_floor:
        shard_floor(args.shard_floor[0], args.shard_floor[1], int(args.shard_floor[2]))
        return 0

    if args.out and not (args.out.is_dir() and os.access(args.out, os.W_OK)):
        parser.error(f"--out {args.out}: not a writable folder")
    work = Path(tempfile.mkdtemp(prefix="ipmix-bench-"))
    made_out = None  # only the folder made here is removed at the end, never --out itself
    try:
        if args.out:
            made_out = args.out = Path(tempfile.mkdtemp(prefix="ipmix-bench-out-", dir=args.out))
        else:
            args.out = work
        if args.only != "mixed":
            run_uniform(args, work)
        if args.only != "uniform":
            run_mixed(work, args.inputs, args.large, args.repeat, args.against, args.out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if made_out:
            shutil.rmtree(made_out, ignore_errors=True)
    return 0


def run_uniform(args, work: Path) -> None:
    """The 224x224 cases: ipmix against the I/O floors, jobs, dask, shards, and peak tree memory."""
    inputs = work / "in"
    out = args.out / "o"
    make_inputs(inputs, args.inputs)
    environments = version_environments(work, args.against)
    this = environments["this"]
    cases = {
        "floor jpeg (2 jobs)": (floor_command(inputs, out, "jpeg", 2), this),
        "ipmix jpeg (2 jobs)": (ipmix_command(inputs, out, "jpeg", 2), this),
        "floor jpeg (1 job)": (floor_command(inputs, out, "jpeg", 1), this),
        "ipmix jpeg (1 job)": (ipmix_command(inputs, out, "jpeg", 1), this),
        "floor png (2 jobs)": (floor_command(inputs, out, "png", 2), this),
        "ipmix png (2 jobs)": (ipmix_command(inputs, out, "png", 2), this),
        "ipmix png (1 job)": (ipmix_command(inputs, out, "png", 1), this),
    }
    if args.dask:
        cases["ipmix png (dask, 2 workers)"] = (ipmix_command(inputs, out, "png", 2) + ["--backend", "dask"], this)
    for name, command in shard_cases(inputs, out).items():
        cases[name] = (command, this)
    if args.against:  # the cases the other version can run, in the same repeats
        for name in [name for name in cases if name.startswith("ipmix") and "webdataset" not in name]:
            if "parquet" not in name:
                cases[f"{name} [against]"] = (cases[name][0], environments["against"])
    shard_peaks: dict[str, list[int]] = {output_format: [] for output_format in SHARD_FORMATS}
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    peaks: list[int] = []
    for repeat in range(args.repeat):
        order = list(cases) if repeat % 2 == 0 else list(reversed(cases))
        for name in order:
            shutil.rmtree(out, ignore_errors=True)
            command, env = cases[name]
            elapsed, peak = timed(command, env, work)
            seconds[name].append(elapsed)
            if name == "ipmix png (2 jobs)":
                peaks.append(peak)
            shard_peaks.get(name.split()[1] if name.endswith("jpeg (2 jobs)") else "", []).append(peak)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{args.inputs} inputs of 224x224, K={K}, median of {args.repeat} (seconds per run, inputs/s)")
    for name, value in median.items():
        print(f"  {name:<22} {value:8.2f} s  {args.inputs / value:8.1f} inputs/s")
    jpeg = median["ipmix jpeg (2 jobs)"] / median["floor jpeg (2 jobs)"]
    png = median["ipmix png (2 jobs)"] / median["floor png (2 jobs)"]
    scaling = median["ipmix png (1 job)"] / median["ipmix png (2 jobs)"]
    print(f"  jpeg: ipmix / floor = {jpeg:.2f}  (target <= {TARGETS['jpeg']})")
    one_job = median["ipmix jpeg (1 job)"] / median["floor jpeg (1 job)"]
    print(f"  jpeg, 1 job: ipmix / floor = {one_job:.2f}  (target <= {TARGETS['jpeg_one_job']})")
    print(f"  png:  ipmix / floor = {png:.2f}  (target <= {TARGETS['png']})")
    print(f"  2 jobs vs 1: {scaling:.2f}x throughput  (target >= {TARGETS['jobs']})")
    if args.dask:
        dask = median["ipmix png (dask, 2 workers)"] / median["ipmix png (2 jobs)"]
        print(
            f"  dask local cluster of 2 workers vs loky with 2 jobs: {dask:.2f}x wall time"
            f"  (target <= {TARGETS['dask']})"
        )
    report_shards(median, shard_peaks)
    if args.against:
        print("  this version against --against (wall time, medians of the same repeats):")
        for name in [name for name in median if name.endswith("[against]")]:
            this_name = name.removesuffix(" [against]")
            print(f"    {this_name:<28} {median[this_name] / median[name] - 1:+.1%}")
    small_peak = statistics.median(peaks)
    print(f"  peak tree memory, {args.inputs} inputs (png, 2 jobs): {small_peak / 2**20:.0f} MB")
    if args.large:
        shutil.rmtree(out, ignore_errors=True)
        make_inputs(work / "large", args.large)
        _, large_peak = timed(ipmix_command(work / "large", out, "png", 2), this, work)
        growth = large_peak / small_peak - 1
        print(
            f"  peak tree memory, {args.large} inputs (png, 2 jobs): {large_peak / 2**20:.0f} MB "
            f"({growth:+.1%} vs {args.inputs}; target <= {TARGETS['memory_mb']} MB and within "
            f"{TARGETS['memory_growth']:.0%})"
        )
        report_shard_memory(work / "large", out, args.large, shard_peaks, this)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
