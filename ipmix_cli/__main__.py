"""``python -m ipmix_cli`` runs the ``ipmix`` command."""

from .cli.main import main


def _run() -> None:
    try:
        main()
    finally:
        # A Ctrl-C that lands inside a string ``exec`` (a dataclass or namedtuple being made while a module is
        # imported) sets CPython's "unhandled KeyboardInterrupt" flag even though ipmix catches it; under ``-m``
        # the interpreter then kills itself with SIGINT at exit instead of returning our status 130 (seen as -2
        # by a parent). The flag is cleared at the start of every string evaluation: this one.
        eval("None")


if __name__ == "__main__":
    _run()
