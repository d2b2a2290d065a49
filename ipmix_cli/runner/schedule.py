"""Running a plan's tasks on a backend until all are done, and finding the input that kills workers.

Per-file formats: inputs are handed out in tasks sized to take about ``TASK_SECONDS`` (measured as the run
goes), so progress moves as inputs finish while a task's fixed cost stays small. Shard formats: one task per
shard. A process pool that loses one worker may lose the tasks of the others with it, so a lost task that
holds a single input is not blamed at once: it runs again *alone*, with nothing else in flight, and only a
death then marks the input as the one that kills workers. A lost shard's inputs are tried in halves in
*probe* tasks (which store nothing) until each input that kills workers is alone; then the shard is written
without them.

Ctrl-C, SIGTERM, SIGHUP and a closed ``--print`` pipe stop the run; the tasks already running may finish
(for ``DRAIN_SECONDS``) and are recorded, so OUT holds what its manifest lists.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Iterator

from ..errors import RunFault
from ..items import Failure
from .backends import WorkerLost
from .job import Task, TaskResult, Work

#: Per-file tasks are sized to take about this long; on a cluster, where a task costs a scheduler round trip,
#: longer.
TASK_SECONDS = {"local": 0.3, "distributed": 2.0}
MAX_BATCH = 64
#: A task never holds more than this share of the inputs (1/20th), so progress reports each quarter on its own.
PROGRESS_STEPS = 20
#: On Ctrl-C, SIGTERM or a closed pipe, tasks already running may finish and be recorded for this long (a task
#: takes well under a second). A second signal stops at once.
DRAIN_SECONDS = 10.0
WORKER_DIED = "the worker process died while processing it (killed, or out of memory?), also when it ran alone"


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or a closed output pipe stopped the run; finished work is recorded."""

    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.status = status


def schedule(
    submit: Callable[[Task], object],
    pool,
    works: Iterator[Work],
    work_count: int,
    unit_tasks: Iterator[Task],
    distributed: bool,
    collector,
) -> None:
    """Run every task (see the module docstring); ``collector`` receives each outcome."""
    queue: deque[Task] = deque()
    units = _Lookahead(iter(unit_tasks), 0)
    todo = _Lookahead(works, work_count)
    if not units and not todo:
        return
    target = TASK_SECONDS["distributed" if distributed else "local"]
    largest = max(1, min(MAX_BATCH, work_count // PROGRESS_STEPS))  # progress moves in small steps at any size
    per_input: float | None = None
    searches: dict[str, _PoisonSearch] = {}
    handles: dict = {}
    try:
        while queue or units or todo or pool.in_flight:
            while pool.in_flight < pool.capacity and (queue or units or todo) and not _alone_in_flight(handles):
                if not queue and units:
                    queue.extend(units.take(1))
                if queue and queue[0].alone and pool.in_flight:
                    break  # it waits until the pool is empty
                if queue:
                    task = queue.popleft()
                else:
                    size = 1 if per_input is None else max(1, min(largest, round(target / max(per_input, 1e-4))))
                    task = Task(tuple(todo.take(size)))
                handles[submit(task)] = task
            finished = pool.next_done(timeout=1.0)
            collector.progress.tick()
            if finished is None:
                continue
            handle, outcome = finished
            task = handles.pop(handle)
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkerLost):
                raise outcome
            if isinstance(outcome, WorkerLost) and len(task.works) == 1 and not task.alone:
                queue.append(Task(task.works, task.unit, task.probe, alone=True))
                continue
            if task.probe is not None:
                searches[task.probe].settled(task, outcome, queue)
                continue
            if isinstance(outcome, WorkerLost):
                if task.unit is not None:  # a shard is written by one task: find its poison with probes first
                    searches[task.unit] = _PoisonSearch(task, queue, collector)
                elif len(task.works) > 1:
                    half = len(task.works) // 2
                    queue.extendleft([Task(task.works[half:]), Task(task.works[:half])])
                else:
                    collector.poisoned(task.works[0])
                continue
            if outcome.done and task.unit is None:
                seconds = outcome.seconds / max(1, len(task.works))
                per_input = seconds if per_input is None else 0.7 * per_input + 0.3 * seconds
            collector.collect(outcome)
    except (KeyboardInterrupt, Interrupted) as stop:
        interruption = stop if isinstance(stop, Interrupted) else Interrupted("interrupted", 130)
        if interruption.status == 141:
            collector.on_record = None  # nobody reads stdout any more
        _drain(pool, handles, collector)
        raise interruption from None
    except RunFault:  # the tasks still running finish and are recorded, so OUT holds what its manifest lists
        _drain(pool, handles, collector)
        raise
    except BaseException:
        pool.close(abort=True)
        raise


class _Lookahead:
    """The works still to hand out, pulled from a generator as tasks are made (no list of every input)."""

    def __init__(self, works: Iterator[Work], count: int):
        self._works, self._left = works, count
        self._next = next(works, None)

    def __bool__(self) -> bool:
        return self._next is not None

    def take(self, size: int) -> list[Work]:
        taken = []
        while self._next is not None and len(taken) < size:
            taken.append(self._next)
            self._next = next(self._works, None)
        return taken


def _drain(pool, handles: dict, collector) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while pool.in_flight and time.monotonic() < deadline:
            finished = pool.next_done(timeout=0.25)
            if finished is None:
                continue
            handle, outcome = finished
            task = handles.pop(handle, None)
            if isinstance(outcome, TaskResult) and task is not None and task.probe is None:
                try:
                    collector.collect(outcome)
                except (RunFault, Interrupted):
                    collector.on_record = None
    except (KeyboardInterrupt, Interrupted):
        pass
    finally:
        pool.close(abort=True)


def _alone_in_flight(handles: dict) -> bool:
    return any(task.alone for task in handles.values())


class _PoisonSearch:
    """A shard whose task killed its worker (see the module docstring)."""

    def __init__(self, task: Task, queue: deque, collector):
        self.task, self.collector = task, collector
        self.poison: list[str] = []
        self.outstanding = 0
        self._probe(task.works, queue)

    def _probe(self, works: tuple, queue: deque) -> None:
        half = max(1, len(works) // 2)
        for piece in (works[:half], works[half:]):
            if piece:
                self.outstanding += 1
                queue.appendleft(Task(piece, probe=self.task.unit))

    def settled(self, probe: Task, outcome, queue: deque) -> None:
        self.outstanding -= 1
        if isinstance(outcome, WorkerLost):
            if len(probe.works) == 1:  # it died alone (see ``schedule``)
                self.poison.append(probe.works[0].item.key)
            else:
                self._probe(probe.works, queue)
        if self.outstanding == 0:
            kept = tuple(work for work in self.task.works if work.item.key not in self.poison)
            self.collector.collect(TaskResult(failed=[Failure(key, WORKER_DIED) for key in sorted(self.poison)]))
            queue.appendleft(Task(kept, self.task.unit))
