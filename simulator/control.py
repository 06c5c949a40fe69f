"""Everything under `/_sim/`: the simulator's own endpoints, never the partner API.

`health`, `manifest` and `openapi.json` are open; the rest is the control API. With a control
token it asks for the `x-sim-token` header. Without one it answers only calls addressed to this
machine (a loopback Host, or the host given with --host: create_app's `control_host`), unless
create_app's `allow_remote_control` (`cm-sim serve --allow-remote-control`).
A POST, PUT or DELETE with a body must send it as JSON (or a scenario as TOML).
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from simulator.clock import EARLIEST, LATEST, parse_datetime
from simulator.dashboard import dashboard_page
from simulator.errors import (
    BadRequest,
    Forbidden,
    InvalidScenario,
    NotFound,
    NotThisMachine,
    Unauthorized,
    UnsupportedMediaType,
    json_response,
)
from simulator.magic import describe_magic_values
from simulator.manifest import manifest_page
from simulator.model import NAMESPACE_KEYS, InvalidImport
from simulator.render import order_json
from simulator.scenario import (
    JSON_SURROGATE,
    MAX_NESTING,
    ScenarioError,
    UnusableData,
    bundled_scenario,
    is_bundled_name,
    load_scenario,
    load_scenario_inside,
    parse_scenario,
    scenario_text,
    usable_data,
    validate_faults,
)

bp = Blueprint("control", __name__, url_prefix="/_sim")
OPEN = {"control.health", "control.manifest", "control.openapi"}
OPENAPI = Path(__file__).with_name("openapi.json")
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
CHANGING = ("POST", "PUT", "DELETE")
BODY_TYPES: dict[str | None, tuple[str, ...]] = {"control.add_scenario": ("application/json", "application/toml")}
HOST = re.compile(r"(\[[0-9A-Za-z:.%]+\]|[^:\[\]]+)(?::[0-9]*)?")
LONGEST_NAME = 1024  # characters of a posted scenario's ?name=
LONGEST_PATH = 1024
MOST_RULES = 1000  # rules added in one call
MOST_SECONDS = (LATEST - EARLIEST).total_seconds()  # the clock's whole range
CLOCK_RANGE = f"the clock stays between {EARLIEST.year} and {LATEST.year}"
JOURNAL_NUMBER = re.compile(r"[0-9]{1,18}")


def backend():
    return current_app.extensions["simulator"]


@bp.before_request
def addressed_to_this_machine():
    """A page on a name its owner points at 127.0.0.1 (DNS rebinding) calls us as its own site:
    without a token, only calls naming this machine in their Host get in."""
    config = current_app.config
    if request.endpoint in OPEN or config.get("CONTROL_TOKEN") or config.get("ALLOW_REMOTE_CONTROL"):
        return
    name, served = host_name(request.host), (config.get("CONTROL_HOST") or "").strip("[]").lower()
    if not (is_loopback(name) or (served and name == served)):
        raise NotThisMachine(
            "Without a control token the control API answers only at localhost, 127.0.0.1 or "
            "[::1]; start cm-sim with --control-token or --allow-remote-control to call it otherwise"
        )


@bp.before_request
def same_origin_only():
    """A page on another site may not reset or load scenarios through the user's browser."""
    origin = request.headers.get("Origin")
    if request.method in CHANGING and origin and urlsplit(origin).netloc != request.host:
        raise Forbidden("The control API does not take calls from other sites' pages")


@bp.before_request
def require_token():
    token = current_app.config.get("CONTROL_TOKEN")
    given = request.headers.get("x-sim-token") or (
        request.args.get("token") if request.endpoint == "control.dashboard" else None
    )
    if token and request.endpoint not in OPEN and given != token:
        raise Unauthorized("The control API needs the x-sim-token header")


@bp.before_request
def typed_bodies_only():
    """A page may send a form or text/plain anywhere without asking first; JSON it may not."""
    if request.method in CHANGING and request.get_data():
        accepted = BODY_TYPES.get(request.endpoint, ("application/json",))  # JSON unless listed
        if request.mimetype not in accepted:
            raise UnsupportedMediaType(f"Send the body with Content-Type: {' or '.join(accepted)}")


def host_name(host: str) -> str:
    """The name in a Host header (`[::1]:8080` -> `::1`), lowercase; "" when it is not one."""
    match = HOST.fullmatch(host)
    return match.group(1).strip("[]").lower() if match else ""


def is_loopback(name: str) -> bool:
    """Whether a host name or address (no brackets, no port) is this machine's loopback."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@bp.get("/")
def dashboard():
    """The dashboard (with a control token, open it as /_sim/?token=...), of one namespace with
    ?tenant=&environment=&company=; no other site may frame it."""
    page = dashboard_page(backend(), request.host_url.rstrip("/"), request.args)
    response = Response(page, content_type="text/html; charset=utf-8")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


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
    order = backend().channel_manager.manifest_order(request.args.get("mid", ""))
    page = manifest_page(order, request.args.get("wallet")) if order else None
    if page is None:
        raise NotFound("Manifest not found")
    return Response(page, content_type="text/html; charset=utf-8")


@bp.post("/reset")
def reset():
    """Everything back to start-up, or (given tenant, environment, company) one namespace emptied."""
    body = _options(NAMESPACE_KEYS)
    namespace = _namespace(body) if body else None
    backend().reset(namespace)
    reset = "everything" if namespace is None else dict(zip(NAMESPACE_KEYS, namespace, strict=True))
    return json_response(200, {"reset": reset})


@bp.get("/scenarios")
def list_scenarios():
    return json_response(200, [{"name": str(s.path), "description": s.description} for s in backend().scenarios])


@bp.post("/scenarios")
def add_scenario():
    """Load a scenario: TOML text as the body, or JSON `{"name": "sold-out"}` (bundled) or
    `{"path": "x.toml"}` naming a file inside the server's scenario directories."""
    try:
        scenario = _scenario_file() if request.mimetype == "application/json" else _posted_scenario()
        backend().load_scenario(scenario)
    except ScenarioError as error:
        raise InvalidScenario(str(error)) from None
    return json_response(201, {"name": str(scenario.path), "description": scenario.description})


def _scenario_file():
    """`{"name": "sold-out"}` (a bundled scenario) or `{"path": "x.toml"}` (a file in the scenario directories)."""
    options = _options(("path", "name"))
    if "name" in options:
        name = _field(options, "name", str)
        if not is_bundled_name(name) or len(name) > LONGEST_NAME:
            raise BadRequest("name must name a bundled scenario, such as sold-out (no / and no .toml)")
        return load_scenario(bundled_scenario(name))
    path = _field(options, "path", str)
    if not path.endswith(".toml") or len(path) > LONGEST_PATH:
        raise BadRequest("path must name a .toml scenario file")
    return load_scenario_inside(path, backend().scenario_dirs)


def _posted_scenario():
    name = request.args.get("name") or f"posted-{len(backend().scenarios) + 1}"
    if len(name) > LONGEST_NAME:
        raise BadRequest(f"name must be at most {LONGEST_NAME} characters")
    return parse_scenario(scenario_text(request.get_data(), name), name)


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
    rules = body if isinstance(body, list) else [body]
    if len(rules) > MOST_RULES:
        raise BadRequest(f"add at most {MOST_RULES} rules in one call")
    try:
        ids = backend().add_faults(validate_faults(rules))
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
        raise NotFound(f"Fault rule '{rule_id[:100]}' not found")
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
            clock.set(_moment(_field(body, "now", str)), frozen=frozen)
        except (ValueError, OverflowError):
            raise BadRequest(CLOCK_RANGE) from None
    return json_response(200, clock.describe())


def _moment(text: str):
    try:
        return parse_datetime(text)
    except ValueError:
        raise BadRequest("now must be an ISO 8601 datetime, e.g. 2026-12-01T09:00:00Z") from None


@bp.post("/clock/advance")
def advance_clock():
    """`{"days": 1, "hours": 2, ...}` (seconds, minutes, hours, days; may be negative)."""
    body = _json()
    if not isinstance(body, dict) or not body or set(body) - set(UNITS):
        raise BadRequest(f"give any of {', '.join(UNITS)}")
    seconds = sum(_field(body, unit, (int, float)) * factor for unit, factor in UNITS.items() if unit in body)
    if abs(seconds) > MOST_SECONDS:
        raise BadRequest(CLOCK_RANGE)
    try:
        backend().clock.advance(timedelta(seconds=seconds))
    except (ValueError, OverflowError):
        raise BadRequest(CLOCK_RANGE) from None
    return json_response(200, backend().clock.describe())


@bp.get("/journal")
def journal():
    """The recorded calls; filter by operation, status, orderId, tenant, environment, company,
    rule, sellToOrderReference; page with since (an entry id) and limit."""
    if any(not JOURNAL_NUMBER.fullmatch(request.args[name]) for name in ("since", "limit") if request.args.get(name)):
        raise BadRequest("since and limit must be whole numbers from 0 to 999999999999999999")
    return json_response(200, backend().journal.query(request.args))


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
    """Import an export: every field is checked and nothing changes unless all of it is right."""
    body = _json()
    try:
        count = backend().import_state(body)
    except InvalidImport as error:
        raise BadRequest(f"not an exported state: {error}") from None
    return json_response(200, {"orders": count})


@bp.post("/ota/run")
def ota_run():
    """Settle every due OTA order now (`{"everything": true}`: every submitted one)."""
    settled = backend().worker.run(everything=_everything())
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in settled])


@bp.post("/ota/step")
def ota_step():
    """Move every in-flight OTA order one step (`{"everything": true}`: also those not yet due)."""
    moved = backend().worker.step(everything=_everything())
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in moved])


def _everything() -> bool:
    everything = _options(("everything",)).get("everything", False)
    if not isinstance(everything, bool):
        raise BadRequest("everything must be true or false")
    return everything


@bp.post("/ota/sweep")
def ota_sweep():
    """Run the recovery sweeps alone (a worker that stalled: Scheduled over 5 minutes goes back
    to Submitted, Processing over an hour to Error)."""
    return json_response(200, [{"orderId": o.order_id, "status": o.status.value} for o in backend().worker.sweep()])


@bp.post("/webhooks/flush")
def webhooks_flush():
    """Wait (up to `{"timeout": seconds}`, default 30) until every queued webhook delivery is done."""
    timeout = _options(("timeout",)).get("timeout", 30)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 <= timeout <= 300:
        raise BadRequest("timeout must be a number of seconds up to 300")
    return json_response(200, {"flushed": backend().webhooks.flush(timeout)})


@bp.post("/orders/<order_id>/release")
def release_order(order_id: str):
    """Let an order stuck in Processing finish its issuance."""
    order = backend().channel_manager.release_order(order_id)
    if order.ota and not order.status.in_flight:
        backend().webhooks.order_processed(order)
    return json_response(200, order_json(order, request.host_url.rstrip("/")))


def _namespace(values) -> tuple[str, str, str]:
    missing = [key for key in NAMESPACE_KEYS if not values.get(key)]
    if missing:
        raise BadRequest(f"a namespace needs tenant, environment and company (missing {', '.join(missing)})")
    if not all(isinstance(values[key], str) for key in NAMESPACE_KEYS):
        raise BadRequest("tenant, environment and company must be text")
    return tuple(values[key] for key in NAMESPACE_KEYS)


def _json(optional: bool = False):
    """The body as JSON: bounded (MAX_NESTING levels, 64-bit whole numbers, finite numbers), with
    lone surrogates replaced by U+FFFD."""
    data = request.get_data()
    if not data and optional:
        return None
    try:
        body = json.loads(data, parse_constant=_not_finite, parse_int=_whole_number)
        return usable_data(body, surrogates=bool(JSON_SURROGATE.search(data)))
    except RecursionError:
        raise BadRequest(f"the body nests deeper than {MAX_NESTING} levels") from None
    except UnusableData as error:
        raise BadRequest(f"the body {error}") from None
    except ValueError:
        raise BadRequest("the body must be JSON") from None


def _not_finite(name: str):
    raise UnusableData("holds a number that is not finite")


def _whole_number(text: str) -> int:
    if len(text) > 20:  # int() itself refuses beyond 4300 digits, with Python's words
        raise UnusableData("holds a whole number beyond 64 bits")
    return int(text)


def _options(keys: tuple[str, ...]) -> dict:
    """An optional JSON object body with only these keys."""
    body = _json(optional=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = [key for key in body if key not in keys]
    if unknown:
        raise BadRequest(f"unknown key '{unknown[0][:60]}': this call takes {', '.join(keys)}")
    return body


def _field(body, name: str, kind):
    value = body.get(name) if isinstance(body, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"{name} is required and must be {'text' if kind is str else 'a number'}")
    return value
