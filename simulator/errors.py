"""The wire errors of the Channel Manager API: `{"code": ..., "message": ...}` with a status."""


class ApiError(Exception):
    """An error the API answers with; `code` is the wire error code."""

    status = 400
    code = "generic_error"

    def __init__(self, message: str, field: str = "", rule: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field  # for the request journal: which value was refused
        self.rule = rule  # and by which check

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


class BadRequest(ApiError):
    """Every validation and business-rule failure (400 generic_error)."""


class NotFound(ApiError):
    """404; the real framework appends " Not Found" to every message."""

    status = 404
    code = "resource_not_found"

    def __init__(self, message: str):
        super().__init__(f"{message} Not Found")


class Unauthorized(ApiError):
    """401 for a missing or unknown API key (the gateway's answer is undocumented)."""

    status = 401
    code = "unauthorized"


class UnsupportedMethod(ApiError):
    code = "unsupported_http_method"

    def __init__(self, method: str):
        super().__init__(f"Http method {method} is not supported")


class IssuanceFailed(BadRequest):
    """Ticket issuance failed: the order is left in Error with this message."""


class StorageFailed(ApiError):
    """503: the server could not make a change durable (its `--data` files); nothing changed."""

    status = 503
    code = "service_unavailable"


class StartupError(Exception):
    """Why the server cannot start, in one line for `cm-sim: <message>` (exit status 2)."""
