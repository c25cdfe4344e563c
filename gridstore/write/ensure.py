"""Jobs a scheduler can repeat: bring a named version to complete from any state a kill left.

Kubernetes restarts a failed pod, SLURM requeues a job, Dask retries a task:
each runs the same command again. `ensure_version` makes that command
converge. What it finds under the name decides what it does:

================================  ======================================
state of the name                 what happens
================================  ======================================
absent                            the version is created
claimed, killed before its plan   the dead claim is dropped, then created
unfinished, the same plan         it is resumed (only its missing tasks)
complete, the same plan           nothing: its metadata is returned
unfinished or complete, another   a one-line `ConfigError`
================================  ======================================
"""

from __future__ import annotations

import os
from typing import Any, Literal

from gridstore.engines import EngineName
from gridstore.errors import ConfigError
from gridstore.plan import Plan
from gridstore.storage import StoreBackend, open_backend
from gridstore.write.versions import create_version, grow_version, resume_version

__all__ = ["State", "ensure_version", "version_state"]

State = Literal["absent", "claimed", "unfinished", "complete"]


def _check_same(store: StoreBackend, name: str, recorded: dict[str, Any], plan: Plan) -> None:
    """Raise `ConfigError` if ``recorded`` (a plan's dict) is not ``plan``."""
    have, want = Plan.from_dict(recorded).to_dict(), plan.to_dict()
    if have != want:
        key = next(k for k in sorted(have.keys() | want.keys()) if have.get(k) != want.get(k))
        msg = (
            f"version '{name}' in store '{store.path}' was made with another plan "
            f"({key} {have.get(key)!r}, this command's {want.get(key)!r}); "
            "choose another --version, or rerun the command that made it"
        )
        raise ConfigError(msg)


def version_state(store: StoreBackend, name: str, plan: Plan | None = None) -> State:
    """Return what a version name holds; with a `plan`, check that it is that plan's.

    Parameters
    ----------
    store : StoreBackend
        The store.
    name : str
        A version name.
    plan : Plan, optional
        The plan the version must have, if it has one.

    Returns
    -------
    {"absent", "claimed", "unfinished", "complete"}
        "claimed": a run took the name and was stopped before it recorded its plan.

    Raises
    ------
    ConfigError
        The version is unfinished or complete with a plan other than `plan`.
    """
    if name in store.versions():
        if plan is not None:
            _check_same(store, name, store.metadata(name)["generation_params"], plan)
        return "complete"
    staged = {v.name: v for v in store.staged()}
    if name not in staged:
        return "absent"
    recorded = staged[name].plan
    if recorded is None:
        return "claimed"
    if plan is not None:
        _check_same(store, name, recorded["plan"], plan)
    return "unfinished"


def ensure_version(
    store: str | os.PathLike[str],
    plan: Plan,
    name: str,
    *,
    grow_from: str | None = None,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    show_progress: bool = True,
) -> tuple[dict[str, Any], State]:
    """Make version `name` complete with `plan`, whatever state an earlier run left it in.

    Running it again after a kill at any moment converges to the bytes of one
    uninterrupted run (see the module's table).

    Parameters
    ----------
    store : path or URL
        The store (created if needed).
    plan : Plan
        What the version holds (for a grow, ``source_plan.grown(n, grow_from)``).
    name : str
        ``YYYY-MM-DD-vN``.
    grow_from : str, optional
        The source version of a grow.
    engine, workers, scheduler, show_progress
        As in `create_version`.

    Returns
    -------
    tuple of (dict, str)
        The complete version's metadata, and the state the name was found in.

    Raises
    ------
    ConfigError
        `name` holds another plan.
    StoreLockedError
        Another process is writing it.
    """
    backend = open_backend(store, create=True)
    state = version_state(backend, name, plan)
    if state == "complete":
        return backend.metadata(name), state
    if state == "claimed":  # a run stopped between its claim and its plan: nothing to keep
        backend.discard(name)
    run: dict[str, Any] = dict(
        engine=engine, workers=workers, scheduler=scheduler, show_progress=show_progress
    )
    if state == "unfinished":
        return resume_version(store, name, **run), state
    if grow_from is not None:
        return grow_version(store, grow_from, plan.num_images, name=name, **run), state
    return create_version(store, plan, name=name, **run), state
