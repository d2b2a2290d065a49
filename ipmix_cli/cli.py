"""The ``ipmix`` command: a thin click layer over the library (no pixels are touched here)."""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__
from .fractal_set import MAX_SIZE, MIN_SIZE, BuildConfig, BuildError, build_set, default_jobs
from .fractals import KINDS
from .seeding import fresh_seed

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ipmix")
def main() -> None:
    """ipmix: IPMix augmentation (NeurIPS 2023) as a reproducible dataset generator.

    \b
    Write K augmented copies of every image in a folder, with a manifest:
        ipmix augment in/ out/ --k 4 --seed 0
    Build a mixing set of procedural fractals instead of downloading one:
        ipmix fractals build mixing/ --count 1000
    """


def jobs_option(function):
    return click.option(
        "--jobs", "-j", type=click.IntRange(min=1), default=None,
        help="Worker processes (default: all cores). Results do not depend on it.",
    )(function)


def quiet_option(function):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")(function)


@main.group(context_settings=CONTEXT)
def fractals() -> None:
    """Procedural mixing pictures: IFS fractals, dead leaves, spectral noise."""


@fractals.command("build", context_settings=CONTEXT)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", "-n", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Number of pictures.")
@click.option("--size", "-s", type=click.IntRange(MIN_SIZE, MAX_SIZE), default=256, show_default=True,
              help="Side of the square pictures, in pixels.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Global seed; picture i depends only on (seed, i). Default: drawn and recorded.")
@click.option("--kind", type=click.Choice(KINDS), default="ifs", show_default=True,
              help="ifs fractals, dead_leaves, spectral (1/f) noise, or mixed (one of the three per picture).")
@jobs_option
@click.option("--overwrite", is_flag=True, help="Replace a set built in OUT with other settings.")
@quiet_option
def fractals_build(out: Path, count: int, size: int, seed: int | None, kind: str, jobs: int | None,
                   overwrite: bool, quiet: bool) -> None:
    """Build a mixing set in OUT: numbered PNGs plus metadata.jsonl and ipmix_fractals.json.

    Re-running the same command completes an interrupted build with the same bytes.
    """
    try:
        config = BuildConfig(count=count, size=size, seed=fresh_seed() if seed is None else seed, kind=kind)
        record = build_set(out, config, jobs=jobs or default_jobs(), overwrite=overwrite, show_progress=not quiet)
    except BuildError as error:
        raise click.UsageError(str(error)) from error
    if not quiet:
        click.echo(
            f"{out}: {record['count']} {kind} pictures of {size}×{size} (seed {config.seed}); "
            f"made {record['made']}, kept {record['kept']}",
            err=True,
        )
