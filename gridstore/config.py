"""Generator parameters: presets, overrides, validation and config files.

A :class:`GeneratorConfig` describes one distribution of images exactly
(see GENERATOR.md). It is frozen and hashable, so the tables built from it can
be cached, and it round-trips through :meth:`GeneratorConfig.to_dict` into a
version's metadata.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from gridstore.arguments import check_number, check_whole_number
from gridstore.errors import ConfigError
from gridstore.generate.shapes import build_tables
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES

__all__ = [
    "LINE_ORIENTATIONS",
    "OBJECT_TYPES",
    "PATTERN_FAMILIES",
    "PRESETS",
    "GeneratorConfig",
    "load_config_file",
    "make_config",
]

PRESET_NAMES = ("atomic", "shapes")
MAX_GRID_SIZE = 255  # cell coordinates and instance labels are uint8
MAX_OBJECTS = 255

_WEIGHT_NAMES = {
    "type_weights": OBJECT_TYPES,
    "line_weights": LINE_ORIENTATIONS,
    "pattern_weights": PATTERN_FAMILIES,
}


@dataclass(frozen=True)
class GeneratorConfig:
    """Every parameter of the atomic image distribution (defaults: ``atomic``).

    Weights are tuples in the order of ``OBJECT_TYPES``, ``LINE_ORIENTATIONS``
    and ``PATTERN_FAMILIES``; they need not sum to one.

    Examples
    --------
    >>> GeneratorConfig().grid_size
    16
    """

    preset: str = "atomic"
    grid_size: int = 16
    min_objects: int = 1
    max_objects: int = 4
    min_size: int = 2
    max_size: int = 15
    type_weights: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
    line_weights: tuple[float, ...] = (0.3, 0.3, 0.2, 0.2)
    pattern_weights: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.2)
    blob_compactness: float = 3.0
    max_tries: int = 10

    def __post_init__(self) -> None:
        # Normalise types so that equal configs hash equal, then validate:
        # a config that exists is a config the kernel can run safely.
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _WEIGHT_NAMES:
                value = _weights(f.name, value, getattr(_DEFAULT, f.name, value))
            elif f.name == "blob_compactness":
                value = check_number(f.name, value)
            elif f.name != "preset":
                value = check_whole_number(f.name, value)
            object.__setattr__(self, f.name, value)
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as JSON-ready values, weights as name -> weight."""
        out = asdict(self)
        for key, names in _WEIGHT_NAMES.items():
            out[key] = dict(zip(names, getattr(self, key), strict=True))
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GeneratorConfig:
        """Rebuild a config from :meth:`to_dict` output (validated)."""
        values = dict(values)
        preset = values.pop("preset", "atomic")
        return make_config(preset, **values)


def make_config(preset: str = "atomic", **overrides: Any) -> GeneratorConfig:
    """Build a validated config from a preset and keyword overrides.

    Parameters
    ----------
    preset : str
        ``"atomic"`` (default) or ``"shapes"``.
    **overrides
        Any :class:`GeneratorConfig` field. Weights may be given as a full
        sequence or as a mapping of some names to new weights
        (``type_weights={"blob": 0}``).

    Returns
    -------
    GeneratorConfig

    Raises
    ------
    ConfigError
        Unknown preset or parameter, or a value outside what is allowed.

    Examples
    --------
    >>> make_config("shapes", max_objects=3).max_objects
    3
    """
    if preset not in PRESETS:
        msg = f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}"
        raise ConfigError(msg)
    base = PRESETS[preset]
    known = {f.name for f in fields(GeneratorConfig)} - {"preset"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        msg = f"unknown parameter {unknown[0]!r}; known parameters: {', '.join(sorted(known))}"
        raise ConfigError(msg)
    values = {k: v for k, v in overrides.items() if v is not None}
    for key in _WEIGHT_NAMES.keys() & values.keys():  # partial mappings merge into the preset's
        values[key] = _weights(key, values[key], getattr(base, key))
    return replace(base, **values)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read parameters from a TOML or JSON file (a flat table of parameter names).

    Raises
    ------
    ConfigError
        The file is missing, malformed, or not a table.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        msg = f"cannot read config file '{path}': {err.strerror}"
        raise ConfigError(msg) from err
    try:
        is_json = path.suffix.lower() == ".json"
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        msg = f"config file '{path}' is not valid {'JSON' if is_json else 'TOML'}: {err}"
        raise ConfigError(msg.replace("\n", " ")) from err
    if not isinstance(data, dict):
        msg = f"config file '{path}' must hold a table of parameters, got {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _weights(name: str, value: Any, base: tuple[float, ...]) -> tuple[float, ...]:
    names = _WEIGHT_NAMES[name]
    if isinstance(value, Mapping):
        bad = [k for k in value if k not in names]
        if bad:
            msg = f"unknown name {bad[0]!r} in {name}; expected some of {', '.join(names)}"
            raise ConfigError(msg)
        merged = dict(zip(names, base, strict=True)) | dict(value)
        value = [merged[k] for k in names]
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != len(names):
        msg = f"{name} must give {len(names)} weights ({', '.join(names)}), got {value!r}"
        raise ConfigError(msg)
    out = tuple(check_number(f"{name}[{k}]", w) for k, w in zip(names, value, strict=True))
    if any(w < 0 for w in out):
        msg = f"{name} must be >= 0, got {dict(zip(names, out, strict=True))}"
        raise ConfigError(msg)
    if sum(out) <= 0:
        msg = f"{name} must not all be zero"
        raise ConfigError(msg)
    return out


def _validate(c: GeneratorConfig) -> None:
    """Raise ConfigError for the first parameter outside what is allowed."""
    checks = [
        (
            c.preset in PRESET_NAMES,
            f"unknown preset {c.preset!r}; choose one of {', '.join(PRESET_NAMES)}",
        ),
        (
            2 <= c.grid_size <= MAX_GRID_SIZE,
            f"grid_size must be in [2, {MAX_GRID_SIZE}], got {c.grid_size}",
        ),
        (c.min_objects >= 1, f"min_objects must be >= 1, got {c.min_objects}"),
        (
            c.max_objects <= MAX_OBJECTS,
            f"max_objects must be <= {MAX_OBJECTS}, got {c.max_objects}",
        ),
        (
            c.min_objects <= c.max_objects,
            f"min_objects ({c.min_objects}) must be <= max_objects ({c.max_objects})",
        ),
        (c.min_size >= 1, f"min_size must be >= 1, got {c.min_size}"),
        (c.min_size <= c.max_size, f"min_size ({c.min_size}) must be <= max_size ({c.max_size})"),
        (
            c.max_size <= c.grid_size**2,
            f"max_size={c.max_size} is larger than a {c.grid_size}x{c.grid_size} grid can hold ({c.grid_size**2})",
        ),
        (c.blob_compactness > 0, f"blob_compactness must be > 0, got {c.blob_compactness}"),
        (1 <= c.max_tries <= 1000, f"max_tries must be in [1, 1000], got {c.max_tries}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    line_on = c.type_weights[OBJECT_TYPES.index("line")] > 0
    if line_on and c.max_size > c.grid_size:
        msg = (
            f"max_size={c.max_size} is longer than a line can be on a {c.grid_size}x{c.grid_size} "
            f"grid ({c.grid_size}); lower max_size or set type_weights line=0"
        )
        raise ConfigError(msg)
    build_tables(c)  # the shape tables know which rectangles and patterns fit


_DEFAULT = GeneratorConfig.__new__(GeneratorConfig)  # weights to merge partial mappings into
for _f in fields(GeneratorConfig):
    object.__setattr__(_DEFAULT, _f.name, _f.default)

PRESETS: dict[str, GeneratorConfig] = {
    "atomic": GeneratorConfig(),
    "shapes": GeneratorConfig(
        preset="shapes", max_objects=6, type_weights=(0.0, 1 / 3, 1 / 3, 1 / 3)
    ),
}
