"""The atomic image generator: numba kernels with per-image random streams."""

from gridstore.config import GeneratorConfig
from gridstore.generate.batch import (
    ROUTING_BLOCK_IMAGES,
    Annotations,
    BlockOutput,
    content_hashes,
    generate_block,
    generate_images,
)
from gridstore.generate.rng import RNG_SCHEME

__all__ = [
    "RNG_SCHEME",
    "ROUTING_BLOCK_IMAGES",
    "Annotations",
    "BlockOutput",
    "GeneratorConfig",
    "content_hashes",
    "generate_block",
    "generate_images",
]
