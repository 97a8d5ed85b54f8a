"""TrioWorker's fast path (issue 20) against its hypercorn path, on real servers.

Each behaviour is checked on both HTTP/1.1 paths, ``SAFEWORKERS_TRIO_FAST``
on (the default) and off, with ``tests/apps/fast_probe_app.py``: what a
client sees must not depend on the path. Hostile input is
tests/reliability/test_differential.py's, which runs on both paths too.
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import servers
from tests.reliability.load import connect, read_all, status_of
from tests.servers import Server

APP = "fast_probe_app:app"
WORKER = ("-k", "safeworkers.TrioWorker", "-w", "1")
PATHS = {"fast": "1", "hypercorn": "0"}


@pytest.fixture(scope="module", params=list(PATHS))
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    events = tmp_path_factory.mktemp("fast") / "events.txt"
    events.touch()
    env = {"SAFEWORKERS_TRIO_FAST": PATHS[request.param], "SWTEST_EVENTS": str(events)}
    with servers.gunicorn(APP, *WORKER, "--keep-alive", "2", env=env) as running:
        running.events = events  # type: ignore[attr-defined]
        running.path = request.param  # type: ignore[attr-defined]
        yield running


def exchange(server: Server, raw: bytes, *, half_close: bool = True, timeout: float = 10) -> bytes:
    """Write ``raw`` on a fresh connection; everything the server sends until it closes."""
    sock = connect(server, timeout)
    try:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_all(sock, limit=64 << 20)
    finally:
        sock.close()


def responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Parse a stream of HTTP/1.1 responses (content-length or chunked)."""
    out = []
    while data:
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.decode().lower()] = value.decode().strip()
        if "content-length" in headers:
            size = int(headers["content-length"])
            body, data = data[:size], data[size:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line, 16)
                body += data[:size]
                data = data[size + 2 :]
                if not size:
                    break
        else:
            body, data = data, b""
        out.append((status, headers, body))
    return out


def get(target: str, *headers: str, version: str = "HTTP/1.1") -> bytes:
    lines = [f"GET {target} {version}", "Host: localhost", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_the_scope_is_the_same_on_both_paths(tmp_path: Path) -> None:
    """The ASGI scope the app gets, field by field, on the fast path and on hypercorn's."""
    requests = [
        get("/scope?a=1&b=%20"),
        get("/scope/%E2%82%AC/x%2Fy?q"),
        get("/scope", "X-Twice: 1", "X-Twice: 2", "Accept:  text/plain  "),
        b"GET /scope HTTP/1.0\r\n\r\n",
    ]
    seen: dict[str, list[object]] = {}
    for name, value in PATHS.items():
        env = {"SAFEWORKERS_TRIO_FAST": value}
        with servers.gunicorn(APP, *WORKER, "--root-path", "/api", env=env) as running:
            scopes = []
            for raw in requests:
                ((status, _, body),) = responses(exchange(running, raw))
                assert status == 200, body
                scope = json.loads(body)
                scope["client"][1] = scope["server"][1] = "port"  # differ per run
                scopes.append(scope)
            seen[name] = scopes
    assert seen["fast"] == seen["hypercorn"]
    first = seen["fast"][0]
    assert first["asgi"] == {"spec_version": "2.1", "version": "3.0"}
    assert first["root_path"] == "/api"
    assert first["query_string"] == "a=1&b=%20"
    assert seen["fast"][1]["path"] == "/scope/€/x/y"


def test_unix_socket_scope_has_no_addresses() -> None:
    with servers.gunicorn(APP, *WORKER, unix=True) as running:
        scope = running.get("/scope").json()
    assert scope["client"] is None
    assert scope["server"] is None


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    raw = b"".join(get(f"/scope?i={i}") for i in range(1000))
    answers = responses(exchange(server, raw))
    assert [json.loads(body)["query_string"] for _, _, body in answers] == [
        f"i={i}" for i in range(1000)
    ]


def test_many_busy_connections_get_whole_answers_in_order(server: Server) -> None:
    """Sixteen connections at once, each pipelining answers of its own sizes, some
    too large for one write, and streamed ones: every byte arrives, in order. On
    the fast path the answers of busy connections are written together by one
    task (FastServer.flush), which hands a write it cannot finish back to its
    connection."""

    def sizes(k: int) -> list[int]:
        return [1 + (k * 7919 + i * 104729) % 50_000 for i in range(11)] + [8 << 20]

    def one(k: int) -> bool:
        targets = [f"/big?n={n}" for n in sizes(k)] + [f"/stream?n={k}"]
        raw = b"".join(get(target) for target in targets) + get("/scope", "Connection: close")
        sock = connect(server, timeout=60)
        try:
            sock.sendall(raw)
            time.sleep(0.3)  # the large answers meet full socket buffers
            answers = responses(read_all(sock, limit=64 << 20))
        finally:
            sock.close()
        got = [(status, len(body), body.strip(b"x")) for status, _, body in answers[:-2]]
        streamed = answers[-2][2]
        return (
            got == [(200, n, b"") for n in sizes(k)]
            and streamed == b"".join(b"part %d\n" % i for i in range(k))
            and answers[-1][0] == 200
        )

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(one, range(16)))


def test_bodies_in_and_out(server: Server) -> None:
    chunked = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    plain = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
    for status, _, body in responses(exchange(server, chunked + plain + get("/stream?n=3"))):
        assert status == 200
        if body.startswith(b"{"):
            assert json.loads(body)["size"] == 11
        else:
            assert body == b"part 0\npart 1\npart 2\n"


def test_a_request_sent_byte_by_byte(server: Server) -> None:
    sock = connect(server)
    try:
        for byte in b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc":
            sock.send(bytes([byte]))
        sock.shutdown(socket.SHUT_WR)
        ((status, _, body),) = responses(read_all(sock))
    finally:
        sock.close()
    assert status == 200
    assert json.loads(body)["size"] == 3


def test_a_large_body_reaches_the_app_in_pieces_as_it_reads(server: Server) -> None:
    size = 4 << 20
    client = server.client(timeout=30)
    result = client.post("/slow-echo", content=iter([b"z" * 65536] * (size // 65536))).json()
    assert result == {"messages": result["messages"], "size": size, "end": "end"}
    assert result["messages"] > 4  # handed over as it came, not buffered whole


def test_expect_100_continue(server: Server) -> None:
    sock = connect(server)
    try:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"body")
        sock.shutdown(socket.SHUT_WR)
        rest = interim.split(b"\r\n\r\n", 1)[1] + read_all(sock)
        ((status, _, body),) = responses(rest)
    finally:
        sock.close()
    assert status == 200
    assert json.loads(body)["size"] == 4


def test_head_and_bodiless_statuses(server: Server) -> None:
    head = b"HEAD /big?n=100 HTTP/1.1\r\nHost: x\r\n\r\n"
    data = exchange(server, head + get("/status?code=204") + get("/status?code=304") + get("/"))
    # HEAD's answer and the 204/304 carry no body: the next response follows at once.
    assert re.findall(rb"HTTP/1\.1 (\d{3})", data) == [b"200", b"204", b"304", b"200"]
    assert b"xxx" not in data
    assert data.endswith(b"hello") or data.endswith(b"hello\r\n0\r\n\r\n")


def test_connection_close_and_http10(server: Server) -> None:
    closing = exchange(server, get("/", "Connection: close") + get("/scope"), half_close=False)
    assert [status for status, _, _ in responses(closing)] == [200]
    old = exchange(server, get("/", version="HTTP/1.0") + get("/scope"), half_close=False)
    ((status, headers, body),) = responses(old)
    assert (status, body) == (200, b"hello")
    assert headers.get("transfer-encoding") is None


def test_keep_alive_timeout_closes_an_idle_connection(server: Server) -> None:
    sock = connect(server, timeout=10)
    try:
        sock.sendall(get("/"))
        answer = b""
        while not answer.endswith((b"hello", b"0\r\n\r\n")):
            answer += sock.recv(65536)
        assert status_of(answer) == 200
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, not by our timeout
        idle = time.monotonic() - started
    finally:
        sock.close()
    assert 2.0 <= idle <= 4.5, idle  # --keep-alive 2: never before, within a second after


def test_a_connection_that_sends_nothing_is_closed_after_keep_alive(server: Server) -> None:
    sock = connect(server, timeout=10)
    try:
        started = time.monotonic()
        assert sock.recv(1) == b""
        idle = time.monotonic() - started
    finally:
        sock.close()
    assert 2.0 <= idle <= 4.5, idle


@pytest.mark.parametrize("path", list(PATHS))
def test_a_stop_closes_answered_idle_connections_and_answers_waiting_ones(path: str) -> None:
    """gunicorn's graceful stop on both paths: an idle connection that was answered
    closes at once (not after its keep-alive timeout); one accepted before the stop
    that has not sent its request yet still gets it answered."""
    env = {"SAFEWORKERS_TRIO_FAST": PATHS[path]}
    with servers.gunicorn("trio_raw:app", *WORKER, "--keep-alive", "10", env=env) as running:
        answered = connect(running, timeout=10)
        waiting = connect(running, timeout=10)
        try:
            answered.sendall(get("/"))
            data = b""
            while b"\r\n\r\n" not in data:
                data += answered.recv(65536)
            assert status_of(data) == 200
            time.sleep(0.3)  # both connections accepted, one idle after its answer
            running.signal(signal.SIGTERM)
            started = time.monotonic()
            while answered.recv(65536):
                pass  # the rest of the answer, then the close
            closed_after = time.monotonic() - started
            waiting.sendall(get("/", "Connection: close"))
            late = read_all(waiting)
        finally:
            answered.close()
            waiting.close()
        assert running.wait(timeout=20) == 0
    assert closed_after < 2.0, closed_after  # keep-alive is 10 s: the stop closed it
    assert status_of(late) == 200, late[:200]


def test_a_large_response_to_a_slow_reader(server: Server) -> None:
    sock = connect(server, timeout=30)
    try:
        sock.sendall(get("/big-stream?n=16777216", "Connection: close"))
        time.sleep(0.5)  # the server meets a full socket buffer: it must wait, not drop
        data = read_all(sock, limit=32 << 20)
    finally:
        sock.close()
    ((status, _, body),) = responses(data)
    assert status == 200
    assert len(body) == 16777216


def test_a_long_poll_sees_the_client_go(server: Server) -> None:
    events: Path = server.events  # type: ignore[attr-defined]
    sock = connect(server)
    sock.sendall(get("/long-poll"))
    time.sleep(0.3)
    sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "http.disconnect" not in events.read_text():
        time.sleep(0.05)
    assert "http.disconnect" in events.read_text()


@pytest.mark.parametrize("ms", [50, 1300])
def test_a_wait_for_the_disconnect_ends_with_the_answer(server: Server, ms: int) -> None:
    """An app that waits in receive() while it answers (quart-trio does, for every
    request) is told http.disconnect once its answer is out, as hypercorn tells it,
    even though the client keeps the connection open: whether the answer comes
    before the fast path's sweeper tick or after it (the wait then watches the
    socket)."""
    events: Path = server.events  # type: ignore[attr-defined]
    before = events.read_text().count("after the answer")
    sock = connect(server)
    try:
        sock.sendall(get(f"/answer-then-wait?ms={ms}"))
        data = b""
        while not data.endswith((b"answered", b"0\r\n\r\n")):
            data += sock.recv(65536)
        deadline = time.monotonic() + 5
        while events.read_text().count("after the answer") == before:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        sock.sendall(get("/"))  # and the connection serves the next request
        while b"hello" not in data or not data.endswith((b"hello", b"0\r\n\r\n")):
            data += sock.recv(65536)
        assert [status for status, _, _ in responses(data)] == [200, 200]
    finally:
        sock.close()
    last = events.read_text().splitlines()[-1]
    assert last == "after the answer: http.disconnect", last


def test_a_disconnect_after_the_answer_never_cuts_it_short(server: Server) -> None:
    """quart-trio cancels its request's tasks when its receive() gets http.disconnect:
    that must not happen while the answer is still being written. A slow reader
    makes the write wait; the client still gets every byte, and the connection
    serves the next request."""
    size = 8_000_000
    sock = connect(server, timeout=30)
    try:
        sock.sendall(get(f"/big-then-cancel?n={size}"))
        time.sleep(0.5)  # the socket buffers fill: the last write has to wait
        data = b""
        while len(data) < size or not data.endswith((b"x", b"0\r\n\r\n")):
            chunk = sock.recv(1 << 20)
            assert chunk, f"closed after {len(data)} bytes"
            data += chunk
        sock.sendall(get("/"))
        while not data.endswith((b"hello", b"0\r\n\r\n")) or b"hello" not in data[-64:]:
            chunk = sock.recv(65536)
            assert chunk, "closed before the next answer"
            data += chunk
    finally:
        sock.close()
    (first, _, body), (second, _, _) = responses(data)
    assert (first, len(body), second) == (200, size, 200)


def test_an_unread_body_is_skipped_to_the_next_request(server: Server) -> None:
    raw = b"POST /no-read HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000
    answers = responses(exchange(server, raw + get("/", "Connection: close"), half_close=False))
    # Both paths read past the unread body and answer the next request.
    assert [status for status, _, _ in answers] == [200, 200]
    assert answers[1][2] == b"hello"


def test_an_app_that_fails(server: Server) -> None:
    ((status, _, _),) = responses(exchange(server, get("/fail")))
    assert status == 500
    data = exchange(server, get("/half"))
    assert data.startswith(b"HTTP/1.1 200 ")
    assert not data.endswith(b"0\r\n\r\n")  # the chunked body is left unfinished: the close tells
    assert "Error in ASGI Framework" in server.log
    assert server.fetch("/").status == 200


def test_access_log_and_max_requests(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    args = ("--access-logfile", str(log), "--access-logformat", '%(m)s %(U)s %(s)s %(B)s "%(a)s"')
    # The readiness probe is the first of the four requests.
    with servers.gunicorn(APP, *WORKER, *args, "--max-requests", "4") as running:
        (first,) = running.worker_pids()
        for _ in range(3):
            conn = http.client.HTTPConnection(*running.address, timeout=10)  # type: ignore[misc]
            conn.request("GET", "/big?n=10", headers={"User-Agent": "probe"})
            response = conn.getresponse()
            response.read()
            conn.close()
        assert response.getheader("connection") == "close"  # the last one before the restart
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and running.worker_pids() in ([first], []):
            time.sleep(0.1)
        assert running.worker_pids() != [first]
    assert log.read_text().splitlines()[1:4] == ['GET /big 200 10 "probe"'] * 3


def test_the_fast_path_can_be_turned_off() -> None:
    with servers.gunicorn("trio_raw:app", *WORKER, env={"SAFEWORKERS_TRIO_FAST": "off"}) as off:
        assert off.get("/").json()["trio_task"].startswith("hypercorn.trio")
    bad_value = {"SAFEWORKERS_TRIO_FAST": "maybe"}
    with servers.gunicorn("trio_raw:app", *WORKER, env=bad_value, wait=False) as bad:
        assert bad.wait(timeout=30) != 0
        assert "SAFEWORKERS_TRIO_FAST='maybe' is not valid" in bad.log


def test_the_heap_is_frozen_once_the_app_has_started(server: Server) -> None:
    assert int(server.get("/gc").text) > 10_000  # the modules of gunicorn, trio, hypercorn...
    env = {"SAFEWORKERS_TRIO_GC_FREEZE": "0"}
    with servers.gunicorn(APP, *WORKER, env=env) as unfrozen:
        assert unfrozen.get("/gc").text == "0"


def test_a_long_stream_lets_other_tasks_run(server: Server) -> None:
    """A response streamed in many small parts, each written at once (the socket never
    fills here), still lets the worker's other tasks run meanwhile: the other
    connections and the heartbeat, which gunicorn's timeout watches."""
    ((status, _, body),) = responses(exchange(server, get("/stream-ticks?n=20000")))
    assert status == 200
    parts, _, ticks = body.rpartition(b"|")
    assert parts == b"x" * 20000
    assert int(ticks) > 0


def test_an_answer_to_a_refused_body_is_the_refusal(server: Server) -> None:
    """The app answers after its http.disconnect; the client still gets the 400."""
    bad = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    )
    ((status, _, body),) = responses(exchange(server, bad))
    assert status == 400, body


def test_responses_h11_would_refuse_become_500(server: Server) -> None:
    for path in ("/status?code=1000", "/status?code=42"):
        ((status, _, _),) = responses(exchange(server, get(path)))
        assert status == 500, path
    if server.path == "fast":  # type: ignore[attr-defined]
        # h11 lets a control character through in a value; the fast path does not.
        ((status, _, _),) = responses(exchange(server, get("/bad-header")))
        assert status == 500
