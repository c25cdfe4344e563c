"""How the store's codecs were chosen: size and speed of Blosc settings on every array.

For each array of N atomic images (chunks of 16,000, as the train split
stores them) prints bytes per image, encode and decode time per image for
each candidate, marks the store's choices (``default``, and ``max`` for
``--compression max``), and gives
np.savez_compressed on the same images as the seed's baseline. ``typesize``
is Blosc's shuffle unit: an array's item size, or a whole row of a
per-object array (all of one image's objects side by side). Run:
python benchmarks/bench_codecs.py --num-images 320000
python benchmarks/bench_codecs.py --arrays images instance_map
"""

from __future__ import annotations

import argparse
import io
import platform
import time

import numpy as np
from numcodecs import Blosc, Zstd, blosc

from gridstore.generate import GeneratorConfig, generate_images
from gridstore.storage.layout import COMPRESSIONS, codec_spec

CANDIDATES = [  # (cname, clevel, shuffle, blocksize) for images and the instance map
    ("lz4", 5, Blosc.BITSHUFFLE, 0),
    ("zstd", 1, Blosc.BITSHUFFLE, 0),
    ("zstd", 1, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 2, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 3, Blosc.NOSHUFFLE, 0),
    ("zstd", 3, Blosc.BITSHUFFLE, 0),
    ("zstd", 3, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 3, Blosc.BITSHUFFLE, 1 << 22),
    ("zstd", 4, Blosc.NOSHUFFLE, 1 << 20),
    ("zstd", 4, Blosc.BITSHUFFLE, 1 << 19),
    ("zstd", 4, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 4, Blosc.BITSHUFFLE, 1 << 22),
    ("lz4hc", 5, Blosc.BITSHUFFLE, 1 << 20),
    ("lz4hc", 9, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 5, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 6, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 9, Blosc.NOSHUFFLE, 0),
    ("zstd", 9, Blosc.BITSHUFFLE, 1 << 20),
    ("zarr-zstd", 19, Blosc.NOSHUFFLE, 0),  # zarr's own zstd codec, no Blosc
]
SMALL = [  # for the per-object arrays: (cname, clevel, shuffle, typesize: 0 = item size, -1 = row)
    ("zstd", 1, Blosc.BITSHUFFLE, 0),
    ("zstd", 3, Blosc.SHUFFLE, 0),
    ("zstd", 3, Blosc.BITSHUFFLE, 0),
    ("zstd", 3, Blosc.SHUFFLE, -1),
    ("zstd", 3, Blosc.BITSHUFFLE, -1),
    ("zstd", 5, Blosc.BITSHUFFLE, -1),
    ("zstd", 9, Blosc.BITSHUFFLE, 0),
    ("zstd", 9, Blosc.SHUFFLE, -1),
    ("zstd", 9, Blosc.BITSHUFFLE, -1),
    ("lz4", 5, Blosc.BITSHUFFLE, -1),
]
SHUFFLE = {Blosc.NOSHUFFLE: "noshuffle", Blosc.SHUFFLE: "shuffle", Blosc.BITSHUFFLE: "bitshuffle"}


def current(name: str, compression: str) -> tuple[str, int, str, int, int]:
    """The store's codec for ``name``: (cname, clevel, shuffle, typesize or 0, blocksize)."""
    c = codec_spec(name, compression)
    if "zstd_level" in c:
        return "zarr-zstd", c["zstd_level"], "noshuffle", 0, 0
    return c["cname"], c["clevel"], c["shuffle"], c.get("typesize", 0), c["blocksize"]


def measure(
    arr: np.ndarray, codec: Blosc, chunk: int, repeats: int, typesize: int = 0
) -> tuple[float, float, float]:
    """Bytes per image, best encode and decode microseconds per image.

    ``typesize`` > 0 shuffles in units of that many bytes (the array is viewed
    as raw bytes of that width, as Blosc sees a buffer of that type size).
    """
    parts = [np.ascontiguousarray(arr[i : i + chunk]) for i in range(0, len(arr), chunk)]
    if typesize:
        parts = [p.reshape(len(p), -1).view(np.uint8).view(f"V{typesize}") for p in parts]
    enc = dec = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = [codec.encode(p) for p in parts]
        enc = min(enc, time.perf_counter() - t)
        t = time.perf_counter()
        for o in out:
            codec.decode(o)
        dec = min(dec, time.perf_counter() - t)
    n = len(arr)
    return sum(len(o) for o in out) / n, enc / n * 1e6, dec / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=320_000)
    parser.add_argument("--chunk", type=int, default=16_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arrays", nargs="+", help="only these arrays (default: every array)")
    args = parser.parse_args()
    blosc.use_threads = False  # as the store encodes: one thread, deterministic bytes
    images, ann = generate_images(GeneratorConfig(), 0, 0, args.num_images)
    print(
        f"{args.num_images:,} atomic images, chunks of {args.chunk:,}; Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    buf = io.BytesIO()
    t = time.perf_counter()
    np.savez_compressed(buf, images=images)
    npz = buf.tell() / len(images)
    print(
        f"np.savez_compressed (the seed's npz): {npz:.2f} B/image, "
        f"{(time.perf_counter() - t) / len(images) * 1e6:.2f} us/image to write\n"
    )
    print(
        f"{'array':<15} {'codec':<32} {'B/image':>8} {'vs npz':>7} {'enc us/img':>11} {'dec us/img':>11}"
    )
    totals = dict.fromkeys(COMPRESSIONS, 0.0)
    for name, arr in (("images", images), *ann.as_dict().items()):
        if args.arrays and name not in args.arrays:
            continue
        row = arr[0].nbytes
        small = name not in ("images", "instance_map")
        seen = set()
        for cname, level, shuffle, other in SMALL if small else CANDIDATES:
            blocksize = codec_spec(name)["blocksize"] if small else other
            typesize = (row if other == -1 else 0) if small else 0
            typesize = 0 if typesize == arr.itemsize else typesize  # a row of one item
            if (cname, level, shuffle, typesize, blocksize) in seen:
                continue
            seen.add((cname, level, shuffle, typesize, blocksize))
            codec = Zstd(level) if cname == "zarr-zstd" else Blosc(cname, level, shuffle, blocksize)
            size, enc, dec = measure(arr, codec, args.chunk, args.repeats, typesize)
            unit = (
                f"type {typesize or arr.itemsize}"
                if small
                else f"block {blocksize >> 10 or 'auto'}{'K' if blocksize else ''}"
            )
            label = f"{cname} {level} {SHUFFLE[shuffle]} {unit}"
            mine = (cname, level, SHUFFLE[shuffle], typesize, blocksize)
            marks = [c for c in COMPRESSIONS if current(name, c) == mine]
            for c in marks:
                totals[c] += size
            print(
                f"{name:<15} {label:<32} {size:>8.2f} {size / npz:>7.3f} {enc:>11.2f} {dec:>11.2f}"
                f"{'  ' + ', '.join(marks) if marks else ''}"
            )
    print()
    for c, total in totals.items():
        of = f" ({', '.join(args.arrays)})" if args.arrays else " in all"
        print(f"compression {c!r}: {total:.2f} B/image{of}, {total / npz:.3f}x npz")


if __name__ == "__main__":
    main()
