"""Reliability: oversized bodies over real HTTP, slow and idle connections that must not block
other clients, and fuzzing of the endpoints the other suites leave out (every /_sim/ control
endpoint; replace, confirm, list and webhooks with arbitrary input): JSON below 500, always."""

import json
import logging
import socket
from contextlib import ExitStack, closing
from urllib.parse import quote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Backend, create_app
from tests.helpers import BASE, DEMO, HEADERS, TENANT, line, order_body, past_day
from tests.test_fuzz import Recorder, json_values, mutated_bodies

OVER_LIMIT = 33 * 1024 * 1024  # the simulator takes 32 MiB


# -- oversized bodies over HTTP --------------------------------------------------


def test_an_oversized_chunked_body_is_413_json(cm_sim):
    def chunks():
        block = b" " * (1024 * 1024)
        yield b"{"
        for _ in range(OVER_LIMIT // len(block)):
            yield block
        yield b"}"

    response = cm_sim.session.post(
        cm_sim.base_url, data=chunks(), timeout=60, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["code"] == "generic_error"
    assert cm_sim.session.get(f"{cm_sim.base_url}/orders/{DEMO}", timeout=30).json() == []


@pytest.mark.parametrize(
    "method, path", [("PUT", "/_sim/state"), ("POST", "/_sim/faults"), ("POST", "/_sim/scenarios")]
)
def test_an_oversized_body_to_the_control_api_is_413_json(cm_sim, method, path):
    response = cm_sim.session.request(
        method,
        cm_sim.url + path,
        data=b"{" + b" " * OVER_LIMIT + b"}",
        timeout=60,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert cm_sim.session.get(cm_sim.url + "/_sim/health", timeout=30).status_code == 200


# -- slow and idle connections ---------------------------------------------------


def raw_socket(cm_sim, stack: ExitStack) -> socket.socket:
    address = urlsplit(cm_sim.url)
    return stack.enter_context(closing(socket.create_connection((address.hostname, address.port), timeout=30)))


def creates_go_through(cm_sim, count: int = 5) -> None:
    for n in range(count):
        response = cm_sim.session.post(cm_sim.base_url, json=order_body(reference=f"THROUGH-{n}"), timeout=30)
        assert response.status_code == 201


def test_half_sent_requests_do_not_block_other_clients(cm_sim):
    """More stalled clients than the server has threads: some stop inside the headers, some
    inside the body. The server reads requests on its event loop, so none of them holds a thread."""
    path = urlsplit(cm_sim.base_url).path
    with ExitStack() as stack:
        for n in range(40):
            stalled = raw_socket(cm_sim, stack)
            if n % 2:
                stalled.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\nContent-Le".encode())
            else:
                stalled.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\n"
                    f'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"partnerId": '.encode()
                )
        creates_go_through(cm_sim)


def test_many_idle_keep_alive_connections_do_not_block_other_clients(cm_sim):
    with ExitStack() as stack:
        for _ in range(60):  # each keeps its connection open after one call
            idle = stack.enter_context(requests.Session())
            assert idle.get(cm_sim.url + "/_sim/health", timeout=30).status_code == 200
        creates_go_through(cm_sim)


def test_more_calls_than_threads_log_no_warning_per_call(cm_sim, caplog):
    """Calls that wait for an app thread are normal under load: a load test must not fill the
    console with the server's warnings about it."""
    from concurrent.futures import ThreadPoolExecutor

    def call(_):
        return requests.get(f"{cm_sim.base_url}/orders/{DEMO}", headers=HEADERS, timeout=30)

    with ThreadPoolExecutor(40) as pool, caplog.at_level(logging.DEBUG):
        answers = list(pool.map(call, range(200)))
    assert {answer.status_code for answer in answers} == {200}
    assert [record for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_a_client_that_goes_away_mid_request_changes_nothing(cm_sim):
    path = urlsplit(cm_sim.base_url).path
    body = order_body(reference="HALF-SENT")
    with ExitStack() as stack:
        gone = raw_socket(cm_sim, stack)
        gone.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nx-np-api-key: k\r\nContent-Type: application/json\r\n"
            f"Content-Length: 10000\r\n\r\n{json.dumps(body)[:100]}".encode()
        )
    listed = cm_sim.session.get(
        f"{cm_sim.base_url}/orders/{DEMO}", params={"sellToOrderReference": "HALF-SENT"}, timeout=30
    )
    assert listed.json() == []
    assert cm_sim.session.post(cm_sim.base_url, json=body, timeout=30).status_code == 201


# -- fuzzing, in process ---------------------------------------------------------

RECORDER = Recorder()
logging.getLogger("simulator").addHandler(RECORDER)
APP = create_app(Backend(seed=9))
CLIENT = APP.test_client()
HTML_PAGES = {"/_sim/", "/_sim/manifest"}
CONTROL_RULES = sorted(
    {
        (rule.rule, method)
        for rule in APP.url_map.iter_rules()
        if rule.rule.startswith("/_sim")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
)
KEYS = [
    "tenant",
    "environment",
    "company",
    "path",
    "now",
    "frozen",
    "seconds",
    "minutes",
    "hours",
    "days",
    "everything",
    "timeout",
    "orders",
    "clock",
    "id",
    "operation",
    "probability",
    "seed",
    "times",
    "nth",
    "respond",
    "transport",
    "lose_response",
    "hang_seconds",
    "latency_ms",
    "latency",
    "fail_issuance",
    "reject",
    "fail_confirm",
    "stick_in_processing",
    "reference",
    "item",
    "partner",
    "description",
    "since",
    "limit",
    "status",
    "orderId",
    "rule",
    "sellToOrderReference",
    "mid",
    "wallet",
    "name",
    "token",
]
texts = st.text(max_size=20)
keyed = st.dictionaries(st.sampled_from(KEYS) | texts, json_values, max_size=5)
bodies = st.one_of(
    st.none(),
    json_values.map(lambda value: ("json", value)),
    keyed.map(lambda value: ("json", value)),
    st.lists(keyed, max_size=3).map(lambda value: ("json", value)),
    st.binary(max_size=60).map(lambda value: ("raw", value)),
    texts.map(lambda value: ("raw", value.encode())),
)


def no_errors_logged():
    assert RECORDER.records == [], [record.getMessage() for record in RECORDER.records]


def send(method: str, path: str, body, query=None, headers=None):
    kwargs = {"query_string": query or {}, "headers": headers or {}}
    if body is not None:
        kind, value = body
        kwargs.update(json=value) if kind == "json" else kwargs.update(data=value, content_type="application/toml")
    return CLIENT.open(path, method=method, **kwargs)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=st.sampled_from(CONTROL_RULES),
    argument=st.text(min_size=1, max_size=12).map(lambda s: quote(s, safe="")),
    query=st.dictionaries(st.sampled_from(KEYS) | texts, texts, max_size=4),
    body=bodies,
)
def test_every_control_endpoint_answers_below_500(endpoint, argument, query, body):
    RECORDER.records.clear()  # only what this example caused
    rule, method = endpoint
    path = rule.replace("<rule_id>", argument).replace("<order_id>", argument)
    CLIENT.post("/_sim/reset")
    response = send(method, path, body, query)
    assert response.status_code < 500, (method, path, response.get_data(as_text=True))
    if rule not in HTML_PAGES or response.status_code >= 400:
        assert response.is_json, (method, path, response.get_data(as_text=True)[:200])
    no_errors_logged()


def stored(status: str) -> dict:
    """A fresh stored order in Draft or Error, as the API answers it."""
    reference = f"F-{len(CLIENT.get(f'{BASE}/orders/{DEMO}', headers=HEADERS).get_json())}"
    if status == "Draft":
        return CLIENT.post(BASE, json=order_body(reference=reference, paid=False), headers=HEADERS).get_json()
    CLIENT.post(BASE, json=order_body(reference=reference, items=[line(visit_date=past_day())]), headers=HEADERS)
    [summary] = CLIENT.get(
        f"{BASE}/orders/{DEMO}", query_string={"sellToOrderReference": reference}, headers=HEADERS
    ).get_json()
    return CLIENT.get(f"{BASE}/{summary['orderId']}", headers=HEADERS).get_json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.sampled_from(["Draft", "Error"]), body=mutated_bodies())
def test_replacing_a_stored_order_with_anything_never_fails_on_the_server_side(status, body):
    RECORDER.records.clear()  # only what this example caused
    order = stored(status)
    if isinstance(body, dict) and "sellToOrderReference" in body:
        body["sellToOrderReference"] = order["sellToOrderReference"]
    response = CLIENT.put(f"{BASE}/{order['orderId']}", json=body, headers=HEADERS)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    after = CLIENT.get(f"{BASE}/{order['orderId']}", headers=HEADERS).get_json()
    if response.status_code == 200:
        assert after == response.get_json()
    else:  # refused: unchanged, unless issuance failed: then in Error with the message
        message = response.get_json()["message"]
        assert after == order or (after["status"], after["statusMessage"]) == ("Error", message)
    no_errors_logged()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.none() | json_values.map(lambda v: ("json", v)) | st.binary(max_size=30).map(lambda v: ("raw", v)))
def test_confirming_a_draft_with_anything_never_fails_on_the_server_side(body):
    RECORDER.records.clear()  # only what this example caused
    order = stored("Draft")
    response = send("POST", f"{BASE}/{order['orderId']}/confirm", body, headers=HEADERS)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    after = CLIENT.get(f"{BASE}/{order['orderId']}", headers=HEADERS).get_json()
    assert after["status"] == ("Issued" if response.status_code == 200 else "Draft")
    no_errors_logged()


LIST_KEYS = [
    "status",
    "sellToOrderReference",
    "receivedAtFrom",
    "receivedAtTo",
    "pageSize",
    "pageKey",
    "sync",
    "lastRowVersion",
]


@settings(max_examples=150, deadline=None)
@given(
    query=st.dictionaries(st.sampled_from(LIST_KEYS) | texts, texts | st.datetimes().map(str), max_size=4),
    partner=st.sampled_from([DEMO, "not-a-guid", "{21E8C1D2-3F4A-4C5B-9E6D-7F8A9B0C1D2E}", ""]),
)
def test_listing_with_any_query_answers_json_below_500(query, partner):
    RECORDER.records.clear()  # only what this example caused
    response = CLIENT.get(f"{BASE}/orders/{quote(partner)}", query_string=query, headers=HEADERS)
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)
    assert response.is_json
    no_errors_logged()


@settings(max_examples=100, deadline=None)
@given(
    body=bodies,
    subscription=st.text(max_size=12).map(lambda s: quote(s, safe="")),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
)
def test_webhook_subscriptions_answer_json_below_500(body, subscription, method):
    RECORDER.records.clear()  # only what this example caused
    path = f"/{TENANT}/production/Webhooks/webhook" + (f"/{subscription}" if subscription else "")
    response = send(method, path, body, headers=HEADERS)
    assert 200 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.status_code == 204 or response.is_json
    no_errors_logged()


def test_cm_sim_serve_leaves_what_survives_a_full_collection_out_of_later_ones():
    """At 100,000 stored orders a full collection would stop every thread for a second."""
    import subprocess
    import sys

    script = (
        "import gc\n"
        "from simulator.server import freeze_survivors\n"
        "freeze_survivors()\n"
        "started = gc.get_freeze_count()\n"
        "orders = [[index] for index in range(5000)]\n"
        "gc.collect()\n"
        "print(gc.get_freeze_count() - started)\n"
    )
    frozen = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert int(frozen) >= 5000
