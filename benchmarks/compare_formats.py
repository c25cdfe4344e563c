"""Compare gridstore with other on-disk formats on one corpus: time, size, memory, read speed.

The same (n, 16, 16) uint8 corpus (atomic preset, --seed) is written in each format and read
back; each measurement runs in a fresh subprocess whose process tree is sampled for peak RSS.
gridstore uses its real writer, ``create_version(..., workers=2)`` with fractions (1, 0, 0), so
its train split is exactly ``generate_corpus(n, seed)``; it generates while it writes (and writes
annotations, stats, checksums), so its time is generate + write. The other formats write
pre-generated images streamed in blocks from a page-cached file (npz loads it whole); their
"gen" is that generation, timed once with 2 processes like gridstore's 2 workers. Reads hit a
warm page cache: sequential = all images in blocks, summed (must match the corpus: "ok");
shuffled = batches of 256 (gridstore: ``batches(256, shuffle=True)`` over chunk windows; others:
sorted random indices); first batch = a fresh process: import + open + first shuffled batch.

    python benchmarks/compare_formats.py          # 1M, then 10M for the formats that stream
    python benchmarks/compare_formats.py --num-images 100000 --skip-large --formats gridstore,npy
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("gridstore", "npz", "npy", "h5-gzip", "h5-lzf", "hf-datasets")
NEEDS = {"h5-gzip": "h5py", "h5-lzf": "h5py", "hf-datasets": "datasets"}  # benchmark-only extras
LIBS = {"gridstore": ("gridstore.read.store", "zarr"), **{f: (m,) for f, m in NEEDS.items()}}
OUT_NAMES = {"gridstore": "store", "npz": "images.npz", "npy": "images.npy", "hf-datasets": "hf"}
IN_MEMORY = {"npz"}  # writes and reads the whole corpus in memory: not run at --large
G = 16
CHUNK = 20_000  # gridstore's train chunk at fractions (1, 0, 0); also the HDF5 chunk and read block
GEN_BATCH = 100_000
BATCH = 256
MAX_BATCHES = 200  # shuffled batches timed, or fewer once BUDGET_S is spent
BUDGET_S = 30.0  # chunked, compressed formats decode whole chunks for a few random rows
ENV = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


# Run in the measured subprocesses: ------------------------------------------------------------
def _gen_batch(job: tuple[int, int, int]) -> np.ndarray:
    import gridstore

    return gridstore.generate_images(gridstore.make_config("atomic"), *job)[0]


def op_generate(src: str, n: int, seed: int) -> dict[str, Any]:
    """Generate the corpus into a raw .npy source with 2 processes (the 'gen' column)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import gridstore

    warm, plan = Path(src).with_suffix(".warm"), gridstore.Plan(num_images=10, seed=seed)
    gridstore.create_version(warm, plan, engine="serial", show_progress=False)  # numba warm-up
    out = np.lib.format.open_memmap(src, mode="w+", dtype=np.uint8, shape=(n, G, G))
    jobs = [(seed, lo, min(lo + GEN_BATCH, n)) for lo in range(0, n, GEN_BATCH)]
    t = time.perf_counter()  # includes starting the pool, as gridstore's time does
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for (_, lo, hi), images in zip(jobs, pool.map(_gen_batch, jobs), strict=True):
            out[lo:hi] = images
    seconds = time.perf_counter() - t
    total = sum(int(out[lo : lo + CHUNK].sum(dtype=np.uint64)) for lo in range(0, n, CHUNK))
    return {"gen_s": seconds, "sum": total}


def source_blocks(src: str, n: int) -> Iterator[np.ndarray]:
    """The source images in blocks of CHUNK, read with plain file reads (bounded RSS, no mmap)."""
    with open(src, "rb") as f:
        f.seek(np.load(src, mmap_mode="r").offset)
        for lo in range(0, n, CHUNK):
            yield np.fromfile(f, np.uint8, min(CHUNK, n - lo) * G * G).reshape(-1, G, G)


def _hf_rows(src: str, n: int) -> Iterator[dict[str, np.ndarray]]:
    yield from ({"images": image} for block in source_blocks(src, n) for image in block)


def op_write(fmt: str, src: str, out: str, n: int, seed: int) -> dict[str, Any]:
    """Write the corpus in ``fmt`` at ``out``; return seconds and bytes on disk."""
    t = time.perf_counter()
    extra: dict[str, Any] = {}
    if fmt == "gridstore":
        import gridstore

        plan = gridstore.Plan(num_images=n, seed=seed, fractions=(1.0, 0.0, 0.0))
        meta = gridstore.create_version(out, plan, workers=2, show_progress=False)
        extra = {"images_bytes": meta["storage"]["image_bytes_on_disk"]}
    elif fmt == "npz":
        np.savez_compressed(out, images=np.load(src))  # the seed's layout: whole array in memory
    elif fmt == "npy":  # header, then the raw bytes block by block (np.save needs the whole array)
        with open(out, "wb") as f:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n, G, G)}
            np.lib.format.write_array_header_1_0(f, header)
            f.writelines(source_blocks(src, n))
    elif fmt.startswith("h5-"):
        import h5py

        gzip = {"compression": "gzip", "compression_opts": 4}
        comp = gzip if fmt == "h5-gzip" else {"compression": "lzf"}
        with h5py.File(out, "w") as f:
            ds = f.create_dataset("images", (n, G, G), "u1", chunks=(min(CHUNK, n), G, G), **comp)
            for i, block in enumerate(source_blocks(src, n)):
                ds[i * CHUNK : i * CHUNK + len(block)] = block
    elif fmt == "hf-datasets":
        import datasets

        datasets.disable_progress_bars()
        features = datasets.Features({"images": datasets.Array2D((G, G), "uint8")})
        ds = datasets.Dataset.from_generator(
            _hf_rows, features=features, cache_dir=out + ".cache", gen_kwargs={"src": src, "n": n}
        )
        ds.save_to_disk(out)
    seconds = time.perf_counter() - t
    shutil.rmtree(out + ".cache", ignore_errors=True)
    files = [Path(out)] if Path(out).is_file() else Path(out).rglob("*")
    size = sum(f.stat().st_size for f in files if f.is_file())
    return {"write_s": seconds, "bytes": size, **extra}


Reader = namedtuple("Reader", "n rows take handle")  # rows(lo, hi), take(sorted idx) -> ndarray


def open_reader(fmt: str, path: str) -> Reader:
    """Open ``path`` as a user of ``fmt`` would."""
    if fmt == "gridstore":
        from gridstore import open_store

        split = open_store(path).version()["train"]
        a = split.images
        return Reader(len(split), lambda lo, hi: a[lo:hi], a.__getitem__, split)
    if fmt == "hf-datasets":
        import datasets

        d = datasets.load_from_disk(path).with_format("numpy", dtype=np.uint8)  # default: int64
        return Reader(len(d), lambda lo, hi: d[lo:hi]["images"], lambda i: d[i]["images"], d)
    if fmt == "npz":
        a = np.load(path)["images"]  # decompresses the whole array
    elif fmt == "npy":
        a = np.load(path, mmap_mode="r")
    else:
        import h5py

        a = h5py.File(path, "r")["images"]
    return Reader(len(a), lambda lo, hi: a[lo:hi], lambda idx: a[idx], a)


def shuffled(fmt: str, r: Reader, seed: int) -> Iterator[np.ndarray]:
    if fmt == "gridstore":
        yield from r.handle.batches(BATCH, shuffle=True, seed=seed)
        return
    rng = np.random.default_rng(seed)
    while True:
        yield r.take(np.sort(rng.choice(r.n, min(BATCH, r.n), replace=False)))


def op_read(fmt: str, path: str, kind: str, seed: int) -> dict[str, Any]:
    """One read measurement in this fresh process: 'first', 'shuffled' or 'sequential'."""
    t = time.perf_counter()
    for module in LIBS.get(fmt, ()):
        importlib.import_module(module)
    t = t if kind == "first" else time.perf_counter()  # imports count in 'first' only
    r = open_reader(fmt, path)
    if kind == "first":
        next(shuffled(fmt, r, seed))
        return {"first_s": time.perf_counter() - t}
    if kind == "shuffled":
        t = time.perf_counter()  # steady state: opening is in 'first'
        count = batches = touched = 0
        for batch in shuffled(fmt, r, seed):
            touched += int(batch.sum(dtype=np.uint64))  # touch every pixel
            count += len(batch)
            batches += 1
            if batches >= MAX_BATCHES or (batches >= 3 and time.perf_counter() - t > BUDGET_S):
                break
        return {"shuffled_ips": count / (time.perf_counter() - t), "shuffled_batches": batches}
    total = 0
    for lo in range(0, r.n, CHUNK):
        total += int(r.rows(lo, min(lo + CHUNK, r.n)).sum(dtype=np.uint64))
    return {"seq_ips": r.n / (time.perf_counter() - t), "sum": total}


# Run in the parent: -----------------------------------------------------------------------------
def _tree_kib(root: int) -> tuple[int, int]:
    """VmRSS and RssAnon (KiB) summed over ``root`` and its descendants (as benchmarks/_rss.py)."""
    rss = anon = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            todo += [
                int(c)
                for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()
            ]
        except OSError:
            continue  # exited meanwhile
        kib = {
            k: int(v.split()[0])
            for k, _, v in (x.partition(":") for x in status)
            if k in ("VmRSS", "RssAnon")
        }
        rss, anon = rss + kib.get("VmRSS", 0), anon + kib.get("RssAnon", 0)
    return rss, anon


def measure(op: str, **kw: Any) -> dict[str, Any]:
    """Run one op in a fresh process: its JSON result, the tree's peak RSS and anon RSS (MiB)."""
    cmd = [sys.executable, __file__, "--worker", json.dumps({"op": op, **kw})]
    peak = [0, 0]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=out, text=True)
        while proc.poll() is None:
            peak = list(map(max, peak, _tree_kib(proc.pid)))
            time.sleep(0.05)
        out.seek(0)
        lines = out.read().strip().splitlines()
    if proc.returncode or not lines:
        raise RuntimeError(f"{op} {kw.get('fmt', '')}: exit code {proc.returncode} (see stderr)")
    return {**json.loads(lines[-1]), "rss": peak[0] / 1024, "anon": peak[1] / 1024}


def run_format(fmt: str, n: int, seed: int, work: Path, gen: dict[str, Any]) -> dict[str, Any]:
    (d := work / fmt).mkdir()
    out = str(d / OUT_NAMES.get(fmt, "images.h5"))
    w = measure("write", fmt=fmt, src=gen["src"], out=out, n=n, seed=seed)
    kinds = ("first", "shuffled", "sequential")
    reads = [measure("read", fmt=fmt, path=out, kind=k, seed=seed) for k in kinds]
    shutil.rmtree(d)
    row = {
        "format": fmt,
        "n": n,
        "bytes": w["bytes"],
        "disk_bytes": w.get("images_bytes", w["bytes"]),
        "write_s": w["write_s"],
        "write_rss": w["rss"],
        "write_anon": w["anon"],
        "read_rss": max(r["rss"] for r in reads),
        "read_anon": max(r["anon"] for r in reads),
        "gen_s": None if fmt == "gridstore" else gen["gen_s"],
    }
    for r in reads:
        row.update({k: v for k, v in r.items() if k not in ("rss", "anon")})
    row["total_s"] = row["write_s"] + (row["gen_s"] or 0)
    row["ok"] = row.pop("sum") == gen["sum"]
    return row


def machine_info() -> str:
    from importlib.metadata import version

    libs = ("gridstore", "numpy", "zarr", "h5py", "datasets", "pyarrow")
    vers = {"Python": platform.python_version()}
    vers |= {lib: version(lib) if importlib.util.find_spec(lib) else "missing" for lib in libs}
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in cpuinfo if x.startswith("model name")), "?")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    cores = f"{len(os.sched_getaffinity(0))} cores ({cpu}), {mem:.0f} GiB RAM"
    return f"{cores}, load avg before: {load}\n" + ", ".join(f"{k} {v}" for k, v in vers.items())


COLUMNS = [  # header, key, format
    ("format", "format", "{}"),
    ("images", "n", "{:,}"),
    ("gen s", "gen_s", "{:.1f}"),
    ("write s", "write_s", "{:.1f}"),
    ("total s", "total_s", "{:.1f}"),
    ("B/img", "bpi", "{:.1f}"),
    ("disk MiB", "disk_bytes", "{:.1f}"),
    ("wr RSS/anon MiB", "write_mem", "{}"),
    ("seq img/s", "seq_ips", "{:,.0f}"),
    ("shuf img/s", "shuffled_ips", "{:,.0f}"),
    ("(batches)", "shuffled_batches", "{}"),
    ("1st batch s", "first_s", "{:.2f}"),
    ("rd RSS/anon MiB", "read_mem", "{}"),
    ("ok", "ok", "{}"),
]


def _value(row: dict[str, Any], key: str) -> Any:
    if key in ("write_mem", "read_mem"):
        return f"{row[key[:-3] + 'rss']:.0f}/{row[key[:-3] + 'anon']:.0f}"
    scale = {"bpi": row["n"], "disk_bytes": 2**20}  # bytes per image, MiB
    return row["disk_bytes"] / scale[key] if key in scale else row.get(key)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[h for h, _, _ in COLUMNS]]
    cells += [
        ["incl." if (v := _value(r, k)) is None else f.format(v) for _, k, f in COLUMNS]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    )


NOTES = """\
gen s: generation alone (2 processes); gridstore's write s includes generating, and writing its
  annotations, stats and checksums too; its disk is the images array only{}.
RSS/anon: peak VmRSS / RssAnon (MiB) of the process tree (read: max of the 3 runs); VmRSS counts
  mmap'd file pages (npy, Arrow) that the kernel can drop. seq: blocks of {:,}, summed.
shuf: batches of {}, up to {} batches or {:.0f} s. ok: the pixel sum read back equals the corpus's.
Method: see the docstring of benchmarks/compare_formats.py."""


def plot(rows: list[dict[str, Any]], path: Path, header: str) -> None:
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fmts = list(dict.fromkeys(r["format"] for r in rows))
    sizes = sorted({r["n"] for r in rows})
    panels = [
        ("generate + write, s  (hatched part: generation)", "total_s"),
        ("bytes per image on disk", "bpi"),
        ("peak RSS while writing, MiB  (hatched part: anon)", "write_rss"),
        ("sequential read, images/s  (higher is better)", "seq_ips"),
        ("shuffled batches of 256, images/s  (higher is better)", "shuffled_ips"),
        ("time to first batch, s  (fresh process)", "first_s"),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    width = 0.8 / len(sizes)
    for ax, (title, key) in zip(axes.flat, panels, strict=True):
        for j, n in enumerate(sizes):
            got = {r["format"]: r for r in rows if r["n"] == n}
            off = (j - (len(sizes) - 1) / 2) * width
            xs = [i + off for i, f in enumerate(fmts) if f in got]
            for i in (i for i, f in enumerate(fmts) if f not in got):
                ax.text(
                    i + off,
                    0.03,
                    "not run",
                    rotation=90,
                    ha="center",
                    fontsize=8,
                    transform=ax.get_xaxis_transform(),
                )
            vals = [_value(got[f], key) for f in fmts if f in got]
            bars = ax.bar(xs, vals, width, color=f"C{j}", label=f"{n:,} images")
            if part := {"total_s": "gen_s", "write_rss": "write_anon"}.get(key):
                inner = [got[f][part] or 0 for f in fmts if f in got]
                ax.bar(xs, inner, width, color="none", edgecolor="white", hatch="//", linewidth=0)
            ax.bar_label(bars, labels=[_short(v) for v in vals], fontsize=8, padding=1)
        ax.set_title(title, fontsize=11)
        ax.set_xticks(range(len(fmts)), fmts, fontsize=9)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(fontsize=9)
    fig.suptitle(
        "gridstore vs other formats on the same (n, 16, 16) uint8 corpus (log scales)\n" + header,
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(v: float) -> str:
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--num-images", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000, help="second size (not npz)")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--out-png", type=Path, default=Path("docs/compare_formats.png"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated subset")
    parser.add_argument("--workdir", type=Path, help="where to write (default: a temp dir)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # inside a measured subprocess
        kw = json.loads(args.worker)
        fn = {"generate": op_generate, "write": op_write, "read": op_read}[kw.pop("op")]
        print(json.dumps(fn(**kw)))
        return
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if unknown := sorted(set(formats) - set(FORMATS)):
        parser.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    for f in list(formats):
        if f in NEEDS and importlib.util.find_spec(NEEDS[f]) is None:
            print(f"NOTE: skipping {f}: '{NEEDS[f]}' is not installed (pip install {NEEDS[f]})")
            formats.remove(f)
    print(header := machine_info(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="gridstore-compare-", dir=args.workdir))
    rows: list[dict[str, Any]] = []
    try:
        for n in [args.num_images] + ([] if args.skip_large else [args.large]):
            todo = formats if n == args.num_images else [f for f in formats if f not in IN_MEMORY]
            if skipped := sorted(set(formats) - set(todo)):
                print(f"NOTE: {', '.join(skipped)} not run at {n:,}: whole corpus in memory")
            src = str(work / "source.npy")
            gen = {**measure("generate", src=src, n=n, seed=args.seed), "src": src}
            print(f"[{n:,}] generated in {gen['gen_s']:.1f} s", flush=True)
            for fmt in todo:
                try:
                    rows.append(run_format(fmt, n, args.seed, work, gen))
                    print(f"[{n:,}] {fmt}: written in {rows[-1]['write_s']:.1f} s", flush=True)
                except RuntimeError as e:
                    print(f"NOTE: {fmt} at {n:,} failed and is left out: {e}", flush=True)
                    shutil.rmtree(work / fmt, ignore_errors=True)
            os.remove(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gs = [f"{r['bytes'] / r['n']:.1f}" for r in rows if r["format"] == "gridstore"]
    whole = f" (with annotations: {', '.join(gs)} B/img)" if gs else ""
    header += f"\nload avg after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    print(f"\n{header}\n{table(rows)}\n" + NOTES.format(whole, CHUNK, BATCH, MAX_BATCHES, BUDGET_S))
    if rows:
        plot(rows, args.out_png, header.replace("\n", "; "))
        print(f"chart: {args.out_png}")


if __name__ == "__main__":
    main()
