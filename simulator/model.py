"""The order, its lines, wallets and tickets, as the Channel Manager stores them."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from simulator.catalog import ItemKind
from simulator.clock import EARLIEST, LATEST
from simulator.outcomes import PENDING_OUTCOMES, is_pending_outcome

Namespace = tuple[str, str, str]  # (tenant, environment, company)
NAMESPACE_KEYS = ("tenant", "environment", "company")  # a Namespace's parts, by name
# imports (PUT /_sim/state): the bounds of their fields
SHORT_TEXT = 250  # characters of a name, code or reference
LONG_TEXT = 2048  # characters of a message or description
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
ISO_TIME = re.compile(r"\d{2}:\d{2}:\d{2}", re.ASCII)
GUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII)


class OrderStatus(StrEnum):
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


class AssetType(StrEnum):
    """What a wallet's asset is (the `type` of an asset on the wire)."""

    TICKET = "ticket"
    COUPON = "coupon"  # OTA only; it holds no capacity


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
    kind: AssetType = AssetType.TICKET


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
    kind: ItemKind  # the item's
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
        return self.kind.wallets(self.quantity)


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
    # OTA: a fault rule's outcome (`Outcome.pending`), for when the worker issues
    pending_outcome: dict[str, str | int | bool] = field(default_factory=dict)

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
        return replace(self, lines=[], status=OrderStatus.CANCELLED, status_message="", job_id="", manifest=None)


def order_to_dict(order: Order) -> dict[str, Any]:
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


def _line_record(line: Line) -> dict[str, Any]:
    """A stored line records of its item's kind what its wallets depend on: package or group."""
    return {
        "line_no": line.line_no,
        "item_number": line.item_number,
        "description": line.description,
        "is_package": line.kind.has_components,
        "is_group": line.kind.whole_line,
        "quantity": line.quantity,
        "visit_date": line.visit_date,
        "visit_time": line.visit_time,
        "sell_to_name": line.sell_to_name,
        "sell_to_email": line.sell_to_email,
        "sell_to_language": line.sell_to_language,
        "component_schedule": [_fields(entry) for entry in line.component_schedule],
        "requested_names": list(line.requested_names),
        "requested_references": list(line.requested_references),
        "wallets": [_wallet_record(wallet) for wallet in line.wallets],
    }


def _line_kind(is_package: bool, is_group: bool) -> ItemKind:
    """The kind a stored line's flags stand for: a coupon line, stored as a ticket line is,
    reads back as one (its wallets are laid out and rendered the same)."""
    return ItemKind.PACKAGE if is_package else ItemKind.GROUP if is_group else ItemKind.TICKET


def _wallet_record(wallet: Wallet) -> dict[str, Any]:
    record = _fields(wallet)
    record["issued_at"] = wallet.issued_at.isoformat()
    record["tickets"] = [{**_fields(ticket), "kind": ticket.kind.value} for ticket in wallet.tickets]
    return record


def _fields(value: Manifest | ScheduleEntry | Wallet | Ticket) -> dict[str, Any]:
    """A dataclass instance's fields as a new dict (not deep, unlike asdict)."""
    return {name: getattr(value, name) for name in value.__slots__}


def order_from_dict(record: Mapping[str, Any]) -> Order:
    """Rebuild an order from `order_to_dict` output."""
    lines = []
    for line in record["lines"]:
        wallets = [
            Wallet(
                **{
                    **wallet,
                    "issued_at": datetime.fromisoformat(wallet["issued_at"]),
                    "tickets": [_ticket(ticket) for ticket in wallet["tickets"]],
                }
            )
            for wallet in line["wallets"]
        ]
        schedule = [ScheduleEntry(**entry) for entry in line["component_schedule"]]
        fields = {name: value for name, value in line.items() if name not in ("is_package", "is_group")}
        lines.append(
            Line(
                **{
                    **fields,
                    "kind": _line_kind(line["is_package"], line["is_group"]),
                    "wallets": wallets,
                    "component_schedule": schedule,
                }
            )
        )
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


def _ticket(record: dict[str, Any]) -> Ticket:
    return Ticket(**{**record, "kind": AssetType(record.get("kind", AssetType.TICKET))})


def check_order(order: Order) -> None:
    """Raise ValueError unless every field of a rebuilt order has the type it must have."""
    _expect(
        isinstance(order.namespace, tuple)
        and len(order.namespace) == 3
        and all(isinstance(part, str) for part in order.namespace),
        "namespace",
    )
    for name in (
        "order_id",
        "partner_id",
        "sell_to_order_reference",
        "sell_to_email",
        "sell_to_name",
        "sell_to_language",
        "payment_reference",
        "status_message",
        "job_id",
    ):
        _expect(isinstance(getattr(order, name), str), name)
    _expect(isinstance(order.received_at, datetime) and order.received_at.tzinfo is not None, "received_at")
    _expect(isinstance(order.lines, list), "lines")
    for line in order.lines:
        _expect(isinstance(line, Line) and isinstance(line.quantity, int) and line.quantity >= 1, "lines.quantity")
        date.fromisoformat(line.visit_date)
        for wallet in line.wallets:
            _expect(isinstance(wallet.issued_at, datetime), "wallets.issued_at")
            _expect(
                all(isinstance(getattr(wallet, name), (int, float)) for name in ("price_excl_vat", "price_incl_vat")),
                "wallets.price",
            )
            _expect(
                all(
                    isinstance(getattr(wallet, name), str)
                    for name in ("wallet_id", "reference_number", "external_reference_number", "name", "currency_code")
                ),
                "wallets",
            )
            for ticket in wallet.tickets:
                _expect(isinstance(ticket.units, int) and ticket.units >= 0, "tickets.units")
                _expect(
                    all(
                        isinstance(getattr(ticket, name), str)
                        for name in ("id", "asset_id", "number", "item_number", "description", "admission_code", "slot")
                    ),
                    "tickets",
                )
                date.fromisoformat(ticket.visit_date)


def _expect(condition: bool, name: str) -> None:
    if not condition:
        raise ValueError(f"{name} has the wrong type")


# -- imports (PUT /_sim/state): every field checked before anything changes ---------


class InvalidImport(ValueError):
    """A state that cannot be imported; the message names the order and the field."""


class _BadField(ValueError):
    """One field's problem, as `path must ...`."""


Check = Callable[[object, str], None]  # a field's check of its value at the path: _BadField when it is wrong
Fields = Mapping[str, tuple[Check, bool]]  # each key's check and whether it may be left out


def orders_from_import(records: object) -> list[Order]:
    """The exported order records as orders, each field checked; InvalidImport names the first
    order and field that is wrong, or an order id or reference given twice."""
    if not isinstance(records, list):
        raise InvalidImport("orders must be a list of exported orders")
    orders = []
    for index, record in enumerate(records):
        try:
            _check_record(record, ORDER_FIELDS, "")
        except _BadField as error:
            raise InvalidImport(f"{_which(index, record)}: {error}") from None
        orders.append(order_from_dict(record))
    _check_unique(orders, lambda order: order.order_id, "order_id")
    _check_unique(
        orders,
        lambda order: (order.namespace, order.partner_id, order.sell_to_order_reference),
        "sell_to_order_reference (for its namespace and partner)",
    )
    return orders


def imported_moment(value: object, path: str) -> datetime:
    """An exported ISO 8601 date and time with a time zone, within the simulator clock's range."""
    try:
        _moment(value, path)
    except _BadField as error:
        raise InvalidImport(str(error)) from None
    assert isinstance(value, str)  # _moment passes text only
    return datetime.fromisoformat(value)


def _which(index: int, record: object) -> str:
    order_id = record.get("order_id") if isinstance(record, dict) else None
    if isinstance(order_id, str) and GUID_TEXT.fullmatch(order_id):
        return f"orders[{index}] (order '{order_id}')"
    return f"orders[{index}]"


def _check_unique(orders: list[Order], key: Callable[[Order], Hashable], field_name: str) -> None:
    first: dict[Hashable, int] = {}
    for index, order in enumerate(orders):
        earlier = first.setdefault(key(order), index)
        if earlier != index:
            raise InvalidImport(
                f"orders[{index}] (order '{order.order_id}'): {field_name} is the same as orders[{earlier}]'s"
            )


def _check_record(record: object, fields: Fields, path: str) -> None:
    """`fields` maps each key to its check and whether it may be left out (older exports lack it)."""
    if not isinstance(record, dict):
        raise _BadField(f"{path or 'the order'} must be an object")
    for key in record:
        if key not in fields:
            raise _BadField(f"{_joined(path, str(key)[:60])} is not a field of an exported order")
    for key, (check, optional) in fields.items():
        if key in record:
            check(record[key], _joined(path, key))
        elif not optional:
            raise _BadField(f"{_joined(path, key)} is missing")


def _joined(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _records(fields: Fields) -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, list):
            raise _BadField(f"{path} must be a list")
        for index, entry in enumerate(value):
            _check_record(entry, fields, f"{path}[{index}]")

    return check


def _text(longest: int = SHORT_TEXT, shortest: int = 0) -> Check:
    length = f"{shortest} to {longest}" if shortest else f"at most {longest}"

    def check(value: object, path: str) -> None:
        if not isinstance(value, str) or not shortest <= len(value) <= longest:
            raise _BadField(f"{path} must be text of {length} characters")

    return check


def _texts(value: object, path: str) -> None:
    if not isinstance(value, list) or len(value) > 10_000:
        raise _BadField(f"{path} must be a list of texts")
    for index, entry in enumerate(value):
        _text()(entry, f"{path}[{index}]")


def _whole(least: int, most: int) -> Check:
    def check(value: object, path: str) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
            raise _BadField(f"{path} must be a whole number from {least} to {most}")

    return check


def _amount(value: object, path: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1e12:
        raise _BadField(f"{path} must be an amount from 0 to 1000000000000")


def _flag(value: object, path: str) -> None:
    if not isinstance(value, bool):
        raise _BadField(f"{path} must be true or false")


def _guid(value: object, path: str) -> None:
    if not isinstance(value, str) or not GUID_TEXT.fullmatch(value):
        raise _BadField(f"{path} must be a GUID as exported (lowercase, no braces)")


def _date(value: object, path: str) -> None:
    try:
        date.fromisoformat(value if isinstance(value, str) and ISO_DATE.fullmatch(value) else "")
    except ValueError:
        raise _BadField(f"{path} must be a date (YYYY-MM-DD)") from None


def _time(value: object, path: str) -> None:
    try:
        time.fromisoformat(value if isinstance(value, str) and ISO_TIME.fullmatch(value) else "")
    except ValueError:
        raise _BadField(f"{path} must be a time (HH:MM:SS)") from None


def _slot(value: object, path: str) -> None:
    if value != "":  # a coupon holds no slot
        _time(value, path)


def _moment(value: object, path: str) -> None:
    try:
        moment = datetime.fromisoformat(value if isinstance(value, str) and len(value) <= 40 else "")
        usable = moment.tzinfo is not None and EARLIEST <= moment <= LATEST
    except (ValueError, OverflowError):
        usable = False
    if not usable:
        raise _BadField(f"{path} must be an ISO 8601 date and time with a time zone, between 1900 and 9000")


def _optional_moment(value: object, path: str) -> None:
    if value is not None:
        _moment(value, path)


def _status(value: object, path: str) -> None:
    if not isinstance(value, str) or value not in {status.value for status in OrderStatus}:
        raise _BadField(f"{path} must be one of {', '.join(status.value for status in OrderStatus)}")


def _namespace(value: object, path: str) -> None:
    if not isinstance(value, list) or len(value) != 3:
        raise _BadField(f"{path} must be [tenant, environment, company]")
    for index, part in enumerate(value):
        _text(shortest=1)(part, f"{path}[{index}]")


def _manifest(value: object, path: str) -> None:
    if value is not None:
        _check_record(value, MANIFEST_FIELDS, path)


def _pending_outcome(value: object, path: str) -> None:
    """What a fault rule left for the OTA worker to do: nothing, or one outcome it knows."""
    if not is_pending_outcome(value):
        raise _BadField(f"{path} must be {PENDING_OUTCOMES}")


def _ticket_kind(value: object, path: str) -> None:
    if value not in tuple(asset.value for asset in AssetType):  # a tuple: the value may be unhashable
        raise _BadField(f"{path} must be {' or '.join(AssetType)}")


# the fields of an exported order, each with its check (defined above) and whether it may be left out
REQUIRED, OPTIONAL = False, True
MANIFEST_FIELDS: Fields = {
    "manifest_id": (_guid, REQUIRED),
    "template_id": (_text(40, 1), REQUIRED),
    "generated": (_whole(0, 2**40), REQUIRED),
}
TICKET_FIELDS: Fields = {
    "id": (_guid, REQUIRED),
    "asset_id": (_guid, REQUIRED),
    "number": (_text(100, 1), REQUIRED),
    "item_number": (_text(), REQUIRED),
    "description": (_text(), REQUIRED),
    "admission_code": (_text(), REQUIRED),
    "visit_date": (_date, REQUIRED),
    "slot": (_slot, REQUIRED),
    "units": (_whole(0, 1_000_000), REQUIRED),
    "kind": (_ticket_kind, OPTIONAL),
}
WALLET_FIELDS: Fields = {
    "seq_no": (_whole(0, 1_000_000_000), REQUIRED),
    "wallet_id": (_guid, REQUIRED),
    "reference_number": (_text(100, 1), REQUIRED),
    "external_reference_number": (_text(100), REQUIRED),
    "name": (_text(), REQUIRED),
    "issued_at": (_moment, REQUIRED),
    "price_excl_vat": (_amount, REQUIRED),
    "price_incl_vat": (_amount, REQUIRED),
    "currency_code": (_text(10), REQUIRED),
    "tickets": (_records(TICKET_FIELDS), REQUIRED),
}
SCHEDULE_FIELDS: Fields = {
    "item_number": (_text(), REQUIRED),
    "visit_date": (_date, REQUIRED),
    "visit_time": (_time, REQUIRED),
}
LINE_FIELDS: Fields = {
    "line_no": (_whole(1, 1_000_000_000), REQUIRED),
    "item_number": (_text(shortest=1), REQUIRED),
    "description": (_text(), REQUIRED),
    "is_package": (_flag, REQUIRED),
    "is_group": (_flag, REQUIRED),
    "quantity": (_whole(1, 1_000_000), REQUIRED),
    "visit_date": (_date, REQUIRED),
    "visit_time": (_time, REQUIRED),
    "sell_to_name": (_text(), REQUIRED),
    "sell_to_email": (_text(), REQUIRED),
    "sell_to_language": (_text(), REQUIRED),
    "component_schedule": (_records(SCHEDULE_FIELDS), OPTIONAL),
    "requested_names": (_texts, OPTIONAL),
    "requested_references": (_texts, OPTIONAL),
    "wallets": (_records(WALLET_FIELDS), REQUIRED),
}
ORDER_FIELDS: Fields = {
    "namespace": (_namespace, REQUIRED),
    "order_id": (_guid, REQUIRED),
    "partner_id": (_guid, REQUIRED),
    "sell_to_order_reference": (_text(50, 1), REQUIRED),
    "sell_to_email": (_text(), REQUIRED),
    "sell_to_name": (_text(), REQUIRED),
    "sell_to_language": (_text(), REQUIRED),
    "payment_reference": (_text(), REQUIRED),
    "status": (_status, REQUIRED),
    "status_message": (_text(LONG_TEXT), REQUIRED),
    "received_at": (_moment, REQUIRED),
    "job_id": (_text(), REQUIRED),
    "manifest": (_manifest, REQUIRED),
    "lines": (_records(LINE_FIELDS), REQUIRED),
    "ota": (_flag, OPTIONAL),
    "buy_from_order_reference": (_text(), OPTIONAL),
    "status_since": (_optional_moment, OPTIONAL),
    "pending_outcome": (_pending_outcome, OPTIONAL),
}
