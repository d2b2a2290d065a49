"""Progress on standard error (never on stdout): a bar on a terminal, plain lines in logs.

In a terminal, tqdm's bar. Elsewhere (SLURM, nohup, CI, ``2> log``) a bar's carriage returns make unreadable
logs and tqdm prints nothing useful, so :class:`Progress` prints one plain line when the work starts, at a
steady pace (every 30 s) and at 25, 50 and 75 %: done/total, rate, ETA and failures so far. ``--quiet``
turns both off. Progress counts inputs as they finish.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

from tqdm import tqdm

LOG_INTERVAL = 30.0
LOG_MILESTONES = (0.25, 0.5, 0.75)


def progress_bar(total: int, description: str, enabled: bool = True, unit: str = "it") -> tqdm:
    show = enabled and sys.stderr.isatty()
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=not show, dynamic_ncols=True)


def note(message: str, enabled: bool = True) -> None:
    """One line on stderr about long work that has no bar of its own outside a terminal (e.g. in a job log)."""
    if enabled:
        print(f"ipmix: {message}", file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """``total`` items of work, ``done`` of them finished before this run started."""

    def __init__(
        self,
        total: int,
        what: str = "augmenting",
        enabled: bool = True,
        done: int = 0,
        unit: str = "inputs",
        failed: int = 0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = LOG_INTERVAL,
        log: bool = True,
    ):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.failed = total, done, failed
        self.what, self.unit, self.clock, self.interval = what, unit, clock, interval
        self.start_done = done
        self.started = self.last_line = clock()
        terminal = enabled and _is_terminal(self.stream)
        self.mode = "bar" if terminal else "log" if enabled and log else "off"
        self._milestones = [m for m in LOG_MILESTONES if m * total > done]
        self._bar = None
        if self.mode == "bar":
            # the bar starts at the inputs done before (said in its label, so a resumed run's 32 % is explained);
            # its rate and ETA are the average since the start (smoothing near 0): the first tasks are small
            # and come while workers start, and an exponential average of them first read hours for minutes
            label = f"{what} ({done - failed} already done)" if done > failed else what
            self._bar = tqdm(
                total=total,
                initial=done,
                desc=label,
                unit=unit[:3],
                file=self.stream,
                dynamic_ncols=True,
                smoothing=0.02,
            )
        elif self.mode == "log" and done < total:
            counts = [f"{done - failed} already done"] if done > failed else []
            counts += [f"{failed} failed before starting"] if failed else []  # unreadable, refused…
            extra = f" ({', '.join(counts)})" if counts else ""
            self._line(f"{what} {total - done} {unit}{extra}")

    def update(self, count: int, failed: int = 0) -> None:
        self.done += count
        self.failed += failed
        if self._bar is not None:
            self._bar.update(count)
            if failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
            return
        if self.mode != "log":
            return
        crossed = False
        while self._milestones and self.done >= self._milestones[0] * self.total:
            self._milestones.pop(0)
            crossed = True
        if crossed:
            self._status()
        else:
            self.tick()

    def tick(self) -> None:
        """Print a status line if the interval has passed since the last one (log mode)."""
        if self.mode == "log" and self.done < self.total and self.clock() - self.last_line >= self.interval:
            self._status()

    def _status(self) -> None:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = self.total - self.done
        eta = f"ETA {_clock(left / rate)}" if rate > 0 else "ETA unknown"
        share = self.done / self.total if self.total else 1.0
        failed = f", {self.failed} failed" if self.failed else ""
        self._line(
            f"{self.what} {self.done}/{self.total} {self.unit} ({share:.0%}), {rate:.1f} {self.unit}/s, {eta}{failed}"
        )

    def _line(self, text: str) -> None:
        self.last_line = self.clock()
        try:
            print(f"ipmix: {text}", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed log is no reason to stop the work
            self.mode = "off"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
