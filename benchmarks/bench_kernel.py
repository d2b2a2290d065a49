"""Median milliseconds per augmented image, single thread, in process (issue: the IPMix engine).

Measures the ``cifar`` preset at 32×32 and the ``imagenet`` preset at 224×224 against the time Pillow
takes, in the same run, to encode a 224×224 image as JPEG quality 95: a yardstick for this machine's speed,
since the machine is shared and absolute times move from run to run. Rounds alternate between the three
measurements so that load changes hit all of them alike.

    python benchmarks/bench_kernel.py [--rounds 15] [--per-round 200]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ipmix_cli import IPMixConfig, ipmix
from ipmix_cli.allocator import tune_allocator

TARGETS = {"cifar 32x32": 0.9, "imagenet 224x224": 6.0}


def sample_image(side: int) -> np.ndarray:
    """A real photograph from samples/ when there is one (JPEG cost depends on content), else noise."""
    samples = [Path(__file__).resolve().parent.parent / "samples" / "space" / "astronaut.jpg"]
    if samples[0].exists():
        with Image.open(samples[0]) as image:
            return np.array(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))
    smooth = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    return np.array(Image.fromarray(smooth).resize((side, side), Image.Resampling.BICUBIC))


def time_per_call(function, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - start) / count * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument(
        "--default-allocator", action="store_true", help="do not apply the allocator tuning the CLI's workers use"
    )
    args = parser.parse_args(argv)
    if not args.default_allocator:
        tune_allocator()

    photo = sample_image(224)
    jpeg_image = Image.fromarray(photo)
    cases = {}
    for name, preset, side in (("cifar 32x32", "cifar", 32), ("imagenet 224x224", "imagenet", 224)):
        image = sample_image(side)
        mixing = np.ascontiguousarray(sample_image(side + 9)[:side, :side][:, ::-1])
        config = IPMixConfig.preset(preset)
        rng = np.random.default_rng(0)
        cases[name] = lambda image=image, mixing=mixing, config=config, rng=rng: ipmix(image, mixing, rng, config)

    def encode():
        jpeg_image.save(io.BytesIO(), "JPEG", quality=95)

    timings = {name: [] for name in ["jpeg q95 224x224", *cases]}
    for _ in range(args.rounds):
        timings["jpeg q95 224x224"].append(time_per_call(encode, args.per_round))
        for name, function in cases.items():
            timings[name].append(time_per_call(function, args.per_round))

    jpeg = statistics.median(timings["jpeg q95 224x224"])
    print(f"allocator: {'default' if args.default_allocator else 'tuned (as in the CLI workers)'}")
    print(f"{'case':<20} {'median ms':>10} {'x jpeg':>8} {'target':>8}")
    print(f"{'jpeg q95 224x224':<20} {jpeg:>10.3f} {1:>8.2f}")
    ok = True
    for name in cases:
        median = statistics.median(timings[name])
        ratio = median / jpeg
        ok &= ratio <= TARGETS[name]
        print(f"{name:<20} {median:>10.3f} {ratio:>8.2f} {'<= ' + str(TARGETS[name]):>8}")
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
