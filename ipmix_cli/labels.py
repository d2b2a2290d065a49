"""Labels as class numbers: what the ``.cls`` members of WebDataset shards and the label column of Parquet hold.

A run's labels are either class *names* (the first-level folders of a folder input, or text from a JSON field
or column) or class *numbers* (``.cls`` members, integer columns). Shards store numbers, so names are numbered
by their place in the sorted list of every name the run found (torchvision's ``ImageFolder`` and Hugging Face's
``imagefolder`` number folders the same way); numbers are kept as they are. The list is the run's *class list*:
``None`` when no input has a label, ``()`` for numbers without names, or the names (also the names a Parquet
input declared for its numbers). A shard records the digest of the class list it was numbered with, so a
resume rewrites every shard when the list changes (e.g. a new class folder).

**Which values are class numbers** (:func:`class_number_of`, what every reader applies): integers from 0 to
``INT64_MAX``, the column shards store them in; a negative number means "no label" (Hugging Face's -1);
booleans are 0 (false) and 1 (true); floats and decimals that are whole numbers count as those numbers (a
pandas column of integers with a missing value is stored as float64), NaN as no label. A number beyond
``INT64_MAX`` or a fraction is not a class number: that input fails, with the value in the message (keeping
it as a class *name* would mix names with numbers, which :func:`class_list` refuses for the whole run).
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math

from .errors import InputFailure, UsageError

#: The class number of an input without a label, in a run that has labels (Hugging Face's ``ClassLabel`` -1).
NO_LABEL = -1
#: The largest class number: shards store labels as 64-bit signed integers.
INT64_MAX = 2**63 - 1


class NotAClassNumber(InputFailure, ValueError):
    """A label value that cannot be a class number (see the module docstring); the message says why."""


def class_number_of(value, what: str = "its label") -> int | None:
    """The class number a label value stands for (None: no label), or :class:`NotAClassNumber` (its message
    begins with ``what``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if (isinstance(value, float) and math.isnan(value)) or (isinstance(value, decimal.Decimal) and value.is_nan()):
        return None
    if isinstance(value, (float, decimal.Decimal)):
        if not math.isfinite(value) or value != int(value):
            raise NotAClassNumber(f"{what} {value} is not a whole number, so no class number")
        value = int(value)
    if not isinstance(value, int):
        raise NotAClassNumber(f"{what} is a {type(value).__name__}, not a class name or number")
    if value < 0:
        return None
    if value > INT64_MAX:
        raise NotAClassNumber(f"{what} {value} is beyond the largest class number shards store (2**63 - 1)")
    return value


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
    number = class_number_of(label)  # readers give only valid numbers; a value that is not one fails its input
    return NO_LABEL if number is None else number


def is_label(value) -> bool:
    """Whether ``value``, read back from a record ipmix wrote, is a label as ipmix writes one: a class name that
    is text (JSON can hold lone surrogates, which no name can) or a class number (not a boolean)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def classes_digest(classes: tuple[str, ...] | None) -> str:
    """What a shard records about the class list it was numbered with (compared on resume)."""
    text = json.dumps(classes, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]  # (a list read back may hold any)
