"""Reading a folder of WebDataset ``.tar`` shards: every sample (adjacent members sharing a key) is one input.

- Seed key and manifest ``source``: ``<shard path relative to IN>/<sample key>`` (``00012.tar/n01440764_10026``),
  or the value of the JSON field ``--key-field`` (e.g. ``source`` in ipmix's own records, to reproduce the
  copies of the images a shard was made from).
- Image: the first member with an image extension, or the member ``--image-key`` names (``jpg``, ``seg.png``).
- Label: the ``.cls`` member (a class number: ASCII digits, optionally signed), or the JSON field
  ``--label-field`` (a class name, or a number as ``labels.class_number_of`` takes it); a negative number (-1)
  means no label; a number beyond 64 bits, a fraction or another JSON type is that sample's failure.
- Other members that are UTF-8 text of at most ``META_BYTES`` (``.json`` parsed, ``.cls`` as a number) pass
  through to the records as ``meta``; they are read by the workers, so the driver never holds them.

Tars are listed by headers only (``tar.py``) and images are read in place through windows onto the file; no
member is ever extracted. A bad sample (no image, an image that is a link or lies past the end of a cut tar, a
bad ``.cls``, a key leading outside its shard) is that sample's failure; damage that ends a tar early is the
tar's failure, and every sample before it is still read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Iterator

from ..disk.folder import UnsafePath, clean_relative
from ..disk.inputs import InputRefused, InputRoot
from ..formats.tar import Member, Sample, samples
from ..imaging.images import UnreadableImage, format_of_name
from ..inputs import InputsBuilder
from ..items import Failure, Item, is_utf8, one_line, printable
from ..labels import class_number_of
from . import TAR_SUFFIXES, Found, PlanError, Source
from .folder import walk
from .streams import digest_of, read_window, refused, window

META_BYTES = 64 * 1024


def _tar_kind(name: str) -> str | None:
    return "tar" if name.lower().endswith(TAR_SUFFIXES) else None


def _is_image(member: Member) -> bool:
    return format_of_name("x." + member.field) is not None


_CLASS_NUMBER = re.compile(r"[+-]?[0-9]{1,40}")


def _number(text: str) -> int | None:
    """A class number from text (``.cls``: ASCII digits, optionally signed, blanks around); None when it is not
    one (``int()`` would also take ``5_000`` and other scripts' digits)."""
    text = text.strip()
    return int(text) if _CLASS_NUMBER.fullmatch(text) else None


def _label(value, what: str) -> str | int | None:
    """A label from a JSON value: a class name, or a class number as ``labels.class_number_of`` takes it (None:
    no label); ``NotAClassNumber`` for anything else."""
    if isinstance(value, str) or value is None:
        return value
    return class_number_of(value, what)


class WebDatasetReader:
    """Samples of the ``.tar`` shards under IN (see the module docstring)."""

    format = "webdataset"

    def __init__(self, root: Path, source: Source = Source("webdataset")):
        self.root = InputRoot(root)
        self.source = source

    def __reduce__(self):
        return WebDatasetReader, (self.root.path, self.source)  # IN as resolved at the start

    # --- the driver: listing -----------------------------------------------------------------------------

    def plan(self) -> Found:
        tars, failures = walk(self.root.given, _tar_kind)
        builder = InputsBuilder(decode_where=decode_where)
        owners: dict[str, str] = {}  # seed key → the sample that has it
        labelled = False
        for tar_key, _ in tars:
            try:
                stream = self.root.open(tar_key)
            except InputRefused as error:
                failures.append(Failure(tar_key, str(error)))
                continue
            with stream:
                info = os.fstat(stream.fileno())
                identity = (info.st_size, info.st_mtime_ns)
                found, damage = samples(stream)
                fd = stream.fileno()
                seen: set[str] = set()
                for sample in found:
                    where = f"{tar_key}/{sample.key}"
                    outcome = self._item(tar_key, sample, fd, seen)
                    seen.add(sample.key)
                    if isinstance(outcome, Failure):
                        failures.append(outcome)
                        continue
                    item, has_label = outcome
                    labelled = labelled or has_label
                    if item.key in owners:
                        failures.append(Failure(where, f"its seed key {item.key!r} is also that of {owners[item.key]}"))
                        continue
                    owners[item.key] = where
                    builder.add(
                        item.key, item.label, None, item.hint, identity, encode_where(item.where, builder), item.stem
                    )
            if damage:
                failures.append(Failure(tar_key, damage))
        del owners
        if self.source.label_field and len(builder.keys) and not labelled:
            raise PlanError(f"--label-field {self.source.label_field!r}: no sample's JSON member has this field")
        failures.sort(key=lambda failure: failure.key)
        return Found(builder.build(), failures)

    def _item(self, tar_key: str, sample: Sample, fd: int, seen: set[str]):
        """The work item of one sample, with whether its label came from the JSON field; or its Failure."""
        where = f"{tar_key}/{sample.key}"
        if not is_utf8(sample.key):
            return Failure(printable(where), "its name is not valid UTF-8, which seeds and manifests need")
        try:
            clean_relative(sample.key)
        except UnsafePath:
            return Failure(where, "its member names lead outside the shard ('..', '/' or empty parts): not read")
        if sample.key in seen:
            return Failure(where, "this key appears again after other samples (members of a sample must be adjacent)")
        fields = [member.field for member in sample.members]
        if len(set(fields)) != len(fields):
            return Failure(where, f"two members share a name ({', '.join(fields)})")
        image = self._image(sample)
        if isinstance(image, str):
            return Failure(where, image)
        json_value = None
        if self.source.label_field or self.source.key_field:
            json_value = self._json(sample, fd)
            if isinstance(json_value, Failure):
                return Failure(where, json_value.error)
        try:
            label, from_field = self._label_of(sample, fd, json_value)
        except ValueError as error:
            return Failure(where, str(error))
        key = where
        if self.source.key_field:
            value = json_value.get(self.source.key_field) if isinstance(json_value, dict) else None
            if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
                wanted = self.source.key_field
                return Failure(where, f"its JSON member has no --key-field {wanted!r} (a text or number)")
            key = str(value)
            if not is_utf8(key):
                return Failure(where, f"its --key-field {self.source.key_field!r} is not valid UTF-8")
        meta = tuple(
            (m.field, m.offset, m.size)
            for m in sample.members
            if m is not image and m.kind == "file" and m.complete and m.size <= META_BYTES and not _is_image(m)
        )
        stem = f"{tar_key.rpartition('.')[0]}/{sample.key}"
        item = Item(key, label, stem, format_of_name(image.name), (tar_key, image.offset, image.size, meta))
        return item, from_field

    def _image(self, sample: Sample) -> Member | str:
        """The sample's image member, or why it has none that can be read."""
        wanted = self.source.image_key
        if wanted:
            image = next((m for m in sample.members if m.field == wanted.lower()), None)
        else:
            image = next((m for m in sample.members if _is_image(m)), None)
        if image is None:
            names = ", ".join(m.name.rpartition("/")[2] for m in sample.members)
            what = f"no member {wanted!r}" if wanted else "no image member"
            return f"{what} (it has {names})"
        if image.kind == "link":
            return f"its image {image.name} is a link (to {image.target}) inside the tar: links are not followed"
        if image.kind != "file":
            return f"its image {image.name} is not a regular member ({image.kind}): not read"
        if not image.complete:
            return f"the tar ends inside its image {image.name} (cut short?)"
        return image

    def _json(self, sample: Sample, fd: int):
        member = next((m for m in sample.members if m.field == "json"), None)
        if member is None:
            return None
        text = _text(member, fd)
        if text is None:
            return Failure("", f"its JSON member {member.name} cannot be read (over {META_BYTES} bytes, or not UTF-8)")
        try:
            return json.loads(text)
        except ValueError:
            return Failure("", f"its JSON member {member.name} is not valid JSON")

    def _label_of(self, sample: Sample, fd: int, json_value) -> tuple[str | int | None, bool]:
        field_name = self.source.label_field
        if field_name:
            if not isinstance(json_value, dict) or field_name not in json_value:
                return None, False
            value = json_value[field_name]
            if value is not None and not isinstance(value, (str, int, float)):
                kind = {dict: "object", list: "array"}.get(type(value), type(value).__name__)
                raise ValueError(f"its --label-field {field_name!r} is a JSON {kind}, not a class name or number")
            return _label(value, f"its --label-field {field_name!r}"), True
        member = next((m for m in sample.members if m.field == "cls"), None)
        if member is None:
            return None, False
        text = _text(member, fd)
        number = _number(text) if text is not None else None
        if number is None:
            shown = one_line(text[:20]) if text is not None else "unreadable"
            raise ValueError(f"its .cls member is not a class number ({shown!r})")
        return class_number_of(number, "its .cls member"), False

    # --- the workers: reading --------------------------------------------------------------------------

    def digest(self, item: Item) -> str:
        return digest_of(self, item)

    def vanished(self, key: str) -> bool:
        return True

    def inputs(self, items: list[Item]) -> Iterator[tuple[Item, object]]:
        """Each item's image, read in place, in the shards' order; ``meta`` holds its text members."""
        ordered = sorted(items, key=lambda item: (item.where[0], item.where[1]))
        current, fd, problem = None, None, None
        try:
            for item in ordered:
                tar_key, offset, size, meta = item.where
                if tar_key != current:
                    if fd is not None:
                        os.close(fd)
                    current, fd, problem = tar_key, None, None
                    try:
                        with self.root.open(tar_key) as stream:
                            fd = os.dup(stream.fileno())
                    except InputRefused as error:
                        problem = error
                    except OSError as error:
                        problem = InputRefused(f"cannot open its shard: {error.strerror}")
                if problem is not None:
                    yield item, refused(problem)
                    continue
                if os.fstat(fd).st_size < offset + size:
                    yield item, refused(UnreadableImage("the tar is shorter than when the run started: not read"))
                    continue
                texts = {name: _decoded(name, read_window(fd, at, length)) for name, at, length in meta}
                texts = {name: value for name, value in texts.items() if value is not None}
                if texts:
                    item = dataclasses.replace(item, meta=texts)
                yield item, window(fd, offset, size)
        finally:
            if fd is not None:
                os.close(fd)


def encode_where(where: tuple, builder: InputsBuilder) -> tuple[int, ...]:
    """A sample's place, (shard, image offset, size, ((field, offset, size), ...)), as integers (see ``inputs``)."""
    tar_key, offset, size, meta = where
    flat = [builder.names.number(tar_key), offset, size, len(meta)]
    for name, at, length in meta:
        flat += [builder.names.number(name), at, length]
    return tuple(flat)


def decode_where(flat: tuple[int, ...], names: list) -> tuple:
    tar, offset, size, count = flat[:4]
    meta = tuple((names[flat[4 + 3 * i]], flat[5 + 3 * i], flat[6 + 3 * i]) for i in range(count))
    return names[tar], offset, size, meta


def _text(member: Member, fd: int) -> str | None:
    if member.kind != "file" or not member.complete or member.size > META_BYTES:
        return None
    try:
        return read_window(fd, member.offset, member.size).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _decoded(field_name: str, data: bytes):
    """A text member as it passes through to records: JSON parsed, ``.cls`` a number, else text; None if binary."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if field_name == "json":
        try:
            return json.loads(text)
        except ValueError:
            return text
    if field_name == "cls":
        number = _number(text)
        return number if number is not None else text
    return text
