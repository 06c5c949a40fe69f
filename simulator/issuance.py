"""Ticket issuance as the real ticket import does it: reserve, then wrap into wallets.

A failure while reserving or wrapping leaves the order in Error (IssuanceFailed);
a failure while preparing the import (too many wallets, no unique ticket number)
is rejected with nothing stored (BadRequest).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, time

from simulator.catalog import Catalog, Item, Partner
from simulator.clock import Clock
from simulator.errors import BadRequest, IssuanceFailed
from simulator.model import AssetType, Line, Manifest, Order, OrderStatus, Ticket, Wallet
from simulator.numbers import NumberClash, Numbers
from simulator.store import Store, Trace, took_effect

MAX_WALLETS_PER_LINE = 9999  # the real issuer encodes wallet numbers below 10000
PLACEHOLDER = re.compile(r"\{(admission|visit_date|slot|capacity|would_be|external_reference)\}")


@dataclass
class PlannedTicket:
    item: Item
    visit_date: str
    visit_time: str
    units: int
    price_excl_vat: float
    price_incl_vat: float
    slot: str = ""  # set when the reservation binds a schedule entry
    number: str = ""  # drawn once every ticket is reserved


Plans = list[list[list[PlannedTicket]]]  # for each line, for each of its wallets, the tickets in it


class Issuer:
    def __init__(self, catalog: Catalog, store: Store, numbers: Numbers, clock: Clock):
        self.catalog = catalog
        self.store = store
        self.numbers = numbers
        self.clock = clock

    def issue(
        self,
        order: Order,
        partner: Partner | None,
        replaced: Order | None = None,
        failure: str = "",
        trace: Trace | None = None,
    ) -> None:
        """Give every line its wallets and tickets and settle the order in Draft or Issued.

        `replaced` is the stored version this order replaces: its capacity and
        external references are free for the new issue. A `failure` message (from a
        fault rule) makes the import fail with it (`trace` then says the rule took effect).
        """
        plans = [self._plan_line(line) for line in order.lines]
        if failure:
            took_effect(trace)
            raise IssuanceFailed(self._failure_message(failure, order, plans, replaced))
        self._reserve(order, plans, replaced)
        self._number(plans)
        self._wrap(order, plans, replaced)
        if order.ota:  # the OTA Channel Manager also issues coupons
            order.lines = [self._with_coupons(line) for line in order.lines]
        order.job_id = self.numbers.job_id()
        order.status_message = ""
        if order.payment_reference:
            self.settle_issued(order, partner)
        else:
            order.status = OrderStatus.DRAFT

    def settle_issued(self, order: Order, partner: Partner | None) -> None:
        """Mark the order Issued and build its manifest when the partner has one."""
        order.status = OrderStatus.ISSUED
        if partner is not None and partner.manifests:
            order.manifest = Manifest(
                manifest_id=self.numbers.guid(),
                template_id=partner.manifest_template,
                generated=int(self.clock.now().timestamp()),
            )

    def _with_coupons(self, line: Line) -> Line:
        """The line with a coupon asset per coupon component in each wallet (new objects: the
        stored order's lines are never changed in place)."""
        item = self.catalog.item(line.item_number)
        if item is not None and item.kind.issued_as_coupon:
            coupons = [item]
        else:
            parts = [(self._item(c.item_number), c.quantity) for c in (item.components if item else ())]
            coupons = [part for part, quantity in parts if part.kind.issued_as_coupon for _ in range(quantity)]
        if not coupons or any(t.kind is AssetType.COUPON for w in line.wallets for t in w.tickets):
            return line
        wallets = []
        for wallet in line.wallets:
            assets = [
                Ticket(
                    id=self.numbers.guid(),
                    asset_id=self.numbers.guid(),
                    number=self.numbers.ticket_number(coupon.ticket_number_pattern),
                    item_number=coupon.number,
                    description=coupon.description,
                    admission_code="",
                    visit_date=line.visit_date,
                    slot="",
                    units=0,
                    kind=AssetType.COUPON,
                )
                for coupon in coupons
            ]
            wallets.append(
                replace(
                    wallet,
                    tickets=wallet.tickets + assets,
                    price_excl_vat=wallet.price_excl_vat + sum(c.price_excl_vat for c in coupons),
                    price_incl_vat=wallet.price_incl_vat + sum(c.price_incl_vat for c in coupons),
                )
            )
        return replace(line, wallets=wallets)

    # -- preparing the import (a failure stores nothing) -----------------

    def _plan_line(self, line: Line) -> list[list[PlannedTicket]]:
        """The tickets of each wallet of the line, numbered and priced."""
        if line.wallet_count > MAX_WALLETS_PER_LINE:
            raise BadRequest(
                f"CMTicketIssuer token line encoding overflow: LineNo={line.line_no} "
                f"SeqNo={MAX_WALLETS_PER_LINE + 1} ImportIdx=1. SeqNo must stay below 10000 and "
                "ImportIdx below 10. This is a programming bug."
            )
        item = self._item(line.item_number)
        return [self._plan_wallet(line, item) for _ in range(line.wallet_count)]

    def _plan_wallet(self, line: Line, item: Item) -> list[PlannedTicket]:
        if item.kind.has_components:
            tickets = []
            for component in item.components:
                ticket_item = self._item(component.item_number)
                if ticket_item.kind.issued_as_coupon:
                    continue  # coupons are posted once the order is paid (OTA only)
                visit_date, visit_time = self._component_visit(line, component.item_number)
                tickets += [
                    self._plan_ticket(ticket_item, visit_date, visit_time, 1) for _ in range(component.quantity)
                ]
            return tickets
        if item.kind.issued_as_coupon:
            return []  # a coupon is no ticket: the OTA mode adds it as a coupon asset
        return [self._plan_ticket(item, line.visit_date, line.visit_time, item.kind.units(line.quantity))]

    def _item(self, number: str) -> Item:
        """The item a line or a package component names: parse_lines checked the line's, the scenario
        the package's components (an item a scenario reload dropped fails the issue here, as before)."""
        item = self.catalog.item(number)
        assert item is not None, f"item {number} is not in the catalog"
        return item

    @staticmethod
    def _component_visit(line: Line, item_number: str) -> tuple[str, str]:
        """The first schedule entry for the component, else the line's own visit."""
        for entry in line.component_schedule:
            if entry.item_number == item_number:
                return entry.visit_date, entry.visit_time
        return line.visit_date, line.visit_time

    @staticmethod
    def _plan_ticket(item: Item, visit_date: str, visit_time: str, units: int) -> PlannedTicket:
        return PlannedTicket(
            item, visit_date, visit_time, units, item.price_excl_vat * units, item.price_incl_vat * units
        )

    def _number(self, plans: Plans) -> None:
        """Draw the ticket numbers (after the reservation, so a refused order draws none)."""
        try:
            for planned in (ticket for line in plans for wallet in line for ticket in wallet):
                planned.number = self.numbers.ticket_number(planned.item.ticket_number_pattern)
        except NumberClash as clash:
            raise BadRequest(str(clash)) from None

    # -- the import itself (a failure leaves the order in Error) ---------

    def _failure_message(self, template: str, order: Order, plans: Plans, replaced: Order | None) -> str:
        """Fill a failure message with values of the order's first ticket and wallet."""
        first = next((ticket for line in plans for wallet in line for ticket in wallet), None)
        values: dict[str, str | int] = {"external_reference": _at(order.lines[0].requested_references, 1) or "EXT-1"}
        if first is not None:
            admission = self.catalog.admission(first.item.admission_code)
            day = date.fromisoformat(first.visit_date)
            slot = admission.nearest_slot(day, time.fromisoformat(first.visit_time)) or admission.slots[0]
            used = self.store.capacity_used(order.namespace, admission.code, first.visit_date, slot.start.isoformat())
            values.update(
                admission=admission.code,
                visit_date=first.visit_date,
                slot=slot.start.isoformat(),
                capacity=slot.capacity,
                would_be=max(used, slot.capacity) + first.units,
            )
        return PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), template)

    def _reserve(self, order: Order, plans: Plans, replaced: Order | None) -> None:
        """Check every ticket against its admission: date, time slot, capacity."""
        released: Counter[tuple[str, str, str]] = Counter()  # (admission, day, slot)
        if replaced is not None:
            for ticket in replaced.tickets:
                released[(ticket.admission_code, ticket.visit_date, ticket.slot)] += ticket.units
        pending: Counter[tuple[str, str, str]] = Counter()
        today = self.clock.today()
        for planned in (ticket for line in plans for wallet in line for ticket in wallet):
            admission = self.catalog.admission(planned.item.admission_code)
            day = date.fromisoformat(planned.visit_date)
            if day < today:
                raise IssuanceFailed(
                    f"Expected visit date {planned.visit_date} for admission code {admission.code} is in the past."
                )
            slot = admission.nearest_slot(day, time.fromisoformat(planned.visit_time))
            if slot is None:
                raise IssuanceFailed(
                    f"Admission Code {admission.code} has no available time slots "
                    f"for expected visit date {planned.visit_date}."
                )
            key = (admission.code, planned.visit_date, slot.start.isoformat())
            used = self.store.capacity_used(order.namespace, *key) - released[key] + pending[key]
            if used + planned.units > slot.capacity:
                raise IssuanceFailed(
                    f"The reservation capacity for {admission.code} at {planned.visit_date} {key[2]} "
                    f"has been exceeded. A maximum of {slot.capacity} with method SALES is permitted. "
                    f"This action would make it {used + planned.units}."
                )
            pending[key] += planned.units
            planned.slot = key[2]

    def _wrap(self, order: Order, plans: Plans, replaced: Order | None) -> None:
        """Create one wallet per planned wallet and put its tickets in it."""
        released = Counter(wallet.external_reference_number for wallet in replaced.wallets) if replaced else Counter()
        claimed: set[str] = set()

        def taken(reference: str) -> bool:
            held = self.store.external_reference_count(order.namespace, reference) - released[reference]
            return held > 0 or reference in claimed

        issued_at = self.clock.now()
        for line, wallets in zip(order.lines, plans, strict=True):
            for seq_no, planned_tickets in enumerate(wallets, start=1):
                requested = _at(line.requested_references, seq_no)
                if requested and taken(requested):
                    raise IssuanceFailed(
                        "The selected external reference is already in use with another wallet. "
                        f"Requested reference: {requested}"
                    )
                reference_number = self.numbers.wallet_reference()
                external = requested or self.numbers.external_reference(reference_number, taken)
                claimed.add(external)
                line.wallets.append(
                    Wallet(
                        seq_no=seq_no,
                        wallet_id=self.numbers.guid(),
                        reference_number=reference_number,
                        external_reference_number=external,
                        name=_at(line.requested_names, seq_no) or line.description,
                        issued_at=issued_at,
                        price_excl_vat=sum(t.price_excl_vat for t in planned_tickets),
                        price_incl_vat=sum(t.price_incl_vat for t in planned_tickets),
                        currency_code=self.catalog.currency,
                        tickets=[self._ticket(planned) for planned in planned_tickets],
                    )
                )

    def _ticket(self, planned: PlannedTicket) -> Ticket:
        return Ticket(
            id=self.numbers.guid(),
            asset_id=self.numbers.guid(),
            number=planned.number,
            item_number=planned.item.number,
            description=planned.item.description,
            admission_code=planned.item.admission_code,
            visit_date=planned.visit_date,
            slot=planned.slot,
            units=planned.units,
        )


def _at(values: list[str], seq_no: int) -> str:
    return values[seq_no - 1] if len(values) >= seq_no else ""
