"""Batches (gridstore.generate.batch): the corpus stream and routed blocks.

Any cut of the stream gives the same bytes, in one process or two; seeds and
configs change them; routing blocks fill their quotas exactly, grow by appending,
and keep disjoint splits disjoint.
"""

from __future__ import annotations

import itertools
import multiprocessing

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridstore.config import GeneratorConfig, make_config
from gridstore.errors import ConfigError
from gridstore.generate.batch import generate_block, generate_images
from gridstore.generate.hashing import content_hashes
from gridstore.generate.vocab import ROUTING_BLOCK_IMAGES, Annotations
from gridstore.plan import split_quotas
from gridstore.validate.constraints import check_constraints
from tests.generate.helpers import assert_spec_invariants, configs

# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

DET_CONFIG = make_config("atomic", max_objects=6)
DET_SEED = 2**64 - 12345


def _assert_same(a: tuple[np.ndarray, Annotations], b: tuple[np.ndarray, Annotations]) -> None:
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].dtype == b[0].dtype
    for name in Annotations.names():
        x, y = getattr(a[1], name), getattr(b[1], name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def _concat(parts: list[tuple[np.ndarray, Annotations]]) -> tuple[np.ndarray, Annotations]:
    images = np.concatenate([p[0] for p in parts])
    ann = Annotations(
        **{k: np.concatenate([getattr(p[1], k) for p in parts]) for k in Annotations.names()}
    )
    return images, ann


@pytest.fixture(scope="module")
def whole_stream() -> tuple[np.ndarray, Annotations]:
    return generate_images(DET_CONFIG, DET_SEED, 0, 2 * ROUTING_BLOCK_IMAGES + 300)


@pytest.mark.parametrize(
    "cuts",
    [
        [0, 10_300],
        [0, 1, 2, 4999, 5000, 5001, 10_300],
        [0, 0, 7, 7, 3333, 9999, 10_000, 10_300],
        [0, *range(137, 10_300, 1024), 10_300],
    ],
    ids=["whole", "block_edges", "empty_ranges", "ragged"],
)
def test_any_cut_of_the_stream_gives_the_same_bytes(
    whole_stream: tuple[np.ndarray, Annotations], cuts: list[int]
) -> None:
    parts = [generate_images(DET_CONFIG, DET_SEED, a, b) for a, b in itertools.pairwise(cuts)]
    _assert_same(_concat(parts), whole_stream)


def test_seeds_and_configs_change_the_bytes(whole_stream: tuple[np.ndarray, Annotations]) -> None:
    images = whole_stream[0][:200]
    other_seed = generate_images(DET_CONFIG, DET_SEED - 1, 0, 200)[0]
    assert (images != other_seed).any(axis=(1, 2)).mean() > 0.95
    zero = generate_images(DET_CONFIG, 0, 0, 200)[0]
    assert (zero != generate_images(DET_CONFIG, 1, 0, 200)[0]).any(axis=(1, 2)).mean() > 0.95
    # routing blocks draw from their own streams
    block1 = whole_stream[0][ROUTING_BLOCK_IMAGES : ROUTING_BLOCK_IMAGES + 200]
    assert (images != block1).any(axis=(1, 2)).mean() > 0.95
    # another distribution, same seed: other images
    assert (images != generate_images(make_config(), DET_SEED, 0, 200)[0]).any()


def test_seed_is_validated() -> None:
    msg = "seed must be an integer in [0, 2**64), got {!r}"
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(ConfigError) as info:
            generate_images(DET_CONFIG, bad, 0, 1)  # type: ignore[arg-type]
        assert str(info.value) == msg.format(bad)
    with pytest.raises(ConfigError) as info:
        generate_images(DET_CONFIG, 0, 5, 4)
    assert str(info.value) == "image range must satisfy 0 <= start <= stop, got [5, 4)"


def test_one_and_two_processes_give_identical_bytes(
    whole_stream: tuple[np.ndarray, Annotations],
) -> None:
    ranges = [(DET_CONFIG, DET_SEED, a, min(a + 1700, 10_300)) for a in range(0, 10_300, 1700)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.starmap(generate_images, ranges)
    _assert_same(_concat(parts), whole_stream)
    assert _concat(parts)[0].tobytes() == whole_stream[0].tobytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    seed=st.integers(0, 2**64 - 1),
    cuts=st.lists(st.integers(0, 2 * ROUTING_BLOCK_IMAGES + 50), min_size=2, max_size=6),
)
def test_any_cut_gives_the_same_bytes_for_any_config(
    config: GeneratorConfig, seed: int, cuts: list[int]
) -> None:
    cuts = sorted(cuts)
    if cuts[-1] - cuts[0] > 300:  # keep examples fast: a window around a block edge
        cuts = [ROUTING_BLOCK_IMAGES - 150 + (c - cuts[0]) % 300 for c in cuts]
        cuts.sort()
    whole = generate_images(config, seed, cuts[0], cuts[-1])
    parts = [generate_images(config, seed, a, b) for a, b in itertools.pairwise(cuts)]
    _assert_same(_concat(parts), whole)


# ---------------------------------------------------------------------------
# Routing blocks
# ---------------------------------------------------------------------------

FRACTIONS = (0.8, 0.1, 0.1)
# grid 4, one object of 2 cells: 42 cell pairs x 9 colours = 378 distinct images
TINY = make_config(
    grid_size=4, min_objects=1, max_objects=1, min_size=2, max_size=2,
    pattern_weights={"L": 0, "T": 0, "plus": 0, "zigzag": 0},
)  # fmt: skip


def _block(
    config: GeneratorConfig, quotas: tuple[int, int, int], **kw: object
) -> list[tuple[np.ndarray, Annotations]]:
    out = generate_block(config, 77, 3, quotas, FRACTIONS, **kw)  # type: ignore[arg-type]
    assert out.draws >= sum(quotas)
    for images, hashes, q in zip(out.images, out.hashes, quotas, strict=True):
        assert len(images) == len(hashes) == q
        if q:  # content_hashes of no images: see test_content_hashes_of_no_images
            np.testing.assert_array_equal(hashes, content_hashes(images))
    return list(zip(out.images, out.annotations, strict=True))


@pytest.mark.parametrize("disjoint", [True, False], ids=["disjoint", "independent"])
@pytest.mark.parametrize("slots", [1, 9, 10, 137, ROUTING_BLOCK_IMAGES], ids=lambda s: f"slots={s}")
def test_block_quotas_exact_and_splits_valid(slots: int, disjoint: bool) -> None:
    quotas = split_quotas(FRACTIONS, slots)
    for (images, ann), q in zip(_block(DET_CONFIG, quotas, disjoint=disjoint), quotas, strict=True):
        assert len(images) == len(ann) == q
        report = check_constraints(images, ann, DET_CONFIG)
        assert report.ok, report.summary()


@pytest.mark.parametrize("disjoint", [True, False], ids=["disjoint", "independent"])
def test_block_is_deterministic_and_grows_by_appending(disjoint: bool) -> None:
    small = _block(DET_CONFIG, split_quotas(FRACTIONS, 333), disjoint=disjoint)
    again = _block(DET_CONFIG, split_quotas(FRACTIONS, 333), disjoint=disjoint)
    large = _block(DET_CONFIG, split_quotas(FRACTIONS, 1200), disjoint=disjoint)
    for s in range(3):
        _assert_same(small[s], again[s])
        q = len(small[s][0])
        _assert_same(small[s], (large[s][0][:q], large[s][1][:q]))
    other = generate_block(
        DET_CONFIG, 78, 3, split_quotas(FRACTIONS, 333), FRACTIONS, disjoint=disjoint
    )
    assert (other.images[0] != small[0][0]).any(axis=(1, 2)).mean() > 0.95


def test_single_split_block_is_the_corpus_stream(
    whole_stream: tuple[np.ndarray, Annotations],
) -> None:
    """generate_corpus is the train split of fractions (1, 0, 0): the stream's block b."""
    for block in (0, 1):
        out = generate_block(DET_CONFIG, DET_SEED, block, (300, 0, 0), (1.0, 0.0, 0.0))
        start = block * ROUTING_BLOCK_IMAGES
        expected = (whole_stream[0][start : start + 300], whole_stream[1][start : start + 300])
        _assert_same((out.images[0], out.annotations[0]), expected)
        assert out.draws == 300


def test_disjoint_splits_share_no_image() -> None:
    splits = _block(TINY, (4000, 500, 500))
    hashes = [set(content_hashes(images).tolist()) for images, _ in splits]
    assert len(hashes[0]) < 4000, "the tiny distribution should repeat images"
    assert all(len(h) > 5 for h in hashes)
    assert not hashes[0] & hashes[1]
    assert not hashes[0] & hashes[2]
    assert not hashes[1] & hashes[2]
    # and bytes agree with hashes: no image of val or test appears in train
    train = {im.tobytes() for im in splits[0][0]}
    assert not any(im.tobytes() in train for s in (1, 2) for im in splits[s][0])
    for images, ann in splits:
        assert check_constraints(images, ann, TINY).ok


def test_independent_splits_do_share_images() -> None:
    splits = _block(TINY, (4000, 500, 500), disjoint=False)
    hashes = [set(content_hashes(images).tolist()) for images, _ in splits]
    assert hashes[0] & hashes[1]
    assert hashes[0] & hashes[2]
    assert hashes[1] & hashes[2]


def test_too_few_distinct_images_for_disjoint_splits() -> None:
    # a 2x2 grid filled by one rectangle: only 9 images exist, one per colour
    config = make_config(
        grid_size=2, min_objects=1, max_objects=1, min_size=4, max_size=4, type_weights=(0, 1, 0, 0)
    )
    every = np.arange(1, 10, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    images, _ = generate_images(config, 0, 0, 200)
    assert {im.tobytes() for im in images} == {im.tobytes() for im in every}
    keys = np.sort((content_hashes(every) >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    # put the val split in the widest gap between route keys: no image can ever reach it
    edges = np.concatenate([[0.0], keys, [1.0]])
    gap = int(np.argmax(np.diff(edges)))
    lo, hi = edges[gap], edges[gap + 1]
    a, b = lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3
    fractions = (a, b - a, 1.0 - b)
    with pytest.raises(ConfigError) as info:
        generate_block(config, 0, 0, (8, 1, 1), fractions)
    assert str(info.value) == (
        "block 0 drew 500 images without filling its splits (8, 1, 1): the distribution has too "
        "few distinct images for disjoint splits; use split_mode='independent' or a larger grid"
    )
    out = generate_block(config, 0, 0, (8, 1, 1), fractions, disjoint=False)
    assert [len(x) for x in out.images] == [8, 1, 1]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    config=configs(),
    seed=st.integers(0, 2**64 - 1),
    block=st.integers(0, 10**6),
    slots=st.integers(1, 120),
    fractions=st.sampled_from(
        [(0.8, 0.1, 0.1), (0.5, 0.25, 0.25), (0.0, 0.5, 0.5), (1.0, 0.0, 0.0)]
    ),
    disjoint=st.booleans(),
)
def test_blocks_fill_their_quotas_for_any_config(
    config: GeneratorConfig,
    seed: int,
    block: int,
    slots: int,
    fractions: tuple[float, float, float],
    disjoint: bool,
) -> None:
    quotas = split_quotas(fractions, slots)
    try:
        out = generate_block(config, seed, block, quotas, fractions, disjoint=disjoint)
    except ConfigError as err:  # only a distribution with very few distinct images may fail
        failure = str(err)
    else:
        failure = ""
    if failure:
        assert disjoint, failure
        assert "split_mode='independent'" in failure
        return
    assert [len(x) for x in out.images] == list(quotas)
    seen: dict[int, int] = {}
    for s, (images, ann, hashes) in enumerate(
        zip(out.images, out.annotations, out.hashes, strict=True)
    ):
        assert_spec_invariants(images, ann, config)
        if len(images):
            np.testing.assert_array_equal(hashes, content_hashes(images))
        for h in hashes.tolist():
            if disjoint:
                assert seen.setdefault(h, s) == s, "an image is in two splits"


def test_generate_images_into_given_arrays_writes_every_byte() -> None:
    """``out=`` arrays full of junk end up byte-identical to freshly allocated output."""
    config = GeneratorConfig()
    want_images, want_ann = generate_images(config, 5, 4990, 5020)  # crosses a routing block
    images = np.full((30, 16, 16), 255, np.uint8)
    ann = Annotations.empty(30, 16, config.max_objects)
    for arr in ann.as_dict().values():
        arr.fill(255)
    got_images, got_ann = generate_images(config, 5, 4990, 5020, out=(images, ann))
    assert got_images is images and got_ann is ann
    np.testing.assert_array_equal(images, want_images)
    for name, arr in want_ann.as_dict().items():
        np.testing.assert_array_equal(getattr(ann, name), arr, err_msg=name)


def test_generate_images_refuses_out_arrays_it_cannot_fill_in_place() -> None:
    config = GeneratorConfig()
    ann = Annotations.empty(4, 16, config.max_objects)
    strided = np.zeros((8, 16, 16), np.uint8)[::2]  # a reshape would copy: rows would be lost
    with pytest.raises(ConfigError, match="C-contiguous"):
        generate_images(config, 0, 0, 4, out=(strided, ann))
    with pytest.raises(ConfigError, match="out must hold 4 rows"):
        generate_images(config, 0, 0, 4, out=(np.zeros((3, 16, 16), np.uint8), ann))
