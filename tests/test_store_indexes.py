"""The store's indexes on their own: every lookup finds what a commit put, and nothing it took away."""

import dataclasses

from simulator.store import Trace
from tests.helpers import DEMO, PLAIN, line, order_body

NAMESPACE = ("01234567-89ab-cdef-0123-456789abcdef", "production", "CRONUS International Ltd.")


def stored(backend, api, body):
    return backend.store.get(NAMESPACE, api.created(body)["orderId"])


def footprint(store, order) -> dict:
    ticket = order.tickets[0]
    return {
        "by id": store.get(NAMESPACE, order.order_id) is not None,
        "anywhere": store.find_anywhere(order.order_id) is not None,
        "by reference": store.find_by_reference(NAMESPACE, order.partner_id, order.sell_to_order_reference) is not None,
        "by partner": order.order_id in [each.order_id for each in store.for_partner(NAMESPACE, order.partner_id)],
        "by manifest": store.by_manifest(order.manifest.manifest_id) is not None if order.manifest else None,
        "capacity": store.capacity_used(NAMESPACE, ticket.admission_code, ticket.visit_date, ticket.slot),
        "external reference": store.external_reference_count(NAMESPACE, order.wallets[0].external_reference_number),
        "numbers": ticket.number in store.issued_numbers(),
    }


def test_a_committed_order_is_found_by_every_index(backend, api):
    order = stored(
        backend, api, order_body(items=[line(quantity=3, wallet={"externalReferenceNumbers": ["A", "B", "C"]})])
    )
    assert footprint(backend.store, order) == {
        "by id": True,
        "anywhere": True,
        "by reference": True,
        "by partner": True,
        "by manifest": True,
        "capacity": 3,
        "external reference": 1,
        "numbers": True,
    }
    assert len(backend.store) == 1


def test_a_removed_order_leaves_nothing_in_the_indexes(backend, api):
    order = stored(backend, api, order_body(items=[line(quantity=2)]))
    with backend.store.lock:
        backend.store.commit(remove=[order])
    assert footprint(backend.store, order) == {
        "by id": False,
        "anywhere": False,
        "by reference": False,
        "by partner": False,
        "by manifest": False,
        "capacity": 0,
        "external reference": 0,
        "numbers": False,
    }
    assert backend.store.for_partner(NAMESPACE, DEMO) == [] and len(backend.store) == 0


def test_a_new_version_moves_the_order_in_the_indexes(backend, api):
    order = stored(backend, api, order_body(reference="FIRST"))
    renamed = dataclasses.replace(order, sell_to_order_reference="SECOND", manifest=None)
    with backend.store.lock:
        backend.store.commit(put=[renamed])
    assert backend.store.find_by_reference(NAMESPACE, DEMO, "FIRST") is None
    assert backend.store.find_by_reference(NAMESPACE, DEMO, "SECOND") is renamed
    assert backend.store.by_manifest(order.manifest.manifest_id) is None
    assert [each.order_id for each in backend.store.for_partner(NAMESPACE, DEMO)] == [order.order_id]
    ticket = order.tickets[0]
    assert backend.store.capacity_used(NAMESPACE, ticket.admission_code, ticket.visit_date, ticket.slot) == 1


def test_undo_brings_back_every_index_as_before_the_call(backend, api):
    kept = stored(backend, api, order_body(reference="KEPT"))
    before = footprint(backend.store, kept)
    trace = Trace()
    added = dataclasses.replace(
        kept, order_id="00000000-0000-0000-0000-000000000001", sell_to_order_reference="ADDED", manifest=None
    )
    with backend.store.lock:
        backend.store.commit(put=[added], remove=[kept], trace=trace)
    assert trace.transitions == [(kept.order_id, "Issued", None), (added.order_id, None, "Issued")]
    backend.store.undo(trace)
    assert footprint(backend.store, kept) == before
    assert backend.store.find_anywhere(added.order_id) is None
    assert backend.store.find_by_reference(NAMESPACE, DEMO, "ADDED") is None


def test_partners_and_namespaces_have_indexes_of_their_own(backend, api):
    demo = stored(backend, api, order_body(reference="SAME"))
    plain = stored(backend, api, order_body(reference="SAME", partner=PLAIN))
    other = ("01234567-89ab-cdef-0123-456789abcdef", "production", "Other Company")
    assert backend.store.find_by_reference(NAMESPACE, DEMO, "SAME") is demo
    assert backend.store.find_by_reference(NAMESPACE, PLAIN, "SAME") is plain
    assert backend.store.find_by_reference(other, DEMO, "SAME") is None
    assert backend.store.for_partner(other, DEMO) == []
    assert backend.store.in_namespace(NAMESPACE) == [demo, plain] and backend.store.in_namespace(other) == []
