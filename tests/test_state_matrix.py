"""Every status x operation cell of the synchronous state machine (api-facts 4.1)."""

import dataclasses

import pytest

from simulator.catalog import ItemKind
from simulator.model import Line, Order, OrderStatus
from tests.helpers import DEMO, PLAIN, TUESDAY, assert_error, line, order_body, past_day


@pytest.fixture
def order_in(api, backend):
    """Make an order with the given status through the API (Processing directly in the store)."""

    def make(status: str, reference: str = "STATE-1") -> dict:
        if status == "Draft":
            return api.created(order_body(reference=reference, paid=False))
        if status == "Issued":
            return api.created(order_body(reference=reference))
        if status == "Cancelled":
            order = api.created(order_body(reference=reference))
            assert api.delete(order["orderId"]).status_code == 200
            return api.get(order["orderId"]).get_json()
        if status == "Error":
            assert api.create(order_body(reference=reference, items=[line(visit_date=past_day())])).status_code == 400
            return api.get(api.find(reference)["orderId"]).get_json()
        # an issuance still running: only a stalled worker leaves an order here
        namespace = ("01234567-89ab-cdef-0123-456789abcdef", "production", "CRONUS International Ltd.")
        stuck = Order(
            namespace=namespace,
            order_id="0b0b0b0b-0000-4000-8000-000000000001",
            partner_id=DEMO,
            sell_to_order_reference=reference,
            status=OrderStatus.PROCESSING,
            received_at=backend.clock.now(),
            lines=[Line(10000, "31001", "Adult Admission", ItemKind.TICKET, 1, TUESDAY, "10:00:00", "", "", "")],
        )
        backend.store.commit(put=[stuck])
        return api.get(stuck.order_id).get_json()

    return make


STATUSES = ["Draft", "Issued", "Cancelled", "Error", "Processing"]


def test_every_status_is_readable(api, order_in):
    for index, status in enumerate(STATUSES):
        order = order_in(status, reference=f"READ-{index}")
        assert order["status"] == status
        assert api.get(order["orderId"]).get_json() == order


# -- confirm -----------------------------------------------------------------


def test_confirm_draft_issues_it_with_a_manifest(api, order_in):
    draft = order_in("Draft")
    response = api.confirm(draft["orderId"], {"paymentReference": "pay-2"})
    assert response.status_code == 200
    order = response.get_json()
    assert (order["status"], order["paymentReference"]) == ("Issued", "PAY-2")
    assert order["manifestUrl"]
    assert all(w["manifestUrl"] for i in order["items"] for w in i["wallets"])
    # wallets and tickets are the ones the draft already held
    assert [w["walletId"] for w in order["items"][0]["wallets"]] == [
        w["walletId"] for w in draft["items"][0]["wallets"]
    ]
    assert api.get(draft["orderId"]).get_json() == order


def test_confirm_draft_for_partner_without_manifests(api):
    draft = api.created(order_body(partner=PLAIN, paid=False))
    order = api.confirm(draft["orderId"]).get_json()
    assert order["status"] == "Issued"
    assert "manifestUrl" not in order


def test_confirm_issued_is_a_no_op_and_does_not_read_the_body(api, order_in):
    issued = order_in("Issued")
    response = api.confirm(issued["orderId"], "not even an object")
    assert response.status_code == 200
    assert response.get_json() == issued


@pytest.mark.parametrize(
    "status, caption",
    [
        ("Cancelled", "Cancelled"),
        ("Error", "Error"),
        ("Processing", "Processing..."),
    ],
)
def test_confirm_is_refused_outside_draft(api, order_in, status, caption):
    order = order_in(status)
    assert_error(api.confirm(order["orderId"]), 400, f"Order cannot be confirmed in status {caption}")
    assert api.get(order["orderId"]).get_json() == order


@pytest.mark.parametrize(
    "body, message",
    [
        ([], "Body must be a JSON object"),
        ({}, "Required field 'paymentReference' is missing"),
        ({"paymentReference": {"a": 1}}, "Required field 'paymentReference' must be a primitive value"),
        ({"paymentReference": None}, "Required field 'paymentReference' cannot be null"),
        ({"paymentReference": ""}, "Required field 'paymentReference' cannot be empty"),
    ],
)
def test_confirm_draft_validates_the_body(api, order_in, body, message):
    draft = order_in("Draft")
    assert_error(api.confirm(draft["orderId"], body), 400, message)
    assert api.get(draft["orderId"]).get_json()["status"] == "Draft"


# -- replace -----------------------------------------------------------------


def test_replace_draft_replaces_header_and_items(api, order_in):
    draft = order_in("Draft")
    body = order_body(
        reference="state-1",
        items=[line("31002", quantity=3)],
        sellToName="New Name",
        sellToEmail="new@example.com",
        sellToLanguage="dan",
        paymentReference="PAY-9",
    )
    response = api.replace(draft["orderId"], body)
    assert response.status_code == 200
    order = response.get_json()
    assert (order["orderId"], order["status"], order["receivedAt"]) == (draft["orderId"], "Issued", draft["receivedAt"])
    assert (order["sellToName"], order["sellToEmail"], order["sellToLanguage"], order["paymentReference"]) == (
        "New Name",
        "new@example.com",
        "DAN",
        "PAY-9",
    )
    [item] = order["items"]
    assert (item["itemNumber"], len(item["wallets"])) == ("31002", 3)
    old_wallets = {w["walletId"] for w in draft["items"][0]["wallets"]}
    assert old_wallets.isdisjoint(w["walletId"] for w in item["wallets"])
    assert order["jobId"] != draft["jobId"]


def test_replace_draft_without_payment_stays_draft(api, order_in):
    draft = order_in("Draft")
    order = api.replace(draft["orderId"], order_body(reference="STATE-1", paid=False)).get_json()
    assert order["status"] == "Draft"
    assert "manifestUrl" not in order


@pytest.mark.parametrize(
    "status, caption",
    [
        ("Issued", "Issued"),
        ("Cancelled", "Cancelled"),
        ("Processing", "Processing..."),
    ],
)
def test_replace_is_refused_outside_draft_and_error(api, order_in, status, caption):
    order = order_in(status)
    assert_error(
        api.replace(order["orderId"], order_body(reference="STATE-1")),
        400,
        f"Order cannot be replaced in status {caption}",
    )
    assert api.get(order["orderId"]).get_json() == order


@pytest.mark.parametrize(
    "body, message",
    [
        ("x", "Body must be a JSON object"),
        (order_body(reference="STATE-1", partner=PLAIN), "partnerId cannot be changed via PUT"),
        (order_body(reference="OTHER"), "sellToOrderReference cannot be changed via PUT"),
        ({"partnerId": DEMO}, "Required field 'sellToOrderReference' is missing"),
        (order_body(reference="STATE-1", items=[]), "items array must contain at least one entry"),
        (order_body(reference="STATE-1", items=[line(item="nope")]), "Unknown item 'nope'"),
    ],
)
def test_replace_validates_and_changes_nothing_on_bad_input(api, order_in, body, message):
    draft = order_in("Draft")
    assert_error(api.replace(draft["orderId"], body), 400, message)
    assert api.get(draft["orderId"]).get_json() == draft


def test_replace_does_not_recheck_the_partner_status(api, order_in, backend):
    draft = order_in("Draft")
    backend.catalog.partners[DEMO] = dataclasses.replace(backend.catalog.partners[DEMO], active=False)
    assert_error(api.create(order_body(reference="NEW")), 400, "Partner 'Demo Sales Channel' is not active")
    assert api.replace(draft["orderId"], order_body(reference="STATE-1")).status_code == 200


# -- delete ------------------------------------------------------------------


def cancelled_view(order: dict) -> dict:
    """What delete answers: the order after teardown."""
    view = {key: value for key, value in order.items() if key != "manifestUrl"}
    view.update(status="Cancelled", statusMessage="", jobId="", items=[])
    return view


@pytest.mark.parametrize("status", ["Draft", "Error"])
def test_delete_removes_draft_and_error_orders(api, order_in, status):
    order = order_in(status)
    response = api.delete(order["orderId"])
    assert response.status_code == 200
    assert response.get_json() == cancelled_view(order)
    assert_error(
        api.get(order["orderId"]),
        404,
        f"Order '{{{order['orderId'].upper()}}}' not found Not Found",
        code="resource_not_found",
    )
    assert api.list(DEMO).get_json() == []


def test_delete_issued_keeps_the_row_as_cancelled(api, order_in):
    order = order_in("Issued")
    response = api.delete(order["orderId"])
    assert response.status_code == 200
    assert response.get_json() == cancelled_view(order)
    assert api.get(order["orderId"]).get_json() == cancelled_view(order)
    assert api.find("STATE-1")["status"] == "Cancelled"
    assert api.find("STATE-1")["manifestUrl"] == ""


def test_delete_cancelled_again_is_idempotent(api, order_in):
    order = order_in("Cancelled")
    response = api.delete(order["orderId"])
    assert response.status_code == 200
    assert response.get_json() == order
    assert api.get(order["orderId"]).get_json() == order


def test_delete_processing_is_refused(api, order_in):
    order = order_in("Processing")
    assert_error(api.delete(order["orderId"]), 400, "Order is currently being processed; retry once it has settled.")
    assert api.get(order["orderId"]).get_json() == order


# -- create with the reference of an existing order --------------------------


@pytest.mark.parametrize("status", ["Draft", "Issued", "Cancelled", "Processing"])
def test_create_with_the_reference_of_an_order_outside_error_is_a_duplicate(api, order_in, status):
    order_in(status)
    assert_error(
        api.create(order_body(reference="STATE-1")),
        400,
        "An order with sellToOrderReference 'STATE-1' already exists for partner 'Demo Sales Channel'",
    )


def test_create_with_the_reference_of_an_error_order_replaces_it(api, order_in):
    stale = order_in("Error")
    order = api.created(order_body(reference="STATE-1"))
    assert order["orderId"] != stale["orderId"]
    assert api.get(stale["orderId"]).status_code == 404


# -- unknown orders ----------------------------------------------------------

UNKNOWN = "9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8"


@pytest.mark.parametrize("call", ["get", "confirm", "delete", "replace"])
def test_unknown_order_is_404_with_the_real_message(api, call):
    args = (UNKNOWN, order_body()) if call == "replace" else (UNKNOWN,)
    response = getattr(api, call)(*args)
    assert_error(
        response, 404, "Order '{9C6B2F4E-2B71-4D23-9D6A-A3B4C5D6E7F8}' not found Not Found", code="resource_not_found"
    )


@pytest.mark.parametrize("call", ["get", "confirm", "delete", "replace"])
def test_malformed_order_id_is_400(api, call):
    args = ("not-a-guid", order_body()) if call == "replace" else ("not-a-guid",)
    assert_error(getattr(api, call)(*args), 400, "Invalid order id")
