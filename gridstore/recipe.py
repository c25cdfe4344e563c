"""A version's recipe: its parameters as settings to feed back, and what a plan changes.

A committed version's ``generation_params`` fix its bytes (with the gridstore
and RNG scheme that made them). `settings_of` turns them into the flat
settings ``generate`` merges with its options, so ``--config`` takes a
version's metadata and ``--like`` starts from a version; `merge_settings`
completes a partial weight mapping from the base's weights, not the preset's.
`preset_differences` is what a plan prints: every generator parameter that
differs from its preset, weights normalised to sum 1 as the generator uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridstore.config import PRESETS, GeneratorConfig
from gridstore.errors import ConfigError
from gridstore.generate.vocab import LINE_ORIENTATIONS, OBJECT_TYPES, PATTERN_FAMILIES
from gridstore.plan import SPLITS, Plan

__all__ = [
    "DATASET_KEYS",
    "contradictions",
    "merge_settings",
    "metadata_params",
    "preset_differences",
    "settings_of",
]

# The settings of a plan that are not generator parameters.
DATASET_KEYS = ("num_images", "seed", "splits", "split_mode", "preset", "blocks_per_chunk",
                "compression", "unique", "pairs", "hold_out", "heldout_images")  # fmt: skip
_WEIGHTS = {"type_weights": OBJECT_TYPES, "line_weights": LINE_ORIENTATIONS,
            "pattern_weights": PATTERN_FAMILIES}  # fmt: skip


def metadata_params(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``generation_params`` of a version's metadata document, or None if it is not one.

    Takes what ``info --json`` prints, an export's ``metadata.json``, or a
    version's own ``zarr.json`` (its metadata under ``attributes``).
    """
    attrs = doc.get("attributes") if isinstance(doc.get("attributes"), Mapping) else doc
    params = attrs.get("generation_params") if isinstance(attrs, Mapping) else None
    return dict(params) if isinstance(params, Mapping) else None


def settings_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """A version's ``generation_params`` as flat settings (`DATASET_KEYS` and generator fields).

    Raises
    ------
    ConfigError
        They do not rebuild a plan (made by another routing scheme, or damaged).
    """
    try:
        plan = Plan.from_dict(dict(params))
    except (KeyError, TypeError) as err:
        msg = f"the version's generation_params lack {err}: not a gridstore version's metadata"
        raise ConfigError(msg) from err
    d = plan.to_dict()
    generator = {k: v for k, v in d["generator"].items() if k != "preset"}
    return {k: d[k] for k in DATASET_KEYS if k in d} | generator  # no "pairs": an ordinary one


def merge_settings(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` (None: not given); a partial weight mapping fills in from ``base``.

    Examples
    --------
    >>> merge_settings({"type_weights": {"blob": 0.0, "line": 1.0}}, {"type_weights": {"blob": 2}})
    {'type_weights': {'blob': 2, 'line': 1.0}}
    """
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if key in _WEIGHTS and isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            value = {**out[key], **value}
        out[key] = value
    return out


def _normalised(weights: tuple[float, ...]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(w / total for w in weights)


def preset_differences(config: GeneratorConfig) -> list[str]:
    """Each generator parameter that differs from ``config``'s preset, as the generator uses it.

    Weights are normalised (they need not sum to 1): ``type_weights`` of
    ``{"blob": 0.6}`` on the atomic preset (0.4, 0.2, 0.2, 0.2) become
    0.6, 0.2, 0.2, 0.2, that is blob 0.50 and 0.17 each for the others.

    Examples
    --------
    >>> from gridstore.config import make_config
    >>> preset_differences(make_config("atomic", type_weights={"blob": 0.6}))
    ['type weights blob 0.50, rectangle 0.17, line 0.17, pattern 0.17']
    """
    base = PRESETS[config.preset]
    out = []
    for name, value in config.to_dict().items():
        if name == "preset":
            continue
        if name in _WEIGHTS:
            mine, theirs = _normalised(getattr(config, name)), _normalised(getattr(base, name))
            if max(abs(a - b) for a, b in zip(mine, theirs, strict=True)) > 5e-7:
                shares = ", ".join(
                    f"{k} {w:.2f}" for k, w in zip(_WEIGHTS[name], mine, strict=True)
                )
                out.append(f"{name.replace('_', ' ')} {shares}")
        elif value != getattr(base, name):
            out.append(f"{name} {value}")
    return out


# The option of `generate` that sets each plan parameter (a dotted path of Plan.to_dict()).
_OPTION = {"seed": "--seed", "splits": "--splits", "split_mode": "--split-mode",
           "preset": "--preset", "compression": "--compression", "unique": "--unique",
           "blocks_per_chunk": "blocks_per_chunk", "pairs": "--pairs", "hold_out": "--hold-out",
           "heldout_images": "--heldout-images"}  # fmt: skip


def contradictions(source: Plan, wanted: Plan) -> list[str]:
    """What ``wanted`` changes of ``source`` besides its size, as ``--option (source's value)``.

    A grown version keeps every parameter of its source (its first images are
    the source's); an option that asks otherwise is refused with these.
    """
    a, b = source.to_dict(), wanted.to_dict()
    out = []
    for key in [*a, *(k for k in b if k not in a)]:  # "pairs" is in either alone
        if key in ("num_images", "grid_size", "generator", "routing_block_images"):
            continue
        if a.get(key) != b.get(key):
            if key == "splits":
                shown = ",".join(str(a[key][s]) for s in SPLITS)
            elif key in ("pairs", "hold_out"):
                shown = ("," if key == "pairs" else "; ").join(a.get(key, [])) or "none"
            else:
                shown = a[key]
            out.append(f"{_OPTION.get(key, key)} (source: {shown})")
    preset = a["generator"]["preset"] != b["generator"]["preset"]
    for key, value in a["generator"].items():
        if key != "preset" and value != b["generator"].get(key) and not preset:
            out.append(f"--{key.replace('_', '-')} (source: {_show(value)})")
    return out


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v:g}" for k, v in value.items())
    return str(value)
