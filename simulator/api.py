"""The partner API over HTTP: `/{tenant}/{environment}/{company}/channelManager/...`.

Thin on purpose: the gateway's checks, the real router (literal segments match
case-insensitively, the segment count must match), the fault rules' decision, the
backend call, JSON out, and one journal entry per call.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import quote, unquote

import orjson
from flask import Blueprint, Response, current_app, g, request

from simulator.channel_manager import StuckInProcessing
from simulator.clock import format_datetime
from simulator.errors import ApiError, IssuanceFailed, NotFound, UnsupportedMethod
from simulator.faults import Call, Decision
from simulator.gateway import TooManyRequests, Unavailable
from simulator.guids import parse_guid
from simulator.render import order_summary
from simulator.store import Trace
from simulator.transport import request_transport_fault

bp = Blueprint("api", __name__)

NOT_JSON = object()
SUPPORTED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
# a lone surrogate, escaped (\ud800) or as raw UTF-8-style bytes (ED A0 80), which json.loads lets through
SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
PLATFORM_VERSION = "26.0.0.0"
API_USER_ID = "6f1c1e0e-2f4b-4d7a-9c55-0c1e5a7d3b21"


class ServerTimeout(ApiError):
    status = 503
    code = "server_timeout"


@bp.route(
    "/<tenant>/<environment>/<company>/<path:endpoint>",
    methods=SUPPORTED_METHODS,
    provide_automatic_options=False,
)
def partner_api(tenant: str, environment: str, company: str, endpoint: str):
    if tenant == "_sim":  # the control API's prefix is never a tenant
        return json_response(404, {"code": "resource_not_found", "message": f"{request.path} Not Found"})
    g.started = time.perf_counter()
    g.started_at = datetime.now(timezone.utc)
    backend = current_app.extensions["simulator"]
    namespace = (tenant, environment, _company(company))
    entry = {"operation": None, "orderId": None, "sellToOrderReference": None, "faults": [], "outcome": None}
    trace = Trace()
    try:
        response = _serve(backend, namespace, endpoint, entry, trace)
    except ApiError as error:
        response = error_response(error)
        if error.field or error.rule:
            entry["rejection"] = {"field": error.field, "rule": error.rule, "message": error.message}
        elif isinstance(error, IssuanceFailed):
            entry["rejection"] = {"field": None, "rule": "issuance", "message": error.message}
    entry["transitions"] = [{"orderId": order_id, "from": old, "to": new} for order_id, old, new in trace.transitions]
    if entry["orderId"] is None and trace.transitions:
        entry["orderId"] = trace.transitions[-1][0]  # a create that failed into Error still made an order
    _journal(backend, namespace, entry, response)
    return response


def api_key() -> str:
    """The key: `x-np-api-key`, or `Authorization: Bearer` as the webhook pages show it."""
    bearer = request.headers.get("Authorization", "")
    return request.headers.get("x-np-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")


def _serve(backend, namespace, endpoint: str, entry: dict, trace: Trace) -> Response:
    key, method = api_key(), request.method
    backend.access.check(key, namespace)
    if method not in SUPPORTED_METHODS:  # HEAD, which Flask routes with GET
        raise UnsupportedMethod(method)
    module, *path = endpoint.split("/")
    if module.lower() in ("webhook", "webhooks"):  # the guide's table writes /webhooks
        entry["operation"] = "webhook"
        return _webhook(backend.webhooks, namespace, method, path)
    if module.lower() != "channelmanager":
        raise NotFound("/" + endpoint)
    operation, target = _route(method, path)
    entry["operation"] = operation
    body = _body() if operation in ("create", "confirm", "replace") else None
    entry["body"] = None if body is NOT_JSON else json.dumps(body)
    call = _call(backend, operation, namespace, target, body)
    entry["orderId"] = target if operation not in ("create", "list") else None
    entry["sellToOrderReference"] = call.reference or None
    gate = backend.gate(key)  # the same one on the way out
    if gate:
        gate.enter()
    try:
        return _decide_and_perform(backend, operation, namespace, target, body, call, entry, trace)
    finally:
        if gate:
            gate.leave()


def _decide_and_perform(backend, operation, namespace, target, body, call, entry, trace: Trace) -> Response:
    decision = _decide(backend, call)
    entry["faults"] = decision.rules
    entry["outcome"] = decision.outcome.kind if decision.outcome else None
    if decision.latency_ms:
        time.sleep(decision.latency_ms / 1000)
    outcome = decision.outcome
    if outcome and outcome.respond == 429:
        raise TooManyRequests("Rate limit exceeded. Retry with exponential backoff.")
    if outcome and outcome.respond == 503:
        raise Unavailable("The service is temporarily unavailable. Retry with exponential backoff.")
    if outcome and outcome.transport:
        _fail_transport(entry, outcome.transport, outcome.hang_seconds)
        return error_response(Unavailable("The service is temporarily unavailable."))  # what "truncated" cuts
    try:
        response = _perform(backend, operation, namespace, target, body, outcome, trace)
        if outcome and outcome.lose_response and response.status_code < 400:
            _fail_transport(entry, outcome.lose_response, outcome.hang_seconds)
            trace.applied = True
        return response
    finally:
        if outcome and outcome.kind in DOMAIN_OUTCOMES and not trace.applied:
            _refund(backend, decision, entry)  # the call never reached the point where it applies


def _fail_transport(entry: dict, kind: str, hang_seconds: float) -> None:
    entry["transport"] = request_transport_fault(kind, hang_seconds)
    if entry["transport"] != kind:
        entry["note"] = "the limit of hangs in progress was reached: closed at once with no reply instead"


DOMAIN_OUTCOMES = ("fail_issuance", "reject", "fail_confirm", "stick_in_processing", "lose_response")


def _refund(backend, decision, entry: dict) -> None:
    backend.faults.refund(decision.decisive)
    backend.magic.refund(decision.decisive)
    entry["faults"] = [rule for rule in decision.rules if rule != decision.decisive]
    entry["outcome"] = None


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


def _route(method: str, path: list[str]) -> tuple[str, str]:
    """The operation and its path argument."""
    for route_method, shape, operation in ROUTES:
        if route_method == method and len(shape) == len(path) and all(
                part in ("*", segment.lower()) for part, segment in zip(shape, path)):
            return operation, next((segment for part, segment in zip(shape, path) if part == "*"), "")
    raise NotFound("API endpoint not found")


def _perform(backend, operation: str, namespace, target: str, body, outcome, trace: Trace) -> Response:
    orders = backend.orders
    if operation == "list":
        listed = orders.list_orders(namespace, target, request.args)
        return json_response(200, [order_summary(order, _base_url()) for order in listed])
    if operation == "get":
        return _order(200, orders.get_order(namespace, target))
    if operation == "confirm":
        return _order(200, orders.confirm_order(namespace, target, body, outcome, trace))
    if operation == "delete":
        return _order(200, orders.delete_order(namespace, target, trace))
    sync = request.args.get("sync", "").lower() in ("1", "true")  # OTA: process inside the call
    try:
        if operation == "create":
            return _order(201, orders.create_order(namespace, body, outcome, sync, trace))
        return _order(200, orders.replace_order(namespace, target, body, outcome, sync, trace))
    except StuckInProcessing:
        raise ServerTimeout("The request timed out while the order was being processed.") from None


def _webhook(webhooks, namespace, method: str, path: list[str]) -> Response:
    """The subscription endpoints: POST and GET `/webhook`, GET and DELETE `/webhook/{id}`."""
    context = f"{_base_url()}/{'/'.join(quote(part) for part in namespace)}/$metadata#webhook"
    if method == "POST" and not path:
        return json_response(201, {"@odata.context": context + "/$entity", **webhooks.subscribe(namespace, _body())})
    if method == "GET" and not path:
        return json_response(200, {"@odata.context": context, "value": webhooks.subscriptions(namespace)})
    if method == "GET" and len(path) == 1:
        return json_response(200, {"@odata.context": context + "/$entity", **webhooks.subscription(namespace, path[0])})
    if method == "DELETE" and len(path) == 1:
        webhooks.unsubscribe(namespace, path[0])
        return Response(status=204)
    raise NotFound("API endpoint not found")


def _call(backend, operation: str, namespace, target: str, body) -> Call:
    """What fault rules can match: from the body, or from the stored order the path names."""
    call = Call(operation=operation, namespace=namespace)
    if operation == "list":
        call.partner_id = parse_guid(target) or ""
        call.reference = request.args.get("sellToOrderReference", "").strip().upper()
        return call
    stored = backend.store.get(namespace, parse_guid(target) or "") if target else None
    if stored is not None:
        call.partner_id = stored.partner_id
        call.reference = stored.sell_to_order_reference
        call.items = tuple(line.item_number for line in stored.lines)
    if isinstance(body, dict) and operation in ("create", "replace"):
        call.partner_id = parse_guid(str(body.get("partnerId", ""))) or call.partner_id
        call.reference = str(body.get("sellToOrderReference", "")).strip().upper() or call.reference
        lines = body.get("items") if isinstance(body.get("items"), list) else []
        call.items = tuple(str(line.get("itemNumber", "")).upper() for line in lines if isinstance(line, dict))
    return call


def _decide(backend, call: Call) -> Decision:
    decision = backend.faults.decide(call, backend.random)
    if decision.outcome is None:
        magic = backend.magic.decide(call, backend.random)
        decision.outcome, decision.decisive = magic.outcome, magic.decisive
        decision.rules += magic.rules
    return decision


def _journal(backend, namespace, entry: dict, response: Response) -> None:
    tenant, environment, company = namespace
    body = entry.pop("body", None)
    transport = entry.pop("transport", None)
    g.call = {"namespace": f"{tenant}/{environment}/{company}", "operation": entry["operation"] or request.method,
              "order_id": entry["orderId"] or "-", "lost": transport}
    backend.journal.record({
        "at": format_datetime(backend.clock.now()),
        "method": request.method,
        "path": request.path,
        "namespace": {"tenant": tenant, "environment": environment, "company": company},
        **entry,
        "request": {"query": request.args.to_dict(), "body": body},
        # a transport fault before processing sends no response; a lost one was made, then lost
        "response": {"status": None if transport and entry["outcome"] == "transport" else response.status_code,
                     "body": None if transport and entry["outcome"] == "transport" else getattr(response, "json_text", None),
                     "lost": transport},
    })


def _company(company: str) -> str:
    """The company name; the docs' examples encode it twice, so decode what is left."""
    return unquote(company) if "%" in company else company


def _body():
    """The request body as JSON, or NOT_JSON (which no operation accepts)."""
    data = request.get_data()
    try:
        body = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return NOT_JSON
    return without_lone_surrogates(body) if SURROGATE.search(data) else body


def without_lone_surrogates(value):
    """Replace lone surrogates (valid JSON, not valid text) with U+FFFD, as a UTF-16
    platform does when it writes them out as UTF-8."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(entry) for entry in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(key): without_lone_surrogates(entry) for key, entry in value.items()}
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _base_url() -> str:
    return f"{request.scheme}://{request.host}"


def _order(status: int, order) -> Response:
    return _json_bytes(status, current_app.extensions["simulator"].rendered.order_bytes(order, _base_url()))


def json_response(status: int, payload) -> Response:
    return _json_bytes(status, orjson.dumps(payload))


def _json_bytes(status: int, body: bytes) -> Response:
    response = Response(body, status=status, content_type="application/json; charset=utf-8")
    response.json_text = body  # what the journal keeps
    return response


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.to_dict())


@bp.after_request
def platform_headers(response: Response) -> Response:
    """The headers every Business Central API response carries."""
    started = g.get("started")
    if started is not None:
        ended_at = datetime.now(timezone.utc)
        add = response.headers.add
        add("x-npr-version", current_app.config["SIMULATOR_VERSION"])
        add("x-bc-platform-version", PLATFORM_VERSION)
        add("x-bc-user-id", API_USER_ID)
        add("x-npr-start-time", g.started_at.isoformat(timespec="milliseconds"))
        add("x-npr-end-time", ended_at.isoformat(timespec="milliseconds"))
        add("x-npr-duration", str(round((time.perf_counter() - started) * 1000)))
    return response
