"""The commands whose outputs are pinned to the bytes ipmix 0.3.0 wrote (``pinned_0_3_0.json``).

``python tests/pinned/cases.py write`` ran once on 0.3.0 (commit bd3f9c6) and wrote the digests; the test
``test_pinned_bytes.py`` runs the same commands with the code under test and compares. Every augmentation
method, both presets, every output format and image format, the clean original, traces, pre-processing and
every fractal kind are covered, on small inputs of several shapes and modes, so that a redesign or a faster
kernel that changes one byte of one output fails here.

Pinned: every output (image files and shards, by name relative to OUT) and, for the files format, the
manifest's records. Not pinned: ipmix's own bookkeeping (run record, journals, where they live), which may
change between versions without changing what a user trains on.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SEED = 7
OUTPUT_SUFFIXES = (".png", ".jpg", ".webp", ".tar", ".parquet")

#: Input images: (relative path, height, width, mode); content from a fixed generator.
INPUTS = [
    ("cats/small.png", 32, 32, "RGB"),
    ("cats/wide.jpg", 60, 80, "RGB"),
    ("dogs/alpha.png", 30, 40, "RGBA"),
    ("dogs/tall.png", 90, 20, "RGB"),
    ("dogs/grey.png", 70, 70, "L"),
    ("loose.png", 24, 24, "P"),
]

#: name → extra ``augment`` arguments (every case adds --seed, --k 2 and, but for AugMix, the pinned mixing set).
AUGMENT_CASES = {
    "ipmix-files-auto": [],
    "ipmix-cifar-jpeg-original-trace": ["--preset", "cifar", "--format", "jpeg", "--keep-original", "--trace"],
    "ipmix-imagenet-webp-clip-allops": ["--preset", "imagenet", "--format", "webp", "--overflow", "clip", "--all-ops"],
    "ipmix-resize-crop-png": ["--resize", "40", "--crop", "32x24", "--format", "png"],
    "ipmix-patches-depth": ["--patch-sizes", "4,8", "--depth", "5", "--chains", "2", "--beta", "2"],
    "augmix-files-png": ["--method", "augmix", "--format", "png"],
    "augmix-cifar-allops": ["--method", "augmix", "--preset", "cifar", "--all-ops", "--severity", "5"],
    "pixmix-imagenet-png": ["--method", "pixmix", "--preset", "imagenet", "--format", "png"],
    "pixmix-auto": ["--method", "pixmix"],
    "ipmix-webdataset": ["--output-format", "webdataset", "--samples-per-shard", "4"],
    "ipmix-parquet-trace": ["--output-format", "parquet", "--samples-per-shard", "4", "--trace"],
    "augmix-webdataset-original": ["--method", "augmix", "--output-format", "webdataset", "--keep-original"],
    "pixmix-parquet-png": ["--method", "pixmix", "--output-format", "parquet", "--format", "png"],
}

#: name → ``fractals build`` arguments (the first one is the mixing set of every augment case).
FRACTAL_CASES = {
    "mixed": ["--count", "6", "--size", "48", "--seed", "1", "--kind", "mixed"],
    "ifs": ["--count", "3", "--size", "32", "--seed", "2", "--kind", "ifs"],
    "dead_leaves": ["--count", "3", "--size", "32", "--seed", "3", "--kind", "dead_leaves"],
    "spectral": ["--count", "3", "--size", "40", "--seed", "4", "--kind", "spectral"],
}


def make_inputs(root: Path) -> None:
    rng = np.random.default_rng(20260101)
    for name, height, width, mode in INPUTS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (max(2, height // 6), max(2, width // 6), 4), dtype=np.uint8)
        smooth = np.array(Image.fromarray(coarse, "RGBA").resize((width, height), Image.Resampling.BILINEAR))
        image = Image.fromarray(smooth, "RGBA")
        if mode == "RGB":
            image = image.convert("RGB")
        elif mode == "L":
            image = image.convert("L")
        elif mode == "P":
            image = image.convert("RGB").quantize(16)
        image.save(path, quality=90) if name.endswith(".jpg") else image.save(path)


def digests(out: Path) -> dict:
    """sha256 of every output under ``out`` and, for the files format, the manifest's records."""
    found = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if not path.is_file() or any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        if path.suffix in OUTPUT_SUFFIXES and not path.name.startswith("metadata"):
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = out / "metadata.jsonl"
    if manifest.is_file() and not any(name.endswith((".tar", ".parquet")) for name in found):
        found["metadata.jsonl records"] = [json.loads(line) for line in manifest.read_text().splitlines()]
    return found


def run_all(work: Path, invoke) -> dict:
    """Every case run with ``invoke(arguments)`` (the ``ipmix`` command's arguments) in ``work``."""
    results: dict = {"fractals": {}, "augment": {}}
    for name, arguments in FRACTAL_CASES.items():
        folder = work / f"fractals-{name}"
        invoke(["fractals", "build", str(folder), "--quiet", "--jobs", "1", *arguments])
        results["fractals"][name] = digests(folder)
    inputs = work / "in"
    make_inputs(inputs)
    mixing = work / "fractals-mixed"
    for name, arguments in AUGMENT_CASES.items():
        out = work / f"out-{name}"
        command = ["augment", str(inputs), str(out), "--seed", str(SEED), "--k", "2", "--quiet", "--jobs", "1"]
        if "augmix" not in arguments:
            command += ["--mixing-set", str(mixing)]
        invoke([*command, *arguments])
        results["augment"][name] = digests(out)
    return results


def cli_invoke(arguments: list[str]) -> None:
    from click.testing import CliRunner

    from ipmix_cli.cli.main import main

    result = CliRunner().invoke(main, arguments, catch_exceptions=False)
    assert result.exit_code == 0, (arguments, result.output)


PINNED = Path(__file__).with_name("pinned_0_3_0.json")

if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        PINNED.write_text(json.dumps(run_all(Path(scratch), cli_invoke), indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINNED}")
