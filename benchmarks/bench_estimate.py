"""The plan's estimates against what the run measures: time and peak memory.

For each case (images x workers x kernel cache cold or warm) this runs
``gridstore generate`` into a fresh store and reads the plan it prints. It
then measures:

- time: from the moment the plan's "time (est.)" line appears to the exit,
  which is exactly what that line predicts (a cold compile happens before it
  and is reported on its own line);
- memory: the peak resident set of the largest process (the kernel's
  high-water mark) and the peak sum over the process tree (sampled every 50 ms).

A cold case gets an empty ``NUMBA_CACHE_DIR``; warm cases share one that a
first small run filled. Ratios are estimate / actual; the goal is 0.7-1.3.

Run from the repository root (Linux: reads /proc)::

    python benchmarks/bench_estimate.py
    python benchmarks/bench_estimate.py --images 1000 100000 --workers 2
    python benchmarks/bench_estimate.py --images 2000000 --cache warm --pairs all
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from _rss import run_measured

UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
BYTES = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def _parse_seconds(text: str) -> float:
    value, unit = text.split()
    return float(value) * UNITS[unit]


def _parse_mib(text: str) -> float:
    value, unit = text.split()
    return float(value) * BYTES[unit] / (1 << 20)


def run_case(
    images: int, workers: int, cache: Path, work: Path, pairs: str = ""
) -> dict[str, float]:
    """Run one generate (``pairs``: its --pairs kinds); return estimated and measured seconds and MiB."""
    store = Path(tempfile.mkdtemp(dir=work))
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", str(images)]
    cmd += ["--workers", str(workers), "--store", str(store), "--yes", "--quiet"]
    cmd += ["--pairs", pairs] if pairs else []
    res = run_measured(cmd, env={"NUMBA_CACHE_DIR": str(cache)}, capture_stderr=True)
    est_seconds = plan_at = None
    est_process = est_total = None
    compiled = 0.0
    for at, line in res["stderr_lines"]:
        if line.startswith("time (est.):"):
            est_seconds, plan_at = _parse_seconds(line.split(":", 1)[1].strip()), at
        elif line.startswith("peak memory:"):
            m = re.match(r"peak memory:\s+(.+?) largest process, (.+?) all processes", line)
            if m is None:
                raise RuntimeError(f"cannot read {line!r}")
            est_process, est_total = _parse_mib(m[1]), _parse_mib(m[2])
        elif line.startswith("compiled:"):
            compiled = float(line.split()[1])
    if est_seconds is None or plan_at is None or est_process is None or est_total is None:
        raise RuntimeError("the plan printed no estimate")
    return {
        "est_s": est_seconds,
        "real_s": res["seconds"] - plan_at,
        "compile_s": compiled,
        "est_proc": est_process,
        "real_proc": res["peak_process_mib"],
        "est_total": est_total,
        "real_total": res["peak_tree_mib"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=int, nargs="+", default=[1000, 100_000, 2_000_000, 10_000_000]
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cache", choices=["cold", "warm"], nargs="+", default=["cold", "warm"])
    parser.add_argument("--pairs", default="", help="generate's --pairs kinds (a paired version)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-estimate-") as tmp:
        work = Path(tmp)
        warm = work / "warm-cache"
        run_case(1000, 1, warm, work, args.pairs)  # fills the shared warm cache (pair kernels too)
        header = (
            f"{'images':>11} {'wk':>2} {'cache':>5} | {'est s':>6} {'real s':>6} {'ratio':>5} | "
            f"{'est MiB':>7} {'real':>5} {'ratio':>5} (largest) | "
            f"{'est MiB':>7} {'real':>5} {'ratio':>5} (all) | compile s"
        )
        print(header)
        ratios = []
        for images in args.images:
            for workers in args.workers:
                for cache in args.cache:
                    where = warm if cache == "warm" else Path(tempfile.mkdtemp(dir=work))
                    r = run_case(images, workers, where, work, args.pairs)
                    t, p, a = (
                        r["est_s"] / r["real_s"],
                        r["est_proc"] / r["real_proc"],
                        r["est_total"] / r["real_total"],
                    )
                    ratios += [t, p, a]
                    print(
                        f"{images:>11,} {workers:>2} {cache:>5} | {r['est_s']:>6.1f} "
                        f"{r['real_s']:>6.1f} {t:>5.2f} | {r['est_proc']:>7.0f} "
                        f"{r['real_proc']:>5.0f} {p:>5.2f} (largest) | {r['est_total']:>7.0f} "
                        f"{r['real_total']:>5.0f} {a:>5.2f} (all) | {r['compile_s']:.1f}",
                        flush=True,
                    )
        inside = sum(0.7 <= x <= 1.3 for x in ratios)
        print(
            f"{inside} of {len(ratios)} ratios within 0.7-1.3 (min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
