"""Click option groups shared by the commands that augment (``augment`` and ``preview``)."""

from __future__ import annotations

import functools

import click

from ..engine.config import PRESETS, ConfigError
from ..engine.methods import METHOD_NAMES, check_settings
from ..engine.mixing import OVERFLOW_MODES
from ..engine.ops import ALL_OPS


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
        click.option(
            "--k",
            "k",
            type=click.IntRange(min=1),
            default=default_k,
            show_default=True,
            help="Augmented copies per input.",
        ),
        click.option(
            "--seed",
            type=click.IntRange(min=0),
            default=None,
            help=seed_help or "Global seed. Default: drawn and recorded (a resumed run reuses the recorded one).",
        ),
        click.option(
            "--method",
            type=click.Choice(METHOD_NAMES),
            default="ipmix",
            show_default=True,
            help="Augmentation method: IPMix, AugMix (no mixing pictures) or PixMix.",
        ),
        click.option(
            "--mixing-set",
            type=click.Path(exists=True, file_okay=False),
            default=None,
            help="ipmix, pixmix: folder of mixing pictures (e.g. from `ipmix fractals build`). Default: built-in "
            "fractals.",
        ),
        click.option(
            "--preset",
            type=click.Choice(PRESETS),
            default="auto",
            show_default=True,
            help="cifar or imagenet reference settings; auto picks cifar when the shorter side ≤ 64.",
        ),
        click.option(
            "--chains",
            type=click.IntRange(1, 64),
            default=None,
            help="ipmix, augmix: chains per image (IPMix's k, AugMix's width). [3]",
        ),
        click.option(
            "--depth",
            type=click.IntRange(0, 64),
            default=None,
            help="ipmix: maximum steps per chain, drawn from 0…depth (paper's t) [3]; augmix: steps per chain "
            "[drawn from 1…3].",
        ),
        click.option(
            "--beta",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="ipmix, pixmix: mixing coefficient parameter. [cifar 3, imagenet 4]",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="augmix: Dirichlet and Beta parameter of the chain and skip weights. [1]",
        ),
        click.option(
            "--rounds",
            type=click.IntRange(0, 64),
            default=None,
            help="pixmix: maximum mixing rounds, drawn from 0…rounds (PixMix's k). [4]",
        ),
        click.option(
            "--severity",
            type=click.IntRange(1, 10),
            default=None,
            help="Image operation strength. [cifar 3, imagenet 1]",
        ),
        click.option(
            "--all-ops",
            is_flag=True,
            help="Use all image operations: IPMix's fifteen, AugMix's and PixMix's thirteen (adds those that "
            "overlap ImageNet-C).",
        ),
        click.option(
            "--ops",
            callback=_comma_list(_op_name),
            default=None,
            help="Comma-separated image operations to draw from, e.g. to drop mirror where it changes the label.",
        ),
        click.option(
            "--patch-sizes",
            callback=_comma_list(_patch_size),
            default=None,
            help="ipmix: absolute patch sizes in pixels, e.g. 4,8,16 (default: the preset's, scaled to the image).",
        ),
        click.option(
            "--overflow",
            type=click.Choice(OVERFLOW_MODES),
            default=None,
            help="ipmix: how add/multiply results leave [0, 1]: wrap (the reference's byte cast) or clip. [wrap]",
        ),
        click.option(
            "--background",
            callback=_background,
            default="white",
            show_default=True,
            help="Colour that transparent pixels are composited onto.",
        ),
        click.option(
            "--resize",
            type=click.IntRange(min=2),
            default=None,
            help="Before augmenting, scale so the shorter side is this many pixels (antialiased).",
        ),
        click.option(
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
        click.option(
            "--output-format",
            "writer",
            type=click.Choice(["files", "webdataset", "parquet"]),
            default="files",
            show_default=True,
            help="How outputs are stored: one image file per copy mirroring IN, WebDataset tar shards, or "
            "Parquet shards with a Hugging Face Image column.",
        ),
        click.option(
            "--samples-per-shard",
            type=click.IntRange(min=1),
            default=1000,
            show_default=True,
            help="With --output-format webdataset or parquet: copies per shard (inputs are never split).",
        ),
        click.option(
            "--format",
            "image_format",
            type=click.Choice(["auto", "png", "jpeg", "jpg", "webp"]),
            callback=_image_format,
            default="auto",
            show_default=True,
            help="Image format of the copies. auto: JPEG (quality 95) for JPEG inputs, PNG for all others.",
        ),
        click.option("--quality", type=click.IntRange(1, 100), default=None, help="JPEG/WebP quality. [95]"),
        click.option(
            "--keep-original",
            is_flag=True,
            help="Also write the clean image (<stem>_original.<ext>), e.g. for a consistency loss.",
        ),
        click.option("--trace", is_flag=True, help="Record every sampled step in the manifest's 'trace' field."),
    ]
    return _apply(options, function)


def input_options(function):
    """How ``augment`` reads IN: a folder of images, WebDataset shards or Parquet files, and where in a sample or
    row the image, label and seed key are."""
    options = [
        click.option(
            "--input-format",
            type=click.Choice(["auto", "folder", "webdataset", "parquet"]),
            default="auto",
            show_default=True,
            help="What IN holds: image files, WebDataset .tar shards, or Parquet files with an image column. "
            "auto: decided by the files' extensions.",
        ),
        click.option(
            "--labels",
            type=click.Choice(["auto", "folder", "split-folder", "none"]),
            default="auto",
            show_default=True,
            help="Folders of images: where labels come from. folder: the first-level folder is the label; "
            "split-folder: it is the split (train, validation, test) and the folder below is the label; none: no "
            "labels. auto: split-folder when every first-level folder is a split name, else folder.",
        ),
        click.option(
            "--image-key",
            metavar="FIELD",
            default=None,
            help="WebDataset: the member holding the image, by its name after the key (jpg, seg.png). "
            "Default: the first member with an image extension.",
        ),
        click.option(
            "--label-field",
            metavar="NAME",
            default=None,
            help="WebDataset: take the label from this field of the sample's .json member (default: the .cls member).",
        ),
        click.option(
            "--key-field",
            metavar="NAME",
            default=None,
            help="WebDataset: take the seed key from this field of the .json member (e.g. source, to reproduce "
            "the copies of the images a shard was made from). Default: <shard>/<sample key>.",
        ),
        click.option(
            "--image-column",
            metavar="NAME",
            default="image",
            show_default=True,
            help="Parquet: the column holding images (Hugging Face Image structs or raw bytes).",
        ),
        click.option(
            "--label-column",
            metavar="NAME",
            default=None,
            help="Parquet: the column holding labels (class names or numbers). Default: 'label' where present.",
        ),
        click.option(
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
