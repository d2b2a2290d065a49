"""Median milliseconds per augmented image, single thread, in process, for every method.

Measures IPMix, AugMix and PixMix at 32×32 (``cifar`` preset) and 224×224 (``imagenet`` preset) against the
time Pillow takes, in the same run, to encode a 224×224 image as JPEG quality 95: a yardstick for this
machine's speed, since the machine is shared and absolute times move from run to run. When torch and
torchvision are installed (they are not dependencies; see the README), torchvision's ``AugMix`` runs on the
same images (as PIL images, one torch thread, with AugMix's list and the preset's severity), and the script
reports how many times faster ours is.

The machine's load changes within seconds, so the measurements are interleaved finely: every round times one
short chunk (about ``--chunk-ms`` long) of each case, in a rotating order, and the medians are taken over the
rounds. A slow spell then lands on all cases alike instead of on whichever ran during it. Besides the ratio
of the medians (the figure the targets apply to) the script prints the median of the per-round ratios, a
paired estimate that load affects even less; the two agree when the run was steady.

    python benchmarks/bench_kernel.py [--rounds 60] [--chunk-ms 15] [--no-torchvision]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import numpy as np
from PIL import Image

from common import load_torchvision, photo
from ipmix_cli import AugMixConfig, IPMixConfig, PixMixConfig, augmix, ipmix, pixmix
from ipmix_cli.allocator import tune_allocator

JPEG = "jpeg q95 224x224"
SIZES = {"cifar": 32, "imagenet": 224}
#: The targets, in JPEG encodes: IPMix's from its issue; the others are reported without one.
TARGETS = {"ipmix cifar 32x32": 0.9, "ipmix imagenet 224x224": 6.0}
#: Our AugMix must be at least this many times faster than torchvision's on the same images.
TORCHVISION_SPEEDUP = 3.0


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


def method_cases() -> dict:
    cases = {}
    for preset, side in SIZES.items():
        image = photo(side)
        mixing = np.ascontiguousarray(photo(side + 9)[:side, :side][:, ::-1])  # a different picture
        rng = np.random.default_rng(0)
        size = f"{preset} {side}x{side}"
        config = IPMixConfig.preset(preset)
        cases[f"ipmix {size}"] = lambda image=image, mixing=mixing, config=config, rng=rng: ipmix(
            image, mixing, rng, config
        )
        config = AugMixConfig.preset(preset)
        cases[f"augmix {size}"] = lambda image=image, config=config, rng=rng: augmix(image, rng, config)
        config = PixMixConfig.preset(preset)
        cases[f"pixmix {size}"] = lambda image=image, mixing=mixing, config=config, rng=rng: pixmix(
            image, mixing, rng, config
        )
    return cases


def torchvision_cases(loaded) -> dict:
    torch, transforms = loaded
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cases = {}
    for preset, side in SIZES.items():
        pil = Image.fromarray(photo(side))
        transform = transforms.AugMix(severity=AugMixConfig.preset(preset).severity, all_ops=False)
        cases[f"torchvision augmix {preset} {side}x{side}"] = lambda transform=transform, pil=pil: transform(pil)
    return cases


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--chunk-ms", type=float, default=15.0, help="length of one timed chunk per case")
    parser.add_argument("--no-torchvision", action="store_true", help="skip torchvision even when installed")
    parser.add_argument(
        "--default-allocator", action="store_true", help="do not apply the allocator tuning the CLI's workers use"
    )
    args = parser.parse_args(argv)
    if not args.default_allocator:
        tune_allocator()

    jpeg_image = Image.fromarray(photo(224))
    cases = {JPEG: lambda: jpeg_image.save(io.BytesIO(), "JPEG", quality=95), **method_cases()}
    loaded = None if args.no_torchvision else load_torchvision()
    if loaded is not None:
        cases.update(torchvision_cases(loaded))

    counts = {name: calls_per_chunk(function, args.chunk_ms) for name, function in cases.items()}
    names = list(cases)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            timings[name].append(time_chunk(cases[name], counts[name]))

    def paired(name: str, reference: str) -> float:
        return statistics.median(t / r for t, r in zip(timings[name], timings[reference]))

    jpeg = statistics.median(timings[JPEG])
    allocator = "default" if args.default_allocator else "tuned (as in the CLI workers)"
    print(f"allocator: {allocator}; {args.rounds} rounds of ~{args.chunk_ms:g} ms per case")
    print(f"{'case':<32} {'median ms':>10} {'x jpeg':>8} {'paired':>8} {'target':>8}")
    print(f"{JPEG:<32} {jpeg:>10.3f} {1:>8.2f}")
    ok = True
    for name in names[1:]:
        median = statistics.median(timings[name])
        ratio = median / jpeg
        target = TARGETS.get(name)
        ok &= target is None or ratio <= target
        shown = f"<= {target}" if target else ""
        print(f"{name:<32} {median:>10.3f} {ratio:>8.2f} {paired(name, JPEG):>8.2f} {shown:>8}")
    if loaded is None:
        print("torchvision: not installed (or --no-torchvision); see the README to compare with its AugMix")
    else:
        torch, _ = loaded
        import torchvision

        print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, one thread")
        for preset, side in SIZES.items():
            ours, theirs = f"augmix {preset} {side}x{side}", f"torchvision augmix {preset} {side}x{side}"
            speedup = statistics.median(timings[theirs]) / statistics.median(timings[ours])
            ok &= speedup >= TORCHVISION_SPEEDUP
            print(
                f"AugMix {side}x{side}: ours {speedup:.1f}x faster than torchvision's "
                f"(paired {1 / paired(ours, theirs):.1f}x; target >= {TORCHVISION_SPEEDUP:g}x)"
            )
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
