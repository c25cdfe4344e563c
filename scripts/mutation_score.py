"""Mutation score of gridstore's core: break the code on purpose, one small change at a time.

Each mutant is one change to one module (a flipped comparison, an operator, an integer off by
one, a dropped ``not``, a statement replaced by ``pass``, ...). The module's tests run against
it; a failure kills it, a pass lets it survive (a behaviour no test checks, or an equivalent
change). The code under test is never the tree the script is started from: it runs in a
checkout given by ``--root``, or by default in a fresh ``git worktree`` of HEAD, removed at the
end; each mutant is written there and the original put back after its run.

Run (2 cores shared: idle CPU only, one test process at a time)::

    nice -n 19 python scripts/mutation_score.py --module validate/constraints.py \
        --max-mutants 40 --json mutation.json

``--module`` may repeat; without it every module of :data:`MODULE_TESTS` runs. A module's
score is killed / (mutants - timed out); timed-out mutants (usually an endless loop) are
reported apart. Not run in CI: a mutant costs one run of its module's tests (5-30 s).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# For each module, the fast tests that cover it, fastest and most direct first (``-x`` stops
# at the first failure). Chosen by grep for the module's names; the long crash and race
# files (test_storage_contract.py, test_crash_phases.py, test_s3_proxy.py) are left out for
# time. tests/test_core_gaps.py holds the tests written for this script's survivors (see
# docs/mutation.md). A module's own doctests run too.
MODULE_TESTS: dict[str, list[str]] = {
    "gridstore/validate/constraints.py": [
        "tests/test_core_gaps.py",
        "tests/generate/test_batch.py",
        "tests/test_seed_api.py",
        "tests/generate/test_kernel.py",
        "tests/test_validate.py",
    ],
    "gridstore/read/selection.py": ["tests/test_core_gaps.py", "tests/test_view.py"],
    "gridstore/storage/lease.py": [
        "tests/test_core_gaps.py",
        *(
            f"tests/test_storage_s3.py::{name}"
            for name in (
                "test_lease_excludes_a_second_writer_and_a_dead_ones_is_taken_over",
                "test_claims_leases_and_publishing_mean_the_same_whatever_the_server_answers",
                "test_a_conditional_put_is_settled_by_reading_back",
                "test_one_worker_writes_the_local_bytes",
            )
        ),
    ],
    "gridstore/write/versions.py": [
        "tests/test_core_gaps.py",
        "tests/test_write.py",
        "tests/test_storage_local.py",
        "tests/test_unique.py::test_growing_a_unique_version_keeps_it_unique_and_equals_a_fresh_one",
        # a grow's source deleted before its resume: only the contract's test reaches it
        "tests/test_storage_contract.py::TestStorageContract::"
        "test_a_grow_whose_source_was_deleted_resumes_by_generating",
    ],
    "gridstore/storage/base.py": [
        "tests/test_core_gaps.py",
        "tests/test_storage_layout.py",
        "tests/test_write.py",
        "tests/test_storage_local.py",
        # StoreBackend.delete itself runs only on S3 (LocalStore has its own)
        "tests/test_storage_s3.py::test_cli_generate_versions_info_delete",
        # a task's record waits for its chunk uploads (only object storage defers them)
        "tests/test_storage_s3.py::test_a_task_whose_chunks_did_not_land_records_nothing",
        # a claim that races a delete's tombstone
        "tests/test_identity.py::test_a_claim_that_races_a_delete_gives_the_name_back",
    ],
    "gridstore/storage/local.py": [
        "tests/test_core_gaps.py",
        "tests/test_fsio.py",
        "tests/test_storage_layout.py",
        "tests/test_storage_local.py",
        "tests/test_write.py",
    ],
    "gridstore/storage/s3.py": [
        "tests/test_core_gaps.py",
        "tests/test_storage_s3.py",
        # a writer stalled (SIGSTOP) past its lease, at each point of the commit
        "tests/test_storage_contract.py::TestStorageContract::"
        "test_a_writer_stalled_past_its_lease_never_records_or_publishes",
    ],
    "gridstore/write/unique.py": [
        "tests/test_unique.py",
        # a unique version with hold-out conditions: the draws that match are never taken
        "tests/test_holdout.py::test_unique_and_paired_keep_images_and_twins_out_of_the_held_region",
    ],
    "gridstore/validate/version.py": [
        "tests/test_core_gaps.py::test_validate_names_each_damage_to_a_versions_metadata",
        "tests/test_validate.py",
        "tests/test_validate_engines.py",
        "tests/test_unique.py",
        # a paired version's twins and a hold-out's leaks, recounted by a full validation
        "tests/pairs/test_pair_validate.py",
        "tests/test_holdout.py::test_validate_full_passes_and_names_a_leaked_image",
    ],
    "gridstore/validate/task.py": ["tests/test_validate_engines.py", "tests/test_validate.py"],
    "gridstore/validate/hashes.py": ["tests/test_validate_engines.py", "tests/test_validate.py"],
    "gridstore/read/batching.py": [
        "tests/test_core_gaps.py",
        "tests/test_loader.py",
        "tests/test_read.py",
        "tests/test_view.py",
    ],
}
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not stress"]
SEED = 29
# numba compiles a kernel module again when its source changes. Appended to the checkout's
# copy of _jit.py: the mutated module is left out of the cache key and stamps its own
# kernels, so only they recompile (2-5 s), not every kernel (25 s).
JIT_PATCH = """

# --- added by scripts/mutation_score.py in its own checkout only ---
_MUTATED = os.environ.get("GRIDSTORE_MUTATED_SOURCE", "")
if _MUTATED:
    _full_key = sources_key

    def sources_key(sources: tuple[Path, ...] = KERNEL_SOURCES) -> str:  # type: ignore[no-redef]
        return _full_key(tuple(p for p in sources if str(p) != _MUTATED))

    _locator_init = _KernelCacheLocator.__init__

    def _init(self: _KernelCacheLocator, py_func: Callable[..., Any], py_file: str) -> None:
        _locator_init(self, py_func, py_file)
        self._file = str(Path(py_file).resolve())

    def _stamp(self: _KernelCacheLocator) -> str:
        if self._file != _MUTATED:
            return cache_dir().name
        return cache_dir().name + hashlib.sha256(Path(_MUTATED).read_bytes()).hexdigest()[:16]

    _KernelCacheLocator.__init__ = _init  # type: ignore[method-assign]
    _KernelCacheLocator.get_source_stamp = _stamp  # type: ignore[method-assign]
"""
# Calls whose removal only changes what is logged or shown, and the fault points that only
# the crash tests set (gridstore._faults).
QUIET_CALLS = {"debug", "info", "warning", "warn", "log", "echo", "print", "secho", "write"}
QUIET_CALLS |= {"crash_point", "stall_point"}

_FLIP: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
    ast.And: ast.Or,
    ast.Or: ast.And,
}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One change to one module: the source span it replaces and the text put there."""

    module: str
    line: int
    col: int
    operator: str
    before: str
    after: str
    start: int  # character offsets of the replaced span in the module's source
    end: int
    written: str  # the text put there (an expression in parentheses)
    lines: tuple[int, int] = (0, 0)  # first line of its statement, last line of the change

    @property
    def ident(self) -> str:
        """Return a stable name: ``module:line:col:operator``."""
        return f"{self.module}:{self.line}:{self.col}:{self.operator}"


def _offsets(source: str) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """Return the ids of nodes never mutated: annotations, docstrings, TYPE_CHECKING blocks."""
    skip: set[int] = set()

    def drop(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign):
            drop(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            drop(node.returns)
            for deco in node.decorator_list:
                drop(deco)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            drop(node)
        elif isinstance(node, ast.JoinedStr):
            drop(node)  # message text
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("kill", "killpg"):
            for arg in node.args[1:]:
                drop(arg)  # signal 0 plus one would be SIGHUP to a real process
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            drop(node)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                drop(body[0])
    return skip


def _quiet_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in QUIET_CALLS


def _text(node: ast.BinOp | ast.BoolOp) -> bool:
    """True for message text: ``"a" + b``, ``"%s" % x``, ``", ".join(names) or "none"``."""
    sides = (node.left, node.right) if isinstance(node, ast.BinOp) else node.values
    return any(
        isinstance(side, ast.JoinedStr)
        or (isinstance(side, ast.Constant) and isinstance(side.value, str))
        for side in sides
    )


def _replacements(node: ast.AST) -> Iterator[tuple[str, str]]:
    """Yield (operator name, replacement source) for one node."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _FLIP:
                new = ast.Compare(node.left, list(node.ops), node.comparators)
                new.ops[i] = _FLIP[type(op)]()
                yield f"{type(op).__name__}->{_FLIP[type(op)].__name__}", ast.unparse(new)
    elif isinstance(node, ast.BinOp) and type(node.op) in _FLIP and not _text(node):
        new_op = _FLIP[type(node.op)]
        new = ast.BinOp(node.left, new_op(), node.right)
        yield f"{type(node.op).__name__}->{new_op.__name__}", ast.unparse(new)
    elif isinstance(node, ast.AugAssign) and type(node.op) in _FLIP:
        new_op = _FLIP[type(node.op)]
        new = ast.AugAssign(node.target, new_op(), node.value)
        yield f"Aug{type(node.op).__name__}->{new_op.__name__}", ast.unparse(new)
    elif isinstance(node, ast.BoolOp) and not _text(node):
        new_op = _FLIP[type(node.op)]
        yield (
            f"{type(node.op).__name__}->{new_op.__name__}",
            ast.unparse(ast.BoolOp(new_op(), node.values)),
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop-not", ast.unparse(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield f"{node.value}->{not node.value}", repr(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "int+1", repr(node.value + 1)
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        if not _quiet_call(node.value):
            yield "call->pass", "pass"
    elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Attribute) for t in node.targets):
        yield "attr-assign->pass", "pass"
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return-None", "return None"
    elif isinstance(node, ast.Break):
        yield "break->continue", "continue"
    elif isinstance(node, ast.Continue):
        yield "continue->break", "break"


def generate_mutants(root: Path, module: str) -> list[Mutant]:
    """Return every mutant of ``module`` (a path relative to ``root``), in source order.

    Parameters
    ----------
    root : Path
        The checkout that holds the module.
    module : str
        The module's path, for example ``gridstore/read/selection.py``.

    Returns
    -------
    list[Mutant]
        One per change; each still parses (checked).
    """
    source = (root / module).read_text()
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    starts = _offsets(source)
    statement: dict[int, int] = {}  # node id -> first line of the innermost statement holding it
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            line = child.lineno if isinstance(child, ast.stmt) else statement.get(id(parent), 0)
            statement[id(child)] = line
    mutants = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "end_lineno"):
            continue
        start = starts[node.lineno - 1] + len(
            source[starts[node.lineno - 1] :].encode()[: node.col_offset].decode()
        )
        end = starts[node.end_lineno - 1] + len(
            source[starts[node.end_lineno - 1] :].encode()[: node.end_col_offset].decode()
        )
        before = source[start:end]
        for operator, text in _replacements(node):
            after = text if isinstance(node, ast.stmt) else f"({text})"
            mutated = source[:start] + after + source[end:]
            try:
                ast.parse(mutated)
            except SyntaxError:
                continue
            mutants.append(
                Mutant(
                    module,
                    node.lineno,
                    node.col_offset,
                    operator,
                    before,
                    text,
                    start,
                    end,
                    after,
                    (statement.get(id(node)) or node.lineno, node.end_lineno),
                )
            )
    mutants.sort(key=lambda m: (m.line, m.col, m.operator))
    return mutants


@dataclasses.dataclass
class Outcome:
    """What one mutant's test run gave."""

    mutant: Mutant
    status: str  # killed, survived, timeout, or error (the mutant's module failed to import)
    seconds: float
    detail: str = ""


# Each checkout's own numba cache (the user's is left alone), in the run's scratch directory.
_NUMBA_CACHE: dict[Path, Path] = {}


def _env(root: Path, module: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)
    env["GRIDSTORE_MUTATED_SOURCE"] = str((root / module).resolve())
    env["NUMBA_CACHE_DIR"] = str(_NUMBA_CACHE[root])
    return env


def module_tests(root: Path, module: str) -> list[str]:
    """Return the module's tests that exist in ``root``, and the module itself (its doctests)."""
    # A test file of this tree only (tests/test_core_gaps.py before it is committed) is skipped.
    return [*(t for t in MODULE_TESTS[module] if (root / t.split("::")[0]).exists()), module]


def run_tests(
    root: Path,
    module: str,
    timeout: float,
    tests: list[str],
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> tuple[str, float, str]:
    """Run ``tests`` in ``root``: (passed/failed/timeout, seconds, the first failure)."""
    cmd = [sys.executable, *PYTEST, *extra, *tests]
    begin = time.monotonic()
    # Its own process group: a timed-out or crashed run's children (an S3 server, workers,
    # killed writers) are ended with it, never left behind.
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env={**_env(root, module), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out, stdout, stderr = False, "", ""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    seconds = time.monotonic() - begin
    if timed_out:
        return "timeout", seconds, ""
    lines = [line for line in stdout.splitlines() if line.strip()]
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    last = (failed or lines or [stderr.strip()[-200:]])[0 if failed else -1]
    # 5: every test was deselected (the first run had them all): nothing failed.
    return ("passed" if proc.returncode in (0, 5) else "failed"), seconds, last


@dataclasses.dataclass
class Baseline:
    """The clean run of a module's tests: its time, and which tests run each line of it."""

    seconds: float
    tests: list[str]  # every test of the module, in order
    by_line: dict[int, list[str]]  # line -> the tests (node ids) that ran it in-process
    test_seconds: dict[str, float]  # node id -> its time in the clean (traced) run


def baseline(root: Path, module: str) -> Baseline:
    """Run the module's tests once, clean, recording which test runs which line of the module."""
    out = _NUMBA_CACHE[root].parent / f"lines-{root.name}.json"
    tests = module_tests(root, module)
    env = {
        "PYTHONPATH": f"{root}{os.pathsep}{root / 'scripts'}",
        "MUTATION_LINES_FILE": str((root / module).resolve()),
        "MUTATION_LINES_OUT": str(out),
    }
    result, seconds, last = run_tests(root, module, 3600, tests, ("-p", "mutation_lines"), env)
    if result != "passed":
        msg = f"{module}: the clean tests do not pass ({last}); fix that before mutating"
        raise SystemExit(msg)
    traced = json.loads(out.read_text())
    by_line = {int(k): v for k, v in traced["lines"].items()}
    return Baseline(seconds, tests, by_line, traced["seconds"])


def selected_tests(base: Baseline, mutant: Mutant) -> list[str]:
    """The tests that ran the mutant's lines, in the order of :data:`MODULE_TESTS`; else all."""
    first, last = mutant.lines
    ids = {t for line in range(first, last + 1) for t in base.by_line.get(line, [])}
    if not ids:  # reached only at import, in a subprocess or in a compiled kernel
        return base.tests
    order = {name.split("::")[0]: i for i, name in enumerate(base.tests)}
    return sorted(ids, key=lambda t: (order.get(t.split("::")[0], len(order)), t))


def run_mutant(root: Path, mutant: Mutant, base: Baseline, timeout: float) -> Outcome:
    """Write ``mutant`` into ``root``, run the tests that reach it, and put the original back.

    The tests that ran the mutated lines go first, with a timeout from their own clean times; a
    mutant they do not kill runs the rest of the module's list (a test may reach the line in a
    subprocess, where the trace does not look), with the module's timeout.
    """
    path = root / mutant.module
    original = path.read_text()
    path.write_text(original[: mutant.start] + mutant.written + original[mutant.end :])
    try:
        tests = selected_tests(base, mutant)
        if tests == base.tests:
            result, seconds, last = run_tests(root, mutant.module, timeout, tests)
        else:
            # 60 s more for what the clean times do not show: start-up, a kernel's compile.
            own = 3 * sum(base.test_seconds[t] for t in tests) + 60
            result, seconds, last = run_tests(root, mutant.module, min(own, timeout), tests)
            if result == "passed":
                rest = tuple(arg for t in tests for arg in ("--deselect", t))
                result, more, last = run_tests(root, mutant.module, timeout, base.tests, rest)
                seconds += more
    finally:
        path.write_text(original)
    status = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[result]
    return Outcome(mutant, status, seconds, last)


@contextlib.contextmanager
def checkouts(root: Path | None, jobs: int) -> Iterator[list[Path]]:
    """Yield ``jobs`` checkouts to mutate: ``root`` and copies of it, or worktrees of HEAD."""
    scratch = Path(tempfile.mkdtemp(prefix="gridstore-mutation-"))
    made: list[Path] = []
    repo = Path(__file__).resolve().parent.parent
    try:
        roots = []
        for i in range(jobs):
            if root is not None and i == 0:
                roots.append(root)
                continue
            target = scratch / f"tree{i}"
            if root is None:
                subprocess.run(
                    ["git", "-C", str(repo), "worktree", "add", "--detach", str(target), "HEAD"],
                    check=True,
                    capture_output=True,
                )
                made.append(target)
            else:
                shutil.copytree(root, target, ignore=shutil.ignore_patterns(".git", "__pycache__"))
            roots.append(target)
        saved = {}
        for i, tree in enumerate(roots):
            _NUMBA_CACHE[tree] = scratch / f"numba{i}"
            jit = tree / "gridstore" / "_jit.py"
            saved[jit] = jit.read_text()
            jit.write_text(saved[jit] + JIT_PATCH)
        try:
            yield roots
        finally:
            for jit, text in saved.items():
                jit.write_text(text)
    finally:
        for target in made:
            subprocess.run(
                ["git", "-C", str(repo), "worktree", "remove", "--force", str(target)],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(scratch, ignore_errors=True)


def score_module(
    roots: list[Path],
    module: str,
    max_mutants: int | None,
    seed: int,
    only: set[str],
    skip: int = 0,
) -> tuple[list[Outcome], float]:
    """Run a module's clean baseline and then its (sampled) mutants; return outcomes, baseline."""
    mutants = generate_mutants(roots[0], module)
    if not only:  # a random order: a run cut short (any prefix) is still a random sample
        # The whole order is drawn first and then cut: random.sample draws a different order
        # for a different k, so the same seed gives the same prefix whatever --max-mutants is.
        order = random.Random(seed).sample(mutants, len(mutants))
        mutants = order[skip : max_mutants or len(order)]
    else:
        mutants = [m for m in mutants if m.ident in only]
    bases = {tree: baseline(tree, module) for tree in roots}  # also warms each kernel cache
    clean = bases[roots[0]].seconds
    timeout = 3 * clean + 10
    print(f"{module}: {len(mutants)} mutants, clean run {clean:.1f} s", flush=True)
    free = list(roots)
    outcomes: list[Outcome] = []

    def one(mutant: Mutant) -> Outcome:
        tree = free.pop()
        try:
            return run_mutant(tree, mutant, bases[tree], timeout)
        finally:
            free.append(tree)

    with ThreadPoolExecutor(max_workers=len(roots)) as pool:
        for outcome in pool.map(one, mutants):
            outcomes.append(outcome)
            m = outcome.mutant
            print(
                f"  {outcome.status:8} {outcome.seconds:5.1f}s {m.ident}: "
                f"{m.before.splitlines()[0][:60]!r} -> {m.after[:60]!r}"
                + (f"  [{outcome.detail[:100]}]" if outcome.status == "killed" else ""),
                flush=True,
            )
    return outcomes, clean


def _table(rows: list[dict[str, object]]) -> str:
    head = "| module | mutants run (of all) | killed | survived | timed out | score |"
    body = [
        f"| {r['module']} | {r['mutants']} ({r['of']}) | {r['killed']} | {r['survived']} | "
        f"{r['timeout']} | {r['score']:.0%} |"
        for r in rows
    ]
    return "\n".join([head, "|---" * 6 + "|", *body])


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, score each module, print the table and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULE_TESTS))
    parser.add_argument("--max-mutants", type=int, default=None, help="sample N per module")
    parser.add_argument("--seed", type=int, default=SEED, help="the sample's seed")
    parser.add_argument(
        "--skip",
        type=int,
        default=0,
        help="leave out the first N of the random order (they were run before): "
        "--skip 19 --max-mutants 30 runs the 20th to 30th",
    )
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once")
    parser.add_argument("--root", type=Path, default=None, help="checkout to mutate")
    parser.add_argument("--json", type=Path, default=Path("mutation.json"))
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument(
        "--apply",
        metavar="ID",
        help="write mutant ID into the checkout (--root, default this one) and stop; "
        "`git checkout -- <module>` undoes it (to show a test red on it)",
    )
    parser.add_argument(
        "--only",
        type=Path,
        default=None,
        help="a JSON of an earlier run: run its survivors and timeouts again, nothing else",
    )
    args = parser.parse_args(argv)
    modules = args.module or list(MODULE_TESTS)
    root = args.root.resolve() if args.root else None
    if args.apply:
        base = root or Path(__file__).resolve().parent.parent
        module = args.apply.split(":")[0]
        (mutant,) = [m for m in generate_mutants(base, module) if m.ident == args.apply]
        source = (base / module).read_text()
        (base / module).write_text(source[: mutant.start] + mutant.written + source[mutant.end :])
        print(f"{mutant.ident}: {mutant.before.splitlines()[0][:70]!r} -> {mutant.after[:70]!r}")
        return 0
    if args.list:
        base = root or Path(__file__).resolve().parent.parent
        for module in modules:
            for m in generate_mutants(base, module):
                print(f"{m.ident}: {m.before.splitlines()[0][:70]!r} -> {m.after[:70]!r}")
        return 0
    only: set[str] = set()
    if args.only:
        earlier = json.loads(args.only.read_text())["modules"]
        only = {s["id"] for m in earlier.values() for s in m["survivors"]}
        modules = [m for m in modules if m in earlier]
    rows: list[dict[str, object]] = []
    report: dict[str, object] = {"command": sys.argv, "modules": {}}
    with checkouts(root, args.jobs) as roots:
        commit = subprocess.run(
            ["git", "-C", str(roots[0]), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        report["commit"] = commit
        for module in modules:
            outcomes, clean = score_module(
                roots, module, args.max_mutants, args.seed, only, args.skip
            )
            counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "survived")}
            timeouts = sum(o.status == "timeout" for o in outcomes)
            judged = counts["killed"] + counts["survived"]
            row = {
                "module": module,
                "mutants": len(outcomes),
                "of": len(generate_mutants(roots[0], module)),
                **counts,
                "timeout": timeouts,
                "score": counts["killed"] / judged if judged else 1.0,
            }
            rows.append(row)
            report["modules"][module] = {  # type: ignore[index]
                **row,
                "tests": MODULE_TESTS[module],
                "baseline_seconds": round(clean, 1),
                "sample": {"max_mutants": args.max_mutants, "seed": args.seed, "skip": args.skip},
                "survivors": [
                    {**_describe(o.mutant), "status": o.status, "seconds": round(o.seconds, 1)}
                    for o in outcomes
                    if o.status != "killed"
                ],
                "killed": [
                    {"id": o.mutant.ident, "by": o.detail} for o in outcomes if o.status == "killed"
                ],
            }
            args.json.write_text(json.dumps(report, indent=1))
    print()
    print(_table(rows))
    print(f"\nresults: {args.json}")
    return 0


def _describe(m: Mutant) -> dict[str, object]:
    return {
        "id": m.ident,
        "file": m.module,
        "line": m.line,
        "operator": m.operator,
        "before": m.before,
        "after": m.after,
        "sha": hashlib.sha1(f"{m.ident}{m.after}".encode()).hexdigest()[:8],
    }


if __name__ == "__main__":
    sys.exit(main())
