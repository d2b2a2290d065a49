"""How a run reacts to signals: SIGTERM and SIGHUP stop it as Ctrl-C does, and while the end of a run is
written, a first signal is held until the bookkeeping is whole."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from .schedule import Interrupted


@contextmanager
def signals_stop_the_run() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise :class:`Interrupted` in the driver, as Ctrl-C raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number, frame):
        raise Interrupted("terminated" if number == signal.SIGTERM else "hung up", 128 + number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class DeferredSignals:
    """While the bookkeeping of a run's end is written, the first Ctrl-C, SIGTERM or SIGHUP is held until it is
    done (then ``stop`` says which came), so a stop never leaves a half-written manifest or a run record
    saying "running"; a second one stops at once (the writes are atomic: OUT stays resumable)."""

    def __init__(self):
        self.stop: Interrupted | None = None
        self._previous: dict = {}

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
            self._previous = {number: signal.signal(number, self._hold) for number in numbers}
        return self

    def _hold(self, number, frame) -> None:
        reason = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}.get(number, "hung up")
        if self.stop is not None:
            raise Interrupted(reason, 128 + number)
        self.stop = Interrupted(reason, 128 + number)

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
