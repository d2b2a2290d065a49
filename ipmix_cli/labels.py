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


def class_list(labels, declared: tuple[str, ...] | None = None, inputs=None) -> tuple[str, ...] | None:
    """The class list of the distinct ``labels`` found (see the module docstring); ``declared`` names come with
    numeric labels; ``inputs`` (the items, when given) name an example of each kind when names and numbers mix."""
    names = {label for label in labels if isinstance(label, str)}
    numbers = [label for label in labels if label is not None and not isinstance(label, str)]
    if names and numbers:
        shown = f"{sorted(names)[0]!r} and {numbers[0]!r}"
        if inputs is not None:
            name = next(item for item in inputs if isinstance(item.label, str))
            number = next(item for item in inputs if item.label is not None and not isinstance(item.label, str))
            shown = f"{name.key}: {name.label!r}, {number.key}: {number.label!r}"
        raise LabelError(
            f"the labels mix class names and class numbers ({shown}); take the labels from one source "
            "(--label-field, --label-column)"
        )
    if names:
        return tuple(sorted(names))
    if numbers:
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
