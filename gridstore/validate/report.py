"""What validation found: one `CheckResult` per check, gathered in a `ValidationReport`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CHECKS", "CheckResult", "ValidationReport"]

CHECKS = (
    "metadata",
    "structure",
    "split_counts",
    "chunks_present",
    "checksums",
    "values",
    "constraints",
    "instance_maps",
    "regeneration",
    "hold_out",
    "duplicates",
    "digest",
)


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed or not, why, and where (chunk keys or ``split:index``)."""

    name: str
    ok: bool
    detail: str
    where: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """What `validate_version` found: one `CheckResult` per name in ``CHECKS``, in order."""

    version: str
    store: str
    checks: list[CheckResult]
    full: bool
    seed: int
    chunks: dict[str, list[int]]  # chunk indices whose data was read, per split
    seconds: float
    digest: str | None = None  # recomputed from every chunk (full validation only)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> CheckResult:
        """Return the result of check `name`."""
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (what ``gridstore validate --json`` prints)."""
        return {**asdict(self), "ok": self.ok, "seconds": round(self.seconds, 3)}

    def summary_lines(self, *, header: bool = True, limit: int = 5) -> list[str]:
        """Return a header, then ``PASS|FAIL name: detail [at locations]`` for each check."""
        n, bad = sum(map(len, self.chunks.values())), sum(not c.ok for c in self.checks)
        mode = "every chunk" if self.full else f"{n} sampled chunks (seed {self.seed})"
        verdict = "OK" if self.ok else f"FAILED ({bad} of {len(self.checks)} checks)"
        lines = [f"version {self.version}: {verdict}; data read from {mode}; {self.seconds:.1f} s"]
        for c in self.checks:
            more = f" (+{len(c.where) - limit} more)" if len(c.where) > limit else ""
            at = f" [at {', '.join(c.where[:limit])}{more}]" if c.where and not c.ok else ""
            lines.append(f"{'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail}{at}")
        return lines if header else lines[1:]
