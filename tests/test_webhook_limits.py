"""The bounds of webhook delivery: a deadline per attempt, a capped read of the answer, no
redirects, a sender per subscriber, and caps on subscriptions."""

import threading
import time

import pytest

from simulator import Backend, create_app, parse_scenario
from simulator.webhooks import SUBSCRIPTIONS_IN_ALL, SUBSCRIPTIONS_PER_COMPANY
from tests.helpers import TENANT, Api, Endpoint, order_body
from tests.test_ota import WEBHOOK, Receiver, run, subscribe

OTHER = f"/{TENANT}/production/Other%2520Company"


def simulator(timeout_seconds, retry_seconds="[0.05]"):
    scenario = (
        f"[ota]\nall_partners = true\ncadence_seconds = 0\n"
        f"[webhooks]\nretry_seconds = {retry_seconds}\ntimeout_seconds = {timeout_seconds}\n"
    )
    backend = Backend(scenarios=[parse_scenario(scenario, "limits.toml")])
    client = create_app(backend).test_client()
    return backend, client, Api(client)


def deliveries(client):
    return [
        (e["response"]["status"], e["outcome"])
        for e in client.get("/_sim/journal?operation=webhook_delivery").get_json()
    ]


def attempts(closing, answer, timeout_seconds):
    """Settle one OTA order with a subscriber whose endpoint answers with `answer`, wait for its
    deliveries to end, and give their attempts (status, outcome)."""
    backend, client, api = simulator(timeout_seconds=timeout_seconds)
    closing(backend)
    receiver = Endpoint(answer)
    closing(receiver)
    subscribe(client, receiver.url)
    api.created(order_body())
    run(client)
    assert client.post("/_sim/webhooks/flush", json={"timeout": 20}).get_json() == {"flushed": True}
    return deliveries(client)


class Hanging(Endpoint):
    """Takes each delivery and never answers, until closed (then it hangs up)."""

    def __init__(self):
        self.taken = threading.Event()
        self.connections = 0
        self.released = threading.Event()
        super().__init__(self._hang)

    def _hang(self, handler, body):
        self.connections += 1
        self.taken.set()
        self.released.wait(30)
        handler.close_connection = True

    def close(self):
        self.released.set()
        super().close()


def arrived(receiver, within=5.0):
    """Wait (a liveness bound, not a speed assertion) until `receiver` has a delivery."""
    deadline = time.monotonic() + within
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.01)
    return bool(receiver.received)


@pytest.fixture
def closing():
    """Close whatever the test registers, last first, also when it fails."""
    things = []
    yield things.append
    for thing in reversed(things):
        thing.close()


def test_a_receiver_that_trickles_its_answer_is_given_up_at_the_deadline(closing):
    def trickle(handler, body):
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                handler.wfile.write(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass  # the simulator hung up

    assert attempts(closing, trickle, timeout_seconds=0.5) == [
        (None, "failed (timeout); retrying"),
        (None, "failed (timeout); gave up"),
    ]


def test_a_huge_answer_is_not_read(closing):
    sent, done, size = [0], threading.Event(), 128 * 1024 * 1024

    def stream(handler, body):
        chunk = bytes(1024 * 1024)
        try:
            handler.send_response(200)
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            while sent[0] < size:
                handler.wfile.write(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # the simulator hung up after the answer's head
        finally:
            done.set()

    assert attempts(closing, stream, timeout_seconds=5) == [(200, "delivered")]
    assert done.wait(10)
    assert sent[0] < 32 * 1024 * 1024  # what the kernel buffers took, not the 128 MiB body


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(closing):
    followed = []

    def record(handler, body):
        followed.append(handler.command)
        handler.send_response(200)
        handler.end_headers()

    target = Endpoint(record)
    closing(target)

    def redirect(handler, body):
        handler.send_response(302)
        handler.send_header("Location", target.url)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    assert attempts(closing, redirect, timeout_seconds=2) == [
        (302, "failed (status 302: redirects are not followed); retrying"),
        (302, "failed (status 302: redirects are not followed); gave up"),
    ]
    assert followed == []


def test_a_2xx_answer_is_delivered(closing):
    def accepted(handler, body):
        handler.send_response(202)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        handler.wfile.write(b"ok")

    assert attempts(closing, accepted, timeout_seconds=2) == [(202, "delivered")]


def test_a_hanging_receiver_does_not_hold_up_another_company(closing):
    backend, client, api = simulator(timeout_seconds=10)
    closing(backend)
    hanging, receiver = Hanging(), Receiver()
    closing(hanging)
    closing(receiver)
    subscribe(client, hanging.url)
    response = client.post(
        f"{OTHER}/webhook",
        json={"notificationUrl": receiver.url, "eventName": "ota_cm_order_processed"},
        headers={"x-np-api-key": "k"},
    )
    assert response.status_code == 201
    api.created(order_body())
    run(client)
    assert hanging.taken.wait(5)
    Api(client, base=f"{OTHER}/channelManager").created(order_body())
    run(client)
    assert arrived(receiver)


def test_a_hanging_receiver_does_not_hold_up_another_subscriber_of_the_company(closing):
    backend, client, api = simulator(timeout_seconds=10)
    closing(backend)
    hanging, receiver = Hanging(), Receiver()
    closing(hanging)
    closing(receiver)
    subscribe(client, hanging.url)  # first: its delivery is the first one sent
    subscribe(client, receiver.url)
    api.created(order_body())
    run(client)
    assert arrived(receiver)
    assert hanging.taken.is_set()


def test_an_attempt_in_flight_when_its_subscription_ends_is_not_retried(closing):
    backend, client, api = simulator(timeout_seconds=10)
    closing(backend)
    hanging = Hanging()
    closing(hanging)
    subscription = subscribe(client, hanging.url)
    api.created(order_body())
    run(client)
    assert hanging.taken.wait(5)
    assert client.delete(f"{WEBHOOK}/{subscription['id']}", headers={"x-np-api-key": "k"}).status_code == 204
    hanging.released.set()  # the attempt in flight ends: no answer
    assert client.post("/_sim/webhooks/flush", json={"timeout": 20}).get_json() == {"flushed": True}
    assert hanging.connections == 1
    assert deliveries(client) == [(None, "failed (closed without an answer); subscription ended")]


def test_stop_ends_the_senders_while_a_receiver_hangs(closing):
    before = set(threading.enumerate())
    backend, client, api = simulator(timeout_seconds=1)
    hanging = Hanging()
    closing(hanging)
    subscribe(client, hanging.url)
    api.created(order_body())
    run(client)
    assert hanging.taken.wait(5)
    backend.close()
    assert [t.name for t in set(threading.enumerate()) - before if t.name.startswith("cm-sim-webhooks")] == []


def test_subscriptions_are_capped_per_company_and_in_all(closing):
    backend, client, _ = simulator(timeout_seconds=1)
    closing(backend)

    def subscribe_to(company):
        return client.post(
            f"/{TENANT}/production/{company}/webhook",
            headers={"x-np-api-key": "k"},
            json={"notificationUrl": "http://127.0.0.1:9/hook", "eventName": "ota_cm_order_processed"},
        )

    for _ in range(SUBSCRIPTIONS_PER_COMPANY):
        assert subscribe_to("Company0").status_code == 201
    refused = subscribe_to("Company0")
    assert refused.status_code == 400
    assert refused.get_json() == {
        "code": "generic_error",
        "message": (
            f"This company already has {SUBSCRIPTIONS_PER_COMPANY} webhook subscriptions, the most the simulator "
            "keeps per company; delete one first"
        ),
    }
    for index in range(1, SUBSCRIPTIONS_IN_ALL // SUBSCRIPTIONS_PER_COMPANY):
        for _ in range(SUBSCRIPTIONS_PER_COMPANY):
            assert subscribe_to(f"Company{index}").status_code == 201
    refused = subscribe_to("Another")
    assert refused.status_code == 400
    assert refused.get_json() == {
        "code": "generic_error",
        "message": (
            f"The simulator already keeps {SUBSCRIPTIONS_IN_ALL} webhook subscriptions across all companies, "
            "the most it keeps; delete one first"
        ),
    }
    first = client.get(f"/{TENANT}/production/Company3/webhook", headers={"x-np-api-key": "k"}).get_json()["value"][0]
    assert (
        client.delete(f"/{TENANT}/production/Company3/webhook/{first['id']}", headers={"x-np-api-key": "k"}).status_code
        == 204
    )
    assert subscribe_to("Another").status_code == 201
