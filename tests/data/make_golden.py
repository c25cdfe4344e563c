"""Write ``golden_atomic.npz``: bytes of the atomic distribution that must never drift.

``tests/test_golden.py`` regenerates these arrays on every run and compares them
byte for byte. Run this script only on purpose, when the distribution's bytes are
*meant* to change, and then bump ``RNG_SCHEME`` in ``gridstore/generate/rng.py``
so that stored versions made with the old bytes can be told apart::

    python tests/data/make_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gridstore.config import make_config
from gridstore.generate import RNG_SCHEME, generate_block, generate_images

PATH = Path(__file__).with_name("golden_atomic.npz")
SEED = 20261125
CORPUS_IMAGES = 300  # the first images of the corpus stream
BLOCK_QUOTAS = (100, 20, 20)  # the first train / val / test images of routing block 0
BLOCK_FRACTIONS = (0.8, 0.1, 0.1)
SPLITS = ("train", "val", "test")


def build() -> dict[str, np.ndarray]:
    """Every array the fixture holds, freshly generated, by name."""
    config = make_config("atomic")
    out: dict[str, np.ndarray] = {
        "meta_rng_scheme": np.array(RNG_SCHEME),
        "meta_config": np.array(json.dumps(config.to_dict(), sort_keys=True)),
        "meta_seed": np.array(SEED, np.uint64),
    }
    images, ann = generate_images(config, SEED, 0, CORPUS_IMAGES)
    out["corpus_images"] = images
    out.update({f"corpus_{k}": v for k, v in ann.as_dict().items()})
    block = generate_block(config, SEED, 0, BLOCK_QUOTAS, BLOCK_FRACTIONS)
    for split, images, ann, hashes in zip(
        SPLITS, block.images, block.annotations, block.hashes, strict=True
    ):
        out[f"{split}_images"] = images
        out[f"{split}_hashes"] = hashes
        out.update({f"{split}_{k}": v for k, v in ann.as_dict().items()})
    return out


def main() -> None:
    np.savez_compressed(PATH, **build())
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
