"""How ipmix's AugMix (google-research/augmix's distribution) differs from torchvision's ``AugMix``.

Augments the sample photographs (scaled to ``--side``, default 32) ``--outputs`` times with each, and compares
per-output statistics of the change from the input: the mean absolute change, the largest change, the share
of values left unchanged and the mean signed change. For every statistic it prints the mean and quartiles of
each and a two-sample Kolmogorov–Smirnov test against ours. torchvision runs twice: with its defaults
(``all_ops=True``) and with AugMix's operation list (``all_ops=False``), which separates the effect of the
extra operations from that of its magnitude bins and its final truncation. Needs torch and torchvision (not
dependencies of ipmix; see the README), one torch thread, seeds fixed.

    python benchmarks/compare_torchvision_augmix.py [--outputs 4000] [--side 32] [--severity 3]
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
from PIL import Image

from common import ROOT, load_torchvision
from ipmix_cli import AugMixConfig, augmix, generator_for

STATISTICS = {
    "mean |change|": lambda before, after: np.abs(after - before).mean(),
    "largest |change|": lambda before, after: np.abs(after - before).max(),
    "share unchanged": lambda before, after: (after == before).mean(),
    "mean change": lambda before, after: (after - before).mean(),
}


def inputs(side: int) -> list[tuple[str, np.ndarray]]:
    found = []
    for path in sorted((ROOT / "samples").rglob("*.jpg")):
        with Image.open(path) as image:
            found.append((path.name, np.array(image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC))))
    return found


def measure(augment, images, outputs: int) -> dict[str, np.ndarray]:
    values = {name: [] for name in STATISTICS}
    for index in range(outputs):
        name, pixels = images[index % len(images)]
        after = augment(name, pixels, index).astype(np.float64)
        for statistic, function in STATISTICS.items():
            values[statistic].append(function(pixels.astype(np.float64), after))
    return {name: np.array(found) for name, found in values.items()}


def ks_test(first: np.ndarray, second: np.ndarray) -> tuple[float, float]:
    """The two-sample Kolmogorov–Smirnov statistic and its asymptotic p-value (Stephens' correction)."""
    both = np.sort(np.concatenate([first, second]))
    cdf_first = np.searchsorted(np.sort(first), both, side="right") / len(first)
    cdf_second = np.searchsorted(np.sort(second), both, side="right") / len(second)
    distance = float(np.abs(cdf_first - cdf_second).max())
    effective = len(first) * len(second) / (len(first) + len(second))
    scaled = (math.sqrt(effective) + 0.12 + 0.11 / math.sqrt(effective)) * distance
    if scaled < 0.2:
        return distance, 1.0
    p_value = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * scaled * scaled) for k in range(1, 101))
    return distance, min(1.0, max(0.0, p_value))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=int, default=4000)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--severity", type=int, default=3)
    args = parser.parse_args(argv)
    loaded = load_torchvision()
    if loaded is None:
        print("torch and torchvision are not installed; see the README's Methods section")
        return 1
    torch, transforms = loaded
    import torchvision

    torch.set_num_threads(1)
    images = inputs(args.side)
    config = AugMixConfig(severity=args.severity)

    def ours(name, pixels, index):
        return augmix(pixels, generator_for(0, name, index), config)

    def torchvision_augmix(all_ops: bool):
        torch.manual_seed(0)
        transform = transforms.AugMix(severity=args.severity, all_ops=all_ops)
        return lambda name, pixels, index: np.array(transform(Image.fromarray(pixels)))

    runs = {
        "ipmix augmix": measure(ours, images, args.outputs),
        "torchvision default": measure(torchvision_augmix(True), images, args.outputs),
        "torchvision all_ops=False": measure(torchvision_augmix(False), images, args.outputs),
    }
    print(
        f"{args.outputs} outputs each of {len(images)} sample photos at {args.side}x{args.side}, severity "
        f"{args.severity}; torch {torch.__version__}, torchvision {torchvision.__version__}"
    )
    for statistic in STATISTICS:
        print(f"\n{statistic} (per output)")
        print(f"  {'':<27} {'mean':>8} {'q25':>8} {'median':>8} {'q75':>8} {'KS D':>7} {'p':>9}")
        for name, values in runs.items():
            q25, median, q75 = np.quantile(values[statistic], [0.25, 0.5, 0.75])
            line = f"  {name:<27} {values[statistic].mean():>8.3f} {q25:>8.3f} {median:>8.3f} {q75:>8.3f}"
            if name != "ipmix augmix":
                distance, p_value = ks_test(runs["ipmix augmix"][statistic], values[statistic])
                line += f" {distance:>7.3f} {p_value:>9.1e}"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
