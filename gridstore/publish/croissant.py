"""Croissant 1.1 metadata (``croissant.json``) of a parquet export.

It lists each parquet shard (a ``cr:FileObject`` with its size and sha256),
reads them through one ``cr:FileSet``, and describes the rows as the record set
``images``: one ``cr:Field`` per column with its type (arrays with
``isArray`` / ``arrayShape``) and the split taken from the file name. Each
class-labelled column has a small enumeration record set naming its labels
(``object_type_names``, ...), which its description points to: a
``references`` link would make mlcroissant join the records on it, and array
columns do not join. Everything comes from the version and the files: no date is
added, so the same export gives the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gridstore.holdout.spec import ALL_SPLITS
from gridstore.publish.schema import CLASS_NAMES, COLUMNS, description

__all__ = ["CONTEXT", "croissant"]

#: The JSON-LD context of Croissant 1.1, as the reference implementation (mlcroissant) writes it.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
_SHAPES = {"object_bbox": "-1,4"}  # per-object arrays not listed here are 1-D (-1)


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file, read 1 MiB at a time."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _field(column: str, grid: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"images/{column}",
        "name": column,
        "description": description(column),
        "dataType": "sc:Integer",
        "source": {"fileSet": {"@id": "parquet-files"}, "extract": {"column": column}},
    }
    if column in ("image", "instance_map"):
        out |= {"isArray": True, "arrayShape": f"{grid},{grid}"}
    elif column.startswith("object_"):
        out |= {"isArray": True, "arrayShape": _SHAPES.get(column, "-1")}
    if column in CLASS_NAMES:  # not `references`: mlcroissant joins on it, and arrays do not join
        out["description"] += f" Labels are named by the record set {column}_names."
    return out


def _names(column: str) -> dict[str, Any]:
    """The enumeration record set of a labelled column: each label and its name."""
    rs = f"{column}_names"
    return {
        "@type": "cr:RecordSet",
        "@id": rs,
        "name": rs,
        "description": f"The class names of {column}: a label is its name's index.",
        "dataType": "sc:Enumeration",
        "key": {"@id": f"{rs}/label"},
        "field": [
            {"@type": "cr:Field", "@id": f"{rs}/label", "name": "label", "dataType": "sc:Integer"},
            {"@type": "cr:Field", "@id": f"{rs}/name", "name": "name", "dataType": "sc:Text"},
        ],
        "data": [{f"{rs}/label": i, f"{rs}/name": n} for i, n in enumerate(CLASS_NAMES[column])],
    }


def croissant(
    meta: Mapping[str, Any],
    directory: Path,
    files: Sequence[str],
    *,
    license: str,
    description_text: str,
) -> dict[str, Any]:
    """Return the Croissant 1.1 JSON-LD of a parquet export.

    Parameters
    ----------
    meta : mapping
        The version's metadata.
    directory : Path
        The export (the files' paths are relative to it).
    files : sequence of str
        The parquet shards, relative paths (``data/train-00000-of-00001.parquet``).
    license : str
        The licence (a Hub id, or `gridstore.publish.card.LICENSE_PLACEHOLDER`).
    description_text : str
        One paragraph about the dataset.

    Returns
    -------
    dict
        Ready for ``json.dumps``.
    """
    grid = int(meta["generation_params"]["grid_size"])
    name = f"gridstore-{meta['version']}"
    objects = [
        {
            "@type": "cr:FileObject",
            "@id": f,
            "name": f,
            "contentUrl": f,
            "contentSize": f"{(directory / f).stat().st_size} B",
            "encodingFormat": "application/x-parquet",
            "sha256": sha256(directory / f),
        }
        for f in files
    ]
    file_set = {
        "@type": "cr:FileSet",
        "@id": "parquet-files",
        "name": "parquet-files",
        "description": "The parquet shards, one set of files per split.",
        "encodingFormat": "application/x-parquet",
        "includes": "data/*.parquet",
    }
    held = "heldout_count" in meta.get("dataset_info", {})  # a hold-out version's fourth split
    splits = ALL_SPLITS if held else ALL_SPLITS[:3]
    split = {
        "@type": "cr:Field",
        "@id": "images/split",
        "name": "split",
        "description": "The split of the image (train, val or test), from its file's name.",
        "dataType": "sc:Text",
        "source": {
            "fileSet": {"@id": "parquet-files"},
            "extract": {"fileProperty": "filename"},
            "transform": {"regex": f"^({'|'.join(splits)})-\\d+-of-\\d+\\.parquet$"},
        },
    }
    images = {
        "@type": "cr:RecordSet",
        "@id": "images",
        "name": "images",
        "description": "One record per image: the image and its annotations.",
        "field": [split, *(_field(c, grid) for c in COLUMNS)],
    }
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": name,
        "description": description_text,
        "conformsTo": "http://mlcommons.org/croissant/1.1",
        "citeAs": (
            f"@misc{{{name},\n  title = {{gridstore {meta['version']}: synthetic ARC-like grid "
            f"images}},\n  note = {{generated by gridstore {meta.get('gridstore_version')}, "
            f"seed {meta['generation_params']['seed']}}}\n}}"
        ),
        "license": license,
        "version": "1.0.0",
        "keywords": ["synthetic", "ARC", "grid images", "gridstore"],
        "creator": {"@type": "sc:Organization", "name": "gridstore"},
        "datePublished": str(meta.get("committed", meta["timestamp"]))[:10],
        "distribution": [*objects, file_set],
        "recordSet": [*(_names(c) for c in CLASS_NAMES), images],
    }
