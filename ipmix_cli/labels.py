"""Labels as class numbers: what the ``.cls`` members of WebDataset shards and the label column of Parquet hold.

A run's labels are either class *names* (the first-level folders of a folder input, or text from a JSON field
or column) or class *numbers* (``.cls`` members, integer columns). Shards store numbers, so names are numbered
by their place in the sorted list of every name the run found (torchvision's ``ImageFolder`` and Hugging Face's
``imagefolder`` number folders the same way); numbers are kept as they are. The list is the run's *class list*:
``None`` when no input has a label, ``()`` for numbers without names, or the names (also the names a Parquet
input declared for its numbers). A shard records the digest of the class list it was numbered with, so a
resume rewrites every shard when the list changes (e.g. a new class folder).
"""

from __future__ import annotations

import hashlib
import json

from .errors import UsageError

#: The class number of an input without a label, in a run that has labels (Hugging Face's ``ClassLabel`` -1).
NO_LABEL = -1


class LabelError(UsageError):
    """Labels that cannot be numbered consistently (names mixed with numbers); the message says how to fix it."""


def class_list(items, declared: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
    """The class list of ``items`` (see the module docstring); ``declared`` names come with numeric labels."""
    names: set[str] = set()
    number = None
    for item in items:
        if isinstance(item.label, str):
            names.add(item.label)
        elif item.label is not None and number is None:
            number = item
    if names and number is not None:
        name = next(item for item in items if isinstance(item.label, str))
        raise LabelError(
            f"the labels mix class names and class numbers ({name.key}: {name.label!r}, {number.key}: "
            f"{number.label!r}); take the labels from one source (--label-field, --label-column)"
        )
    if names:
        return tuple(sorted(names))
    if number is not None:
        return tuple(declared or ())
    return None


def numbering(classes: tuple[str, ...] | None) -> dict[str, int]:
    """Each class name's number."""
    return {name: number for number, name in enumerate(classes or ())}


def class_number(label: str | int | None, numbers: dict[str, int]) -> int:
    """The number a shard stores for ``label`` (``numbers`` from :func:`numbering`): the name's place in the
    class list, the number itself, or -1 for no label."""
    if label is None:
        return NO_LABEL
    if isinstance(label, str):
        return numbers.get(label, NO_LABEL)
    return int(label)


def classes_digest(classes: tuple[str, ...] | None) -> str:
    """What a shard records about the class list it was numbered with (compared on resume)."""
    return hashlib.sha256(json.dumps(classes, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
