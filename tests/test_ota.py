"""OTA mode: asynchronous issuance, the worker, and the order-processed webhook."""

import hashlib
import hmac
import json
import re

import pytest

from simulator import Backend, create_app, parse_scenario
from tests.helpers import (
    BASE,
    DEMO,
    MONDAY,
    PLAIN,
    TENANT,
    TUESDAY,
    Api,
    Endpoint,
    assert_error,
    line,
    order_body,
    past_day,
)

OTA = """
[ota]
all_partners = true
cadence_seconds = 0
[webhooks]
retry_seconds = [0.05, 0.05, 0.05]
signing_secret = "s3cret"
"""
WEBHOOK = f"/{TENANT}/production/CRONUS%2520International%2520Ltd./webhook"
NULL = "00000000-0000-0000-0000-000000000000"


def simulator(extra=""):
    backend = Backend(scenarios=[parse_scenario(OTA + extra, "ota.toml")])
    client = create_app(backend).test_client()
    return backend, client, Api(client)


@pytest.fixture
def ota():
    backend, client, api = simulator()
    yield backend, client, api
    backend.close()


class Receiver(Endpoint):
    """Records webhook deliveries; it can fail the first ones."""

    def __init__(self, failures=0):
        self.received, self.failures = [], failures
        super().__init__(self._answer)

    def _answer(self, handler, body: bytes) -> None:
        if self.failures:
            self.failures -= 1
            handler.send_response(500)
        else:
            self.received.append((dict(handler.headers), json.loads(body), body))
            handler.send_response(200)
        handler.end_headers()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


def subscribe(client, url, client_state="state-1"):
    response = client.post(
        WEBHOOK,
        json={"notificationUrl": url, "eventName": "ota_cm_order_processed", "clientState": client_state},
        headers={"x-np-api-key": "k"},
    )
    assert response.status_code == 201
    return response.get_json()


def run(client, everything=False):
    return client.post("/_sim/ota/run", json={"everything": everything}).get_json()


def test_create_answers_submitted_with_wallet_shells(ota):
    _, _, api = ota
    body = order_body(items=[line(quantity=2, wallet={"externalReferenceNumbers": ["E1", "E2"]})])
    response = api.create(body)
    assert response.status_code == 201
    order = response.get_json()
    assert list(order)[:6] == [
        "orderId",
        "status",
        "statusMessage",
        "partnerId",
        "sellToOrderReference",
        "buyFromOrderReference",
    ]
    assert (order["status"], order["statusMessage"], order["jobId"]) == ("Submitted", "", "")
    assert re.match(r"^CM-\d{12}-[0-9A-F]{4}$", order["buyFromOrderReference"])
    assert "manifestUrl" not in order
    assert order["items"][0]["wallets"] == [
        {
            "seqNo": seq,
            "walletId": NULL,
            "walletReferenceNumber": "",
            "externalReferenceNumber": ref,
            "name": "",
            "issuedAt": "",
            "unitPriceExclVat": 0,
            "unitPriceInclVat": 0,
            "currencyCode": "",
            "assets": [],
        }
        for seq, ref in ((1, "E1"), (2, "E2"))
    ]
    [summary] = api.list(DEMO).get_json()
    assert list(summary)[:4] == ["orderId", "partnerId", "sellToOrderReference", "buyFromOrderReference"]
    assert summary["status"] == "Submitted"


def test_the_worker_issues_and_keeps_the_references(ota):
    _, client, api = ota
    order = api.created(order_body(items=[line(quantity=2, wallet={"externalReferenceNumbers": ["E1", "E2"]})]))
    assert run(client) == [{"orderId": order["orderId"], "status": "Issued"}]
    issued = api.get(order["orderId"]).get_json()
    assert issued["status"] == "Issued"
    assert issued["buyFromOrderReference"] == order["buyFromOrderReference"]
    assert [w["externalReferenceNumber"] for w in issued["items"][0]["wallets"]] == ["E1", "E2"]
    assert all(w["walletReferenceNumber"] and w["assets"] for w in issued["items"][0]["wallets"])
    assert issued["manifestUrl"] and issued["jobId"]


def test_stepping_by_hand_shows_every_state(ota):
    _, client, api = ota
    order = api.created(order_body(paid=False))
    seen = [client.post("/_sim/ota/step").get_json()[0]["status"] for _ in range(3)]
    assert seen == ["Scheduled", "Processing", "Draft"]
    assert client.post("/_sim/ota/step").get_json() == []
    assert api.get(order["orderId"]).get_json()["status"] == "Draft"


def test_mid_flight_answers(ota):
    _, client, api = ota
    order = api.created(order_body())
    for status, caption in (("Submitted", "Submitted"), ("Scheduled", "Scheduled"), ("Processing", "Processing...")):
        assert api.get(order["orderId"]).get_json()["status"] == status
        assert_error(
            api.delete(order["orderId"]), 400, f"Order is mid-flight (status {caption}); retry once it has settled."
        )
        assert_error(api.confirm(order["orderId"]), 400, f"Order cannot be confirmed in status {caption}")
        assert_error(api.replace(order["orderId"], order_body()), 400, f"Order cannot be replaced in status {caption}")
        client.post("/_sim/ota/step")
    assert api.delete(order["orderId"]).get_json()["status"] == "Cancelled"


def test_sync_processes_inside_the_call(ota, receiver):
    _, client, api = ota
    subscribe(client, receiver.url)
    response = client.post(BASE + "?sync=1", json=order_body(), headers={"x-np-api-key": "k"})
    assert (response.status_code, response.get_json()["status"]) == (201, "Issued")
    assert response.get_json()["buyFromOrderReference"].startswith("CM-")
    failed = client.post(
        BASE + "?sync=true",
        json=order_body(reference="PAST-SYNC", items=[line(item="31010", visit_date=MONDAY)]),
        headers={"x-np-api-key": "k"},
    )
    assert failed.get_json()["message"].startswith("Admission Code TOUR has no available time slots")
    assert client.post("/_sim/webhooks/flush").get_json() == {"flushed": True}
    assert receiver.received == []  # no event for synchronous processing


def test_past_dates_are_refused_at_request_time(ota):
    _, _, api = ota
    day = past_day()
    today = __import__("datetime").date.today().isoformat()
    assert_error(
        api.create(order_body(items=[line(), line(visit_date=day)])),
        400,
        f"items[1] visitDate must not be in the past (received {day}, local today {today})",
    )
    schedule = {"componentSchedule": [{"itemNumber": "31010", "visitDate": day, "visitTime": "10:00:00"}]}
    assert_error(
        api.create(order_body(items=[line(item="32001", wallet=schedule)])),
        400,
        f"items[0].componentSchedule entry '31010' visitDate must not be in the past "
        f"(received {day}, local today {today})",
    )
    assert api.list(DEMO).get_json() == []


def test_payment_reference_keeps_50_characters(ota):
    _, _, api = ota
    order = api.created(order_body(paymentReference="p" * 60))
    assert order["paymentReference"] == "P" * 50


def test_issuance_failure_is_settled_in_error_and_replace_submits_again(ota, receiver):
    _, client, api = ota
    subscribe(client, receiver.url)
    order = api.created(order_body(items=[line(item="31010", visit_date=MONDAY)]))  # a Monday
    run(client)
    failed = api.get(order["orderId"]).get_json()
    assert failed["status"] == "Error"
    assert (
        failed["statusMessage"] == f"Admission Code TOUR has no available time slots for expected visit date {MONDAY}."
    )
    replaced = api.replace(order["orderId"], order_body(items=[line(item="31010", visit_date=TUESDAY)])).get_json()
    assert (replaced["status"], replaced["buyFromOrderReference"]) == ("Submitted", order["buyFromOrderReference"])
    run(client)
    assert api.get(order["orderId"]).get_json()["status"] == "Issued"
    client.post("/_sim/webhooks/flush")
    assert [r[1]["value"][0]["payload"]["status"] for r in receiver.received] == ["Error", "Issued"]


def test_fault_rules_apply_when_the_worker_issues(ota):
    _, client, api = ota
    client.post("/_sim/faults", json={"operation": "create", "times": 1, "fail_issuance": "Boom at {admission}"})
    order = api.created(order_body())
    assert order["status"] == "Submitted"
    run(client)
    assert api.get(order["orderId"]).get_json()["statusMessage"] == "Boom at CASTLE"


def test_the_sweeps(ota):
    backend, client, api = ota
    client.put("/_sim/clock", json={"now": "2031-01-01T09:00:00Z", "frozen": True})
    client.post("/_sim/faults", json={"operation": "create", "times": 1, "stick_in_processing": True})
    stuck = api.created(order_body(reference="STUCK", items=[line(visit_date="2031-06-03")]))
    run(client)
    assert api.get(stuck["orderId"]).get_json()["status"] == "Processing"
    client.post("/_sim/clock/advance", json={"minutes": 61})
    run(client)
    swept = api.get(stuck["orderId"]).get_json()
    assert (swept["status"], swept["statusMessage"]) == (
        "Error",
        "Order was stuck in Processing for over 1 hour and "
        "was automatically marked as Error. Inspect and either re-Process or Delete.",
    )
    waiting = api.created(order_body(reference="WAITING", items=[line(visit_date="2031-06-03")]))
    client.post("/_sim/ota/step")
    assert api.get(waiting["orderId"]).get_json()["status"] == "Scheduled"
    client.post("/_sim/clock/advance", json={"minutes": 6})
    from simulator.ota import PROCESSING_TOO_LONG, SCHEDULED_TOO_LONG

    backend.channel_manager.sweep(SCHEDULED_TOO_LONG, PROCESSING_TOO_LONG)  # a worker that stalled after scheduling
    assert api.get(waiting["orderId"]).get_json()["status"] == "Submitted"


def test_the_cadence_follows_the_virtual_clock():
    backend, client, api = simulator("")
    backend.worker.start(0)
    backend.worker.cadence = __import__("datetime").timedelta(seconds=60)
    client.put("/_sim/clock", json={"now": "2031-01-01T09:00:00Z", "frozen": True})
    order = api.created(order_body(items=[line(visit_date="2031-06-03")]))
    assert run(client) == []  # not due yet: it waits a minute of simulated time
    client.post("/_sim/clock/advance", json={"seconds": 61})
    assert run(client) == [{"orderId": order["orderId"], "status": "Issued"}]
    backend.close()


def test_only_ota_partners_are_asynchronous_unless_all_are():
    partner = """
[[catalog.partners]]
id = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
name = "Plain Channel"
ota = true
[ota]
cadence_seconds = 0
"""
    backend = Backend(scenarios=[parse_scenario(partner, "p.toml")])
    api = Api(create_app(backend).test_client())
    assert api.created(order_body(partner=PLAIN))["status"] == "Submitted"
    sync = api.created(order_body(reference="SYNC"))
    assert sync["status"] == "Issued" and "buyFromOrderReference" not in sync
    backend.close()


# -- webhooks ----------------------------------------------------------------


def test_subscriptions(ota, receiver):
    _, client, _ = ota
    created = subscribe(client, receiver.url)
    assert created["eventName"] == "ota_cm_order_processed" and created["eventVersion"] == "1.0"
    assert created["clientState"] == "state-1" and created["@odata.etag"]
    assert created["@odata.context"].endswith("/CRONUS%20International%20Ltd./$metadata#webhook/$entity")
    assert client.get(WEBHOOK + "s", headers={"x-np-api-key": "k"}).get_json()["value"][0]["id"] == created["id"]
    listed = client.get(WEBHOOK, headers={"Authorization": "Bearer k"}).get_json()
    entity = {key: value for key, value in created.items() if key != "@odata.context"}
    assert listed["value"] == [entity] and listed["@odata.context"].endswith("$metadata#webhook")
    assert client.get(f"{WEBHOOK}/{created['id']}", headers={"x-np-api-key": "k"}).get_json() == created
    assert client.delete(f"{WEBHOOK}/{created['id']}", headers={"x-np-api-key": "k"}).status_code == 204
    assert client.get(f"{WEBHOOK}/{created['id']}", headers={"x-np-api-key": "k"}).status_code == 404
    bad = client.post(
        WEBHOOK,
        json={"notificationUrl": receiver.url, "eventName": "x", "clientState": "s" * 51},
        headers={"x-np-api-key": "k"},
    )
    assert bad.status_code == 400
    bad_app = client.post(
        WEBHOOK,
        json={"notificationUrl": receiver.url, "eventName": "x", "appId": {"a": 1}},
        headers={"x-np-api-key": "k"},
    )
    assert bad_app.get_json()["message"] == "appId must be a GUID"


def test_delivery_in_the_documented_envelope_with_a_signature(ota, receiver):
    _, client, api = ota
    subscribe(client, receiver.url, client_state="shared-secret")
    order = api.created(order_body())
    run(client)
    assert client.post("/_sim/webhooks/flush").get_json() == {"flushed": True}
    [(headers, envelope, raw)] = receiver.received
    [event] = envelope["value"]
    assert event["eventName"] == "ota_cm_order_processed" and event["eventVersion"] == "1.0"
    assert event["clientState"] == "shared-secret"
    assert event["companyName"] == "CRONUS International Ltd."
    assert event["payload"] == {
        "orderId": order["orderId"],
        "buyFromOrderReference": order["buyFromOrderReference"],
        "status": "Issued",
    }
    expected = hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert headers["x-sim-signature"] == f"sha256={expected}"
    [entry] = client.get("/_sim/journal?operation=webhook_delivery").get_json()
    assert (entry["outcome"], entry["response"]["status"], entry["orderId"]) == ("delivered", 200, order["orderId"])


def test_failed_deliveries_are_retried(ota):
    _, client, api = ota
    failing = Receiver(failures=2)
    try:
        subscribe(client, failing.url)
        api.created(order_body())
        run(client)
        client.post("/_sim/webhooks/flush")
        assert len(failing.received) == 1
        outcomes = [e["outcome"] for e in client.get("/_sim/journal?operation=webhook_delivery").get_json()]
        assert outcomes == ["failed (status 500); retrying"] * 2 + ["delivered"]
    finally:
        failing.close()


@pytest.mark.parametrize(
    "setting, check",
    [
        ("drop = 1", lambda received, outcomes: received == [] and outcomes == ["dropped", "dropped"]),
        ("duplicate = 1", lambda received, outcomes: len(received) == 4 and outcomes.count("duplicate") == 2),
        ("delay_ms = 50", lambda received, outcomes: len(received) == 2 and outcomes == ["delivered"] * 2),
        (
            "out_of_order = true",
            lambda received, outcomes: (
                [r[1]["value"][0]["payload"]["buyFromOrderReference"] for r in received] == "reversed"
            ),
        ),
    ],
)
def test_delivery_faults(receiver, setting, check):
    backend, client, api = simulator(setting + "\n")
    try:
        subscribe(client, receiver.url)
        first = api.created(order_body(reference="FIRST"))
        second = api.created(order_body(reference="SECOND"))
        run(client)
        client.post("/_sim/webhooks/flush")
        outcomes = [e["outcome"] for e in client.get("/_sim/journal?operation=webhook_delivery").get_json()]
        if setting.startswith("out_of_order"):
            references = [r[1]["value"][0]["payload"]["buyFromOrderReference"] for r in receiver.received]
            assert references == [second["buyFromOrderReference"], first["buyFromOrderReference"]]
        else:
            assert check(receiver.received, outcomes), (receiver.received, outcomes)
    finally:
        backend.close()


def test_coupons_are_assets_of_paid_ota_orders_only():
    coupons = """
[[catalog.items]]
number = "34001"
description = "Cafe Voucher"
kind = "coupon"
[[catalog.items]]
number = "32002"
description = "Package with a voucher"
kind = "package"
components = [{ item = "31001", quantity = 1 }, { item = "34001", quantity = 2 }]
"""
    backend, client, api = simulator(coupons)
    try:
        order = api.created(order_body(items=[line(item="32002")]))
        run(client)
        assets = api.get(order["orderId"]).get_json()["items"][0]["wallets"][0]["assets"]
        assert [a["type"] for a in assets] == ["ticket", "coupon", "coupon"]
        assert len({a["referenceNumber"] for a in assets}) == 3
    finally:
        backend.close()
    synchronous = Api(create_app(Backend(scenarios=[parse_scenario(coupons, "c.toml")])).test_client())
    assets = synchronous.created(order_body(items=[line(item="32002")]))["items"][0]["wallets"][0]["assets"]
    assert [a["type"] for a in assets] == ["ticket"]  # the synchronous Channel Manager ignores coupon components


def test_a_stuck_sync_order_stays_stuck_for_the_worker(ota, receiver):
    _, client, api = ota
    subscribe(client, receiver.url)
    client.post("/_sim/faults", json={"operation": "create", "times": 1, "stick_in_processing": True})
    response = client.post(BASE + "?sync=1", json=order_body(), headers={"x-np-api-key": "k"})
    assert response.status_code == 503
    order_id = api.find("REF-1")["orderId"]
    run(client, everything=True)
    assert api.get(order_id).get_json()["status"] == "Processing"
    released = client.post(f"/_sim/orders/{order_id}/release").get_json()
    assert released["status"] == "Issued"
    client.post("/_sim/webhooks/flush")
    assert [r[1]["value"][0]["payload"]["status"] for r in receiver.received] == ["Issued"]


def test_ota_confirm_keeps_50_characters(ota):
    _, client, api = ota
    draft = api.created(order_body(paid=False))
    run(client)
    confirmed = api.confirm(draft["orderId"], {"paymentReference": "p" * 60}).get_json()
    assert (confirmed["status"], confirmed["paymentReference"]) == ("Issued", "P" * 50)


def test_replace_of_an_ota_draft_submits_it_again(ota):
    _, client, api = ota
    draft = api.created(order_body(paid=False))
    run(client)
    replaced = api.replace(draft["orderId"], order_body(items=[line(quantity=3)])).get_json()
    assert replaced["status"] == "Submitted"
    assert len(replaced["items"][0]["wallets"]) == 3 and replaced["items"][0]["wallets"][0]["walletId"] == NULL
    run(client)
    assert api.get(draft["orderId"]).get_json()["status"] == "Issued"


def test_a_coupon_item_ordered_on_its_own():
    coupon = '[[catalog.items]]\nnumber = "34001"\ndescription = "Cafe Voucher"\nkind = "coupon"\n'
    backend, client, api = simulator(coupon)
    try:
        order = api.created(order_body(items=[line(item="34001", quantity=2)]))
        assert run(client) == [{"orderId": order["orderId"], "status": "Issued"}]
        wallets = api.get(order["orderId"]).get_json()["items"][0]["wallets"]
        assert [[a["type"] for a in w["assets"]] for w in wallets] == [["coupon"], ["coupon"]]
    finally:
        backend.close()


def test_the_scheduled_sweep_through_the_control_api(ota):
    _, client, api = ota
    client.put("/_sim/clock", json={"now": "2031-01-01T09:00:00Z", "frozen": True})
    waiting = api.created(order_body(items=[line(visit_date="2031-06-03")]))
    client.post("/_sim/ota/step")
    client.post("/_sim/clock/advance", json={"minutes": 4})
    assert client.post("/_sim/ota/sweep").get_json() == []
    assert api.get(waiting["orderId"]).get_json()["status"] == "Scheduled"
    client.post("/_sim/clock/advance", json={"minutes": 2})
    client.post("/_sim/ota/sweep")
    assert api.get(waiting["orderId"]).get_json()["status"] == "Submitted"


def test_ota_orders_and_their_pending_outcomes_survive_a_restart(tmp_path):
    data = tmp_path / "state.json"
    scenario = parse_scenario(OTA, "ota.toml")
    backend = Backend(scenarios=[scenario], data_file=data)
    client, api = create_app(backend).test_client(), None
    api = Api(client)
    client.post("/_sim/faults", json={"operation": "create", "times": 1, "reference": "F*", "fail_issuance": "Boom"})
    failing = api.created(order_body(reference="F1"))
    plain = api.created(order_body(reference="P1"))
    client.post("/_sim/ota/step")
    backend.close()

    restarted = Backend(scenarios=[scenario], data_file=data)
    client = create_app(restarted).test_client()
    api = Api(client)
    assert api.get(failing["orderId"]).get_json()["status"] == "Scheduled"
    run(client)
    assert api.get(failing["orderId"]).get_json()["statusMessage"] == "Boom"
    assert api.get(plain["orderId"]).get_json()["status"] == "Issued"
    restarted.close()


def test_retries_give_up_in_the_end(ota):
    _, client, api = ota
    failing = Receiver(failures=100)
    try:
        subscribe(client, failing.url)
        api.created(order_body())
        run(client)
        client.post("/_sim/webhooks/flush")
        outcomes = [e["outcome"] for e in client.get("/_sim/journal?operation=webhook_delivery").get_json()]
        assert outcomes == ["failed (status 500); retrying"] * 3 + ["failed (status 500); gave up"]
    finally:
        failing.close()


def test_the_background_worker_settles_orders_by_itself(receiver):
    backend = Backend(scenarios=[parse_scenario("[ota]\nall_partners = true\ncadence_seconds = 1\n", "bg.toml")])
    client = create_app(backend).test_client()
    api = Api(client)
    try:
        client.put("/_sim/clock", json={"now": "2031-01-01T09:00:00Z", "frozen": True})
        subscribe(client, receiver.url)
        order = api.created(order_body(items=[line(visit_date="2031-06-03")]))
        client.post("/_sim/clock/advance", json={"seconds": 2})  # now due: the worker's next round takes it
        for _ in range(200):
            if api.get(order["orderId"]).get_json()["status"] == "Issued":
                break
            __import__("time").sleep(0.05)
        assert api.get(order["orderId"]).get_json()["status"] == "Issued"
        assert client.post("/_sim/webhooks/flush").get_json() == {"flushed": True}
        assert [r[1]["value"][0]["payload"]["orderId"] for r in receiver.received] == [order["orderId"]]
    finally:
        backend.close()


def test_a_reset_drops_pending_deliveries():
    slow_retries = "[ota]\nall_partners = true\ncadence_seconds = 0\n[webhooks]\nretry_seconds = [60]\n"
    backend = Backend(scenarios=[parse_scenario(slow_retries, "slow.toml")])
    client = create_app(backend).test_client()
    failing = Receiver(failures=100)
    try:
        subscribe(client, failing.url)
        Api(client).created(order_body())
        run(client)
        assert client.post("/_sim/webhooks/flush", json={"timeout": 1}).get_json() == {
            "flushed": False
        }  # a retry waits
        client.post(
            "/_sim/reset", json={"tenant": TENANT, "environment": "production", "company": "CRONUS International Ltd."}
        )
        assert client.post("/_sim/webhooks/flush", json={"timeout": 5}).get_json() == {"flushed": True}
    finally:
        failing.close()
        backend.close()
