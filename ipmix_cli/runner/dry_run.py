"""``--dry-run``: what a run would do, without writing anything (OUT is not even made).

It finds the inputs, reads what OUT holds (if it exists) without locking or changing it, makes the plan a real
run would make, and estimates the output's size by making (in memory, never written) the outputs of a few
inputs spread over the ones still to do.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..disk.folder import SafeFolder
from ..errors import UsageError
from ..writers import is_sharded
from .layout import Layout
from .ledger import Ledger
from .plan import Plan, assign_units, plan_per_file, plan_units, selected_numbers

SAMPLE_INPUTS = 6


@dataclass
class DryRunReport:
    inputs: int = 0
    failures: int = 0
    groups: Counter = field(default_factory=Counter)  # (split, label) → inputs
    already_done: int = 0
    to_make: int = 0  # inputs with outputs to make
    outputs: int = 0  # outputs to write
    changed: int = 0
    vanished: int = 0
    bytes_per_output: float | None = None
    sampled: int = 0
    refusal: str | None = None  # what a real run would refuse, and why


def dry_run(job, out: Path, shard: tuple[int, int] | None = None) -> DryRunReport:
    from .engine import settle, shard_of

    found = job.plan()
    job = job.prepared(found)
    inputs = found.inputs
    report = DryRunReport(inputs=len(inputs), failures=len(found.failures))
    for split, label, count in _groups(inputs):
        report.groups[(split, label)] = count
    layout = Layout(hidden=is_sharded(job.output_format), shard=shard, record_base=job.record_base)
    ledger = None
    if os.path.isdir(out):
        folder = SafeFolder(out)
        try:
            job, _ = settle(folder, layout, job, overwrite=False)
        except UsageError as error:
            report.refusal = str(error)
        ledger = Ledger(folder, layout, job.name, job.record_order, read_only=True)
    else:
        job = job.settle(None)
    plan = _plan(job, ledger, inputs, shard, shard_of)
    report.already_done, report.changed, report.vanished = plan.already_done, plan.changed, plan.vanished_inputs
    if plan.units:
        numbers = [n for _, first, end in plan.units for n in range(first, end)]
        report.outputs = len(numbers) * job.options.outputs_per_input
    else:
        numbers = plan.todo
        report.outputs = sum(
            len(plan.partial[n]) if n in plan.partial else len(job.outputs(inputs[n])) for n in plan.todo
        )
    report.to_make = len(numbers)
    report.bytes_per_output, report.sampled = _estimate(job, inputs, numbers)
    return report


def _plan(job, ledger, inputs, shard, shard_of) -> Plan:
    if ledger is None:
        plan = Plan()
        numbers = list(selected_numbers(inputs, shard, shard_of))
        plan.planned = len(numbers)
        if is_sharded(job.output_format):
            plan.units = assign_units(len(inputs), job.inputs_per_unit(), job.unit_name)
        else:
            plan.todo = numbers
        return plan
    if is_sharded(job.output_format):
        units = assign_units(len(inputs), job.inputs_per_unit(), job.unit_name)
        if shard:
            units = [unit for number, unit in enumerate(units) if number % shard[1] == shard[0]]
        return plan_units(job, ledger, inputs, units, job.reader.digest, job.classes_digest())
    selected = selected_numbers(inputs, shard, shard_of)
    return plan_per_file(job, ledger, inputs, iter(selected), lambda key: True, job.reader.digest, False)


def _groups(inputs):
    counts = Counter(zip(inputs.splits.tolist(), inputs.labels.tolist()))
    for (split, label), count in sorted(counts.items(), key=lambda pair: (pair[0][0], pair[0][1])):
        yield inputs.split_names.value(split), inputs.label_names.value(label), count


def _estimate(job, inputs, numbers: list[int]) -> tuple[float | None, int]:
    """Bytes per output, from the outputs of up to ``SAMPLE_INPUTS`` inputs spread over ``numbers``."""
    if not numbers:
        return None, 0
    step = max(1, len(numbers) // SAMPLE_INPUTS)
    chosen = [inputs[n] for n in numbers[::step][:SAMPLE_INPUTS]]
    sizes, sampled = [], 0
    job.warm()
    for item, opened in job.reader.inputs(chosen):
        try:
            with opened as stream:
                renders = list(job.render(item, stream, job.outputs(item)))
            sizes += [len(job.encode(item, render).data) for render in renders]
            sampled += 1
        except Exception:  # noqa: BLE001 - an input that would fail adds nothing to the estimate
            continue
    return (sum(sizes) / len(sizes) if sizes else None), sampled
