"""Magic values: a reference prefix triggers each failure with no set-up."""

import pytest

from simulator.magic import MAGIC_VALUES
from simulator.transport import TransportFault
from tests.helpers import TUESDAY, assert_error, line, order_body


@pytest.mark.parametrize(
    "reference, message",
    [
        ("SIM-FAIL-NO-SLOT-1", f"Admission Code TOUR has no available time slots for expected visit date {TUESDAY}."),
        (
            "SIM-FAIL-CAPACITY-1",
            f"The reservation capacity for TOUR at {TUESDAY} 10:00:00 has been exceeded. "
            "A maximum of 10 with method SALES is permitted. This action would make it 11.",
        ),
        ("SIM-FAIL-PAST-DATE-1", f"Expected visit date {TUESDAY} for admission code TOUR is in the past."),
        (
            "sim-fail-extref-1",
            "The selected external reference is already in use with another wallet. Requested reference: MY-REF",
        ),
    ],
)
def test_issuance_magic_values_leave_the_order_in_error(api, reference, message):
    items = [
        line(item="31010", visit_date=TUESDAY, visit_time="10:00:00", wallet={"externalReferenceNumbers": ["MY-REF"]})
    ]
    assert_error(api.create(order_body(reference=reference, items=items)), 400, message)
    summary = api.find(reference.upper())
    assert (summary["status"], summary["statusMessage"]) == ("Error", message)
    # and the documented remedy works: replace issues it
    fixed = api.replace(summary["orderId"], order_body(reference=reference, items=items))
    assert fixed.get_json()["status"] == "Issued"


def test_ticket_number_magic_value_stores_nothing(api):
    assert_error(
        api.create(order_body(reference="SIM-FAIL-TICKET-NUMBER-1")),
        400,
        "Unable to generate a unique pre-assigned ticket number after 10 attempts.",
    )
    assert api.list().get_json() == []


def test_confirm_magic_value_keeps_the_order_draft(api):
    draft = api.created(order_body(reference="SIM-FAIL-CONFIRM-1", paid=False))
    assert_error(
        api.confirm(draft["orderId"]),
        400,
        "The ticket reservation could not be confirmed: the reservation request has expired.",
    )
    assert api.get(draft["orderId"]).get_json()["status"] == "Draft"


def test_stuck_magic_value(api, client):
    assert api.create(order_body(reference="SIM-STUCK-1")).status_code == 503
    order_id = api.find("SIM-STUCK-1")["orderId"]
    assert api.get(order_id).get_json()["status"] == "Processing"
    assert client.post(f"/_sim/orders/{order_id}/release").get_json()["status"] == "Issued"


def test_lost_response_magic_value_commits(api):
    with pytest.raises(TransportFault):
        api.create(order_body(reference="SIM-LOST-RESPONSE-1"))
    assert api.find("SIM-LOST-RESPONSE-1")["status"] == "Issued"
    # the retry is answered: the duplicate error tells the partner the order exists
    assert_error(
        api.create(order_body(reference="SIM-LOST-RESPONSE-1")),
        400,
        "An order with sellToOrderReference 'SIM-LOST-RESPONSE-1' already exists for partner 'Demo Sales Channel'",
    )


@pytest.mark.parametrize("reference, status", [("SIM-RATE-LIMIT-1", 429), ("SIM-UNAVAILABLE-1", 503)])
def test_gateway_magic_values(api, reference, status):
    assert api.create(order_body(reference=reference)).status_code == status
    assert api.list().get_json() == []


def test_magic_values_are_listed(client):
    listed = client.get("/_sim/magic-values").get_json()
    assert [entry["startsWith"] for entry in listed] == [prefix for prefix, *_ in MAGIC_VALUES]
    assert all(entry["field"] == "sellToOrderReference" and entry["effect"] for entry in listed)


def test_ordinary_references_trigger_nothing(api):
    assert api.create(order_body(reference="SIMPLE-FAIL-NO-SLOT")).status_code == 201
