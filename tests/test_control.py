"""The control API: reset, scenarios at run time, journal, state export and import, token."""

import json

from simulator import Backend, create_app
from tests.helpers import DEMO, TENANT, Api, line, order_body, past_day

A = {"tenant": TENANT, "environment": "production", "company": "Company A"}
B = {"tenant": TENANT, "environment": "production", "company": "Company B"}


def api_for(client, namespace):
    return Api(client, f"/{namespace['tenant']}/{namespace['environment']}/{namespace['company']}/channelManager")


def test_reset_one_namespace_leaves_the_others_intact(client):
    first, second = api_for(client, A), api_for(client, B)
    first.created(order_body(reference="A1"))
    kept = second.created(order_body(reference="B1"))
    response = client.post("/_sim/reset", json=A)
    assert response.status_code == 200
    assert first.list(DEMO).get_json() == []
    assert second.get(kept["orderId"]).get_json() == kept
    assert first.created(order_body(reference="A1"))  # the reference is free again
    assert {e["namespace"]["company"] for e in client.get("/_sim/journal").get_json()} == {"Company A", "Company B"}
    assert not [e for e in client.get("/_sim/journal?company=Company A").get_json() if e["id"] <= 2]


def test_reset_everything(client):
    api = api_for(client, A)
    api.created(order_body())
    client.post("/_sim/faults", json={"respond": 503})
    client.put("/_sim/clock", json={"now": "2026-01-01T00:00:00Z", "frozen": True})
    assert client.post("/_sim/reset").status_code == 200
    assert api.list(DEMO).get_json() == []
    assert client.get("/_sim/faults").get_json() == []
    assert client.get("/_sim/clock").get_json()["virtual"] is False
    assert [e["operation"] for e in client.get("/_sim/journal").get_json()] == ["list"]  # only the call since


def test_reset_needs_a_whole_namespace(client):
    response = client.post("/_sim/reset", json={"tenant": TENANT})
    assert response.status_code == 400
    assert (
        response.get_json()["message"]
        == "a namespace needs tenant, environment and company (missing environment, company)"
    )


SCENARIO = """
description = "Night opening"
[catalog]
[[catalog.items]]
number = "40001"
description = "Night at the Castle"
kind = "ticket"
admission = "CASTLE"
price_incl_vat = 125
[[faults]]
id = "night-fails"
operation = "create"
item = "40001"
fail_issuance = "Night tours are sold out"
times = 1
"""


def test_scenarios_load_list_and_clear_at_run_time(tmp_path):
    client = create_app(Backend(scenario_dirs=[tmp_path])).test_client()
    api = Api(client)
    assert api.create(order_body(items=[line(item="40001")])).get_json()["message"] == "Unknown item '40001'"
    response = client.post("/_sim/scenarios?name=night.toml", data=SCENARIO, content_type="application/toml")
    assert response.status_code == 201
    assert client.get("/_sim/scenarios").get_json() == [{"name": "night.toml", "description": "Night opening"}]
    assert (
        api.create(order_body(reference="N1", items=[line(item="40001")])).get_json()["message"]
        == "Night tours are sold out"
    )
    assert (
        api.created(order_body(reference="N2", items=[line(item="40001")]))["items"][0]["wallets"][0][
            "unitPriceInclVat"
        ]
        == 125
    )
    path = tmp_path / "other.toml"
    path.write_text('description = "from a file"\n')
    assert client.post("/_sim/scenarios", json={"path": str(path)}).status_code == 201
    assert [s["name"] for s in client.get("/_sim/scenarios").get_json()] == ["night.toml", str(path)]
    assert client.delete("/_sim/scenarios").status_code == 200
    assert client.get("/_sim/scenarios").get_json() == []
    assert (
        api.create(order_body(reference="N3", items=[line(item="40001")])).get_json()["message"]
        == "Unknown item '40001'"
    )


def test_a_bad_scenario_is_refused_and_changes_nothing(client):
    response = client.post(
        "/_sim/scenarios?name=bad.toml", data='[catalog]\ncurrancy = "EUR"\n', content_type="application/toml"
    )
    assert response.status_code == 400
    assert response.get_json() == {"code": "invalid_scenario", "message": "bad.toml: catalog.currancy: Unknown field."}
    assert client.get("/_sim/scenarios").get_json() == []
    assert client.post("/_sim/scenarios", json={"path": "/nonexistent.toml"}).status_code == 400


def test_journal_records_request_response_rule_transition_and_rejection(client):
    api = Api(client)
    client.post(
        "/_sim/faults", json={"id": "once", "operation": "create", "reference": "J-ERR*", "fail_issuance": "boom"}
    )
    order = api.created(order_body(reference="J-OK", paid=False))
    api.confirm(order["orderId"])
    api.create(order_body(reference="J-ERR"))
    api.create(order_body(reference="J-BAD", items=[line(visit_date="01-06-2027")]))
    api.delete(order["orderId"])

    entries = client.get("/_sim/journal").get_json()
    assert [(e["operation"], e["response"]["status"]) for e in entries] == [
        ("create", 201),
        ("confirm", 200),
        ("create", 400),
        ("create", 400),
        ("delete", 200),
    ]
    created, confirmed, failed, rejected, deleted = entries
    assert created["request"]["body"]["sellToOrderReference"] == "J-OK"
    assert created["response"]["body"] == order
    assert created["orderId"] == order["orderId"]
    assert created["transitions"] == [{"orderId": order["orderId"], "from": None, "to": "Draft"}]
    assert confirmed["transitions"] == [{"orderId": order["orderId"], "from": "Draft", "to": "Issued"}]
    assert (failed["faults"], failed["outcome"]) == (["once"], "fail_issuance")
    assert failed["transitions"][0]["to"] == "Error"
    assert rejected["rejection"] == {
        "field": "items[0].visitDate",
        "rule": "date_format",
        "message": "Required field 'visitDate' must be YYYY-MM-DD",
    }
    assert rejected["transitions"] == []
    assert deleted["transitions"] == [{"orderId": order["orderId"], "from": "Issued", "to": "Cancelled"}]

    assert [e["id"] for e in client.get("/_sim/journal?status=400").get_json()] == [failed["id"], rejected["id"]]
    assert [e["id"] for e in client.get(f"/_sim/journal?orderId={order['orderId']}").get_json()] == [
        created["id"],
        confirmed["id"],
        deleted["id"],
    ]
    assert [e["id"] for e in client.get("/_sim/journal?rule=once").get_json()] == [failed["id"]]
    assert [e["id"] for e in client.get(f"/_sim/journal?since={rejected['id']}").get_json()] == [deleted["id"]]
    assert [e["id"] for e in client.get("/_sim/journal?limit=2").get_json()] == [rejected["id"], deleted["id"]]
    assert [e["id"] for e in client.get("/_sim/journal?sellToOrderReference=J-ERR").get_json()] == [failed["id"]]
    assert client.get("/_sim/journal?since=x").status_code == 400


def test_state_export_and_import(client):
    api = Api(client)
    order = api.created(order_body(items=[line(quantity=2)]))
    state = client.get("/_sim/state").get_json()
    assert [o["order_id"] for o in state["orders"]] == [order["orderId"]]

    other = create_app(Backend()).test_client()
    assert other.put("/_sim/state", json=state).get_json() == {"orders": 1}
    assert Api(other).get(order["orderId"]).get_json() == order
    # imported capacity, references and numbers are held
    assert (
        Api(other)
        .create(
            order_body(
                reference="NEW",
                items=[
                    line(
                        wallet={
                            "externalReferenceNumbers": [order["items"][0]["wallets"][0]["externalReferenceNumber"]]
                        }
                    )
                ],
            )
        )
        .status_code
        == 400
    )
    assert other.put("/_sim/state", json={"orders": [{"nonsense": 1}]}).status_code == 400


def test_state_export_of_one_namespace(client):
    api_for(client, A).created(order_body())
    api_for(client, B).created(order_body())
    exported = client.get("/_sim/state", query_string=A).get_json()
    assert [o["namespace"][2] for o in exported["orders"]] == ["Company A"]


def test_control_token(tmp_path):
    client = create_app(Backend(), control_token="s3cret").test_client()
    assert client.get("/_sim/journal").status_code == 401
    assert client.get("/_sim/journal", headers={"x-sim-token": "wrong"}).status_code == 401
    assert client.get("/_sim/journal", headers={"x-sim-token": "s3cret"}).status_code == 200
    assert client.get("/_sim/health").status_code == 200


def test_control_api_is_not_under_the_partner_paths(client):
    response = client.post(f"/{TENANT}/production/CRONUS/_sim/reset", headers={"x-np-api-key": "k"})
    assert response.status_code == 404
    assert response.get_json()["message"] == "/_sim/reset Not Found"


def test_failed_create_leaves_error_visible_in_journal_and_list(client):
    api = Api(client)
    api.create(order_body(reference="PAST", items=[line(visit_date=past_day())]))
    [entry] = client.get("/_sim/journal?status=400").get_json()
    assert entry["transitions"][0]["to"] == "Error"


def test_a_bad_state_import_changes_nothing(client):
    api = Api(client)
    order = api.created(order_body())
    state = client.get("/_sim/state").get_json()
    broken = json.loads(json.dumps(state))
    broken["orders"][0]["lines"][0]["wallets"][0]["tickets"][0]["units"] = "x"
    assert client.put("/_sim/state", json=broken).status_code == 400
    missing_time = json.loads(json.dumps(state))
    missing_time["orders"][0]["received_at"] = None
    assert client.put("/_sim/state", json=missing_time).status_code == 400
    assert api.get(order["orderId"]).get_json() == order
    assert len(api.list(DEMO).get_json()) == 1


def test_state_import_sets_the_exported_clock(client):
    client.put("/_sim/clock", json={"now": "2030-01-01T00:00:00Z", "frozen": True})
    state = client.get("/_sim/state").get_json()
    other = create_app(Backend()).test_client()
    other.put("/_sim/state", json=state)
    assert other.get("/_sim/clock").get_json() == {"now": "2030-01-01T00:00:00Z", "frozen": True, "virtual": True}


def test_journal_pages_forward_with_since(client):
    api = Api(client)
    for index in range(5):
        api.get(f"{index}")
    ids = [entry["id"] for entry in client.get("/_sim/journal").get_json()]
    assert [e["id"] for e in client.get("/_sim/journal?since=0&limit=2").get_json()] == ids[:2]
    assert [e["id"] for e in client.get(f"/_sim/journal?since={ids[1]}&limit=2").get_json()] == ids[2:4]
    assert client.get("/_sim/journal?limit=-2").status_code == 400


def test_clock_refuses_what_it_cannot_hold(client):
    assert client.put("/_sim/clock", json={"now": "9999-12-31T23:59:58Z"}).status_code == 400
    assert client.post("/_sim/clock/advance", json={"days": 99999999}).status_code == 400
    assert client.put("/_sim/clock", json={"frozen": "no"}).status_code == 400
    assert client.put("/_sim/clock", json=[]).status_code == 400
    assert client.put("/_sim/clock", json={"colour": 1}).status_code == 400
    assert client.get("/_sim/clock").get_json()["virtual"] is False
    assert Api(client).list(DEMO).status_code == 200


def test_partner_paths_under_the_control_prefix_are_not_found(client):
    response = client.get(f"/_sim/x/y/channelManager/orders/{DEMO}", headers={"x-np-api-key": "k"})
    assert response.status_code == 404
    assert response.get_json()["code"] == "resource_not_found"


def test_scenario_paths_must_be_toml_files(client):
    response = client.post("/_sim/scenarios", json={"path": "/etc/passwd"})
    assert response.status_code == 400
    assert response.get_json()["message"] == "path must name a .toml scenario file"


def test_pages_of_other_sites_cannot_drive_the_control_api(client):
    assert client.post("/_sim/reset", headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/_sim/reset", headers={"Origin": "http://localhost"}).status_code == 200
    assert client.get("/_sim/journal", headers={"Origin": "http://evil.example"}).status_code == 200
