"""What the simulated Business Central is configured with: partners, items, admissions."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, time


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
    kind: str  # "ticket", "group", "package" or "coupon" (a package component the OTA mode issues)
    price_excl_vat: float = 0
    price_incl_vat: float = 0
    admission_code: str = ""
    components: tuple[Component, ...] = ()
    ticket_number_pattern: str = ""

    @property
    def is_package(self) -> bool:
        return self.kind == "package"

    @property
    def is_coupon(self) -> bool:
        return self.kind == "coupon"

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

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
