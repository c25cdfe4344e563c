"""How the store's codecs were chosen: size and speed of Blosc settings on real images.

For the images and the instance map of N atomic images (chunks of 16,000, as
the train split stores them) prints bytes per image, encode and decode time
per image for each candidate, and np.savez_compressed on the same images as
the seed's baseline. Run:  python benchmarks/bench_codecs.py --num-images 320000
"""

from __future__ import annotations

import argparse
import io
import platform
import time

import numpy as np
from numcodecs import Blosc

from gridstore.generate import GeneratorConfig, generate_images

CANDIDATES = [  # (cname, clevel, shuffle, blocksize)
    ("lz4", 5, Blosc.BITSHUFFLE, 0),
    ("zstd", 1, Blosc.BITSHUFFLE, 0),
    ("zstd", 3, Blosc.NOSHUFFLE, 0),
    ("zstd", 3, Blosc.BITSHUFFLE, 0),
    ("zstd", 3, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 4, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 5, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 6, Blosc.BITSHUFFLE, 1 << 20),
    ("zstd", 9, Blosc.NOSHUFFLE, 0),
]
SHUFFLE = {Blosc.NOSHUFFLE: "noshuffle", Blosc.SHUFFLE: "shuffle", Blosc.BITSHUFFLE: "bitshuffle"}


def measure(arr: np.ndarray, codec: Blosc, chunk: int, repeats: int) -> tuple[float, float, float]:
    """Bytes per image, best encode and decode microseconds per image."""
    parts = [np.ascontiguousarray(arr[i : i + chunk]) for i in range(0, len(arr), chunk)]
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
    args = parser.parse_args()
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
        f"{'array':<13} {'codec':<32} {'B/image':>8} {'vs npz':>7} {'enc us/img':>11} {'dec us/img':>11}"
    )
    for name, arr in (("images", images), ("instance_map", ann.instance_map)):
        for cname, level, shuffle, blocksize in CANDIDATES:
            size, enc, dec = measure(
                arr, Blosc(cname, level, shuffle, blocksize), args.chunk, args.repeats
            )
            label = f"{cname} {level} {SHUFFLE[shuffle]} block {blocksize >> 10 or 'auto'}{'K' if blocksize else ''}"
            print(
                f"{name:<13} {label:<32} {size:>8.2f} {size / npz:>7.3f} {enc:>11.2f} {dec:>11.2f}"
            )


if __name__ == "__main__":
    main()
