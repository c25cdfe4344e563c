"""The torch loaders' contract: one batch stream whatever the worker count, exact resume, len."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers_layout import make_split, write_version
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from gridstore.errors import ConfigError
from gridstore.read import open_store

VERSION = "2026-01-01-v1"
# 1000 rows in chunks of 96 (the last one short), windows of 2 chunks: batches of 64
# span windows, and the last batch is short (1000 = 15 * 64 + 40).
ROWS, CHUNK, BATCH = 1000, 96, 64
# torch's advice when a DataLoader has more workers than cores (3 on CI's 2): the order
# must not depend on the worker count, so 3 is tested all the same.
MANY_WORKERS = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
STREAM = {"seed": 3, "epoch": 1, "window_chunks": 2, "fields": ("images", "num_objects")}


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("loader") / "store"
    data = make_split(ROWS, seed=5)
    data["images"][:, 15, :4] = np.arange(ROWS)[:, None] // 9 ** np.arange(4) % 9 + 1  # row ids
    write_version(path, VERSION, {"train": data}, {"train": CHUNK})
    return open_store(path).version(VERSION)["train"]


def as_numpy(batches) -> list[dict[str, np.ndarray]]:
    """Batches (tensors or arrays, dicts) as dicts of numpy arrays."""
    return [{k: np.asarray(v) for k, v in b.items()} for b in batches]


def assert_same(got: list, want: list) -> None:
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(as_numpy(got), as_numpy(want), strict=True)):
        assert g.keys() == w.keys(), i
        for k in g:
            np.testing.assert_array_equal(g[k], w[k], err_msg=f"batch {i}, {k}")


def timeout(workers: int) -> dict[str, int]:
    """A DataLoader's timeout keyword: a stuck worker fails the test (workers only)."""
    return {"timeout": 60} if workers else {}


def loaded(dataset, workers: int) -> list:
    return list(DataLoader(dataset, batch_size=None, num_workers=workers, **timeout(workers)))


@MANY_WORKERS
@pytest.mark.parametrize("drop_last", [False, True], ids=["keep-last", "drop-last"])
def test_the_loader_yields_the_batch_stream_for_any_worker_count(split, drop_last: bool) -> None:
    stream = list(split.batches(BATCH, drop_last=drop_last, **STREAM))
    assert len(stream) == (15 if drop_last else 16)
    for workers in (0, 1, 2, 3):
        dataset = split.torch_iterable(BATCH, drop_last=drop_last, **STREAM)
        assert len(dataset) == len(stream)
        loader = DataLoader(dataset, batch_size=None, num_workers=workers, **timeout(workers))
        assert len(loader) == len(stream)
        assert_same(list(loader), stream)


@MANY_WORKERS
def test_start_step_counts_the_loaders_steps_for_any_worker_count(split) -> None:
    stream = list(split.batches(BATCH, **STREAM))
    for workers, step in [(0, 5), (1, 15), (2, 5), (2, 6), (3, 7), (3, 16), (2, 40)]:
        dataset = split.torch_iterable(BATCH, start_step=step, **STREAM)
        assert len(dataset) == len(stream[step:])
        assert_same(loaded(dataset, workers), stream[step:])


@MANY_WORKERS
def test_a_rank_and_a_view_stream_alike_under_workers(split) -> None:
    rank = {**STREAM, "rank": 1, "world_size": 2}
    stream = list(split.batches(10, **rank))
    assert_same(loaded(split.torch_iterable(10, **rank), 3), stream)
    view = split.where(num_objects=[1, 2])
    stream = list(view.batches(BATCH, **STREAM))
    assert 0 < len(view) < ROWS and len(stream) == -(-len(view) // BATCH)
    assert_same(loaded(view.torch_iterable(BATCH, **STREAM), 2), stream)
    assert_same(list(view.torch_loader(BATCH, num_workers=2, **STREAM)), stream)


def take(loader, n: int) -> tuple[list, dict]:
    """The first `n` batches of an epoch of `loader`, and its state after them."""
    it, got = iter(loader), []
    for _ in range(n):
        got.append(next(it))
    state = loader.state_dict()
    del it
    return got, state


@MANY_WORKERS
@pytest.mark.parametrize(("saved", "restored"), [(2, 2), (2, 1), (2, 0), (0, 3)])
def test_torch_loader_resumes_exactly_with_another_worker_count(
    split, saved: int, restored: int
) -> None:
    stream = list(split.batches(BATCH, **STREAM))
    head, state = take(split.torch_loader(BATCH, num_workers=saved, **timeout(saved), **STREAM), 7)
    assert_same(head, stream[:7])
    assert state["epoch"] == STREAM["epoch"] and state["step"] == 7
    loader = split.torch_loader(BATCH, num_workers=restored, **timeout(restored), **STREAM)
    loader.load_state_dict(json.loads(json.dumps(state)))  # as a JSON checkpoint gives it back
    loader.set_epoch(STREAM["epoch"])  # a training loop's usual call keeps the saved place
    assert len(loader) == len(stream) - 7
    assert_same(list(loader), stream[7:])
    assert_same(list(loader), stream)  # the next pass over the same epoch is whole
    loader.set_epoch(2)
    assert_same(list(loader), list(split.batches(BATCH, **{**STREAM, "epoch": 2})))


def test_torch_loader_refuses_a_state_of_another_stream(split) -> None:
    _, state = take(split.torch_loader(BATCH, **STREAM), 2)
    loader = split.torch_loader(BATCH, **{**STREAM, "seed": 4})
    with pytest.raises(ConfigError, match=r"^the saved loader state has seed=3 but this loader"):
        loader.load_state_dict(state)
    with pytest.raises(ConfigError, match="persistent_workers"):
        split.torch_loader(BATCH, num_workers=1, persistent_workers=True)


# torchdata 0.11 calls torch.set_vital, which torch 2.13 deprecates.
@pytest.mark.filterwarnings("ignore:'set_vital' is deprecated:UserWarning")
@pytest.mark.parametrize("workers", [0, 2])
def test_stateful_dataloader_restores_the_iterable_mid_epoch(split, workers: int) -> None:
    stream = list(split.batches(BATCH, **STREAM))
    dataset = split.torch_iterable(BATCH, **STREAM)
    kwargs = {"batch_size": None, "num_workers": workers}
    head, state = take(StatefulDataLoader(dataset, **kwargs), 5)
    assert_same(head, stream[:5])
    loader = StatefulDataLoader(split.torch_iterable(BATCH, **STREAM), **kwargs)
    loader.load_state_dict(state)
    assert_same(list(loader), stream[5:])


def test_an_unfinished_stream_and_loader_exit_without_a_message(split) -> None:
    # The stream is held by a module imported before concurrent.futures (as a
    # framework's registry may hold it), so it is finalised after that module's
    # teardown: closing its reader then met `queue.Empty` with `queue` gone.
    code = textwrap.dedent(
        f"""
        import os
        from gridstore.read import open_store
        split = open_store({str(split.store.path)!r}).version({VERSION!r})["train"]
        os.held_stream = split.batches(8, window_chunks=1)
        next(os.held_stream)  # left suspended, its reader's threads alive, at exit
        loader = split.torch_loader(8, num_workers=2)
        it = iter(loader)
        next(it)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""


def test_the_readmes_training_loop_runs_with_an_empty_stderr(split) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (loop,) = [b for b in blocks if "train.torch_loader(" in b]
    prelude = textwrap.dedent(
        f"""
        import torch
        from gridstore.read import open_store
        train = open_store({str(split.store.path)!r}).version({VERSION!r})["train"]
        class Model(torch.nn.Module):  # per-cell colour logits, one weight per colour
            def __init__(self):
                super().__init__()
                self.logits = torch.nn.Parameter(torch.zeros(10))
            def forward(self, images):
                return self.logits[None, :, None, None].expand(len(images), 10, 16, 16)
        model = Model()
        loss_fn, epochs = torch.nn.CrossEntropyLoss(), 2
        """
    )
    code = prelude + loop + "print(epoch, loader.state_dict()['step'], len(loader))\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout == "1 3 3\n"  # epoch 1 done: 1000 // 256 = 3 batches, the short one dropped
