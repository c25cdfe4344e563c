"""What the fork server loads once for every worker it forks (`gridstore.workers`).

`gridstore.workers` starts the server with ``SERVER_MARK`` set to its own
pid. The server's import of this module then ties the server's life to that
process and loads the modules a task runs and, when they are cached, the
generator's kernels (`gridstore.generate.batch.load_kernels`, the first call
the plan's estimate times too). Imported anywhere else, it does nothing.
"""

from __future__ import annotations

import logging
import os

from gridstore.workers import SERVER_MARK, die_with_parent

__all__: list[str] = []

_caller = os.environ.pop(SERVER_MARK, None)
if _caller is not None:
    # The workers hold the server's "alive" pipe: without this, a caller killed with
    # SIGKILL would leave the server, and the workers it forked, running.
    die_with_parent()
    if str(os.getppid()) != _caller:  # the caller died before the signal was armed
        os._exit(0)
    try:
        import gridstore.write.reduce
        import gridstore.write.tasks  # noqa: F401  (what tasks and the commit's jobs run)
        from gridstore._jit import kernel_cache_is_warm
        from gridstore.generate.batch import load_kernels

        # On a cold cache the caller compiles the kernels for its plan: compiling here
        # too would take as long, and every forked worker would inherit the compiler's
        # memory. The workers load what the caller cached instead.
        if kernel_cache_is_warm():
            load_kernels()
    except Exception:  # the workers load them themselves
        logging.getLogger(__name__).warning(
            "the fork server could not load the kernels", exc_info=True
        )
