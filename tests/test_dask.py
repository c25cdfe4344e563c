"""The dask engine on real LocalClusters (spawned worker processes): same bytes as serial,
a worker killed mid-run, an external scheduler."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from distributed import Client, LocalCluster  # noqa: E402

import gridstore.write.tasks  # noqa: E402
from gridstore.engines import run_tasks  # noqa: E402
from gridstore.errors import ConfigError  # noqa: E402
from gridstore.plan import Plan  # noqa: E402
from gridstore.write.versions import create_version  # noqa: E402
from tests.conftest import version_chunks  # noqa: E402

pytestmark = pytest.mark.slow

# 20 tasks of one routing block each, the last one partial: enough to kill a worker mid-run.
PLAN = Plan(num_images=98_765, seed=13, blocks_per_chunk=1)
VICTIM = 7  # the task whose worker dies
_REAL_RUN_TASK = gridstore.write.tasks.run_task


def _run_task_dying_once(
    store_path: str, name: str, plan_json: str, fence: str | None, index: int, **kw: Any
) -> int:
    """``_run_task``, but the first run of task VICTIM SIGKILLs its own worker process
    after writing its chunks and before writing its record (``crash_point``).

    Runs in the Dask workers (pickled by reference). A marker file beside the store
    makes the kill happen exactly once; every run of VICTIM logs its pid,
    MALLOC_TRIM_THRESHOLD_ and whether the worker's profiler runs (the engine
    keeps both out of its workers).
    """
    if index == VICTIM:
        import dask

        base = Path(store_path).parent
        profile = dask.config.get("distributed.worker.profile.enabled")
        with open(base / "victim-runs", "a") as f:
            f.write(f"{os.getpid()} {os.environ.get('MALLOC_TRIM_THRESHOLD_')} {profile}\n")
        try:
            fd = os.open(base / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pass
        else:
            os.close(fd)
            os.environ["GRIDSTORE_CRASH_AT"] = f"task-{index}-written"  # only this process dies
    return _REAL_RUN_TASK(store_path, name, plan_json, fence, index, **kw)


# every test here starts a LocalCluster (or the tests' own external one)
pytestmark = pytest.mark.usefixtures("environ_restored")


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict]:
    store = tmp_path_factory.mktemp("serial") / "s"
    meta = create_version(store, PLAN, engine="serial", show_progress=False)
    return version_chunks(store, meta["version"]), meta


def _same_data(meta: dict, reference: dict) -> None:
    for key in ("statistics", "duplicates", "dataset_info"):
        assert meta[key] == reference[key], key
    assert meta["generation"]["draws"] == reference["generation"]["draws"]


def test_dask_gives_the_serial_bytes(tmp_path: Path, serial_reference: tuple[dict, dict]) -> None:
    chunks, reference = serial_reference
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    nanny_keys = ["MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED"]
    before = {k: os.environ.get(k) for k in nanny_keys}
    meta = create_version(tmp_path / "s", PLAN, engine="dask", workers=2, show_progress=False)
    assert {k: os.environ.get(k) for k in nanny_keys} == before  # undone after the run
    assert meta["generation"]["engine"] == "dask"
    assert version_chunks(tmp_path / "s", meta["version"]) == chunks
    _same_data(meta, reference)


def test_a_killed_worker_is_replaced_and_its_task_rerun(
    tmp_path: Path, serial_reference: tuple[dict, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks, reference = serial_reference
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    monkeypatch.setattr(gridstore.write.tasks, "run_task", _run_task_dying_once)
    meta = create_version(tmp_path / "s", PLAN, engine="dask", workers=2, show_progress=False)
    assert (tmp_path / "killed").exists()
    runs = [line.split() for line in (tmp_path / "victim-runs").read_text().splitlines()]
    assert len(runs) == 2  # killed once ...
    assert runs[0][0] != runs[1][0]  # ... then run again by another process
    assert {(trim, profile) for _, trim, profile in runs} == {("None", "False")}  # restarted too
    assert version_chunks(tmp_path / "s", meta["version"]) == chunks
    _same_data(meta, reference)


def test_an_external_scheduler_is_used_and_left_running(
    tmp_path: Path, serial_reference: tuple[dict, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks, _ = serial_reference
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip

        def no_local_cluster(*args: object, **kwargs: object) -> None:
            raise AssertionError("the engine started a LocalCluster despite scheduler=")

        monkeypatch.setattr(distributed, "LocalCluster", no_local_cluster)
        address = cluster.scheduler_address
        meta = create_version(tmp_path / "s", PLAN, engine="dask", scheduler=address,
                              show_progress=False)  # fmt: skip
        assert "gridstore" in cluster.scheduler.task_prefixes  # the tasks ran on this cluster
        with Client(cluster.scheduler_address, set_as_default=False) as client:
            assert len(client.nthreads()) == 2  # not closed by the engine
    assert version_chunks(tmp_path / "s", meta["version"]) == chunks


def test_no_tasks_start_no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    monkeypatch.setattr(distributed, "LocalCluster", lambda *a, **k: started.append(a))
    done: list[int] = []
    run_tasks(abs, [], done.append, engine="dask", workers=2)
    assert started == [] and done == []  # no cluster started, nothing run


def test_a_scheduler_address_where_nothing_listens_is_a_config_error_at_once() -> None:
    address = "tcp://127.0.0.1:9"  # nothing listens there: the connection is refused
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"cannot connect to the Dask scheduler at '{address}'"):
        run_tasks(abs, [1], lambda n: None, engine="dask", scheduler=address)
    assert time.monotonic() - started < 5  # not the client's 30 s of retries


@pytest.fixture
def silent_server() -> Any:
    """A loopback socket that takes connections and never says a word."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


@pytest.fixture
def silent_service(silent_server: Any) -> str:
    """The address of `silent_server`."""
    return f"tcp://127.0.0.1:{silent_server.getsockname()[1]}"


@pytest.fixture
def http_service() -> Any:
    """A loopback HTTP server, as a dashboard's port is."""
    import threading
    from http.server import HTTPServer, SimpleHTTPRequestHandler

    with HTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


@pytest.mark.parametrize("service", ["silent_service", "http_service"])
def test_a_scheduler_address_where_no_scheduler_answers_is_a_config_error(
    service: str, request: pytest.FixtureRequest
) -> None:
    import dask

    address = request.getfixturevalue(service)
    started = time.monotonic()
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ConfigError, match=rf"cannot connect to the Dask scheduler at '{address}'"),
    ):
        run_tasks(abs, [1], lambda n: None, engine="dask", scheduler=address)
    assert time.monotonic() - started < 10  # distributed's client alone waits forever


def test_a_workers_address_is_not_a_scheduler() -> None:
    with LocalCluster(n_workers=1, processes=False, protocol="tcp",
                      dashboard_address="127.0.0.1:0") as cluster:  # fmt: skip
        (address,) = cluster.scheduler_info["workers"]
        with pytest.raises(ConfigError, match=r"is not a scheduler \(Worker\)"):
            run_tasks(abs, [1], lambda n: None, engine="dask", scheduler=address)


def test_ctrl_c_while_a_scheduler_is_asked_stops_the_command_at_once(
    tmp_path: Path, silent_server: Any, silent_service: str
) -> None:
    import signal
    import subprocess
    import sys

    from tests.helpers_signals import default_signals

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = default_signals([sys.executable, "-m", "gridstore.cli", "generate", "--num-images",
                           "50000", "--store", str(tmp_path / "s"), "--engine", "dask",
                           "--scheduler", silent_service, "--yes", "--quiet"])  # fmt: skip
    taken = []  # the plain connection, then the one that asks and waits (30 s): kept open
    with subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            silent_server.settimeout(60)
            taken += [silent_server.accept()[0] for _ in range(2)]
            proc.send_signal(signal.SIGINT)
            started = time.monotonic()
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            for conn in taken:
                conn.close()
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 10  # not held until the 30 s connect timeout


def test_a_dask_task_runs_a_group_of_tasks_and_every_task_reports() -> None:
    from distributed import get_task_stream

    tasks = list(range(-60, 60))
    done: list[int] = []
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            protocol="tcp",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
        get_task_stream(client) as stream,
    ):
        run_tasks(abs, tasks, done.append, engine="dask", scheduler=cluster.scheduler_address)
    assert sorted(done) == sorted(abs(t) for t in tasks)  # each task once, its own result
    assert len(stream.data) < len(tasks) / 3  # groups: a Dask task's overhead paid less often


def test_groups_are_large_first_and_single_tasks_at_the_end() -> None:
    from gridstore.engines import MAX_GROUP, group_size

    assert group_size(100, 0) == MAX_GROUP  # a cluster whose workers have not joined yet
    for n, threads in [(150, 2), (5000, 2), (500, 64), (3, 8)]:
        sizes, left = [], n
        while left:
            sizes.append(group_size(left, threads))
            left -= sizes[-1]
        assert sum(sizes) == n and sizes == sorted(sizes, reverse=True)
        assert max(sizes) <= MAX_GROUP and sizes[-4 * threads :] == [1] * min(n, 4 * threads)


def test_our_cluster_starts_without_the_imports_of_a_fork_server_preload() -> None:
    """The workers fork from gridstore's own server, started before the cluster: the
    nanny's forkserver preload (every package distributed names, imported here first)
    would never be used, and is not set."""
    import subprocess
    import sys

    from gridstore.workers import forks_warm

    if not forks_warm():
        pytest.skip("workers are spawned here: no fork server")
    pytest.importorskip("pandas")  # one of the packages the preload would import
    code = (
        "import sys; from gridstore.engines import run_tasks; done = []; "
        "run_tasks(abs, [1, -2], done.append, engine='dask', workers=1); "
        "assert sorted(done) == [1, 2], done; print(sorted(set(sys.modules) & {'pandas', 'lz4'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stderr
