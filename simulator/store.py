"""Every order of every namespace, with the indexes the API needs.

Each lookup is a dictionary access, so the cost of a request does not grow with
the number of stored orders. Callers hold `store.lock` around a whole operation:
the server is multi-threaded and an operation reads, decides and commits.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.clock import Clock
from simulator.model import Namespace, Order, check_order, order_from_dict, order_to_dict
from simulator.persistence import WriteAheadLog, storage_key

STOP_REWRITE_ORDERS = 25_000  # a rewrite takes about 60 us an order: 1.5 s here

ReferenceKey = tuple[Namespace, str, str]  # (namespace, partner id, sellToOrderReference)
CapacityKey = tuple[Namespace, str, str, str]  # (namespace, admission, day, slot)


@dataclass
class Trace:
    """What one partner call did, for its journal entry: the status transitions it committed
    (order id, status before, status after; None where there is no order) and whether the
    fault rule's outcome it was given took effect (a rule is spent only then); and the
    versions its commits replaced, so that `Store.undo` can take the call back."""

    transitions: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    applied: bool = False
    # by order key, the version before the call
    replaced: dict[tuple[Namespace, str], Order | None] = field(default_factory=dict)


def took_effect(trace: Trace | None) -> None:
    """Mark that the fault rule's outcome given to the call took effect (so the rule is spent)."""
    if trace is not None:
        trace.applied = True


@dataclass
class Footprint:
    """What a stored order holds in the shared indexes."""

    reference: ReferenceKey
    manifest_id: str | None = None
    external_references: list[str] = field(default_factory=list)
    capacity: Counter[CapacityKey] = field(default_factory=Counter)
    numbers: list[str] = field(default_factory=list)


class Store:
    def __init__(self, data_file: str | Path | None = None, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._history: dict[tuple[Namespace, str], list[tuple[str, str]]] = {}  # (at, status), since start-up
        self._orders: dict[tuple[Namespace, str], Order] = {}
        self._footprints: dict[tuple[Namespace, str], Footprint] = {}
        self._by_reference: dict[ReferenceKey, str] = {}
        self._by_partner: dict[tuple[Namespace, str], dict[str, None]] = {}
        self._by_manifest: dict[str, tuple[Namespace, str]] = {}
        self._namespace_of: dict[str, Namespace] = {}
        self._in_flight: dict[tuple[Namespace, str], None] = {}  # OTA orders the worker has to settle
        self._external_references: Counter[tuple[Namespace, str]] = Counter()
        self._capacity: Counter[CapacityKey] = Counter()
        self._wal = WriteAheadLog(data_file) if data_file else None
        if self._wal:
            for order in self._wal.load(_read_order).values():  # StartupError when the files are unusable
                assert isinstance(order, Order)  # made by _read_order (WriteAheadLog.load types it as object)
                self._index(order)
            if self._wal.entries or not self._wal.path.exists():
                self._wal.compact_at_start(self._records())

    # -- lookups ---------------------------------------------------------

    def get(self, namespace: Namespace, order_id: str) -> Order | None:
        return self._orders.get((namespace, order_id))

    def find_by_reference(self, namespace: Namespace, partner_id: str, reference: str) -> Order | None:
        order_id = self._by_reference.get((namespace, partner_id, reference))
        return self._orders[(namespace, order_id)] if order_id else None

    def for_partner(self, namespace: Namespace, partner_id: str) -> list[Order]:
        ids = self._by_partner.get((namespace, partner_id), {})
        return [self._orders[(namespace, order_id)] for order_id in ids]

    def find_anywhere(self, order_id: str) -> Order | None:
        """The order with this id in whichever namespace holds it."""
        namespace = self._namespace_of.get(order_id)
        return self._orders.get((namespace, order_id)) if namespace else None

    def in_flight(self) -> list[Order]:
        """OTA orders not yet settled, the longest waiting first."""
        return [self._orders[key] for key in self._in_flight]

    def in_namespace(self, namespace: Namespace | None = None) -> list[Order]:
        """Every order of a namespace (of all namespaces when None)."""
        return [order for key, order in self._orders.items() if namespace is None or key[0] == namespace]

    def bookings(self) -> list[tuple[Namespace, str, str, str, int]]:
        """Capacity in use: (namespace, admission, day, slot, units) wherever some is."""
        return [(*key, used) for key, used in sorted(self._capacity.items()) if used > 0]

    def history(self, order: Order) -> list[tuple[str, str]]:
        """The statuses the order has had since start-up, with when (the simulator's clock)."""
        return list(self._history.get(order.key, []))

    def by_manifest(self, manifest_id: str) -> Order | None:
        key = self._by_manifest.get(manifest_id)
        return self._orders[key] if key else None

    def capacity_used(self, namespace: Namespace, admission: str, day: str, slot: str) -> int:
        return self._capacity[(namespace, admission, day, slot)]

    def external_reference_count(self, namespace: Namespace, reference: str) -> int:
        return self._external_references[(namespace, reference)]

    def __len__(self) -> int:
        return len(self._orders)

    def issued_numbers(self) -> list[str]:
        """Every generated number held by a stored order (to keep new ones unique)."""
        return [number for footprint in self._footprints.values() for number in footprint.numbers]

    # -- changes ---------------------------------------------------------

    def commit(self, put: Sequence[Order] = (), remove: Sequence[Order] = (), trace: Trace | None = None) -> None:
        """Apply a change atomically: written to the write-ahead log first when persistent (StorageFailed, and
        nothing changed, when that fails), then the orders and indexes; the transitions go
        into `trace`."""
        if self._wal:
            self._wal.append(
                [order_to_dict(order) for order in put],
                [storage_key({"namespace": order.namespace, "order_id": order.order_id}) for order in remove],
            )
        if trace is not None:
            for order in (*remove, *put):
                trace.replaced.setdefault(order.key, self._orders.get(order.key))
            for order in remove:
                trace.transitions.append((order.order_id, _status(self._orders.get(order.key)), None))
            for order in put:
                trace.transitions.append((order.order_id, _status(self._orders.get(order.key)), order.status.value))
        for order in remove:
            self._drop(order.key)
        for order in put:
            previous = self._orders.get(order.key)
            if previous is None or previous.status is not order.status:
                at = self._clock.now().isoformat() if self._clock else ""
                self._history.setdefault(order.key, []).append((at, order.status.value))
            self._release(order.key)
            self._index(order)
        if self._wal and self._wal.entries > max(1000, len(self._orders)):
            orders = list(self._orders.values())
            self._wal.compact_in_background(lambda: [order_to_dict(order) for order in orders])

    def undo(self, trace: Trace) -> None:
        """Take back what a call committed (a later step of the call failed): every order it
        touched goes back to its version before the call, durably."""
        with self.lock:
            put = [previous for previous in trace.replaced.values() if previous is not None]
            remove = [
                self._orders[key]
                for key, previous in trace.replaced.items()
                if previous is None and key in self._orders
            ]
            self.commit(put=put, remove=remove)

    def close(self) -> None:
        """A graceful stop: write the snapshot when that is quick (up to STOP_REWRITE_ORDERS
        orders), else flush the write-ahead log to the disk and leave the rewrite to the next start, so
        that a stop fits `docker stop`'s 10 s at any size. When the snapshot cannot be written
        that is said on stderr, and the write-ahead log keeps the changes for the next start."""
        with self.lock:
            if not self._wal:
                return
            if len(self._orders) <= STOP_REWRITE_ORDERS:
                self._wal.compact_at_stop(self._records())
            else:
                self._wal.sync()

    # -- internals -------------------------------------------------------

    def _records(self) -> list[dict[str, Any]]:
        return [order_to_dict(order) for order in self._orders.values()]

    def _index(self, order: Order) -> None:
        key = order.key
        ns = order.namespace
        footprint = Footprint(reference=(ns, order.partner_id, order.sell_to_order_reference))
        self._orders[key] = order
        self._namespace_of[order.order_id] = ns
        if order.ota and order.status.in_flight:
            self._in_flight[key] = None
        self._by_reference[footprint.reference] = order.order_id
        self._by_partner.setdefault((ns, order.partner_id), {}).setdefault(order.order_id)
        if order.manifest:
            footprint.manifest_id = order.manifest.manifest_id
            self._by_manifest[footprint.manifest_id] = key
        for wallet in order.wallets:
            footprint.external_references.append(wallet.external_reference_number)
            footprint.numbers += [wallet.reference_number, wallet.external_reference_number]
            for ticket in wallet.tickets:
                if ticket.units:
                    footprint.capacity[(ns, ticket.admission_code, ticket.visit_date, ticket.slot)] += ticket.units
                footprint.numbers.append(ticket.number)
        if order.job_id:
            footprint.numbers.append(order.job_id)
        self._external_references.update((ns, ref) for ref in footprint.external_references)
        self._capacity.update(footprint.capacity)
        self._footprints[key] = footprint

    def _release(self, key: tuple[Namespace, str]) -> None:
        """Take an order's footprint out of the shared indexes (it keeps its list position)."""
        self._in_flight.pop(key, None)
        footprint = self._footprints.pop(key, None)
        if footprint is None:
            return
        self._by_reference.pop(footprint.reference, None)
        if footprint.manifest_id:
            self._by_manifest.pop(footprint.manifest_id, None)
        ns = key[0]
        self._external_references.subtract((ns, ref) for ref in footprint.external_references)
        self._capacity.subtract(footprint.capacity)

    def _drop(self, key: tuple[Namespace, str]) -> None:
        self._release(key)
        order = self._orders.pop(key, None)
        self._history.pop(key, None)
        if order is None:
            return
        self._namespace_of.pop(order.order_id, None)
        partner_key = (order.namespace, order.partner_id)
        self._by_partner[partner_key].pop(order.order_id, None)
        if not self._by_partner[partner_key]:
            del self._by_partner[partner_key]


def _read_order(record: dict[str, Any]) -> Order:
    """A stored order rebuilt from its record (KeyError, TypeError or ValueError when it is not one)."""
    order = order_from_dict(record)
    check_order(order)
    return order


def _status(order: Order | None) -> str | None:
    return order.status.value if order else None
