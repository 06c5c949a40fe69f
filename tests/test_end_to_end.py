"""`cm-sim serve` as a partner runs it: real process, real HTTP, the getting-started walk-through."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.helpers import DEMO, TENANT, Served, seed_create_body, visit_day


@pytest.fixture
def data_file(tmp_path):
    return tmp_path / "cm-sim.json"


def test_getting_started_walkthrough_over_http_and_a_restart(data_file):
    server = Served("--data", str(data_file), "--seed", "42")
    try:
        # 1. createOrder with paymentReference: Issued, wallets, tickets, manifest
        created = server.call("POST", json=seed_create_body())
        assert created.status_code == 201
        assert created.headers["Content-Type"].startswith("application/json")
        order = created.json()
        assert order["status"] == "Issued"
        assert [w["name"] for w in order["items"][0]["wallets"]] == ["Jane Doe", "John Doe"]
        manifest = requests.get(order["manifestUrl"], timeout=10)
        assert manifest.status_code == 200 and "Jane Doe" in manifest.text

        # 2. confirmOrder on an Issued order is a no-op
        confirmed = server.call("POST", f"/{order['orderId']}/confirm", json={"paymentReference": "PAY-987654"})
        assert (confirmed.status_code, confirmed.json()) == (200, order)

        # deferred payment: create without paymentReference, then confirm
        draft_body = seed_create_body()
        draft_body.pop("paymentReference")
        draft_body["sellToOrderReference"] = "PARTNER-ORDER-2026-00043"
        draft_body["items"][0]["wallet"]["externalReferenceNumbers"] = ["JD-2026-002", "JOHN-2026-002"]
        draft = server.call("POST", json=draft_body).json()
        assert (draft["status"], draft["paymentReference"]) == ("Draft", "")

        # 3. replaceOrder on the Draft: new items, same order id
        draft_body["items"][0]["quantity"] = 1
        draft_body["items"][0]["wallet"] = {"names": ["Jane Doe"]}
        replaced = server.call("PUT", f"/{draft['orderId']}", json=draft_body)
        assert replaced.status_code == 200
        assert (replaced.json()["orderId"], replaced.json()["status"]) == (draft["orderId"], "Draft")
        assert len(replaced.json()["items"][0]["wallets"]) == 1
        paid = server.call("POST", f"/{draft['orderId']}/confirm", json={"paymentReference": "PAY-987655"}).json()
        assert (paid["status"], paid["paymentReference"]) == ("Issued", "PAY-987655")

        # replacing an Issued order is refused
        refused = server.call("PUT", f"/{order['orderId']}", json=seed_create_body())
        assert refused.status_code == 400
        assert refused.json() == {"code": "generic_error", "message": "Order cannot be replaced in status Issued"}

        # 4. listOrdersByPartner with the page's filters
        now = datetime.now(UTC)
        window = {
            "status": "Issued",
            "receivedAtFrom": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "receivedAtTo": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        listed = server.call("GET", f"/orders/{DEMO}", params=window)
        assert listed.status_code == 200
        assert [s["orderId"] for s in listed.json()] == [order["orderId"], draft["orderId"]]

        # 5. deleteOrder on an Issued order: Cancelled, row kept, manifest gone
        deleted = server.call("DELETE", f"/{order['orderId']}")
        assert deleted.status_code == 200
        assert (deleted.json()["status"], deleted.json()["items"]) == ("Cancelled", [])
        assert requests.get(order["manifestUrl"], timeout=10).status_code == 404
        before = [
            server.call("GET", f"/{o}").text.replace(server.url, "") for o in (order["orderId"], draft["orderId"])
        ]
    finally:
        server.stop()

    restarted = Served("--data", str(data_file), "--seed", "42")
    try:
        # manifest URLs follow the host the client calls, so compare them without it
        after = [
            restarted.call("GET", f"/{o}").text.replace(restarted.url, "") for o in (order["orderId"], draft["orderId"])
        ]
        assert after == before
        again = restarted.call("POST", json=seed_create_body())
        assert again.json()["message"].startswith("An order with sellToOrderReference 'PARTNER-ORDER-2026-00042'")
    finally:
        restarted.stop()


def test_issuance_failure_and_recovery_over_http():
    server = Served()
    try:
        body = seed_create_body(visit_date="2026-06-01")  # the page's own date, now in the past
        failed = server.call("POST", json=body)
        assert failed.status_code == 400
        assert failed.json() == {
            "code": "generic_error",
            "message": "Expected visit date 2026-06-01 for admission code CASTLE is in the past.",
        }
        [summary] = server.call(
            "GET", f"/orders/{DEMO}", params={"sellToOrderReference": body["sellToOrderReference"]}
        ).json()
        assert summary["status"] == "Error"
        fixed = server.call("PUT", f"/{summary['orderId']}", json=seed_create_body(visit_date=visit_day()))
        assert (fixed.status_code, fixed.json()["status"]) == (200, "Issued")
    finally:
        server.stop()


def test_python_dash_m_is_the_same_command(tmp_path):
    process = subprocess.run([sys.executable, "-m", "simulator", "serve", "--help"], capture_output=True, text=True)
    assert process.returncode == 0
    assert "--scenario FILE" in process.stdout and "--data FILE" in process.stdout and "--seed" in process.stdout


def test_a_broken_scenario_file_stops_start_up_with_its_name(tmp_path):
    fine = tmp_path / "fine.toml"
    fine.write_text('description = "nothing to add"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text('[catalog]\ncurrancy = "DKK"\n')
    cm_sim = str(Path(sys.executable).with_name("cm-sim"))
    command = [cm_sim, "serve", "--scenario", str(fine), str(broken)]
    process = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert process.returncode == 2
    assert f"{broken}: catalog.currancy: Unknown field." in process.stderr


def test_console_prints_a_line_per_request_unless_quiet():
    server = Served(quiet=False)
    created = server.call("POST", json=seed_create_body())
    server.call("GET", "/not-a-guid")
    requests.get(server.url + "/_sim/", timeout=10)  # the dashboard, which reloads itself: no line
    requests.get(server.url + "/_sim/clock", timeout=10)
    *printed, clock, stopped = server.stop().splitlines()
    assert clock.endswith(" - GET /_sim/clock 200 " + clock.split()[-2] + " -")
    order_id = created.json()["orderId"]
    assert printed[-2].endswith(
        f" {TENANT}/production/CRONUS International Ltd. create 201 " + printed[-2].split()[-2] + f" {order_id}"
    )
    assert " get 400 " in printed[-1] and printed[-1].endswith(" not-a-guid generic_error: Invalid order id")
    assert stopped == "cm-sim stopped"
    quiet = Served()
    quiet.call("GET", "/not-a-guid")
    assert quiet.stop() == "cm-sim stopped\n"


def test_a_server_starts_from_an_exported_state(tmp_path):
    first = Served()
    created = first.call("POST", json=seed_create_body())
    exported = requests.get(first.url + "/_sim/state", timeout=10).text
    first.stop()
    state = tmp_path / "export.json"
    state.write_text(exported)
    data = tmp_path / "state.json"
    second = Served("--state", str(state), "--data", str(data))
    try:
        assert second.call("GET", f"/{created.json()['orderId']}").json()["status"] == "Issued"
    finally:
        second.stop()
    cm_sim = str(Path(sys.executable).with_name("cm-sim"))
    again = subprocess.run(
        [cm_sim, "serve", "--port", "0", "--state", str(state), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (again.returncode, again.stderr) == (
        2,
        f"cm-sim: --state {state}: the data file {data} already holds "
        "orders; start without --state, or with a new --data file\n",
    )
    state.write_text('{"orders": 5}')
    bad = subprocess.run(
        [cm_sim, "serve", "--port", "0", "--state", str(state)], capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 2 and bad.stderr.startswith(f"cm-sim: --state {state} is not a state exported by ")
    assert "Traceback" not in bad.stderr
