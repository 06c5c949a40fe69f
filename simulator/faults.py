"""Fault rules: which calls they match and how long they live; what they make happen is
simulator.outcomes.

A rule matches on the call (operation, namespace, partner, reference pattern, item),
optionally only on its nth match or with a seeded probability, and fires at most
`times` times (always when unset). Every matching latency rule adds its delay; of
the other outcomes the first matching rule decides.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from simulator.outcomes import Outcome, make_outcome

OPERATIONS = ("create", "get", "list", "confirm", "replace", "delete")
REFERENCE_LENGTH = 50  # sellToOrderReference is a Code[50]


@dataclass
class Call:
    """What a rule can match a partner API call on."""

    operation: str
    namespace: tuple[str, str, str]
    partner_id: str = ""
    reference: str = ""
    items: tuple[str, ...] = ()


@dataclass
class FaultRule:
    id: str
    outcome: Outcome
    description: str = ""
    operation: str = ""
    tenant: str = ""
    environment: str = ""
    company: str = ""
    partner: str = ""
    reference: str = ""  # a glob pattern (* and ?) matched against the whole reference, case-insensitively
    item: str = ""
    nth: int = 0
    probability: float = 1.0
    seed: int | None = None
    times: int | None = None  # None: always
    matched: int = 0
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if self.seed is not None:
            self._rng.seed(self.seed)
        self.reference = self.reference.upper()

    def matches(self, call: Call) -> bool:
        tenant, environment, company = call.namespace
        return (
            (not self.operation or self.operation == call.operation)
            and (not self.tenant or self.tenant == tenant)
            and (not self.environment or self.environment == environment)
            and (not self.company or self.company == company)
            and (not self.partner or self.partner == call.partner_id)
            and (not self.reference or fnmatchcase(call.reference[:REFERENCE_LENGTH], self.reference))
            and (not self.item or self.item in call.items)
            and self.outcome.applies_to(call.operation)
        )

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def describe(self) -> dict[str, str | int | None]:
        described: dict[str, str | int | None] = {
            "id": self.id,
            "description": self.description,
            "outcome": self.outcome.kind,
            "matched": self.matched,
            "fired": self.fired,
        }
        if self.nth:  # only the nth matching call can fire it
            left = 0 if self.matched >= self.nth else 1
            described["remaining"] = left if self.times is None else min(left, max(0, self.times - self.fired))
        else:
            described["remaining"] = None if self.times is None else max(0, self.times - self.fired)
        return described


@dataclass
class Decision:
    """What the rules decided for one call."""

    latency_ms: float = 0
    outcome: Outcome | None = None
    decisive: str = ""  # the id of the rule whose outcome it is
    rules: list[str] = field(default_factory=list)  # ids of the rules that fired


class FaultBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rules: list[FaultRule]) -> None:
        with self._lock:
            taken = {rule.id for rule in self._rules}
            for rule in rules:
                if rule.id in taken:
                    raise ValueError(f"a fault rule with id '{rule.id}' is already loaded")
                taken.add(rule.id)
            self._rules.extend(rules)

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [rule for rule in self._rules if rule.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    def refund(self, rule_id: str) -> None:
        """Give back a firing whose outcome did not take effect."""
        with self._lock:
            for rule in self._rules:
                if rule.id == rule_id and rule.fired:
                    rule.fired -= 1

    def describe(self) -> list[dict[str, str | int | None]]:
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def decide(self, call: Call, rng: random.Random) -> Decision:
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if rule.exhausted or not rule.matches(call):
                    continue
                rule.matched += 1
                if rule.nth and rule.matched != rule.nth:
                    continue
                draws = rule._rng if rule.seed is not None else rng  # the rule's own seed, else the server's
                if rule.probability < 1 and draws.random() >= rule.probability:
                    continue
                if rule.outcome.latency is not None:
                    decision.latency_ms += rule.outcome.latency.draw(draws)
                elif decision.outcome is None:
                    decision.outcome = rule.outcome
                    decision.decisive = rule.id
                else:
                    continue
                rule.fired += 1
                decision.rules.append(rule.id)
        return decision


def make_rule(data: Mapping[str, Any]) -> FaultRule:
    """A fresh rule (counters at zero) from validated scenario data."""
    return FaultRule(
        id=data["id"],
        outcome=make_outcome(data),
        description=data.get("description", ""),
        operation=data.get("operation", ""),
        tenant=data.get("tenant", ""),
        environment=data.get("environment", ""),
        company=data.get("company", ""),
        partner=str(data["partner"]) if data.get("partner") else "",
        reference=data.get("reference", ""),
        item=data.get("item", ""),
        nth=data.get("nth", 0),
        probability=data.get("probability", 1.0),
        seed=data.get("seed"),
        times=data.get("times"),
    )
