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


def test_real_orders_validate_against_the_document(live):
    from tests.helpers import BASE, DEMO, HEADERS, line, order_body

    document = json.loads(OPENAPI.read_text())
    created = requests.post(live.url + BASE, json=order_body(reference="DOC", items=[
        line(quantity=2), line(item="32001", visit_date="2031-06-03", wallet={"componentSchedule": [
            {"itemNumber": "31010", "visitDate": "2031-06-04", "visitTime": "12:00:00"}]})]), headers=HEADERS, timeout=30)
    validate(document, "Order", created.json())
    listed = requests.get(f"{live.url}{BASE}/orders/{DEMO}", headers=HEADERS, timeout=30).json()
    validate(document, "OrderSummary", listed[0])


def test_the_seed_examples_validate_against_the_document():
    document = json.loads(OPENAPI.read_text())
    examples = json.loads(SEED_EXAMPLES.read_text())
    validate(document, "OrderRequest", examples["createOrder request"])
    validate(document, "OrderRequest", examples["replaceOrder request"])
    validate(document, "ConfirmRequest", examples["confirmOrder request"])
    validate(document, "Order", examples["order response"])
    for summary in examples["listOrdersByPartner response"]:
        validate(document, "OrderSummary", summary)


def test_the_document_is_served(client):
    response = client.get("/_sim/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == json.loads(OPENAPI.read_text())


def validate(document, name, instance):
    schema = {**document["components"]["schemas"][name], "components": document["components"]}
    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())
