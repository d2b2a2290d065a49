"""Make docs/corruptions.png: one photograph under the 19 corruptions at severities 1-5 (the imagenet
constants, scaled to the tile's size), through the library function ``ipmix preview --corrupt`` draws with.
The tests run it with --small so the figure cannot silently rot.

    python docs/make_corruption_figure.py [--out docs] [--small]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ipmix_cli.corruptions.sheet import corruption_sheet

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "samples" / "space" / "astronaut.jpg"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--small", action="store_true", help="a tiny figure, for a quick check")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    side = 40 if args.small else 88
    with Image.open(PHOTO) as photo:
        image = np.array(photo.convert("RGB").resize((side, side), Image.Resampling.LANCZOS))
    sheet = corruption_sheet(image, seed=0, key="space/astronaut.jpg", preset="imagenet")
    sheet.save(args.out / "corruptions.png", optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
