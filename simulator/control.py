"""Everything under `/_sim/`: the simulator's own endpoints, never the partner API.

`health` and `manifest` are open; the rest is the control API, which asks for the
`x-sim-token` header when the server was started with a control token.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from simulator.api import json_response
from simulator.dashboard import dashboard_page
from simulator.clock import parse_datetime
from simulator.errors import ApiError, BadRequest, NotFound, Unauthorized
from simulator.gateway import Forbidden
from simulator.magic import describe_magic_values
from simulator.manifest import manifest_page
from simulator.render import order_json
from simulator.scenario import ScenarioError, load_scenario, parse_scenario, validate_faults

bp = Blueprint("control", __name__, url_prefix="/_sim")
OPEN = {"control.health", "control.manifest", "control.openapi"}
OPENAPI = Path(__file__).with_name("openapi.json")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


class InvalidScenario(ApiError):
    code = "invalid_scenario"


def backend():
    return current_app.extensions["simulator"]


@bp.before_request
def same_origin_only():
    """A page on another site may not reset or load scenarios through the user's browser."""
    origin = request.headers.get("Origin")
    if request.method in ("POST", "PUT", "DELETE") and origin and urlsplit(origin).netloc != request.host:
        raise Forbidden("The control API does not take calls from other sites' pages")


@bp.before_request
def require_token():
    token = current_app.config.get("CONTROL_TOKEN")
    given = request.headers.get("x-sim-token") or (request.args.get("token") if request.endpoint == "control.dashboard" else None)
    if token and request.endpoint not in OPEN and given != token:
        raise Unauthorized("The control API needs the x-sim-token header")


@bp.get("/")
def dashboard():
    """The dashboard (with a control token, open it as /_sim/?token=...)."""
    return Response(dashboard_page(backend(), request.host_url.rstrip("/")), content_type="text/html; charset=utf-8")


@bp.get("/health")
def health():
    return json_response(200, {"status": "ok"})


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of the partner API, naming this server."""
    document = json.loads(OPENAPI.read_text())
    document["servers"] = [{"url": request.host_url.rstrip("/")}]
    return json_response(200, document)


@bp.get("/manifest")
def manifest():
    """Serve the manifest a manifestUrl points at, while its order still holds it."""
    order = backend().orders.manifest_order(request.args.get("mid", ""))
    page = manifest_page(order, request.args.get("wallet")) if order else None
    if page is None:
        raise NotFound("Manifest not found")
    return Response(page, content_type="text/html; charset=utf-8")


@bp.post("/reset")
def reset():
    """Everything back to start-up, or (given tenant, environment, company) one namespace emptied."""
    body = _options()
    namespace = _namespace(body) if body else None
    backend().reset(namespace)
    return json_response(200, {"reset": "everything" if namespace is None else dict(zip(NAMESPACE_KEYS, namespace))})


@bp.get("/scenarios")
def list_scenarios():
    return json_response(200, [{"name": str(s.path), "description": s.description} for s in backend().scenarios])


@bp.post("/scenarios")
def add_scenario():
    """Load a scenario: TOML text as the body, or JSON `{"path": "scenarios/x.toml"}`."""
    try:
        if request.is_json:
            path = _field(_json(), "path", str)
            if not path.endswith(".toml"):
                raise BadRequest("path must name a .toml scenario file")
            scenario = load_scenario(path)
        else:
            name = request.args.get("name") or f"posted-{len(backend().scenarios) + 1}"
            scenario = parse_scenario(request.get_data(as_text=True), name)
        backend().load_scenario(scenario)
    except ScenarioError as error:
        raise InvalidScenario(str(error)) from None
    return json_response(201, {"name": str(scenario.path), "description": scenario.description})


@bp.delete("/scenarios")
def clear_scenarios():
    backend().clear_scenarios()
    return json_response(200, {"scenarios": []})


@bp.get("/faults")
def list_faults():
    return json_response(200, backend().faults.describe())


@bp.post("/faults")
def add_faults():
    """Add one rule (a JSON object) or several (an array), in the scenario file's keys."""
    body = _json()
    try:
        ids = backend().add_faults(validate_faults(body if isinstance(body, list) else [body]))
    except (ScenarioError, ValueError) as error:
        raise InvalidScenario(str(error)) from None
    return json_response(201, {"ids": ids})


@bp.delete("/faults")
def clear_faults():
    backend().faults.clear()
    return json_response(200, [])


@bp.delete("/faults/<rule_id>")
def remove_fault(rule_id: str):
    if not backend().faults.remove(rule_id):
        raise NotFound(f"Fault rule '{rule_id}' not found")
    return json_response(200, {"removed": rule_id})


@bp.get("/magic-values")
def magic_values():
    return json_response(200, describe_magic_values())


@bp.get("/clock")
def get_clock():
    return json_response(200, backend().clock.describe())


@bp.put("/clock")
def set_clock():
    """`{"now": "2026-12-01T09:00:00Z", "frozen": true}`; `"now": null` goes back to real time;
    `{"frozen": true}` alone freezes it where it is."""
    body = _json()
    if not isinstance(body, dict) or not body or set(body) - {"now", "frozen"}:
        raise BadRequest('give "now" (an ISO 8601 datetime or null) and/or "frozen" (true or false)')
    frozen = body.get("frozen", False)
    if not isinstance(frozen, bool):
        raise BadRequest("frozen must be true or false")
    clock = backend().clock
    if "now" not in body:
        clock.freeze(frozen)
    elif body["now"] is None:
        clock.reset()
    else:
        try:
            clock.set(parse_datetime(_field(body, "now", str)), frozen=frozen)
        except ValueError as error:
            raise BadRequest(f"now must be an ISO 8601 datetime ({error})") from None
    return json_response(200, clock.describe())


@bp.post("/clock/advance")
def advance_clock():
    """`{"days": 1, "hours": 2, ...}` (seconds, minutes, hours, days; may be negative)."""
    body = _json()
    if not isinstance(body, dict) or not body or set(body) - set(UNITS):
        raise BadRequest(f"give any of {', '.join(UNITS)}")
    seconds = sum(_field(body, unit, (int, float)) * factor for unit, factor in UNITS.items() if unit in body)
    try:
        backend().clock.advance(timedelta(seconds=seconds))
    except (ValueError, OverflowError) as error:
        raise BadRequest(str(error)) from None
    return json_response(200, backend().clock.describe())


@bp.get("/journal")
def journal():
    """The recorded calls; filter by operation, status, orderId, tenant, environment, company,
    rule, sellToOrderReference; page with since (an entry id) and limit."""
    try:
        return json_response(200, backend().journal.query(request.args))
    except ValueError:
        raise BadRequest("since and limit must be whole numbers") from None


@bp.delete("/journal")
def clear_journal():
    backend().journal.clear()
    return json_response(200, [])


@bp.get("/state")
def export_state():
    """Every order (of one namespace with tenant, environment and company) and the clock."""
    namespace = _namespace(request.args) if request.args else None
    return json_response(200, backend().export_state(namespace))


@bp.put("/state")
def import_state():
    body = _json()
    try:
        count = backend().import_state(body)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadRequest(f"not an exported state: {error}") from None
    return json_response(200, {"orders": count})


@bp.post("/ota/run")
def ota_run():
    """Settle every due OTA order now (`{"everything": true}`: every submitted one)."""
    body = _options()
    settled = backend().worker.run(everything=bool(body.get("everything")))
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in settled])


@bp.post("/ota/step")
def ota_step():
    """Move every in-flight OTA order one step (`{"everything": true}`: also those not yet due)."""
    body = _options()
    moved = backend().worker.step(everything=bool(body.get("everything")))
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in moved])


@bp.post("/ota/sweep")
def ota_sweep():
    """Run the recovery sweeps alone (a worker that stalled: Scheduled over 5 minutes goes back
    to Submitted, Processing over an hour to Error)."""
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in backend().worker.sweep()])


@bp.post("/webhooks/flush")
def webhooks_flush():
    """Wait (up to `{"timeout": seconds}`, default 30) until every queued webhook delivery is done."""
    body = _options()
    timeout = body.get("timeout", 30)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 <= timeout <= 300:
        raise BadRequest("timeout must be a number of seconds up to 300")
    return json_response(200, {"flushed": backend().webhooks.flush(timeout)})


@bp.post("/orders/<order_id>/release")
def release_order(order_id: str):
    """Let an order stuck in Processing finish its issuance."""
    order = backend().orders.release_order(order_id)
    if order.ota and not order.status.in_flight:
        backend().webhooks.order_processed(order)
    return json_response(200, order_json(order, request.host_url.rstrip("/")))


NAMESPACE_KEYS = ("tenant", "environment", "company")


def _namespace(values) -> tuple[str, str, str]:
    missing = [key for key in NAMESPACE_KEYS if not values.get(key)]
    if missing:
        raise BadRequest(f"a namespace needs tenant, environment and company (missing {', '.join(missing)})")
    return tuple(str(values[key]) for key in NAMESPACE_KEYS)


def _json(optional: bool = False):
    data = request.get_data()
    if not data and optional:
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise BadRequest("the body must be JSON") from None


def _options() -> dict:
    """An optional JSON object body."""
    body = _json(optional=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _field(body, name: str, kind):
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"{name} is required and must be a {getattr(kind, '__name__', 'number')}")
    return value
