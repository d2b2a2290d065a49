"""Click option groups shared by the commands (``augment``, ``corrupt``, ``preview``), and ``--help`` in groups.

Each option knows its group (input, augmentation or corruption, output, run); :class:`GroupedCommand` lists
them group by group, then the command's examples.
"""

from __future__ import annotations

import functools

import click

from ..engine.config import PRESETS, ConfigError
from ..engine.methods import METHOD_NAMES, check_settings
from ..engine.mixing import OVERFLOW_MODES
from ..engine.ops import ALL_OPS

#: The order of the groups in ``--help``.
GROUP_ORDER = ("Input", "Augmentation", "Corruption", "Output", "Run", "Other")


class GroupedOption(click.Option):
    """An option that says which group of ``--help`` it belongs to."""

    def __init__(self, *arguments, group: str = "Other", **keywords):
        super().__init__(*arguments, **keywords)
        self.group = group


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options by group, then ``examples`` (lines of ``command  # why``)."""

    def __init__(self, *arguments, examples: list[str] | None = None, **keywords):
        super().__init__(*arguments, **keywords)
        self.examples = examples or []

    def format_options(self, context: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list] = {}
        for parameter in self.get_params(context):
            if not isinstance(parameter, click.Option):
                continue
            record = parameter.get_help_record(context)
            if record is not None:
                groups.setdefault(getattr(parameter, "group", "Other"), []).append(record)
        for group in sorted(groups, key=lambda name: GROUP_ORDER.index(name) if name in GROUP_ORDER else 99):
            with formatter.section(f"{group} options"):
                formatter.write_dl(groups[group])

    def format_epilog(self, context: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(context, formatter)
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:
                    command, _, why = line.partition("  # ")
                    if why:
                        formatter.write_text(f"{why[0].upper()}{why[1:]}:")
                    with formatter.indentation():
                        formatter.write_text(command)


def grouped(group: str):
    """``click.option`` for an option of ``group`` in ``--help``."""
    return functools.partial(click.option, cls=GroupedOption, group=group)


def _comma_list(kind):
    def convert(context, parameter, value):
        if value is None:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise click.BadParameter("give a comma-separated list")
        return tuple(kind(context, parameter, item) for item in items)

    return convert


def _op_name(context, parameter, item: str) -> str:
    if item not in ALL_OPS:
        raise click.BadParameter(f"unknown operation {item!r}; valid operations: {', '.join(ALL_OPS)}")
    return item


def _patch_size(context, parameter, item: str) -> int:
    try:
        size = int(item)
    except ValueError:
        raise click.BadParameter(f"{item!r} is not a whole number of pixels") from None
    if size < 2:
        raise click.BadParameter(f"patch sizes must be at least 2 pixels, got {size}")
    return size


def _background(context, parameter, value: str) -> tuple[int, int, int]:
    from PIL import ImageColor

    text = value.strip()
    try:
        if "," in text and not text.startswith("rgb"):
            parts = tuple(int(p) for p in text.split(","))
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise ValueError
            return parts  # type: ignore[return-value]
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a colour; use a name (white), #rrggbb or r,g,b") from None


def _crop(context, parameter, value: str | None):
    if value is None:
        return None
    text = value.lower().replace("×", "x")
    try:
        parts = [int(p) for p in text.split("x")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not W or WxH in pixels") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 2:
        raise click.BadParameter(f"{value!r}: give W or WxH, each at least 2 pixels")
    return parts[0], parts[1]


def engine_options(default_k: int = 4, seed_help: str | None = None):
    """What decides the pixels of each copy: K, seed, method, mixing set, engine settings (SPEC §1.6) and
    reading. Settings that do not apply to the chosen method are a usage error that names both."""
    options = [
        grouped("Output")(
            "--k",
            "-k",
            "k",
            type=click.IntRange(min=1),
            default=default_k,
            show_default=True,
            help="Augmented copies per input.",
        ),
        grouped("Run")(
            "--seed",
            type=click.IntRange(min=0),
            default=None,
            help=seed_help or "Global seed. Default: drawn and recorded (a resumed run reuses the recorded one).",
        ),
        grouped("Augmentation")(
            "--method",
            type=click.Choice(METHOD_NAMES),
            default="ipmix",
            show_default=True,
            help="Augmentation method: IPMix, AugMix (no mixing pictures) or PixMix.",
        ),
        grouped("Augmentation")(
            "--mixing-set",
            type=click.Path(exists=True, file_okay=False),
            default=None,
            help="ipmix, pixmix: folder of mixing pictures (e.g. from `ipmix fractals build`). Default: built-in "
            "fractals.",
        ),
        grouped("Augmentation")(
            "--preset",
            type=click.Choice(PRESETS),
            default="auto",
            show_default=True,
            help="cifar or imagenet reference settings; auto picks cifar when the shorter side ≤ 64.",
        ),
        grouped("Augmentation")(
            "--chains",
            type=click.IntRange(1, 64),
            default=None,
            help="ipmix, augmix: chains per image (IPMix's k, AugMix's width). [3]",
        ),
        grouped("Augmentation")(
            "--depth",
            type=click.IntRange(0, 64),
            default=None,
            help="ipmix: maximum steps per chain, drawn from 0…depth (paper's t) [3]; augmix: steps per chain "
            "[drawn from 1…3].",
        ),
        grouped("Augmentation")(
            "--beta",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="ipmix, pixmix: mixing coefficient parameter. [cifar 3, imagenet 4]",
        ),
        grouped("Augmentation")(
            "--alpha",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="augmix: Dirichlet and Beta parameter of the chain and skip weights. [1]",
        ),
        grouped("Augmentation")(
            "--rounds",
            type=click.IntRange(0, 64),
            default=None,
            help="pixmix: maximum mixing rounds, drawn from 0…rounds (PixMix's k). [4]",
        ),
        grouped("Augmentation")(
            "--severity",
            type=click.IntRange(1, 10),
            default=None,
            help="Image operation strength. [cifar 3, imagenet 1]",
        ),
        grouped("Augmentation")(
            "--all-ops",
            is_flag=True,
            help="Use all image operations: IPMix's fifteen, AugMix's and PixMix's thirteen (adds those that "
            "overlap ImageNet-C).",
        ),
        grouped("Augmentation")(
            "--ops",
            callback=_comma_list(_op_name),
            default=None,
            help="Comma-separated image operations to draw from, e.g. to drop mirror where it changes the label.",
        ),
        grouped("Augmentation")(
            "--patch-sizes",
            callback=_comma_list(_patch_size),
            default=None,
            help="ipmix: absolute patch sizes in pixels, e.g. 4,8,16 (default: the preset's, scaled to the image).",
        ),
        grouped("Augmentation")(
            "--overflow",
            type=click.Choice(OVERFLOW_MODES),
            default=None,
            help="ipmix: how add/multiply results leave [0, 1]: wrap (the reference's byte cast) or clip. [wrap]",
        ),
        grouped("Input")(
            "--background",
            callback=_background,
            default="white",
            show_default=True,
            help="Colour that transparent pixels are composited onto.",
        ),
        grouped("Input")(
            "--resize",
            type=click.IntRange(min=2),
            default=None,
            help="Before augmenting, scale so the shorter side is this many pixels (antialiased).",
        ),
        grouped("Input")(
            "--crop",
            callback=_crop,
            default=None,
            help="Before augmenting (after --resize), take the centred W or WxH window.",
        ),
    ]

    return lambda function: _apply(options, _checked_for_method(function))


def _checked_for_method(function):
    """``function`` behind a check that the engine settings given apply to the chosen ``--method``."""

    @functools.wraps(function)
    def checked(**settings):
        try:
            check_settings(settings)
        except ConfigError as error:
            raise click.UsageError(str(error)) from error
        return function(**settings)

    return checked


def _image_format(context, parameter, value: str | None) -> str | None:
    return "jpeg" if value == "jpg" else value


def output_options(function):
    """How ``augment`` writes: the dataset layout, the image format and quality, the clean original, the trace."""
    options = [
        grouped("Output")(
            "--output-format",
            "writer",
            type=click.Choice(["files", "webdataset", "parquet"]),
            default="files",
            show_default=True,
            help="How outputs are stored: one image file per copy mirroring IN, WebDataset tar shards, or "
            "Parquet shards with a Hugging Face Image column.",
        ),
        grouped("Output")(
            "--samples-per-shard",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="With --output-format webdataset or parquet: copies per shard (inputs are never split).",
        ),
        grouped("Output")(
            "--format",
            "image_format",
            type=click.Choice(["auto", "png", "jpeg", "jpg", "webp"]),
            callback=_image_format,
            default="auto",
            show_default=True,
            help="Image format of the copies. auto: JPEG (quality 95) for JPEG inputs, PNG for all others.",
        ),
        grouped("Output")("--quality", type=click.IntRange(1, 100), default=None, help="JPEG/WebP quality. [95]"),
        grouped("Output")(
            "--keep-original",
            is_flag=True,
            help="Also write the clean image (<stem>_original.<ext>), e.g. for a consistency loss.",
        ),
        grouped("Output")("--trace", is_flag=True, help="Record every sampled step in the manifest's 'trace' field."),
    ]
    return _apply(options, function)


def input_options(function):
    """How ``augment`` reads IN: a folder of images, WebDataset shards or Parquet files, and where in a sample or
    row the image, label and seed key are."""
    options = [
        grouped("Input")(
            "--input-format",
            type=click.Choice(["auto", "folder", "webdataset", "parquet"]),
            default="auto",
            show_default=True,
            help="What IN holds: image files, WebDataset .tar shards, or Parquet files with an image column. "
            "auto: decided by the files' extensions.",
        ),
        grouped("Input")(
            "--labels",
            type=click.Choice(["auto", "folder", "split-folder", "none"]),
            default="auto",
            show_default=True,
            help="Folders of images: where labels come from. folder: the first-level folder is the label; "
            "split-folder: it is the split (train, validation, test) and the folder below is the label; none: no "
            "labels. auto: split-folder when every first-level folder is a split name, else folder.",
        ),
        grouped("Input")(
            "--image-key",
            metavar="FIELD",
            default=None,
            help="WebDataset: the member holding the image, by its name after the key (jpg, seg.png). "
            "Default: the first member with an image extension.",
        ),
        grouped("Input")(
            "--label-field",
            metavar="NAME",
            default=None,
            help="WebDataset: take the label from this field of the sample's .json member (default: the .cls member).",
        ),
        grouped("Input")(
            "--key-field",
            metavar="NAME",
            default=None,
            help="WebDataset: take the seed key from this field of the .json member (e.g. source, to reproduce "
            "the copies of the images a shard was made from). Default: <shard>/<sample key>.",
        ),
        grouped("Input")(
            "--image-column",
            metavar="NAME",
            default="image",
            show_default=True,
            help="Parquet: the column holding images (Hugging Face Image structs or raw bytes).",
        ),
        grouped("Input")(
            "--label-column",
            metavar="NAME",
            default=None,
            help="Parquet: the column holding labels (class names or numbers). Default: 'label' where present.",
        ),
        grouped("Input")(
            "--key-column",
            metavar="NAME",
            default=None,
            help="Parquet: take the seed key from this column. Default: <file>/<row number>.",
        ),
    ]
    return _apply(options, function)


def _apply(options: list, function):
    """Decorate ``function`` with ``options``, listed in the order --help shows them."""
    for option in reversed(options):
        function = option(function)
    return function


def _shard(context, parameter, value: str | None):
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not I/N, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise click.BadParameter(f"{value!r}: need 0 <= I < N")
    return index, count


def run_options(function):
    """How a job over IN runs: lists of inputs, workers and backends, job shards, what OUT may hold, printing."""
    options = [
        grouped("Input")(
            "--files-from",
            type=click.Path(allow_dash=True),  # opened and read as a stream by the reader (readers/folder.py)
            default=None,
            help="Read the inputs from this list (one path per line, relative to IN; '-' for stdin).",
        ),
        grouped("Input")(
            "--null",
            "-0",
            "null_separated",
            is_flag=True,
            help="With --files-from: entries end with NUL bytes (find -print0), so names may hold newlines.",
        ),
        grouped("Run")(
            "--jobs",
            "-j",
            type=click.IntRange(min=1),
            default=None,
            help="Worker processes (default: all cores; small runs use none). Results do not depend on it.",
        ),
        grouped("Run")(
            "--backend",
            type=click.Choice(["loky", "threading", "dask", "ray"]),
            default="loky",
            show_default=True,
            help="Where work runs: local processes (loky), threads, a dask cluster or ray (extras: "
            "pip install 'ipmix[dask]' / 'ipmix[ray]'; workers need OUT and IN on a shared filesystem).",
        ),
        grouped("Run")(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="With --backend dask: the scheduler (default: $DASK_SCHEDULER_ADDRESS, else a local cluster of "
            "--jobs workers).",
        ),
        grouped("Run")(
            "--ray-address",
            default=None,
            metavar="ADDRESS",
            help="With --backend ray: the cluster to join (default: start ray locally with --jobs CPUs).",
        ),
        grouped("Run")(
            "--shard",
            callback=_shard,
            default=None,
            metavar="I/N",
            help="Do only shard I of N (split by the inputs' path digests), e.g. one task of a SLURM array; "
            "then run `ipmix merge OUT`. Needs --seed.",
        ),
        grouped("Run")(
            "--print",
            "print_mode",
            type=click.Choice(["paths", "jsonl"]),
            default=None,
            help="Print each written file's path, or its manifest record, on stdout as it is written.",
        ),
        grouped("Run")("--overwrite", is_flag=True, help="Replace an earlier run in OUT made with other settings."),
        grouped("Run")(
            "--prune",
            is_flag=True,
            help="Remove the outputs of inputs no longer in IN (without it they are kept, listed and counted).",
        ),
        grouped("Run")(
            "--dry-run",
            is_flag=True,
            help="Say what would be done (inputs per split and class, already done, outputs to write, their "
            "estimated size) and write nothing.",
        ),
        grouped("Run")("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr."),
    ]
    return _apply(options, function)
