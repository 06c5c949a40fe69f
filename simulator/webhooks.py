"""Webhook subscriptions (`/{tenant}/{environment}/{company}/webhook`) and the delivery of
`ota_cm_order_processed` in the documented envelope, with retries, delivery faults and an
optional signature (the last three are simulator additions: the docs name none)."""
from __future__ import annotations

import hashlib
import hmac
import heapq
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

from simulator.errors import BadRequest, NotFound

EVENT = "ota_cm_order_processed"
EVENT_VERSION = "1.0"
HOLD_SECONDS = 1.0  # out of order: the longest a delivery waits for the next
SIGNATURE_HEADER = "x-sim-signature"
DEFAULTS = {"retry_seconds": [1, 2, 4, 8, 16], "timeout_seconds": 5, "signing_secret": "", "drop": 0,
            "duplicate": 0, "delay_ms": 0, "out_of_order": False}


@dataclass(order=True)
class Delivery:
    due: float
    sequence: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    namespace: tuple = field(compare=False)
    order_id: str = field(compare=False)
    attempt: int = field(compare=False, default=1)
    note: str = field(compare=False, default="")


class Webhooks:
    def __init__(self, clock, journal):
        self.clock = clock
        self.journal = journal
        self.settings = dict(DEFAULTS)
        self._random = random.Random()
        self._subscriptions: dict[tuple, dict[str, dict]] = {}
        self._lock = threading.Condition()
        self._queue: list[Delivery] = []
        self._held: Delivery | None = None  # out of order: waits for the next one
        self._sequence = 0
        self._busy = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    def configure(self, settings: dict | None) -> None:
        with self._lock:
            self.settings = {**DEFAULTS, **(settings or {})}
            self._random = random.Random(self.settings.get("seed"))

    # -- subscriptions ---------------------------------------------------

    def subscribe(self, namespace: tuple, body) -> dict:
        if not isinstance(body, dict):
            raise BadRequest("Body must be a JSON object")
        for name in ("notificationUrl", "eventName"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise BadRequest(f"Required field '{name}' is missing", name, "required")
        if not body["notificationUrl"].startswith(("http://", "https://")):
            raise BadRequest("notificationUrl must be an http or https URL", "notificationUrl", "url")
        client_state = body.get("clientState", "")
        if not isinstance(client_state, str) or len(client_state) > 50:
            raise BadRequest("clientState must be text of at most 50 characters", "clientState", "length")
        app_id = body.get("appId") or "00000000-0000-0000-0000-000000000000"
        try:
            app_id = str(uuid.UUID(str(app_id)))
        except ValueError:
            raise BadRequest("appId must be a GUID", "appId", "guid") from None
        subscription = {
            "id": str(uuid.uuid4()),
            "companyId": company_id(namespace),
            "timestamp": int(self.clock.now().timestamp() * 1000),
            "appId": app_id,
            "eventName": body["eventName"],
            "eventVersion": str(body.get("eventVersion") or EVENT_VERSION),
            "notificationUrl": body["notificationUrl"],
            "clientState": client_state,
            "subscriptionState": "Active",
        }
        with self._lock:
            self._subscriptions.setdefault(namespace, {})[subscription["id"]] = subscription
        return _odata(subscription)

    def subscriptions(self, namespace: tuple) -> list[dict]:
        with self._lock:
            return [_odata(s) for s in self._subscriptions.get(namespace, {}).values()]

    def subscription(self, namespace: tuple, subscription_id: str) -> dict:
        with self._lock:
            found = self._subscriptions.get(namespace, {}).get(subscription_id.strip("{}").lower())
        if found is None:
            raise NotFound(f"Subscription '{subscription_id}' not found")
        return _odata(found)

    def unsubscribe(self, namespace: tuple, subscription_id: str) -> None:
        self.subscription(namespace, subscription_id)
        with self._lock:
            self._subscriptions[namespace].pop(subscription_id.strip("{}").lower())

    def reset(self, namespace: tuple | None = None) -> None:
        """Forget the subscriptions and the pending deliveries (of one namespace)."""
        with self._lock:
            if namespace is None:
                self._subscriptions.clear()
            else:
                self._subscriptions.pop(namespace, None)
            self._queue = [d for d in self._queue if namespace is not None and d.namespace != namespace]
            heapq.heapify(self._queue)
            if self._held is not None and (namespace is None or self._held.namespace == namespace):
                self._held = None

    # -- delivery --------------------------------------------------------

    def order_processed(self, order) -> None:
        """Announce a settled OTA order to every subscriber of its namespace."""
        with self._lock:
            subscribers = [s for s in self._subscriptions.get(order.namespace, {}).values() if s["eventName"] == EVENT]
        for subscription in subscribers:
            envelope = {"value": [{
                "appId": subscription["appId"],
                "clientState": subscription["clientState"],
                "companyId": subscription["companyId"],
                "companyName": order.namespace[2],
                "eventName": EVENT,
                "eventVersion": subscription["eventVersion"],
                "initiatingUserAADObjectId": "00000000-0000-0000-0000-000000000000",
                "timestamp": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "payload": {"orderId": order.order_id, "buyFromOrderReference": order.buy_from_order_reference,
                            "status": order.status.value},
            }]}
            body = json.dumps(envelope, separators=(",", ":")).encode()
            self._enqueue(subscription["notificationUrl"], body, order)

    def _enqueue(self, url: str, body: bytes, order) -> None:
        with self._lock:
            settings = self.settings
            copies = 2 if self._random.random() < settings["duplicate"] else 1
            for copy in range(copies):
                delivery = Delivery(time.monotonic() + settings["delay_ms"] / 1000, self._next(), url, body,
                                    order.namespace, order.order_id, note="duplicate" if copy else "")
                if self._random.random() < settings["drop"]:
                    self._record(delivery, None, "dropped")
                    continue
                if settings["out_of_order"] and self._held is None:
                    delivery.due += HOLD_SECONDS
                    self._held = delivery  # sent after the next one (or after HOLD_SECONDS, or on flush)
                    continue
                heapq.heappush(self._queue, delivery)
                if self._held is not None and self._held is not delivery:
                    self._held.due, self._held.sequence = delivery.due, self._next()
                    heapq.heappush(self._queue, self._held)
                    self._held = None
            self._start()
            self._lock.notify_all()

    def flush(self, timeout: float = 30) -> bool:
        """Send any held delivery now, and wait until every queued one is done (True) or the
        timeout (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._release_held(force=True)
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._deliver_forever, name="cm-sim-webhooks", daemon=True)
            self._thread.start()

    def _deliver_forever(self) -> None:
        while True:
            with self._lock:
                while not self._stop and (not self._queue or self._queue[0].due > time.monotonic()):
                    self._release_held()
                    self._lock.wait(0.05 if self._queue or self._held else 1)
                if self._stop:
                    return
                delivery = heapq.heappop(self._queue)
                self._busy += 1
                settings = self.settings
            try:
                self._send(delivery, settings)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _send(self, delivery: Delivery, settings: dict) -> None:
        import requests

        headers = {"Content-Type": "application/json"}
        if settings["signing_secret"]:
            digest = hmac.new(settings["signing_secret"].encode(), delivery.body, hashlib.sha256).hexdigest()
            headers[SIGNATURE_HEADER] = f"sha256={digest}"
        try:
            status = requests.post(delivery.url, data=delivery.body, headers=headers,
                                   timeout=settings["timeout_seconds"]).status_code
        except requests.RequestException as error:
            status, problem = None, type(error).__name__
        else:
            problem = "" if 200 <= status < 300 else f"status {status}"
        retries = settings["retry_seconds"]
        if not problem:
            self._record(delivery, status, delivery.note or "delivered")
        elif delivery.attempt <= len(retries):
            self._record(delivery, status, f"failed ({problem}); retrying")
            with self._lock:
                heapq.heappush(self._queue, Delivery(time.monotonic() + retries[delivery.attempt - 1], self._next(),
                                                     delivery.url, delivery.body, delivery.namespace,
                                                     delivery.order_id, delivery.attempt + 1, delivery.note))
        else:
            self._record(delivery, status, f"failed ({problem}); gave up")

    def _record(self, delivery: Delivery, status: int | None, outcome: str) -> None:
        tenant, environment, company = delivery.namespace
        self.journal.record({
            "at": self.clock.describe()["now"], "method": "POST", "path": delivery.url,
            "namespace": {"tenant": tenant, "environment": environment, "company": company},
            "operation": "webhook_delivery", "orderId": delivery.order_id, "sellToOrderReference": None,
            "faults": [], "outcome": outcome, "attempt": delivery.attempt, "transitions": [],
            "request": {"query": {}, "body": delivery.body},
            "response": {"status": status, "body": None, "lost": None},
        })

    def _release_held(self, force: bool = False) -> None:
        if self._held is not None and (force or self._held.due <= time.monotonic()):
            self._held.due = time.monotonic()
            heapq.heappush(self._queue, self._held)
            self._held = None
            self._lock.notify_all()

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence


def company_id(namespace: tuple) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(namespace)))


def _odata(subscription: dict) -> dict:
    return {"@odata.etag": f'W/"{subscription["timestamp"]}"', **subscription}
