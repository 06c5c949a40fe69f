"""The order, its lines, wallets and tickets, as the Channel Manager stores them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import Enum

Namespace = tuple[str, str, str]  # (tenant, environment, company)


class OrderStatus(str, Enum):
    SUBMITTED = "Submitted"  # OTA: queued for the worker
    SCHEDULED = "Scheduled"  # OTA: picked up by the worker
    PROCESSING = "Processing"
    DRAFT = "Draft"
    ISSUED = "Issued"
    CANCELLED = "Cancelled"
    ERROR = "Error"

    @property
    def in_flight(self) -> bool:
        return self in (OrderStatus.SUBMITTED, OrderStatus.SCHEDULED, OrderStatus.PROCESSING)

    @property
    def caption(self) -> str:
        """The status as BC writes it inside messages (Processing's caption ends in dots)."""
        return "Processing..." if self is OrderStatus.PROCESSING else self.value


@dataclass(slots=True)
class Ticket:
    id: str  # the wallet asset line
    asset_id: str  # the ticket itself
    number: str  # the external ticket number, shown as referenceNumber
    item_number: str
    description: str
    admission_code: str
    visit_date: str  # the admission day it holds capacity on
    slot: str  # start time of the schedule entry it holds capacity on
    units: int  # capacity it consumes (the group size for a group ticket)
    kind: str = "ticket"  # or "coupon" (OTA), which holds no capacity


@dataclass(slots=True)
class Wallet:
    seq_no: int
    wallet_id: str
    reference_number: str
    external_reference_number: str
    name: str
    issued_at: datetime
    price_excl_vat: float
    price_incl_vat: float
    currency_code: str
    tickets: list[Ticket] = field(default_factory=list)


@dataclass(slots=True)
class ScheduleEntry:
    item_number: str
    visit_date: str
    visit_time: str


@dataclass(slots=True)
class Line:
    line_no: int
    item_number: str
    description: str
    is_package: bool
    is_group: bool
    quantity: int
    visit_date: str
    visit_time: str
    sell_to_name: str
    sell_to_email: str
    sell_to_language: str
    component_schedule: list[ScheduleEntry] = field(default_factory=list)
    requested_names: list[str] = field(default_factory=list)
    requested_references: list[str] = field(default_factory=list)
    wallets: list[Wallet] = field(default_factory=list)

    @property
    def wallet_count(self) -> int:
        """One wallet per unit, or a single wallet holding a group ticket."""
        return 1 if self.is_group else self.quantity


@dataclass(slots=True)
class Manifest:
    manifest_id: str
    template_id: str
    generated: int  # unix seconds


@dataclass(slots=True)
class Order:
    namespace: Namespace
    order_id: str
    partner_id: str
    sell_to_order_reference: str
    sell_to_email: str = ""
    sell_to_name: str = ""
    sell_to_language: str = ""
    payment_reference: str = ""
    status: OrderStatus = OrderStatus.PROCESSING
    status_message: str = ""
    received_at: datetime | None = None
    job_id: str = ""
    manifest: Manifest | None = None
    lines: list[Line] = field(default_factory=list)
    ota: bool = False  # issued asynchronously, as the OTA Channel Manager does
    buy_from_order_reference: str = ""  # OTA: the system's own document number
    status_since: datetime | None = None  # when the current status began (the OTA worker's sweeps)
    pending_outcome: dict = field(default_factory=dict)  # OTA: a fault rule's outcome, for when the worker issues

    @property
    def key(self) -> tuple[Namespace, str]:
        return (self.namespace, self.order_id)

    @property
    def wallets(self) -> list[Wallet]:
        return [wallet for line in self.lines for wallet in line.wallets]

    @property
    def tickets(self) -> list[Ticket]:
        return [ticket for wallet in self.wallets for ticket in wallet.tickets]

    def torn_down(self) -> Order:
        """The order once DestroyOrderAssets has removed its lines, wallets and manifest."""
        return replace(
            self, lines=[], status=OrderStatus.CANCELLED, status_message="", job_id="", manifest=None
        )


def order_to_dict(order: Order) -> dict:
    """Return a JSON-ready record of the order, for persistence (written out field by field:
    dataclasses.asdict is ten times slower, and this runs on every committed change)."""
    return {
        "namespace": list(order.namespace),
        "order_id": order.order_id,
        "partner_id": order.partner_id,
        "sell_to_order_reference": order.sell_to_order_reference,
        "sell_to_email": order.sell_to_email,
        "sell_to_name": order.sell_to_name,
        "sell_to_language": order.sell_to_language,
        "payment_reference": order.payment_reference,
        "status": order.status.value,
        "status_message": order.status_message,
        "received_at": order.received_at.isoformat() if order.received_at else None,
        "job_id": order.job_id,
        "manifest": _fields(order.manifest) if order.manifest else None,
        "lines": [_line_record(line) for line in order.lines],
        "ota": order.ota,
        "buy_from_order_reference": order.buy_from_order_reference,
        "status_since": order.status_since.isoformat() if order.status_since else None,
        "pending_outcome": dict(order.pending_outcome),
    }


def _line_record(line: Line) -> dict:
    record = _fields(line)
    record["component_schedule"] = [_fields(entry) for entry in line.component_schedule]
    record["requested_names"] = list(line.requested_names)
    record["requested_references"] = list(line.requested_references)
    record["wallets"] = [_wallet_record(wallet) for wallet in line.wallets]
    return record


def _wallet_record(wallet: Wallet) -> dict:
    record = _fields(wallet)
    record["issued_at"] = wallet.issued_at.isoformat()
    record["tickets"] = [_fields(ticket) for ticket in wallet.tickets]
    return record


def _fields(value) -> dict:
    """A dataclass instance's fields as a new dict (not deep, unlike asdict)."""
    return {name: getattr(value, name) for name in value.__slots__}


def order_from_dict(record: dict) -> Order:
    """Rebuild an order from `order_to_dict` output."""
    lines = []
    for line in record["lines"]:
        wallets = [
            Wallet(
                **{**wallet, "issued_at": datetime.fromisoformat(wallet["issued_at"]),
                   "tickets": [Ticket(**ticket) for ticket in wallet["tickets"]]}
            )
            for wallet in line["wallets"]
        ]
        schedule = [ScheduleEntry(**entry) for entry in line["component_schedule"]]
        lines.append(Line(**{**line, "wallets": wallets, "component_schedule": schedule}))
    received_at = record["received_at"]
    return Order(
        **{
            **record,
            "namespace": tuple(record["namespace"]),
            "status": OrderStatus(record["status"]),
            "received_at": datetime.fromisoformat(received_at) if received_at else None,
            "status_since": datetime.fromisoformat(record["status_since"]) if record.get("status_since") else None,
            "manifest": Manifest(**record["manifest"]) if record["manifest"] else None,
            "lines": lines,
        }
    )


def check_order(order: Order) -> None:
    """Raise ValueError unless every field of a rebuilt order has the type it must have."""
    _expect(isinstance(order.namespace, tuple) and len(order.namespace) == 3
            and all(isinstance(part, str) for part in order.namespace), "namespace")
    for name in ("order_id", "partner_id", "sell_to_order_reference", "sell_to_email", "sell_to_name",
                 "sell_to_language", "payment_reference", "status_message", "job_id"):
        _expect(isinstance(getattr(order, name), str), name)
    _expect(isinstance(order.received_at, datetime) and order.received_at.tzinfo is not None, "received_at")
    _expect(isinstance(order.lines, list), "lines")
    for line in order.lines:
        _expect(isinstance(line, Line) and isinstance(line.quantity, int) and line.quantity >= 1, "lines.quantity")
        date.fromisoformat(line.visit_date)
        for wallet in line.wallets:
            _expect(isinstance(wallet.issued_at, datetime), "wallets.issued_at")
            _expect(all(isinstance(getattr(wallet, name), (int, float)) for name in ("price_excl_vat", "price_incl_vat")),
                    "wallets.price")
            _expect(all(isinstance(getattr(wallet, name), str) for name in (
                "wallet_id", "reference_number", "external_reference_number", "name", "currency_code")), "wallets")
            for ticket in wallet.tickets:
                _expect(isinstance(ticket.units, int) and ticket.units >= 0, "tickets.units")
                _expect(all(isinstance(getattr(ticket, name), str) for name in (
                    "id", "asset_id", "number", "item_number", "description", "admission_code", "slot")), "tickets")
                date.fromisoformat(ticket.visit_date)


def _expect(condition: bool, name: str) -> None:
    if not condition:
        raise ValueError(f"{name} has the wrong type")
