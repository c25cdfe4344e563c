"""Measure ``gridstore browse`` on a big version: page latency, and a filter's count that never blocks.

Starts ``gridstore browse`` as its own process (as a user does) and times HTTP
requests from here, each a whole response read:

- a page of 100 images at random positions in the split (cold: chunks not yet
  read by the server; then the same pages again, warm), in stored order and
  shuffled with a seed;
- the first page of a filter (a common one and a rare one), then the count of
  each in the background: how long until it is done, and the latency of pages
  requested while it runs (what the count costs the pages);
- the image page, the version page and the store page.

Builds a version with ``gridstore generate`` unless --store points at one.

    python benchmarks/bench_browse.py --store /tmp/bench/datasets     # an existing store
    python benchmarks/bench_browse.py --num-images 10000000           # builds one first
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np

COMMON = "object_type=blob object_colour=3"
RARE = "num_objects=4 object_type=line object_size=15 object_colour=9"


def build(path: Path, num_images: int) -> None:
    args = ["generate", "--store", str(path), "--num-images", str(num_images), "--yes", "--quiet"]
    subprocess.run([sys.executable, "-m", "gridstore.cli", *args], check=True)


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=600)

    def get(self, path: str, **params: object) -> tuple[float, int, bytes]:
        pairs = [(k, v) for k, v in params.items() if v is not None]
        query = urllib.parse.urlencode(pairs)
        start = time.perf_counter()
        self.conn.request("GET", path + (f"?{query}" if query else ""))
        response = self.conn.getresponse()
        body = response.read()
        return time.perf_counter() - start, response.status, body


def ms(seconds: list[float]) -> str:
    return (
        f"median {1000 * statistics.median(seconds):6.1f} ms, max {1000 * max(seconds):6.1f} ms"
        f" ({len(seconds)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="an existing store (default: build one)")
    parser.add_argument("--num-images", type=int, default=1_000_000, help="images to build")
    parser.add_argument("--version", help="default: the latest")
    parser.add_argument("--split", default="train")
    parser.add_argument("--pages", type=int, default=20, help="random pages per measurement")
    parser.add_argument(
        "--cli-count", action="store_true", help="also time 'gridstore count' of the common filter"
    )
    args = parser.parse_args()
    store = args.store
    if store is None:
        store = Path(tempfile.mkdtemp(prefix="bench-browse-")) / "datasets"
        build(store, args.num_images)
    cmd = [sys.executable, "-m", "gridstore.cli", "browse", "--store", str(store), "--port", "0"]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert server.stdout is not None
        found = re.search(r"(http://\S+/) ", server.stdout.readline())
        assert found, "the server printed no URL"
        run(Client(found.group(1)), args)
    finally:
        server.terminate()
        server.wait(30)
    if args.cli_count:  # the same count from the command line, the server stopped
        cmd = ["count", "--store", str(store), "--split", args.split, "--where", COMMON]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gridstore.cli", *cmd], check=True)
        print(f"gridstore count --where {COMMON!r}: {time.perf_counter() - start:.1f} s")


def run(client: Client, args: argparse.Namespace) -> None:
    took, _, body = client.get("/.json")
    versions = json.loads(body)["versions"]
    version = args.version or versions[-1]["version"]
    info = next(v for v in versions if v["version"] == version)
    n = info[args.split]
    print(f"store page: {1000 * took:.1f} ms; version {version}, split {args.split}: {n:,} images")
    base = f"/v/{version}/{args.split}"
    rng = np.random.default_rng(0)
    pages = rng.integers(1, n // 100 + 1, size=args.pages)
    for label, seed in (("stored order", None), ("shuffled (seed 1)", 1)):
        cold = [client.get(base, page=int(p), seed=seed)[0] for p in pages]
        warm = [client.get(base, page=int(p), seed=seed)[0] for p in pages]
        print(f"page of 100, {label:<18} cold: {ms(cold)}; warm: {ms(warm)}")
    sizes = [len(client.get(base, page=int(p))[2]) for p in pages[:3]]
    print(f"page size: {statistics.mean(sizes) / 1024:.1f} KiB of HTML with its 100 PNGs")
    for where in (COMMON, RARE):
        took, status, body = client.get(base, where=where)
        searching = b'id="searching"' in body
        start = time.perf_counter()
        during = []
        while True:
            state = json.loads(client.get(base + "/count", where=where)[2])
            if state["done"] or state["error"]:
                break
            page = int(rng.integers(1, n // 100 + 1))
            during.append(client.get(base, page=page)[0])  # other pages while the count runs
            time.sleep(0.2)
        counted = time.perf_counter() - start
        print(
            f"where {where!r}: first page {1000 * took:.1f} ms (status {status}"
            f"{', still searching' if searching else ''}); count {state['matches']:,} of "
            f"{state['images']:,} done {counted:.1f} s after the page (the server's own count: "
            f"{state['seconds']:.1f} s; {state['chunks']:,} chunks)"
        )
        if during:
            print(f"  pages of 100 while that count ran: {ms(during)}")
        again = [client.get(base, where=where, page=p)[0] for p in (1, 2, 5)]
        print(f"  pages 1, 2, 5 of the filter once counted: {ms(again)}")
    image = [client.get(f"{base}/{int(i)}")[0] for i in rng.integers(0, n, size=args.pages)]
    print(f"image page (cold chunks): {ms(image)}")
    version_page = [client.get(f"/v/{version}")[0] for _ in range(5)]
    print(f"version page: {ms(version_page)}")


if __name__ == "__main__":
    main()
