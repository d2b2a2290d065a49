"""All 19 corruptions × 5 severities of one 224×224 image, single thread, in one process: ipmix against
``imagecorruptions`` (the maintained ``imagecorruptions-imaug``, if installed), and the floor.

The image is the yardstick photograph (``samples/space/astronaut.jpg``) scaled to 224×224, corrupted with the
``imagenet`` constants. Every round times, per corruption and in a rotating order, ipmix's five outputs and
then imagecorruptions' five, so a slow spell of this shared machine lands on both alike; medians are taken
over the rounds, per corruption and for the round totals, and the median of the per-round ratios is printed
beside the ratio of the medians. The floor is what any generator pays besides corrupting: decoding the input
(a 224×224 JPEG, quality 95) and encoding the 95 outputs as JPEG quality 95 (``--format auto`` for JPEG
inputs). "ipmix job" is decode + 95 corruptions + 95 encodes, the work of one input of ``ipmix corrupt``
short of writing files. With ``--scaling N`` (0 to skip), ``ipmix corrupt`` itself then runs as a subprocess over N
224×224 JPEG inputs (95 outputs each, written to a temporary folder, ``--out DIR`` to choose where) with
``--jobs 1`` and with ``--jobs 2``, alternating, ``--repeat`` times: the median wall times and their ratio.
The process's allocator is tuned as ipmix's own processes (the CLI and its workers)
tune it (``ipmix_cli.allocator``), which both libraries then share; ``--default-allocator`` leaves it alone.

    python benchmarks/bench_corrupt.py [--rounds 15] [--no-imagecorruptions] [--default-allocator]
                                       [--scaling 24] [--repeat 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_variable] = "1"  # single thread, before numpy, OpenCV or numba load

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from common import photo  # noqa: E402
from ipmix_cli.corruptions import ALL, corrupt, corruption_generator  # noqa: E402

SEVERITIES = (1, 2, 3, 4, 5)


def ours(image: np.ndarray, name: str) -> None:
    for severity in SEVERITIES:
        corrupt(image, name, severity, corruption_generator(0, "astronaut.jpg", name, severity), "imagenet")


def load_imagecorruptions():
    try:
        import cv2

        cv2.setNumThreads(1)
        import imagecorruptions
    except ImportError:
        return None
    return imagecorruptions


def theirs(module, image: np.ndarray, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for severity in SEVERITIES:
            module.corrupt(image, severity, name)


def floor(encoded: bytes, image: np.ndarray) -> None:
    with Image.open(io.BytesIO(encoded)) as decoded:
        decoded.convert("RGB").load()
    picture = Image.fromarray(image)
    for _ in range(len(ALL) * len(SEVERITIES)):
        picture.save(io.BytesIO(), "JPEG", quality=95)


def job(encoded: bytes) -> None:
    with Image.open(io.BytesIO(encoded)) as decoded:
        image = np.asarray(decoded.convert("RGB"))
    for name in ALL:
        for severity in SEVERITIES:
            out = corrupt(image, name, severity, corruption_generator(0, "astronaut.jpg", name, severity), "imagenet")
            Image.fromarray(out).save(io.BytesIO(), "JPEG", quality=95)


def timed(function, *arguments) -> float:
    start = time.perf_counter()
    function(*arguments)
    return (time.perf_counter() - start) * 1e3


def job_scaling(count: int, repeat: int, where: Path | None) -> None:
    """``ipmix corrupt`` over ``count`` inputs with one job and with two, as subprocesses, alternating."""
    work = Path(tempfile.mkdtemp(dir=where))
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        base = photo(448)
        for index in range(count):  # different 224×224 windows of one photograph, some mirrored
            top, left = (index * 37) % 224, (index * 61) % 224
            window = base[top : top + 224, left : left + 224]
            Image.fromarray(window[:, ::-1] if index % 2 else window).save(work / f"in{index:03d}.jpg", quality=95)
        (work / "in").mkdir()
        for path in work.glob("in*.jpg"):
            path.rename(work / "in" / path.name)

        def run(jobs: int) -> float:
            shutil.rmtree(work / "out", ignore_errors=True)
            command = [sys.executable, "-m", "ipmix", "corrupt", str(work / "in"), str(work / "out"), "--seed", "0"]
            started = time.perf_counter()
            subprocess.run([*command, "--jobs", str(jobs), "--quiet"], check=True, env=env)
            return time.perf_counter() - started

        run(2)  # numba's cache and the frost pictures, once before measuring
        times: dict[int, list[float]] = {1: [], 2: []}
        for index in range(repeat):
            for jobs in (1, 2) if index % 2 == 0 else (2, 1):
                times[jobs].append(run(jobs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"ipmix corrupt, {count} inputs of 224×224 (95 outputs each), median of {repeat} whole runs:")
    print(f"  --jobs 1 {one:7.2f} s ({count / one:.2f} inputs/s)   --jobs 2 {two:7.2f} s ({count / two:.2f} inputs/s)")
    print(f"  --jobs 2 speed-up: {one / two:.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-imagecorruptions", action="store_true")
    parser.add_argument("--default-allocator", action="store_true", help="do not tune glibc's allocator")
    parser.add_argument("--scaling", type=int, default=24, help="inputs of the --jobs 1 / --jobs 2 runs (0: skip)")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the --jobs 1 / --jobs 2 runs")
    parser.add_argument(
        "--out", type=Path, default=None, help="where the --scaling runs write (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    if not args.default_allocator:
        from ipmix_cli.allocator import tune_allocator

        tune_allocator()

    image = photo(224)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=95)
    encoded = buffer.getvalue()
    other = None if args.no_imagecorruptions else load_imagecorruptions()
    if other is None and not args.no_imagecorruptions:
        print(
            "imagecorruptions is not installed (pip install --no-deps imagecorruptions-imaug "
            "opencv-python-headless scikit-image scipy numba): timing ipmix alone"
        )

    for name in ALL:  # warm up: compile (or load) the kernels, read the frost pictures
        ours(image, name)
        if other is not None:
            theirs(other, image, name)

    mine: dict[str, list[float]] = {name: [] for name in ALL}
    their: dict[str, list[float]] = {name: [] for name in ALL}
    floors, jobs, round_ratios = [], [], []
    for round_ in range(args.rounds):
        order = ALL[round_ % len(ALL) :] + ALL[: round_ % len(ALL)]
        for name in order:
            mine[name].append(timed(ours, image, name))
            if other is not None:
                their[name].append(timed(theirs, other, image, name))
        floors.append(timed(floor, encoded, image))
        jobs.append(timed(job, encoded))
        if other is not None:
            round_ratios.append(sum(their[n][-1] for n in ALL) / sum(mine[n][-1] for n in ALL))

    median = statistics.median
    allocator = "default allocator" if args.default_allocator else "allocator tuned as ipmix's processes"
    print(f"224×224, imagenet constants, 5 severities per corruption, median ms over {args.rounds} rounds, {allocator}")
    header = f"{'corruption':20s} {'ipmix':>8s}"
    if other is not None:
        header += f" {'imagecorruptions':>17s} {'ratio':>7s}"
    print(header)
    for name in ALL:
        line = f"{name:20s} {median(mine[name]):8.1f}"
        if other is not None:
            line += f" {median(their[name]):17.1f} {median(their[name]) / median(mine[name]):6.1f}x"
        print(line)
    total_ours = median([sum(mine[n][i] for n in ALL) for i in range(args.rounds)])
    line = f"{'total (95 outputs)':20s} {total_ours:8.1f}"
    if other is not None:
        total_theirs = median([sum(their[n][i] for n in ALL) for i in range(args.rounds)])
        line += f" {total_theirs:17.1f} {total_theirs / total_ours:6.1f}x"
    print(line)
    print(f"floor: decode + 95 JPEG encodes      {median(floors):8.1f} ms")
    print(f"ipmix job: decode + 95 corruptions + 95 encodes {median(jobs):8.1f} ms")
    if other is not None:
        print(f"imagecorruptions / ipmix, median of per-round ratios: {median(round_ratios):.2f}x")
        print(f"imagecorruptions' corruptions alone / ipmix job: {total_theirs / median(jobs):.2f}x")
    print(f"ipmix job / floor: {median(jobs) / median(floors):.2f}x")
    if args.scaling:
        job_scaling(args.scaling, args.repeat, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
