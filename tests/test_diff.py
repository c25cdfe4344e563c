"""`gridstore diff`: real versions on disk; same parameters are not flagged, changed ones are named."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gridstore
from gridstore.cli.diff import diff as diff_command
from gridstore.config import make_config
from gridstore.diff import ParameterChange, _parameter_changes, _scope, diff_versions
from gridstore.errors import ConfigError, VersionNotFoundError
from gridstore.generate.batch import generate_images
from gridstore.pixel_variance import pixel_share_difference_cov
from gridstore.significance import chi2_sf, cramers_v, pool_small, wald_chi2
from gridstore.statistics import split_counts, summarize
from gridstore.storage import open_backend

BLOB_HEAVY = make_config("atomic", type_weights={"blob": 0.6})


def _make(store: Path, config: gridstore.GeneratorConfig, n: int, seed: int) -> str:
    plan = gridstore.Plan(config=config, num_images=n, seed=seed)
    return str(
        gridstore.create_version(store, plan, engine="serial", show_progress=False)["version"]
    )


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One store: a 20,000-image version, the same with another seed, with blob weight 0.6,
    a 2,000-image one, and an exact remake of the first (same plan, another name)."""
    store = tmp_path_factory.mktemp("diff") / "datasets"
    atomic = make_config("atomic")
    names = {
        "base": _make(store, atomic, 20_000, 1),
        "reseeded": _make(store, atomic, 20_000, 2),
        "blob_heavy": _make(store, BLOB_HEAVY, 20_000, 3),
        "small": _make(store, atomic, 2_000, 4),
        "remake": _make(store, atomic, 20_000, 1),
    }
    return store, names


# --- the chi-square survival function against closed forms and known quantiles -----------

# (df, x, P(X > x)): the 0.95 and 0.999 quantiles of standard tables.
QUANTILES = [
    (1, 3.841458820694124, 0.05),
    (1, 10.827566170662733, 0.001),
    (3, 7.814727903251178, 0.05),
    (10, 18.307038053275146, 0.05),
    (100, 124.34211340400407, 0.05),
    (1000, 1074.6794, 0.05),  # Wilson-Hilferty gives 1074.680
]


@pytest.mark.parametrize(("df", "x", "p"), QUANTILES, ids=[f"df{q[0]}-p{q[2]}" for q in QUANTILES])
def test_chi2_sf_at_table_quantiles(df: int, x: float, p: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(p, rel=1e-4)


@pytest.mark.parametrize("x", [1e-6, 0.5, 1.0, 2.0, 3.0, 7.5, 30.0, 200.0, 1000.0])
def test_chi2_sf_matches_closed_forms(x: float) -> None:
    # df 1: erfc(sqrt(x/2)); df 2: exp(-x/2); df 4: exp(-x/2)(1 + x/2). Both branches
    # (series below x/2 = df/2 + 1, continued fraction above) are crossed.
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9)
    assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-9)


def test_chi2_sf_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-1.0, 3) == 1.0
    assert chi2_sf(1e6, 3) == 0.0  # underflows to 0, never NaN
    with pytest.raises(ConfigError, match=r"^df must be > 0, got 0$"):
        chi2_sf(1.0, 0)


# --- the promises on real versions --------------------------------------------------------


def test_same_parameters_other_seed_is_not_flagged(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    d = diff_versions(store, v["base"], v["reseeded"])
    assert [p.name for p in d.parameters] == ["seed"]
    assert (d.parameters[0].a, d.parameters[0].b) == (1, 2)
    assert d.changed == ["seed"]
    assert not d.identical
    tested = [s for s in d.statistics if s.p_value is not None]
    assert len(tested) == 10  # six histograms, pixel histogram, mean, std, duplicates
    assert min(s.p_value or 0.0 for s in tested) > d.alpha


def test_other_type_weights_are_flagged_and_named(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    d = diff_versions(store, v["base"], v["blob_heavy"])
    assert "generator.type_weights.blob" in d.changed
    assert "object_types" in d.changed
    change = next(p for p in d.parameters if p.name == "generator.type_weights.blob")
    assert (change.a, change.b) == (0.4, 0.6)
    types = next(s for s in d.statistics if s.name == "object_types")
    assert types.p_value is not None
    assert types.p_value < 1e-50
    assert types.largest_category == "blob"
    assert types.difference == pytest.approx(0.6 / 1.2 - 0.4 / 1.0, abs=0.01)
    assert types.effect is not None
    assert 0.05 < types.effect < 0.2  # Cramér's V: a moderate effect


def test_same_version_twice_and_an_exact_remake_are_identical(
    versions: tuple[Path, dict[str, str]],
) -> None:
    store, v = versions
    for other in (v["base"], v["remake"]):
        d = diff_versions(store, v["base"], other)
        assert d.identical
        assert d.changed == []
        assert all(s.p_value == 1.0 for s in d.statistics)
    assert not diff_versions(store, v["base"], v["reseeded"]).identical


def test_versions_of_different_sizes(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    d = diff_versions(store, v["base"], v["small"])
    assert d.split_counts["total"] == (20_000, 2_000)
    assert d.split_counts["train"] == (16_000, 1_600)
    assert {p.name for p in d.parameters} == {"seed", "num_images"}
    assert not any(s.significant for s in d.statistics)
    assert any("duplicate share grows" in n for n in d.notes)
    meta = open_backend(store).metadata(v["base"])
    dups = next(s for s in d.statistics if s.name == "duplicates")
    assert dups.value_a == sum(meta["duplicates"].values()) / 20_000
    assert dups.categories[0]["a"] == sum(meta["duplicates"].values())


def test_parameters_an_older_version_lacks_count_as_their_defaults(
    versions: tuple[Path, dict[str, str]],
) -> None:
    store, v = versions
    meta = open_backend(store).metadata(v["base"])
    older = copy.deepcopy(meta)
    del older["generation_params"]["unique"]  # as written before Plan(unique=...) existed
    assert _parameter_changes(older, meta) == []
    meta["generation_params"]["unique"] = True
    meta["generation_params"]["generator"]["max_tries"] = 3
    assert _parameter_changes(older, meta) == [
        ParameterChange("generator.max_tries", 10, 3),
        ParameterChange("unique", False, True),
    ]


def test_one_split(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    d = diff_versions(store, v["base"], v["blob_heavy"], split="val")
    per_image = next(s for s in d.statistics if s.name == "objects_per_image")
    assert (per_image.n_a, per_image.n_b) == (2_000, 2_000)
    assert "object_types" in d.changed  # 10,000 objects still show a 0.4 -> 0.5 share


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, r"^alpha must be between 0 and 1 \(exclusive\), got 0.0$"),
        ({"alpha": 1.0}, r"^alpha must be between 0 and 1 \(exclusive\), got 1.0$"),
        ({"split": "holdout"}, r"^split must be one of train, val, test, heldout, got 'holdout'$"),
    ],
    ids=["alpha-0", "alpha-1", "split"],
)
def test_bad_arguments(
    versions: tuple[Path, dict[str, str]], kwargs: dict[str, object], message: str
) -> None:
    store, v = versions
    with pytest.raises(ConfigError, match=message):
        diff_versions(store, v["base"], v["base"], **kwargs)  # type: ignore[arg-type]


def test_unknown_version(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    with pytest.raises(VersionNotFoundError, match=r"version '2000-01-01-v9' not found"):
        diff_versions(store, v["base"], "2000-01-01-v9")


def test_false_positive_rate_of_same_parameter_pairs(tmp_path: Path) -> None:
    """Ten independent same-parameter pairs: 100 p-values that should look uniform.

    A test that ignores how pixels cluster within objects gives the three pixel rows
    p-values near 0 (the plain chi-square is ~10x too large), which this catches.
    """
    config = make_config("atomic")
    names = [_make(tmp_path, config, 5_000, 100 + seed) for seed in range(20)]
    p = np.array(
        [
            s.p_value
            for a, b in zip(names[::2], names[1::2], strict=True)
            for s in diff_versions(tmp_path, a, b).statistics
        ],
        float,
    )
    assert len(p) == 100
    assert 0.35 < p.mean() < 0.65  # uniform: 0.5, standard error 0.03
    assert np.mean(p < 0.05) < 0.15
    assert np.sum(p < 0.001) <= 2


# --- the variance model behind the pixel tests ------------------------------------------


@pytest.mark.parametrize(
    "config",
    [make_config("atomic"), make_config("atomic", grid_size=8, max_size=8, max_objects=12)],
    ids=["atomic", "crowded-8x8"],
)
def test_pixel_covariance_model_matches_images(config: gridstore.GeneratorConfig) -> None:
    """The model's per-image covariance of colour counts against the images' own."""
    images, ann = generate_images(config, 7, 0, 40_000)
    counts = split_counts(images, ann, config.max_size)
    st = _scope({"statistics": {"train": summarize(counts, config.grid_size)}, "generation_params": {"grid_size": config.grid_size}}, None)  # fmt: skip
    keys = [str(c) for c in range(10)]
    # A and B both this sample: the covariance of a difference is twice one version's.
    model = pixel_share_difference_cov([st, st], keys)
    assert model is not None
    n, cells = len(images), config.grid_size**2
    per_image = np.stack([(images.reshape(n, -1) == c).sum(1) for c in range(10)], 1)
    actual = 2 * np.cov(per_image.T) / (cells**2 * n)
    ratios = np.linalg.eigvals(np.linalg.solve(model[1:, 1:], actual[1:, 1:])).real
    # Never much below 1 (that would flag falsely); up to 16% above it, as measured, where
    # placement crowds out large objects and the model overstates Var(F).
    assert ratios.min() > 0.8
    assert ratios.max() < 1.1


# --- Wald and Cramér's V ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("difference", "cov", "stat", "df"),
    [
        ([1.0, 1.0], [[1.0, 0.9], [0.9, 1.0]], 2 / 1.9, 2),  # correlated: d' C^-1 d
        ([1.0, -1.0], [[1.0, -1.0], [-1.0, 1.0]], 1.0, 1),  # shares summing to 1: rank 1
        ([0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]], None, None),  # no variance: no test
    ],
    ids=["correlated", "singular", "no-variance"],
)
def test_wald_chi2(
    difference: list[float], cov: list[list[float]], stat: float | None, df: int | None
) -> None:
    result = wald_chi2(np.array(difference), np.array(cov))
    if stat is None:
        assert result is None
    else:
        assert result is not None
        assert df is not None
        assert result[0] == pytest.approx(stat)
        assert result[1] == df
        assert result[2] == pytest.approx(chi2_sf(stat, df))


def test_cramers_v() -> None:
    assert cramers_v(np.array([[30.0, 70.0], [30.0, 70.0]])) == 0.0
    assert cramers_v(np.array([[10.0, 0.0], [0.0, 5.0]])) == pytest.approx(1.0)
    # 2 x 2: V = |phi| = |ad - bc| / sqrt(product of the margins)
    table = np.array([[10.0, 20.0], [30.0, 15.0]])
    phi = abs(10 * 15 - 20 * 30) / math.sqrt(30 * 45 * 40 * 35)
    assert cramers_v(table) == pytest.approx(phi)


# --- pooling small categories ------------------------------------------------------------


def test_pool_small_merges_until_every_expected_count_is_five() -> None:
    table = np.array([[500, 400, 3, 1, 2, 6], [480, 420, 0, 2, 1, 5]], float)
    keys = ["a", "b", "c", "d", "e", "f"]
    pooled, merged = pool_small(table, keys)
    assert merged == ["c", "d", "e", "f"]  # c, d, e below 5; with f the merged one reaches it
    assert pooled.tolist() == [[500, 400, 12], [480, 420, 8]]
    expected = np.outer(pooled.sum(1), pooled.sum(0)) / pooled.sum()
    assert expected.min() >= 5
    assert pool_small(table[:, :2], keys[:2])[1] == []


# --- the command line ---------------------------------------------------------------------


def test_cli_table_names_what_changed(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    result = CliRunner().invoke(
        diff_command, [v["base"], v["blob_heavy"], "--store", str(store)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "parameters: 2 differ" in lines
    assert any(
        line.split() == ["generator.type_weights.blob", "0.4", "->", "0.6"] for line in lines
    )
    row = next(line for line in lines if line.startswith("object_types"))
    assert row.endswith("DIFFERS")
    assert "blob +10." in row
    assert not any(
        line.endswith("DIFFERS") for line in lines if not line.startswith("object_types")
    )
    assert lines[-2] == "changed: seed, generator.type_weights.blob, object_types"


def test_cli_json_has_the_same_content(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    args = [v["base"], v["blob_heavy"], "--store", str(store), "--json"]
    result = CliRunner().invoke(diff_command, args, catch_exceptions=False)
    assert result.exit_code == 0
    out = json.loads(result.output)
    assert out["changed"] == ["seed", "generator.type_weights.blob", "object_types"]
    assert out["split_counts"]["total"] == [20_000, 20_000]
    types = next(s for s in out["statistics"] if s["name"] == "object_types")
    assert types["significant"] is True
    assert [c["category"] for c in types["categories"]] == ["blob", "rectangle", "line", "pattern"]


def test_cli_same_version_and_default_store(
    versions: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, v = versions
    monkeypatch.chdir(store.parent)  # the default --store is ./datasets
    result = CliRunner().invoke(diff_command, [v["base"], v["base"]], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "identical: the same version"
    result = CliRunner().invoke(diff_command, [v["base"], v["reseeded"]], catch_exceptions=False)
    assert "parameters: 1 differs" in result.output
    assert "changed: seed" in result.output.splitlines()


def test_cli_errors(versions: tuple[Path, dict[str, str]]) -> None:
    store, v = versions
    result = CliRunner().invoke(diff_command, [v["base"], "2000-01-01-v9", "--store", str(store)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: version '2000-01-01-v9' not found in store '{store}'; available: "
        + ", ".join(sorted(v.values()))
    ]
    result = CliRunner().invoke(diff_command, [v["base"], v["base"], "--alpha", "1"])
    assert result.exit_code == 2
    assert "Invalid value for '--alpha'" in result.output
