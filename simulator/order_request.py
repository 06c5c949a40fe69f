"""Read an order from a request body, check for check, in the order the real API checks.

The first failure wins and is raised as BadRequest with the real message. Values
go into fields the way Business Central stores them: over-long text is cut to the
field length, and Code fields are also trimmed and uppercased.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from simulator.catalog import Catalog, Item
from simulator.errors import BadRequest
from simulator.guids import parse_guid
from simulator.model import Line, ScheduleEntry

DATE_PATTERN = re.compile(r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", re.ASCII)
TIME_PATTERN = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d", re.ASCII)
LINE_NO_STEP = 10000
# a simulator's bound, not production's (9,999 per line): issuing one wallet takes ~33 us under
# the store's lock, so an order holds it at most ~0.3 s and renders to at most ~7 MB
MAX_WALLETS_PER_ORDER = 10_000


@dataclass
class OrderHeader:
    partner_id: str
    sell_to_order_reference: str
    sell_to_email: str
    sell_to_name: str
    sell_to_language: str
    payment_reference: str
    payment_text: str  # as sent: the OTA Channel Manager keeps 50 characters, the synchronous one 20


def code(text: str, length: int) -> str:
    """Store text in a BC Code field: cut to length, trimmed, uppercased."""
    return text[:length].strip().upper()[:length]


def as_text(value: object) -> str:
    """A JSON primitive as text, as AL's JsonValue.AsText() gives it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_primitive(value: object) -> bool:
    return not isinstance(value, (dict, list))


def required_value(obj: Mapping[str, object], name: str, at: str = "") -> object:
    if name not in obj:
        raise BadRequest(f"Required field '{name}' is missing", at + name, "required")
    value = obj[name]
    if not is_primitive(value):
        raise BadRequest(f"Required field '{name}' must be a primitive value", at + name, "primitive")
    if value is None:
        raise BadRequest(f"Required field '{name}' cannot be null", at + name, "not_null")
    return value


def required_text(obj: Mapping[str, object], name: str, at: str = "") -> str:
    text = as_text(required_value(obj, name, at))
    if text == "":
        raise BadRequest(f"Required field '{name}' cannot be empty", at + name, "not_empty")
    return text


def optional_text(obj: Mapping[str, object], name: str, at: str = "") -> str:
    value = obj.get(name)
    if not is_primitive(value):
        raise BadRequest(f"Optional field '{name}' must be a primitive value", at + name, "primitive")
    return "" if value is None else as_text(value)


def required_date(obj: Mapping[str, object], name: str, at: str = "") -> str:
    text = as_text(required_value(obj, name, at))
    try:
        if DATE_PATTERN.fullmatch(text):
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass  # a well-formed but impossible date, such as 2026-02-30
    raise BadRequest(f"Required field '{name}' must be YYYY-MM-DD", at + name, "date_format")


def required_time(obj: Mapping[str, object], name: str, at: str = "") -> str:
    text = as_text(required_value(obj, name, at))
    if not TIME_PATTERN.fullmatch(text):
        raise BadRequest(f"Required field '{name}' must be HH:mm:ss", at + name, "time_format")
    return text


def parse_header(body: Mapping[str, object]) -> OrderHeader:
    """Read the header fields (partnerId first, as the real API does)."""
    partner_text = required_text(body, "partnerId")
    partner_id = parse_guid(partner_text)
    if partner_id is None:
        raise BadRequest("partnerId is not a valid GUID", "partnerId", "guid")
    reference = required_text(body, "sellToOrderReference")
    email = optional_text(body, "sellToEmail")
    name = optional_text(body, "sellToName")
    language = optional_text(body, "sellToLanguage")
    payment = optional_text(body, "paymentReference")
    return OrderHeader(
        partner_id=partner_id,
        sell_to_order_reference=code(reference, 50),
        sell_to_email=email[:100],
        sell_to_name=name[:100],
        sell_to_language=code(language, 10),
        payment_reference=code(payment, 20),
        payment_text=payment,
    )


def parse_lines(
    body: Mapping[str, object], header: OrderHeader, catalog: Catalog, not_before: date | None = None
) -> list[Line]:
    """Read `items`: every line is checked before anything is stored.

    With `not_before` (the OTA Channel Manager's local today), each line and each of
    its schedule entries also refuses an earlier visit date, right after its time."""
    if "items" not in body:
        raise BadRequest("items array is required", "items", "required")
    items = body["items"]
    if not isinstance(items, list):
        raise BadRequest("items must be an array", "items", "array")
    if not items:
        raise BadRequest("items array must contain at least one entry", "items", "not_empty")
    lines = [_parse_line(entry, index, header, catalog, not_before) for index, entry in enumerate(items)]
    wallets = sum(line.wallet_count for line in lines)
    if wallets > MAX_WALLETS_PER_ORDER:
        raise BadRequest(
            f"The simulator issues at most {MAX_WALLETS_PER_ORDER} wallets per order; this one asks "
            f"for {wallets}. Split it into smaller orders.",
            "items",
            "max_wallets",
        )
    return lines


def _parse_line(entry: object, index: int, header: OrderHeader, catalog: Catalog, not_before: date | None) -> Line:
    line_no = (index + 1) * LINE_NO_STEP
    at = f"items[{index}]."
    if not isinstance(entry, dict):
        raise BadRequest(f"items[{index}] must be an object", f"items[{index}]", "object")
    item_text = required_text(entry, "itemNumber", at)
    item = catalog.item(code(item_text, 20))
    if item is None:
        raise BadRequest(f"Unknown item '{item_text}'", at + "itemNumber", "known_item")
    quantity = _quantity(entry.get("quantity"), line_no, at)
    visit_date = required_date(entry, "visitDate", at)
    visit_time = required_time(entry, "visitTime", at)
    _not_past(visit_date, not_before, f"items[{index}]", at + "visitDate")
    line = Line(
        line_no=line_no,
        item_number=item.number,
        description=item.description,
        kind=item.kind,
        quantity=quantity,
        visit_date=visit_date,
        visit_time=visit_time,
        sell_to_email=_override(entry, "sellToEmail", header.sell_to_email, at)[:100],
        sell_to_name=_override(entry, "sellToName", header.sell_to_name, at)[:100],
        sell_to_language=code(_override(entry, "sellToLanguage", header.sell_to_language, at), 10),
    )
    wallet = entry.get("wallet")
    if isinstance(wallet, dict):
        _parse_wallet_block(wallet, line, item, index, not_before)
    return line


def _quantity(value: object, line_no: int, at: str) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise BadRequest(f"quantity must be an integer (line {line_no})", at + "quantity", "integer")
    if value < 1:
        raise BadRequest(f"quantity must be >= 1 (line {line_no})", at + "quantity", "minimum")
    return int(value)


def _not_past(visit_date: str, not_before: date | None, what: str, field: str) -> None:
    """The OTA Channel Manager's request-time check (`what` names the line with its 0-based index)."""
    if not_before and visit_date < not_before.isoformat():
        raise BadRequest(
            f"{what} visitDate must not be in the past (received {visit_date}, local today {not_before.isoformat()})",
            field,
            "not_past",
        )


def _override(entry: Mapping[str, object], name: str, inherited: str, at: str) -> str:
    """A line value that overrides the header's; an explicit null blanks it."""
    if name not in entry:
        return inherited
    return optional_text(entry, name, at)


def _parse_wallet_block(
    wallet: Mapping[str, object], line: Line, item: Item, index: int, not_before: date | None
) -> None:
    at = f"items[{index}].wallet."
    count = line.wallet_count
    names = wallet.get("names")
    if isinstance(names, list):
        line.requested_names = [text[:100] for text in _entries(names, "names", count, line.line_no, at)]
    references = wallet.get("externalReferenceNumbers")
    if isinstance(references, list):
        line.requested_references = [
            text[:100] for text in _entries(references, "externalReferenceNumbers", count, line.line_no, at)
        ]
    schedule = wallet.get("componentSchedule")
    if isinstance(schedule, list):
        if not line.kind.has_components:
            raise BadRequest(
                f"wallet.componentSchedule is only valid for package items (line {line.line_no})",
                at + "componentSchedule",
                "package_only",
            )
        line.component_schedule = [
            _schedule_entry(raw, line, item, index, f"{at}componentSchedule[{position}]", not_before)
            for position, raw in enumerate(schedule)
        ]


def _entries(values: Sequence[object], name: str, count: int, line_no: int, at: str) -> list[str]:
    if len(values) != count:
        raise BadRequest(
            f"wallet.{name} array length ({len(values)}) must equal {count} on line {line_no}", at + name, "length"
        )
    if not all(is_primitive(value) for value in values):
        raise BadRequest(f"wallet.{name} entries must be primitive values (line {line_no})", at + name, "primitive")
    return ["" if value is None else as_text(value) for value in values]


def _schedule_entry(
    raw: object, line: Line, package: Item, index: int, at: str, not_before: date | None
) -> ScheduleEntry:
    if not isinstance(raw, dict):
        raise BadRequest(f"wallet.componentSchedule entries must be objects (line {line.line_no})", at, "object")
    item_text = required_text(raw, "itemNumber", at + ".")
    component = code(item_text, 20)
    if not package.has_component(component):
        raise BadRequest(
            f"'{item_text}' is not a component of package '{package.number}' (line {line.line_no})",
            at + ".itemNumber",
            "component",
        )
    visit_date = required_date(raw, "visitDate", at + ".")
    visit_time = required_time(raw, "visitTime", at + ".")
    _not_past(visit_date, not_before, f"items[{index}].componentSchedule entry '{item_text}'", at + ".visitDate")
    return ScheduleEntry(item_number=component, visit_date=visit_date, visit_time=visit_time)
