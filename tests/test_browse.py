"""``gridstore browse`` over HTTP: pages, filters and counts, chunk reads, safety, S3, the command.

A real store on disk (and one on a real S3 server), a real server on a free
loopback port in a thread, real HTTP requests. The pages in a real browser are
tests/test_browse_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gridstore.browse.matches import Matches
from gridstore.browse.splitpage import PAGE_IMAGES
from gridstore.cli import main
from gridstore.config import make_config
from gridstore.plan import Plan
from gridstore.read import open_store
from gridstore.read.conditions import parse_where
from gridstore.read.source import SplitSource
from gridstore.read.view import select
from gridstore.write.versions import create_version
from tests.conftest import tree_bytes
from tests.helpers_browse import count_when_done, get, request, running
from tests.helpers_s3 import bucket_fixture, s3_endpoint_fixture  # noqa: F401 - fixtures
from tests.helpers_signals import default_signals

# 3 chunks of 4,000 train images (blocks_per_chunk=1): a page is one chunk of three.
PLAN = Plan(num_images=12_000, seed=5, blocks_per_chunk=1)
OTHER = Plan(num_images=3_000, seed=6, config=make_config(type_weights={"blob": 0.05}))
WHERES = [["object_type=blob object_colour=3"], ["num_objects=1", "object_size=12..15"], []]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    path = tmp_path_factory.mktemp("browse") / "datasets"
    a = create_version(path, PLAN, name="2026-01-01-v1", engine="serial", show_progress=False)
    b = create_version(path, OTHER, name="2026-01-02-v1", engine="serial", show_progress=False)
    return str(path), a["version"], b["version"]


@pytest.fixture(scope="module")
def server(store: tuple[str, str, str]) -> Any:
    with running(store[0]) as srv:
        yield srv


def _rows(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'class="cell" href="[^"]*/(\d+)"', body)]


def test_every_page_answers_in_html_and_json(server: Any, store: tuple[str, str, str]) -> None:
    _, a, b = store
    for page in ("/", f"/v/{a}", f"/v/{a}/train", f"/v/{a}/val/3", f"/diff?a={a}&b={b}"):
        status, body, headers = request(server, page)
        assert status == 200, (page, body)
        assert headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "http://" not in body.replace(server.url, "") and "https://" not in body  # offline
        base, _, query = page.partition("?")
        status, text, headers = request(
            server, (base.rstrip("/") or "/") + ".json" + (f"?{query}" if query else "")
        )
        assert status == 200 and headers["Content-Type"] == "application/json", (page, text)
        json.loads(text)
    listed = json.loads(get(server, "/.json")[1])["versions"]
    assert [v["version"] for v in listed] == [a, b] and listed[0]["train"] == 9_600
    diff = json.loads(get(server, "/diff.json", a=a, b=b)[1])
    assert "generator.type_weights.blob" in diff["changed"]  # what `gridstore diff` finds
    for asset in ("style.css", "browse.js"):
        status, _, headers = request(server, f"/static/{asset}")
        assert status == 200 and headers["X-Content-Type-Options"] == "nosniff"


def test_image_page_shows_the_stored_annotations(server: Any, store: tuple[str, str, str]) -> None:
    path, a, _ = store
    split = open_store(path).version(a)["train"]
    for index in (0, 4_321, 9_599):
        data = json.loads(get(server, f"/v/{a}/train/{index}.json")[1])
        assert data["image"] == split.images[index].tolist()
        assert data["instance_map"] == split.annotation("instance_map")[index].tolist()
        types = split.annotations["object_type"][index]
        assert [o["instance"] for o in data["objects"]] == [
            int(k) + 1 for k in np.flatnonzero(types)
        ]
        assert [o["size"] for o in data["objects"]] == [
            int(s) for s in split.annotations["object_size"][index][types > 0]
        ]
        assert data["num_objects"] == int(split.annotations["num_objects"][index])


@pytest.mark.parametrize("where", WHERES, ids=["blob-colour-3", "two-wheres", "none"])
def test_filtered_pages_and_count_equal_the_library_and_gridstore_count(
    server: Any, store: tuple[str, str, str], where: list[str]
) -> None:
    path, a, _ = store
    view = select(open_store(path).version(a)["train"], [parse_where(w) for w in where])
    got = count_when_done(server, a, "train", where)
    cli = CliRunner().invoke(
        main,
        [
            "count",
            a,
            "--store",
            path,
            "--split",
            "train",
            "--json",
            *[x for w in where for x in ("--where", w)],
        ],
    )
    assert cli.exit_code == 0, cli.output
    assert got["matches"] == json.loads(cli.output)["splits"]["train"]["count"] == len(view)
    status, body = get(server, f"/v/{a}/train", where=where)
    assert status == 200 and f">{len(view):,}</span> of 9,600 images match" in body
    for number in (1, 2, len(view) // PAGE_IMAGES + 1):
        status, body = get(server, f"/v/{a}/train", where=where, page=number)
        want = view.indices[(number - 1) * PAGE_IMAGES : number * PAGE_IMAGES].tolist()
        assert status == 200 and _rows(body) == want, number
    shuffled = json.loads(get(server, f"/v/{a}/train.json", where=where, seed=11)[1])["rows"]
    again = json.loads(get(server, f"/v/{a}/train.json", where=where, seed=11)[1])["rows"]
    other = json.loads(get(server, f"/v/{a}/train.json", where=where, seed=12)[1])["rows"]
    assert shuffled == again != other and len(set(shuffled)) == len(shuffled) == PAGE_IMAGES
    assert set(shuffled) <= set(view.indices[:].tolist())
    if len(view) > 3_000:  # the permutation check below: a few pages' worth
        return
    pages = [
        json.loads(get(server, f"/v/{a}/train.json", where=where, seed=11, page=p)[1])["rows"]
        for p in range(1, len(view) // PAGE_IMAGES + 2)
    ]
    assert (
        sorted(r for rows in pages for r in rows) == view.indices[:].tolist()
    )  # the shuffle is a permutation


@pytest.mark.parametrize(
    "where",
    ["bogus", "object_type=circle", "colour=3", "object_size=1..x", "num_objects=1 num_objects=2"],
)
def test_a_bad_filter_is_a_400_page_with_the_command_lines_message(
    server: Any, store: tuple[str, str, str], where: str
) -> None:
    path, a, _ = store
    status, body = get(server, f"/v/{a}/train", where=[where])
    shown = re.search(r'id="error">Error: ([^<]*)<', body)
    assert status == 400 and shown, body
    message = shown.group(1).replace("&#x27;", "'")
    cli = CliRunner().invoke(main, ["count", a, "--store", path, "--where", where])
    assert cli.exit_code in (1, 2) and message in " ".join(cli.output.split()), (
        message,
        cli.output,
    )
    assert 'name="where" value="' in body  # the form is still there, to fix the filter
    status, text = get(server, f"/v/{a}/train.json", where=[where])
    assert status == 400 and json.loads(text)["error"] == message


def _spy(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str, int]]:
    """Count every chunk the readers decode, by the thread that asked (request or count)."""
    reads: Counter[tuple[str, str, int]] = Counter()
    real = SplitSource.read

    def read(self: SplitSource, field: str, chunk: int, out: Any = None) -> np.ndarray:
        who = "count" if threading.current_thread().name.startswith("gridstore-count") else "page"
        reads[(who, field, chunk)] += 1
        return real(self, field, chunk, out)

    monkeypatch.setattr(SplitSource, "read", read)
    return reads


def test_a_page_reads_only_the_chunks_it_needs(
    store: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, a, _ = store
    reads = _spy(monkeypatch)
    with running(path) as srv:  # a new server: its readers' chunks are not in the cache yet
        for number, chunk in ((3, 0), (41, 1), (96, 2)):  # rows 200.., 4,000.., 9,500..
            reads.clear()
            assert get(srv, f"/v/{a}/train", page=number)[0] == 200
            assert set(reads) == {("page", "images", chunk)}, (number, reads)
        reads.clear()
        rows = json.loads(get(srv, f"/v/{a}/train.json", page=11, seed=4)[1])["rows"]
        chunks = {r // 4_000 for r in rows}
        assert len(chunks) == 1 and set(reads) <= {("page", "images", c) for c in chunks}
        reads.clear()
        status, body = get(srv, f"/v/{a}/train", where=["num_objects=1"])
        assert status == 200 and len(_rows(body)) == PAGE_IMAGES
        mine = {k[1:] for k in reads if k[0] == "page"}  # images 0 are cached from page 3
        assert mine <= {("images", 0), ("num_objects", 0)}, mine  # chunk 0 holds 100 matches
        count_when_done(srv, a, "train", ["num_objects=1"])
        assert {k[1:] for k in reads if k[0] == "count"} == {("num_objects", c) for c in range(3)}


def test_a_page_never_waits_for_the_count(store: tuple[str, str, str]) -> None:
    """With no time left a page returns what it has (the count finds the rest), then fills in."""
    path, a, _ = store
    split = open_store(path).version(a)["train"]
    view = select(split, [{"object_size": 15, "object_type": "line", "object_colour": 3}])
    matches = Matches(view)
    first = matches.page(0, PAGE_IMAGES, None, seconds=0.0)
    assert not first.complete and len(first.rows) < PAGE_IMAGES  # one chunk's matches, no more
    assert matches.status()["chunks_scanned"] == 1
    matches.run()
    assert matches.status() == {**matches.status(), "done": True, "matches": len(view)}
    full = matches.page(0, PAGE_IMAGES, None, seconds=0.0)
    assert full.complete and full.rows.tolist() == view.indices[:PAGE_IMAGES].tolist()


BAD_REQUESTS = [
    ("/v/2026-01-01-v1/train?page=0", 400, "page='0' must be an integer in 1.."),
    ("/v/2026-01-01-v1/train?page=x", 400, "page='x' must be an integer"),
    ("/v/2026-01-01-v1/train?seed=-1", 400, "seed='-1' must be an integer"),
    ("/v/2026-01-01-v1/train?page=1&page=2", 400, "'page' is given 2 times"),
    ("/v/2026-01-01-v1/train?sort=size", 400, "unknown parameter 'sort'"),
    ("/v/2026-01-01-v1/train?" + "&".join(["where=num_objects%3D1"] * 9), 400, "at most 8"),
    ("/v/2026-01-01-v1?x=1", 400, "unknown parameter 'x'"),
    ("/v/2026-01-01-v1/train/9600", 404, "image 9600 is not in split 'train'"),
    ("/v/2026-01-01-v1/train/-1", 404, "is not an image index"),
    ("/v/2026-01-01-v1/holdout", 404, "split 'holdout' not found"),
    ("/v/2026-01-01-v9", 404, "version '2026-01-01-v9' not found"),
    ("/v/..%2F..%2Fetc/train", 404, "is not a version name"),
    ("/v/2026-01-01-v1%2F..%2F..", 404, "is not a version name"),
    ("/v/../../etc/passwd", 404, "no page at"),
    ("/static/..%2Fserver.py", 404, "no asset"),
    ("/static/../app.py", 404, "no asset"),
    ("/diff?a=2026-01-01-v1", 400, "needs two versions"),
    ("/diff?a=2026-01-01-v1&b=../x", 404, "is not a version name"),
    ("/diff?a=2026-01-01-v1&b=2026-01-02-v1&split=all", 400, "split must be one of"),
    ("/nothing/here", 404, "no page at"),
]


@pytest.mark.parametrize(
    ("path", "status", "message"), BAD_REQUESTS, ids=[p for p, _, _ in BAD_REQUESTS]
)
def test_bad_requests_get_a_4xx_page_saying_why(
    server: Any, path: str, status: int, message: str
) -> None:
    got, body, _ = request(server, path)
    assert got == status and message in body.replace("&#x27;", "'"), body


def test_the_server_only_reads(server: Any, store: tuple[str, str, str]) -> None:
    path, a, b = store
    before = tree_bytes(Path(path))
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "FOO"):
        for page in ("/", f"/v/{a}", f"/v/{a}/train/1"):
            status, _, headers = request(server, page, method)
            assert status == 405 and headers["Allow"] == "GET, HEAD", (method, page)
    status, body, _ = request(server, f"/v/{a}", "HEAD")
    assert status == 200 and body == ""
    status, _, _ = request(server, "/", headers={"Host": "evil.example:80"})  # DNS rebinding
    assert status == 400
    for where in WHERES:  # every page once more, counts included
        count_when_done(server, a, "train", where)
        get(server, f"/v/{a}/train", where=where, seed=1)
    get(server, "/diff", a=a, b=b)
    assert tree_bytes(Path(path)) == before


def test_it_binds_the_loopback_address_by_default(store: tuple[str, str, str]) -> None:
    with running(store[0]) as srv:
        assert srv.server_address[0] == "127.0.0.1" and srv.url.startswith("http://127.0.0.1:")
    option = next(p for p in main.commands["browse"].params if p.name == "host")
    assert option.default == "127.0.0.1"


def test_the_store_page_has_a_heldout_column_once_a_version_holds_combinations_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "datasets"
    plain = Plan(num_images=2_000, seed=1, blocks_per_chunk=1)
    held = Plan(num_images=2_000, seed=1, blocks_per_chunk=1, hold_out=("num_objects=4",),
                heldout_images=150)  # fmt: skip
    for plan in (plain, held):
        create_version(path, plan, engine="serial", show_progress=False)
    with running(str(path)) as srv:
        listed = json.loads(get(srv, "/.json")[1])["versions"]
        status, page = get(srv, "/")
    assert [row.get("heldout") for row in listed] == [None, 150]
    assert status == 200
    header = re.findall(r"<th[^>]*>([^<]*)</th>", page)
    assert header[:7] == ["version", "state", "train", "val", "test", "heldout", "total"]
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows]
    assert [c[header.index("heldout")] for c in cells] == ["-", "150"]


def test_a_version_deleted_while_browsed_gets_a_clear_page(tmp_path: Path) -> None:
    path = tmp_path / "datasets"
    v = create_version(path, Plan(num_images=2_000, seed=1), engine="serial", show_progress=False)[
        "version"
    ]
    with running(str(path)) as srv:
        assert get(srv, f"/v/{v}/train/5")[0] == 200
        assert get(srv, f"/v/{v}/train", where=["num_objects=2"])[0] == 200
        result = CliRunner().invoke(main, ["delete", v, "--store", str(path), "--yes"])
        assert result.exit_code == 0, result.output
        for page in (
            f"/v/{v}",
            f"/v/{v}/train",
            f"/v/{v}/train/5",
            f"/v/{v}/train/count?where=num_objects%3D2",
        ):
            status, body = get(srv, page)
            assert status == 404 and "deleted while you browsed" in body, (page, body)
        assert get(srv, "/")[0] == 200


def test_it_browses_a_store_on_object_storage(bucket: str) -> None:
    url = f"s3://{bucket}/datasets"
    plan = Plan(num_images=600, seed=2)
    v = create_version(url, plan, engine="serial", show_progress=False)["version"]
    view = select(open_store(url).version(v)["train"], [{"object_type": "line"}])
    with running(url) as srv:
        for page in ("/", f"/v/{v}", f"/v/{v}/val/7"):
            assert get(srv, page)[0] == 200, page
        status, body = get(srv, f"/v/{v}/train", where=["object_type=line"])
        assert status == 200 and _rows(body) == view.indices[:PAGE_IMAGES].tolist()
        assert count_when_done(srv, v, "train", ["object_type=line"])["matches"] == len(view)


def test_the_command_prints_its_url_and_stops_on_ctrl_c_with_one_line(
    store: tuple[str, str, str],
) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    # SIGINT at its default in the child, whatever this process inherited or was left with
    cmd = default_signals(
        [sys.executable, "-m", "gridstore.cli", "browse", "--store", store[0], "--port", "0"]
    )
    # closed and reaped on the way out, whatever happens: nothing left for a later test's warnings
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            found = re.search(r"at (http://127\.0\.0\.1:\d+/) \(read-only; Ctrl-C stops it\)", line)
            assert found, line
            with urllib.request.urlopen(found.group(1) + f"v/{store[1]}", timeout=30) as page:
                assert page.status == 200
            status = Path(f"/proc/{proc.pid}/status")  # if it hangs: how it handles signals
            text = status.read_text() if status.exists() else ""  # Linux only
            masks = [ln for ln in text.splitlines() if ln.startswith("Sig")]
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running 30 s after SIGINT; its signal masks were {masks}")
        finally:
            proc.kill()
    assert proc.returncode == 0 and err == "gridstore browse: stopped\n" and out == "", (out, err)


def test_the_command_says_in_one_line_what_is_wrong(
    store: tuple[str, str, str], tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, ["browse", "--store", str(tmp_path / "none")])
    assert (
        result.exit_code == 1
        and result.output.startswith("Error: ")
        and result.output.count("\n") == 1
    )
    with running(store[0]) as srv:  # its port is taken
        port = str(srv.server_address[1])
        result = CliRunner().invoke(main, ["browse", "--store", store[0], "--port", port])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert result.output.count("\n") == 1


def test_a_client_gone_mid_answer_leaves_no_traceback(
    store: tuple[str, str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """Clients that reset their connection before the answer (a closed tab) are not the
    server's errors: nothing on stderr, and the server goes on serving. Any other error
    of a request is still reported, as the standard library reports it."""
    with running(store[0]) as srv:
        host, port = srv.server_address[:2]
        for _ in range(10):
            s = socket.create_connection((str(host), int(port)))
            s.sendall(f"GET /v/{store[1]} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # a reset: reading the request or writing the answer fails
        assert get(srv, f"/v/{store[1]}")[0] == 200
        deadline = time.monotonic() + 30
        while any(t.name.endswith("(process_request_thread)") for t in threading.enumerate()):
            assert time.monotonic() < deadline, "a request's thread is still running"
            time.sleep(0.01)
        assert capfd.readouterr().err == ""
        try:
            raise ValueError("a bug in a page")
        except ValueError:
            srv.handle_error(None, ("127.0.0.1", 1))
        err = capfd.readouterr().err
    assert "Exception occurred during processing of request" in err and "a bug in a page" in err
