"""Magic values: a sellToOrderReference that starts with one of these triggers a failure
with no set-up, like a payment provider's test card numbers.

Failure messages may name values of the order: `{admission}`, `{visit_date}`, `{slot}`,
`{capacity}`, `{would_be}` and `{external_reference}` are taken from its first ticket
and wallet when the message is made.
"""

from __future__ import annotations

from simulator.faults import FaultRule
from simulator.outcomes import Outcome

NO_SLOT = "Admission Code {admission} has no available time slots for expected visit date {visit_date}."
CAPACITY = (
    "The reservation capacity for {admission} at {visit_date} {slot} has been exceeded. "
    "A maximum of {capacity} with method SALES is permitted. This action would make it {would_be}."
)
PAST_DATE = "Expected visit date {visit_date} for admission code {admission} is in the past."
EXTERNAL_REFERENCE = (
    "The selected external reference is already in use with another wallet. Requested reference: {external_reference}"
)
TICKET_NUMBER = "Unable to generate a unique pre-assigned ticket number after 10 attempts."
CONFIRM_FAILED = "The ticket reservation could not be confirmed: the reservation request has expired."

# (reference prefix, operation, outcome, what it does)
MAGIC_VALUES = [
    (
        "SIM-FAIL-NO-SLOT",
        "create",
        Outcome("fail_issuance", NO_SLOT),
        "issuance fails as for an invalid component schedule (no time slot); the order is left in Error",
    ),
    (
        "SIM-FAIL-CAPACITY",
        "create",
        Outcome("fail_issuance", CAPACITY),
        "issuance fails with capacity exceeded; the order is left in Error",
    ),
    (
        "SIM-FAIL-PAST-DATE",
        "create",
        Outcome("fail_issuance", PAST_DATE),
        "issuance fails as for a visit date in the past; the order is left in Error",
    ),
    (
        "SIM-FAIL-EXTREF",
        "create",
        Outcome("fail_issuance", EXTERNAL_REFERENCE),
        "issuance fails with the external reference already in use; the order is left in Error",
    ),
    (
        "SIM-FAIL-TICKET-NUMBER",
        "create",
        Outcome("reject", TICKET_NUMBER),
        "refused with 400 while preparing the import (no unique ticket number); nothing is stored",
    ),
    (
        "SIM-FAIL-CONFIRM",
        "confirm",
        Outcome("fail_confirm", CONFIRM_FAILED),
        "confirm fails with 400 and the order stays Draft (always, for such an order: delete it)",
    ),
    (
        "SIM-STUCK",
        "create",
        Outcome("stick_in_processing", True),
        "the order stays in Processing (create answers 503) until released with POST /_sim/orders/{orderId}/release",
    ),
    (
        "SIM-LOST-RESPONSE",
        "create",
        Outcome("lose_response", "reset"),
        "the order is created, then the connection is reset before the response is sent",
    ),
    (
        "SIM-LOST-TIMEOUT",
        "create",
        Outcome("lose_response", "hang", hang_seconds=30),
        "the order is created, then the response never comes (the connection closes after 30 s)",
    ),
    ("SIM-RATE-LIMIT", "create", Outcome("respond", 429), "the gateway answers 429; nothing happens"),
    ("SIM-UNAVAILABLE", "create", Outcome("respond", 503), "the gateway answers 503; nothing happens"),
]


def magic_rules() -> list[FaultRule]:
    return [
        FaultRule(id=f"magic:{prefix}", outcome=outcome, description=text, operation=operation, reference=prefix + "*")
        for prefix, operation, outcome, text in MAGIC_VALUES
    ]


def describe_magic_values() -> list[dict]:
    return [
        {"field": "sellToOrderReference", "startsWith": prefix, "operation": operation, "effect": text}
        for prefix, operation, outcome, text in MAGIC_VALUES
    ]
