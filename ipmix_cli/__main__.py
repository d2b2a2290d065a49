"""``python -m ipmix_cli`` runs the ``ipmix`` command."""

from .cli.main import main

if __name__ == "__main__":
    main()
