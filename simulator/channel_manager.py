"""The six operations of the synchronous Channel Manager and its order state machine.

Each operation validates in the real order, then decides and commits under the
store's lock. Committed orders are never changed in place: an operation commits
a new version, so a caller may read the returned order after the lock is gone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from simulator.catalog import Catalog, Partner
from simulator.clock import Clock
from simulator.errors import BadRequest, IssuanceFailed, NotFound, StorageFailed
from simulator.guids import braced, parse_guid
from simulator.issuance import Issuer
from simulator.model import Namespace, Order, OrderStatus
from simulator.numbers import Numbers
from simulator.order_request import OrderHeader, code, parse_header, parse_lines, required_text
from simulator.outcomes import Outcome, pending_outcome
from simulator.store import Store, Trace, took_effect

ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
STATUS_MESSAGE_LENGTH = 500
UNEXPECTED_ISSUANCE_FAILURE = "The simulator failed unexpectedly while issuing this order; its log has the details."
STUCK_IN_PROCESSING = (
    "Order was stuck in Processing for over 1 hour and was automatically marked as Error. "
    "Inspect and either re-Process or Delete."
)

log = logging.getLogger("simulator")


class ChannelManager:
    def __init__(self, catalog: Catalog, store: Store, numbers: Numbers, clock: Clock):
        self.catalog = catalog
        self.store = store
        self.clock = clock
        self.numbers = numbers
        self.issuer = Issuer(catalog, store, numbers, clock)
        self.ota_for_all = False  # every partner on the asynchronous OTA Channel Manager

    def is_ota(self, partner: Partner | None) -> bool:
        return self.ota_for_all or bool(partner and partner.ota)

    def create_order(
        self,
        namespace: Namespace,
        body: object,
        fault: Outcome | None = None,
        sync: bool = False,
        trace: Trace | None = None,
    ) -> Order:
        request = _object(body)
        header = parse_header(request)
        partner = self.catalog.partner(header.partner_id)
        if partner is None:
            raise BadRequest(f"Unknown partnerId '{braced(header.partner_id)}'", "partnerId", "known_partner")
        if not partner.active:
            raise BadRequest(f"Partner '{partner.name}' is not active", "partnerId", "active_partner")
        ota = self.is_ota(partner)
        with self.store.lock:
            existing = self.store.find_by_reference(namespace, partner.partner_id, header.sell_to_order_reference)
            if existing is not None and existing.status is not OrderStatus.ERROR:
                raise BadRequest(
                    f"An order with sellToOrderReference '{header.sell_to_order_reference}' "
                    f"already exists for partner '{partner.name}'",
                    "sellToOrderReference",
                    "unique_reference",
                )
            order = Order(
                namespace=namespace,
                order_id=self._new_order_id(namespace),
                partner_id=partner.partner_id,
                sell_to_order_reference=header.sell_to_order_reference,
                sell_to_email=header.sell_to_email,
                sell_to_name=header.sell_to_name,
                sell_to_language=header.sell_to_language,
                payment_reference=header.payment_reference,
                received_at=self.clock.now(),
                lines=parse_lines(request, header, self.catalog, self._not_before(ota)),
            )
            remove = [existing] if existing else []  # an order left in Error gives way to the new one
            if ota:
                order = self._as_ota(order, header, buy_from=self._buy_from_reference())
                if not sync:
                    return self._submit(order, fault, trace, remove)
            return self._issue(order, partner, fault, trace, remove=remove)

    def get_order(self, namespace: Namespace, order_id: str) -> Order:
        with self.store.lock:
            return self._existing(namespace, order_id)

    def list_orders(self, namespace: Namespace, partner_id: str, query: Mapping[str, str]) -> list[Order]:
        """The partner's orders, filtered by status, reference and a receivedAt window."""
        partner = parse_guid(partner_id)
        if partner is None:
            raise BadRequest("Invalid partnerId", "partnerId", "guid")
        statuses = _statuses(query["status"]) if "status" in query else None
        received_from = _datetime(query, "receivedAtFrom")
        received_to = _datetime(query, "receivedAtTo")
        with self.store.lock:
            if "sellToOrderReference" in query:
                found = self.store.find_by_reference(namespace, partner, code(query["sellToOrderReference"], 50))
                orders = [found] if found else []
            else:
                orders = sorted(self.store.for_partner(namespace, partner), key=_received_at)
        return [
            order
            for order in orders
            if (statuses is None or order.status in statuses)
            and (received_from is None or _received_at(order) >= received_from)
            and (received_to is None or _received_at(order) <= received_to)
        ]

    def confirm_order(
        self,
        namespace: Namespace,
        order_id: str,
        body: object,
        fault: Outcome | None = None,
        trace: Trace | None = None,
    ) -> Order:
        with self.store.lock:
            order = self._existing(namespace, order_id)
            if order.status is OrderStatus.ISSUED:
                return order  # confirming twice is a no-op; the body is not read
            if order.status is not OrderStatus.DRAFT:
                raise BadRequest(f"Order cannot be confirmed in status {order.status.caption}", "status", "state")
            payment = required_text(_object(body), "paymentReference")
            if fault and fault.kind == "fail_confirm":
                took_effect(trace)
                raise BadRequest(fault.text)  # the reservations were not confirmed: still Draft
            confirmed = replace(order, payment_reference=code(payment, 50 if order.ota else 20))
            self.issuer.settle_issued(confirmed, self.catalog.partner(order.partner_id))
            self.store.commit(put=[confirmed], trace=trace)
            return confirmed

    def replace_order(
        self,
        namespace: Namespace,
        order_id: str,
        body: object,
        fault: Outcome | None = None,
        sync: bool = False,
        trace: Trace | None = None,
    ) -> Order:
        with self.store.lock:
            existing = self._existing(namespace, order_id)
            if existing.status not in (OrderStatus.DRAFT, OrderStatus.ERROR):
                raise BadRequest(f"Order cannot be replaced in status {existing.status.caption}", "status", "state")
            request = _object(body)
            header = parse_header(request)
            if header.partner_id != existing.partner_id:
                raise BadRequest("partnerId cannot be changed via PUT", "partnerId", "immutable")
            if header.sell_to_order_reference != existing.sell_to_order_reference:
                raise BadRequest("sellToOrderReference cannot be changed via PUT", "sellToOrderReference", "immutable")
            partner = self.catalog.partner(existing.partner_id)
            ota = existing.ota or self.is_ota(partner)
            order = replace(
                existing.torn_down(),
                sell_to_email=header.sell_to_email,
                sell_to_name=header.sell_to_name,
                sell_to_language=header.sell_to_language,
                payment_reference=header.payment_reference,
                status=OrderStatus.PROCESSING,
                lines=parse_lines(request, header, self.catalog, self._not_before(ota)),
            )
            if ota:
                order = self._as_ota(
                    order, header, buy_from=existing.buy_from_order_reference or self._buy_from_reference()
                )
                if not sync:
                    return self._submit(order, fault, trace)
            return self._issue(order, partner, fault, trace, replaced=existing)

    def delete_order(self, namespace: Namespace, order_id: str, trace: Trace | None = None) -> Order:
        """Tear the order down: a Draft or Error row goes, an Issued one stays Cancelled."""
        with self.store.lock:
            order = self._existing(namespace, order_id)
            if order.ota and order.status.in_flight:
                raise BadRequest(
                    f"Order is mid-flight (status {order.status.caption}); retry once it has settled.",
                    "status",
                    "state",
                )
            if order.status is OrderStatus.PROCESSING:
                raise BadRequest("Order is currently being processed; retry once it has settled.", "status", "state")
            cancelled = order.torn_down()
            if order.status in (OrderStatus.DRAFT, OrderStatus.ERROR):
                self.store.commit(remove=[order], trace=trace)
            else:
                self.store.commit(put=[cancelled], trace=trace)
            return cancelled

    def release_order(self, order_id: str) -> Order:
        """Let an order stuck in Processing finish its issuance."""
        with self.store.lock:
            guid = parse_guid(order_id)
            order = self.store.find_anywhere(guid) if guid else None
            if order is None:
                raise NotFound(f"Order '{braced(guid) if guid else order_id}' not found")
            if order.status is not OrderStatus.PROCESSING:
                raise BadRequest(f"Order is not stuck in Processing (status {order.status.value})")
            try:
                return self._issue(_unissued(order), self.catalog.partner(order.partner_id))
            except IssuanceFailed:
                failed = self.store.get(order.namespace, order.order_id)
                assert failed is not None  # _issue committed it in Error
                return failed

    # -- the OTA worker's steps ---------------------------------------------

    def advance(self, order: Order) -> Order | None:
        """Move an in-flight OTA order one step: Submitted -> Scheduled -> Processing -> settled.
        Returns the order after the step, or None if there was no step to take."""
        with self.store.lock:
            current = self.store.get(order.namespace, order.order_id)
            if current is None or not current.status.in_flight:
                return None
            if current.status is OrderStatus.SUBMITTED:
                return self._move(current, OrderStatus.SCHEDULED)
            if current.status is OrderStatus.SCHEDULED:
                return self._move(current, OrderStatus.PROCESSING)
            fault = pending_outcome(current.pending_outcome)
            if fault and fault.kind == "stick_in_processing":
                return None  # it stays until released or swept
            try:
                return self._issue(_unissued(current), self.catalog.partner(current.partner_id), fault)
            except IssuanceFailed:
                return self.store.get(current.namespace, current.order_id)
            except BadRequest as refused:  # refused while preparing the import: Error all the same
                return self._fail(current, refused.message)
            except StorageFailed:
                raise  # nothing changed: the worker takes the order up again once its data can be written
            except Exception:
                log.exception("unexpected error while issuing OTA order %s", current.order_id)
                return self._fail(current, UNEXPECTED_ISSUANCE_FAILURE)

    def sweep(self, scheduled_after: timedelta, processing_after: timedelta) -> list[Order]:
        """The real recovery sweeps: Scheduled too long goes back to Submitted, Processing too long to Error."""
        now = self.clock.now()
        swept = []
        with self.store.lock:
            for order in self.store.in_flight():
                age = now - (order.status_since or now)
                if order.status is OrderStatus.SCHEDULED and age > scheduled_after:
                    swept.append(self._move(order, OrderStatus.SUBMITTED))
                elif order.status is OrderStatus.PROCESSING and age > processing_after:
                    swept.append(self._fail(order, STUCK_IN_PROCESSING))
        return swept

    def manifest_order(self, manifest_id: str) -> Order | None:
        with self.store.lock:
            return self.store.by_manifest(manifest_id)

    # -- internals -------------------------------------------------------

    def _not_before(self, ota: bool) -> date | None:
        """The OTA Channel Manager refuses visit dates before the venue's local today; the synchronous one does not."""
        return self.clock.today() if ota else None

    def _as_ota(self, order: Order, header: OrderHeader, buy_from: str) -> Order:
        """The OTA Channel Manager's version: 50-character payment reference, its own buy-from reference."""
        return replace(
            order,
            ota=True,
            buy_from_order_reference=buy_from,
            payment_reference=code(header.payment_text, 50),
            status=OrderStatus.SCHEDULED,
        )

    def _submit(self, order: Order, fault: Outcome | None, trace: Trace | None, remove: Sequence[Order] = ()) -> Order:
        """Store the order as Submitted: the worker issues it later."""
        pending: dict[str, str | int | bool] = {}
        if fault and fault.applied_at_issuance:
            took_effect(trace)
            pending = fault.pending()
        order = replace(order, status=OrderStatus.SUBMITTED, status_since=self.clock.now(), pending_outcome=pending)
        self.store.commit(put=[order], remove=remove, trace=trace)
        return order

    def _move(self, order: Order, status: OrderStatus) -> Order:
        moved = replace(order, status=status, status_since=self.clock.now())
        self.store.commit(put=[moved])
        return moved

    def _fail(self, order: Order, message: str, remove: Sequence[Order] = (), trace: Trace | None = None) -> Order:
        """Commit the order in Error with the message: no wallets, no job, no manifest."""
        failed = replace(
            _unissued(order),
            status=OrderStatus.ERROR,
            status_message=message[:STATUS_MESSAGE_LENGTH],
            job_id="",
            manifest=None,
            status_since=self.clock.now(),
        )
        self.store.commit(put=[failed], remove=remove, trace=trace)
        return failed

    def _buy_from_reference(self) -> str:
        """`CM-YYMMDDHHMMSS-XXXX`: the time and four hex characters."""
        return f"CM-{self.clock.now():%y%m%d%H%M%S}-{self.numbers.hex(4)}"

    def _issue(
        self,
        order: Order,
        partner: Partner | None,
        fault: Outcome | None = None,
        trace: Trace | None = None,
        remove: Sequence[Order] = (),
        replaced: Order | None = None,
    ) -> Order:
        """Issue and commit the order; a failed issue is committed in Error and re-raised."""
        if fault and fault.kind == "reject":
            took_effect(trace)
            raise BadRequest(fault.text)  # failed while preparing the import: nothing is stored
        if fault and fault.kind == "stick_in_processing":
            took_effect(trace)
            order.status = OrderStatus.PROCESSING
            order.status_since = self.clock.now()
            order.pending_outcome = fault.pending()  # the OTA worker leaves it too
            self.store.commit(put=[order], remove=remove, trace=trace)
            raise StuckInProcessing(order)
        try:
            failure = fault.text if fault and fault.kind == "fail_issuance" else ""
            self.issuer.issue(order, partner, replaced, failure=failure, trace=trace)
        except IssuanceFailed as failure:
            self._fail(order, failure.message, remove, trace)
            raise
        self.store.commit(put=[order], remove=remove, trace=trace)
        return order

    def _existing(self, namespace: Namespace, order_id: str) -> Order:
        guid = parse_guid(order_id)
        if guid is None:
            raise BadRequest("Invalid order id", "orderId", "guid")
        order = self.store.get(namespace, guid)
        if order is None:
            raise NotFound(f"Order '{braced(guid)}' not found")
        return order

    def _new_order_id(self, namespace: Namespace) -> str:
        while True:
            order_id = self.numbers.guid()
            if self.store.find_anywhere(order_id) is None:
                return order_id


class StuckInProcessing(Exception):
    """The order was committed in Processing and its issuance never finished."""

    def __init__(self, order: Order):
        super().__init__(order.order_id)
        self.order = order


def _unissued(order: Order) -> Order:
    """The order with its lines but none of the wallets an issue gave them."""
    return replace(order, pending_outcome={}, lines=[replace(line, wallets=[]) for line in order.lines])


def _object(body: object) -> dict[str, object]:
    if not isinstance(body, dict):
        raise BadRequest("Body must be a JSON object", "body", "object")
    return body


def _received_at(order: Order) -> datetime:
    """When a stored order was received: every stored order has the time (set on create, checked on load and import)."""
    assert order.received_at is not None
    return order.received_at


def _statuses(text: str) -> set[OrderStatus] | None:
    """A comma-separated status filter; an empty one filters nothing."""
    names = [name.strip() for name in text.split(",")]
    if not any(names):
        return None
    by_name = {status.value.lower(): status for status in OrderStatus}
    statuses = set()
    for name in names:
        if name.lower() not in by_name:
            raise BadRequest(
                f"Invalid status filter '{name}': use {', '.join(status.value for status in OrderStatus)}",
                "status",
                "status",
            )
        statuses.add(by_name[name.lower()])
    return statuses


def _datetime(query: Mapping[str, str], name: str) -> datetime | None:
    if name not in query:
        return None
    text = query[name]
    if not ISO_DATETIME.fullmatch(text):
        raise BadRequest(f"{name} must be ISO 8601 datetime", name, "datetime")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # BC reads 7 fraction digits; Python 6
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be ISO 8601 datetime", name, "datetime") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment
