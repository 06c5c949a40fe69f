"""The partner API over HTTP: `/{tenant}/{environment}/{company}/channelManager/...`.

Thin on purpose: authenticate, route as the real router does (literal segments
match case-insensitively, the segment count must match), call the backend,
render JSON.
"""
from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, g, request

from simulator.errors import ApiError, NotFound, Unauthorized, UnsupportedMethod
from simulator.render import order_json, order_summary

bp = Blueprint("api", __name__)

NOT_JSON = object()
SUPPORTED_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
PLATFORM_VERSION = "26.0.0.0"
API_USER_ID = "6f1c1e0e-2f4b-4d7a-9c55-0c1e5a7d3b21"


@bp.route(
    "/<tenant>/<environment>/<company>/<path:endpoint>",
    methods=SUPPORTED_METHODS,
    provide_automatic_options=False,
)
def partner_api(tenant: str, environment: str, company: str, endpoint: str):
    g.started = time.perf_counter()
    g.started_at = datetime.now(timezone.utc)
    require_api_key()
    if request.method not in SUPPORTED_METHODS:  # HEAD, which Flask routes with GET
        raise UnsupportedMethod(request.method)
    namespace = (tenant, environment, _company(company))
    module, *path = endpoint.split("/")
    if module.lower() != "channelmanager":
        raise NotFound("/" + endpoint)
    return _route(namespace, request.method, path)


def _route(namespace, method: str, path: list[str]) -> Response:
    orders = current_app.extensions["simulator"].orders
    literal = [segment.lower() for segment in path]
    if method == "GET" and len(path) == 2 and literal[0] == "orders":
        listed = orders.list_orders(namespace, path[1], request.args)
        return json_response(200, [order_summary(order, _base_url()) for order in listed])
    if method == "GET" and len(path) == 1:
        return _order(200, orders.get_order(namespace, path[0]))
    if method == "POST" and len(path) == 2 and literal[1] == "confirm":
        return _order(200, orders.confirm_order(namespace, path[0], _body()))
    if method == "POST" and not path:
        return _order(201, orders.create_order(namespace, _body()))
    if method == "PUT" and len(path) == 1:
        return _order(200, orders.replace_order(namespace, path[0], _body()))
    if method == "DELETE" and len(path) == 1:
        return _order(200, orders.delete_order(namespace, path[0]))
    raise NotFound("API endpoint not found")


def require_api_key() -> None:
    """The gateway's check, before anything else: a key must be sent."""
    if not request.headers.get("x-np-api-key", "").strip():
        raise Unauthorized("Missing API key: send your NaviPartner API key in the x-np-api-key header")


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
    return _without_lone_surrogates(body) if ESCAPED_SURROGATE.search(data) else body


def _without_lone_surrogates(value):
    """Replace escaped lone surrogates (valid JSON, not valid text) with U+FFFD, as a
    UTF-16 platform does when it writes them out as UTF-8."""
    if isinstance(value, str):
        return LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_lone_surrogates(entry) for entry in value]
    if isinstance(value, dict):
        return {_without_lone_surrogates(key): _without_lone_surrogates(entry) for key, entry in value.items()}
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _order(status: int, order) -> Response:
    return json_response(status, order_json(order, _base_url()))


def json_response(status: int, payload) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, content_type="application/json; charset=utf-8")


def error_response(error: ApiError) -> Response:
    return json_response(error.status, error.to_dict())


@bp.after_request
def platform_headers(response: Response) -> Response:
    """The headers every Business Central API response carries."""
    started = g.get("started")
    if started is not None:
        ended_at = datetime.now(timezone.utc)
        response.headers["x-npr-version"] = current_app.config["SIMULATOR_VERSION"]
        response.headers["x-bc-platform-version"] = PLATFORM_VERSION
        response.headers["x-bc-user-id"] = API_USER_ID
        response.headers["x-npr-start-time"] = g.started_at.isoformat(timespec="milliseconds")
        response.headers["x-npr-end-time"] = ended_at.isoformat(timespec="milliseconds")
        response.headers["x-npr-duration"] = str(round((time.perf_counter() - started) * 1000))
    return response
