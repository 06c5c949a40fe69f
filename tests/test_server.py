"""The HTTP server (granian under a bridge to the Flask app): what it must hold whatever
clients do. Timeouts here are liveness bounds, never speed assertions."""

import json
import resource
import signal
import socket
import time
from contextlib import ExitStack, closing
from urllib.parse import urlsplit

import pytest
import requests

from simulator import Backend, create_app
from simulator.server import MAX_BODY_BYTES, ThreadedServer
from simulator.transport import HANGS_KEY
from tests.helpers import BASE, DEMO, HEADERS, Served, line, order_body, wait_for

LIVENESS = 5  # seconds a client waits before it counts the server as unresponsive


@pytest.fixture
def server():
    with ThreadedServer(create_app(Backend())) as running:
        yield running


def connect(server, stack: ExitStack) -> socket.socket:
    address = urlsplit(server.url)
    return stack.enter_context(closing(socket.create_connection((address.hostname, address.port), timeout=30)))


def answers(server) -> None:
    """A new client is served: the health check and a create."""
    assert requests.get(server.url + "/_sim/health", timeout=LIVENESS).status_code == 200
    reference = f"LIVE-{time.monotonic_ns()}"
    created = requests.post(server.url + BASE, json=order_body(reference=reference), headers=HEADERS, timeout=LIVENESS)
    assert created.status_code == 201


def read_all(connection: socket.socket) -> bytes:
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


@pytest.fixture
def descriptors():
    """Room for thousands of sockets at both ends (the server runs in this process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 6000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_connections_and_kept_alive_sessions_do_not_lock_out_a_new_client(server, descriptors):
    with ExitStack() as stack:
        for _ in range(1200):  # connected, never a byte sent
            connect(server, stack)
        for _ in range(1200):  # one call each, then kept alive and idle
            kept = connect(server, stack)
            kept.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        answers(server)


def test_stalled_uploads_hold_no_thread_and_are_given_up_after_the_body_deadline():
    with ThreadedServer(create_app(Backend()), body_seconds=2) as server, ExitStack() as stack:
        stalled = []
        for _ in range(300):  # far more than the app threads, each stopped inside its body
            connection = connect(server, stack)
            connection.sendall(
                f"POST {BASE} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\nContent-Type: application/json"
                f'\r\nContent-Length: 1000\r\n\r\n{{"partnerId": '.encode()
            )
            stalled.append(connection)
        answers(server)
        answer = read_all(stalled[0])  # the deadline passes: 408, and the connection is closed
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408")
        assert json.loads(body) == {
            "code": "request_timeout",
            "message": "The request body did not arrive within 2 seconds.",
        }
        listed = requests.get(f"{server.url}{BASE}/orders/{DEMO}", headers=HEADERS, timeout=LIVENESS).json()
        assert [order["sellToOrderReference"] for order in listed if order["sellToOrderReference"].startswith("LIVE")]


def hangs_held(server) -> int:
    return server.app.extensions[HANGS_KEY].held


def test_a_hang_ends_when_its_client_leaves(server):
    requests.post(
        server.url + "/_sim/faults",
        json={"operation": "get", "transport": "hang", "hang_seconds": 300},
        timeout=LIVENESS,
    )
    for _ in range(3):
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{server.url}{BASE}/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8", headers=HEADERS, timeout=0.5)
    assert wait_for(lambda: hangs_held(server) == 0)  # not after 300 s: the clients have gone


def test_a_stop_ends_the_hangs_in_progress():
    server = ThreadedServer(create_app(Backend())).start()
    requests.post(
        server.url + "/_sim/faults",
        json={"operation": "get", "transport": "hang", "hang_seconds": 300},
        timeout=LIVENESS,
    )
    with ExitStack() as stack:
        hanging = connect(server, stack)
        hanging.sendall(
            f"GET {BASE}/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8 HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\n\r\n".encode()
        )
        assert wait_for(lambda: hangs_held(server) == 1)
        server.stop()
        assert read_all(hanging) == b""  # closed with no reply


def test_a_stop_gives_up_bodies_still_on_their_way():
    server = ThreadedServer(create_app(Backend())).start()
    with ExitStack() as stack:
        stalled = connect(server, stack)
        stalled.sendall(f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode())
        answers(server)  # the stalled request has reached the server
        server.stop()  # returns within its join timeout (10 s), well before the body deadline (30 s)
        assert not server._thread.is_alive()
        head = read_all(stalled).split(b"\r\n")[0]
        assert head in (b"", b"HTTP/1.1 503 Service Unavailable")


def test_a_stop_lets_the_calls_in_progress_answer():
    import threading

    from flask import Flask

    app = Flask("slow")
    entered = threading.Event()

    @app.get("/slow")
    def slow():
        entered.set()
        time.sleep(1)
        return {"done": True}

    app.extensions["simulator"] = Backend()
    server = ThreadedServer(app).start()
    answered = {}
    caller = threading.Thread(target=lambda: answered.update(slow=requests.get(server.url + "/slow", timeout=30)))
    caller.start()
    assert entered.wait(LIVENESS)
    server.stop()
    caller.join()
    assert (answered["slow"].status_code, answered["slow"].json()) == (200, {"done": True})


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_body_is_413_json_and_changes_nothing(server, declared):
    def chunks():
        block = b" " * (1024 * 1024)
        yield b"{"
        for _ in range(MAX_BODY_BYTES // len(block) + 1):
            yield block
        yield b"}"

    body = b"".join(chunks()) if declared else chunks()
    response = requests.post(
        server.url + BASE, data=body, headers={**HEADERS, "Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "generic_error",
        "message": "The request body is larger than the simulator takes (32 MiB).",
    }
    answers(server)


MALFORMED = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "no version": b"GET /_sim/health\r\n\r\n",
    "bad content-length": f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{{}}".encode(),
    "negative content-length": f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{{}}".encode(),
    "two content-lengths": (
        f"POST {BASE} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}".encode()
    ),
    "bad chunk size": (
        f"POST {BASE} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n".encode()
    ),
    "chunked and content-length": (
        f"POST {BASE} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\nTransfer-Encoding: chunked\r\n"
        f"Content-Length: 4\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n"
    ).encode(),
    "header without colon": b"GET /_sim/health HTTP/1.1\r\nHost x\r\n\r\n",
    "control bytes in a header": b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nX-A: \x01\x02\r\n\r\n",
    "huge header": b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
    "invalid UTF-8 in the path": b"GET /%ff%fe/production/x/channelManager HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_http_gets_no_5xx(server, raw):
    with ExitStack() as stack:
        connection = connect(server, stack)
        try:
            connection.sendall(raw)
            connection.shutdown(socket.SHUT_WR)
            answer = read_all(connection)
        except ConnectionResetError:
            answer = b""
    statuses = [int(part.split(b" ")[1]) for part in answer.split(b"\r\n") if part.startswith(b"HTTP/1.1 ")]
    assert all(status < 500 for status in statuses), answer[:300]
    answers(server)


@pytest.mark.parametrize(
    "kind, seen",
    [
        ("reset", requests.exceptions.ConnectionError),
        ("empty_reply", requests.exceptions.ConnectionError),
        ("truncated", requests.exceptions.ChunkedEncodingError),
        ("hang", requests.exceptions.ReadTimeout),
    ],
)
def test_what_a_requests_client_sees_for_each_transport_fault(server, kind, seen):
    requests.post(
        server.url + "/_sim/faults",
        json={"operation": "get", "transport": kind, "hang_seconds": 3, "times": 1},
        timeout=LIVENESS,
    )
    order = requests.post(server.url + BASE, json=order_body(), headers=HEADERS, timeout=LIVENESS).json()
    with pytest.raises(seen) as raised:
        requests.get(f"{server.url}{BASE}/{order['orderId']}", headers=HEADERS, timeout=1)
    if kind == "reset":
        assert "reset by peer" in str(raised.value)
    if kind == "empty_reply":
        assert "RemoteDisconnected" in str(raised.value)
    assert requests.get(f"{server.url}{BASE}/{order['orderId']}", headers=HEADERS, timeout=LIVENESS).status_code == 200


def test_port_0_prints_the_port_it_bound():
    served = Served()
    try:
        port = urlsplit(served.url).port
        assert port and port != 0
        assert requests.get(f"http://127.0.0.1:{port}/_sim/health", timeout=LIVENESS).json() == {"status": "ok"}
    finally:
        served.stop()


def same_order(stored: dict, acknowledged: dict, before: Served, after: Served) -> bool:
    """The same order, read from a server on another port (manifest and asset URLs name it)."""
    return json.dumps(stored) == json.dumps(acknowledged).replace(before.url, after.url)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_gracefully_and_keeps_every_acknowledged_order(tmp_path, signum):
    data = tmp_path / "state.json"
    served = Served("--data", str(data), quiet=False)
    created = served.call("POST", json=order_body(reference="KEPT"))
    assert created.status_code == 201
    for kind in ("reset", "empty_reply", "truncated", "hang"):  # faults print no traceback
        requests.post(
            served.url + "/_sim/faults",
            json={"operation": "get", "transport": kind, "hang_seconds": 1, "times": 1},
            timeout=LIVENESS,
        )
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{served.url}{BASE}/{created.json()['orderId']}", headers=HEADERS, timeout=0.5)
    printed = served.stop(signum)
    assert "Traceback" not in printed + served.errors
    again = Served("--data", str(data))
    try:
        assert same_order(again.call("GET", f"/{created.json()['orderId']}").json(), created.json(), served, again)
    finally:
        again.stop()


def test_kill_9_loses_no_acknowledged_order(tmp_path):
    data = tmp_path / "state.json"
    served = Served("--data", str(data))
    created = [served.call("POST", json=order_body(reference=f"K-{n}", items=[line()])) for n in range(5)]
    assert {answer.status_code for answer in created} == {201}
    served.process.kill()
    served.process.communicate(timeout=LIVENESS)
    again = Served("--data", str(data))
    try:
        for answer in created:
            assert same_order(again.call("GET", f"/{answer.json()['orderId']}").json(), answer.json(), served, again)
    finally:
        again.stop()
