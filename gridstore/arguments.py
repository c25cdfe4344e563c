"""Checks of user-given arguments: the one place that says what a valid integer is.

Every public entry point checks its numbers here, so the same mistake gets the
same one-line `ConfigError` wherever it is made.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from gridstore.errors import ConfigError

__all__ = [
    "ENGINES",
    "SEED_BOUND",
    "EngineName",
    "check_engine",
    "check_int",
    "check_number",
    "check_seed",
    "check_whole_number",
    "is_integer",
]

SEED_BOUND = 2**64  # seeds are uint64
EngineName = Literal["serial", "processes", "dask"]
ENGINES = ("serial", "processes", "dask")  # gridstore.engines runs them


def is_integer(value: Any) -> bool:
    """True for Python and numpy integers, False for bools and everything else."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise `ConfigError` naming ``name`` and the bounds.

    Parameters
    ----------
    name : str
        The argument's name, as the user wrote it.
    value : Any
        What the user gave.
    low, high : int, optional
        Inclusive bounds.

    Examples
    --------
    >>> check_int("workers", 2, low=1)
    2
    >>> check_int("workers", 0, low=1)
    Traceback (most recent call last):
    ...
    gridstore.errors.ConfigError: workers must be an integer >= 1, got 0
    """
    in_range = is_integer(value) and (low is None or value >= low)
    if in_range and (high is None or value <= high):
        return int(value)
    if low is not None and high is not None:
        top = f"{high:.0e}" if high >= 10**9 else str(high)
        bound = f" in [{low}, {top}]"
    elif low is not None:
        bound = f" >= {low}"
    elif high is not None:
        bound = f" <= {high}"
    else:
        bound = ""
    msg = f"{name} must be an integer{bound}, got {_shown(value)!r}"
    raise ConfigError(msg)


def _shown(value: Any) -> Any:
    """A numpy scalar as the plain number it holds (``5``, not ``np.int64(5)``)."""
    return value.item() if isinstance(value, np.generic) else value


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int in [0, 2**64), or raise `ConfigError`.

    Examples
    --------
    >>> check_seed(42)
    42
    """
    if not is_integer(seed) or not 0 <= seed < SEED_BOUND:
        msg = f"seed must be an integer in [0, 2**64), got {_shown(seed)!r}"
        raise ConfigError(msg)
    return int(seed)


def _is_finite_number(value: Any) -> bool:
    number = isinstance(value, int | float | np.integer | np.floating)
    return number and not isinstance(value, bool) and math.isfinite(value)


def check_number(name: str, value: Any) -> float:
    """Return a finite number (not a bool) as a float, or raise `ConfigError`."""
    if not _is_finite_number(value):
        msg = f"{name} must be a finite number, got {_shown(value)!r}"
        raise ConfigError(msg)
    return float(value)


def check_whole_number(name: str, value: Any) -> int:
    """Return a finite number with no fraction (``3`` or ``3.0``) as an int (config files)."""
    if not _is_finite_number(value) or value != int(value):
        msg = f"{name} must be an integer, got {_shown(value)!r}"
        raise ConfigError(msg)
    return int(value)


def check_engine(engine: str, workers: int | None) -> None:
    """Raise a one-line `ConfigError` for an unknown engine or ``workers`` < 1 (None: the default)."""
    if workers is not None:
        check_int("workers", workers, 1)
    if engine not in ENGINES:
        msg = f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}"
        raise ConfigError(msg)
