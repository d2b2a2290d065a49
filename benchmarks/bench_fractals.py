"""Procedural mixing pictures: milliseconds per 256×256 IFS picture on one core, and pictures per second
of `ipmix fractals build --jobs 2`, next to the time Pillow takes to encode a 224×224 JPEG (quality 95)
in the same run.

    python benchmarks/bench_fractals.py [--pictures 60] [--build-count 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import jpeg_encode_ms  # noqa: E402
from ipmix_cli.allocator import tune_allocator  # noqa: E402
from ipmix_cli.jobs.fractals import BuildConfig, build_set  # noqa: E402
from ipmix_cli.mixsets.fractals import IFS_POINTS, make_picture  # noqa: E402
from ipmix_cli.seeding import generator_for_index  # noqa: E402

PUBLIC_NUMBA_MS = 14.6  # a numba-compiled public generator of the same kind, on this machine class


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pictures", type=int, default=60)
    parser.add_argument("--build-count", type=int, default=1000)
    args = parser.parse_args(argv)
    tune_allocator()

    jpeg = jpeg_encode_ms()
    make_picture("ifs", generator_for_index(0, 10_000), 256)  # warm up
    times = {kind: [] for kind in ("ifs", "dead_leaves", "spectral")}
    for index in range(args.pictures):
        for kind in times:
            start = time.perf_counter()
            make_picture(kind, generator_for_index(0, index), 256)
            times[kind].append((time.perf_counter() - start) * 1e3)
    jpeg_after = jpeg_encode_ms()
    jpeg = statistics.median([jpeg, jpeg_after])

    rates = {}
    for jobs in (1, 2):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            build_set(
                Path(folder) / "set",
                BuildConfig(count=args.build_count, size=256, seed=1),
                jobs=jobs,
                show_progress=False,
            )
            rates[jobs] = args.build_count / (time.perf_counter() - start)

    ifs = statistics.median(times["ifs"])
    print(f"jpeg q95 224x224 encode: {jpeg:.3f} ms (median of two measurements around the run)")
    print(f"{'kind':<12} {'median ms/picture':>18} {'x jpeg':>8}")
    for kind, values in times.items():
        median = statistics.median(values)
        print(f"{kind:<12} {median:>18.2f} {median / jpeg:>8.1f}")
    print(
        f"ifs: {IFS_POINTS:,} points, 256x256, colourised, with background; target <= 20x jpeg "
        f"({'met' if ifs <= 20 * jpeg else 'NOT met'}), <= {PUBLIC_NUMBA_MS / 2:.1f} ms = half the public numba "
        f"generator ({'met' if ifs <= PUBLIC_NUMBA_MS / 2 else 'NOT met'})"
    )
    print(
        f"fractals build (ifs, 256x256, PNG written): {rates[1]:.1f} pictures/s with --jobs 1, "
        f"{rates[2]:.1f} with --jobs 2 ({rates[2] / rates[1]:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
