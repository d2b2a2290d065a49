"""The ``ipmix`` command: a thin click layer over the library (no pixels are touched here)."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import click

from .. import __version__
from ..errors import RunFault, UsageError
from ..mixsets.fractals import KINDS
from ..mixsets.record import MAX_SIZE, MIN_SIZE
from ..seeding import fresh_seed
from .options import GroupedCommand, engine_options, input_options, output_options, run_options


def default_jobs() -> int:
    from ..runner.backends import usable_cores

    return usable_cores()


#: A preview draws its copies in one row; more than this is a mistake (10**12 would exhaust memory).
PREVIEW_MAX_K = 256
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


#: Standard streams (0, 1, 2) that were closed when ipmix started (``2>&-``, some schedulers and daemons).
CLOSED_AT_START: set[int] = set()


def _reopen_closed_standard_streams() -> set[int]:
    """Point closed standard descriptors at /dev/null: otherwise the next file ipmix opens (an output!) would
    get number 1 or 2 and receive whatever a library prints, and Python has set ``sys.stderr`` to None, which
    breaks progress output and starting worker processes. Returns the ones that were closed."""
    closed = set()
    for number in (0, 1, 2):
        try:
            os.fstat(number)
        except OSError:
            closed.add(number)
    for number in sorted(closed):
        opened = os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one, as the lower ones are open
        if opened != number:
            os.dup2(opened, number)
            os.close(opened)
        os.set_inheritable(number, True)  # os.open makes descriptors close on exec: workers need it too
    if sys.stdout is None:
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
    if sys.stderr is sys.__stderr__ or 2 in closed:
        sys.stderr = _Unfailing(sys.stderr)
    return closed


class _Unfailing:
    """stderr whose write errors are dropped: messages and progress are all that go there, and when it cannot
    be written (a log on a full disk, ``2>/dev/full``) there is nowhere to say so; the run's status must not
    change because of it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class _Commands(click.Group):
    """Ctrl-C in any command ends with one line and status 130, not click's "Aborted!" and status 1 (which
    means "some inputs failed" here); commands that leave work to resume say so themselves first."""

    def invoke(self, ctx: click.Context):
        CLOSED_AT_START.update(_reopen_closed_standard_streams())
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("ipmix: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Commands, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="ipmix")
def main() -> None:
    """ipmix: IPMix augmentation (NeurIPS 2023) as a reproducible dataset generator.

    \b
    Write K augmented copies of every image in a folder, with a manifest:
        ipmix augment in/ out/ --k 4 --seed 0
    Build a mixing set of procedural fractals instead of downloading one:
        ipmix fractals build mixing/ --count 1000
    See what it does, as a contact sheet or one copy taken apart:
        ipmix preview in/ --k 8 -o sheet.png
        ipmix preview --explain in/cats/a.jpg --root in/ --copy 0 -o explain.png
    Split a large job (e.g. a SLURM array), then combine:
        ipmix augment in/ out/ --seed 0 --shard 3/16  …  ipmix merge out/

    Run `ipmix COMMAND --help` for every option.
    """


def jobs_option(function):
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes (default: all cores). Results do not depend on it.",
    )(function)


def quiet_option(function):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")(function)


def _defaulted(context: click.Context, name: str) -> bool:
    """Whether option ``name`` kept its default (the user did not pass it)."""
    source = context.get_parameter_source(name)
    return source is None or source == click.core.ParameterSource.DEFAULT


def _fail(header: str, lines: list[str], where: str = "", shown: int = 20) -> None:
    """Say what went wrong on stderr (the first ``shown`` lines) and exit with status 1."""
    from ..items import one_line

    click.echo(header, err=True)
    for line in lines[:shown]:
        click.echo(f"  {one_line(line)}", err=True)
    if len(lines) > shown:
        click.echo(f"  … and {len(lines) - shown} more{', ' + where if where else ''}", err=True)
    sys.exit(1)


@main.group(context_settings=CONTEXT)
def fractals() -> None:
    """Procedural mixing pictures: IFS fractals, dead leaves, spectral noise."""


@fractals.command("build", context_settings=CONTEXT)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", "-n", type=click.IntRange(min=1), default=1000, show_default=True, help="Number of pictures.")
@click.option(
    "--size",
    "-s",
    type=click.IntRange(MIN_SIZE, MAX_SIZE),
    default=256,
    show_default=True,
    help="Side of the square pictures, in pixels.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=None,
    help="Global seed; picture i depends only on (seed, i). Default: the one recorded in OUT, else drawn and recorded.",
)
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="ifs",
    show_default=True,
    help="ifs fractals, dead_leaves, spectral (1/f) noise, or mixed (one of the three per picture).",
)
@jobs_option
@click.option(
    "--overwrite", is_flag=True, help="Replace a set built in OUT with other settings, or shrink it to --count."
)
@quiet_option
def fractals_build(
    out: Path, count: int, size: int, seed: int | None, kind: str, jobs: int | None, overwrite: bool, quiet: bool
) -> None:
    """Build a mixing set in OUT: numbered PNGs plus metadata.jsonl and ipmix_fractals.json.

    Re-running the same command finishes an interrupted build with the same bytes and re-makes any picture
    that is missing or differs from its recorded digest; without --seed it reuses the seed recorded in OUT.
    A larger --count adds pictures and keeps the others; a smaller one needs --overwrite. Exit status: 0
    done, 1 the build stopped (e.g. disk full), 2 usage error, 130 interrupted.
    """
    from ..jobs.fractals import BuildConfig, build_set
    from ..runner.schedule import Interrupted

    try:
        config = BuildConfig(count=count, size=size, seed=fresh_seed() if seed is None else seed, kind=kind)
        summary = build_set(
            out,
            config,
            jobs=jobs or default_jobs(),
            overwrite=overwrite,
            show_progress=not quiet,
            recorded_seed=seed is None,  # read under the folder's lock: two unseeded builds cannot race
            command=["ipmix", *sys.argv[1:]],
        )
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    except (KeyboardInterrupt, Interrupted) as stop:
        click.echo(f"ipmix: interrupted; re-run the same command to resume the build in {out}", err=True)
        sys.exit(getattr(stop, "status", 130))
    except RunFault as error:
        click.echo(f"ipmix: the build stopped: {error}", err=True)
        sys.exit(1)
    except OSError as error:
        from ..disk.folder import FolderError, describe_os_error

        where = error.filename if isinstance(error.filename, str) else str(out)
        reason = error.strerror if isinstance(error, FolderError) else describe_os_error(error, where)
        click.echo(f"ipmix: the build stopped: {reason}", err=True)
        sys.exit(1)
    if not quiet:
        recorded = ", as recorded" if summary.seed_recorded else ""
        what = f"{count} {kind} pictures of {size}×{size} (seed {summary.config.seed}{recorded})"
        click.echo(f"{out}: {what}; {_build_counts(summary)}", err=True)
    if summary.strays:
        shown = ", ".join(summary.strays[:3]) + (" …" if len(summary.strays) > 3 else "")
        click.echo(
            f"ipmix: note: {out} also holds image files this build did not make ({shown}); "
            "--mixing-set refuses the folder until they are moved out",
            err=True,
        )


def _build_counts(summary) -> str:
    counts = [f"made {summary.made}", f"kept {summary.kept}"]
    counts += [f"repaired {summary.repaired} (missing or damaged)"] if summary.repaired else []
    counts += [f"removed {summary.removed}"] if summary.removed else []
    return ", ".join(counts)


AUGMENT_EXAMPLES = [
    "ipmix augment in/ out/ --k 4 --seed 0  # 4 IPMix copies of every image, a manifest, a run record",
    "ipmix augment in/ out/ --method augmix --keep-original -k 2  # AugMix's clean + 2 copies, for its JSD loss",
    "find in -name '*.jpg' | ipmix augment in/ out/ --files-from - --print paths  # a list in, paths out",
    "ipmix augment in/ out/ --output-format webdataset --dry-run  # what it would do, and how big",
]


@main.command(cls=GroupedCommand, context_settings=CONTEXT, examples=AUGMENT_EXAMPLES)
@click.argument("in_dir", metavar="IN", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", metavar="OUT", type=click.Path(path_type=Path))
@engine_options()
@input_options
@output_options
@run_options
def augment(out_dir: Path, **arguments) -> None:
    """Write K augmented copies (IPMix, or --method) of every image under IN to OUT, with a manifest.

    Outputs mirror IN's layout: OUT/<dir>/<stem>_ipmix<j>.<ext>, plus OUT/metadata.jsonl (one record
    per file, loadable with Hugging Face datasets' "imagefolder") and OUT/ipmix_run.json (settings,
    seed, mixing set, counts, failures, timings). Every byte depends only on the seed, the input's
    path and the copy index: not on --jobs, order or interruptions. Re-running the same command
    resumes an interrupted run, redoes inputs that changed, and raising --k adds copies. Exit status:
    0 all written, 1 some inputs failed or the run stopped (e.g. disk full), 2 usage error, 130 interrupted.
    """
    _interruptible(_augment, out_dir=out_dir, **arguments)


def _interruptible(body, **arguments) -> None:
    """``body(**arguments)``, a Ctrl-C before the run holds OUT (while IN is scanned or OUT's state is read:
    nothing is half-written) ending with one line and status 130."""
    try:
        body(**arguments)
    except KeyboardInterrupt:
        out = arguments["out_dir"]
        click.echo(f"ipmix: interrupted; re-run the same command to resume into {out}", err=True)
        sys.exit(130)


def _augment(in_dir: Path, out_dir: Path, **settings) -> None:
    """The body of ``augment`` (see there); Ctrl-C is left to it."""
    from ..jobs.augment import AugmentJob
    from ..jobs.augment_setup import resolve_options

    run_settings = {name: settings.pop(name) for name in RUN_SETTINGS}
    reader = _reader(in_dir, settings, run_settings)
    try:
        options, _ = resolve_options(
            in_dir, settings, show_progress=not run_settings["quiet"], dry_run=run_settings["dry_run"]
        )
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    _run_image_job(AugmentJob(reader, options), in_dir, out_dir, **run_settings)


#: The settings of ``run_options`` (how a job runs, not what it makes).
RUN_SETTINGS = (
    "files_from",
    "null_separated",
    "jobs",
    "backend",
    "scheduler",
    "ray_address",
    "shard",
    "print_mode",
    "overwrite",
    "prune",
    "dry_run",
    "quiet",
)


def _reader(in_dir: Path, settings: dict, run: dict):
    """The reader of IN for a job (``settings["input"]`` set to how IN is read), after the checks of the run
    options that need no reading."""
    from ..jobs.augment_setup import reader_for, source_for

    if run["shard"] is not None and settings.get("seed") is None:
        raise click.UsageError("--shard needs an explicit --seed, the same for every shard")
    if run["scheduler"] and run["backend"] != "dask":
        raise click.UsageError("--scheduler applies to --backend dask")
    if run["ray_address"] and run["backend"] != "ray":
        raise click.UsageError("--ray-address applies to --backend ray")
    if run["null_separated"] and run["files_from"] is None:
        raise click.UsageError("--null applies to --files-from")
    if run["print_mode"] and 1 in CLOSED_AT_START:
        raise click.UsageError("standard output is closed; --print needs somewhere to write (e.g. `> paths.txt`)")
    if settings.get("samples_per_shard") != 1000 and settings.get("writer") == "files":
        raise click.UsageError("--samples-per-shard applies to --output-format webdataset or parquet")
    try:
        source = source_for(in_dir, settings)
        reader = reader_for(in_dir, run["files_from"], run["null_separated"], source, settings.get("labels") or "auto")
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    settings["input"] = source.identity()
    return reader


def _run_image_job(
    job,
    in_dir: Path,
    out_dir: Path,
    files_from,
    null_separated: bool,
    jobs: int | None,
    backend: str,
    scheduler: str | None,
    ray_address: str | None,
    shard: tuple[int, int] | None,
    print_mode: str | None,
    overwrite: bool,
    prune: bool,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Run ``job`` from IN into OUT as the CLI does: errors to one line and an exit status, a summary."""
    from ..formats.jsonlines import dumps
    from ..items import name_bytes
    from ..runner.backends import BackendSpec
    from ..runner.engine import Request, run
    from ..runner.schedule import Interrupted

    if dry_run:
        _dry_run(job, in_dir, out_dir, shard)
        return

    def emit(record: dict) -> None:
        """One line on stdout, as bytes: names in UTF-8 (or their own bytes) whatever the locale."""
        if print_mode == "paths":
            name = record["file_name"] if "shard" not in record else f"{record['shard']}/{record['file_name']}"
            line = os.path.join(os.fsencode(str(out_dir)), name_bytes(name)) + b"\n"
        else:
            line = (dumps(record) + "\n").encode("utf-8", "backslashreplace")
        sys.stdout.flush()
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()

    request = Request(
        out=out_dir,
        backend=BackendSpec(backend, jobs or default_jobs(), scheduler, ray_address, explicit=jobs is not None),
        overwrite=overwrite,
        prune=prune,
        shard=shard,
        show_progress=not quiet,
        on_record=emit if print_mode else None,
        command=["ipmix", *sys.argv[1:]],
        inputs_folder=in_dir,
    )
    try:
        summary = run(job, request)
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    except RunFault as error:
        if print_mode:
            _silence_stdout()  # it may be what failed: flushing it again at exit must not print a second error
        click.echo(f"ipmix: the run stopped: {error}", err=True)
        click.echo(f"ipmix: finished work is recorded; re-run the same command to resume into {out_dir}", err=True)
        sys.exit(1)
    except Interrupted as stop:
        if stop.status == 141:
            _silence_stdout()
            if not quiet:
                click.echo(f"ipmix: stopped: {stop}; re-run the same command to resume into {out_dir}", err=True)
        else:
            click.echo(f"ipmix: {stop}; re-run the same command to resume into {out_dir}", err=True)
        sys.exit(stop.status)
    if not quiet:
        _summarise(summary, out_dir, shard)
    if summary.failures:
        where = "ipmix_run.json" if summary.job.output_format == "files" else ".ipmix/ipmix_run.json"
        _fail(
            f"ipmix: {len(summary.failures)} input(s) failed and were skipped:",
            [f"{failure['source']}: {failure['error']}" for failure in summary.failures],
            f"listed in {out_dir}/{where}",
        )


def _dry_run(job, in_dir: Path, out_dir: Path, shard) -> None:
    """``--dry-run``: the report of ``runner.dry_run`` on stderr."""
    from ..runner.dry_run import dry_run

    try:
        report = dry_run(job, out_dir, shard)
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    say = functools.partial(click.echo, err=True)
    say(f"ipmix: dry run: nothing is written. {report.inputs} inputs under {in_dir}")
    if report.failures:
        say(f"  {report.failures} entries that cannot be inputs (a real run lists them as failures)")
    splits = {split for split, _ in report.groups}
    for (split, label), count in sorted(report.groups.items(), key=lambda pair: (str(pair[0][0]), str(pair[0][1]))):
        where = " / ".join(str(part) for part in (split if splits != {None} else None, label) if part is not None)
        say(f"  {where or '(no label)'}: {count}")
    say(f"  already done in {out_dir}: {report.already_done}")
    if report.changed:
        say(f"  changed since their outputs were made (made again): {report.changed}")
    if report.vanished:
        say(f"  no longer in IN (outputs kept unless --prune): {report.vanished}")
    size = ""
    if report.bytes_per_output is not None:
        total = report.bytes_per_output * report.outputs
        each = _human(report.bytes_per_output)
        size = f", about {_human(total)} (from {report.sampled} inputs sampled: {each} an output)"
    say(f"  to make: {report.to_make} inputs → {report.outputs} outputs{size}")
    if report.refusal:
        say(f"ipmix: a real run would refuse: {report.refusal}")


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _summarise(summary, out_dir: Path, shard) -> None:
    job = summary.job
    seed = job.seed
    news = []
    if summary.changed:
        news.append(f"{summary.changed} input(s) changed since their outputs were made: made again")
    if summary.vanished:
        if summary.pruned:
            news.append(
                f"{summary.vanished} input(s) no longer in IN: their {summary.pruned} outputs removed (--prune)"
            )
        else:
            news.append(
                f"{summary.vanished} input(s) no longer in IN: their outputs are kept and listed; --prune removes them"
            )
    if summary.already_done == summary.inputs and not summary.files_written and not summary.failures:
        click.echo(
            f"ipmix: nothing to do: all {summary.inputs} inputs already written in {out_dir} (seed {seed})", err=True
        )
    else:
        done = f", {summary.already_done} already done" if summary.already_done else ""
        if shard:
            done += f", shard {shard[0]}/{shard[1]}: run `ipmix merge {out_dir}` when every shard is done"
        writer = job.output_format
        outputs = "files" if writer == "files" else f"samples in {writer} shards"
        click.echo(
            f"ipmix: {summary.succeeded}/{summary.inputs} inputs → {summary.manifest_records} {outputs} in {out_dir} "
            f"(seed {seed}{done}, {summary.seconds:.1f} s)",
            err=True,
        )
        if writer != "files":
            click.echo(f"ipmix: manifest and run record in {out_dir}/.ipmix/ (hidden from dataset readers)", err=True)
    for line in news:
        click.echo(f"ipmix: {line}", err=True)


def _silence_stdout() -> None:
    """After the reader of stdout went away: point stdout at /dev/null so that flushing it at exit raises no
    BrokenPipeError (Python would print one as it shuts down)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _write_figure(figure, output: Path, inputs: list[Path]) -> None:
    """Write a figure as PNG to ``output`` (``-``: stdout), atomically, never over one of its ``inputs`` and
    never through a link or onto something that is not a regular file (``-o /dev/full`` as root would
    otherwise replace a device)."""
    import io

    from ..disk.atomic import write_bytes_atomic

    buffer = io.BytesIO()
    figure.save(buffer, "PNG")  # whatever the name's extension: the help says PNG
    if str(output) == "-":
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.flush()
        return
    if output.is_symlink() or (output.exists() and not output.is_file()):
        raise click.UsageError(f"-o {output}: not a regular file; give the name of a PNG file to write")
    if output.exists() and any(output.samefile(source) for source in inputs if source.exists()):
        raise click.UsageError(f"-o {output} is one of the inputs; ipmix never writes over an input")
    try:
        write_bytes_atomic(output, buffer.getvalue())
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"{output}: {figure.width}×{figure.height}", err=True)


@main.command(context_settings=CONTEXT)
@click.argument(
    "paths", metavar="IMAGE_OR_FOLDER...", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path)
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write the PNG."
)
@click.option("--explain", is_flag=True, help="Take one copy of one IMAGE apart, step by step.")
@click.option(
    "--corrupt",
    "corrupt_sheet",
    is_flag=True,
    help="Show one IMAGE under each corruption (rows) at each severity (columns), as `ipmix corrupt` makes it.",
)
@click.option(
    "--corruptions",
    default="all",
    show_default=True,
    help="With --corrupt: common, extra, all or names (see `ipmix corrupt --help`).",
)
@click.option("--severities", default="1-5", show_default=True, help="With --corrupt: the severities shown.")
@click.option(
    "--copy", "copy_index", type=click.IntRange(min=0), default=0, show_default=True, help="With --explain: which copy."
)
@click.option(
    "--per-folder",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Images taken from each folder argument (the first ones, sorted).",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The folder input paths are relative to, as IN for `ipmix augment` (their seeds depend on it). "
    "Default: a single folder argument itself, else the folder holding all arguments.",
)
@engine_options(default_k=8, seed_help="Global seed, as for `ipmix augment`.  [default: 0]")
def preview(
    paths: tuple[Path, ...],
    output: Path,
    explain: bool,
    corrupt_sheet: bool,
    corruptions: str,
    severities: str,
    copy_index: int,
    per_folder: int,
    root: Path | None,
    **settings,
) -> None:
    """Draw a contact sheet: one row per input, the original then its K copies.

    Each tile is, pixel for pixel, the PNG `ipmix augment ROOT OUT` writes for that input with the same
    seed and options (the seed defaults to 0 here). With --explain, one copy of one image is taken apart:
    the original, the mixing picture, every chain after each step, the weights and the result. With
    --corrupt, one image under each corruption at each severity.
    """
    from ..imaging.images import UnreadableImage
    from ..jobs.augment_setup import resolve_options
    from ..preview import contact_sheet, explain_copy, preview_inputs

    if settings["seed"] is None:
        settings["seed"] = 0
    settings.update(image_format="png", quality=None, keep_original=False, trace=False, writer="files")
    context = click.get_current_context()
    if settings["k"] > PREVIEW_MAX_K or copy_index >= PREVIEW_MAX_K:
        raise click.UsageError(f"--k and --copy of a preview are below {PREVIEW_MAX_K + 1} (one row of copies)")
    if explain and copy_index >= settings["k"]:
        settings["k"] = copy_index + 1 if _defaulted(context, "k") else settings["k"]
    if not explain and not _defaulted(context, "copy_index"):
        raise click.UsageError("--copy applies to --explain")
    try:
        base, sources = preview_inputs(list(paths), per_folder, root)
        if (explain or corrupt_sheet) and (len(sources) != 1 or len(paths) != 1 or Path(paths[0]).is_dir()):
            raise ValueError(f"--{'explain' if explain else 'corrupt'} takes exactly one IMAGE (a file, not a folder)")
        if explain and corrupt_sheet:
            raise ValueError("--explain and --corrupt are two different figures: choose one")
        if corrupt_sheet:
            figure = _corruption_sheet(base, sources[0], settings, corruptions, severities)
            _write_figure(figure, output, [base / source for source in sources])
            return
        options, mixing = resolve_options(base, settings, show_progress=True)
        if explain:
            if copy_index >= options.k:
                raise ValueError(f"--copy {copy_index} is out of range for --k {options.k} (copies 0–{options.k - 1})")
            figure = explain_copy(base, sources[0], copy_index, options, mixing)
        else:
            figure = contact_sheet(base, sources, options, mixing)
    except UnreadableImage as error:
        raise click.ClickException(f"cannot read an input: {error}") from error
    except (ValueError, UsageError) as error:
        raise click.UsageError(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot read an input: {error.strerror or error}") from error
    _write_figure(figure, output, [base / source for source in sources])


def _corruption_sheet(base: Path, source: str, settings: dict, corruptions: str, severities: str):
    """``preview --corrupt``: the input read as ``ipmix corrupt`` reads it, under each corruption."""
    from ..corruptions import corruption_sheet, parse_severities, select
    from ..jobs.augment import prepare_pixels
    from ..jobs.corrupt import CorruptOptions
    from ..preview import read_input

    options = CorruptOptions(
        seed=settings["seed"],
        preset=settings["preset"],
        background=tuple(settings["background"]),
        resize=settings.get("resize"),
        crop=settings.get("crop"),
    )
    pixels = read_input(base, source, lambda stream: prepare_pixels(stream, options))
    chosen, shown = select(corruptions), parse_severities(severities)
    return corruption_sheet(pixels, chosen, shown, seed=options.seed, key=source, preset=options.preset)


@fractals.command("preview", context_settings=CONTEXT)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write the PNG."
)
@click.option("--count", type=click.IntRange(min=1), default=64, show_default=True, help="Pictures shown.")
@click.option("--columns", type=click.IntRange(min=1), default=8, show_default=True, help="Pictures per row.")
@click.option(
    "--side", type=click.IntRange(min=8, max=1024), default=128, show_default=True, help="Side of each tile, in pixels."
)
def fractals_preview(folder: Path, output: Path, count: int, columns: int, side: int) -> None:
    """Draw a grid of the pictures in a mixing set FOLDER."""
    from ..mixsets.mixing_set import MixingSet, MixingSetError
    from ..preview import mixing_grid

    try:
        grid = mixing_grid(MixingSet.from_folder(folder), count, columns, side)
    except MixingSetError as error:
        raise click.UsageError(str(error)) from error
    _write_figure(grid, output, sorted(p for p in folder.iterdir() if p.is_file()))


@main.command(context_settings=CONTEXT)
@click.argument("out_dir", metavar="OUT", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--replay",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also re-create this many sampled outputs (from their trace, or their seed) and compare their bytes.",
)
@click.option(
    "--in",
    "in_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --replay: where the run's inputs are now (default: the IN the run record names).",
)
@click.option(
    "--mixing-set",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="With --replay: where the run's mixing set is now (default: the one the run record names).",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Which copies --replay samples.")
@quiet_option
def verify(out_dir: Path, replay: int, in_dir: Path | None, mixing_set: Path | None, seed: int, quiet: bool) -> None:
    """Check that OUT is whole: every manifest record's file present with its sha256, no unlisted outputs.

    OUT is what augment, corrupt or fractals build wrote. Reads every byte (stored signatures are not
    trusted). With --replay N, N sampled outputs are made again and compared byte for byte. Exit status:
    0 when everything holds, 1 with the list of problems otherwise.
    """
    from ..jobs.replay import replay_sample
    from ..runner.verify import verify as verify_out

    def replayer(out, records, count, sample_seed, report):
        replay_sample(out, records, count, sample_seed, report, in_dir, mixing_set)

    try:
        report = verify_out(out_dir, replay, replayer, seed)
    except UsageError as error:
        raise click.UsageError(str(error)) from error
    replayed = f", {report.replayed} replayed" if replay else ""
    leftovers = f" ({report.temporaries} leftover temporaries: the next run removes them)" if report.temporaries else ""
    if report.ok:
        if not quiet:
            click.echo(f"ipmix verify: {out_dir}: {report.records} records intact{replayed}{leftovers}", err=True)
        return
    lines = report.problems + [f"{name}: in OUT but not in the manifest" for name in report.unlisted]
    _fail(
        f"ipmix verify: {out_dir}: {len(report.problems)} problem(s), {len(report.unlisted)} unlisted file(s) "
        f"among {report.records} records{replayed}:",
        lines,
        "re-run the augment command to redo damaged or missing outputs",
    )


@main.command(context_settings=CONTEXT)
@click.argument("out_dir", metavar="OUT", type=click.Path(exists=True, file_okay=False, path_type=Path))
def merge(out_dir: Path) -> None:
    """Combine the shards of `ipmix augment --shard I/N` in OUT into one run.

    Checks that every shard finished with the same settings and that every planned output is present
    exactly once with its recorded digest; then writes OUT/metadata.jsonl and OUT/ipmix_run.json as a single
    run would, and removes the shard files. Exit status 1, with what is missing, when the shards are
    incomplete.
    """
    from ..jobs.registry import UnknownRecord, job_of_record
    from ..runner.merge import MergeError, merge_shards

    try:
        summary = merge_shards(out_dir, job_of_record, command=["ipmix", *sys.argv[1:]])
    except MergeError as error:
        _fail(f"ipmix merge: {out_dir} cannot be merged yet:", error.problems)
    except UnknownRecord as error:
        _fail(f"ipmix merge: {out_dir} cannot be merged:", [str(error)])
    if summary.already:
        click.echo(f"ipmix merge: nothing to do: {out_dir} already holds one run ({summary.records} records)", err=True)
        return
    click.echo(
        f"ipmix merge: {summary.shards} shards → {summary.records} records in {out_dir}/{summary.manifest}"
        f"{f', {summary.failures} failed inputs' if summary.failures else ''}",
        err=True,
    )


from . import corrupt as _corrupt  # noqa: E402,F401 - registers ``ipmix corrupt``
