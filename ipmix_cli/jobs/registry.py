"""Which job wrote a run record: the one place that maps a record's ``job`` field to the job's module, for the
commands that read an OUT back (``merge``, ``verify --replay``)."""

from __future__ import annotations

from ..errors import UsageError


class UnknownRecord(UsageError):
    """A run record that names no job of ipmix, or settings ipmix never writes (edited, or damaged)."""


def job_of_record(record, reader=None):
    """The job that wrote ``record`` (a ``formats.records.RunRecord``), reading its inputs with ``reader``
    (None where no input is read, as in merging)."""
    if record.job == "augment":
        from .augment import job_of_record as of_record
    elif record.job == "corrupt":
        from .corrupt import job_of_record as of_record
    elif record.job == "fractals":
        from .fractals import job_of_record as of_record
    else:
        raise UnknownRecord(f"the run record names a job ipmix does not have ({record.job!r})")
    try:
        return of_record(record, reader)
    except UsageError:
        raise
    except (AttributeError, TypeError, KeyError, ValueError) as error:  # fields read back from OUT
        raise UnknownRecord(f"the run record holds settings ipmix never writes ({error})") from None
