"""The OpenAPI document: served, proven against the live server, its examples usable, and true
to the seed's examples."""

import json
from pathlib import Path

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.helpers import BASE, DEMO, HEADERS, line, order_body, visit_day

OPENAPI = Path(__file__).resolve().parent.parent / "simulator" / "openapi.json"
SEED_EXAMPLES = Path(__file__).resolve().parent / "data" / "seed_examples.json"
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PINNED = "2026-05-15T09:30:00Z"  # the getting-started page's receivedAt: its visit date 2026-06-01 lies ahead


@pytest.fixture(scope="module")
def live():
    with ThreadedServer(create_app(Backend(seed=3))) as server:
        yield server


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_live_server_keeps_the_contract(case, live):
    case.call_and_validate(base_url=live.url, headers={"x-np-api-key": "contract-test"}, checks=CHECKS)


def test_the_examples_do_what_their_summaries_say(client):
    """Every example is valid for its schema (schemathesis drops the others silently), and with
    the clock at the getting-started page's receivedAt the request examples create, replace and
    confirm orders as their summaries say; any x-api-version is accepted."""
    document = json.loads(OPENAPI.read_text())
    for item in document["paths"].values():
        operations = [operation for method, operation in item.items() if method != "parameters"]
        for parameter in item["parameters"] + [each for op in operations for each in op.get("parameters", [])]:
            for example in _examples(parameter):
                validate_schema(document, parameter["schema"], example)
        for operation in operations:
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            for example in _examples(content):
                validate_schema(document, content["schema"], example)
    for schema in document["components"]["schemas"].values():
        for field in schema.get("properties", {}).values():
            for example in field.get("examples", []):
                validate_schema(document, field, example)

    assert client.put("/_sim/clock", json={"now": PINNED}).status_code == 200
    headers = {**HEADERS, "x-api-version": "not a date"}
    created = {}
    for name, example in _body(document, "createOrder")["examples"].items():
        response = client.post(BASE, json=example["value"], headers=headers)
        assert response.status_code == 201, (name, response.get_json())
        created[name] = response.get_json()
        assert created[name]["status"] in example["summary"], (name, example["summary"])
    assert [name for name, order in created.items() if order["status"] == "Issued"] == ["paid"]

    [replacement] = _examples(_body(document, "replaceOrder"))
    other = BASE.replace("CRONUS", "OTHER")  # the paid example holds the page's reference in BASE
    draft = client.post(other, json=replacement, headers=headers).get_json()  # the page replaces a Draft
    replaced = client.put(f"{other}/{draft['orderId']}", json=replacement, headers=headers)
    assert replaced.status_code == 200 and replaced.get_json()["status"] == "Draft", replaced.get_json()
    [confirmation] = _examples(_body(document, "confirmOrder"))
    confirmed = client.post(f"{other}/{draft['orderId']}/confirm", json=confirmation, headers=headers)
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "Issued", confirmed.get_json()


def _body(document: dict, operation_id: str) -> dict:
    """The JSON request body of an operation: its schema and examples."""
    [operation] = [
        operation
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and operation.get("operationId") == operation_id
    ]
    return operation["requestBody"]["content"]["application/json"]


def _examples(container: dict) -> list:
    """The example values of a parameter or media type (`examples` map, or `example`)."""
    named = [example["value"] for example in container.get("examples", {}).values()]
    return named + ([container["example"]] if "example" in container else [])


def test_every_operation_and_status_keeps_the_document(live):
    """Real answers of every operation, successes and each kind of error, against the document."""
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

    def rule(**fields):
        return requests.post(live.url + "/_sim/faults", json=fields, timeout=10)

    tuesday = visit_day(weekday=1)
    wednesday = visit_day(weekday=2)
    body = order_body(
        reference="DOC",
        items=[
            line(quantity=2),
            line(
                item="32001",
                visit_date=tuesday,
                wallet={
                    "componentSchedule": [{"itemNumber": "31010", "visitDate": wednesday, "visitTime": "12:00:00"}]
                },
            ),
        ],
    )
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
