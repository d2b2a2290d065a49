"""The manifest record of one output: built once, the same for the manifest and for the shards that embed it
(a WebDataset sample's ``.json`` member, a Parquet row)."""

from __future__ import annotations

import hashlib

from .state import dumps


def output_record(item, output, data: bytes, location: dict, options) -> dict:
    """The record of ``output`` of ``item`` stored as ``data`` where ``location`` says (the writer's fields:
    ``file_name``, and ``shard`` or the private ``_sig``)."""
    height, width = output.pixels.shape[:2]
    location = dict(location)
    signature = location.pop("_sig", None)
    record = {
        **location,
        "source": item.key,
        "label": item.label,
        "copy": output.copy,
        "seed": options.seed,
        "mixing_picture": output.mixing_picture,
        "width": width,
        "height": height,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if options.trace and output.trace is not None:
        record["trace"] = dumps(output.trace)
    if item.meta:
        record["meta"] = item.meta
    if signature is not None:
        record["_sig"] = signature  # kept in OUT's private state only, never in the manifest
    return record
