"""The three outcomes of anything that goes wrong, and nothing else (every other exception is a bug).

- :class:`UsageError`: the command cannot do what was asked (a bad option, an OUT holding another run, a
  backend that cannot start). Nothing was changed; the CLI exits 2 with the message, which says how to fix it.
- :class:`RunFault`: a fault of the run itself (the disk is full, OUT is read-only, a journal cannot be
  written). The run stops; what finished is recorded and resumable; the CLI exits 1 with the message.
- :class:`InputFailure`: one input cannot be used (unreadable, too large, refused, an odd name). It becomes
  that input's failure record and the run goes on.

Modules define their own subclasses (e.g. ``UnreadableImage(InputFailure)``) so a message can be specific,
but callers catch these three.
"""

from __future__ import annotations


class IpmixError(Exception):
    """Base of the three outcomes below."""


class UsageError(IpmixError, ValueError):
    """The command cannot run as asked (exit 2); the message says why and how to fix it."""


class RunFault(IpmixError):
    """A fault of the run, not of one input (exit 1): the run stops, finished work is kept."""


class InputFailure(IpmixError):
    """One input cannot be made; the message is the reason recorded for it."""
