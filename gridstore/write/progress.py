"""What a run shows while it works: the tasks' progress bar, then each phase of the commit."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Phases", "progress_bar"]


def progress_bar(total: int | None, done: int, show: bool, desc: str) -> Any:
    """A tqdm bar of images on stderr (disabled unless `show`)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="img",
        unit_scale=True,
        desc=desc,
        disable=not show,
        file=sys.stderr,
        smoothing=0.1,
    )


class Phases:
    """The phases after the tasks (statistics, duplicates, flushing, publishing, ...), timed.

    ``start(name)`` ends the phase under way and begins `name`; the line on
    stderr names the phase running (unless `show` is False). ``seconds`` holds
    each finished phase's wall time.
    """

    def __init__(self, version: str, show: bool) -> None:
        from tqdm import tqdm

        self.seconds: dict[str, float] = {}
        self._name: str | None = None
        self._began = time.perf_counter()
        self._version = version
        fmt = "{desc} [{elapsed}]"
        self._bar = tqdm(
            desc=f"{version} commit", bar_format=fmt, disable=not show, file=sys.stderr
        )

    def start(self, name: str) -> None:
        """End the phase under way (its time is kept) and begin phase `name`."""
        now = time.perf_counter()
        if self._name is not None:
            self.seconds[self._name] = self.seconds.get(self._name, 0.0) + now - self._began
        self._name, self._began = name, now
        self._bar.set_description_str(f"{self._version} commit: {name}")

    def step(self, done: int, total: int) -> None:
        """Show the phase under way's progress: ``done`` of ``total`` parts."""
        self._bar.set_description_str(f"{self._version} commit: {self._name} {done}/{total}")

    def close(self) -> None:
        """End the last phase and the line."""
        self.start("done")
        self._bar.close()
