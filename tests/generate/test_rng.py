"""Random streams (gridstore.generate.rng) against the published splitmix64 and xoshiro256**.

The references below are written from the algorithms' published C code
(prng.di.unimi.it), in plain Python integers, and checked against the published
first outputs; the kernels must agree with them bit for bit, since the streams
are part of every dataset's bytes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gridstore.generate.rng import (
    image_key,
    next_u64,
    randint,
    rotl,
    seed_state,
    splitmix64,
    splitmix64_array,
    uniform,
    unit_float,
)
from tests.generate.helpers import assert_fits

MASK = 2**64 - 1
U64 = st.integers(0, MASK)


def ref_splitmix64(x: int) -> int:
    """``next()`` of splitmix64.c on state ``x``: advance by the golden gamma, then mix."""
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def ref_rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK


def ref_xoshiro(s: list[int]) -> int:
    """``next()`` of xoshiro256starstar.c; advances ``s`` in place."""
    result = (ref_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = ref_rotl(s[3], 45)
    return result


def test_splitmix64_published_outputs() -> None:
    """splitmix64.c seeded with 0 gives these first four outputs; seed_state(0) is that state."""
    published = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    x, ours = 0, []
    for _ in range(4):
        ours.append(ref_splitmix64(x))
        x = (x + 0x9E3779B97F4A7C15) & MASK
    assert ours == published
    assert int(splitmix64(np.uint64(0))) == published[0]
    state = np.zeros(4, np.uint64)
    seed_state(state, np.uint64(0))
    assert state.tolist() == published


@given(x=U64)
def test_splitmix64_matches_the_reference(x: int) -> None:
    assert int(splitmix64(np.uint64(x))) == ref_splitmix64(x)


def test_splitmix64_array_is_splitmix64_of_each_element() -> None:
    x = np.random.default_rng(0).integers(0, 2**63, (3, 5), dtype=np.uint64) * np.uint64(2)
    x[0, 0], x[-1, -1] = 0, MASK
    out = splitmix64_array(x)
    assert out.shape == (3, 5)
    assert out.dtype == np.uint64
    assert out.tolist() == [[ref_splitmix64(int(v)) for v in row] for row in x.tolist()]
    assert splitmix64_array(x[:, ::2]).tolist() == out[:, ::2].tolist()  # a strided view


def test_xoshiro256starstar_published_outputs() -> None:
    """From the state (1, 2, 3, 4) the first outputs are 11520, 0, 1509978240, 1215971899390074240."""
    s = np.array([1, 2, 3, 4], np.uint64)
    assert [int(next_u64(s)) for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]


@given(key=U64)
def test_seeded_stream_matches_the_reference(key: int) -> None:
    state = np.zeros(4, np.uint64)
    seed_state(state, np.uint64(key))
    ref = [ref_splitmix64((key + i * 0x9E3779B97F4A7C15) & MASK) for i in range(4)]
    assert state.tolist() == ref
    assert [int(next_u64(state)) for _ in range(50)] == [ref_xoshiro(ref) for _ in range(50)]
    assert state.tolist() == ref  # the same state after the same steps


@given(x=U64, k=st.integers(1, 63))
def test_rotl_matches_the_reference(x: int, k: int) -> None:
    assert int(rotl(np.uint64(x), k)) == ref_rotl(x, k)


def test_image_key_chains_seed_block_and_index() -> None:
    """key = splitmix64(splitmix64(splitmix64(seed) ^ block) ^ index), distinct over a grid."""
    keys = set()
    for seed in (0, 1, 2**64 - 1):
        for block in (0, 1, 7):
            for index in range(0, 5000, 97):
                key = int(image_key(np.uint64(seed), np.uint64(block), np.uint64(index)))
                ref = ref_splitmix64(ref_splitmix64(ref_splitmix64(seed) ^ block) ^ index)
                assert key == ref, (seed, block, index)
                keys.add(key)
    assert len(keys) == 3 * 3 * len(range(0, 5000, 97))


def test_unit_float_uses_the_top_53_bits() -> None:
    assert unit_float(np.uint64(0)) == 0.0
    assert unit_float(np.uint64(MASK)) == 1.0 - 2.0**-53  # below 1: never out of range
    assert unit_float(np.uint64(2**63)) == 0.5
    assert unit_float(np.uint64(2**11 - 1)) == 0.0  # the low 11 bits are dropped
    assert unit_float(np.uint64(2**11)) == 2.0**-53


def test_uniform_and_randint_follow_the_stream() -> None:
    s = np.zeros(4, np.uint64)
    seed_state(s, np.uint64(12345))
    ref = s.tolist()
    for n in (1, 2, 7, 9, 255):
        u = uniform(s)
        assert u == (ref_xoshiro(ref) >> 11) * 2.0**-53
        k = randint(s, n)
        assert k == int((ref_xoshiro(ref) >> 11) * 2.0**-53 * n)
        assert 0 <= k < n


def test_randint_is_uniform() -> None:
    s = np.zeros(4, np.uint64)
    seed_state(s, np.uint64(7))
    for n in (2, 9, 14):
        draws = np.array([randint(s, n) for _ in range(20_000)])
        assert draws.min() == 0
        assert draws.max() == n - 1
        assert_fits(np.bincount(draws, minlength=n), np.ones(n), f"randint(s, {n})")
