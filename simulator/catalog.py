"""What the simulated Business Central is configured with: partners, items, admissions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, time
from enum import StrEnum


class ItemKind(StrEnum):
    """What an item is, and what that makes it do (scenario files name it by value)."""

    TICKET = "ticket"  # admits a visitor to an admission: a wallet per unit
    GROUP = "group"  # one ticket for the line's whole quantity: one wallet, as many units of capacity
    PACKAGE = "package"  # a bundle of other items, its components: a wallet per unit, holding their tickets
    COUPON = "coupon"  # no ticket: the OTA Channel Manager adds it to each wallet as a coupon asset

    @property
    def admits(self) -> bool:
        """A ticket to one of the catalog's admissions: it needs an admission and a price, and holds capacity."""
        return self in (ItemKind.TICKET, ItemKind.GROUP)

    @property
    def has_components(self) -> bool:
        return self is ItemKind.PACKAGE

    @property
    def issued_as_coupon(self) -> bool:
        return self is ItemKind.COUPON

    @property
    def whole_line(self) -> bool:
        """One ticket and one wallet for the line's whole quantity."""
        return self is ItemKind.GROUP

    def wallets(self, quantity: int) -> int:
        """How many wallets a line of `quantity` gets."""
        return 1 if self.whole_line else quantity

    def units(self, quantity: int) -> int:
        """The capacity one of its tickets holds, on a line of `quantity`."""
        return quantity if self.whole_line else 1


@dataclass(frozen=True)
class Partner:
    partner_id: str  # lowercase GUID
    name: str
    active: bool = True
    manifests: bool = False  # has an NP Designer template, so Issued orders get a manifestUrl
    manifest_template: str = "default"
    ota: bool = False  # served by the asynchronous OTA Channel Manager


@dataclass(frozen=True)
class Slot:
    start: time
    end: time
    capacity: int


@dataclass(frozen=True)
class Admission:
    code: str
    description: str
    weekdays: frozenset[int]  # 0 = Monday
    slots: tuple[Slot, ...]
    closed_dates: frozenset[date] = frozenset()

    def slots_on(self, day: date) -> tuple[Slot, ...]:
        if day.weekday() not in self.weekdays or day in self.closed_dates:
            return ()
        return self.slots

    def nearest_slot(self, day: date, at: time) -> Slot | None:
        """Return the open slot that day whose start is nearest `at` (the earlier on a tie)."""
        seconds = _seconds(at)
        candidates = self.slots_on(day)
        if not candidates:
            return None
        return min(candidates, key=lambda slot: (abs(_seconds(slot.start) - seconds), _seconds(slot.start)))


@dataclass(frozen=True)
class Component:
    item_number: str
    quantity: int


@dataclass(frozen=True)
class Item:
    number: str
    description: str
    kind: ItemKind
    price_excl_vat: float = 0
    price_incl_vat: float = 0
    admission_code: str = ""
    components: tuple[Component, ...] = ()
    ticket_number_pattern: str = ""

    def has_component(self, item_number: str) -> bool:
        return any(component.item_number == item_number for component in self.components)


@dataclass
class Catalog:
    currency: str = "DKK"
    partners: dict[str, Partner] = field(default_factory=dict)
    admissions: dict[str, Admission] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)

    def partner(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def item(self, number: str) -> Item | None:
        return self.items.get(number)

    def admission(self, code: str) -> Admission:
        return self.admissions[code]

    def replace_contents(self, other: Catalog) -> None:
        """Hold what `other` holds: the channel manager and the issuer keep this object."""
        for each in fields(self):
            setattr(self, each.name, getattr(other, each.name))


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
