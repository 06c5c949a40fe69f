"""Every validation message of the synchronous API, in the real order; none stores anything."""

import pytest

from tests.helpers import DEMO, DORMANT, TUESDAY, assert_error, line, order_body, with_value, without

BODY = order_body(items=[line()])
PACKAGE = order_body(items=[line(item="32001")])


def package_schedule(entries):
    return with_value(PACKAGE, "items", 0, "wallet", {"componentSchedule": entries})


CASES = [
    # body and header
    ([1, 2], "Body must be a JSON object"),
    ("text", "Body must be a JSON object"),
    (without(BODY, "partnerId"), "Required field 'partnerId' is missing"),
    (with_value(BODY, "partnerId", {"id": DEMO}), "Required field 'partnerId' must be a primitive value"),
    (with_value(BODY, "partnerId", None), "Required field 'partnerId' cannot be null"),
    (with_value(BODY, "partnerId", ""), "Required field 'partnerId' cannot be empty"),
    (with_value(BODY, "partnerId", "not-a-guid"), "partnerId is not a valid GUID"),
    (without(BODY, "sellToOrderReference"), "Required field 'sellToOrderReference' is missing"),
    (
        with_value(BODY, "sellToOrderReference", ["A"]),
        "Required field 'sellToOrderReference' must be a primitive value",
    ),
    (with_value(BODY, "sellToOrderReference", None), "Required field 'sellToOrderReference' cannot be null"),
    (with_value(BODY, "sellToOrderReference", ""), "Required field 'sellToOrderReference' cannot be empty"),
    (with_value(BODY, "sellToEmail", {}), "Optional field 'sellToEmail' must be a primitive value"),
    (with_value(BODY, "sellToName", []), "Optional field 'sellToName' must be a primitive value"),
    (with_value(BODY, "sellToLanguage", {}), "Optional field 'sellToLanguage' must be a primitive value"),
    (with_value(BODY, "paymentReference", []), "Optional field 'paymentReference' must be a primitive value"),
    (
        with_value(BODY, "partnerId", "00000000-1111-2222-3333-444444444444"),
        "Unknown partnerId '{00000000-1111-2222-3333-444444444444}'",
    ),
    (with_value(BODY, "partnerId", DORMANT), "Partner 'Dormant Channel' is not active"),
    # items
    (without(BODY, "items"), "items array is required"),
    (with_value(BODY, "items", {"itemNumber": "31001"}), "items must be an array"),
    (with_value(BODY, "items", []), "items array must contain at least one entry"),
    (with_value(BODY, "items", [line(), "31001"]), "items[1] must be an object"),
    (without(BODY, "items", 0, "itemNumber"), "Required field 'itemNumber' is missing"),
    (with_value(BODY, "items", 0, "itemNumber", ""), "Required field 'itemNumber' cannot be empty"),
    (with_value(BODY, "items", 0, "itemNumber", "99999"), "Unknown item '99999'"),
    (with_value(BODY, "items", [line(), line(quantity=0)]), "quantity must be >= 1 (line 20000)"),
    (with_value(BODY, "items", 0, "quantity", -3), "quantity must be >= 1 (line 10000)"),
    (without(BODY, "items", 0, "visitDate"), "Required field 'visitDate' is missing"),
    (with_value(BODY, "items", 0, "visitDate", None), "Required field 'visitDate' cannot be null"),
    (with_value(BODY, "items", 0, "visitDate", "01-06-2027"), "Required field 'visitDate' must be YYYY-MM-DD"),
    (with_value(BODY, "items", 0, "visitDate", "2027-02-30"), "Required field 'visitDate' must be YYYY-MM-DD"),
    (without(BODY, "items", 0, "visitTime"), "Required field 'visitTime' is missing"),
    (with_value(BODY, "items", 0, "visitTime", "10:30"), "Required field 'visitTime' must be HH:mm:ss"),
    (with_value(BODY, "items", 0, "visitTime", "24:00:00"), "Required field 'visitTime' must be HH:mm:ss"),
    # wallet block
    (
        with_value(BODY, "items", 0, "wallet", {"names": ["A", "B"]}),
        "wallet.names array length (2) must equal 1 on line 10000",
    ),
    (
        with_value(BODY, "items", [line(quantity=3, wallet={"externalReferenceNumbers": ["X"]})]),
        "wallet.externalReferenceNumbers array length (1) must equal 3 on line 10000",
    ),
    (
        with_value(BODY, "items", [line(item="33001", quantity=5, wallet={"names": ["A", "B", "C", "D", "E"]})]),
        "wallet.names array length (5) must equal 1 on line 10000",
    ),
    (
        with_value(BODY, "items", 0, "wallet", {"componentSchedule": []}),
        "wallet.componentSchedule is only valid for package items (line 10000)",
    ),
    (package_schedule(["31010"]), "wallet.componentSchedule entries must be objects (line 10000)"),
    (package_schedule([{"visitDate": TUESDAY, "visitTime": "10:00:00"}]), "Required field 'itemNumber' is missing"),
    (
        package_schedule([{"itemNumber": "31002", "visitDate": TUESDAY, "visitTime": "10:00:00"}]),
        "'31002' is not a component of package '32001' (line 10000)",
    ),
    (
        package_schedule([{"itemNumber": "31010", "visitDate": "2027-6-1", "visitTime": "10:00:00"}]),
        "Required field 'visitDate' must be YYYY-MM-DD",
    ),
    (
        package_schedule([{"itemNumber": "31010", "visitDate": TUESDAY, "visitTime": "10"}]),
        "Required field 'visitTime' must be HH:mm:ss",
    ),
    (package_schedule([{"itemNumber": "31010", "visitDate": TUESDAY}]), "Required field 'visitTime' is missing"),
]


@pytest.mark.parametrize("body, message", CASES)
def test_create_rejects_with_the_real_message_and_stores_nothing(api, body, message):
    response = api.create(body)
    assert_error(response, 400, message)
    assert api.list(DEMO).get_json() == []


def test_create_rejects_a_body_that_is_not_json(client):
    from tests.helpers import BASE, HEADERS

    for data in (b"", b"{not json", b'{"a": NaN}', b"\xff\xfe"):
        response = client.post(BASE, data=data, headers={**HEADERS, "Content-Type": "application/json"})
        assert_error(response, 400, "Body must be a JSON object")


def test_create_validates_header_before_partner_and_partner_before_items(api):
    body = with_value(with_value(BODY, "partnerId", DORMANT), "items", [])
    assert_error(api.create(body), 400, "Partner 'Dormant Channel' is not active")
    body = with_value(without(BODY, "sellToOrderReference"), "partnerId", DORMANT)
    assert_error(api.create(body), 400, "Required field 'sellToOrderReference' is missing")


def test_create_reports_the_first_failing_line(api):
    body = with_value(BODY, "items", [line(), line(item="X1"), line(item="X2")])
    assert_error(api.create(body), 400, "Unknown item 'X1'")


def test_create_rejects_a_quantity_that_is_not_a_number(api):
    body = with_value(BODY, "items", 0, "quantity", "two")
    assert_error(api.create(body), 400, "quantity must be an integer (line 10000)")


def test_create_rejects_more_wallets_than_the_issuer_can_encode(api):
    body = with_value(BODY, "items", 0, "quantity", 10000)
    response = api.create(body)
    assert response.status_code == 400
    assert "SeqNo must stay below 10000" in response.get_json()["message"]
    assert api.list(DEMO).get_json() == []


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("visitTime", "10:00:00\n", "Required field 'visitTime' must be HH:mm:ss"),
        ("visitDate", f"{TUESDAY}\n", "Required field 'visitDate' must be YYYY-MM-DD"),
        ("visitTime", "\u0661\u0660:00:00", "Required field 'visitTime' must be HH:mm:ss"),
    ],
)
def test_dates_and_times_must_match_exactly(api, field, value, message):
    assert_error(api.create(with_value(BODY, "items", 0, field, value)), 400, message)


def test_partner_id_must_be_a_plain_or_braced_guid(api):
    for text in ("21e8c1d23f4a4c5b9e6d7f8a9b0c1d2e----", "urn:21e8c1d2-3f4a-4c5b-9e6d-7f8a9b0c1d2e"):
        assert_error(api.create(with_value(BODY, "partnerId", text)), 400, "partnerId is not a valid GUID")
    braced = "{" + DEMO.upper() + "}"
    assert api.create(with_value(BODY, "partnerId", braced)).get_json()["partnerId"] == DEMO


def test_lone_surrogates_become_replacement_characters(client):
    from tests.helpers import BASE, HEADERS

    raw = (
        b'{"partnerId":"' + DEMO.encode() + b'","sellToOrderReference":"SUR\\ud800","sellToName":"A\\udfffB",'
        b'"items":[{"itemNumber":"\\ud800","visitDate":"' + TUESDAY.encode() + b'","visitTime":"10:00:00"}]}'
    )
    response = client.post(BASE, data=raw, headers={**HEADERS, "Content-Type": "application/json"})
    assert_error(response, 400, "Unknown item '\ufffd'")
    raw = raw.replace(b'"\\ud800","visitDate"', b'"31001","visitDate"')
    response = client.post(BASE, data=raw, headers={**HEADERS, "Content-Type": "application/json"})
    assert response.status_code == 201
    order = response.get_json()
    assert (order["sellToOrderReference"], order["sellToName"]) == ("SUR\ufffd", "A\ufffdB")
    assert client.get(f"{BASE}/orders/{DEMO}", headers=HEADERS).get_json()[0]["orderId"] == order["orderId"]
