"""Make the README's figures from samples/ with a fixed seed: a contact sheet, one copy taken apart, the three
methods on the same inputs, and a grid of the built-in mixing set. The tests run it with --small so the
figures cannot silently rot.

    python docs/make_figures.py [--out docs] [--small]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

from ipmix_cli.cli.main import main as ipmix
from ipmix_cli.jobs.builtin_set import ensure_builtin

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def run(*arguments: str) -> None:
    try:
        ipmix.main(list(arguments), prog_name="ipmix", standalone_mode=False)
    except SystemExit as exit_:  # click's own exit (e.g. --help): anything non-zero is a failure
        if exit_.code:
            raise


def methods_sheet(path: Path, common: list[str], k: str) -> None:
    """IPMix, AugMix and PixMix on the same three photos, one contact sheet each, stacked."""
    photos = [str(SAMPLES / "space" / "astronaut.jpg"), str(SAMPLES / "everyday" / "chelsea.jpg")]
    photos.append(str(SAMPLES / "texture" / "brick.jpg"))
    with tempfile.TemporaryDirectory() as folder:
        sheets = []
        for method in ("ipmix", "augmix", "pixmix"):
            sheet = Path(folder) / f"{method}.png"
            run("preview", *photos, "--method", method, "--k", k, *common, "-o", str(sheet))
            with Image.open(sheet) as image:
                sheets.append(image.convert("RGB"))
    stacked = Image.new("RGB", (max(s.width for s in sheets), sum(s.height for s in sheets)))
    top = 0
    for sheet in sheets:
        stacked.paste(sheet, (0, top))
        top += sheet.height
    stacked.save(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--small", action="store_true", help="tiny figures, for a quick check")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    side = "48" if args.small else "128"
    k = "3" if args.small else "6"
    common = ["--seed", "0", "--resize", side, "--crop", side, "--root", str(SAMPLES)]
    run(
        "preview",
        str(SAMPLES / "space" / "astronaut.jpg"),
        str(SAMPLES / "everyday" / "chelsea.jpg"),
        str(SAMPLES / "everyday" / "coffee.jpg"),
        str(SAMPLES / "texture" / "brick.jpg"),
        "--k",
        k,
        *common,
        "-o",
        str(args.out / "sheet.png"),
    )
    wide = "48" if args.small else "176"  # room for the step captions
    run(
        "preview",
        "--explain",
        str(SAMPLES / "everyday" / "chelsea.jpg"),
        "--copy",
        "1",
        "--k",
        k,
        "--seed",
        "0",
        "--resize",
        wide,
        "--crop",
        wide,
        "--root",
        str(SAMPLES),
        "-o",
        str(args.out / "explain.png"),
    )
    methods_sheet(args.out / "methods.png", common, "2" if args.small else "4")
    run(
        "fractals",
        "preview",
        str(ensure_builtin(show_progress=False)),
        "--count",
        "8" if args.small else "32",
        "--side",
        "48" if args.small else "96",
        "-o",
        str(args.out / "fractals.png"),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
