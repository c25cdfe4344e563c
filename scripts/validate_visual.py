#!/usr/bin/env python
"""The seed's visual validation: 100 random samples of a version in a 10x10 grid.

    python scripts/validate_visual.py datasets/2025-10-22-v2 [-o grid.png] [--split train]

Writes a PNG (default ``<version>_validation.png`` in the current directory)
with the version, timestamp and sample indices overlaid and the pixel
statistics beside; it runs ``gridstore preview``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gridstore.cli import main as gridstore_main


def to_cli_args(argv: list[str] | None = None) -> list[str]:
    """Translate the seed's arguments into ``gridstore preview`` arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("version_dir", type=Path, help="STORE/VERSION, e.g. datasets/2025-10-22-v2")
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    store, version = args.version_dir.parent, args.version_dir.name
    output = args.output or Path(f"{version}_validation.png")
    return [
        "preview",
        version,
        "--store",
        str(store),
        "--split",
        args.split,
        "-o",
        str(output),
        "--seed",
        str(args.seed),
    ]


if __name__ == "__main__":
    gridstore_main(to_cli_args())
