"""Check a committed version: structure, integrity, generator rules and regeneration.

Metadata, structure, counts and the presence of every chunk file are checked here
in full (metadata and directory listings only). Data checks read sampled chunk
indices (all with ``full``) as tasks on an engine (`gridstore.engines.run_tasks`,
as generation runs): task ``c`` wrote chunk ``c`` of every split, so one
regeneration checks that index in all splits (`gridstore.validate.task`). This
process only merges: failures in chunk order, content hashes spilled to
temporary files and counted bucket by bucket (`gridstore.validate.hashes`).
Memory: per worker one task's data twice (stored, regenerated; ~11 MB each by
default); here a few tens of MB whatever the version's size.
"""

from __future__ import annotations

import json
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from gridstore.arguments import EngineName, check_engine, check_int
from gridstore.errors import GridstoreError
from gridstore.metadata import REQUIRED_KEYS
from gridstore.pairs.validation import twin_verdict
from gridstore.plan import SPLITS, Plan
from gridstore.read.source import chunk_key
from gridstore.storage import FIELDS, StoreBackend, open_backend, zarr_store
from gridstore.storage.registry import resolve
from gridstore.validate.digest import check_digest
from gridstore.validate.holdout import check_heldout_count, hold_out_passed
from gridstore.validate.report import CHECKS, CheckResult, ValidationReport
from gridstore.validate.task import MAX_WHERE

__all__ = ["POOL_MIN_IMAGES", "validate_version"]

# A pool of 2 spawned workers took 2-3 s to start here (interpreters, imports,
# kernels), one process checks ~240,000 images/s and two ~360,000: the pool pays
# from ~1.4 M images. With the default worker count, fewer are checked in process.
POOL_MIN_IMAGES = 1_000_000

_MIN_CHUNK_BYTES = 21  # blosc header (16) + 1 byte + crc32c (4): a shorter file is truncated


class _Run:
    """One validation: the version's metadata, plan and arrays, and what each check found."""

    def __init__(self, store: StoreBackend, name: str, meta: dict[str, Any]) -> None:
        self.store, self.name, self.meta = store, name, meta
        self.notes: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.where: dict[str, list[str]] = {c: [] for c in CHECKS}
        self.passed: dict[str, str] = {}
        self.good: list[str] = []  # splits whose every array has the expected structure
        self.bad_files: set[str] = set()  # chunk keys missing or truncated on disk
        self.plan: Plan | None = None
        try:
            self.plan = Plan.from_dict(meta["generation_params"])
        except (GridstoreError, KeyError, TypeError, ValueError) as err:
            self.plan_error = f"cannot rebuild the plan from generation_params ({err!r})"
        self.splits = self.plan.splits if self.plan is not None else SPLITS
        self.arrays: dict[str, dict[str, Any]] = {s: {} for s in self.splits}

    def fail(self, check: str, note: str, where: list[str] | tuple[str, ...] = ()) -> None:
        self.notes[check].append(note)
        self.where[check].extend(where[: max(0, MAX_WHERE - len(self.where[check]))])

    def results(self) -> list[CheckResult]:
        more = {c: f"; +{len(n) - 4} more" if len(n) > 4 else "" for c, n in self.notes.items()}
        return [
            CheckResult(
                c, not n, "; ".join(n[:4]) + more[c] if n else self.passed.get(c, ""), self.where[c]
            )
            for c, n in self.notes.items()
        ]

    def key(self, split: str, f: str, c: int) -> str:
        return chunk_key(self.arrays[split][f], c)

    def check_metadata(self) -> None:
        for dotted in REQUIRED_KEYS:
            try:
                value: Any = self.meta
                for part in dotted.split("."):
                    value = value[part]
            except (KeyError, TypeError):
                self.fail("metadata", f"missing {dotted}", [dotted])
        # state: store.metadata() gives only a complete version's metadata
        if self.meta.get("version", self.name) != self.name:
            self.fail("metadata", f"field version {self.meta['version']!r} is not {self.name!r}")
        self.passed["metadata"] = (
            f"all {len(REQUIRED_KEYS)} required fields present; state complete"
        )

    def check_structure(self) -> None:
        import zarr
        from zarr.codecs import Crc32cCodec

        fmt = self.meta.get("file_format") or {}
        root = zarr_store(self.store.path)
        if self.plan is None:
            self.fail("structure", self.plan_error)
        elif fmt.get("chunk_images") != self.plan.chunk_images:
            self.fail("structure", f"file_format.chunk_images is not {self.plan.chunk_images}")
        for split in self.splits:
            try:
                n = int(self.meta["dataset_info"][f"{split}_count"])
                chunk = int(fmt["chunk_images"][split])
                g = self.meta["generation_params"]["grid_size"]
                k = self.plan.config.max_objects  # type: ignore[union-attr]
            except (AttributeError, KeyError, TypeError, ValueError):
                self.fail("structure", f"{split}: metadata lacks what its arrays should be")
                n = -1
            ok = n >= 0
            for f in FIELDS:
                where = f"{self.name}/{split}/{f}"
                try:
                    arr = zarr.open_array(store=root, path=where, mode="r", zarr_format=3)
                except (OSError, ValueError, TypeError, KeyError) as err:
                    self.fail("structure", f"{where} unreadable ({type(err).__name__})", [where])
                    ok = False
                    continue
                self.arrays[split][f] = arr
                if n < 0:
                    continue
                shape = {"images": (n, g, g), "instance_map": (n, g, g), "num_objects": (n,),
                         "object_bbox": (n, k, 4)}.get(f, (n, k))  # fmt: skip
                want = {
                    "shape": shape,
                    "dtype": "uint16" if f == "object_size" else "uint8",
                    "chunks": (chunk, *shape[1:]),
                }
                got = {"shape": arr.shape, "dtype": str(arr.dtype), "chunks": tuple(arr.chunks)}
                bad = [f"{w} {got[w]} != {want[w]}" for w in want if got[w] != want[w]]
                if not any(isinstance(c, Crc32cCodec) for c in getattr(arr.metadata, "codecs", ())):
                    bad.append("no crc32c codec")
                if bad:
                    self.fail("structure", f"{where}: {', '.join(bad)}", [where])
                    ok = False
            if ok:
                self.good.append(split)
        self.passed["structure"] = (
            f"{len(self.splits) * len(FIELDS)} arrays have the expected "
            "shape, dtype, chunks and a crc32c codec"
        )

    def check_split_counts(self) -> None:
        info, gp = self.meta.get("dataset_info") or {}, self.meta.get("generation_params") or {}
        counts = [info.get(f"{s}_count") for s in SPLITS]
        planned = [self.plan.split_counts[s] for s in SPLITS] if self.plan else counts
        if counts != planned:
            self.fail("split_counts", f"dataset_info counts {counts} != the plan's {planned}")
        for split, want in zip(SPLITS, counts, strict=True):
            wrong = [
                f"{self.name}/{split}/{f}"
                for f, a in self.arrays[split].items()
                if a.shape[0] != want
            ]
            if wrong:
                self.fail("split_counts", f"{split}: {len(wrong)} arrays lack {want} rows", wrong)
        total, num = info.get("total_count"), gp.get("num_images")
        if None in counts or sum(counts) != total or total != num:  # type: ignore[arg-type]
            self.fail(
                "split_counts",
                f"split counts {counts}, total_count {total} and "
                f"generation_params.num_images {num} disagree",
            )
        self.passed["split_counts"] = f"{' + '.join(map(str, counts))} = {total}, as stored"
        if self.plan is not None and self.plan.hold_out:  # and the heldout split's, on top
            check_heldout_count(self, info)

    def check_chunks_present(self) -> None:
        total = missing = 0
        for split, arrays in self.arrays.items():
            for f, arr in arrays.items():
                sizes = self.store.chunk_sizes(self.name, split, f)  # a listing: nothing is read
                for c in range(arr.cdata_shape[0]):
                    key = self.key(split, f, c)
                    size = sizes.get(c, -1)
                    total, missing = total + 1, missing + (size < 0)
                    if size < _MIN_CHUNK_BYTES:
                        self.bad_files.add(key)
        if self.bad_files:
            self.fail(
                "chunks_present",
                f"{missing} of {total} chunk files missing, "
                f"{len(self.bad_files) - missing} truncated below {_MIN_CHUNK_BYTES} bytes",
                sorted(self.bad_files),
            )
        self.passed["chunks_present"] = f"all {total} chunk files present"

    def check_data(
        self, chosen: list[int], full: bool, progress: bool, run: dict[str, Any]
    ) -> None:
        """Check chunks ``chosen`` as tasks on ``run``'s engine; apply failures in chunk order
        (a task finished early waits, findings only), as one process found them."""
        import tempfile
        import uuid

        from tqdm import tqdm

        from gridstore.engines import run_tasks
        from gridstore.errors import WorkerLostError
        from gridstore.validate.hashes import HashSpill
        from gridstore.validate.task import InOrder, TaskFindings, TaskSpec, check_task

        size = {s: self.arrays[s]["images"].chunks[0] for s in self.good}
        n = {s: self.arrays[s]["images"].shape[0] for s in self.good}
        rows = {c: sum(max(0, min(n[s], (c + 1) * size[s]) - c * size[s]) for s in self.good)
                for c in chosen}  # fmt: skip
        units = sum(c * size[s] < n[s] for c in chosen for s in self.good)
        unique = self.plan is not None and self.plan.unique
        params = self.meta.get("generation_params") if self.plan else None
        spec = TaskSpec(
            str(self.store.path), self.name, uuid.uuid4().hex, None if params is None else
            json.dumps(params, sort_keys=True), tuple(self.good), frozenset(self.bad_files),
            unique_draws=full and unique,
        )  # fmt: skip
        if run["workers"] is None and sum(rows.values()) < POOL_MIN_IMAGES:
            run = {**run, "workers": 1} if run["engine"] == "processes" else run
        in_order, read = InOrder(chosen), 0
        bar = tqdm(total=sum(rows.values()), unit="img", unit_scale=True,
                   desc=f"validate {self.name}", disable=not progress, file=sys.stderr)  # fmt: skip
        with tempfile.TemporaryDirectory(prefix="gridstore-validate-") as tmp:
            spill = HashSpill(Path(tmp), sum(rows.values()))

            def on_done(found: TaskFindings) -> None:
                nonlocal read
                spill.add(found.hashes, found.taken, found.passed)
                found.hashes, found.taken, found.passed = {}, None, None
                for done in in_order.add(found):
                    read += done.units
                    for check, note, where in done.fails:
                        self.fail(check, note, where)
                bar.update(rows[found.chunk])

            try:
                run_tasks(partial(check_task, spec), chosen, on_done, **run)
            except WorkerLostError as err:
                msg = (
                    f"a worker process died while validating {self.name} (killed, or out of "
                    "memory); run validate again, with fewer --workers if memory is short"
                )
                raise WorkerLostError(msg) from err
            finally:
                bar.close()
            whole = full and read == units and len(self.good) == len(self.splits)
            counted, twins = (
                spill.count_duplicates(tuple(self.good), twins=whole) if self.plan else ({}, None)
            )
            late = spill.late_skips() if whole and unique else 0
        self.summarize(read, spill.images, counted, whole, unique, late, twins)

    def summarize(
        self,
        read: int,
        images: int,
        counts: dict[str, int],
        whole: bool,
        unique: bool,
        late: int,
        twins: dict[str, int] | None = None,
    ) -> None:
        """What passed, and the duplicate checks (``twins``: a paired version's recount)."""
        scope = f"{read} chunks of {'/'.join(self.good) or 'no split'} ({images} images)"
        self.passed.update(
            hold_out=hold_out_passed(self.plan, scope, whole),
            checksums=f"{read * len(FIELDS)} chunks decoded, crc32c valid",
            values=f"images of {scope} are uint8 in 0..9",
            constraints=f"every generator rule holds for {scope}",
            instance_maps=f"every image of {scope} matches its instance map",
            regeneration=f"{scope} byte-identical to their regeneration",
        )
        if self.plan is None:
            for check in ("constraints", "instance_maps", "regeneration", "duplicates"):
                self.fail(check, f"not checked: {self.plan_error}")
            return
        recorded, cross = self.meta.get("duplicates") or {}, counts["cross_split"]
        scope = f"all {images} images" if whole else scope
        if self.plan.split_mode == "independent":
            self.passed["duplicates"] = (
                f"independent splits: {cross} contents in two splits "
                f"among {scope} (metadata: {recorded.get('cross_split')})"
            )
        elif cross:
            self.fail("duplicates", f"{cross} contents are in two splits among {scope}")
        if self.plan.split_mode == "disjoint" and recorded.get("cross_split") != 0:
            self.fail(
                "duplicates",
                f"metadata duplicates.cross_split is {recorded.get('cross_split')!r}, expected 0",
            )
        if whole and any(recorded.get(k) != v for k, v in counts.items()):
            self.fail("duplicates", f"recomputed {counts} differ from the metadata's {recorded}")
        if unique:
            from gridstore.validate.unique import verdict

            problem, text = verdict(counts, scope, whole, late)
            self.fail("duplicates", text) if problem else self.passed.update(duplicates=text)
        self.passed.setdefault(
            "duplicates",
            f"no content in two splits among {scope}, each in "
            "the split its hash routes to; metadata agrees",
        )
        if twins is not None:  # a paired version's (gridstore.pairs.validation)
            problem, text = twin_verdict(twins, self.meta, self.passed["duplicates"])
            self.fail("duplicates", text) if problem else self.passed.update(duplicates=text)


def validate_version(
    store_path: str | os.PathLike[str],
    version: str | None = None,
    *,
    sample: int | None = 8,
    full: bool = False,
    seed: int = 0,
    progress: bool = False,
    engine: EngineName = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
) -> ValidationReport:
    """Check a version: metadata, structure, chunk files, checksums, rules, bytes, duplicates.

    Parameters
    ----------
    store_path : str or os.PathLike
        The store directory.
    version : str, optional
        ``YYYY-MM-DD-vN``, a tag or ``latest`` (the default).
    sample : int or None
        Chunk indices read in every split, uniformly without replacement, the
        last (partial) one always among them; None or >= the chunk count: all.
    full : bool
        Read every chunk and compare the content hashes of all images.
    seed : int
        Seeds the choice of chunks: a seed always checks the same chunks.
    progress : bool
        Show a tqdm bar on stderr.
    engine, workers, scheduler
        Where the data checks run, one task per chunk index, as generation's
        tasks do: see :func:`gridstore.engines.run_tasks` (default: a process
        pool of all cores; one task, or one worker, runs in this process). The
        report is the same whatever the engine and the worker count.

    Returns
    -------
    ValidationReport
        A result per name in ``CHECKS``: damage is reported there, not raised.

    Raises
    ------
    StoreNotFoundError
        `store_path` is not a gridstore store.
    VersionNotFoundError, VersionIncompleteError
        No such complete version.
    ConfigError
        `sample` < 1, `seed` < 0, `workers` < 1, an unknown engine, or no Dask
        scheduler at `scheduler`.
    WorkerLostError
        A worker process died (killed, out of memory).

    Examples
    --------
    >>> import tempfile
    >>> from gridstore import Plan, create_version
    >>> store = tempfile.mkdtemp() + "/datasets"
    >>> _ = create_version(store, Plan(num_images=2000), engine="serial", show_progress=False)
    >>> report = validate_version(store, sample=4)
    >>> report.ok, [c.name for c in report.checks][:3]
    (True, ['metadata', 'structure', 'split_counts'])
    """
    check_int("sample", 1 if sample is None else sample, 1)
    check_int("seed", seed, 0)
    check_engine(engine, workers)
    started = time.perf_counter()
    store = open_backend(store_path)
    version = resolve(store, version)
    run = _Run(store, version, store.metadata(version))
    run.check_metadata()
    run.check_structure()
    run.check_split_counts()
    run.check_chunks_present()
    nchunks = {s: run.arrays[s]["images"].cdata_shape[0] for s in run.good}
    n = max(nchunks.values(), default=0)
    full = full or sample is None or sample >= n
    rng = np.random.default_rng(seed)  # uniform without replacement, plus each split's last
    take = n if full or sample is None else sample  # (sample is None implies full)
    picked = range(n) if full else rng.choice(n - 1, size=take - 1, replace=False)
    chosen = sorted({*map(int, picked), *(m - 1 for m in nchunks.values() if m)})
    run.check_data(
        chosen, full, progress, {"engine": engine, "workers": workers, "scheduler": scheduler}
    )
    digest = check_digest(run, full)
    chunks = {s: [c for c in chosen if c < nchunks[s]] for s in run.good}
    elapsed = time.perf_counter() - started
    return ValidationReport(version, str(store.path), run.results(), full, int(seed), chunks,
                            elapsed, digest)  # fmt: skip
