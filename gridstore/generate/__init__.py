"""The atomic image generator: numba kernels with per-image random streams."""

from gridstore.generate._jitcache import drop_stale_cache

drop_stale_cache()  # before the kernels load: numba cannot see edits across modules

from gridstore.config import GeneratorConfig  # noqa: E402
from gridstore.generate.batch import (  # noqa: E402
    ROUTING_BLOCK_IMAGES,
    Annotations,
    BlockOutput,
    content_hashes,
    generate_block,
    generate_images,
)
from gridstore.generate.rng import RNG_SCHEME  # noqa: E402

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
