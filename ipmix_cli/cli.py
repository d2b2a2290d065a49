"""The ``ipmix`` command: a thin click layer over the library (no pixels are touched here)."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ipmix")
def main() -> None:
    """ipmix: IPMix augmentation (NeurIPS 2023) as a reproducible dataset generator.

    \b
    Write K augmented copies of every image in a folder, with a manifest:
        ipmix augment in/ out/ --k 4 --seed 0
    """
