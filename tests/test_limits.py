"""Never lie, never lose, never starve: valid text on every partner input path, bounded memory
and work per call, capped hangs, and unexpected errors answered in our words. Timeouts are
liveness bounds, never speed assertions."""

import json
import logging
import socket
import threading
from contextlib import ExitStack, closing
from urllib.parse import urlsplit

import pytest
import requests

from simulator import Backend, create_app
from simulator.order_request import MAX_WALLETS_PER_ORDER
from simulator.request_journal import BODY_CAP, JournalEntry, RequestJournal
from simulator.server import ThreadedServer
from simulator.transport import HANGS_KEY
from tests.helpers import BASE, DEMO, HEADERS, Api, Served, assert_error, line, order_body, wait_for

LIVENESS = 5


@pytest.fixture
def client():
    backend = Backend()
    yield create_app(backend).test_client()
    backend.stop()


# -- valid text ------------------------------------------------------------------


def test_raw_surrogate_bytes_are_stored_as_the_replacement_character(client):
    body = json.dumps(order_body(reference="RAW")).replace("Jane Doe", "Jane \udcff").encode("utf-8", "surrogateescape")
    body = body.replace(b"Jane \xff", b"Jane \xed\xa0\x80")  # a raw surrogate, not the escaped \ud800
    created = client.post(BASE, data=body, headers={**HEADERS, "Content-Type": "application/json"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["sellToName"] == "Jane \ufffd"
    api = Api(client)
    assert api.list(DEMO).status_code == 200
    assert client.get("/_sim/state").status_code == 200
    [journaled] = client.get("/_sim/journal?operation=create").get_json()
    assert journaled["request"]["body"]["sellToName"] == "Jane \ufffd"
    assert api.delete(created.get_json()["orderId"]).status_code == 200


def test_raw_surrogate_bytes_in_a_query_are_replaced(client):
    response = client.get(f"{BASE}/orders/{DEMO}?sellToOrderReference=%ED%A0%80", headers=HEADERS)
    assert (response.status_code, response.get_json()) == (200, [])


# -- bounded memory and work -------------------------------------------------------


def test_the_request_journal_is_capped_in_entries_and_in_characters():
    journal = RequestJournal(capacity=3, max_bytes=10_000)
    for n in range(5):
        journal.record(entry(n, body=json.dumps("x")))
    assert [kept["id"] for kept in journal.query({})] == [3, 4, 5]
    for n in range(3):
        journal.record(entry(n, body=json.dumps("y" * 4000)))
    assert [kept["id"] for kept in journal.query({})] == [7, 8]  # 2 x 4 KB and overheads fit in 10 KB, 3 do not


def test_a_large_body_is_kept_truncated_with_a_marker(client):
    body = order_body(reference="BIG", sellToName="n" * (2 * BODY_CAP))
    client.post(BASE, json=body, headers=HEADERS)
    [kept] = client.get("/_sim/journal").get_json()
    marker = kept["request"]["body"]
    assert marker["truncated"] is True and marker["characters"] > 2 * BODY_CAP
    assert marker["head"].startswith("{") and len(marker["head"]) == 1024


def entry(n: int, body: str) -> JournalEntry:
    return JournalEntry(namespace=("t", "e", "c"), method="POST", operation="create", request_body=body, status=201)


def resident_mib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(row.split()[1]) // 1024 for row in status if row.startswith("VmRSS"))


def test_refused_large_bodies_do_not_stay_in_memory():
    served = Served()
    try:
        before = resident_mib(served.process.pid)
        body = json.dumps(order_body(reference="HUGE", items=[], sellToName="x" * (30 * 1024 * 1024)))
        for _ in range(10):  # 300 MB in all; each is refused (no items) and journaled
            response = requests.post(
                served.url + BASE, data=body, timeout=60, headers={**HEADERS, "Content-Type": "application/json"}
            )
            assert response.status_code == 400
        assert resident_mib(served.process.pid) - before < 300, "the bodies are held after their calls"
    finally:
        served.stop()


def test_an_order_holds_at_most_the_documented_number_of_wallets(client):
    half = MAX_WALLETS_PER_ORDER // 2 + 1
    response = Api(client).create(order_body(items=[line(quantity=half), line(quantity=half)]))
    assert_error(
        response,
        400,
        f"The simulator issues at most {MAX_WALLETS_PER_ORDER} wallets per order; this one "
        f"asks for {2 * half}. Split it into smaller orders.",
    )
    assert Api(client).list(DEMO).get_json() == []


# -- no starvation ---------------------------------------------------------------


def hang_request(server, stack: ExitStack) -> socket.socket:
    address = urlsplit(server.url)
    connection = stack.enter_context(
        closing(socket.create_connection((address.hostname, address.port), timeout=LIVENESS))
    )
    connection.sendall(
        f"GET {BASE}/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8 HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\n\r\n".encode()
    )
    return connection


def test_past_the_hang_limit_a_hang_is_closed_at_once_and_others_are_served():
    app = create_app(Backend(), max_hangs=3)
    with ThreadedServer(app) as server, ExitStack() as stack:
        requests.post(
            server.url + "/_sim/faults",
            json={"operation": "get", "transport": "hang", "hang_seconds": 300},
            timeout=LIVENESS,
        )
        held = [hang_request(server, stack) for _ in range(3)]
        assert wait_for(lambda: app.extensions[HANGS_KEY].held == 3)
        extra = hang_request(server, stack)
        assert extra.recv(1024) == b""  # closed with no reply, at once (the hangs run for 300 s)
        assert requests.get(server.url + "/_sim/health", timeout=LIVENESS).status_code == 200
        created = requests.post(server.url + BASE, json=order_body(), headers=HEADERS, timeout=LIVENESS)
        assert created.status_code == 201
        last = requests.get(server.url + "/_sim/journal", params={"operation": "get"}, timeout=LIVENESS).json()[-1]
        assert last["response"]["lost"] == "empty_reply"
        assert last["note"] == "the limit of hangs in progress was reached: closed at once with no reply instead"
        assert len(held) == app.extensions[HANGS_KEY].held


def test_lost_timeout_magic_values_do_not_starve_the_server():
    app = create_app(Backend())
    with ThreadedServer(app) as server, ExitStack() as stack:
        address = urlsplit(server.url)
        for n in range(16):  # as many as the app has threads, each hanging for 30 s once committed
            body = json.dumps(order_body(reference=f"SIM-LOST-TIMEOUT-{n}")).encode()
            connection = stack.enter_context(closing(socket.create_connection((address.hostname, address.port))))
            connection.sendall(
                f"POST {BASE} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        assert wait_for(lambda: app.extensions[HANGS_KEY].held == 16)
        assert requests.get(server.url + "/_sim/health", timeout=LIVENESS).status_code == 200
        created = requests.post(server.url + BASE, json=order_body(), headers=HEADERS, timeout=LIVENESS)
        assert created.status_code == 201


# -- unexpected errors -----------------------------------------------------------


def test_an_unexpected_error_answers_in_our_words_and_logs_the_traceback(client, caplog, monkeypatch):
    backend = client.application.extensions["simulator"]

    def broken(*args):
        raise RuntimeError("internal detail")

    monkeypatch.setattr(backend.channel_manager, "get_order", broken)
    with caplog.at_level(logging.ERROR, logger="simulator"):
        response = client.get(f"{BASE}/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8", headers=HEADERS)
    assert_error(response, 400, "The simulator failed unexpectedly while answering this call; its log has the details.")
    assert any(record.exc_info and "internal detail" in str(record.exc_info[1]) for record in caplog.records)


def test_a_failure_after_the_commit_takes_the_change_back(tmp_path, monkeypatch):
    data = tmp_path / "state.json"
    backend = Backend(data_file=data)
    client = create_app(backend).test_client()
    before = client.get("/_sim/state").get_json()

    def broken(*args):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(backend.rendered, "order_bytes", broken)
    response = Api(client).create(order_body(reference="TAKEN-BACK", items=[line(item="31010", quantity=2)]))
    assert_error(response, 400, "The simulator failed unexpectedly while answering this call; its log has the details.")
    assert client.get("/_sim/state").get_json() == before  # no order, no capacity used
    backend.close()
    assert Backend(data_file=data).export_state()["orders"] == []  # taken back durably too


def test_a_threaded_server_serves_while_a_body_is_being_refused():
    """The thread that refused a body holds nothing of it (each app thread keeps no request)."""
    with ThreadedServer(create_app(Backend())) as server:
        body = b"{" + b" " * (8 * 1024 * 1024) + b"}"
        answers = []
        callers = [
            threading.Thread(
                target=lambda: answers.append(
                    requests.post(
                        server.url + BASE,
                        data=body,
                        headers={**HEADERS, "Content-Type": "application/json"},
                        timeout=30,
                    )
                )
            )
            for _ in range(4)
        ]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert {answer.status_code for answer in answers} == {400}


def test_a_number_beyond_64_bits_in_a_body_is_journaled_and_served_as_sent(client):
    huge = 10**30
    body = f'{{"partnerId": "x", "n": {huge}, "big": 1e400, "small": -1e400}}'
    response = client.post(BASE, data=body, headers={**HEADERS, "Content-Type": "application/json"})
    assert_error(response, 400, "partnerId is not a valid GUID")
    journal = client.get("/_sim/journal")
    assert journal.status_code == 200
    served = journal.get_data(as_text=True)
    [entry] = json.loads(served)  # strict JSON: no Infinity
    assert entry["request"]["body"] == {"partnerId": "x", "n": huge, "big": None, "small": None}
    assert f'"n":{huge}' in served
