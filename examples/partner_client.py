"""A sample partner integration: a small Channel Manager client that handles every error
the API can return. It is what a partner would write; its tests run against the simulator.
"""

from __future__ import annotations

import time

import requests

RETRIED = (429, 503)  # the gateway's answers: retry with exponential backoff
MAYBE_COMMITTED = ("connection", "server_timeout")  # the call may have run: look before repeating a create


class ChannelManagerError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class InvalidOrder(ChannelManagerError):
    """400 (or 413, a body too large): the request was refused and nothing was stored."""


class IssuanceFailed(ChannelManagerError):
    """400 from create or replace while the order was stored in Error: fix it and replace."""

    def __init__(self, status, code, message, order_id):
        super().__init__(status, code, message)
        self.order_id = order_id


class NotFound(ChannelManagerError):
    """404."""


class NotAuthorized(ChannelManagerError):
    """401 (bad key) or 403 (the key lacks the Channel Manager permission)."""


class Unavailable(ChannelManagerError):
    """429 or 503 still after every retry, or the connection kept failing."""


class ChannelManagerClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        partner_id: str,
        session: requests.Session | None = None,
        retries: int = 4,
        backoff: float = 0.05,
        timeout: float = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.partner_id = partner_id
        self.session = session or requests.Session()
        self.session.headers["x-np-api-key"] = api_key
        self.retries, self.backoff, self.timeout = retries, backoff, timeout

    def create_order(self, reference: str, items: list[dict], payment_reference: str | None = None, **buyer) -> dict:
        """Create an order; safe to call again after a lost response (it finds the order)."""
        body = {"partnerId": self.partner_id, "sellToOrderReference": reference, "items": items, **buyer}
        if payment_reference:
            body["paymentReference"] = payment_reference
        try:
            return self._call("POST", "", json=body)
        except Unavailable as failure:
            if failure.code not in MAYBE_COMMITTED:
                raise
        except InvalidOrder as refused:
            existing = self.find_order(reference)
            if existing and existing["status"] == "Error" and existing["statusMessage"] == refused.message:
                raise IssuanceFailed(refused.status, refused.code, refused.message, existing["orderId"]) from None
            raise
        # the order may have been committed and only its response lost: look before trying again
        found = self.find_order(reference)
        if found is None:
            return self._call("POST", "", json=body)
        return self.get_order(found["orderId"])

    def confirm_order(self, order_id: str, payment_reference: str) -> dict:
        return self._call("POST", f"/{order_id}/confirm", json={"paymentReference": payment_reference})

    def replace_order(
        self, order_id: str, reference: str, items: list[dict], payment_reference: str | None = None, **buyer
    ) -> dict:
        """Replace a Draft or Error order; after a lost response it reads what happened."""
        body = {"partnerId": self.partner_id, "sellToOrderReference": reference, "items": items, **buyer}
        if payment_reference:
            body["paymentReference"] = payment_reference
        before = self.get_order(order_id)
        try:
            return self._call("PUT", f"/{order_id}", json=body, once=True)
        except InvalidOrder as refused:
            order = self.get_order(order_id)
            if order["status"] == "Error":
                raise IssuanceFailed(refused.status, refused.code, refused.message, order_id) from None
            raise
        except Unavailable as failure:
            if failure.code not in MAYBE_COMMITTED:
                raise
        order = self.get_order(order_id)
        if order["jobId"] != before["jobId"] or order["status"] not in ("Draft", "Error"):
            return order  # it was replaced; only the answer was lost
        return self._call("PUT", f"/{order_id}", json=body)

    def delete_order(self, order_id: str) -> dict:
        """Delete an order; after a lost response it reads what happened (a deleted Draft is gone)."""
        try:
            return self._call("DELETE", f"/{order_id}", once=True)
        except Unavailable as failure:
            if failure.code not in MAYBE_COMMITTED:
                raise
        try:
            order = self.get_order(order_id)
        except NotFound:
            return {"orderId": order_id, "status": "Cancelled", "items": []}
        return order if order["status"] == "Cancelled" else self._call("DELETE", f"/{order_id}")

    def get_order(self, order_id: str) -> dict:
        return self._call("GET", f"/{order_id}")

    def find_order(self, reference: str) -> dict | None:
        """The summary of this partner's order with that reference, if there is one."""
        found = self._call("GET", f"/orders/{self.partner_id}", params={"sellToOrderReference": reference})
        return found[0] if found else None

    def _call(self, method: str, path: str, once: bool = False, **kwargs):
        """Send a call, retrying the gateway's 429 and 503. A call that changes something is not
        repeated after a connection failure (`once`, and every create): it may have been
        committed, so the caller looks first."""
        for attempt in range(self.retries + 1):
            try:
                response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            except requests.exceptions.RequestException as failure:
                error = Unavailable(0, "connection", str(failure))
                if once or (method == "POST" and path == ""):
                    raise error from None
            else:
                if response.status_code < 400:
                    return response.json()
                error = _error(response)
                if response.status_code not in RETRIED or error.code == "server_timeout":
                    raise error
            time.sleep(self.backoff * 2**attempt)
        raise error


def _error(response: requests.Response) -> ChannelManagerError:
    try:
        payload = response.json()
    except ValueError:
        payload = {"code": "unknown", "message": response.text}
    status = response.status_code
    kind = {400: InvalidOrder, 401: NotAuthorized, 403: NotAuthorized, 404: NotFound, 413: InvalidOrder}.get(
        status, Unavailable
    )
    return kind(status, payload.get("code", ""), payload.get("message", ""))
