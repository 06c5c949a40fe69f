"""The control API against hostile input: DNS rebinding, form posts from other pages, files
outside the scenario directories, deep or huge input, lone surrogates, bad imports, markup."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from simulator import Backend, create_app
from simulator.manifest import manifest_page
from simulator.model import order_from_dict
from simulator.scenario import default_scenario_path, parse_scenario
from tests.helpers import TUESDAY, Api, Served, line, order_body

REBOUND = "rebind.attacker.example:8080"
PYTHON_WORDS = re.compile(
    r"[a-z]Error\b|(?i:python|traceback|recursion|embedded null|isoformat|too large to convert|"
    r"int\(\)|float\(\)|digits|must be in \d)"
)
RULE_ID = r"[A-Za-z0-9_.-]{1,60}"  # what an id given in a rule must match
BUNDLED = default_scenario_path().parent
CM_SIM = str(Path(sys.executable).with_name("cm-sim"))


@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.ERROR, logger="simulator")
    return lambda: [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def refused_in_our_words(response, status: int = 400) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.is_json
    message = response.get_json()["message"]
    assert not PYTHON_WORDS.search(message), message
    return message


def exported(client, *bodies) -> dict:
    api = Api(client)
    for body in bodies:
        api.created(body)
    return client.get("/_sim/state").get_json()


# -- DNS rebinding: the Host must name this machine -------------------------------


def test_without_a_token_the_control_api_answers_only_calls_addressed_to_this_machine(client):
    rebound = {"Host": REBOUND, "Origin": f"http://{REBOUND}"}
    refused = client.post("/_sim/faults", json={"respond": 503}, headers=rebound)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"
    assert "--control-token" in refused.get_json()["message"]
    assert client.get("/_sim/state", headers=rebound).status_code == 403
    assert client.get("/_sim/", headers=rebound).status_code == 403
    assert client.get("/_sim/faults").get_json() == []  # nothing was added
    for host in ("localhost", "localhost:8080", "127.0.0.1:9", "127.4.5.6", "[::1]:8080", "[::1]"):
        assert client.get("/_sim/state", headers={"Host": host}).status_code == 200, host
    for host in (
        "127.0.0.1.attacker.example",
        "localhost.attacker.example",
        "0.0.0.0:8080",
        "[::]:80",
        "evil@127.0.0.1",
    ):
        assert client.get("/_sim/state", headers={"Host": host}).status_code == 403, host
    for open_path in ("/_sim/health", "/_sim/openapi.json"):  # open to anyone, as before
        assert client.get(open_path, headers=rebound).status_code == 200


def test_a_token_the_served_host_or_allow_remote_control_let_other_hosts_in():
    with_token = create_app(Backend(), control_token="s3cret").test_client()
    assert with_token.get("/_sim/state", headers={"Host": REBOUND, "x-sim-token": "s3cret"}).status_code == 200
    served = create_app(Backend(), control_host="sim.internal").test_client()
    assert served.get("/_sim/state", headers={"Host": "sim.internal:8080"}).status_code == 200
    assert served.get("/_sim/state", headers={"Host": REBOUND}).status_code == 403
    remote = create_app(Backend(), allow_remote_control=True).test_client()
    assert remote.get("/_sim/state", headers={"Host": REBOUND}).status_code == 200


def test_the_in_process_fixture_uses_a_loopback_host(cm_sim_inprocess):
    assert urlsplit(cm_sim_inprocess.url).hostname == "localhost"
    cm_sim_inprocess.add_fault(operation="get", respond=503, times=1)
    order = cm_sim_inprocess.session.post(cm_sim_inprocess.base_url, json=order_body()).json()
    assert cm_sim_inprocess.session.get(order["manifestUrl"]).status_code == 200
    assert cm_sim_inprocess.session.get(f"{cm_sim_inprocess.base_url}/{order['orderId']}").status_code == 503


# -- bodies a page could send without asking: forms and text ----------------------


def test_state_changing_calls_take_json_bodies_only(client):
    rule = json.dumps({"respond": 503})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        response = client.post("/_sim/faults", data=rule, content_type=content_type)
        assert response.status_code == 415, content_type
        assert response.get_json()["code"] == "unsupported_media_type"
        assert "application/json" in response.get_json()["message"]
    assert (
        client.put("/_sim/state", data="orders=", content_type="application/x-www-form-urlencoded").status_code == 415
    )
    assert client.post("/_sim/scenarios", data='description = "x"', content_type="text/plain").status_code == 415
    assert client.get("/_sim/faults").get_json() == []
    assert client.post("/_sim/reset").status_code == 200  # no body: no type needed
    assert client.delete("/_sim/faults").status_code == 200
    assert client.post("/_sim/faults", data=rule, content_type="application/json; charset=utf-8").status_code == 201
    assert client.post("/_sim/scenarios", data='description = "x"', content_type="application/toml").status_code == 201


# -- cm-sim serve: a network --host needs a token or --allow-remote-control ---------


def test_cm_sim_serve_refuses_a_network_host_without_a_token():
    finished = subprocess.run(
        [CM_SIM, "serve", "--host", "0.0.0.0", "--port", "0", "--quiet"], capture_output=True, text=True, timeout=30
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
    [message] = finished.stderr.splitlines()
    assert message.startswith("cm-sim: --host 0.0.0.0") and "--control-token" in message
    assert "--allow-remote-control" in message


def test_allow_remote_control_opens_the_control_api_with_a_warning(tmp_path):
    (tmp_path / "night.toml").write_text('description = "from a --scenario-dir"\n')
    served = Served("--host", "0.0.0.0", "--allow-remote-control", "--scenario-dir", str(tmp_path))
    try:
        address = served.url.replace("0.0.0.0", "127.0.0.1")
        assert requests.get(address + "/_sim/state", headers={"Host": REBOUND}, timeout=10).status_code == 200
        loaded = requests.post(address + "/_sim/scenarios", json={"path": str(tmp_path / "night.toml")}, timeout=10)
        assert loaded.status_code == 201
    finally:
        served.stop()
    [warning] = served.errors.splitlines()
    assert warning.startswith("cm-sim: warning: --allow-remote-control without --control-token")


# -- scenario files: only inside the scenario directories --------------------------


@pytest.fixture
def directories(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "night.toml").write_text('description = "inside"\n')
    (outside / "secret.toml").write_text('[catalog]\nsecret_key_name = "x"\n')
    return allowed, outside


def test_scenario_paths_stay_inside_the_scenario_directories(directories, errors_logged):
    allowed, outside = directories
    client = create_app(Backend(scenario_dirs=[allowed])).test_client()
    (allowed / "leak.toml").symlink_to(outside / "secret.toml")
    refusals = set()
    for path in (
        str(outside / "secret.toml"),
        str(outside / "absent.toml"),
        "../outside/secret.toml",
        str(allowed / ".." / "outside" / "secret.toml"),
        "leak.toml",
        str(allowed / "absent.toml"),
        "/etc/../etc/x.toml",
    ):
        message = refused_in_our_words(client.post("/_sim/scenarios", json={"path": path}))
        assert "secret_key_name" not in message
        refusals.add(message.replace(path, "PATH"))
    assert len(refusals) == 1  # the same words whether the file exists outside or not
    assert client.post("/_sim/scenarios", json={"path": str(allowed / "night.toml")}).status_code == 201
    assert client.post("/_sim/scenarios", json={"path": "sold-out.toml"}).status_code == 201  # the bundled ones
    assert client.post("/_sim/scenarios", json={"path": str(BUNDLED / "outage.toml")}).status_code == 201
    assert [s["description"] for s in client.get("/_sim/scenarios").get_json()][0] == "inside"
    assert errors_logged() == []


def test_a_fifo_or_a_nul_in_a_scenario_path_is_refused_at_once(directories, errors_logged):
    allowed, _ = directories
    os.mkfifo(allowed / "pipe.toml")
    client = create_app(Backend(scenario_dirs=[allowed])).test_client()
    answers = []
    caller = threading.Thread(
        target=lambda: answers.append(client.post("/_sim/scenarios", json={"path": "pipe.toml"})), daemon=True
    )
    caller.start()
    caller.join(10)
    assert answers, "reading a FIFO blocked the call"
    refused_in_our_words(answers[0])
    refused_in_our_words(client.post("/_sim/scenarios", json={"path": "night\u0000.toml"}))
    assert errors_logged() == []


def test_the_pytest_handle_sends_a_scenario_file_as_text(cm_sim, tmp_path):
    scenario = tmp_path / "mine.toml"
    scenario.write_text('[[faults]]\noperation = "get"\nrespond = 503\n')
    refused = cm_sim.session.post(cm_sim.url + "/_sim/scenarios", json={"path": str(scenario)}, timeout=10)
    assert refused.status_code == 400
    cm_sim.load_scenario(scenario)
    assert [rule["id"] for rule in cm_sim.session.get(cm_sim.url + "/_sim/faults", timeout=10).json()] == ["mine-1"]


# -- every control input bounded and refused in our words --------------------------


def deep_json(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/_sim/clock/advance", '{"days": 1000000000000000000}'),
        ("PUT", "/_sim/clock", '{"now": "2026-13-45T00:00:00Z"}'),
        ("PUT", "/_sim/clock", '{"now": "2026-01-01\\u0000"}'),
        ("POST", "/_sim/faults", deep_json(100_000)),
        ("PUT", "/_sim/state", deep_json(100_000)),
        ("POST", "/_sim/faults", '{"respond": 503, "times": 10000000000000}'),
        ("POST", "/_sim/faults", '{"respond": 503, "seed": 100000000000000000000}'),
        ("POST", "/_sim/scenarios", '{"path": "a\\u0000.toml"}'),
        ("POST", "/_sim/ota/run", '{"everything": "yes"}'),
        ("POST", "/_sim/reset", '{"tenant": 1, "environment": 2, "company": 3}'),
        ("POST", "/_sim/webhooks/flush", '{"timeout": 1, "colour": "red"}'),
        ("PUT", "/_sim/state", '{"orders": [], "clock": {"now": "soon", "virtual": true}}'),
    ],
)
def test_bad_control_input_is_a_400_in_our_words(client, errors_logged, method, path, body):
    refused_in_our_words(client.open(path, method=method, data=body, content_type="application/json"))
    assert errors_logged() == []
    assert client.get("/_sim/faults").get_json() == []
    assert client.get("/_sim/clock").get_json()["virtual"] is False


@pytest.mark.parametrize(
    "scenario",
    [
        "a = " + "{b = " * 600 + "1" + "}" * 600,
        "a = " + "[" * 600 + "1" + "]" * 600,
        "a = 1" + "0" * 5000,
        "[[faults]]\nrespond = 503\ntimes = 9223372036854775807\n",
    ],
)
def test_bad_scenario_text_is_a_400_in_our_words(client, errors_logged, scenario):
    response = client.post("/_sim/scenarios?name=deep.toml", data=scenario, content_type="application/toml")
    refused_in_our_words(response)
    assert errors_logged() == []
    assert client.get("/_sim/scenarios").get_json() == []


def test_rule_ids_made_from_a_scenario_name_match_the_id_pattern(client):
    text = "[[faults]]\nrespond = 503\n[[faults]]\nrespond = 429\n"
    for name in ("a b<script>.toml", "../../x y.toml", "é.toml", "-" * 300):
        response = client.post(
            "/_sim/scenarios", query_string={"name": name}, data=text, content_type="application/toml"
        )
        assert response.status_code == 201, response.get_json()
        ids = [rule["id"] for rule in client.get("/_sim/faults").get_json()]
        assert ids and all(re.fullmatch(RULE_ID, rule_id) for rule_id in ids), ids
        client.delete("/_sim/scenarios")


# -- lone surrogates become U+FFFD -------------------------------------------------


def surrogate_bodies(text: str) -> list[bytes]:
    """The JSON text with SURROGATE written as an escape, and as raw bytes ED A0 80."""
    return [text.replace("SURROGATE", "\\ud800").encode(), text.encode().replace(b"SURROGATE", b"\xed\xa0\x80")]


def test_lone_surrogates_in_rules_become_replacement_characters(client):
    for body in surrogate_bodies('{"respond": 503, "description": "a SURROGATE b"}'):
        assert client.post("/_sim/faults", data=body, content_type="application/json").status_code == 201
    listed = client.get("/_sim/faults")
    assert listed.status_code == 200
    assert [rule["description"] for rule in listed.get_json()] == ["a \ufffd b", "a \ufffd b"]


def test_lone_surrogates_in_scenarios_become_replacement_characters(client):
    for index, body in enumerate(surrogate_bodies('description = "a SURROGATE b"\n')):
        response = client.post(f"/_sim/scenarios?name=s{index}", data=body, content_type="application/toml")
        assert response.status_code == 201, response.get_json()
    assert [s["description"] for s in client.get("/_sim/scenarios").get_json()] == ["a \ufffd b", "a \ufffd b"]


def test_lone_surrogates_in_imports_become_replacement_characters(client):
    state = exported(client, order_body())
    state["orders"][0]["sell_to_name"] = "SURROGATE"
    for body in surrogate_bodies(json.dumps(state)):
        assert client.put("/_sim/state", data=body, content_type="application/json").status_code == 200
        answer = client.get("/_sim/state")
        assert answer.status_code == 200
        assert answer.get_json()["orders"][0]["sell_to_name"] == "\ufffd"


# -- imports: field by field, all or nothing ---------------------------------------


def test_a_refused_import_changes_nothing_and_names_the_order_and_field(client):
    state = exported(client, order_body(reference="R1"), order_body(reference="R2"))
    broken = json.loads(json.dumps(state))
    broken["orders"][1]["pending_outcome"] = "boom"
    message = refused_in_our_words(client.put("/_sim/state", json=broken))
    assert message.startswith(
        f"not an exported state: orders[1] (order '{state['orders'][1]['order_id']}'): pending_outcome"
    )
    after = client.get("/_sim/state")
    assert after.status_code == 200
    assert after.get_json()["orders"] == state["orders"]


def field_path(keys) -> str:
    """("lines", 0, "quantity") -> "lines[0].quantity", as the messages write it."""
    return "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in keys).lstrip(".")


@pytest.mark.parametrize(
    "field, value",
    [
        (("order_id",), "not-a-guid"),
        (("partner_id",), "{21E8C1D2-3F4A-4C5B-9E6D-7F8A9B0C1D2E}"),
        (("status",), "Lost"),
        (("status",), ["Issued"]),
        (("received_at",), "yesterday"),
        (("received_at",), "2026-01-01T00:00:00"),  # no time zone
        (("status_since",), 5),
        (("namespace",), ["a", "b"]),
        (("manifest", "manifest_id"), "<script>"),
        (("lines",), "x"),
        (("lines", 0, "quantity"), 0),
        (("lines", 0, "visit_date"), "2026-02-30"),
        (("lines", 0, "visit_time"), "10:30"),
        (("lines", 0, "wallets", 0, "wallet_id"), '"><script>alert(1)</script>'),
        (("lines", 0, "wallets", 0, "issued_at"), None),
        (("lines", 0, "wallets", 0, "price_incl_vat"), "100"),
        (("lines", 0, "wallets", 0, "tickets"), [1]),
        (("lines", 0, "wallets", 0, "tickets", 0, "slot"), "<b>10:00</b>"),
        (("lines", 0, "wallets", 0, "tickets", 0, "units"), -1),
        (("lines", 0, "wallets", 0, "tickets", 0, "number"), "x" * 5000),
        (("lines", 0, "wallets", 0, "tickets", 0, "kind"), "voucher"),
        (("lines", 0, "wallets", 0, "colour"), "red"),
        (("pending_outcome",), {"fail_issuance": ""}),
        (("pending_outcome",), {"stick_in_processing": True, "reject": "x"}),
    ],
)
def test_each_field_of_an_import_is_checked(client, errors_logged, field, value):
    state = exported(client, order_body())
    broken = json.loads(json.dumps(state))
    parent = broken["orders"][0]
    for key in field[:-1]:
        parent = parent[key]
    parent[field[-1]] = value
    message = refused_in_our_words(client.put("/_sim/state", json=broken))
    assert message.startswith("not an exported state: orders[0]")
    assert field_path(field) in message, message
    assert client.get("/_sim/state").get_json()["orders"] == state["orders"]
    assert errors_logged() == []


def test_an_import_naming_an_order_twice_or_another_namespaces_order_is_refused(client):
    state = exported(client, order_body())
    twice = {"orders": state["orders"] * 2}
    assert "order_id is the same as orders[0]'s" in refused_in_our_words(client.put("/_sim/state", json=twice))
    moved = json.loads(json.dumps(state))
    moved["orders"][0]["namespace"][2] = "Another company"
    assert "order_id is taken" in refused_in_our_words(client.put("/_sim/state", json=moved))
    assert client.get("/_sim/state").get_json()["orders"] == state["orders"]


def test_an_ota_order_with_an_unknown_pending_outcome_is_refused():
    by_hand = parse_scenario("[ota]\nall_partners = true\ncadence_seconds = 0\n", "ota-by-hand")
    source, target = Backend(scenarios=[by_hand]), Backend(scenarios=[by_hand])
    try:
        client, other = create_app(source).test_client(), create_app(target).test_client()
        state = exported(client, order_body(items=[line(visit_date=TUESDAY)]))
        assert state["orders"][0]["status"] == "Submitted"
        state["orders"][0]["pending_outcome"] = {"explode": True}
        refused_in_our_words(other.put("/_sim/state", json=state))
        assert other.get("/_sim/state").get_json()["orders"] == []
        state["orders"][0]["pending_outcome"] = {"fail_issuance": "Imported failure"}
        assert other.put("/_sim/state", json=state).status_code == 200
        [settled] = other.post("/_sim/ota/run", json={"everything": True}).get_json()
        assert settled["status"] == "Error"
    finally:
        source.stop()
        target.stop()


# -- pages: everything escaped, the dashboard never framed -------------------------


def marked_order(client):
    """A stored order whose every text is markup."""
    record = exported(client, order_body())["orders"][0]
    order = order_from_dict(record)
    wallet = order.lines[0].wallets[0]
    ticket = replace(wallet.tickets[0], slot="<i>slot</i>", visit_date="<i>day</i>", number="<i>number</i>")
    wallet = replace(wallet, wallet_id="<i>wallet</i>", name="<i>name</i>", tickets=[ticket])
    line_ = replace(order.lines[0], wallets=[wallet])
    return replace(
        order, order_id="<i>order</i>", sell_to_name="<i>guest</i>", sell_to_order_reference="<i>ref</i>", lines=[line_]
    )


def test_the_manifest_page_escapes_every_value(client):
    page = manifest_page(marked_order(client))
    assert "<i>" not in page
    for value in ("order", "wallet", "slot", "day", "number", "name", "guest", "ref"):
        assert f"&lt;i&gt;{value}&lt;/i&gt;" in page, value


def test_the_dashboard_escapes_every_value_and_may_not_be_framed(client, backend):
    order = marked_order(client)
    backend.store.commit(put=[replace(order, status_message="<i>message</i>")])
    response = client.get("/_sim/")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    page = response.get_data(as_text=True)
    assert "<i>" not in page
    for value in ("order", "number", "name", "ref", "message"):
        assert f"&lt;i&gt;{value}&lt;/i&gt;" in page, value
