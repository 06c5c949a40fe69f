"""What a fault rule makes happen: one table, OUTCOMES, of the kinds of outcome.

Each kind names its scenario keys with their validation, the operations it applies to, and
how its effect is counted. The rule model (simulator.faults), the scenario schema, the call
pipeline (simulator.partner_calls), the OTA submit path and the import of an order's pending
outcome all read the table; the effect itself is carried out where it happens: around the
operation in simulator.partner_calls, or on the order in simulator.channel_manager.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

ISSUING = ("create", "replace")  # the operations that issue an order
TRANSPORT_FAULTS = ("reset", "empty_reply", "truncated", "hang")
MAX_DELAY_MS = 600_000  # ten minutes: the longest delay a scenario asks for, or a rule draws
MAX_HANG_SECONDS = MAX_DELAY_MS // 1000
MAX_TEXT = 2048  # characters of a rule's description or message
HANG_SECONDS = 30  # how long a hang lasts unless the rule says


@dataclass
class Latency:
    fixed_ms: float = 0
    distribution: str = ""  # "", "uniform" or "lognormal"
    min_ms: float = 0
    max_ms: float = 0
    median_ms: float = 0
    sigma: float = 0.5

    def draw(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            return rng.uniform(self.min_ms, self.max_ms)
        if self.distribution == "lognormal":
            return min(rng.lognormvariate(math.log(self.median_ms), self.sigma), MAX_DELAY_MS)
        return self.fixed_ms


class LatencySchema(Schema):
    class Meta:
        unknown = RAISE

    distribution = fields.String(required=True, validate=validate.OneOf(["uniform", "lognormal"]))
    min_ms = fields.Float(validate=validate.Range(min=0, max=MAX_DELAY_MS))
    max_ms = fields.Float(validate=validate.Range(min=0, max=MAX_DELAY_MS))
    median_ms = fields.Float(validate=validate.Range(min=0.001, max=MAX_DELAY_MS))
    sigma = fields.Float(load_default=0.5, validate=validate.Range(min=0, max=3))

    @validates_schema
    def parameters(self, data: dict[str, Any], **kwargs: Any) -> None:
        needed = ("min_ms", "max_ms") if data["distribution"] == "uniform" else ("median_ms",)
        for key in needed:
            if key not in data:
                raise ValidationError(f"required for a {data['distribution']} distribution", key)
        if data["distribution"] == "uniform" and data["min_ms"] > data["max_ms"]:
            raise ValidationError("must not be above max_ms", "min_ms")


@dataclass(frozen=True)
class Outcome:
    """What one rule makes happen: a kind of OUTCOMES and the rule's value for it."""

    kind: str
    detail: str | int | bool = True  # a message, a status, a transport fault's kind
    latency: Latency | None = None  # a latency rule's delay (it adds to other latency rules')
    hang_seconds: float = HANG_SECONDS

    @property
    def text(self) -> str:
        return str(self.detail)

    def applies_to(self, operation: str) -> bool:
        return OUTCOMES[self.kind].applies_to(operation)

    @property
    def spent_only_when_applied(self) -> bool:
        return OUTCOMES[self.kind].spent_only_when_applied

    @property
    def applied_at_issuance(self) -> bool:
        return OUTCOMES[self.kind].applied_at_issuance

    def pending(self) -> dict[str, str | int | bool]:
        """What an order keeps of it until it is issued (`Order.pending_outcome`)."""
        return {self.kind: self.detail}


def _given(kind: str, key: str, value: Any) -> Outcome:
    return Outcome(kind, value)


def _delay(kind: str, key: str, value: Any) -> Outcome:
    """`latency_ms = 250`, or `latency = {distribution = ...}`: a fixed or a drawn delay."""
    return Outcome(kind, latency=Latency(fixed_ms=value) if key == "latency_ms" else Latency(**value))


@dataclass(frozen=True)
class OutcomeKind:
    """One row of OUTCOMES."""

    scenario_keys: dict[str, fields.Field[Any]]  # a rule gives one of them; each with its validation
    operations: tuple[str, ...] = ()  # the only operations it applies to; () for every one
    # the operation carries it out: a rule is spent only when the call's trace says it took effect
    spent_only_when_applied: bool = False
    applied_at_issuance: bool = False  # an OTA order keeps it (`pending()`) until the worker issues it
    example: object = "message"  # its value, as the messages about pending outcomes show it
    make: Callable[[str, str, Any], Outcome] = _given  # the outcome from the given key and value

    def applies_to(self, operation: str) -> bool:
        return not self.operations or operation in self.operations


def _message() -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=MAX_TEXT))


def _transport_fault() -> fields.String:
    return fields.String(validate=validate.OneOf(TRANSPORT_FAULTS))


OUTCOMES: dict[str, OutcomeKind] = {
    # issuance fails: the order is left in Error with the message
    "fail_issuance": OutcomeKind(
        {"fail_issuance": _message()}, ISSUING, spent_only_when_applied=True, applied_at_issuance=True
    ),
    # refused while preparing the import: 400, nothing stored
    "reject": OutcomeKind({"reject": _message()}, ISSUING, spent_only_when_applied=True, applied_at_issuance=True),
    # confirm fails with 400; the order stays Draft
    "fail_confirm": OutcomeKind({"fail_confirm": _message()}, ("confirm",), spent_only_when_applied=True),
    # the order stays in Processing until released (the call answers 503 server_timeout)
    "stick_in_processing": OutcomeKind(
        {"stick_in_processing": fields.Boolean(validate=validate.Equal(True))},
        ISSUING,
        spent_only_when_applied=True,
        applied_at_issuance=True,
        example=True,
    ),
    # the gateway answers 429 or 503; nothing happens
    "respond": OutcomeKind({"respond": fields.Integer(strict=True, validate=validate.OneOf([429, 503]))}),
    # a delay before the call goes on; every matching latency rule adds its own
    "latency": OutcomeKind(
        {
            "latency_ms": fields.Float(validate=validate.Range(min=0, max=MAX_DELAY_MS)),
            "latency": fields.Nested(LatencySchema),
        },
        make=_delay,
    ),
    # the connection fails before anything happens
    "transport": OutcomeKind({"transport": _transport_fault()}),
    # the change is committed, then the connection fails instead of the answer
    "lose_response": OutcomeKind({"lose_response": _transport_fault()}, spent_only_when_applied=True),
}
# how long a "hang" (transport or lose_response) holds the connection; any rule may give it
OPTIONS: dict[str, fields.Field[Any]] = {
    "hang_seconds": fields.Float(validate=validate.Range(min=0, max=MAX_HANG_SECONDS)),
}
KIND_OF_KEY = {key: kind for kind, entry in OUTCOMES.items() for key in entry.scenario_keys}
OUTCOME_KEYS = tuple(KIND_OF_KEY)


def _pending_shapes() -> str:
    """`{}, {"fail_issuance": "message"}, ... or {"stick_in_processing": true}`."""
    shapes = [
        "{}",
        *(json.dumps({kind: entry.example}) for kind, entry in OUTCOMES.items() if entry.applied_at_issuance),
    ]
    return f"{', '.join(shapes[:-1])} or {shapes[-1]}"


PENDING_OUTCOMES = _pending_shapes()


def outcome_fields() -> dict[str, fields.Field[Any]]:
    """The outcome keys and options of a fault rule's schema, in the table's order."""
    return {
        **{key: validation for entry in OUTCOMES.values() for key, validation in entry.scenario_keys.items()},
        **OPTIONS,
    }


def check_outcome(data: Mapping[str, Any]) -> None:
    """Exactly one outcome key, for an operation it applies to (ValidationError otherwise)."""
    given = [key for key in OUTCOME_KEYS if key in data]
    if len(given) != 1:
        raise ValidationError(f"give exactly one outcome of: {', '.join(OUTCOME_KEYS)}")
    allowed = OUTCOMES[KIND_OF_KEY[given[0]]].operations
    if allowed and data.get("operation", allowed[0]) not in allowed:
        raise ValidationError(f"{given[0]} applies to {' and '.join(allowed)} only", "operation")


def make_outcome(data: Mapping[str, Any]) -> Outcome:
    """A rule's outcome from its validated data."""
    key = next(key for key in OUTCOME_KEYS if key in data)
    kind = KIND_OF_KEY[key]
    outcome = OUTCOMES[kind].make(kind, key, data[key])
    return replace(outcome, hang_seconds=data["hang_seconds"]) if "hang_seconds" in data else outcome


def pending_outcome(pending: Mapping[str, Any]) -> Outcome | None:
    """The outcome an order kept until it is issued (`Outcome.pending`), or None."""
    if not pending:
        return None
    [(kind, detail)] = pending.items()
    return Outcome(kind, detail)


def is_pending_outcome(value: object) -> bool:
    """Whether an imported order's `pending_outcome` is one: {} or one outcome applied at issuance,
    its value exactly as its rule's key loads it (`true`, not `1`)."""
    if value == {}:
        return True
    if not isinstance(value, dict) or len(value) != 1:
        return False
    [(kind, detail)] = value.items()
    entry = OUTCOMES.get(kind)
    if entry is None or not entry.applied_at_issuance:
        return False
    [key_field] = entry.scenario_keys.values()
    try:
        loaded = key_field.deserialize(detail)
    except ValidationError:
        return False
    return type(loaded) is type(detail) and loaded == detail
