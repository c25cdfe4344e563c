#!/usr/bin/env python
"""The seed's entry point, kept for its users: generate a dataset version.

    python scripts/generate_dataset.py --num-images 100000 --output-dir datasets/2025-10-22-v2 --seed 42

``--output-dir datasets/2025-10-22-v2`` means store ``datasets``, version
``2025-10-22-v2``; ``--output-dir datasets`` means the next version of today.
It runs ``gridstore generate`` (same plan, memory estimate and confirmation).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from gridstore.cli import main as gridstore_main

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}-v\d+$")


def to_cli_args(argv: list[str] | None = None) -> list[str]:
    """Translate the seed's options into ``gridstore generate`` arguments."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, required=True)
    parser.add_argument("--output-dir", type=Path, default=Path("datasets"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    out = args.output_dir
    store, version = (out.parent, out.name) if _VERSION.match(out.name) else (out, None)
    cli = [
        "generate",
        "--num-images",
        str(args.num_images),
        "--store",
        str(store),
        "--seed",
        str(args.seed),
    ]
    cli += ["--version", version] if version else []
    cli += ["--yes"] if args.yes else []
    cli += ["--workers", str(args.workers)] if args.workers else []
    return cli


if __name__ == "__main__":
    gridstore_main(to_cli_args())
