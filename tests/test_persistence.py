"""--data FILE: state survives a restart, a crash, and a torn journal line."""

import json
import threading

from tinydb import TinyDB

from simulator import Backend, create_app
from simulator.persistence import WriteAheadLog, storage_key
from tests.helpers import DEMO, TUESDAY, Api, line, order_body, past_day


def populate(api):
    issued = api.created(order_body(reference="P-ISSUED", items=[line(quantity=2), line(item="32001")]))
    draft = api.created(order_body(reference="P-DRAFT", paid=False, items=[line(item="33001", quantity=4)]))
    cancelled = api.created(order_body(reference="P-CANCELLED"))
    api.delete(cancelled["orderId"])
    api.create(order_body(reference="P-ERROR", items=[line(visit_date=past_day())]))
    removed = api.created(order_body(reference="P-REMOVED", paid=False))
    api.delete(removed["orderId"])
    return [issued["orderId"], draft["orderId"], cancelled["orderId"], api.find("P-ERROR")["orderId"]]


def snapshot(api, order_ids):
    return [api.get(order_id).get_json() for order_id in order_ids], api.list(DEMO).get_json()


def test_state_survives_a_graceful_restart(tmp_path):
    data = tmp_path / "state.json"
    backend = Backend(data_file=data, seed=7)
    api = Api(create_app(backend).test_client())
    order_ids = populate(api)
    before = snapshot(api, order_ids)
    backend.close()

    with TinyDB(data, access_mode="r") as db:
        assert len(db.table("orders")) == 4
    assert data.with_name("state.json.journal").read_text() == ""

    restarted = Backend(data_file=data, seed=7)
    api = Api(create_app(restarted).test_client())
    assert snapshot(api, order_ids) == before
    restarted.close()


def test_state_survives_a_crash_through_the_journal(tmp_path):
    data = tmp_path / "state.json"
    api = Api(create_app(Backend(data_file=data)).test_client())
    order_ids = populate(api)
    before = snapshot(api, order_ids)
    # no close(): the process died; every acknowledged change is in the journal
    assert len(data.with_name("state.json.journal").read_text().splitlines()) == 7
    api = Api(create_app(Backend(data_file=data)).test_client())
    assert snapshot(api, order_ids) == before


def test_a_torn_last_journal_line_is_ignored(tmp_path):
    data = tmp_path / "state.json"
    api = Api(create_app(Backend(data_file=data)).test_client())
    order = api.created(order_body(reference="KEPT"))
    with open(data.with_name("state.json.journal"), "a") as journal:
        journal.write('{"put": [{"namespace": ["t"')
    api = Api(create_app(Backend(data_file=data)).test_client())
    assert api.get(order["orderId"]).get_json() == order


def test_restored_orders_keep_their_capacity_references_and_numbers(tmp_path):
    data = tmp_path / "state.json"
    api = Api(create_app(Backend(data_file=data, seed=3)).test_client())
    first = api.created(
        order_body(
            reference="C1",
            items=[
                line(
                    item="31010",
                    quantity=10,
                    visit_date=TUESDAY,
                    visit_time="10:00:00",
                    wallet={"externalReferenceNumbers": [f"X{i}" for i in range(10)]},
                )
            ],
        )
    )

    backend = Backend(data_file=data, seed=3)  # same seed after a restart must not repeat numbers
    api = Api(create_app(backend).test_client())
    response = api.create(
        order_body(reference="C2", items=[line(item="31010", visit_date=TUESDAY, visit_time="10:00:00")])
    )
    assert response.status_code == 400
    assert "has been exceeded" in response.get_json()["message"]
    response = api.create(order_body(reference="C3", items=[line(wallet={"externalReferenceNumbers": ["X3"]})]))
    assert response.get_json()["message"].endswith("Requested reference: X3")
    second = api.created(order_body(reference="C4", items=[line(quantity=3)]))
    old = {a["referenceNumber"] for w in first["items"][0]["wallets"] for a in w["assets"]}
    new = {a["referenceNumber"] for w in second["items"][0]["wallets"] for a in w["assets"]}
    assert old.isdisjoint(new)
    assert second["orderId"] != first["orderId"]


def test_journal_lines_are_json_records_of_committed_changes(tmp_path):
    data = tmp_path / "state.json"
    api = Api(create_app(Backend(data_file=data)).test_client())
    order = api.created(order_body(reference="J1", paid=False))
    api.delete(order["orderId"])
    put, removed = [json.loads(line) for line in data.with_name("state.json.journal").read_text().splitlines()]
    assert put["put"][0]["order_id"] == order["orderId"]
    assert put["remove"] == []
    assert put["put"][0]["status"] == "Draft"
    assert removed == {
        "put": [],
        "remove": [
            json.dumps(
                ["01234567-89ab-cdef-0123-456789abcdef", "production", "CRONUS International Ltd.", order["orderId"]]
            )
        ],
    }


def test_the_snapshot_is_rewritten_in_the_background_and_a_crash_meanwhile_loses_nothing(tmp_path):
    data = tmp_path / "state.json"
    journal = WriteAheadLog(data)
    journal.append([record("A", "Draft")], [])
    writing, release = threading.Event(), threading.Event()

    def records():
        writing.set()
        release.wait(10)
        return [record("A", "Draft")]

    journal.compact_in_background(records)
    writing.wait(10)
    journal.append([record("A", "Issued"), record("B", "Draft")], [])  # while the snapshot is being written
    assert data.with_name("state.json.journal.1").exists()
    assert statuses(WriteAheadLog(data).load()) == {"A": "Issued", "B": "Draft"}  # killed now: nothing lost

    release.set()
    journal.wait()
    assert not data.with_name("state.json.journal.1").exists()
    with TinyDB(data, access_mode="r") as db:
        assert [row["order_id"] for row in db.table("orders")] == ["A"]
    assert statuses(WriteAheadLog(data).load()) == {"A": "Issued", "B": "Draft"}


def test_a_crash_after_the_snapshot_replays_the_moved_journal_harmlessly(tmp_path):
    data = tmp_path / "state.json"
    journal = WriteAheadLog(data)
    journal.append([record("A", "Draft")], [])
    journal.append([record("B", "Draft")], [storage_key(record("A", "Draft"))])
    journal.compact_in_background(lambda: [record("B", "Draft")])
    journal.wait()
    data.with_name("state.json.journal.1").write_text(  # as if killed before the moved journal was deleted
        json.dumps({"put": [record("A", "Draft")], "remove": []})
        + "\n"
        + json.dumps({"put": [record("B", "Draft")], "remove": [storage_key(record("A", "Draft"))]})
        + "\n"
    )
    assert statuses(WriteAheadLog(data).load()) == {"B": "Draft"}


def test_orders_stored_past_a_background_rewrite_survive_a_restart(tmp_path):
    data = tmp_path / "state.json"
    backend = Backend(data_file=data)
    api = Api(create_app(backend).test_client())
    ids = [api.created(order_body(reference=f"R{index}"))["orderId"] for index in range(510)]
    for order_id in ids:  # two journal lines per order: past 1,000 the snapshot is rewritten
        api.delete(order_id)
    backend.store._wal.wait()
    assert len(data.with_name("state.json.journal").read_text().splitlines()) < 1020  # it was moved aside
    api = Api(create_app(Backend(data_file=data)).test_client())  # no close(): killed
    assert [api.get(order_id).get_json()["status"] for order_id in ids] == ["Cancelled"] * 510


def record(order_id: str, status: str) -> dict:
    return {"namespace": ["t", "e", "c"], "order_id": order_id, "status": status}


def statuses(records: dict) -> dict:
    return {value["order_id"]: value["status"] for value in records.values()}


def test_a_failed_background_rewrite_keeps_its_changes_for_the_next_one(tmp_path, monkeypatch):
    data = tmp_path / "state.json"
    journal = WriteAheadLog(data)
    journal.append([record("A", "Draft")], [])

    def disk_full(records):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the thread's traceback, on stderr
    monkeypatch.setattr(journal, "_write_snapshot", disk_full)
    journal.compact_in_background(lambda: [record("A", "Draft")])
    journal.wait()
    journal.append([record("B", "Draft")], [])
    monkeypatch.undo()
    writing, release = threading.Event(), threading.Event()

    def records():
        writing.set()
        release.wait(10)
        return [record("A", "Draft"), record("B", "Draft")]

    journal.compact_in_background(records)
    writing.wait(10)
    assert statuses(WriteAheadLog(data).load()) == {"A": "Draft", "B": "Draft"}  # killed now: A is not lost
    release.set()
    journal.wait()
    assert statuses(WriteAheadLog(data).load()) == {"A": "Draft", "B": "Draft"}


def test_after_a_graceful_stop_start_up_does_not_rewrite_the_snapshot(tmp_path):
    data = tmp_path / "state.json"
    backend = Backend(data_file=data)
    order = Api(create_app(backend).test_client()).created(order_body(reference="KEPT"))
    backend.close()
    written = data.stat().st_mtime_ns
    api = Api(create_app(Backend(data_file=data)).test_client())
    assert api.get(order["orderId"]).get_json() == order
    assert data.stat().st_mtime_ns == written


def test_changes_made_after_a_restart_on_a_torn_journal_survive_the_next_one(tmp_path):
    data = tmp_path / "state.json"
    backend = Backend(data_file=data)
    first = Api(create_app(backend).test_client()).created(order_body(reference="BEFORE"))
    backend.close()  # the journal is empty ...
    with open(data.with_name("state.json.journal"), "a") as journal:
        journal.write('{"put": [{"namespace": ["t"')  # ... but for a change killed mid-line
    api = Api(create_app(Backend(data_file=data)).test_client())
    second = api.created(order_body(reference="AFTER"))  # killed again, no graceful stop
    api = Api(create_app(Backend(data_file=data)).test_client())
    assert [api.get(order["orderId"]).status_code for order in (first, second)] == [200, 200]


def test_a_stop_of_a_large_store_flushes_the_journal_and_leaves_the_rewrite_to_the_next_start(tmp_path, monkeypatch):
    from simulator import store

    monkeypatch.setattr(store, "STOP_REWRITE_ORDERS", 2)  # as if 3 orders were more than a stop may rewrite
    data = tmp_path / "state.json"
    backend = Backend(data_file=data)
    api = Api(create_app(backend).test_client())
    created = [api.created(order_body(reference=f"BIG-{n}"))["orderId"] for n in range(3)]
    snapshot = data.read_bytes()
    backend.close()
    assert data.read_bytes() == snapshot  # not rewritten at the stop
    assert len(data.with_name("state.json.journal").read_text().splitlines()) == 3
    restarted = Backend(data_file=data)
    assert sorted(order["order_id"] for order in restarted.export_state()["orders"]) == sorted(created)
    restarted.close()
