"""Tests for gridstore.viz: palette, colorize, preview and stats sheets."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gridstore.errors import ConfigError
from gridstore.viz import ARC_PALETTE, colorize, render_preview, render_stats

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 1_000_000


@dataclass(frozen=True)
class FakeAnnotations:
    """Stands in for gridstore.generate.Annotations: the same fields, as attributes."""

    num_objects: np.ndarray
    object_type: np.ndarray
    object_subtype: np.ndarray
    object_colour: np.ndarray
    object_size: np.ndarray
    object_bbox: np.ndarray
    instance_map: np.ndarray


def synthetic(n: int, g: int = 16, k: int = 4, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Images of 1..k non-overlapping rectangles (one per horizontal band) and their annotations."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, g, g), np.uint8)
    ann = {
        "num_objects": rng.integers(1, k + 1, n).astype(np.uint8),
        "object_type": np.zeros((n, k), np.uint8),
        "object_subtype": np.zeros((n, k), np.uint8),
        "object_colour": np.zeros((n, k), np.uint8),
        "object_size": np.zeros((n, k), np.uint16),
        "object_bbox": np.zeros((n, k, 4), np.uint8),
        "instance_map": np.zeros((n, g, g), np.uint8),
    }
    band = g // k
    for i in range(n):
        for j in range(ann["num_objects"][i]):
            h = int(rng.integers(1, band + 1))
            w = int(rng.integers(2, g // 2 + 1))
            r, c = j * band + int(rng.integers(0, band - h + 1)), int(rng.integers(0, g - w + 1))
            colour = int(rng.integers(1, 10))
            images[i, r : r + h, c : c + w] = colour
            ann["instance_map"][i, r : r + h, c : c + w] = j + 1
            ann["object_type"][i, j] = rng.choice([1, 2, 3, 4], p=[0.4, 0.2, 0.2, 0.2])
            ann["object_colour"][i, j] = colour
            ann["object_size"][i, j] = h * w
            ann["object_bbox"][i, j] = (r, c, r + h - 1, c + w - 1)
    return images, ann


def png_rgb(path: Path) -> np.ndarray:
    """Read a PNG back as an (H, W, 3) uint8 array, after checking its signature."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def has_colour(rgb: np.ndarray, hex_colour: str) -> bool:
    """Whether any pixel of ``rgb`` is exactly ``hex_colour``."""
    target = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    return bool((rgb == target).all(axis=-1).any())


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, dict]:
    return synthetic(400)


@pytest.fixture(scope="module")
def preview(tmp_path_factory: pytest.TempPathFactory, corpus: tuple[np.ndarray, dict]) -> Path:
    images, _ = corpus
    idx = np.sort(np.random.default_rng(1).choice(len(images), 100, replace=False))
    path = tmp_path_factory.mktemp("viz") / "nested" / "dir" / "preview.png"
    subtitle = "preset atomic, seed 42, split train"
    out = render_preview(images[idx], idx, path, title="2025-10-22-v1 12:00Z", subtitle=subtitle)
    assert out == path
    return out


# --- palette and colorize ---------------------------------------------------------------


def test_palette_is_the_ten_arc_colours() -> None:
    assert len(ARC_PALETTE) == 10
    assert ARC_PALETTE[0] == "#000000"
    assert ARC_PALETTE[9] == "#870C25"
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in ARC_PALETTE)


@pytest.mark.parametrize(
    ("value", "rgb"),
    [
        (0, (0, 0, 0)),
        (1, (0, 116, 217)),
        (2, (255, 65, 54)),
        (3, (46, 204, 64)),
        (4, (255, 220, 0)),
        (5, (170, 170, 170)),
        (6, (240, 18, 190)),
        (7, (255, 133, 27)),
        (8, (127, 219, 255)),
        (9, (135, 12, 37)),
    ],
    ids=["black", "blue", "red", "green", "yellow", "grey", "magenta", "orange", "sky", "maroon"],
)
def test_colorize_maps_each_value_to_its_palette_colour(value: int, rgb: tuple) -> None:
    out = colorize(np.full((2, 2), value, np.uint8))
    assert out.dtype == np.uint8
    assert out.shape == (2, 2, 3)
    assert (out == np.array(rgb, np.uint8)).all()


def test_colorize_is_an_exact_vectorised_lookup(corpus: tuple[np.ndarray, dict]) -> None:
    images = corpus[0][:20]
    out = colorize(images)
    assert out.shape == (*images.shape, 3)
    expected = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in ARC_PALETTE])
    assert (out == expected[images]).all()
    assert (colorize(images[3]) == out[3]).all()


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 2)), "images must be an integer array {}, got float64 (2, 2)"),
        (np.zeros(3, np.int64), "images must be an integer array {}, got int64 (3,)"),
        (np.array([[0, 10]]), "cell values must be in 0..9, got 0..10; pass generator output"),
        (
            np.array([[-1, 0]], np.int8),
            "cell values must be in 0..9, got -1..0; pass generator output",
        ),
    ],
    ids=["float", "1-d", "too-large", "negative"],
)
def test_colorize_rejects_bad_input(images: np.ndarray, message: str) -> None:
    message = message.format("(G, G) or (n, G, G)")
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        colorize(images)


# --- preview sheet ----------------------------------------------------------------------


def test_preview_is_a_small_readable_png(preview: Path) -> None:
    assert preview.stat().st_size < MAX_PNG_BYTES
    rgb = png_rgb(preview)
    height, width, _ = rgb.shape
    assert 1000 < width < 2500
    assert 1000 < height < 2500
    assert width > height  # grid plus the statistics panel on the right


def test_preview_draws_the_palette_and_records_its_title(preview: Path) -> None:
    rgb = png_rgb(preview)
    for colour in ARC_PALETTE:  # every colour appears (images and histogram bars)
        assert has_colour(rgb, colour), colour
    with Image.open(preview) as img:
        assert img.info["Title"] == "2025-10-22-v1 12:00Z"


@pytest.mark.parametrize(("n", "g"), [(1, 16), (7, 30), (3, 5)], ids=["one", "large-grid", "tiny"])
def test_preview_handles_few_images_and_other_grid_sizes(tmp_path: Path, n: int, g: int) -> None:
    images, _ = synthetic(n, g=g, k=1 if g < 8 else 4)
    path = render_preview(images, range(n), tmp_path / "p.png", title="t")
    assert path.stat().st_size < MAX_PNG_BYTES
    assert png_rgb(path).shape[2] == 3


@pytest.mark.parametrize(
    ("shape", "n_indices", "grid", "message"),
    [
        ((101, 16, 16), 101, (10, 10), "need 1..100 images {}, got (101, 16, 16), 101"),
        ((5, 16, 16), 5, (2, 2), "need 1..4 images {}, got (5, 16, 16), 5"),
        ((3, 16, 16), 2, (10, 10), "need 1..100 images {}, got (3, 16, 16), 2"),
        ((2, 4, 5), 2, (10, 10), "need 1..100 images {}, got (2, 4, 5), 2"),
        ((0, 16, 16), 0, (10, 10), "need 1..100 images {}, got (0, 16, 16), 0"),
    ],
    ids=["too-many", "small-grid", "indices-mismatch", "not-square", "empty"],
)
def test_preview_rejects_bad_input(
    tmp_path: Path, shape: tuple, n_indices: int, grid: tuple, message: str
) -> None:
    message = message.format("(n, G, G) and n indices")
    images, path = np.zeros(shape, np.uint8), tmp_path / "p.png"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        render_preview(images, range(n_indices), path, title="t", grid=grid)
    assert not path.exists()


# --- stats sheet ------------------------------------------------------------------------


def test_stats_sheet_from_mapping_and_from_attributes(
    tmp_path: Path, corpus: tuple[np.ndarray, dict]
) -> None:
    _, ann = corpus
    weights = {"blob": 0.4, "rectangle": 0.2, "line": 0.2, "pattern": 0.2}
    kwargs = {"title": "v1 / train", "expected_type_weights": weights, "max_objects": 4}
    a = render_stats(ann, tmp_path / "a" / "stats.png", **kwargs)
    b = render_stats(FakeAnnotations(**ann), tmp_path / "b.png", **kwargs)
    assert a.stat().st_size < MAX_PNG_BYTES
    rgb = png_rgb(a)
    assert rgb.shape[0] > 600
    assert rgb.shape[1] > 900
    for colour in ARC_PALETTE[1:]:  # colour bars drawn in the palette
        assert has_colour(rgb, colour), colour
    assert a.read_bytes() == b.read_bytes()  # same input, same bytes, whatever the container


def test_stats_sheet_without_expectations_and_with_missing_types(
    tmp_path: Path, corpus: tuple[np.ndarray, dict]
) -> None:
    ann = dict(corpus[1])
    ann["object_type"] = np.where(ann["object_type"] == 1, 2, ann["object_type"]).astype(np.uint8)
    assert render_stats(ann, tmp_path / "s.png", title="no blobs").stat().st_size < MAX_PNG_BYTES
    weights = {"rectangle": 1.0, "line": 1.0, "pattern": 1.0}  # blob missing: weight 0
    render_stats(ann, tmp_path / "t.png", title="t", expected_type_weights=weights, max_objects=6)


def _bad(corpus: tuple[np.ndarray, dict], **changes: object) -> dict:
    ann = {**corpus[1], **changes}
    return {k: v for k, v in ann.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "weights", "message"),
    [
        (
            {"object_size": None},
            None,
            "annotations have no field 'object_size'; pass the fields of docs/internals.md",
        ),
        (
            {"object_colour": np.full((400, 4), 10, np.uint8)},
            None,
            "annotation 'object_colour' must hold integers in 0..9; pass generator output",
        ),
        (
            {"object_size": np.zeros((400, 4))},
            None,
            "annotation 'object_size' must hold integers in 0..65535; pass generator output",
        ),
        (
            {"object_type": np.zeros((400, 5), np.uint8)},
            None,
            "annotations need n >= 1 and (n, K) object fields, got (400,) and [(400, 4), (400, 5)]",
        ),
        (
            {"num_objects": np.zeros(0, np.uint8)},
            None,
            "annotations need n >= 1 and (n, K) object fields, got (0,) and [(400, 4)]",
        ),
        ({}, {"circle": 1.0}, "unknown object type 'circle'; use blob, rectangle, line, pattern"),
    ],
    ids=["missing-field", "colour-range", "float-size", "shape-mismatch", "no-images", "unknown"],
)
def test_stats_rejects_bad_input(
    tmp_path: Path, corpus: tuple[np.ndarray, dict], changes: dict, weights: dict, message: str
) -> None:
    ann, path = _bad(corpus, **changes), tmp_path / "s.png"
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        render_stats(ann, path, title="t", expected_type_weights=weights)
    assert not path.exists()


# --- import hygiene ---------------------------------------------------------------------


def test_import_is_lazy_and_rendering_never_touches_pyplot(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, gridstore.viz as v\n"
        "print('matplotlib' in sys.modules)\n"
        f"v.render_preview(np.zeros((2, 4, 4), np.uint8), [0, 1], {str(tmp_path / 'p.png')!r}, "
        "title='t')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.split() == ["False", "False"]
