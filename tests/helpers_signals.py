"""Start a child with the default handlers for the signals a test sends it.

A process inherits ignored signals across fork and exec: a test suite started as
a background job (``pytest &``, some CI runners) has SIGINT and SIGQUIT ignored,
and so would every child it starts. A Python child that starts with SIGINT
ignored does not even install its KeyboardInterrupt handler, so the disposition
has to be SIG_DFL *at exec time*; resetting it inside the child afterwards would
test a different program. subprocess's ``restore_signals`` covers only SIGPIPE,
SIGXFZ and SIGXFSZ.

``default_signals(cmd)`` prefixes ``cmd`` with this file run as a tiny wrapper
(stdlib only, no site): it sets the signals to SIG_DFL, unblocks them, and execs
``cmd`` in the same process, so ``Popen.pid``, ``send_signal``, ``killpg``,
``start_new_session`` and ``preexec_fn`` (which runs before the wrapper) all
apply to the real child. No ``preexec_fn`` of its own: that is unsafe in a
process with threads, as the test process is.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Sequence

SENT = (signal.SIGINT, signal.SIGTERM)  # what the tests send (SIGKILL cannot be ignored)


def default_signals(cmd: Sequence[str], signals: Iterable[signal.Signals] = SENT) -> list[str]:
    """``cmd``, to be started with ``signals`` at their default handlers and unblocked."""
    names = ",".join(signal.Signals(s).name for s in signals)
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), names, *cmd]


def _exec_with_default_signals(argv: list[str]) -> None:
    names, program, *args = argv
    sigs = [signal.Signals[name] for name in names.split(",") if name]
    for sig in sigs:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, sigs)
    os.execvp(program, [program, *args])


if __name__ == "__main__":
    _exec_with_default_signals(sys.argv[1:])
