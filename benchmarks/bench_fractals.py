"""Procedural mixing pictures: milliseconds per 256×256 picture on one core, on the plain path and the compiled
one (numba kernels), and pictures per second of `ipmix fractals build --jobs 1/2`, next to the time Pillow takes
to encode a 224×224 JPEG (quality 95) in the same run.

The IFS pictures are held to a public numba generator of the same kind, catalys1/fractal-pretraining (256 px
coloured IFS with a background, 100,000 points; target: at most half its time). Give ``--anchor FOLDER``, a
folder holding its ``fractal_learning/fractals/ifs.py`` and ``diamondsquare.py`` (it needs OpenCV: pip install
opencv-python-headless), and it runs interleaved with ours, paired round by round; without it the script
compares with the time measured that way on this machine class (``ANCHOR_MS``).

    python benchmarks/bench_fractals.py [--pictures 60] [--build-count 1000] [--anchor FOLDER]
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
from ipmix_cli.engine import compiled  # noqa: E402
from ipmix_cli.jobs.fractals import BuildConfig, build_set  # noqa: E402
from ipmix_cli.mixsets.fractals import IFS_POINTS, make_picture  # noqa: E402
from ipmix_cli.seeding import generator_for_index  # noqa: E402

#: catalys1/fractal-pretraining's 256 px picture (sample_system of 2-4 maps, iterate 100,000 points, render
#: graded, colorize, colorized_ds background, composite), measured interleaved with ours on this machine class.
ANCHOR_MS = 4.85
KINDS = ("ifs", "dead_leaves", "spectral")


def anchor_picture(folder: Path):
    """A function making one picture the anchor's way (imported from ``folder``), or None."""
    sys.path.insert(0, str(folder))
    import diamondsquare
    import ifs
    import numpy as np

    def make(index: int):
        rng = np.random.default_rng(index)
        system = ifs.sample_system(rng.integers(2, 5), rng=rng)
        gray = ifs.render(ifs.iterate(system, IFS_POINTS), s=256, binary=False)
        return ifs.composite(ifs.colorize(gray), diamondsquare.colorized_ds(256))

    return make


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pictures", type=int, default=60, help="rounds of one picture of each kind and path")
    parser.add_argument("--build-count", type=int, default=1000)
    parser.add_argument("--anchor", type=Path, help="folder with the anchor's ifs.py and diamondsquare.py")
    args = parser.parse_args(argv)
    tune_allocator()

    try:
        compiled.use("compiled")
        paths = ("plain", "compiled")
    except compiled.KernelsUnavailable as error:
        print(f"compiled path unavailable ({error}): the plain path only")
        paths = ("plain",)
    anchor = anchor_picture(args.anchor) if args.anchor else None
    jpeg = jpeg_encode_ms()
    for path in paths:  # warm up (and compile)
        with compiled.using(path):
            for kind in KINDS:
                make_picture(kind, generator_for_index(0, 10_000), 256)
    if anchor is not None:
        anchor(10_000)
    times: dict[tuple, list[float]] = {(kind, path): [] for kind in KINDS for path in paths}
    if anchor is not None:
        times[("anchor", "")] = []
    for index in range(args.pictures):
        for kind, path in times:
            start = time.perf_counter()
            if kind == "anchor":
                anchor(index)
            else:
                with compiled.using(path):
                    make_picture(kind, generator_for_index(0, index), 256)
            times[(kind, path)].append((time.perf_counter() - start) * 1e3)
    jpeg = statistics.median([jpeg, jpeg_encode_ms()])
    compiled.use("auto")

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

    print(f"jpeg q95 224x224 encode: {jpeg:.3f} ms (median of two measurements around the run)")
    print(f"{'kind':<12} {'path':<9} {'ms/picture':>10} {'x jpeg':>7}")
    for (kind, path), values in times.items():
        median = statistics.median(values)
        print(f"{kind:<12} {path:<9} {median:>10.2f} {median / jpeg:>7.1f}")
    ours = ("ifs", paths[-1])
    ifs = statistics.median(times[ours])
    if anchor is not None:
        ratio = statistics.median(o / a for o, a in zip(times[ours], times[("anchor", "")]))
        measured = f"measured side by side, paired median {ratio:.2f}"
    else:
        ratio = ifs / ANCHOR_MS
        measured = f"against its recorded {ANCHOR_MS} ms (give --anchor to run it side by side)"
    print(
        f"ifs ({paths[-1]}): {IFS_POINTS:,} points, 256x256, colourised, with background: {ratio:.2f} of the anchor's "
        f"time, {measured}; target <= 0.5 ({'met' if ratio <= 0.5 else 'NOT met'})"
    )
    print(
        f"fractals build (ifs, 256x256, PNG written): {rates[1]:.1f} pictures/s with --jobs 1, "
        f"{rates[2]:.1f} with --jobs 2 ({rates[2] / rates[1]:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
