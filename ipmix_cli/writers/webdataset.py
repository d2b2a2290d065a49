"""The ``webdataset`` output format: ``OUT/NNNNN.tar`` shards in WebDataset layout, plus ``OUT/metadata.parquet``.

Each copy is one sample of adjacent members: ``<name>.<ext>`` (the image), ``<name>.json`` (its manifest
record, exactly the line ``metadata.jsonl`` holds) and, when the run has labels, ``<name>.cls`` (the class
number as ASCII digits; ``labels.py``; -1 for an input without a label, so every sample has the same members:
Hugging Face's loader infers a shard's fields from its first samples). Member headers are fixed (mtime 0,
uid/gid 0, no user or group names, mode 0644, POSIX ustar), so a shard's bytes depend only on its samples.
"""

from __future__ import annotations

import tarfile

from ..formats.jsonlines import dumps
from .sharded import ShardWriter

BLOCK = 512
IMAGE_FIELDS = ("png", "jpg", "webp")  # what the encoders write
MODE = 0o644


def member_header(name: str, size: int) -> bytes:
    """A ustar header with fixed metadata (see the module docstring)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def member(name: str, data: bytes) -> bytes:
    """One tar member: header, data, zero padding to the block size."""
    return member_header(name, len(data)) + data + b"\0" * (-len(data) % BLOCK)


class WebDatasetWriter(ShardWriter):
    extension = "tar"

    def _sample(self, name, item, made, record):
        members = [member(name + made.extension, made.data)]
        members.append(member(name + ".json", dumps(record).encode("utf-8")))
        if self.settings.classes is not None:
            members.append(member(name + ".cls", str(self.class_number(item.label)).encode("ascii")))
        return b"".join(members)

    def _emit(self, sink, samples: list) -> None:
        sink.write(b"".join(samples))

    def _end(self, sink) -> None:
        sink.write(b"\0" * (2 * BLOCK))  # the end-of-archive marker

    @staticmethod
    def read_images(out, shard: str):
        """``(member name, bytes)`` of every sample image in an output shard, read in place (for ``verify``);
        a damaged tar is a ``ValueError`` that says where."""
        from ..formats.tar import samples

        with out.open_read(shard) as stream:
            found, damage = samples(stream)
            if damage:
                raise ValueError(damage)
            for sample in found:
                for item in sample.members:
                    if item.kind == "file" and item.complete and item.field in IMAGE_FIELDS:
                        stream.seek(item.offset)
                        yield item.name, stream.read(item.size)

    @staticmethod
    def finish(out, manifest: str, target: str, settings) -> None:
        """The manifest as Parquet too, for ``pyarrow.parquet.read_table`` and ``datasets``."""
        from .parquet import write_manifest

        write_manifest(out, manifest, target, settings)
