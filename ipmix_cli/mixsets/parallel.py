"""Running a build's batches in worker processes, with Ctrl-C left to the parent.

A terminal's Ctrl-C sends SIGINT to the whole process group. A worker still importing its modules would
die printing a traceback, so workers are started with SIGINT blocked (the mask is inherited across fork and
exec, and they are stopped by the parent anyway). The parent blocks it too while the workers run, and a relay
thread waits for it and raises KeyboardInterrupt in the main thread, which stops the pool and the build.

The pool's helper processes (multiprocessing's and loky's resource trackers) are started before the mask is
set: Python 3.11's ``multiprocessing.resource_tracker`` unblocks SIGINT in the thread that starts it, which
would leave every worker spawned afterwards (all of them) open to the Ctrl-C again.
"""

from __future__ import annotations

import _thread
import contextlib
import signal
import threading
from typing import Callable, Iterable, Iterator

from joblib import Parallel, delayed


def run_batches(function: Callable, batches: list, jobs: int) -> Iterator:
    """``function(batch)`` for every batch, results as they finish (in this process when one job suffices)."""
    if jobs == 1 or len(batches) <= 1:
        yield from (function(batch) for batch in batches)
        return
    with _interrupts_for_the_parent_only():
        yield from Parallel(n_jobs=jobs, return_as="generator_unordered")(delayed(function)(b) for b in batches)


@contextlib.contextmanager
def _interrupts_for_the_parent_only() -> Iterable[None]:
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = threading.Event()

    def relay() -> None:
        signal.sigwait({signal.SIGINT})
        if not stopping.is_set():
            _thread.interrupt_main()  # KeyboardInterrupt in the main thread, as an unblocked Ctrl-C would raise

    _start_resource_trackers()  # before blocking: Python 3.11's own tracker unblocks SIGINT once it is started
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    waiter = threading.Thread(target=relay, name="ipmix-ctrl-c", daemon=True)  # inherits the blocked mask
    waiter.start()
    try:
        yield
    finally:
        stopping.set()
        if waiter.is_alive():
            signal.pthread_kill(waiter.ident, signal.SIGINT)  # wakes the relay, which now just ends
            waiter.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _start_resource_trackers() -> None:
    from multiprocessing import resource_tracker

    from joblib.externals.loky.backend import resource_tracker as loky_resource_tracker

    resource_tracker.ensure_running()
    loky_resource_tracker.ensure_running()
