"""The OpenAPI document: what partners run schemathesis against, proven against the live server,
its examples usable, and true to the seed's examples."""

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import jsonschema
import pytest
import requests

from simulator import Backend, create_app
from simulator.server import ThreadedServer
from tests.doc_examples import ROOT, blocks
from tests.helpers import BASE, DEMO, HEADERS, Served, line, order_body, visit_day

OPENAPI = ROOT / "simulator" / "openapi.json"
SEED_EXAMPLES = Path(__file__).resolve().parent / "data" / "seed_examples.json"
CONTRACT_TESTING = ROOT / "docs" / "contract-testing.md"
BIN = Path(sys.executable).parent
DOCUMENTED_SERVER = "127.0.0.1:8080"  # where the docs' commands find the simulator
EXCLUDED_CHECKS = "ignored_auth,positive_data_acceptance,unsupported_method,negative_data_rejection,use_after_free"
LINKED = {"getOrder": "get", "confirmOrder": "confirm", "replaceOrder": "replace", "deleteOrder": "delete"}
PINNED = "2026-05-15T09:30:00Z"  # the getting-started page's receivedAt: its visit date 2026-06-01 lies ahead


@pytest.fixture(scope="module")
def live():
    with ThreadedServer(create_app(Backend(seed=3))) as server:
        yield server


def documented_commands() -> list[str]:
    """The shell commands of docs/contract-testing.md, each on one line."""
    text = "".join(blocks(CONTRACT_TESTING.read_text(), "sh")).replace("\\\n", " ")
    return [" ".join(command.split()) for command in text.splitlines() if command.strip()]


def test_the_documented_schemathesis_runs_find_nothing(tmp_path):
    """The partner's commands of docs/contract-testing.md, as written but for the port, against
    `cm-sim serve`: both runs find nothing, and the stateful phase of the order run follows the
    links from createOrder to getOrder, confirmOrder, replaceOrder and deleteOrder with 2xx
    answers. The test adds an NDJSON report to see which phase made which call."""
    clock, orders_run, webhooks_run = documented_commands()
    assert clock.startswith(f"curl -s -X PUT http://{DOCUMENTED_SERVER}/_sim/clock ") and PINNED in clock
    for command, tag in ((orders_run, "Orders"), (webhooks_run, "Webhooks")):
        assert command.startswith(
            f"schemathesis run http://{DOCUMENTED_SERVER}/_sim/openapi.json --checks all "
            f"--exclude-checks {EXCLUDED_CHECKS} -H 'x-np-api-key: any-key' "
            f"--include-tag {tag} "
        ), command

    served = Served()
    try:
        assert json.loads(_paste(clock, served, tmp_path))["now"][:16] == PINNED[:16]  # the clock runs on
        orders = _paste(orders_run + f" --report ndjson --report-dir {tmp_path / 'orders'}", served, tmp_path)
        assert re.search(r"API Links: +4 covered / 4 selected / 6 total\n", orders), orders
        reached = _stateful_successes(tmp_path / "orders")
        assert set(LINKED) <= set(reached), (sorted(reached), orders)
        for operation, operation_name in LINKED.items():  # the server's side of the same calls
            order_id, status = reached[operation][-1]
            journal = requests.get(
                f"{served.url}/_sim/journal",
                timeout=30,
                params={"operation": operation_name, "orderId": order_id, "status": status},
            ).json()
            assert journal, (operation, order_id, status)
        _paste(webhooks_run, served, tmp_path)
    finally:
        served.stop()


def _paste(command: str, served: Served, cwd: Path) -> str:
    """Run a documented command in bash against the served simulator; what it printed, after
    checking that it succeeded (for schemathesis: no failures and no errors)."""
    command = command.replace(DOCUMENTED_SERVER, served.url.removeprefix("http://"))
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    if command.startswith("schemathesis"):
        [summary] = re.findall(r"^=+ (.*) in [\d.]+s =+$", done.stdout, re.M)  # "No issues found", "1 warning"
        assert not re.search(r"fail|error", summary, re.I), done.stdout
    return done.stdout


def _stateful_successes(report_dir: Path) -> dict[str, list[tuple[str, int]]]:
    """operationId -> (orderId, status) of every 2xx answer to a call of the stateful phase that
    followed a link, from schemathesis' NDJSON report. Positive test cases only: their bodies
    keep to the document."""
    document = json.loads(OPENAPI.read_text())
    operation_ids = {
        (method.upper(), path): operation["operationId"]
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    [report] = report_dir.glob("*.ndjson")
    reached = defaultdict(list)
    for text in report.read_text().splitlines():
        event = json.loads(text).get("ScenarioFinished")
        if not event or event["phase"] != "stateful" or "cases" not in event["recorder"]:
            continue
        recorder = event["recorder"]
        for case_id, case in recorder["cases"].items():
            value, interaction = case["value"], recorder["interactions"].get(case_id)
            if not case.get("transition") or not interaction or not interaction.get("response"):
                continue
            status = interaction["response"]["status_code"]
            if 200 <= status < 300 and value["meta"]["generation"]["mode"] == "positive":
                operation = operation_ids[(value["method"], value["path"])]
                reached[operation].append((value["path_parameters"].get("orderId"), status))
    return reached


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
