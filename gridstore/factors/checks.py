"""Checks of render's input: each impossible factor is a one-line `ConfigError`.

Plain numpy. What is checked here is every row's *static* feasibility: codes
in range, an empty slot before objects, and for each object whether any shape
of its type, subtype and size has its corner at its row and column. Whether
a row's objects fit together without overlapping is found by drawing
(`gridstore.factors.render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from gridstore.config import GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.factors.catalogue import Catalogue
from gridstore.factors.table import FREE, IMAGE_FACTORS, OBJECT_FACTORS
from gridstore.generate.vocab import OBJECT_TYPES

__all__ = ["Request", "check_factors"]

NO_SKIP = np.iinfo(np.int64).max


class Request(NamedTuple):
    """Render's input, checked: what the kernel takes."""

    factors: np.ndarray  # (n, K, 6) int64 object factors, -1 free
    lo: np.ndarray  # (n,) fewest objects to draw
    hi: np.ndarray  # (n,) most objects to draw
    skip_from: np.ndarray  # (n,) first slot an object may be skipped from (NO_SKIP: none)


def _array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        msg = f"factor {name} must hold integers (-1 = free), got dtype {arr.dtype}"
        raise ConfigError(msg)
    return arr.astype(np.int64)


def _fail(row: int, slot: int | None, what: str) -> None:
    where = f"row {row}" + ("" if slot is None else f" slot {slot}")
    raise ConfigError(f"factors {where}: {what}")


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(x) for x in np.argwhere(mask)[0])


def _shape(
    factors: Mapping[str, Any], c: GeneratorConfig
) -> tuple[dict[str, np.ndarray], int, int]:
    unknown = sorted(set(factors) - set(IMAGE_FACTORS) - set(OBJECT_FACTORS))
    if unknown:
        msg = f"unknown factor {unknown[0]!r}; factors are {', '.join(IMAGE_FACTORS + OBJECT_FACTORS)}"
        raise ConfigError(msg)
    arrays = {k: _array(k, v) for k, v in factors.items()}
    objects = [arrays[k] for k in OBJECT_FACTORS if k in arrays]
    if objects:
        n, k = objects[0].shape if objects[0].ndim == 2 else (-1, -1)
    elif "num_objects" in arrays:
        n, k = len(arrays["num_objects"]), c.max_objects
    else:
        raise ConfigError("factors must give num_objects or at least one object factor")
    for name, arr in arrays.items():
        want = (n,) if name in IMAGE_FACTORS else (n, k)
        if n < 0 or arr.shape != want:
            msg = f"factor {name} has shape {arr.shape}; expected {want} like the other factors"
            raise ConfigError(msg)
    if k > c.max_objects:
        msg = f"factors have {k} object slots; the config allows max_objects={c.max_objects}"
        raise ConfigError(msg)
    return arrays, n, k


def _check_codes(arrays: dict[str, np.ndarray], c: GeneratorConfig) -> None:
    g = c.grid_size
    ranges = {
        "num_objects": (c.min_objects, c.max_objects),
        "object_type": (0, len(OBJECT_TYPES)),
        "object_subtype": (0, 4),
        "object_colour": (0, 9),
        "object_size": (c.min_size, c.max_size),
        "object_row": (0, g - 1),
        "object_col": (0, g - 1),
    }
    for name, arr in arrays.items():
        lo, hi = ranges[name]
        bad = (arr != FREE) & ((arr < lo) | (arr > hi))
        if name == "object_size":
            bad &= arr != 0  # an empty slot's size
        if bad.any():
            at = _first(bad)
            _fail(at[0], at[1] if len(at) > 1 else None,
                  f"{name}={arr[at]} is outside {lo}..{hi} (-1 = free)")  # fmt: skip


def check_factors(factors: Mapping[str, Any], c: GeneratorConfig, cat: Catalogue) -> Request:
    """Check render's factors against the config; see `gridstore.factors.render`.

    Raises
    ------
    ConfigError
        Naming the first row, slot and factor that no image of ``c`` can have.
    """
    arrays, n, k = _shape(factors, c)
    _check_codes(arrays, c)
    num = arrays.pop("num_objects", np.full(n, FREE, np.int64))
    f = np.stack([arrays.get(x, np.full((n, k), FREE, np.int64)) for x in OBJECT_FACTORS], -1)
    empty = f[..., 0] == 0
    slot = np.arange(k)
    bad = (num[:, None] > k) & (slot == 0)[None, :]
    if bad.any():
        row = _first(bad)[0]
        _fail(row, None, f"num_objects={num[row]} but the factors have {k} object slots")
    bad = empty & (f[..., 1:] > 0).any(-1)
    if bad.any():
        i, j = _first(bad)
        _fail(i, j, "object_type=0 (empty slot) but other factors are set; use 0 or -1")
    beyond = (num[:, None] != FREE) & (slot[None, :] >= num[:, None])
    after = np.logical_and.accumulate((empty | beyond)[:, ::-1], axis=1)[:, ::-1]
    bad = empty & ~after
    if bad.any():
        i, j = _first(bad)
        _fail(i, j, "an empty slot (object_type=0) before an object")
    live_fixed = (num[:, None] != FREE) & (slot[None, :] < num[:, None])
    bad = live_fixed & empty
    if bad.any():
        i, j = _first(bad)
        _fail(i, j, f"object_type=0 (empty) inside num_objects={num[i]}")
    bad = beyond & (f > 0).any(-1)
    if bad.any():
        i, j = _first(bad)
        _fail(i, j, f"factors set beyond num_objects={num[i]}; use 0 or -1 there")
    live = ~empty & ~beyond
    bad = live & ((f[..., 2] == 0) | (f[..., 3] == 0))
    if bad.any():
        i, j = _first(bad)
        name = "object_colour" if f[i, j, 2] == 0 else "object_size"
        _fail(i, j, f"{name}=0 on an object (only an empty slot has 0)")
    _check_feasible(f, live, c, cat)
    fixed_cells = np.where(live & (f[..., 3] > 0), f[..., 3], 0).sum(axis=1)
    bad = fixed_cells > c.grid_size**2
    if bad.any():
        i = int(np.argmax(bad))
        _fail(
            i,
            None,
            f"its fixed sizes add up to {fixed_cells[i]} cells, more than the grid's {c.grid_size**2}",
        )
    return _bounds(f, num, empty, c)


def _check_feasible(f: np.ndarray, live: np.ndarray, c: GeneratorConfig, cat: Catalogue) -> None:
    t = f[..., 0]
    weight_off = live & (t > 0) & (cat.type_w[np.clip(t, 0, 4)] <= 0)
    if weight_off.any():
        i, j = _first(weight_off)
        _fail(
            i, j, f"object_type={t[i, j]} ({OBJECT_TYPES[t[i, j] - 1]}) has weight 0 in this config"
        )
    idx = tuple(np.where(live, f[..., a], FREE) for a in (0, 1, 3, 4, 5))
    ok = cat.feasible[idx]
    bad = live & ~ok
    if bad.any():
        i, j = _first(bad)
        names = ("object_type", "object_subtype", "object_size", "object_row", "object_col")
        fixed = ", ".join(f"{nm}={f[i, j, a]}" for nm, a in zip(names, (0, 1, 3, 4, 5), strict=True)
                          if f[i, j, a] != FREE)  # fmt: skip
        g = c.grid_size
        _fail(i, j, f"no shape of the config has {fixed} (corner inside a {g}x{g} grid)")


def _bounds(f: np.ndarray, num: np.ndarray, empty: np.ndarray, c: GeneratorConfig) -> Request:
    k = f.shape[1]
    slots = np.where(empty.any(axis=1), np.argmax(empty, axis=1), k)  # first empty slot
    fixed = (f != FREE).any(-1) & ~empty
    tail = np.where(fixed.any(axis=1), k - np.argmax(fixed[:, ::-1], axis=1), 0)
    free = num == FREE
    hi = np.where(free, np.minimum(slots, c.max_objects), num)
    lo = np.where(free, np.maximum(tail, c.min_objects), num)
    bad = lo > hi
    if bad.any():
        i = int(np.argmax(bad))
        _fail(i, None, f"num_objects is free but its slots allow {hi[i]} objects and need {lo[i]}")
    skip_from = np.where(free, tail, NO_SKIP)
    return Request(np.ascontiguousarray(f), lo.astype(np.int64), hi.astype(np.int64), skip_from)
