"""The OpenAPI document: served, proven against the live server, and true to the seed's examples."""
import json
from pathlib import Path

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance,
)

from simulator import Backend, create_app
from simulator.server import ThreadedServer

OPENAPI = Path(__file__).resolve().parent.parent / "simulator" / "openapi.json"
SEED_EXAMPLES = Path(__file__).resolve().parent / "data" / "seed_examples.json"
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def live():
    with ThreadedServer(create_app(Backend(seed=3))) as server:
        yield server


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_server_keeps_the_contract(case, live):
    case.call_and_validate(base_url=live.url, headers={"x-np-api-key": "contract-test"}, checks=CHECKS)


def test_every_operation_and_status_keeps_the_document(live):
    """Real answers of every operation, successes and each kind of error, against the document."""
    from tests.helpers import BASE, DEMO, HEADERS, line, order_body

    document = json.loads(OPENAPI.read_text())
    root = "/{tenant}/{environment}/{company}/channelManager"
    seen = set()

    def check(method, template, response):
        operation = document["paths"][template][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], (method, template, status, response.text)
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        validate_schema(document, schema, response.json())
        seen.add((method, template, status))
        return response

    def call(method, path, template, **kwargs):
        kwargs.setdefault("headers", HEADERS)
        return check(method, template, requests.request(method, live.url + BASE + path, timeout=30, **kwargs))

    rule = lambda **r: requests.post(live.url + "/_sim/faults", json=r, timeout=10)
    body = order_body(reference="DOC", items=[line(quantity=2), line(item="32001", visit_date="2031-06-03", wallet={
        "componentSchedule": [{"itemNumber": "31010", "visitDate": "2031-06-04", "visitTime": "12:00:00"}]})])
    order = call("POST", "", root, json=body).json()
    call("POST", "", root, json=body)  # duplicate: 400
    call("POST", "", root, json=order_body(reference="DOC-PAST", items=[line(visit_date="2020-01-01")]))
    call("POST", "", root, json=body, headers={})  # 401
    call("POST", "", root, data=b"{" + b" " * (33 * 1024 * 1024) + b"}", headers=HEADERS)  # 413
    rule(operation="create", respond=429, times=1)
    call("POST", "", root, json=body)
    rule(operation="create", respond=503, times=1)
    call("POST", "", root, json=body)
    rule(operation="create", stick_in_processing=True, times=1)
    call("POST", "", root, json=order_body(reference="DOC-STUCK"))
    draft = call("POST", "", root, json=order_body(reference="DOC-DRAFT", paid=False)).json()

    one = root + "/{orderId}"
    call("GET", f"/{order['orderId']}", one)
    call("GET", "/not-a-guid", one)
    call("GET", "/9c6b2f4e-2b71-4d23-9d6a-a3b4c5d6e7f8", one)
    call("PUT", f"/{order['orderId']}", one, json=body)  # Issued: 400
    call("PUT", f"/{draft['orderId']}", one, json=order_body(reference="DOC-DRAFT", paid=False))
    call("POST", f"/{draft['orderId']}/confirm", one + "/confirm", json={})
    call("POST", f"/{draft['orderId']}/confirm", one + "/confirm", json={"paymentReference": "P"})
    call("DELETE", f"/{order['orderId']}", one)
    call("DELETE", f"/{draft['orderId']}", one)
    listed = root + "/orders/{partnerId}"
    call("GET", f"/orders/{DEMO}", listed)
    call("GET", f"/orders/{DEMO}", listed, params={"receivedAtFrom": "yesterday"})
    call("GET", "/orders/nope", listed)
    assert len(seen) == 16  # distinct (method, path, status) answers checked


def test_the_seed_examples_validate_against_the_document():
    document = json.loads(OPENAPI.read_text())
    examples = json.loads(SEED_EXAMPLES.read_text())
    validate(document, "OrderRequest", examples["createOrder request"])
    validate(document, "OrderRequest", examples["replaceOrder request"])
    validate(document, "ConfirmRequest", examples["confirmOrder request"])
    validate(document, "Order", examples["order response"])
    for summary in examples["listOrdersByPartner response"]:
        validate(document, "OrderSummary", summary)


def test_the_document_is_served_naming_the_server(client):
    response = client.get("/_sim/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == {**json.loads(OPENAPI.read_text()), "servers": [{"url": "http://localhost"}]}


def validate(document, name, instance):
    validate_schema(document, document["components"]["schemas"][name], instance)


def validate_schema(document, schema, instance):
    schema = {**schema, "components": document["components"]}
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())
