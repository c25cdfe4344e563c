"""``python -m gridstore.cli``: the same as the ``gridstore`` command."""

from gridstore.cli import main

main()
