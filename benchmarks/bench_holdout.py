"""Hold-out conditions: the plan's forecast of the removed share, and its time, against the run.

For each case (a set of ``--hold-out`` conditions) this runs ``gridstore
generate`` at 1M images into a fresh store and reads the plan it prints. It
then compares:

- the removed share: the plan's forecast (``hold_out.forecast_share``, from
  the duplicate forecast's 200,000-image sample) against the share the run
  realised (``hold_out.removed_share``: matching draws passed over, of the
  routed draws); the goal is a relative error within +-10%;
- the time: the plan's ``time (est.)`` against the time from the plan's
  printing to the exit (what that line predicts); the goal is 0.7-1.3. The
  case without conditions gives the estimate's own ratio on this machine at
  this time; "hold-out part" compares what the conditions add to the
  estimate and to the run (each case minus that one).

The kernel cache is warmed first by a small run, so no case compiles.

Run from the repository root (Linux: reads /proc)::

    python benchmarks/bench_holdout.py
    python benchmarks/bench_holdout.py --images 200000 --workers 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _rss import run_measured

UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
CASES = {  # name: conditions (README's composition, interpolation, extrapolation; a rare one)
    "none": [],  # the estimate's own ratio on this machine now, without conditions
    "composition": ["object_type=blob object_colour=3", "object_type=line object_colour=5"],
    "interpolation": ["object_size=7..8"],
    "extrapolation": ["num_objects=4"],
    "two kinds": ["object_type=blob object_colour=3", "num_objects=4"],
    "rare": ["object_subtype=zigzag object_colour=9 object_size=12..15"],
}


def run_case(
    conditions: list[str], images: int, workers: int, heldout: str, work: Path
) -> dict[str, float]:
    """Run one generate; return the forecast and realised shares, estimated and real seconds."""
    store = Path(tempfile.mkdtemp(dir=work))
    cmd = [sys.executable, "-m", "gridstore.cli", "generate", "--num-images", str(images)]
    cmd += ["--workers", str(workers), "--store", str(store), "--yes", "--quiet"]
    cmd += ["--heldout-images", heldout] if conditions else []
    for c in conditions:
        cmd += ["--hold-out", c]
    res = run_measured(cmd, capture_stderr=True)
    est = plan_at = None
    for at, line in res["stderr_lines"]:
        if line.startswith("time (est.):"):
            value, unit = line.split(":", 1)[1].split()
            est, plan_at = float(value) * UNITS[unit], at
    if est is None or plan_at is None:
        raise RuntimeError("the plan printed no time estimate")
    (version,) = [p for p in store.iterdir() if p.name[:2] == "20"]
    meta = json.loads((version / "zarr.json").read_text())["attributes"]
    held = meta.get("hold_out", {})
    return {
        "forecast": held.get("forecast_share", float("nan")),
        "realised": held.get("removed_share", float("nan")),
        "acceptance": held.get("heldout_acceptance", float("nan")),
        "est_s": est,
        "real_s": res["seconds"] - plan_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--heldout-images", default="0.1")
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-holdout-") as tmp:
        work = Path(tmp)
        run_case(CASES["extrapolation"], 2000, 1, "100", work)  # warms the kernel cache
        print(
            f"{args.images:,} images, {args.workers} workers, heldout {args.heldout_images}\n"
            f"{'case':<14} | {'forecast':>8} {'realised':>8} {'rel err':>7} {'heldout acc':>11} | "
            f"{'est s':>6} {'real s':>6} {'ratio':>5} | hold-out part: est s, real s"
        )
        errors, ratios = [], []
        base = None
        for name in args.cases:
            r = run_case(CASES[name], args.images, args.workers, args.heldout_images, work)
            err = r["forecast"] / r["realised"] - 1
            ratio = r["est_s"] / r["real_s"]
            errors += [err] if CASES[name] else []
            ratios += [ratio] if CASES[name] else []
            base = r if not CASES[name] else base
            part = (
                f"{r['est_s'] - base['est_s']:>6.1f} {r['real_s'] - base['real_s']:>6.1f}"
                if base is not None and CASES[name]
                else ""
            )
            print(
                f"{name:<14} | {r['forecast']:>8.4f} {r['realised']:>8.4f} {err:>+7.1%} "
                f"{r['acceptance']:>11.4f} | {r['est_s']:>6.1f} {r['real_s']:>6.1f} {ratio:>5.2f} | "
                f"{part}",
                flush=True,
            )
        if not errors:
            return
        inside = sum(abs(e) <= 0.1 for e in errors)
        timed = sum(0.7 <= x <= 1.3 for x in ratios)
        print(
            f"{inside} of {len(errors)} forecasts within +-10% (worst {max(errors, key=abs):+.1%}); "
            f"{timed} of {len(ratios)} time estimates within 0.7-1.3 "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
