"""OTA mode: the past-date check runs inside each line, in the real parser's order.

Per line: item, quantity, visitDate and visitTime formats, the past-date check, then the
line's overrides and wallet block (names, external references, componentSchedule with each
entry's own past-date check). The first failure wins and nothing changes.
"""

from datetime import date, timedelta

import pytest

from simulator import Backend, create_app, parse_scenario
from tests.helpers import BASE, DEMO, Api, assert_error, line, order_body

PINNED = date(2026, 5, 15)  # the clock is frozen here; every date below is relative to it
TODAY = PINNED.isoformat()
PAST = (PINNED - timedelta(days=3)).isoformat()
FUTURE = (PINNED + timedelta(days=19)).isoformat()  # a Wednesday: tours run Tue-Sun
OTA = """
[ota]
all_partners = true
cadence_seconds = 0
"""


@pytest.fixture
def ota():
    backend = Backend(scenarios=[parse_scenario(OTA, "ota.toml")])
    client = create_app(backend).test_client()
    assert client.put("/_sim/clock", json={"now": f"{TODAY}T09:30:00Z", "frozen": True}).status_code == 200
    yield client, Api(client)
    backend.close()


def past_line(index: int = 0) -> str:
    return f"items[{index}] visitDate must not be in the past (received {PAST}, local today {TODAY})"


def schedule(item: str, visit_date: str) -> dict:
    return {"componentSchedule": [{"itemNumber": item, "visitDate": visit_date, "visitTime": "10:00:00"}]}


PAST_THEN_ANOTHER_PROBLEM = {
    "names of the wrong length": [line(quantity=2, visit_date=PAST, wallet={"names": ["Jane Doe"]})],
    "external references of the wrong length": [
        line(quantity=2, visit_date=PAST, wallet={"externalReferenceNumbers": ["E1"]})
    ],
    "a schedule on a line that is no package": [line(visit_date=PAST, wallet=schedule("31010", FUTURE))],
    "an unknown item on a later line": [line(visit_date=PAST), line(item="99999", visit_date=FUTURE)],
    "quantity 0 on a later line": [line(visit_date=PAST), line(quantity=0, visit_date=FUTURE)],
}


@pytest.mark.parametrize("items", PAST_THEN_ANOTHER_PROBLEM.values(), ids=PAST_THEN_ANOTHER_PROBLEM.keys())
def test_a_past_line_date_is_reported_before_what_follows_it(ota, items):
    client, api = ota
    assert_error(api.create(order_body(items=items)), 400, past_line())
    assert api.list(DEMO).get_json() == []


def test_a_past_schedule_date_is_reported_before_a_bad_later_line(ota):
    _, api = ota
    items = [line(item="32001", visit_date=FUTURE, wallet=schedule("31010", PAST)), line(item="99999")]
    assert_error(
        api.create(order_body(items=items)),
        400,
        f"items[0].componentSchedule entry '31010' visitDate must not be in the past "
        f"(received {PAST}, local today {TODAY})",
    )


def test_the_schedule_message_quotes_the_item_number_as_sent(ota):
    _, api = ota
    items = [line(item="32001", visit_date=FUTURE, wallet=schedule(" 31010", PAST))]
    assert_error(
        api.create(order_body(items=items)),
        400,
        f"items[0].componentSchedule entry ' 31010' visitDate must not be in the past "
        f"(received {PAST}, local today {TODAY})",
    )


def test_problems_before_the_past_date_in_the_same_line_still_come_first(ota):
    _, api = ota
    assert_error(api.create(order_body(items=[line(item="99999", visit_date=PAST)])), 400, "Unknown item '99999'")
    assert_error(
        api.create(order_body(items=[line(quantity=0, visit_date=PAST)])), 400, "quantity must be >= 1 (line 10000)"
    )
    assert_error(
        api.create(order_body(items=[line(visit_date=PAST, visit_time="25:00")])),
        400,
        "Required field 'visitTime' must be HH:mm:ss",
    )


def test_a_bad_earlier_line_is_reported_before_a_later_past_date(ota):
    _, api = ota
    items = [line(quantity=2, wallet={"names": ["Jane Doe"]}), line(visit_date=PAST)]
    assert_error(api.create(order_body(items=items)), 400, "wallet.names array length (1) must equal 2 on line 10000")


def test_the_order_holds_with_sync(ota):
    client, _ = ota
    body = order_body(items=[line(quantity=2, visit_date=PAST, wallet={"names": ["Jane Doe"]})])
    response = client.post(BASE + "?sync=1", json=body, headers={"x-np-api-key": "k"})
    assert_error(response, 400, past_line())


@pytest.mark.parametrize("items", PAST_THEN_ANOTHER_PROBLEM.values(), ids=PAST_THEN_ANOTHER_PROBLEM.keys())
@pytest.mark.parametrize("sync", ["", "?sync=1"])
def test_a_refused_replace_leaves_the_draft_as_it_was(ota, items, sync):
    client, api = ota
    draft = api.created(order_body(paid=False, items=[line(item="31010", quantity=2, visit_date=FUTURE)]))
    client.post("/_sim/ota/run", json={})
    assert api.get(draft["orderId"]).get_json()["status"] == "Draft"
    before = client.get("/_sim/state").get_json()
    response = client.put(
        f"{BASE}/{draft['orderId']}{sync}", json=order_body(paid=False, items=items), headers={"x-np-api-key": "k"}
    )
    assert_error(response, 400, past_line())
    assert client.get("/_sim/state").get_json() == before


def test_an_order_with_dates_from_today_on_is_accepted(ota):
    client, api = ota
    items = [line(visit_date=TODAY), line(item="32001", visit_date=FUTURE, wallet=schedule("31010", FUTURE))]
    order = api.created(order_body(items=items))
    client.post("/_sim/ota/run", json={})
    assert api.get(order["orderId"]).get_json()["status"] == "Issued"
