"""Every file in scenarios/ loads and does what its description says."""

from pathlib import Path

import pytest

from simulator import Backend, create_app
from simulator.scenario import load_scenario
from simulator.transport import TransportFault
from tests.helpers import DEMO, TENANT, TUESDAY, Api, assert_error, line, order_body

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def served(name):
    client = create_app(Backend(scenarios=[SCENARIOS / name])).test_client()
    return client, Api(client)


def check_default(client, api):
    assert api.create(order_body()).status_code == 201


def check_invalid_component_schedule(client, api):
    body = order_body(reference="P1", items=[line(item="32001", visit_date=TUESDAY)])
    assert_error(
        api.create(body), 400, f"Admission Code TOUR has no available time slots for expected visit date {TUESDAY}."
    )
    error = api.find("P1")
    assert error["status"] == "Error"
    assert api.replace(error["orderId"], body).get_json()["status"] == "Issued"


def check_sold_out(client, api):
    message = (
        f"The reservation capacity for TOUR at {TUESDAY} 10:00:00 has been exceeded. "
        "A maximum of 0 with method SALES is permitted. This action would make it 1."
    )
    assert_error(
        api.create(order_body(items=[line(item="31010", visit_date=TUESDAY, visit_time="10:00:00")])), 400, message
    )
    assert api.create(order_body(reference="CASTLE-ONLY", items=[line(visit_date=TUESDAY)])).status_code == 201


def check_past_visit_date(client, api):
    assert_error(
        api.create(order_body(items=[line(visit_date="2029-12-31")])),
        400,
        "Expected visit date 2029-12-31 for admission code CASTLE is in the past.",
    )
    order = api.created(order_body(reference="LATER", items=[line(visit_date="2030-01-01")]))
    assert order["receivedAt"] == "2030-01-01T09:00:00Z"


def check_external_reference_in_use(client, api):
    body = order_body(items=[line(wallet={"externalReferenceNumbers": ["EXT-9"]})])
    assert_error(
        api.create(body),
        400,
        "The selected external reference is already in use with another wallet. Requested reference: EXT-9",
    )
    assert api.find("REF-1")["status"] == "Error"


def check_ticket_numbers_exhausted(client, api):
    assert_error(
        api.create(order_body()), 400, "Unable to generate a unique pre-assigned ticket number after 10 attempts."
    )
    assert api.list(DEMO).get_json() == []
    assert api.create(order_body()).status_code == 201


def check_confirm_fails(client, api):
    draft = api.created(order_body(paid=False))
    assert api.confirm(draft["orderId"]).status_code == 400
    assert api.get(draft["orderId"]).get_json()["status"] == "Draft"
    assert api.confirm(draft["orderId"]).get_json()["status"] == "Issued"


def check_stuck_in_processing(client, api):
    assert api.create(order_body()).status_code == 503
    order_id = api.find("REF-1")["orderId"]
    assert (
        api.delete(order_id).get_json()["message"] == "Order is currently being processed; retry once it has settled."
    )
    assert client.post(f"/_sim/orders/{order_id}/release").get_json()["status"] == "Issued"


def check_lost_response(client, api):
    with pytest.raises(TransportFault):
        api.create(order_body())
    assert api.create(order_body()).status_code == 400
    assert api.find("REF-1")["status"] == "Issued"


def check_outage(client, api):
    assert api.create(order_body()).status_code == 503
    assert api.list(DEMO).status_code == 503
    client.delete("/_sim/scenarios")
    assert api.list(DEMO).status_code == 200


def check_rate_limited(client, api):
    client.put("/_sim/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True})
    assert [api.list(DEMO).status_code for _ in range(11)] == [200] * 10 + [429]
    client.post("/_sim/clock/advance", json={"seconds": 60})
    assert api.list(DEMO).status_code == 200


def check_flaky_network(client, api):
    statuses = [api.create(order_body(reference=f"F{i}")).status_code for i in range(20)]
    assert set(statuses) == {201, 503}
    journal = client.get("/_sim/journal").get_json()
    assert all("slow-network" in entry["faults"] for entry in journal)


def check_api_keys(client, api):
    assert Api(client, headers={"x-np-api-key": "partner-key"}).create(order_body()).status_code == 201
    assert Api(client, headers={"x-np-api-key": "reporting-key"}).list(DEMO).status_code == 403
    assert Api(client, headers={"x-np-api-key": "other"}).list(DEMO).status_code == 401


def check_one_company(client, api):
    assert api.create(order_body()).status_code == 201
    other = Api(client, f"/{TENANT}/production/Other Ltd./channelManager")
    assert other.list(DEMO).get_json()["code"] == "saas_company_not_found"


def check_coupons(client, api):
    draft = api.created(order_body(paid=False, items=[line(item="32002", visit_date=TUESDAY)]))
    assert draft["status"] == "Submitted"
    client.post("/_sim/ota/run")
    wallet = api.get(draft["orderId"]).get_json()["items"][0]["wallets"][0]
    assert [a["type"] for a in wallet["assets"]] == ["ticket", "coupon"]  # in Draft the assets exist already
    confirmed = api.confirm(draft["orderId"]).get_json()
    [wallet] = confirmed["items"][0]["wallets"]
    assert [(a["type"], a["itemNumber"]) for a in wallet["assets"]] == [("ticket", "31001"), ("coupon", "34001")]
    assert wallet["assets"][1]["referenceNumber"].startswith("CPN-")
    assert (wallet["unitPriceExclVat"], wallet["unitPriceInclVat"]) == (120, 150)


CHECKS = {
    "default.toml": check_default,
    "invalid-component-schedule.toml": check_invalid_component_schedule,
    "sold-out.toml": check_sold_out,
    "past-visit-date.toml": check_past_visit_date,
    "external-reference-in-use.toml": check_external_reference_in_use,
    "ticket-numbers-exhausted.toml": check_ticket_numbers_exhausted,
    "confirm-fails.toml": check_confirm_fails,
    "stuck-in-processing.toml": check_stuck_in_processing,
    "lost-response.toml": check_lost_response,
    "outage.toml": check_outage,
    "rate-limited.toml": check_rate_limited,
    "flaky-network.toml": check_flaky_network,
    "api-keys.toml": check_api_keys,
    "one-company.toml": check_one_company,
    "coupons.toml": check_coupons,
}


def test_every_scenario_file_has_a_check():
    assert sorted(path.name for path in SCENARIOS.glob("*.toml")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_scenario_does_what_its_description_says(name):
    description = load_scenario(SCENARIOS / name).description
    assert description and "\n" not in description
    CHECKS[name](*served(name))
