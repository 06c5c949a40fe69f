"""The wire errors: every error answered as `{"code": ..., "message": ...}` with a status, and the
JSON responses the whole app sends. The domain raises these errors without Flask; only the
response helpers need it."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from flask import Response

JSON = "application/json; charset=utf-8"


class ApiError(Exception):
    """An error the API answers with; `code` is the wire error code."""

    status = 400
    code = "generic_error"

    def __init__(self, message: str, field: str = "", rule: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field  # for the request journal: which value was refused
        self.rule = rule  # and by which check

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


# -- Business Central's answers ----------------------------------------------


class BadRequest(ApiError):
    """Every validation and business-rule failure (400 generic_error)."""


class IssuanceFailed(BadRequest):
    """Ticket issuance failed: the order is left in Error with this message."""


class NotFound(ApiError):
    """404; the real framework appends " Not Found" to every message."""

    status = 404
    code = "resource_not_found"

    def __init__(self, message: str):
        super().__init__(f"{message} Not Found")


class UnsupportedMethod(ApiError):
    code = "unsupported_http_method"

    def __init__(self, method: str):
        super().__init__(f"Http method {method} is not supported")


class ServerTimeout(ApiError):
    """503: the call timed out while the order was being processed."""

    status = 503
    code = "server_timeout"


# -- the gateway's answers ---------------------------------------------------


class Unauthorized(ApiError):
    """401 for a missing or unknown API key (the gateway's answer is undocumented)."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403


class NamespaceNotFound(ApiError):
    status = 404

    def __init__(self, level: str, name: str):
        self.code = f"saas_{level}_not_found"
        super().__init__(f"{level.capitalize()} '{name}' not found")


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class Unavailable(ApiError):
    status = 503
    code = "service_unavailable"


# -- the simulator's own answers ---------------------------------------------


class StorageFailed(ApiError):
    """503: the server could not make a change durable (its `--data` files); nothing changed."""

    status = 503
    code = "service_unavailable"


class InvalidScenario(ApiError):
    """A scenario or fault rule given to the control API that cannot be used."""

    code = "invalid_scenario"


class NotThisMachine(ApiError):
    """A control API call not addressed to this machine, without a control token."""

    status = 403
    code = "forbidden"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class StartupError(Exception):
    """Why the server cannot start, in one line for `cm-sim: <message>` (exit status 2)."""


# -- JSON responses ----------------------------------------------------------


def error_body(error: ApiError) -> bytes:
    return orjson.dumps(error.to_dict())


def json_response(status: int, payload: object) -> Response:
    return json_bytes_response(status, json_bytes(payload))


def json_bytes(payload: object) -> bytes:
    """JSON as orjson writes it; Python's own writer for what orjson refuses (a whole number
    beyond 64 bits, which a partner's body may hold and the request journal keeps as sent)."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        return json.dumps(_finite(payload), ensure_ascii=False, separators=(",", ":")).encode()


def _finite(value: object) -> object:
    """NaN and the infinities as null, as orjson writes them (Python's writer would not write JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def json_bytes_response(status: int, body: bytes) -> Response:
    from flask import Response  # here: the domain imports this module without Flask

    return Response(body, status=status, content_type=JSON)


def error_response(error: ApiError) -> Response:
    return json_bytes_response(error.status, error_body(error))
