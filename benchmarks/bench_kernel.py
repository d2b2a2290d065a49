"""Median milliseconds per augmented image, single thread, in process (issue: the IPMix engine).

Measures the ``cifar`` preset at 32×32 and the ``imagenet`` preset at 224×224 against the time Pillow
takes, in the same run, to encode a 224×224 image as JPEG quality 95: a yardstick for this machine's speed,
since the machine is shared and absolute times move from run to run.

The machine's load changes within seconds, so the three measurements are interleaved finely: every round
times one short chunk (about ``--chunk-ms`` long) of each, in a rotating order, and the medians are taken
over the rounds. A slow spell then lands on all three alike instead of on whichever ran during it. Besides
the ratio of the medians (the figure the targets apply to) the script prints the median of the per-round
ratios, a paired estimate that load affects even less; the two agree when the run was steady.

    python benchmarks/bench_kernel.py [--rounds 60] [--chunk-ms 15]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
from PIL import Image

from common import photo
from ipmix_cli import IPMixConfig, ipmix
from ipmix_cli.allocator import tune_allocator

JPEG = "jpeg q95 224x224"
TARGETS = {"cifar 32x32": 0.9, "imagenet 224x224": 6.0}


def time_chunk(function, count: int) -> float:
    """Milliseconds per call over ``count`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - start) / count * 1e3


def calls_per_chunk(function, chunk_ms: float) -> int:
    """How many calls take about ``chunk_ms`` (after a warm-up that fills caches)."""
    estimate = min(time_chunk(function, 5) for _ in range(3))
    return max(1, round(chunk_ms / estimate))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--chunk-ms", type=float, default=15.0, help="length of one timed chunk per case")
    parser.add_argument(
        "--default-allocator", action="store_true", help="do not apply the allocator tuning the CLI's workers use"
    )
    args = parser.parse_args(argv)
    if not args.default_allocator:
        tune_allocator()

    jpeg_image = Image.fromarray(photo(224))
    cases = {JPEG: lambda: jpeg_image.save(io.BytesIO(), "JPEG", quality=95)}
    for name, preset, side in (("cifar 32x32", "cifar", 32), ("imagenet 224x224", "imagenet", 224)):
        image = photo(side)
        mixing = np.ascontiguousarray(photo(side + 9)[:side, :side][:, ::-1])  # a different picture
        config = IPMixConfig.preset(preset)
        rng = np.random.default_rng(0)
        cases[name] = lambda image=image, mixing=mixing, config=config, rng=rng: ipmix(image, mixing, rng, config)

    counts = {name: calls_per_chunk(function, args.chunk_ms) for name, function in cases.items()}
    names = list(cases)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            timings[name].append(time_chunk(cases[name], counts[name]))

    jpeg = statistics.median(timings[JPEG])
    allocator = "default" if args.default_allocator else "tuned (as in the CLI workers)"
    print(f"allocator: {allocator}; {args.rounds} rounds of ~{args.chunk_ms:g} ms per case")
    print(f"{'case':<20} {'median ms':>10} {'x jpeg':>8} {'paired':>8} {'target':>8}")
    print(f"{JPEG:<20} {jpeg:>10.3f} {1:>8.2f}")
    ok = True
    for name in TARGETS:
        median = statistics.median(timings[name])
        ratio = median / jpeg
        paired = statistics.median(t / j for t, j in zip(timings[name], timings[JPEG]))
        ok &= ratio <= TARGETS[name]
        print(f"{name:<20} {median:>10.3f} {ratio:>8.2f} {paired:>8.2f} {'<= ' + str(TARGETS[name]):>8}")
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
