"""listOrdersByPartner: compact summaries, filters, order."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.helpers import DEMO, PLAIN, SUMMARY_FIELDS, assert_error, line, order_body, past_day


@pytest.fixture
def three_orders(api):
    issued = api.created(order_body(reference="L-ISSUED"))
    draft = api.created(order_body(reference="L-DRAFT", paid=False))
    api.create(order_body(reference="L-ERROR", items=[line(visit_date=past_day())]))
    api.created(order_body(reference="L-OTHER", partner=PLAIN))
    return issued, draft


def test_list_returns_compact_summaries_in_received_order(api, three_orders):
    issued, draft = three_orders
    response = api.list(DEMO)
    assert response.status_code == 200
    listed = response.get_json()
    assert isinstance(listed, list)
    assert [s["sellToOrderReference"] for s in listed] == ["L-ISSUED", "L-DRAFT", "L-ERROR"]
    for summary in listed:
        assert list(summary) == SUMMARY_FIELDS
    first = listed[0]
    assert {k: first[k] for k in ("orderId", "status", "jobId", "manifestUrl", "receivedAt")} == {
        k: issued[k] for k in ("orderId", "status", "jobId", "manifestUrl", "receivedAt")
    }
    assert listed[1]["manifestUrl"] == ""
    assert listed[2]["status"] == "Error"
    assert listed[2]["statusMessage"].startswith("Expected visit date")


def test_list_filters_by_one_or_more_statuses(api, three_orders):
    assert [s["sellToOrderReference"] for s in api.list(DEMO, status="Issued").get_json()] == ["L-ISSUED"]
    both = api.list(DEMO, status="Draft,Error").get_json()
    assert [s["sellToOrderReference"] for s in both] == ["L-DRAFT", "L-ERROR"]
    assert len(api.list(DEMO, status="").get_json()) == 3
    assert api.list(DEMO, status="Cancelled").get_json() == []


def test_list_rejects_an_unknown_status(api):
    assert_error(
        api.list(DEMO, status="Shipped"),
        400,
        "Invalid status filter 'Shipped': use Submitted, Scheduled, Processing, Draft, Issued, Cancelled, Error",
    )


def test_list_filters_by_reference_case_insensitively(api, three_orders):
    assert [s["status"] for s in api.list(DEMO, sellToOrderReference="l-draft").get_json()] == ["Draft"]
    assert api.list(DEMO, sellToOrderReference="NOPE").get_json() == []
    assert api.list(PLAIN, sellToOrderReference="L-DRAFT").get_json() == []


def test_list_filters_by_received_window(api, three_orders):
    now = datetime.now(UTC)
    early = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(api.list(DEMO, receivedAtFrom=early, receivedAtTo=late).get_json()) == 3
    assert len(api.list(DEMO, receivedAtFrom=early).get_json()) == 3
    assert api.list(DEMO, receivedAtFrom=late).get_json() == []
    assert api.list(DEMO, receivedAtTo=early).get_json() == []
    offset = (now + timedelta(hours=1)).astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    assert len(api.list(DEMO, receivedAtTo=offset).get_json()) == 3


def test_list_window_bounds_are_inclusive(api):
    order = api.created(order_body(reference="EDGE"))
    moment = order["receivedAt"]
    assert len(api.list(DEMO, receivedAtFrom=moment, receivedAtTo=moment).get_json()) == 1


@pytest.mark.parametrize("name", ["receivedAtFrom", "receivedAtTo"])
@pytest.mark.parametrize("value", ["yesterday", "2026-05-01", "2026-13-01T00:00:00Z", ""])
def test_list_rejects_a_bad_datetime(api, name, value):
    assert_error(api.list(DEMO, **{name: value}), 400, f"{name} must be ISO 8601 datetime")


def test_list_checks_from_before_to(api):
    assert_error(api.list(DEMO, receivedAtFrom="x", receivedAtTo="y"), 400, "receivedAtFrom must be ISO 8601 datetime")


def test_list_rejects_a_malformed_partner(api):
    assert_error(api.list("not-a-guid"), 400, "Invalid partnerId")


def test_list_of_an_unknown_partner_is_empty(api):
    assert api.list("11111111-2222-4333-8444-555555555555").get_json() == []


def test_list_accepts_paging_parameters(api, three_orders):
    assert len(api.list(DEMO, pageSize="1", pageKey="", sync="true", lastRowVersion="0").get_json()) == 3
