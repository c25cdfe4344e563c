"""The ``gridstore`` command line."""

from gridstore.cli.commands import main

__all__ = ["main"]
