"""The dashboard at /_sim/: what happened to each order, the journal, webhook subscriptions and
deliveries, the catalog with its prices and remaining capacity, the clock; buttons to reset and
to load a scenario. `?tenant=&environment=&company=` shows one namespace only. The page fetches
itself again to refresh (see the template's script), so everything here is read-only."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from itertools import groupby

from flask import render_template

from simulator.model import NAMESPACE_KEYS
from simulator.render import amount, manifest_url
from simulator.webhooks import DELIVERY_OPERATION

JOURNAL_ROWS = 50
DELIVERY_ROWS = 20
ORDER_ROWS = 500  # the latest orders shown; a page of thousands helps nobody


def dashboard_page(backend, base_url: str, query: Mapping[str, str]) -> str:
    chosen = chosen_namespace(query)
    with backend.store.lock:  # read once: the filter's namespaces come from the same orders and bookings
        every, bookings = backend.store.in_namespace(), backend.store.bookings()
    orders, hidden = _latest_orders(backend.store, [order for order in every if _shown(order.namespace, chosen)])
    journal = _journal(backend.journal, chosen, {}, JOURNAL_ROWS)
    deliveries = _journal(backend.journal, chosen, {"operation": DELIVERY_OPERATION}, DELIVERY_ROWS)
    recent = journal if chosen is None else _journal(backend.journal, None, {}, JOURNAL_ROWS)
    subscribed = backend.webhooks.subscribed_namespaces()
    subscriptions = _subscriptions(backend.webhooks, subscribed if chosen is None else [chosen])
    return render_template(
        "dashboard.html",
        clock=backend.clock.describe(),
        scenarios=backend.scenarios,
        chosen=chosen,
        namespaces=_known_namespaces(chosen, every, bookings, recent, subscribed),
        orders=_orders_by_namespace(orders, backend.catalog, base_url),
        shown=len(orders),
        hidden=hidden,
        journal=[_journal_row(entry) for entry in journal],
        deliveries=[_journal_row(entry) for entry in deliveries],
        subscriptions=subscriptions,
        rules=backend.faults.describe(),
        catalog=backend.catalog,
        prices=_prices(backend.catalog),
        capacity=_capacity_rows(backend.catalog, [booking for booking in bookings if _shown(booking[0], chosen)]),
        amount=amount,
        delivery_operation=DELIVERY_OPERATION,
    )


def chosen_namespace(query: Mapping[str, str]) -> tuple[str, str, str] | None:
    """The namespace the page is filtered to: all three of tenant, environment and company, or none."""
    tenant, environment, company = (query.get(key, "") for key in NAMESPACE_KEYS)
    return (tenant, environment, company) if tenant and environment and company else None


def label(namespace: tuple[str, str, str]) -> str:
    return "/".join(namespace)


# -- orders ------------------------------------------------------------------


def _shown(namespace: tuple[str, str, str], chosen: tuple[str, str, str] | None) -> bool:
    return chosen is None or namespace == chosen


def _latest_orders(store, every: list) -> tuple[list, int]:
    """The latest ORDER_ROWS of `every` order shown, with their histories, and how many older are
    left out. Orders are never changed in place, so they are picked outside the lock."""
    latest = heapq.nlargest(ORDER_ROWS, every, key=lambda order: order.received_at)
    with store.lock:
        histories = {order.key: store.history(order) for order in latest}
    ordered = sorted(latest, key=lambda order: (order.namespace, order.partner_id, order.received_at))
    return [(order, histories[order.key]) for order in ordered], len(every) - len(latest)


def _orders_by_namespace(orders: list, catalog, base_url: str) -> list[dict]:
    """Namespaces, each with its partners, each with its orders and their status histories."""
    namespaces = []
    for namespace, in_namespace in groupby(orders, key=lambda pair: pair[0].namespace):
        partners = []
        for partner_id, of_partner in groupby(in_namespace, key=lambda pair: pair[0].partner_id):
            partner = catalog.partner(partner_id)
            partners.append(
                {
                    "name": partner.name if partner else partner_id,
                    "orders": [
                        {
                            "order": order,
                            "history": history,
                            "manifest": manifest_url(base_url, order.manifest) if order.manifest else "",
                        }
                        for order, history in of_partner
                    ],
                }
            )
        namespaces.append({"name": label(namespace), "partners": partners})
    return namespaces


# -- journal and webhooks ----------------------------------------------------


def _journal(journal, chosen, filters: dict, rows: int) -> list[dict]:
    """The latest `rows` entries matching `filters` (in the chosen namespace), newest first."""
    if chosen is not None:
        filters = {**filters, **dict(zip(NAMESPACE_KEYS, chosen, strict=True))}
    return list(reversed(journal.query({**filters, "limit": str(rows)})))


def _journal_row(entry: dict) -> dict:
    """A journal entry with what the page shows of its answer: the status (or that none came)
    and, for a refused call, the message it was refused with."""
    response = entry["response"]
    status = "no answer" if response["status"] is None else str(response["status"])
    if response.get("lost"):
        status += f" (lost: {response['lost']})"
    rejection = entry.get("rejection") or {}
    return {
        **entry,
        "status": status,
        "field": rejection.get("field") or "",
        "rule": rejection.get("rule") or "",
        "message": rejection.get("message") or _error_message(response.get("body")),
    }


def _error_message(body) -> str:
    """The message of an error answer (`{"code": ..., "message": ...}`), else nothing."""
    message = body.get("message") if isinstance(body, dict) else None
    return message if isinstance(message, str) else ""


def _subscriptions(webhooks, namespaces: list) -> list[dict]:
    """The webhook subscriptions of these namespaces, each with its namespace."""
    return [
        {"namespace": label(namespace), **subscription}
        for namespace in namespaces
        for subscription in webhooks.subscriptions(namespace)
    ]


def _known_namespaces(chosen, every: list, bookings: list, recent: list[dict], subscribed: list) -> list[dict]:
    """The namespaces the filter offers: those with orders, capacity in use, recent calls or
    subscriptions, and the chosen one."""
    known = {order.namespace for order in every} | {booking[0] for booking in bookings}
    known.update(tuple(entry["namespace"][key] for key in NAMESPACE_KEYS) for entry in recent)
    known.update(subscribed)
    if chosen is not None:
        known.add(chosen)
    return [
        {**dict(zip(NAMESPACE_KEYS, namespace, strict=True)), "label": label(namespace), "chosen": namespace == chosen}
        for namespace in sorted(known)
    ]


# -- catalog -----------------------------------------------------------------


def _prices(catalog) -> dict[str, tuple[float, float]]:
    """Each item's price excluding and including VAT; a package costs what its components do."""
    return {number: _price(catalog, item) for number, item in catalog.items.items()}


def _price(catalog, item) -> tuple[float, float]:
    if not item.kind.has_components:
        return item.price_excl_vat, item.price_incl_vat
    parts = [(catalog.item(c.item_number), c.quantity) for c in item.components]
    return (
        sum(part.price_excl_vat * quantity for part, quantity in parts if part),
        sum(part.price_incl_vat * quantity for part, quantity in parts if part),
    )


def _capacity_rows(catalog, bookings: list) -> list[dict]:
    return [
        {
            "namespace": label(namespace),
            "admission": admission,
            "day": day,
            "slot": slot,
            "used": used,
            "capacity": _capacity(catalog, admission, slot),
        }
        for namespace, admission, day, slot, used in bookings
    ]


def _capacity(catalog, admission_code: str, slot_start: str) -> int | str:
    admission = catalog.admissions.get(admission_code)
    slot = next((s for s in admission.slots if s.start.isoformat() == slot_start), None) if admission else None
    return slot.capacity if slot else "?"
