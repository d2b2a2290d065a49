"""Progress bars on standard error, only when it is a terminal (never on stdout, never in logs)."""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, description: str, enabled: bool = True, unit: str = "it") -> tqdm:
    show = enabled and sys.stderr.isatty()
    return tqdm(total=total, desc=description, unit=unit, file=sys.stderr, disable=not show, dynamic_ncols=True)


def note(message: str, enabled: bool = True) -> None:
    """One line on stderr about long work that has no bar of its own outside a terminal (e.g. in a job log)."""
    if enabled:
        print(f"ipmix: {message}", file=sys.stderr, flush=True)
