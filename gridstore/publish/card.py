"""A version's dataset card: the Hub's README.md, front matter first.

The front matter (YAML) is what the Hub reads: licence, tags, size category,
``configs`` (which files make which split) and ``dataset_info`` (features,
split sizes). The body describes the generator and its parameters, the
statistics, the preview picture, how the version was made and the command that
regenerates it byte for byte. Everything comes from the version's metadata and
the export's files, never from the clock, so the same version gives the same card.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from gridstore.generate.vocab import OBJECT_TYPES
from gridstore.holdout.spec import ALL_SPLITS
from gridstore.plan import SPLITS
from gridstore.publish import front_matter
from gridstore.publish.schema import CLASS_NAMES, COLUMNS, description

__all__ = ["LICENSE_PLACEHOLDER", "card_text", "regenerate_command"]

#: The licence a card carries until its author chooses one (the Hub's value for "not given").
LICENSE_PLACEHOLDER = "unknown"
_SIZES = ("1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T")


def size_category(n: int) -> str:
    """Return the Hub's size category of ``n`` rows, e.g. ``10K<n<100K``.

    Examples
    --------
    >>> size_category(999), size_category(20_000), size_category(10**13)
    ('n<1K', '10K<n<100K', 'n>1T')
    """
    for i, top in enumerate(_SIZES):
        if n < 10 ** (3 + i):
            return f"{_SIZES[i - 1]}<n<{top}" if i else f"n<{top}"
    return "n>1T"


def _weights(values: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in values.items())


def regenerate_command(meta: Mapping[str, Any], store: str = "datasets") -> str:
    """Return the ``gridstore generate`` command that writes this version's bytes again.

    Every generation parameter of the metadata is spelled out, so later
    changes of the defaults do not change what it makes. A version grown from
    another holds the same bytes as one generated at once with its parameters.

    Parameters
    ----------
    meta : mapping
        The version's metadata.
    store : str
        The ``--store`` of the command.

    Returns
    -------
    str
        One shell line.
    """
    p, g = meta["generation_params"], meta["generation_params"]["generator"]
    args = [
        "gridstore", "generate", "--store", store, "--version", meta["version"],
        "--num-images", str(p["num_images"]), "--seed", str(p["seed"]),
        "--preset", p["preset"], "--splits", ",".join(repr(p["splits"][s]) for s in SPLITS),
        "--split-mode", p["split_mode"], "--compression", p.get("compression", "default"),
        "--grid-size", str(g["grid_size"]),
        "--min-objects", str(g["min_objects"]), "--max-objects", str(g["max_objects"]),
        "--min-size", str(g["min_size"]), "--max-size", str(g["max_size"]),
        "--type-weights", _weights(g["type_weights"]),
        "--line-weights", _weights(g["line_weights"]),
        "--pattern-weights", _weights(g["pattern_weights"]),
        "--blob-compactness", repr(g["blob_compactness"]), "--max-tries", str(g["max_tries"]),
    ]  # fmt: skip
    if p.get("unique"):
        args.append("--unique")
    for condition in p.get("hold_out", ()):  # a hold-out version's
        args += ["--hold-out", condition]
    if p.get("heldout_images") is not None:
        args += ["--heldout-images", str(p["heldout_images"])]
    command = shlex.join([*args, "--yes"])
    if p["blocks_per_chunk"] != 4:  # not a command-line option: through a config file
        command = f"echo 'blocks_per_chunk = {p['blocks_per_chunk']}' > chunking.toml && " + (
            command.replace(" --yes", " --config chunking.toml --yes")
        )
    return command


def _front_matter(
    meta: Mapping[str, Any],
    rows: Mapping[str, int],
    split_bytes: Mapping[str, int] | None,
    license: str,
    features: list[dict[str, Any]],
) -> dict[str, Any]:
    splits = [s for s in ALL_SPLITS if rows.get(s)]
    info_splits = [
        {"name": s, "num_examples": rows[s]}
        | ({"num_bytes": split_bytes[s]} if split_bytes is not None else {})
        for s in splits
    ]
    info: dict[str, Any] = {"features": features, "splits": info_splits}
    if split_bytes is not None:
        info["download_size"] = sum(split_bytes[s] for s in splits)
    return {
        "license": license,
        "pretty_name": f"gridstore {meta['version']}",
        "task_categories": ["image-classification", "image-segmentation", "object-detection"],
        "tags": ["synthetic", "arc", "abstraction-and-reasoning", "grid-images", "gridstore"],
        "size_categories": [size_category(sum(rows.values()))],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits],
            }
        ],
        "dataset_info": info,
    }


def yaml_features(grid: int) -> list[dict[str, Any]]:
    """Return the features as the Hub's YAML lists them (``dataset_info.features``)."""
    array = {"array2_d": {"shape": [grid, grid], "dtype": "uint8"}}
    out: list[dict[str, Any]] = []
    for c in COLUMNS:
        if c in CLASS_NAMES:
            names = {str(i): n for i, n in enumerate(CLASS_NAMES[c])}
            out.append({"name": c, "list": {"class_label": {"names": names}}})
        elif c in ("image", "instance_map"):
            out.append({"name": c, "dtype": array})
        elif c == "object_size":
            out.append({"name": c, "list": "uint16"})
        elif c == "object_bbox":
            out.append({"name": c, "list": {"list": "uint8", "length": 4}})
        else:
            out.append({"name": c, "dtype": "int64" if c == "index" else "uint8"})
    return out


def _statistics(meta: Mapping[str, Any]) -> list[str]:
    lines = [
        "| split | images | pixel mean | pixel std | objects per image (1, 2, ...) | "
        + " | ".join(OBJECT_TYPES)
        + " |",
        "|---|---:|---:|---:|---|" + "---:|" * len(OBJECT_TYPES),
    ]
    for s, st in meta.get("statistics", {}).items():
        if not st.get("images"):
            continue
        per = ", ".join(f"{v:,}" for k, v in st["objects_per_image"].items() if k != "0")
        types = " | ".join(f"{st['object_types'].get(t, 0):,}" for t in OBJECT_TYPES)
        lines.append(
            f"| {s} | {st['images']:,} | {st['pixel_mean']:.4f} | {st['pixel_std']:.4f} | "
            f"{per} | {types} |"
        )
    lines += ["", f"Duplicates: `{json.dumps(meta.get('duplicates', {}))}`."]
    return lines


def _identity(meta: Mapping[str, Any]) -> list[str]:
    """The version's content digest, how to check it, and how to cite the version."""
    name, digest = meta["version"], meta.get("digest")
    if not digest:
        return [f"Version `{name}` was committed before content digests: `gridstore validate "
                f"{name} --full --record` records one.", ""]  # fmt: skip
    return [
        f"Content digest (`{meta.get('digest_scheme', 'gridstore-digest-1')}`, a sha256 over "
        f"the crc32c of every chunk): `{digest}`. `gridstore reproduce {name}` regenerates the "
        "version from its parameters and checks that the digest is equal; cite the version by "
        "its name and this digest.",
        "",
    ]


def card_text(
    meta: Mapping[str, Any],
    rows: Mapping[str, int],
    *,
    split_bytes: Mapping[str, int] | None = None,
    where: Sequence[str] = (),
    license: str | None = None,
    preview: str | None = "preview.png",
) -> str:
    """Return the dataset card (README.md) of a version or of its export.

    Parameters
    ----------
    meta : mapping
        The version's metadata.
    rows : mapping
        Rows published per split (fewer than the version's with ``where``).
    split_bytes : mapping, optional
        Bytes of each split's files, when they exist (an export).
    where : sequence of str
        The ``--where`` conditions of an export.
    license : str, optional
        A Hub licence id (``cc-by-4.0``, ``mit``, ...); default `LICENSE_PLACEHOLDER`.
    preview : str or None
        Path of the preview picture relative to the card; None for no picture.

    Returns
    -------
    str
        Markdown with YAML front matter.
    """
    grid = int(meta["generation_params"]["grid_size"])
    front = _front_matter(
        meta, rows, split_bytes, license or LICENSE_PLACEHOLDER, yaml_features(grid)
    )
    p = meta["generation_params"]
    name, total = meta["version"], sum(rows.values())
    selected = f" matching `{' and '.join(where)}`" if where else ""
    counts = ", ".join(f"{s} {rows.get(s, 0):,}" for s in ALL_SPLITS if s in rows or s in SPLITS)
    body = [
        f"# gridstore {name}",
        "",
        f"{total:,} synthetic {grid}x{grid} images in the style of the Abstraction and Reasoning "
        f"Corpus (ARC){selected}: {counts}. Each image holds {p['generator']['min_objects']} to {p['generator']['max_objects']} "
        "objects (blobs, rectangles, lines, patterns) in colours 1..9 on a black background, with "
        "full annotations: object types, subtypes, colours, sizes, bounding boxes and a cell-wise "
        "instance map.",
        "",
        "## Licence",
        "",
        f"`{license or LICENSE_PLACEHOLDER}`"
        + ("" if license else " -- choose one and set `license:` in the front matter above."),
        "",
        "## Generator and parameters",
        "",
        f"Made by gridstore {meta.get('gridstore_version')} (preset `{p['preset']}`, seed "
        f"{p['seed']}, {p['split_mode']} splits {json.dumps(p['splits'])}). Random numbers: "
        f"{meta.get('rng', {}).get('scheme', 'see gridstore')}. The generator's parameters:",
        "",
        "```json",
        json.dumps(p["generator"], indent=2),
        "```",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        *(f"| `{c}` | {description(c)} |" for c in COLUMNS),
        "",
        "## Statistics (of the whole version)",
        "",
        *_statistics(meta),
        "",
    ]
    if preview:
        body += ["## Preview", "", f"![100 samples of the train split]({preview})", ""]
    body += [
        "## How it was made",
        "",
        f"Version `{name}` was created {meta.get('timestamp')} and committed "
        f"{meta.get('committed', meta.get('timestamp'))}. This command, with the same gridstore "
        "release, writes the same chunks again, byte for byte (only the metadata's times differ):",
        "",
        "```sh",
        regenerate_command(meta),
        "```",
        "",
        *_identity(meta),
    ]
    if where:
        body += [
            f"This export holds only the images of each split where {' and '.join(where)}.",
            "",
        ]
    body += [
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "ds = load_dataset(PATH_OR_REPO_ID)  # a DatasetDict of the splits",
        "```",
        "",
        "`croissant.json` describes the same files in Croissant 1.1 (load with `mlcroissant`).",
    ]
    return f"---\n{front_matter.dump(front)}---\n\n" + "\n".join(body) + "\n"
