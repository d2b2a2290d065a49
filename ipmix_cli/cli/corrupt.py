"""``ipmix corrupt``: a CIFAR-10-C / ImageNet-C style test set of one's own images (``jobs/corrupt.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from ..corruptions import ALL, PRESETS
from ..errors import UsageError
from .main import CONTEXT, RUN_SETTINGS, _interruptible, _reader, _run_image_job, main
from .options import GroupedCommand, _apply, _background, _crop, grouped, input_options, run_options

EXAMPLES = [
    "ipmix corrupt val/ val-c/ --seed 0  # the 15 corruptions × 5 severities, ImageNet-C's layout",
    "ipmix corrupt val/ val-c/ --corruptions fog,snow --severities 3  # two corruptions, one severity",
    "ipmix corrupt test/ test-c/ --preset cifar --format png  # CIFAR-10-C's constants",
    "ipmix corrupt val/ val-c/ --output-format webdataset --samples-per-shard 5000  # shards",
]


def corruption_options(function):
    """What the corrupted images are: which corruptions and severities, the constants, the frost pictures,
    and how inputs are read."""
    options = [
        grouped("Corruption")(
            "--corruptions",
            default="common",
            show_default=True,
            metavar="common|extra|all|NAME,...",
            help=f"Which corruptions: the 15 of the benchmark (common), the 4 extra ones, all, or names among "
            f"{', '.join(ALL)}.",
        ),
        grouped("Corruption")(
            "--severities", default="1-5", show_default=True, metavar="1-5|N,...", help="Severities (1 to 5)."
        ),
        grouped("Corruption")(
            "--preset",
            type=click.Choice(PRESETS),
            default="auto",
            show_default=True,
            help="The constants: CIFAR-10-C's (cifar) or ImageNet-C's (imagenet); auto: cifar when the shorter "
            "side is at most 64. Lengths scale with each image (docs/corruptions.md).",
        ),
        grouped("Corruption")(
            "--frost-pictures",
            type=click.Path(exists=True, file_okay=False),
            default=None,
            help="The folder holding ImageNet-C's six frost pictures (default: those of an installed "
            "imagecorruptions or imagenet-c distribution).",
        ),
        grouped("Corruption")(
            "--skip-missing", is_flag=True, help="Leave frost out when its pictures are not installed."
        ),
        grouped("Run")(
            "--seed",
            type=click.IntRange(min=0),
            default=None,
            help="Global seed. Default: drawn and recorded (a resumed run reuses the recorded one).",
        ),
        grouped("Input")(
            "--background", callback=_background, default="white", show_default=True, help="Colour under transparency."
        ),
        grouped("Input")(
            "--resize", type=click.IntRange(min=2), default=None, help="First scale the shorter side to this."
        ),
        grouped("Input")("--crop", callback=_crop, default=None, help="Then take the centred W or WxH window."),
        grouped("Output")(
            "--output-format",
            "writer",
            type=click.Choice(["files", "webdataset", "parquet"]),
            default="files",
            show_default=True,
            help="Image files in OUT/<corruption>/<severity>/<input's path>, WebDataset or Parquet shards.",
        ),
        grouped("Output")(
            "--samples-per-shard",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="With shard output: outputs per shard (inputs are never split).",
        ),
        grouped("Output")(
            "--format",
            "image_format",
            type=click.Choice(["auto", "png", "jpeg", "jpg", "webp"]),
            callback=lambda context, parameter, value: "jpeg" if value == "jpg" else value,
            default="auto",
            show_default=True,
            help="Image format. auto: JPEG (quality 95) for JPEG inputs, else PNG. (ImageNet-C was saved as JPEG.)",
        ),
        grouped("Output")("--quality", type=click.IntRange(1, 100), default=None, help="JPEG/WebP quality. [95]"),
        grouped("Output")("--trace", is_flag=True, help="Record each output's resolved values and draws."),
    ]
    return _apply(options, function)


@main.command(cls=GroupedCommand, context_settings=CONTEXT, examples=EXAMPLES)
@click.argument("in_dir", metavar="IN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@corruption_options
@input_options
@run_options
def corrupt(out_dir: Path, **arguments) -> None:
    """Write a corruption-robustness test set of IN to OUT: every image under each corruption at each
    severity (the corruptions of CIFAR-10-C and ImageNet-C, at any image size), with a manifest.

    Outputs: OUT/<corruption>/<severity>/<input's relative path> (load one with ImageFolder or
    datasets' "imagefolder"), plus OUT/metadata.jsonl (with corruption and severity per record) and
    OUT/ipmix_run.json. Each output depends only on (seed, input, corruption, severity); re-running
    resumes, and more corruptions or severities add outputs. Score a model with
    ipmix_cli.corruptions.score (mCE). Exit status as for augment.
    """
    _interruptible(_corrupt, out_dir=out_dir, **arguments)


def _corrupt(in_dir: Path, out_dir: Path, **settings) -> None:
    from ..jobs.corrupt import CorruptJob, corrupt_options

    run_settings = {name: settings.pop(name) for name in RUN_SETTINGS}
    reader = _reader(in_dir, settings, run_settings)
    say = None if run_settings["quiet"] else (lambda text: click.echo(f"ipmix: {text}", err=True))
    try:
        options = corrupt_options(in_dir, settings, say)
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    _run_image_job(CorruptJob(reader, options), in_dir, out_dir, **run_settings)
