"""One partner API call, without Flask: the gateway's checks, the real router, the fault
rules' decision, the operation, and the answer with its journal entry begun. The HTTP side
(simulator.api) reads the request, carries out a transport fault and journals the call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

import orjson

from simulator.channel_manager import StuckInProcessing
from simulator.errors import (
    ApiError,
    IssuanceFailed,
    NotFound,
    ServerTimeout,
    TooManyRequests,
    Unavailable,
    UnsupportedMethod,
    error_body,
)
from simulator.faults import Call, Decision
from simulator.guids import parse_guid
from simulator.model import Namespace
from simulator.render import order_summary
from simulator.request_journal import JournalEntry
from simulator.scenario import JSON_SURROGATE, without_lone_surrogates
from simulator.store import Trace

NOT_JSON = object()
SUPPORTED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# the real router's table, in its order: method, path shape after `channelManager` ("*" is the
# path argument; literal segments match case-insensitively), operation
ROUTES = (
    ("GET", ("orders", "*"), "list"),
    ("GET", ("*",), "get"),
    ("POST", ("*", "confirm"), "confirm"),
    ("POST", (), "create"),
    ("PUT", ("*",), "replace"),
    ("DELETE", ("*",), "delete"),
)


@dataclass
class PartnerCall:
    """A partner API request: `endpoint` is the path after the company (`channelManager/...`)."""

    method: str
    namespace: Namespace
    endpoint: str
    query: Mapping[str, str]
    body: bytes
    api_key: str
    base_url: str


@dataclass
class Answer:
    """What the call answers (JSON bytes, or none for 204), and a transport fault (kind, hang
    seconds) the server is to carry out on the connection."""

    status: int
    body: bytes
    transport: tuple[str, float] | None = None


def answer(backend, call: PartnerCall) -> tuple[Answer, JournalEntry]:
    """The answer, and the call's journal entry without what only the HTTP side knows."""
    entry = JournalEntry(namespace=call.namespace, method=call.method)
    trace = Trace()
    try:
        result = _serve(backend, call, entry, trace)
    except ApiError as error:
        result = Answer(error.status, error_body(error))
        if error.field or error.rule:
            entry.rejection = {"field": error.field, "rule": error.rule, "message": error.message}
        elif isinstance(error, IssuanceFailed):
            entry.rejection = {"field": None, "rule": "issuance", "message": error.message}
    entry.transitions = [{"orderId": order_id, "from": old, "to": new} for order_id, old, new in trace.transitions]
    if entry.order_id is None and trace.transitions:
        entry.order_id = trace.transitions[-1][0]  # a create that failed into Error still made an order
    return result, entry


def _serve(backend, call: PartnerCall, entry: JournalEntry, trace: Trace) -> Answer:
    key, method, namespace, endpoint = call.api_key, call.method, call.namespace, call.endpoint
    backend.access.check(key, namespace)
    if method not in SUPPORTED_METHODS:  # HEAD, which Flask routes with GET
        raise UnsupportedMethod(method)
    module, *path = endpoint.split("/")
    if module.lower() in ("webhook", "webhooks"):  # the guide's table writes /webhooks
        entry.operation = "webhook"
        return _webhook(backend.webhooks, call, path)
    if module.lower() != "channelmanager":
        raise NotFound("/" + endpoint)
    operation, target = _route(method, path)
    entry.operation = operation
    body = _json(call.body) if operation in ("create", "confirm", "replace") else None
    entry.request_body = None if body is NOT_JSON else json.dumps(body)
    matched = _matched(backend, operation, call, target, body)
    entry.order_id = target if operation not in ("create", "list") else None
    entry.reference = matched.reference or None
    gate = backend.gate(key)  # the same one on the way out
    if gate:
        gate.enter()
    try:
        return _decide_and_perform(backend, operation, call, target, body, matched, entry, trace)
    finally:
        if gate:
            gate.leave()


def _decide_and_perform(
    backend, operation: str, call: PartnerCall, target: str, body, matched: Call, entry: JournalEntry, trace: Trace
) -> Answer:
    decision = _decide(backend, matched)
    entry.faults = decision.rules
    entry.outcome = decision.outcome.kind if decision.outcome else None
    if decision.latency_ms:
        time.sleep(decision.latency_ms / 1000)
    outcome = decision.outcome
    kind = outcome.kind if outcome else None
    if outcome and kind == "respond" and outcome.detail == 429:
        raise TooManyRequests("Rate limit exceeded. Retry with exponential backoff.")
    if outcome and kind == "respond" and outcome.detail == 503:
        raise Unavailable("The service is temporarily unavailable. Retry with exponential backoff.")
    if outcome and kind == "transport":  # what "truncated" cuts off is this 503
        unavailable = Unavailable("The service is temporarily unavailable.")
        return Answer(unavailable.status, error_body(unavailable), transport=(outcome.text, outcome.hang_seconds))
    try:
        result = _performed(backend, operation, call, target, body, outcome, trace)
        if outcome and kind == "lose_response" and result.status < 400:
            result.transport = (outcome.text, outcome.hang_seconds)
            trace.applied = True
        return result
    finally:
        if outcome and outcome.spent_only_when_applied and not trace.applied:
            _refund(backend, decision, entry)  # the call never reached the point where it applies


def _performed(backend, operation: str, call: PartnerCall, target: str, body, outcome, trace: Trace) -> Answer:
    """The operation, answered; when a step after its commit fails unexpectedly (rendering, say)
    the commit is taken back, so that the error answered is the truth."""
    try:
        return _perform(backend, operation, call, target, body, outcome, trace)
    except ApiError:
        raise  # refused, or failed into Error as the real API does: what it committed stands
    except Exception:
        backend.store.undo(trace)
        raise


def _refund(backend, decision: Decision, entry: JournalEntry) -> None:
    backend.faults.refund(decision.decisive)
    backend.magic.refund(decision.decisive)
    entry.faults = [rule for rule in decision.rules if rule != decision.decisive]
    entry.outcome = None


def _route(method: str, path: list[str]) -> tuple[str, str]:
    """The operation and its path argument."""
    for route_method, shape, operation in ROUTES:
        if (
            route_method == method
            and len(shape) == len(path)
            and all(part in ("*", segment.lower()) for part, segment in zip(shape, path, strict=True))
        ):
            return operation, next((segment for part, segment in zip(shape, path, strict=True) if part == "*"), "")
    raise NotFound("API endpoint not found")


def _perform(backend, operation: str, call: PartnerCall, target: str, body, outcome, trace: Trace) -> Answer:
    manager, namespace = backend.channel_manager, call.namespace

    def order(status: int, result) -> Answer:
        return Answer(status, backend.rendered.order_bytes(result, call.base_url))

    if operation == "list":
        listed = manager.list_orders(namespace, target, call.query)
        return Answer(200, orjson.dumps([order_summary(found, call.base_url) for found in listed]))
    if operation == "get":
        return order(200, manager.get_order(namespace, target))
    if operation == "confirm":
        return order(200, manager.confirm_order(namespace, target, body, outcome, trace))
    if operation == "delete":
        return order(200, manager.delete_order(namespace, target, trace))
    sync = call.query.get("sync", "").lower() in ("1", "true")  # OTA: process inside the call
    try:
        if operation == "create":
            return order(201, manager.create_order(namespace, body, outcome, sync, trace))
        return order(200, manager.replace_order(namespace, target, body, outcome, sync, trace))
    except StuckInProcessing:
        raise ServerTimeout("The request timed out while the order was being processed.") from None


def _webhook(webhooks, call: PartnerCall, path: list[str]) -> Answer:
    """The subscription endpoints: POST and GET `/webhook`, GET and DELETE `/webhook/{id}`."""
    method, namespace = call.method, call.namespace
    context = f"{call.base_url}/{'/'.join(quote(part) for part in namespace)}/$metadata#webhook"
    if method == "POST" and not path:
        subscribed = webhooks.subscribe(namespace, _json(call.body))
        return Answer(201, orjson.dumps({"@odata.context": context + "/$entity", **subscribed}))
    if method == "GET" and not path:
        return Answer(200, orjson.dumps({"@odata.context": context, "value": webhooks.subscriptions(namespace)}))
    if method == "GET" and len(path) == 1:
        subscription = webhooks.subscription(namespace, path[0])
        return Answer(200, orjson.dumps({"@odata.context": context + "/$entity", **subscription}))
    if method == "DELETE" and len(path) == 1:
        webhooks.unsubscribe(namespace, path[0])
        return Answer(204, b"")
    raise NotFound("API endpoint not found")


def _matched(backend, operation: str, partner_call: PartnerCall, target: str, body) -> Call:
    """What fault rules can match: from the body, or from the stored order the path names."""
    namespace = partner_call.namespace
    call = Call(operation=operation, namespace=namespace)
    if operation == "list":
        call.partner_id = parse_guid(target) or ""
        call.reference = partner_call.query.get("sellToOrderReference", "").strip().upper()
        return call
    stored = backend.store.get(namespace, parse_guid(target) or "") if target else None
    if stored is not None:
        call.partner_id = stored.partner_id
        call.reference = stored.sell_to_order_reference
        call.items = tuple(line.item_number for line in stored.lines)
    if isinstance(body, dict) and operation in ("create", "replace"):
        call.partner_id = parse_guid(str(body.get("partnerId", ""))) or call.partner_id
        call.reference = str(body.get("sellToOrderReference", "")).strip().upper() or call.reference
        lines = body.get("items")
        lines = lines if isinstance(lines, list) else []
        call.items = tuple(str(line.get("itemNumber", "")).upper() for line in lines if isinstance(line, dict))
    return call


def _decide(backend, call: Call) -> Decision:
    decision = backend.faults.decide(call, backend.random)
    if decision.outcome is None:
        magic = backend.magic.decide(call, backend.random)
        decision.outcome, decision.decisive = magic.outcome, magic.decisive
        decision.rules += magic.rules
    return decision


def _json(data: bytes):
    """The request body as JSON, or NOT_JSON (which no operation accepts)."""
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return NOT_JSON
    return without_lone_surrogates(body) if JSON_SURROGATE.search(data) else body


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")
