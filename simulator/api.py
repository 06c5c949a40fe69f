"""The partner API over HTTP: `/{tenant}/{environment}/{company}/...`, a thin adapter.

The call itself is simulator.partner_calls (no Flask); here: the request read, a transport
fault handed to the server (at most MAX_HANGS hangs at once), one journal entry, and the
platform's headers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, g, request

from simulator.clock import format_datetime
from simulator.errors import json_bytes_response, json_response
from simulator.partner_calls import SUPPORTED_METHODS, Answer, PartnerCall, answer
from simulator.request_journal import JournalEntry
from simulator.transport import request_transport_fault
from simulator.version import VERSION

bp = Blueprint("api", __name__)

SIMULATOR_VERSION = f"cm-sim/{VERSION}"
PLATFORM_VERSION = "26.0.0.0"
API_USER_ID = "6f1c1e0e-2f4b-4d7a-9c55-0c1e5a7d3b21"
HANG_LIMIT_NOTE = "the limit of hangs in progress was reached: closed at once with no reply instead"


@bp.route(
    "/<tenant>/<environment>/<company>/<path:endpoint>",
    methods=SUPPORTED_METHODS,
    provide_automatic_options=False,
)
def partner_api(tenant: str, environment: str, company: str, endpoint: str):
    if tenant == "_sim":  # the control API's prefix is never a tenant
        return json_response(404, {"code": "resource_not_found", "message": f"{request.path} Not Found"})
    g.started = time.perf_counter()
    g.started_at = datetime.now(UTC)
    backend = current_app.extensions["simulator"]
    call = PartnerCall(
        method=request.method,
        namespace=(tenant, environment, _company(company)),
        endpoint=endpoint,
        query=request.args,
        body=request.get_data() if request.method in ("POST", "PUT") else b"",
        api_key=api_key(),
        base_url=f"{request.scheme}://{request.host}",
    )
    result, entry = answer(backend, call)
    lost = _fail_transport(result.transport, entry) if result.transport else None
    _journal(backend, entry, result, lost)
    return json_bytes_response(result.status, result.body) if result.body else Response(status=result.status)


def api_key() -> str:
    """The key: `x-np-api-key`, or `Authorization: Bearer` as the webhook pages show it."""
    bearer = request.headers.get("Authorization", "")
    return request.headers.get("x-np-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else "")


def _fail_transport(transport: tuple[str, float], entry: JournalEntry) -> str:
    """Hand the fault to the server; the kind that will happen."""
    kind, hang_seconds = transport
    happening = request_transport_fault(kind, hang_seconds)
    if happening != kind:
        entry.note = HANG_LIMIT_NOTE
    return happening


def _journal(backend, entry: JournalEntry, result: Answer, lost: str | None) -> None:
    """Finish the call's entry with what only HTTP knows, and record it."""
    g.call = {
        "namespace": "/".join(entry.namespace),
        "operation": entry.operation or request.method,
        "order_id": entry.order_id or "-",
        "lost": lost,
    }
    unanswered = lost is not None and entry.outcome == "transport"  # failed before anything happened
    entry.at = format_datetime(backend.clock.now())
    entry.path = request.path
    entry.query = request.args.to_dict()
    entry.status = None if unanswered else result.status
    entry.response_body = None if unanswered else (result.body or None)
    entry.lost = lost
    backend.journal.record(entry)


def _company(company: str) -> str:
    """The company name; the docs' examples encode it twice, so decode what is left."""
    return unquote(company) if "%" in company else company


@bp.after_request
def platform_headers(response: Response) -> Response:
    """The headers every Business Central API response carries."""
    started = g.get("started")
    if started is not None:
        ended_at = datetime.now(UTC)
        add = response.headers.add
        add("x-npr-version", SIMULATOR_VERSION)
        add("x-bc-platform-version", PLATFORM_VERSION)
        add("x-bc-user-id", API_USER_ID)
        add("x-npr-start-time", g.started_at.isoformat(timespec="milliseconds"))
        add("x-npr-end-time", ended_at.isoformat(timespec="milliseconds"))
        add("x-npr-duration", str(round((time.perf_counter() - started) * 1000)))
    return response
