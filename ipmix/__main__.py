"""``python -m ipmix`` runs the ``ipmix`` command."""

from ipmix_cli.cli.main import main

if __name__ == "__main__":
    main()
