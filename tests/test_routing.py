"""Paths, auth, methods and namespaces."""

import pytest

from tests.helpers import BASE, DEMO, HEADERS, TENANT, TUESDAY, Api, assert_error, order_body


def test_missing_or_empty_api_key_is_401(client):
    for headers in ({}, {"x-np-api-key": ""}, {"x-np-api-key": "  "}):
        response = client.post(BASE, json=order_body(), headers=headers)
        assert_error(
            response,
            401,
            "Missing API key: send your NaviPartner API key in the x-np-api-key header",
            code="unauthorized",
        )
    assert Api(client).list(DEMO).get_json() == []


def test_any_api_key_and_version_header_are_accepted(client):
    api = Api(client, headers={"x-np-api-key": "anything", "x-api-version": "2025-01-17"})
    assert api.create(order_body()).status_code == 201


def test_unknown_module_is_404(client):
    response = client.get(f"/{TENANT}/production/CRONUS/configurations/x", headers=HEADERS)
    assert_error(response, 404, "/configurations/x Not Found", code="resource_not_found")


@pytest.mark.parametrize(
    "method, suffix",
    [
        ("GET", "/orders/x/y"),
        ("POST", "/x"),
        ("POST", "/x/cancel"),
        ("PUT", ""),
        ("DELETE", "/x/y"),
        ("PATCH", "/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8"),
        ("POST", "/"),
    ],
)
def test_unmatched_channel_manager_route_is_404(client, method, suffix):
    response = client.open(BASE + suffix, method=method, json={}, headers=HEADERS)
    assert_error(response, 404, "API endpoint not found Not Found", code="resource_not_found")


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "TRACE"])
def test_unsupported_method_is_400(client, method):
    response = client.open(BASE, method=method, headers=HEADERS)
    assert response.status_code == 400
    if method != "HEAD":
        assert response.get_json() == {
            "code": "unsupported_http_method",
            "message": f"Http method {method} is not supported",
        }


def test_orders_without_partner_is_read_as_an_order_id(client):
    assert_error(client.get(BASE + "/orders", headers=HEADERS), 400, "Invalid order id")


def test_empty_order_id_is_invalid(client):
    assert_error(client.get(BASE + "/", headers=HEADERS), 400, "Invalid order id")


def test_literal_segments_match_case_insensitively(client):
    api = Api(client)
    order = api.created(order_body(paid=False))
    base = BASE.replace("channelManager", "CHANNELMANAGER")
    assert client.get(f"{base}/ORDERS/{DEMO}", headers=HEADERS).get_json()[0]["orderId"] == order["orderId"]
    response = client.post(f"{base}/{order['orderId']}/Confirm", json={"paymentReference": "P"}, headers=HEADERS)
    assert response.get_json()["status"] == "Issued"


def test_every_response_is_json_with_platform_headers(client):
    response = client.get(BASE + "/orders", headers=HEADERS)
    assert response.content_type.startswith("application/json")
    for header in (
        "x-npr-version",
        "x-bc-platform-version",
        "x-bc-user-id",
        "x-npr-start-time",
        "x-npr-end-time",
        "x-npr-duration",
    ):
        assert header in response.headers


def test_unknown_paths_outside_the_api_answer_json_404(client):
    for path in ("/", "/nothing", "/a/b", "/_sim/nothing"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["code"] == "resource_not_found"


def test_health(client):
    response = client.get("/_sim/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_oversized_body_is_413_json(client):
    response = client.post(BASE, data=b"{" + b" " * (33 * 1024 * 1024) + b"}", headers=HEADERS)
    assert response.status_code == 413
    assert response.get_json()["code"] == "generic_error"


# -- namespaces --------------------------------------------------------------


def test_namespaces_are_isolated(client):
    first = Api(client, f"/{TENANT}/production/Company A/channelManager")
    second = Api(client, f"/{TENANT}/production/Company B/channelManager")
    sandbox = Api(client, f"/{TENANT}/sandbox/Company A/channelManager")
    order = first.created(order_body(reference="SAME"))
    assert second.created(order_body(reference="SAME"))["orderId"] != order["orderId"]
    assert sandbox.created(order_body(reference="SAME"))["orderId"] != order["orderId"]
    assert second.get(order["orderId"]).status_code == 404
    assert [s["orderId"] for s in first.list(DEMO).get_json()] == [order["orderId"]]
    assert len(second.list(DEMO).get_json()) == 1


def test_single_and_double_encoded_company_are_the_same_namespace(client):
    double = Api(client, f"/{TENANT}/production/CRONUS%2520International%2520Ltd./channelManager")
    single = Api(client, f"/{TENANT}/production/CRONUS%20International%20Ltd./channelManager")
    order = double.created(order_body())
    assert single.get(order["orderId"]).get_json() == order


def test_external_references_and_capacity_are_per_namespace(client):
    first = Api(client, f"/{TENANT}/production/One/channelManager")
    second = Api(client, f"/{TENANT}/production/Two/channelManager")
    body = order_body(
        items=[
            {
                "itemNumber": "33001",
                "quantity": 2000,
                "visitDate": TUESDAY,
                "visitTime": "10:00:00",
                "wallet": {"externalReferenceNumbers": ["EXT"]},
            }
        ]
    )
    first.created(body)
    second.created(body)


@pytest.mark.parametrize("method", ["OPTIONS", "HEAD", "TRACE", "FOO"])
def test_the_api_key_is_checked_before_the_method(client, method):
    response = client.open(BASE, method=method)
    assert response.status_code == 401
    if method != "HEAD":
        assert response.get_json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    "order_id",
    [
        "urn:uuid:9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8",
        "9c6b2f4e2b714d239d6aa3b4c5d6e7f8",
        "{9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8",
        "9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8}",
        "9c6b2f4e2b714d239d6aa3b4c5d6e7f8----",
    ],
)
def test_only_plain_or_braced_guids_are_order_ids(client, order_id):
    assert_error(client.get(f"{BASE}/{order_id}", headers=HEADERS), 400, "Invalid order id")
