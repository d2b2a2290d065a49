"""Output names: where each output of an input goes, decided before anything is written.

Files: ``<stem>_ipmix<j>.<ext>`` and ``<stem>_original.<ext>`` relative to OUT, where the stem mirrors the
input's place in IN. Copy numbers are zero-padded to the width fixed by the run that created OUT (so raising
``--k`` from 4 to 12 names the new copies ``_ipmix4`` … ``_ipmix11`` and renames nothing).
"""

from __future__ import annotations

from ..items import Item
from .options import AugmentOptions

COPY_TAG = "_ipmix"
ORIGINAL_TAG = "_original"


def output_names(item: Item, options: AugmentOptions) -> list[tuple[int | None, str]]:
    """(copy, file name relative to OUT) of every output of ``item``; copy None is the clean original."""
    extension = options.encoder_for(item.hint).extension
    digits = options.digits
    names: list[tuple[int | None, str]] = [
        (j, f"{item.stem}{COPY_TAG}{j:0{digits}d}{extension}") for j in range(options.k)
    ]
    if options.keep_original:
        names.insert(0, (None, f"{item.stem}{ORIGINAL_TAG}{extension}"))
    return names


def find_collisions(items: list[Item]) -> list[tuple[str, str]]:
    """Pairs of inputs whose outputs would share names (same folder and stem, e.g. a.jpg and a.png)."""
    seen: dict[str, str] = {}
    clashes = []
    for item in items:
        if item.stem in seen:
            clashes.append((seen[item.stem], item.key))
        else:
            seen[item.stem] = item.key
    return clashes


def looks_like_output(name: str) -> bool:
    """Whether ``name`` has the shape of a name ipmix gives outputs (a check on names read back from files
    before anything is deleted: a tampered manifest cannot make ``--overwrite`` delete a user's file)."""
    base = name.rpartition("/")[2]
    stem, dot, extension = base.rpartition(".")
    if not dot or extension.lower() not in ("png", "jpg", "jpeg", "webp", "tar", "parquet"):
        return False
    if extension.lower() in ("tar", "parquet"):
        return "/" not in name and stem.isdigit()
    if stem.endswith(ORIGINAL_TAG):
        return True
    head, tag, number = stem.rpartition(COPY_TAG)
    return bool(tag) and number.isdigit()
