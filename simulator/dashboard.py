"""The dashboard at /_sim/: what happened to each order, the journal, the catalog with its
remaining capacity, the clock; and buttons to reset and to load a scenario."""
from __future__ import annotations

from itertools import groupby

from flask import render_template

from simulator.render import amount, manifest_url

JOURNAL_ROWS = 50
ORDER_ROWS = 500  # the latest orders shown; a page of thousands helps nobody


def dashboard_page(backend, base_url: str) -> str:
    with backend.store.lock:
        every = backend.store.in_namespace()
        latest = sorted(every, key=lambda order: order.received_at)[-ORDER_ROWS:]
        orders = sorted(latest, key=lambda order: (order.namespace, order.partner_id, order.received_at))
        histories = {order.key: backend.store.history(order) for order in orders}
        bookings = backend.store.bookings()
    catalog = backend.catalog
    namespaces = []
    for namespace, in_namespace in groupby(orders, key=lambda order: order.namespace):
        partners = []
        for partner_id, of_partner in groupby(in_namespace, key=lambda order: order.partner_id):
            partner = catalog.partner(partner_id)
            partners.append({
                "name": partner.name if partner else partner_id,
                "orders": [{
                    "order": order,
                    "history": histories[order.key],
                    "manifest": manifest_url(base_url, order.manifest) if order.manifest else "",
                } for order in of_partner],
            })
        namespaces.append({"name": "/".join(namespace), "partners": partners})
    capacity = [{
        "namespace": "/".join(namespace), "admission": admission, "day": day, "slot": slot, "used": used,
        "capacity": _capacity(catalog, admission, slot),
    } for namespace, admission, day, slot, used in bookings]
    return render_template(
        "dashboard.html",
        clock=backend.clock.describe(),
        scenarios=backend.scenarios,
        namespaces=namespaces,
        journal=list(reversed(backend.journal.query({"limit": str(JOURNAL_ROWS)}))),
        rules=backend.faults.describe(),
        catalog=catalog,
        capacity=capacity,
        amount=amount,
        shown=len(orders),
        hidden=len(every) - len(orders),
    )


def _capacity(catalog, admission_code: str, slot_start: str) -> int | str:
    admission = catalog.admissions.get(admission_code)
    slot = next((s for s in admission.slots if s.start.isoformat() == slot_start), None) if admission else None
    return slot.capacity if slot else "?"
