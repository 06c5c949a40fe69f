"""The virtual clock drives receivedAt, issuedAt and the past-date rule."""

from tests.helpers import DEMO, assert_error, line, order_body


def test_clock_set_frozen_drives_received_and_issued_at(api, client):
    assert client.put("/_sim/clock", json={"now": "2026-05-15T09:30:00Z", "frozen": True}).get_json() == {
        "now": "2026-05-15T09:30:00Z",
        "frozen": True,
        "virtual": True,
    }
    order = api.created(order_body(items=[line(visit_date="2026-06-01")]))
    assert order["receivedAt"] == "2026-05-15T09:30:00Z"
    assert order["items"][0]["wallets"][0]["issuedAt"] == "2026-05-15T09:30:00Z"


def test_clock_advance_makes_a_visit_date_past(api, client):
    client.put("/_sim/clock", json={"now": "2026-05-31T12:00:00Z", "frozen": True})
    assert api.create(order_body(reference="BEFORE", items=[line(visit_date="2026-06-01")])).status_code == 201
    assert client.post("/_sim/clock/advance", json={"days": 1, "hours": 1}).get_json()["now"] == "2026-06-01T13:00:00Z"
    assert api.create(order_body(reference="SAME-DAY", items=[line(visit_date="2026-06-01")])).status_code == 201
    client.post("/_sim/clock/advance", json={"days": 1})
    assert_error(
        api.create(order_body(reference="AFTER", items=[line(visit_date="2026-06-01")])),
        400,
        "Expected visit date 2026-06-01 for admission code CASTLE is in the past.",
    )


def test_clock_window_filters_use_simulated_times(api, client):
    client.put("/_sim/clock", json={"now": "2026-05-01T00:00:00Z", "frozen": True})
    api.created(order_body(reference="MAY", items=[line(visit_date="2026-06-01")]))
    client.put("/_sim/clock", json={"now": "2026-07-01T00:00:00Z", "frozen": True})
    api.created(order_body(reference="JULY", items=[line(visit_date="2026-08-01")]))
    listed = api.list(DEMO, receivedAtFrom="2026-05-01T00:00:00Z", receivedAtTo="2026-05-31T23:59:59Z").get_json()
    assert [s["sellToOrderReference"] for s in listed] == ["MAY"]


def test_unfrozen_clock_runs_from_the_set_time_and_resets_to_real(client):
    client.put("/_sim/clock", json={"now": "2030-01-01T00:00:00Z"})
    described = client.get("/_sim/clock").get_json()
    assert described["now"].startswith("2030-01-01T00:00") and described["frozen"] is False
    client.put("/_sim/clock", json={"frozen": True})
    assert client.get("/_sim/clock").get_json()["frozen"] is True
    assert client.put("/_sim/clock", json={"now": None}).get_json()["virtual"] is False


def test_bad_clock_requests(client):
    assert client.put("/_sim/clock", json={"now": "soon"}).status_code == 400
    assert client.post("/_sim/clock/advance", json={"weeks": 1}).status_code == 400
    assert client.post("/_sim/clock/advance", data="x").status_code == 415  # a body must be JSON


def test_a_scenario_can_set_the_clock(tmp_path):
    from simulator import Backend, create_app
    from tests.helpers import Api

    path = tmp_path / "clock.toml"
    path.write_text('[clock]\nnow = "2026-05-15T09:30:00Z"\nfrozen = true\n')
    api = Api(create_app(Backend(scenarios=[path])).test_client())
    assert api.created(order_body(items=[line(visit_date="2026-06-01")]))["receivedAt"] == "2026-05-15T09:30:00Z"
