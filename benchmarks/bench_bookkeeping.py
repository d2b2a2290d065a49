"""What safety and bookkeeping cost per output, against the encoding that dominates a run (issue: hardening).

Measures, side by side in one run, interleaved in rounds (medians over rounds):

- a contained atomic write (``SafeFolder.write_bytes``: folders opened without following links, temporary,
  rename, stat) against a plain atomic write of the same bytes by path (what ipmix did before);
- the per-input journal append a worker makes, per output;
- folding the state at the end of a run (a stat per output, the sorted state and manifest written), per output;
- planning a resume (a stat per recorded output), per output;
- taking and releasing OUT's lock, once per run;
- the yardstick: encoding one 224×224 copy as PNG (ipmix's default for non-JPEG inputs) and as JPEG q95.

    python benchmarks/bench_bookkeeping.py [--outputs 2000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import photo  # noqa: E402
from ipmix_cli.disk.atomic import write_bytes_atomic  # noqa: E402
from ipmix_cli.disk.folder import SafeFolder  # noqa: E402
from ipmix_cli.disk.lock import hold_folder  # noqa: E402
from ipmix_cli.imaging.images import Encoder  # noqa: E402
from ipmix_cli.items import Item  # noqa: E402
from ipmix_cli.job.options import AugmentOptions  # noqa: E402
from ipmix_cli.job.resume import plan_files, valid_records  # noqa: E402
from ipmix_cli.job.state import Layout, append_lines, write_state_and_manifest  # noqa: E402
from ipmix_cli.writers import signature  # noqa: E402

K = 4


def per_output(seconds: float, outputs: int) -> float:
    return seconds / outputs * 1e6


def one_round(work: Path, data: bytes, outputs: int) -> dict[str, float]:
    """Microseconds per output of each measured step, for ``outputs`` outputs of ``outputs // K`` inputs."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "plain").mkdir(parents=True)
    (work / "safe").mkdir()
    names = [f"class{i // K % 10}/img{i // K:05d}_ipmix{i % K}.png" for i in range(outputs)]
    times: dict[str, float] = {}

    out = SafeFolder(work / "safe")
    digest = hashlib.sha256(data).hexdigest()
    records = []
    plain = safe = 0.0
    for name in names:  # interleaved, so that the disk's state (dirty pages, caches) weighs on both alike
        start = time.perf_counter()
        write_bytes_atomic(work / "plain" / name, data)
        middle = time.perf_counter()
        info = out.write_bytes(name, data)
        plain, safe = plain + middle - start, safe + time.perf_counter() - middle
        source = name.rsplit("_ipmix", 1)[0] + ".png"
        records.append(
            {"file_name": name, "source": source, "copy": int(name[-5]), "sha256": digest, "_sig": signature(info)}
        )
    times["plain atomic write (by path)"] = per_output(plain, outputs)
    times["contained atomic write (SafeFolder)"] = per_output(safe, outputs)

    layout = Layout()
    start = time.perf_counter()
    for index in range(0, outputs, K):
        append_lines(out, f"{layout.worker_journal_prefix}bench.jsonl", records[index : index + K])
    times["journal append (per input)"] = per_output(time.perf_counter() - start, outputs)

    start = time.perf_counter()
    write_state_and_manifest(out, layout, valid_records(out, layout, sharded=False))
    for name in layout.journals(out):
        out.remove(name)
    times["fold state + manifest at the end"] = per_output(time.perf_counter() - start, outputs)

    options = AugmentOptions(seed=0, k=K, image_format="png")
    sources = sorted({r["source"] for r in records})
    items = [Item(s, s.split("/")[0], s[: -len(".png")], "png", (s,)) for s in sources]
    start = time.perf_counter()
    plan = plan_files(out, layout, items, options)
    times["resume planning (stat per output)"] = per_output(time.perf_counter() - start, outputs)
    assert not plan.works and plan.already_done == len(items)

    start = time.perf_counter()
    for _ in range(100):
        with hold_folder(out):
            pass
    times["OUT lock, once per run (µs per run)"] = (time.perf_counter() - start) / 100 * 1e6
    return times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outputs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    pixels = photo(224)
    png, jpeg = Encoder("png"), Encoder("jpeg", 95)
    data = png.encode(pixels)
    work = Path(tempfile.mkdtemp(prefix="ipmix-bookkeeping-"))
    rounds: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for name, value in one_round(work, data, args.outputs).items():
                rounds.setdefault(name, []).append(value)
            for name, encoder in (("yardstick: PNG encode 224x224", png), ("yardstick: JPEG q95 encode 224x224", jpeg)):
                start = time.perf_counter()
                for _ in range(50):
                    encoder.encode(pixels)
                rounds.setdefault(name, []).append((time.perf_counter() - start) / 50 * 1e6)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in rounds.items()}
    print(f"{args.outputs} outputs of {len(data)} bytes, K={K}, median of {args.rounds} rounds; µs per output")
    for name, value in medians.items():
        print(f"  {name:<42} {value:9.1f}")
    extra = (
        medians["contained atomic write (SafeFolder)"]
        - medians["plain atomic write (by path)"]
        + medians["journal append (per input)"]
        + medians["fold state + manifest at the end"]
    )
    jpeg_us = medians["yardstick: JPEG q95 encode 224x224"]
    print(
        f"  safety and bookkeeping over a plain write: {extra:.1f} µs per output "
        f"= {extra / jpeg_us:.1%} of a JPEG q95 encode, {extra / medians['yardstick: PNG encode 224x224']:.1%} of PNG"
    )
    print(f"  (disk: {os.statvfs(tempfile.gettempdir()).f_bsize}-byte blocks under {tempfile.gettempdir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
