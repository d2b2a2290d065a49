"""Where the ledger keeps its files in OUT (a whole run, or shard ``I/N`` of one).

Private files, for every output format, lie at OUT's top and start with ``.ipmix``: no reader of image folders,
Parquet or WebDataset datasets looks at hidden files, and torchvision's ``ImageFolder`` takes only folders.

- ``.ipmix.lock`` (and the shard and setup locks, ``disk.lock``): one run writes OUT at a time.
- ``.ipmix-state.jsonl``: every unit the runs made (``records.UnitRecord``), sorted by unit name.
- ``.ipmix-journal.w-<process>.jsonl``: units appended by each worker as it finishes them; the next fold
  moves them into the state.
- ``.ipmix-plan.shard-I-of-N.jsonl``: the inputs a job shard planned (for ``ipmix merge``).

Public files: the manifest ``metadata.jsonl`` (and the WebDataset format's ``metadata.parquet``) and the run
record ``ipmix_run.json`` (``ipmix_fractals.json`` for a mixing set). For the ``files`` format they lie at
OUT's top, where Hugging Face's ``imagefolder`` reads ``metadata.jsonl``; with splits, each split folder also
gets the ``metadata.jsonl`` of its own outputs. For the shard formats they lie in ``OUT/.ipmix/``, so that
``datasets.load_dataset("parquet" | "webdataset", data_dir=OUT)`` and ``pyarrow.dataset.dataset(OUT)`` see
only the shards. A job shard ``I/N`` names its files ``….shard-I-of-N.…``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..disk.folder import SafeFolder

HIDDEN_PUBLIC = ".ipmix/"
MANIFEST = "metadata.jsonl"
RUN_RECORD = "ipmix_run.json"
#: Names of Hugging Face ``imagefolder`` metadata: never an output's folder (see ``reserved``).
METADATA_NAMES = ("metadata.jsonl", "metadata.csv", "metadata.parquet")
_SHARD_SUFFIX = re.compile(r"\.shard-(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class Layout:
    """The ledger's file names for one run: ``hidden`` public files (shard formats), job shard ``shard``,
    and the run record's base name (``ipmix_run`` or ``ipmix_fractals``)."""

    hidden: bool = False
    shard: tuple[int, int] | None = None
    record_base: str = "ipmix_run"

    @property
    def suffix(self) -> str:
        return f".shard-{self.shard[0]}-of-{self.shard[1]}" if self.shard else ""

    @property
    def public(self) -> str:
        return HIDDEN_PUBLIC if self.hidden else ""

    @property
    def manifest(self) -> str:
        return f"{self.public}metadata{self.suffix}.jsonl"

    @property
    def parquet_manifest(self) -> str:
        return f"{self.public}metadata{self.suffix}.parquet"

    @property
    def run_record(self) -> str:
        return f"{self.public}{self.record_base}{self.suffix}.json"

    @property
    def state(self) -> str:
        return f".ipmix-state{self.suffix}.jsonl"

    @property
    def journal_prefix(self) -> str:
        """Workers append finished units to journals of their own: ``<prefix><host-pid-token>.jsonl``."""
        return f".ipmix-journal{self.suffix}.w-"

    @property
    def plan(self) -> str:
        return f".ipmix-plan{self.suffix}.jsonl"

    def journals(self, out: SafeFolder) -> list[str]:
        prefix = self.journal_prefix
        return sorted(
            name for name, _ in out.walk(recursive=False) if name.startswith(prefix) and name.endswith(".jsonl")
        )

    def files(self) -> list[str]:
        """Every file of this layout but the journals and split manifests."""
        return [self.manifest, self.parquet_manifest, self.run_record, self.state, self.plan]

    def whole(self) -> Layout:
        return Layout(self.hidden, None, self.record_base)

    def of_shard(self, shard: tuple[int, int]) -> Layout:
        return Layout(self.hidden, shard, self.record_base)


def layouts_in(out: SafeFolder, record_base: str = "ipmix_run") -> list[Layout]:
    """Every layout that left a run record or a state in OUT (a whole run and any shards, in either place for
    public files)."""
    found: set[Layout] = set()
    listed = [name for name, _ in out.walk(recursive=False)]
    try:
        listed += [HIDDEN_PUBLIC + name for name, _ in SafeFolder(out.path / HIDDEN_PUBLIC).walk(recursive=False)]
    except OSError:
        pass
    patterns = (
        (f"{record_base}", ".json", False),
        (f"{HIDDEN_PUBLIC}{record_base}", ".json", True),
        (".ipmix-state", ".jsonl", None),
    )
    for name in listed:
        for prefix, extension, hidden in patterns:
            if not (name.startswith(prefix) and name.endswith(extension)):
                continue
            middle = name[len(prefix) : -len(extension)]
            shard = None
            if middle:
                match = _SHARD_SUFFIX.match(middle)
                if not match:
                    continue
                index, count = int(match.group(1)), int(match.group(2))
                if not 0 <= index < count:
                    continue
                shard = (index, count)
            if hidden is None:  # a state or journal: public files wherever the run record is
                hidden = out.is_file(Layout(True, shard, record_base).run_record)
            found.add(Layout(hidden, shard, record_base))
    return sorted(found, key=lambda layout: (layout.shard or (-1, -1), layout.hidden))


#: The public names a layout gives its files at OUT's top (manifests and run records, whole or of a shard).
_PUBLIC_NAME = re.compile(
    r"^(metadata(\.shard-\d+-of-\d+)?\.(jsonl|csv|parquet)|(ipmix_run|ipmix_fractals)(\.shard-\d+-of-\d+)?\.json)$"
)


def is_public_name(name: str) -> bool:
    """Whether ``name`` (one path component) is named like a manifest or run record ipmix writes at OUT's top
    (or a split manifest in a split's folder)."""
    return bool(_PUBLIC_NAME.match(name))


def reserved(name: str, split_level: bool) -> str | None:
    """Why an output name would collide with one of ipmix's files (None when it cannot): its first folder (or,
    below a split folder, its second) is named like a manifest or run record, or a part of it starts with
    ``.ipmix`` (ipmix's private files and temporaries, which it removes)."""
    parts = name.split("/")
    folders = parts[:-1]
    for part in folders[:2] if split_level else folders[:1]:
        if is_public_name(part) or part in METADATA_NAMES:
            return f"its folder {part!r} has the name of a file ipmix writes in OUT"
    for part in parts:
        if part.startswith(".ipmix"):
            return f"{part!r} starts with .ipmix, which ipmix keeps for its own files in OUT"
    return None
