"""The parquet export loads in `datasets` with the right features, its card and Croissant are
read by the Hub's and MLCommons' libraries, and every file is the same bytes each time.

Everything is loaded from real files with the real libraries, offline: ``datasets.load_dataset``
on the export's directory, ``huggingface_hub.DatasetCard`` on its README, ``mlcroissant`` on
its croissant.json. Round trips compare every array of every split with the store's.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gridstore.cli import main
from gridstore.errors import ConfigError, GridstoreError
from gridstore.plan import Plan
from gridstore.publish import publish_version, write_card
from gridstore.publish.card import regenerate_command
from gridstore.publish.schema import CLASS_NAMES, STORE_FIELDS, from_rows, hf_features
from gridstore.read import open_store
from gridstore.read.view import select
from gridstore.write.versions import create_version
from tests.conftest import version_chunks
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture  # noqa: F401 - fixtures

# A version whose splits span two chunks (train: 4,000 + 800 images), with shards (1,500
# rows) that cut through chunks.
PLAN = Plan(num_images=6_000, seed=5, blocks_per_chunk=1)
SHARD = 1_500
SLOTS = PLAN.config.max_objects


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``datasets``, offline, with its caches in a temp directory (set before its import)."""
    home = tmp_path_factory.mktemp("hf_home")
    os.environ.update(HF_HOME=str(home), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    import datasets

    return datasets


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    store = tmp_path_factory.mktemp("publish") / "datasets"
    meta = create_version(store, PLAN, engine="serial", show_progress=False)
    return store, meta["version"]


@pytest.fixture(scope="module")
def export(version: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store, name = version
    out = tmp_path_factory.mktemp("exports") / "hub"
    return publish_version(store, name, out, shard_images=SHARD)


def store_rows(store: Path | str, name: str, split: str, where: Any = ()) -> dict[str, np.ndarray]:
    """Every array of a split (or its ``where`` rows) as the store holds them, and ``index``."""
    view = select(open_store(store).version(name)[split], where)
    return {"index": view.indices[:], **{f: view.annotation(f)[:] for f in STORE_FIELDS}}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for f, a in want.items():
        assert got[f].dtype == a.dtype, f
        np.testing.assert_array_equal(got[f], a, err_msg=f)


def test_load_dataset_gives_the_features_and_every_array_back(
    hf: Any, version: tuple[Path, str], export: Path, tmp_path: Path
) -> None:
    store, name = version
    assert sorted(p.name for p in (export / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00004.parquet",
        "train-00001-of-00004.parquet",
        "train-00002-of-00004.parquet",
        "train-00003-of-00004.parquet",
        "val-00000-of-00001.parquet",
    ]
    ds = hf.load_dataset(str(export), cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["train", "val", "test"]
    features = ds["train"].features
    assert features == hf.Features.from_dict(hf_features(16))
    assert isinstance(features["image"], hf.Array2D) and features["image"].shape == (16, 16)
    assert features["image"].dtype == "uint8" and isinstance(features["instance_map"], hf.Array2D)
    for column, names in CLASS_NAMES.items():
        assert features[column].feature.names == list(names)
    assert features["object_bbox"].feature.length == 4
    for split in ds:
        got = from_rows(ds[split].with_format("numpy")[:], SLOTS)
        assert_same(got, store_rows(store, name, split))
    row = ds["train"][0]  # a row as users see it: lists, and names through the features
    assert (
        features["object_type"].feature.int2str(row["object_type"][0]) in CLASS_NAMES["object_type"]
    )


def test_the_parquet_files_alone_carry_the_class_names(
    hf: Any, export: Path, tmp_path: Path
) -> None:
    """Without the card (shards copied elsewhere), the schema still names the classes;
    the images are lists of rows (Array2D comes from the card)."""
    files = sorted(str(p) for p in (export / "data").glob("val-*.parquet"))
    features = hf.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "c"))[
        "train"
    ].features
    want = hf.Features.from_dict(hf_features(16))
    assert {k: v for k, v in features.items() if k not in ("image", "instance_map")} == {
        k: v for k, v in want.items() if k not in ("image", "instance_map")
    }
    assert features["image"] == hf.List(hf.List(hf.Value("uint8")))


def test_the_card_front_matter_is_what_the_hub_reads(
    hf: Any, version: tuple[Path, str], export: Path
) -> None:
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(export / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "unknown"
    assert data["size_categories"] == ["1K<n<10K"]
    assert {"image-classification", "object-detection"} <= set(data["task_categories"])
    assert data["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": s, "path": f"data/{s}-*"} for s in ("train", "val", "test")],
        }
    ]
    infos = hf.info.DatasetInfosDict.from_dataset_card_data(card.data)
    assert infos["default"].features == hf.Features.from_dict(hf_features(16))
    sizes = {s.name: (s.num_examples, s.num_bytes) for s in infos["default"].splits.values()}
    files = {s: sum(p.stat().st_size for p in (export / "data").glob(f"{s}-*")) for s in sizes}
    assert sizes == {"train": (4_800, files["train"]), "val": (600, files["val"]),
                     "test": (600, files["test"])}  # fmt: skip
    meta = open_store(version[0]).version(version[1]).metadata
    text = card.text
    assert "![100 samples of the train split](preview.png)" in text
    assert (export / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        regenerate_command(meta) in text
        and json.dumps(meta["generation_params"]["generator"], indent=2) in text
    )
    assert f"| train | 4,800 | {meta['statistics']['train']['pixel_mean']:.4f} |" in text
    assert f"`{meta['digest']}`" in text and f"gridstore reproduce {version[1]}" in text


def test_the_cards_command_regenerates_the_version_byte_for_byte(tmp_path: Path) -> None:
    """The card's command, as written, through the command line: the same chunk files."""
    plan = Plan(num_images=1_500, seed=11, fractions=(0.6, 0.2, 0.2), unique=True)
    store = tmp_path / "first"
    meta = create_version(store, plan, engine="serial", show_progress=False)
    command = regenerate_command(meta, store=str(tmp_path / "again"))
    args = shlex.split(command)
    assert args[:2] == ["gridstore", "generate"] and "--unique" in args
    run = CliRunner().invoke(main, args[1:])
    assert run.exit_code == 0, run.output
    chunks = version_chunks(tmp_path / "again", meta["version"])
    assert len(chunks) > 20 and chunks == version_chunks(store, meta["version"])


def test_a_chunking_that_is_no_option_goes_through_a_config_file() -> None:
    meta = {"version": "v", "generation_params": {**PLAN.to_dict(), "blocks_per_chunk": 2}}
    command = regenerate_command(meta)
    assert command.startswith("echo 'blocks_per_chunk = 2' > chunking.toml && gridstore generate")
    assert command.endswith("--config chunking.toml --yes")


# mlcroissant's own use of rdflib and pandas deprecations, not ours:
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index is deprecated")
def test_croissant_validates_and_its_records_are_the_stores(
    version: tuple[Path, str], tmp_path: Path
) -> None:
    import mlcroissant as mlc

    store, name = version
    where = [
        {"object_type": "pattern", "num_objects": 1}
    ]  # a few hundred records: mlcroissant is slow
    out = publish_version(store, name, tmp_path / "sel", where=where, license="cc-by-4.0")
    card = (out / "README.md").read_text()
    text = "object_type='pattern', num_objects=1"
    assert f"matching `{text}`" in card and f"each split where {text}." in card
    dataset = mlc.Dataset(jsonld=str(out / "croissant.json"))  # raises on any validation error
    assert (
        dataset.metadata.ctx.issues.errors == set()
        and dataset.metadata.ctx.issues.warnings == set()
    )
    doc = json.loads((out / "croissant.json").read_text())
    assert (
        doc["conformsTo"] == "http://mlcommons.org/croissant/1.1" and doc["license"] == "cc-by-4.0"
    )
    for obj in [d for d in doc["distribution"] if d["@type"] == "cr:FileObject"]:
        from gridstore.publish.croissant import sha256

        assert obj["sha256"] == sha256(out / obj["contentUrl"])
    for column, names in CLASS_NAMES.items():
        records = list(dataset.records(f"{column}_names"))
        assert [r[f"{column}_names/name"] for r in records] == list(names)
    records: dict[str, list[dict[str, Any]]] = {}
    for r in dataset.records("images"):
        records.setdefault(r["images/split"].decode(), []).append(r)
    for split in ("train", "val", "test"):
        want = store_rows(store, name, split, where)
        got = {k.removeprefix("images/"): [r[k] for r in records[split]] for k in records[split][0]}
        assert len(got["index"]) == len(want["index"]) > 0
        assert_same(from_rows(got, SLOTS), want)


def test_a_store_on_s3_exports_the_same_shards(bucket: str, tmp_path: Path) -> None:
    plan = Plan(num_images=1_000, seed=5)
    url, local = f"s3://{bucket}/datasets", tmp_path / "datasets"
    name = create_version(url, plan, engine="serial", show_progress=False)["version"]
    create_version(local, plan, engine="serial", show_progress=False)
    one = publish_version(url, name, tmp_path / "from-s3")
    two = publish_version(local, name, tmp_path / "from-disk")
    files = sorted(p.name for p in (two / "data").iterdir())
    assert files == sorted(p.name for p in (one / "data").iterdir()) and len(files) == 3
    for f in files:
        assert (one / "data" / f).read_bytes() == (two / "data" / f).read_bytes(), f


def test_the_export_command_writes_the_same_bytes_and_refuses_to_clobber(
    version: tuple[Path, str], export: Path, tmp_path: Path
) -> None:
    """Exported again, by the command line, every file is the same bytes."""
    store, name = version
    out = tmp_path / "again"
    args = ["export", name, "--store", str(store), "--format", "parquet", "-o", str(out), "-q"]
    run = CliRunner().invoke(main, [*args, "--shard-images", str(SHARD)])
    assert run.exit_code == 0, run.output
    assert run.output.strip() == str(out)
    files = sorted(p.relative_to(export) for p in export.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert len(files) == 9
    for f in files:
        assert (export / f).read_bytes() == (out / f).read_bytes(), f
    again = CliRunner().invoke(main, args)  # not replaced without --overwrite
    assert again.exit_code == 1 and "is not empty" in again.output
    (out / "notes.txt").write_text("mine")
    forced = CliRunner().invoke(main, [*args, "--overwrite"])
    assert forced.exit_code == 1 and "not a gridstore export ('notes.txt')" in forced.output
    assert (out / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="no image of version"):
        publish_version(
            store, name, tmp_path / "none", where=[{"num_objects": 1}, {"num_objects": 2}]
        )
    with pytest.raises(ConfigError, match="unknown export format 'csv'"):
        publish_version(store, name, tmp_path / "csv", fmt="csv")
    with pytest.raises(GridstoreError, match="exists; choose another --output"):
        write_card(store, name, out / "README.md")
    assert not (tmp_path / "none").exists() and not list(tmp_path.glob(".*tmp"))


def test_the_card_command_writes_the_card_and_preview(
    version: tuple[Path, str], tmp_path: Path
) -> None:
    store, name = version
    out = tmp_path / "card" / "README.md"
    run = CliRunner().invoke(
        main, ["card", name, "--store", str(store), "-o", str(out), "--license", "mit"]
    )
    assert run.exit_code == 0, run.output
    text = out.read_text()
    assert text.startswith('---\nlicense: "mit"\n') and "num_examples: 4800" in text
    assert "num_bytes" not in text  # no files yet: no sizes
    assert (out.parent / "preview.png").is_file()


MEASURE = textwrap.dedent(
    """
    import itertools, json, math, sys, tracemalloc
    from pathlib import Path
    import pyarrow as pa
    from gridstore.publish import parquet, webdataset
    from gridstore.publish.rows import chunks
    from gridstore.read import open_store
    from gridstore.read.view import select

    store, name, out = sys.argv[1:]
    version = open_store(store).version(name)
    train = version["train"]
    arrays = [train.annotation(f) for f in train.fields]
    raw = sum(a.dtype.itemsize * math.prod(a.shape) for a in arrays)
    size = train.images.chunk_images
    m = {"raw": raw, "chunk": raw * size // len(train)}
    for writer in (parquet, webdataset):
        for label, take in (("warm-up", None), ("two chunks", 2), ("whole split", None)):
            view = select(version["val"] if label == "warm-up" else train)  # pyarrow imports pandas once
            rows = min(len(view), (take or len(view)) * size)
            view.chunk_counts()  # opened and counted before: only the stream is measured
            where = Path(out, writer.__name__, label)
            where.mkdir(parents=True)
            tracemalloc.start()  # numpy's buffers; Arrow's pool counts its own
            writer.write_split(where, "train", rows, itertools.islice(chunks(view), take), grid=16, shard_images=10**6)
            m[f"{writer.__name__} {label}"] = tracemalloc.get_traced_memory()[1]
            m[f"arrow {label}"] = pa.default_memory_pool().max_memory()  # the peak so far
            tracemalloc.stop()
    print(json.dumps(m))
    """
)


def test_memory_does_not_grow_with_the_split(tmp_path: Path) -> None:
    """Writing a split of about five chunks holds what writing two of them holds (the one
    being written and the one being read), to parquet and to tar: measured in a fresh
    process, numpy's peak (tracemalloc) and Arrow's pool peak."""
    store = tmp_path / "datasets"
    plan = Plan(num_images=24_000, seed=1, blocks_per_chunk=1)
    name = create_version(store, plan, engine="serial", show_progress=False)["version"]
    run = subprocess.run([sys.executable, "-c", MEASURE, str(store), name, str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    m = json.loads(run.stdout.splitlines()[-1])
    assert m["raw"] > 4.5 * m["chunk"]  # 19,200 train images in chunks of 4,000
    for writer in ("gridstore.publish.parquet", "gridstore.publish.webdataset"):
        two, whole = m[f"{writer} two chunks"], m[f"{writer} whole split"]
        assert whole < 1.2 * two and whole < 0.6 * m["raw"], m
    # Arrow's pool peaks at a constant (the writer's column buffers): reached in the warm-up.
    assert m["arrow whole split"] == m["arrow warm-up"] < m["raw"] * 4, m


def test_the_publishing_modules_import_none_of_the_libraries_they_feed() -> None:
    """The CLI's startup and every publishing module stay light: pyarrow loads on the
    first parquet write; datasets, mlcroissant, grain and webdataset never."""
    code = (
        "import sys, gridstore, gridstore.cli, gridstore.read.grain\n"
        "import gridstore.publish.card, gridstore.publish.croissant\n"
        "import gridstore.publish.parquet, gridstore.publish.webdataset\n"
        "heavy = ('pyarrow', 'datasets', 'mlcroissant', 'grain', 'webdataset', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
