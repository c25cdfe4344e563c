"""Per-image random streams: splitmix64 seeding and xoshiro256**.

Both algorithms are fixed here, in gridstore's own code, so the bytes of a
dataset cannot change with a numpy or numba release. Image ``j`` of routing
block ``b`` draws from the stream keyed by ``(seed, b, j)``.
"""

from __future__ import annotations

import numpy as np

from gridstore._jit import kernel

__all__ = [
    "RNG_SCHEME",
    "image_key",
    "next_u64",
    "randint",
    "rotl",
    "seed_state",
    "split_of",
    "splitmix64",
    "splitmix64_array",
    "uniform",
    "unit_float",
]

RNG_SCHEME = "xoshiro256** per image, seeded by splitmix64(seed, block, index); v1"

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@kernel
def splitmix64(x: np.uint64) -> np.uint64:
    """Return the splitmix64 finaliser of ``x + golden`` (a strong 64-bit mix)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@kernel
def _splitmix64_each(x: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        out[i] = splitmix64(x[i])


def splitmix64_array(x: np.ndarray) -> np.ndarray:
    """Return `splitmix64` of each element of a uint64 array (same shape).

    Examples
    --------
    >>> import numpy as np
    >>> bool(splitmix64_array(np.zeros(1, np.uint64))[0] == splitmix64(np.uint64(0)))
    True
    """
    flat = np.ascontiguousarray(x, dtype=np.uint64).ravel()
    out = np.empty_like(flat)
    _splitmix64_each(flat, out)
    return out.reshape(np.shape(x))


@kernel
def image_key(seed: np.uint64, block: np.uint64, index: np.uint64) -> np.uint64:
    """Return the 64-bit key of image ``index`` of routing ``block``."""
    return splitmix64(splitmix64(splitmix64(seed) ^ block) ^ index)


@kernel
def unit_float(x: np.uint64) -> float:
    """Map 64 random bits to a float in [0, 1) (53 bits)."""
    return float(x >> np.uint64(11)) * _TO_UNIT


@kernel
def split_of(x: np.uint64, cum_fracs: np.ndarray) -> int:
    """The split (0, 1, 2) that route key ``x`` picks: the first cumulative fraction above it."""
    u = unit_float(x)
    split = 0
    while split < 2 and u >= cum_fracs[split]:
        split += 1
    return split


@kernel
def seed_state(state: np.ndarray, key: np.uint64) -> None:
    """Fill a xoshiro256** state (uint64[4]) from a key, as its authors advise."""
    x = key
    for i in range(4):
        state[i] = splitmix64(x)
        x = x + _GOLDEN


@kernel
def rotl(x: np.uint64, k: int) -> np.uint64:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@kernel
def next_u64(s: np.ndarray) -> np.uint64:
    """Advance a xoshiro256** state and return 64 random bits."""
    result = rotl(s[1] * np.uint64(5), 7) * np.uint64(9)
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


@kernel
def uniform(s: np.ndarray) -> float:
    """Return a float in [0, 1)."""
    return unit_float(next_u64(s))


@kernel
def randint(s: np.ndarray, n: int) -> int:
    """Return an int uniform in [0, n) (bias below 2**-45 for n < 2**8)."""
    return int(uniform(s) * n)
