"""The Flask application: the partner API, the `/_sim/` endpoints and JSON errors."""

from __future__ import annotations

import logging
import time

import orjson
from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from simulator import api, control
from simulator.backend import Backend
from simulator.errors import ApiError, BadRequest, UnsupportedMethod, error_response, json_response
from simulator.transport import HANGS_KEY, MAX_HANGS, Hangs, TransportFaults

MAX_BODY_BYTES = 32 * 1024 * 1024
TOO_LARGE = f"The request body is larger than the simulator takes ({MAX_BODY_BYTES // (1024 * 1024)} MiB)."
HTTP_ERROR_CODES = {404: "resource_not_found"}
LOGGED_MESSAGE = 80  # characters of an error message the console line shows
UNEXPECTED = "The simulator failed unexpectedly while answering this call; its log has the details."
DASHBOARD = "/_sim/"

log = logging.getLogger("simulator")
requests_log = logging.getLogger("cm_sim.requests")  # one line per request; cm-sim serve prints it unless --quiet


def create_app(
    backend: Backend | None = None,
    control_token: str | None = None,
    max_hangs: int = MAX_HANGS,
    allow_remote_control: bool = False,
    control_host: str | None = None,
) -> Flask:
    """Build the app around a backend (a fresh default one when none is given). With a
    control token the control API under /_sim/ asks for it in `x-sim-token`; without one it
    answers only calls addressed to a loopback host or `control_host` (the served --host),
    unless `allow_remote_control`. At most `max_hangs` transport hangs are in progress at once."""
    app = Flask(__name__)
    app.config["CONTROL_TOKEN"] = control_token
    app.config["ALLOW_REMOTE_CONTROL"] = allow_remote_control
    app.config["CONTROL_HOST"] = control_host
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.url_map.merge_slashes = False
    app.extensions["simulator"] = backend or Backend()
    app.extensions[HANGS_KEY] = Hangs(max_hangs)
    app.register_blueprint(control.bp)
    app.register_blueprint(api.bp)
    app.wsgi_app = TransportFaults(app.wsgi_app)  # type: ignore[method-assign]  # Flask's way to add middleware

    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response):
        if request.path == DASHBOARD and response.status_code < 400:
            return response  # the open dashboard reloads itself every few seconds: not worth a line each time
        call = g.get("call") or {"namespace": "-", "operation": f"{request.method} {request.path}", "order_id": "-"}
        status = f"{response.status_code} lost:{call['lost']}" if call.get("lost") else response.status_code
        duration = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        requests_log.info(
            "%s %s %s %.1fms %s%s",
            call["namespace"],
            call["operation"],
            status,
            duration,
            call["order_id"],
            _why(response) if response.status_code >= 400 else "",
        )
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 405 and not request.path.startswith("/_sim/"):
            try:
                app.extensions["simulator"].access.check_key(api.api_key())
            except ApiError as unauthorized:
                return error_response(unauthorized)
            return error_response(UnsupportedMethod(request.method))
        status = error.code or 400  # every HTTPException Flask raises has its code
        code = HTTP_ERROR_CODES.get(status, "generic_error")
        message = TOO_LARGE if status == 413 else error.description
        return json_response(status, {"code": code, "message": message})

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # Business Central answers an uncaught error with 400 generic_error; so do we, in our words
        log.exception("unexpected error while answering %s %s", request.method, request.path)
        return error_response(BadRequest(UNEXPECTED))

    return app


def _why(response) -> str:
    """An error's code and the start of its message, for the console line."""
    try:
        error = orjson.loads(response.get_data())
        return f" {error['code']}: {error['message'][:LOGGED_MESSAGE]}"
    except (ValueError, TypeError, KeyError):
        return ""
