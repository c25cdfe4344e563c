"""What numba's atomic reference counts cost the generator kernel.

Times one ``generate_images`` call (CPU µs per image; median over
``--repeats`` fresh processes) as numba compiles the kernel, and with numba's
own switch for non-atomic reference counts
(``numba.core.runtime.nrtdynmod._disable_atomicity``, kept by numba "to
measure the overhead of atomic refcounts"); each way compiles into an empty
numba cache of its own. The difference is what the ``NRT_incref`` /
``NRT_decref`` pairs that numba's pruning leaves in the kernel cost. The
switch is a measurement, never a setting: it is process-wide, unsafe with
threads, and leaks (every later call in that process is slower, so each
process times one call). Two configurations: the atomic preset, and one
rectangle per image (the fixed cost of an image). Run from the repository root::

    python benchmarks/bench_refcounts.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

CONFIGS = {
    "atomic": "GeneratorConfig()",
    "one rectangle": "GeneratorConfig(max_objects=1, type_weights=(0, 1, 0, 0))",
}
CHILD = """
import time
if {non_atomic}:
    import numba.core.runtime.nrtdynmod as nrt
    nrt._disable_atomicity = 1
from gridstore import GeneratorConfig
from gridstore.generate import generate_images
config = {config}
images, ann = generate_images(config, 0, 0, {images})  # compiled or loaded, and the outputs
start = time.thread_time()
generate_images(config, 1, 0, {images}, out=(images, ann))
print((time.thread_time() - start) / {images} * 1e6)
"""


def per_image(non_atomic: bool, images: int, repeats: int) -> dict[str, float]:
    """Median CPU µs per image of each configuration, one call per fresh process."""
    got: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for name, config in CONFIGS.items():
            code = CHILD.format(non_atomic=non_atomic, config=config, images=images)
            runs = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                         capture_output=True, text=True).stdout)
                    for _ in range(repeats)]  # fmt: skip
            got[name] = statistics.median(runs)
    return got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    atomic = per_image(False, args.images, args.repeats)
    plain = per_image(True, args.images, args.repeats)
    print(f"kernel CPU per image, {args.images:,} images, median of {args.repeats}:")
    for name, us in atomic.items():
        print(f"  {name:<14} atomic refcounts {us:.3f} µs, non-atomic {plain[name]:.3f} µs: "
              f"refcounts {1 - plain[name] / us:.0%} of the time")  # fmt: skip


if __name__ == "__main__":
    main()
