"""Everything under `/_sim/`: the simulator's own endpoints, never the partner API."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from simulator.api import json_response
from simulator.errors import NotFound
from simulator.manifest import manifest_page

bp = Blueprint("control", __name__, url_prefix="/_sim")


@bp.get("/health")
def health():
    return json_response(200, {"status": "ok"})


@bp.get("/manifest")
def manifest():
    """Serve the manifest a manifestUrl points at, while its order still holds it."""
    backend = current_app.extensions["simulator"]
    order = backend.orders.manifest_order(request.args.get("mid", ""))
    page = manifest_page(order, request.args.get("wallet")) if order else None
    if page is None:
        raise NotFound("Manifest not found")
    return Response(page, content_type="text/html; charset=utf-8")
