"""The package's import structure: light imports stay light, imports write nothing, no cycles, small modules.

Each import check runs in a fresh interpreter, so nothing this test process
already imported can hide a problem.
"""

from __future__ import annotations

import ast
import collections
import itertools
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path

import gridstore

PACKAGE = Path(gridstore.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_LINES = 400


def _module_names() -> dict[str, Path]:
    """Every module of the package by dotted name; a package is named by its ``__init__``."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _python(code: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter that imports this checkout's gridstore."""
    path = [str(REPO), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**env, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------------------
# (a) configs, vocabulary and plans do not load numba
# ---------------------------------------------------------------------------


def test_config_vocab_and_plan_do_not_load_numba(tmp_path: Path) -> None:
    """Configs, plans and annotations are used where no kernel runs (CLI parsing, readers)."""
    run = _python(
        f"""
        import json, sys
        import gridstore.config, gridstore.generate.vocab, gridstore.plan
        assert gridstore.__file__.startswith({str(PACKAGE)!r}), gridstore.__file__
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))))
        """,
        tmp_path,
        dict(os.environ),
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [], "gridstore.config, generate.vocab or plan loads numba"


# ---------------------------------------------------------------------------
# (b) importing every module writes nothing
# ---------------------------------------------------------------------------

IMPORT_ALL = """
    import importlib, json, pkgutil, sys
    import gridstore

    assert gridstore.__file__.startswith(PACKAGE), gridstore.__file__
    def fail(name):
        raise ImportError(f"cannot walk {name}")
    names = ["gridstore"] + [
        m.name
        for m in pkgutil.walk_packages(gridstore.__path__, "gridstore.", onerror=fail)
        if m.name != "gridstore.cli.__main__"  # runs the CLI
    ]
    for name in names:
        importlib.import_module(name)
    print(json.dumps(names))
"""


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mtime (ns) and size."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mtime_ns, st.st_size)
    return out


def _changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    created = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    deleted = [f"deleted {p}" for p in sorted(before.keys() - after.keys())]
    changed = [
        f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return created + deleted + changed


def test_importing_every_module_writes_nothing(tmp_path: Path) -> None:
    """No cache, config or bytecode file appears in the package, the cwd, HOME, the caches or TMPDIR.

    numba compiles on first use, not on import; matplotlib, torch, zarr and
    friends must not be made to write their caches by an import either.
    """
    dirs = {name: tmp_path / name for name in ("cwd", "home", "xdg_cache", "numba_cache", "tmp")}
    for d in dirs.values():
        d.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "MPL"))}
    env |= {
        "HOME": str(dirs["home"]),
        "XDG_CACHE_HOME": str(dirs["xdg_cache"]),
        "NUMBA_CACHE_DIR": str(dirs["numba_cache"]),
        "TMPDIR": str(dirs["tmp"]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    watched = {"package": PACKAGE, **dirs}
    before = {name: _snapshot(d) for name, d in watched.items()}
    run = _python(f"PACKAGE = {str(PACKAGE)!r}\n" + textwrap.dedent(IMPORT_ALL), dirs["cwd"], env)
    after = {name: _snapshot(d) for name, d in watched.items()}
    assert run.returncode == 0, run.stderr
    imported = set(json.loads(run.stdout))
    assert imported == set(_module_names()) - {"gridstore.cli.__main__"}  # all of them
    changes = [f"{name}: {c}" for name in watched for c in _changes(before[name], after[name])]
    assert changes == [], "\n".join(changes)


# ---------------------------------------------------------------------------
# (c) no import cycle
# ---------------------------------------------------------------------------


def _imports(
    module: str, source: str, modules: Iterable[str], *, is_package: bool = False
) -> Iterator[tuple[str, int]]:
    """(imported gridstore module, line) for every import statement of ``source``, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gridstore":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative to the module's package (a package's own, for __init__)
                base = module.split(".")
                base = base[: len(base) - node.level + is_package]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "gridstore":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in modules else target), node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """Module -> {module it imports: line of the first such import}."""
    modules = _module_names()
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        for target, line in _imports(module, source, modules, is_package=is_package):
            if target in modules and target != module:
                graph[module].setdefault(target, line)
    return graph


def _components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = sorted(stack[stack.index(v) :])
            del stack[stack.index(v) :]
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def _shortest_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> list[str]:
    """A shortest cycle from the component's first module back to it (breadth first)."""
    start, inside = component[0], set(component)
    parent: dict[str, str] = {}
    queue = collections.deque([start])
    while start not in graph[queue[0]]:
        v = queue.popleft()
        for w in sorted(graph[v]):
            if w in inside and w != start and w not in parent:
                parent[w] = v
                queue.append(w)
    path = [queue[0]]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return [*reversed(path), start]


def _describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} -(line {graph[a][b]})->" for a, b in itertools.pairwise(cycle)]
    return " ".join([*steps, cycle[-1]])


def _report(graph: dict[str, dict[str, int]]) -> list[str]:
    """For each knot of modules: its members, and one cycle through them with the import lines."""
    return [
        f"{', '.join(c)}: {_describe(_shortest_cycle(graph, c), graph)}" for c in _components(graph)
    ]


def test_no_import_cycles() -> None:
    """No module of gridstore imports, through other gridstore modules, back to itself.

    The graph has one node per module; a package is the node of its ``__init__``.
    Every ``import gridstore.x`` and ``from gridstore.x import y`` counts, relative
    ones too, wherever it is: at module level, inside functions (an import moved
    into a function to dodge a cycle still ties the two modules together), and
    under ``if TYPE_CHECKING:`` (type checkers resolve those, and they mark the
    same dependency). ``from package import name`` is an edge to the submodule
    ``package.name`` when that is a module, else to the package's ``__init__``.

    Not counted: the implicit import of a module's parent packages. Python runs
    ``gridstore/x/__init__.py`` before any ``gridstore.x.y``; an ``__init__`` that
    re-exports its submodules would otherwise close a "cycle" with each of them,
    which is harmless as long as the submodules never import from the
    ``__init__`` itself -- and that explicit import *is* counted. Lazy
    ``__init__`` modules (``importlib.import_module`` in ``__getattr__``) have
    no static edges, and dynamic imports are not followed.
    """
    graph = _graph()
    assert "gridstore.generate.batch" in graph["gridstore.corpus"]  # the graph is read at all
    knots = _report(graph)
    assert not knots, "import cycles:\n" + "\n".join(knots)


def test_the_cycle_check_can_fail() -> None:
    """A planted cycle is found, and relative imports resolve to the modules they name."""
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {"b": 5}, "e": {}}
    assert _components(graph) == [["a", "b", "c", "d"]]
    assert _report(graph) == ["a, b, c, d: a -(line 1)-> b -(line 2)-> c -(line 3)-> a"]
    assert _report({"a": {"b": 1}, "b": {}, "c": {"a": 1}}) == []
    two = {"x": {"y": 7}, "y": {"x": 8, "z": 1}, "z": {"w": 2}, "w": {"z": 3}}
    assert _report(two) == [
        "w, z: w -(line 3)-> z -(line 2)-> w",
        "x, y: x -(line 7)-> y -(line 8)-> x",
    ]
    modules = _module_names()
    source = "from . import batch\nfrom .vocab import Annotations\nfrom .. import plan\n"
    assert list(_imports("gridstore.generate.made_up", source, modules)) == [
        ("gridstore.generate.batch", 1),
        ("gridstore.generate.vocab", 2),
        ("gridstore.plan", 3),
    ]
    init = "from .batch import generate_images\nfrom . import vocab\n"
    assert list(_imports("gridstore.generate", init, modules, is_package=True)) == [
        ("gridstore.generate.batch", 1),
        ("gridstore.generate.vocab", 2),
    ]
    nested = "def f():\n    import gridstore.plan\nif TYPE_CHECKING:\n    from gridstore.read import store\n"
    assert sorted(_imports("gridstore.x", nested, modules)) == [
        ("gridstore.plan", 2),
        ("gridstore.read.store", 4),
    ]


# ---------------------------------------------------------------------------
# (d) small modules
# ---------------------------------------------------------------------------


def test_no_module_is_longer_than_400_lines() -> None:
    lengths = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
    }
    assert len(lengths) > 30
    long = {path: n for path, n in lengths.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_module_imports_zarr_private_internals() -> None:
    """zarr.core is private (it moved between 3.0 and 3.4): gridstore uses public zarr only."""
    found = []
    for name, path in _module_names().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{name}: {n}" for n in names if n == "zarr.core" or n.startswith("zarr.core.")
            ]
    assert found == []
