"""pyarrow, an optional dependency (the ``parquet`` extra): imported only where Parquet is read."""

from __future__ import annotations

from ..errors import UsageError

EXTRA = "pip install 'ipmix[parquet]'"


class MissingPyarrow(UsageError, ImportError):
    """pyarrow is not installed; the message names the extra that installs it."""


def pyarrow_modules():
    """``(pyarrow, pyarrow.parquet)``, or :class:`MissingPyarrow` with a one-line remedy."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise MissingPyarrow(f"Parquet needs pyarrow: {EXTRA}") from None
    return pyarrow, pyarrow.parquet


def check_pyarrow() -> None:
    """:class:`MissingPyarrow` unless pyarrow can be imported, without importing it (it costs a process about
    40 MB, which a driver that never writes Parquet should not pay)."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise MissingPyarrow(f"Parquet needs pyarrow: {EXTRA}")
