"""A paired version shared by the pair tests (built once per session, with the real writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridstore.plan import Plan
from gridstore.write.versions import create_version
from tests.conftest import version_chunks

# One routing block per task: 6,000 images are a whole task and a partial one.
PLAN = Plan(num_images=6000, seed=3, blocks_per_chunk=1, pairs="all")
VERSION = "2026-02-02-v1"


@pytest.fixture(scope="session")
def paired(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict[str, bytes]]:
    """(store, metadata, chunk files) of `PLAN` written serially."""
    store = tmp_path_factory.mktemp("paired") / "s"
    meta = create_version(store, PLAN, name=VERSION, engine="serial", show_progress=False)
    return store, meta, version_chunks(store, VERSION)
