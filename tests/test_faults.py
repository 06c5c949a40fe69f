"""Fault rules: matching, lifetimes, and every domain and gateway outcome (in process)."""

import pytest

from simulator.transport import TransportFault
from tests.helpers import DEMO, PLAIN, TENANT, TUESDAY, Api, assert_error, line, order_body


@pytest.fixture
def rules(client):
    def add(*rules, status=201):
        response = client.post("/_sim/faults", json=list(rules))
        assert response.status_code == status, response.get_json()
        return response.get_json()

    return add


def fired(client, rule_id):
    return next(rule for rule in client.get("/_sim/faults").get_json() if rule["id"] == rule_id)


def test_fail_issuance_leaves_the_order_in_error_and_replace_recovers_it(api, client, rules):
    rules(
        {
            "id": "boom",
            "operation": "create",
            "fail_issuance": "Admission Code {admission} has no available time slots "
            "for expected visit date {visit_date}.",
        }
    )
    body = order_body(reference="F1", items=[line(item="31010", visit_date=TUESDAY)])
    message = f"Admission Code TOUR has no available time slots for expected visit date {TUESDAY}."
    assert_error(api.create(body), 400, message)
    summary = api.find("F1")
    assert (summary["status"], summary["statusMessage"]) == ("Error", message)
    replaced = api.replace(summary["orderId"], body)  # the rule matches create only
    assert (replaced.status_code, replaced.get_json()["status"]) == (200, "Issued")
    assert fired(client, "boom")["fired"] == 1


def test_lifetime_once_then_normal(api, rules):
    rules({"operation": "create", "fail_issuance": "first call fails", "times": 1})
    assert_error(api.create(order_body(reference="L1")), 400, "first call fails")
    assert api.create(order_body(reference="L2")).status_code == 201


def test_lifetime_n_times(api, rules):
    rules({"id": "thrice", "operation": "create", "respond": 503, "times": 3})
    statuses = [api.create(order_body(reference=f"N{i}")).status_code for i in range(5)]
    assert statuses == [503, 503, 503, 201, 201]


def test_lifetime_always(api, rules):
    rules({"operation": "get", "respond": 429})
    order = api.created(order_body())
    assert all(api.get(order["orderId"]).status_code == 429 for _ in range(5))


def test_nth_matching_call_only(api, client, rules):
    rules({"id": "second", "operation": "create", "nth": 2, "fail_issuance": "the second create fails"})
    assert api.create(order_body(reference="A1")).status_code == 201
    assert_error(api.create(order_body(reference="A2")), 400, "the second create fails")
    assert api.create(order_body(reference="A3")).status_code == 201
    assert fired(client, "second") == {
        "id": "second",
        "description": "",
        "outcome": "fail_issuance",
        "matched": 3,
        "fired": 1,
        "remaining": 0,
    }


def test_probability_with_a_seed_is_repeatable(client):
    from simulator import Backend, create_app

    def pattern():
        fresh = create_app(Backend()).test_client()
        fresh.post("/_sim/faults", json={"operation": "create", "respond": 503, "probability": 0.5, "seed": 11})
        api = Api(fresh)
        return [api.create(order_body(reference=f"P{i}")).status_code for i in range(30)]

    first = pattern()
    assert first == pattern()
    assert 5 < first.count(503) < 25


@pytest.mark.parametrize(
    "criterion, matching, other",
    [
        ({"partner": PLAIN}, order_body(partner=PLAIN), order_body()),
        ({"reference": "vip-*"}, order_body(reference="vip-7"), order_body(reference="REGULAR")),
        ({"item": "31010"}, order_body(items=[line(), line(item="31010", visit_date=TUESDAY)]), order_body()),
        ({"company": "CRONUS International Ltd."}, order_body(), None),
        ({"tenant": TENANT, "environment": "production"}, order_body(), None),
    ],
)
def test_rules_match_on_call_attributes(client, rules, criterion, matching, other):
    rules({**criterion, "operation": "create", "fail_issuance": "matched"})
    api = Api(client)
    assert_error(api.create(matching), 400, "matched")
    if other is not None:
        assert api.create(other).status_code == 201
    elsewhere = Api(client, f"/{TENANT}/sandbox/Elsewhere/channelManager")
    if "company" in criterion or "environment" in criterion:
        assert elsewhere.create(matching).status_code == 201


def test_rules_match_stored_orders_for_other_operations(api, rules):
    keep = api.created(order_body(reference="KEEP-1"))
    hit = api.created(order_body(reference="HIT-1"))
    rules({"reference": "HIT-*", "operation": "delete", "respond": 503})
    assert api.delete(hit["orderId"]).status_code == 503
    assert api.get(hit["orderId"]).get_json()["status"] == "Issued"
    assert api.delete(keep["orderId"]).status_code == 200


def test_fail_confirm_keeps_the_order_draft(api, rules):
    draft = api.created(order_body(paid=False))
    rules({"operation": "confirm", "fail_confirm": "Reservation expired", "times": 1})
    assert_error(api.confirm(draft["orderId"]), 400, "Reservation expired")
    assert api.get(draft["orderId"]).get_json() == draft
    assert api.confirm(draft["orderId"]).get_json()["status"] == "Issued"


def test_stuck_in_processing_until_released(api, client, rules):
    rules({"operation": "create", "stick_in_processing": True, "times": 1})
    response = api.create(order_body(reference="STUCK-1"))
    assert_error(response, 503, "The request timed out while the order was being processed.", code="server_timeout")
    stuck = api.find("STUCK-1")
    assert stuck["status"] == "Processing"
    order_id = stuck["orderId"]
    assert_error(api.delete(order_id), 400, "Order is currently being processed; retry once it has settled.")
    assert_error(api.confirm(order_id), 400, "Order cannot be confirmed in status Processing...")
    assert_error(
        api.replace(order_id, order_body(reference="STUCK-1")), 400, "Order cannot be replaced in status Processing..."
    )
    assert_error(
        api.create(order_body(reference="STUCK-1")),
        400,
        "An order with sellToOrderReference 'STUCK-1' already exists for partner 'Demo Sales Channel'",
    )
    released = client.post(f"/_sim/orders/{order_id}/release")
    assert released.status_code == 200
    assert released.get_json()["status"] == "Issued"
    assert api.get(order_id).get_json()["items"][0]["wallets"][0]["assets"]
    assert client.post(f"/_sim/orders/{order_id}/release").status_code == 400


def test_gateway_answers_429_and_503_and_nothing_happens(api, rules):
    rules({"operation": "create", "respond": 429, "times": 1}, {"operation": "create", "respond": 503, "times": 1})
    assert api.create(order_body(reference="G")).status_code == 429
    response = api.create(order_body(reference="G"))
    assert response.status_code == 503
    assert response.get_json()["code"] == "service_unavailable"
    assert api.list(DEMO).get_json() == []
    assert api.create(order_body(reference="G")).status_code == 201


def test_latency_rules_add_up_and_do_not_decide(api, client, rules):
    rules(
        {"id": "slow", "latency_ms": 1},
        {"id": "jitter", "latency": {"distribution": "uniform", "min_ms": 0, "max_ms": 2}},
        {"id": "fail", "operation": "create", "fail_issuance": "after the wait"},
    )
    assert_error(api.create(order_body()), 400, "after the wait")
    [entry] = client.get("/_sim/journal?operation=create").get_json()
    assert entry["faults"] == ["slow", "jitter", "fail"]
    assert entry["outcome"] == "fail_issuance"


def test_transport_fault_in_process_raises(api, rules):
    rules({"operation": "create", "lose_response": "reset", "times": 1})
    with pytest.raises(TransportFault):
        api.create(order_body(reference="LOST"))
    assert api.find("LOST")["status"] == "Issued"  # committed, only the response was lost


def test_first_decisive_rule_wins_and_later_ones_do_not_fire(api, client, rules):
    rules({"id": "one", "operation": "create", "respond": 429}, {"id": "two", "operation": "create", "respond": 503})
    assert api.create(order_body()).status_code == 429
    assert (fired(client, "one")["fired"], fired(client, "two")["fired"]) == (1, 0)


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"respond": 500}, "request: 0.respond: Must be one of: 429, 503."),
        ({"operation": "get", "fail_confirm": "x"}, "request: 0.operation: fail_confirm applies to confirm only"),
        ({"respond": 429, "latency_ms": 5}, "request: 0: give exactly one outcome of"),
        ({"respond": 429, "colour": "red"}, "request: 0.colour: Unknown field."),
    ],
)
def test_bad_rules_are_refused_with_the_key(client, rule, message):
    response = client.post("/_sim/faults", json=rule)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_scenario"
    assert response.get_json()["message"].startswith(message)


def test_rules_are_listed_removed_and_cleared(client, rules):
    rules({"id": "a", "respond": 429}, {"respond": 503})
    assert [rule["id"] for rule in client.get("/_sim/faults").get_json()] == ["a", "rule-1"]
    assert rules({"id": "a", "respond": 429}, status=400)["message"] == "a fault rule with id 'a' is already loaded"
    assert client.delete("/_sim/faults/a").status_code == 200
    assert client.delete("/_sim/faults/a").status_code == 404
    assert client.delete("/_sim/faults").status_code == 200
    assert client.get("/_sim/faults").get_json() == []


def test_a_rule_is_not_spent_by_a_call_it_could_not_apply_to(api, client, rules):
    api.created(order_body(reference="LOSE-1", paid=False))
    rules(
        {"id": "issue", "operation": "create", "times": 1, "reference": "R*", "fail_issuance": "boom"},
        {"id": "confirm", "operation": "confirm", "times": 1, "fail_confirm": "no"},
        {"id": "lose", "operation": "create", "times": 1, "reference": "LOSE-*", "lose_response": "reset"},
    )
    refused = api.create(order_body(reference="R1", partner="00000000-1111-2222-3333-444444444444"))
    assert refused.get_json()["message"].startswith("Unknown partnerId")
    assert fired(client, "issue")["fired"] == 0
    assert_error(api.create(order_body(reference="R2")), 400, "boom")

    issued = api.created(order_body(reference="R3"))
    assert api.confirm(issued["orderId"]).status_code == 200  # a no-op on Issued: nothing to fail
    assert fired(client, "confirm")["fired"] == 0
    draft = api.created(order_body(reference="R4", paid=False))
    assert_error(api.confirm(draft["orderId"]), 400, "no")

    assert_error(
        api.create(order_body(reference="LOSE-1")),
        400,
        "An order with sellToOrderReference 'LOSE-1' already exists for partner 'Demo Sales Channel'",
    )
    assert fired(client, "lose")["fired"] == 0
    with pytest.raises(TransportFault):
        api.create(order_body(reference="LOSE-2"))
    assert fired(client, "lose")["fired"] == 1


def test_the_rate_window_forgets_calls_when_the_clock_goes_back(tmp_path):
    from simulator import Backend, create_app

    path = tmp_path / "limits.toml"
    path.write_text("[limits]\nrequests_per_window = 2\nwindow_seconds = 60\n")
    client = create_app(Backend(scenarios=[path])).test_client()
    client.put("/_sim/clock", json={"now": "2031-01-01T00:00:00Z", "frozen": True})
    api = Api(client)
    assert [api.list(DEMO).status_code for _ in range(3)] == [200, 200, 429]
    client.put("/_sim/clock", json={"now": None})
    assert api.list(DEMO).status_code == 200


def test_templates_fill_only_known_placeholders(api, rules):
    rules(
        {"operation": "create", "times": 1, "fail_issuance": "{admission} {admission:>999} {admission.__class__} {x}"}
    )
    message = api.create(order_body()).get_json()["message"]
    assert message == "CASTLE {admission:>999} {admission.__class__} {x}"
