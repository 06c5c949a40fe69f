"""createOrder: the issued order, its wallets and tickets, and how fields are stored."""

import re

from tests.helpers import (
    ASSET_FIELDS,
    DEMO,
    LINE_FIELDS,
    ORDER_FIELDS,
    PLAIN,
    WALLET_FIELDS,
    assert_error,
    line,
    order_body,
    seed_create_body,
    visit_day,
)

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def test_create_seed_order_is_issued_with_a_wallet_per_ticket(api):
    body = seed_create_body()
    response = api.create(body)
    assert response.status_code == 201
    order = response.get_json()
    assert list(order)[: len(ORDER_FIELDS)] == ORDER_FIELDS
    assert list(order)[len(ORDER_FIELDS) :] == ["manifestUrl", "items"]
    assert GUID.match(order["orderId"])
    assert order["status"] == "Issued"
    assert order["statusMessage"] == ""
    assert order["partnerId"] == DEMO
    assert order["sellToOrderReference"] == "PARTNER-ORDER-2026-00042"
    assert (order["sellToEmail"], order["sellToName"], order["sellToLanguage"]) == (
        "guest@example.com",
        "Jane Doe",
        "ENU",
    )
    assert order["paymentReference"] == "PAY-987654"
    assert UTC.match(order["receivedAt"])
    assert re.match(r"^TM-IMPORT-\d{6}$", order["jobId"])
    assert order["manifestUrl"].startswith("http://localhost/_sim/manifest?mid=")

    [item] = order["items"]
    assert list(item) == LINE_FIELDS + ["wallets"]
    assert item["lineNo"] == 10000
    assert (item["itemNumber"], item["description"], item["isPackage"], item["quantity"]) == (
        "31001",
        "Adult Admission",
        False,
        2,
    )
    assert (item["visitDate"], item["visitTime"]) == (body["items"][0]["visitDate"], "10:30:00")
    assert (item["sellToName"], item["sellToEmail"], item["sellToLanguage"]) == ("Jane Doe", "guest@example.com", "ENU")

    wallets = item["wallets"]
    assert [w["seqNo"] for w in wallets] == [1, 2]
    assert [w["name"] for w in wallets] == ["Jane Doe", "John Doe"]
    assert [w["externalReferenceNumber"] for w in wallets] == ["JD-2026-001", "JOHN-2026-001"]
    for wallet in wallets:
        assert list(wallet) == WALLET_FIELDS + ["manifestUrl", "assets"]
        assert GUID.match(wallet["walletId"])
        assert re.match(r"^[1-9]\d{17}$", wallet["walletReferenceNumber"])
        assert UTC.match(wallet["issuedAt"])
        assert (wallet["unitPriceExclVat"], wallet["unitPriceInclVat"], wallet["currencyCode"]) == (80, 100, "DKK")
        assert wallet["manifestUrl"].endswith("&wallet=" + wallet["walletId"])
        [asset] = wallet["assets"]
        assert list(asset) == ASSET_FIELDS
        assert asset["type"] == "ticket"
        assert GUID.match(asset["id"]) and GUID.match(asset["assetId"])
        assert re.match(r"^ATF-BIL\d{6}[A-Z]-\d$", asset["referenceNumber"])
        assert (asset["itemNumber"], asset["description"]) == ("31001", "Adult Admission")
    numbers = [a["referenceNumber"] for w in wallets for a in w["assets"]]
    assert len(set(numbers)) == 2
    assert wallets[0]["walletReferenceNumber"] != wallets[1]["walletReferenceNumber"]


def test_create_without_payment_reference_is_draft_with_tickets_but_no_manifest(api):
    order = api.created(order_body(paid=False, items=[line(quantity=2)]))
    assert order["status"] == "Draft"
    assert order["paymentReference"] == ""
    assert "manifestUrl" not in order
    assert order["jobId"].startswith("TM-IMPORT-")
    wallets = order["items"][0]["wallets"]
    assert len(wallets) == 2
    assert all(w["walletReferenceNumber"] and w["assets"][0]["referenceNumber"] for w in wallets)
    assert all("manifestUrl" not in w for w in wallets)


def test_create_for_partner_without_manifests_has_no_manifest_url(api):
    order = api.created(order_body(partner=PLAIN))
    assert order["status"] == "Issued"
    assert "manifestUrl" not in order
    assert "manifestUrl" not in order["items"][0]["wallets"][0]


def test_create_defaults_wallet_name_and_generates_external_references(api):
    order = api.created(order_body(items=[line(quantity=2)]))
    wallets = order["items"][0]["wallets"]
    assert [w["name"] for w in wallets] == ["Adult Admission", "Adult Admission"]
    for wallet in wallets:
        # [S][N*1]: the wallet's own number followed by one digit
        assert re.match(r"^\d{19}$", wallet["externalReferenceNumber"])
        assert wallet["externalReferenceNumber"].startswith(wallet["walletReferenceNumber"])


def test_create_quantity_defaults_to_one(api):
    order = api.created(order_body(items=[line(quantity=None)]))
    assert order["items"][0]["quantity"] == 1
    assert len(order["items"][0]["wallets"]) == 1


def test_create_lines_are_numbered_in_steps_of_10000(api):
    order = api.created(order_body(items=[line(), line("31002"), line("31010")]))
    assert [i["lineNo"] for i in order["items"]] == [10000, 20000, 30000]
    assert [i["wallets"][0]["unitPriceInclVat"] for i in order["items"]] == [100, 50, 150]


def test_create_code_fields_are_uppercased_trimmed_and_truncated(api):
    body = order_body(
        reference="  partner-order-" + "x" * 60,
        sellToLanguage="enu",
        paymentReference="pay-" + "9" * 30,
        sellToName="N" * 150,
        sellToEmail="e" * 150,
    )
    order = api.created(body)
    assert order["sellToOrderReference"] == ("PARTNER-ORDER-" + "X" * 60)[:48]
    assert order["sellToLanguage"] == "ENU"
    assert order["paymentReference"] == ("PAY-" + "9" * 30)[:20]
    assert order["sellToName"] == "N" * 100
    assert order["sellToEmail"] == "e" * 100


def test_create_line_overrides_header_values_and_null_blanks_them(api):
    items = [
        line(sellToName="Line Name", sellToEmail="line@example.com", sellToLanguage="dan"),
        line(sellToName=None, sellToEmail=None, sellToLanguage=None),
        line(),
    ]
    order = api.created(order_body(items=items))
    values = [(i["sellToName"], i["sellToEmail"], i["sellToLanguage"]) for i in order["items"]]
    assert values == [
        ("Line Name", "line@example.com", "DAN"),
        ("", "", ""),
        ("Jane Doe", "guest@example.com", "ENU"),
    ]


def test_create_accepts_primitive_values_as_text(api):
    order = api.created(order_body(items=[line(item=31001)], paymentReference=12345))
    assert order["items"][0]["itemNumber"] == "31001"
    assert order["paymentReference"] == "12345"


def test_create_wallet_entries_are_truncated_to_100(api):
    wallet = {"names": ["n" * 120], "externalReferenceNumbers": ["R" * 120]}
    order = api.created(order_body(items=[line(wallet=wallet)]))
    created = order["items"][0]["wallets"][0]
    assert created["name"] == "n" * 100
    assert created["externalReferenceNumber"] == "R" * 100


def test_create_ignores_wallet_parts_that_are_not_arrays(api):
    wallet = {"names": "Jane", "externalReferenceNumbers": {"a": 1}, "componentSchedule": "x"}
    order = api.created(order_body(items=[line(wallet=wallet)]))
    assert order["items"][0]["wallets"][0]["name"] == "Adult Admission"
    order = api.created(order_body(reference="REF-2", items=[line(wallet="not an object")]))
    assert order["items"][0]["wallets"][0]["name"] == "Adult Admission"


def test_create_duplicate_reference_is_rejected_case_insensitively(api):
    api.created(order_body(reference="DUP-1"))
    response = api.create(order_body(reference="dup-1"))
    assert_error(
        response, 400, "An order with sellToOrderReference 'DUP-1' already exists for partner 'Demo Sales Channel'"
    )
    assert len(api.list(DEMO).get_json()) == 1


def test_create_duplicate_check_comes_before_the_items(api):
    api.created(order_body(reference="DUP-2"))
    response = api.create(order_body(reference="DUP-2", items=[]))
    assert_error(
        response, 400, "An order with sellToOrderReference 'DUP-2' already exists for partner 'Demo Sales Channel'"
    )


def test_create_same_reference_for_another_partner_is_allowed(api):
    api.created(order_body(reference="SHARED"))
    assert api.created(order_body(reference="SHARED", partner=PLAIN))["partnerId"] == PLAIN


def test_create_over_an_error_order_replaces_it(api):
    failing = order_body(reference="RETRY-1", items=[line(visit_date=visit_day(weekday=0), item="31010")])
    response = api.create(failing)
    assert response.status_code == 400
    stale = api.find("RETRY-1")
    assert stale["status"] == "Error"

    order = api.created(order_body(reference="RETRY-1"))
    assert order["status"] == "Issued"
    assert order["orderId"] != stale["orderId"]
    assert api.get(stale["orderId"]).status_code == 404
    assert api.find("RETRY-1")["orderId"] == order["orderId"]


def test_create_invalid_request_over_an_error_order_leaves_it_in_place(api):
    api.create(order_body(reference="RETRY-2", items=[line(visit_date=visit_day(weekday=0), item="31010")]))
    stale = api.find("RETRY-2")
    response = api.create(order_body(reference="RETRY-2", items=[line(item="99999")]))
    assert_error(response, 400, "Unknown item '99999'")
    assert api.find("RETRY-2") == stale


def test_get_returns_the_stored_order(api):
    order = api.created(seed_create_body())
    response = api.get(order["orderId"])
    assert response.status_code == 200
    assert response.get_json() == order


def test_get_accepts_braced_uppercase_order_id(api):
    order = api.created(order_body())
    response = api.get("{" + order["orderId"].upper() + "}")
    assert response.status_code == 200
    assert response.get_json()["orderId"] == order["orderId"]
