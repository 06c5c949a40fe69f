"""Webhook subscriptions (`/{tenant}/{environment}/{company}/webhook`) and the delivery of
`ota_cm_order_processed` in the documented envelope, with retries, delivery faults and an
optional signature (the last three are simulator additions: the docs name none).

Delivery is bounded: each subscription has its own queue, served by one sender at a time from a
pool of at most SUBSCRIPTIONS_IN_ALL, so a slow receiver delays only its own deliveries; an
attempt (connect, send, answer) has `timeout_seconds` in all; at most ANSWER_LIMIT bytes of the
answer are read (its status line and headers; never its body); a redirect is a failed attempt."""

from __future__ import annotations

import functools
import hashlib
import heapq
import hmac
import http.client
import json
import random
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from simulator.clock import format_datetime
from simulator.errors import BadRequest, NotFound
from simulator.request_journal import JournalEntry
from simulator.scenario import WEBHOOK_DEFAULTS, WebhookSettings

EVENT = "ota_cm_order_processed"
EVENT_VERSION = "1.0"
DELIVERY_OPERATION = "webhook_delivery"  # a delivery attempt's operation in the request journal
HOLD_SECONDS = 1.0  # out of order: the longest a delivery waits for the next
SIGNATURE_HEADER = "x-sim-signature"
SUBSCRIPTIONS_PER_COMPANY = 10
SUBSCRIPTIONS_IN_ALL = 100  # companies are unlimited: this is what bounds the senders
ANSWER_LIMIT = 64 * 1024


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


@dataclass(eq=False)
class Subscriber:
    """A subscription and its own queue of deliveries, sent one at a time, earliest due first."""

    subscription: dict
    queue: list[Delivery] = field(default_factory=list)
    held: Delivery | None = None  # out of order: waits for the next one
    sending: bool = False
    ended: bool = False  # deleted, or its namespace reset: nothing more is sent

    @property
    def waiting(self) -> bool:
        return not self.sending and (bool(self.queue) or self.held is not None)

    def next_due(self) -> float:
        return min(delivery.due for delivery in (*self.queue[:1], self.held) if delivery is not None)

    def release_held(self, force: bool = False) -> None:
        if self.held is not None and (force or self.held.due <= time.monotonic()):
            self.held.due = time.monotonic()
            heapq.heappush(self.queue, self.held)
            self.held = None

    def end(self) -> None:
        self.ended, self.queue, self.held = True, [], None


class Webhooks:
    def __init__(self, clock, journal):
        self.clock = clock
        self.journal = journal
        self.settings = WEBHOOK_DEFAULTS
        self._random = random.Random()
        self._subscribers: dict[tuple, dict[str, Subscriber]] = {}
        self._lock = threading.Condition()
        self._senders: set[threading.Thread] = set()
        self._sequence = 0
        self._busy = 0  # attempts in flight
        self._stop = False

    def configure(self, settings: WebhookSettings | None) -> None:
        """A scenario's [webhooks] settings (None: the defaults)."""
        with self._lock:
            self.settings = settings or WEBHOOK_DEFAULTS
            self._random = random.Random(self.settings.seed)

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
            self._make_room(namespace)
            self._subscribers.setdefault(namespace, {})[subscription["id"]] = Subscriber(subscription)
        return _odata(subscription)

    def subscriptions(self, namespace: tuple) -> list[dict]:
        with self._lock:
            return [_odata(s.subscription) for s in self._subscribers.get(namespace, {}).values()]

    def subscribed_namespaces(self) -> list[tuple]:
        with self._lock:
            return sorted(self._subscribers)

    def subscription(self, namespace: tuple, subscription_id: str) -> dict:
        with self._lock:
            found = self._subscribers.get(namespace, {}).get(subscription_id.strip("{}").lower())
        if found is None:
            raise NotFound(f"Subscription '{subscription_id}' not found")
        return _odata(found.subscription)

    def unsubscribe(self, namespace: tuple, subscription_id: str) -> None:
        """Delete a subscription with its pending deliveries (an attempt in flight ends as it ends)."""
        with self._lock:
            company = self._subscribers.get(namespace, {})
            ended = company.pop(subscription_id.strip("{}").lower(), None)
            if ended is None:
                raise NotFound(f"Subscription '{subscription_id}' not found")
            ended.end()
            if not company:
                del self._subscribers[namespace]
            self._lock.notify_all()

    def reset(self, namespace: tuple | None = None) -> None:
        """Forget the subscriptions and the pending deliveries (of one namespace)."""
        with self._lock:
            namespaces = list(self._subscribers) if namespace is None else [namespace]
            for each in namespaces:
                for subscriber in self._subscribers.pop(each, {}).values():
                    subscriber.end()
            self._lock.notify_all()

    def _make_room(self, namespace: tuple) -> None:
        if len(self._subscribers.get(namespace, {})) >= SUBSCRIPTIONS_PER_COMPANY:
            raise BadRequest(
                f"This company already has {SUBSCRIPTIONS_PER_COMPANY} webhook subscriptions, the "
                "most the simulator keeps per company; delete one first",
                "",
                "subscription_limit",
            )
        if sum(map(len, self._subscribers.values())) >= SUBSCRIPTIONS_IN_ALL:
            raise BadRequest(
                f"The simulator already keeps {SUBSCRIPTIONS_IN_ALL} webhook subscriptions across all "
                "companies, the most it keeps; delete one first",
                "",
                "subscription_limit",
            )

    def _all(self) -> list[Subscriber]:
        return [s for company in self._subscribers.values() for s in company.values()]

    # -- delivery --------------------------------------------------------

    def order_processed(self, order) -> None:
        """Announce a settled OTA order to every subscriber of its namespace."""
        with self._lock:
            subscribers = [
                s for s in self._subscribers.get(order.namespace, {}).values() if s.subscription["eventName"] == EVENT
            ]
        for subscriber in subscribers:
            subscription = subscriber.subscription
            envelope = {
                "value": [
                    {
                        "appId": subscription["appId"],
                        "clientState": subscription["clientState"],
                        "companyId": subscription["companyId"],
                        "companyName": order.namespace[2],
                        "eventName": EVENT,
                        "eventVersion": subscription["eventVersion"],
                        "initiatingUserAADObjectId": "00000000-0000-0000-0000-000000000000",
                        "timestamp": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "payload": {
                            "orderId": order.order_id,
                            "buyFromOrderReference": order.buy_from_order_reference,
                            "status": order.status.value,
                        },
                    }
                ]
            }
            body = json.dumps(envelope, separators=(",", ":")).encode()
            self._enqueue(subscriber, body, order)

    def _enqueue(self, subscriber: Subscriber, body: bytes, order) -> None:
        with self._lock:
            if subscriber.ended or self._stop:
                return
            settings = self.settings
            copies = 2 if self._random.random() < settings.duplicate else 1
            for copy in range(copies):
                delivery = Delivery(
                    time.monotonic() + settings.delay_ms / 1000,
                    self._next(),
                    subscriber.subscription["notificationUrl"],
                    body,
                    order.namespace,
                    order.order_id,
                    note="duplicate" if copy else "",
                )
                if self._random.random() < settings.drop:
                    self._record(delivery, None, "dropped")
                    continue
                if settings.out_of_order and subscriber.held is None:
                    delivery.due += HOLD_SECONDS
                    subscriber.held = delivery  # sent after the next one (or after HOLD_SECONDS, or on flush)
                    continue
                heapq.heappush(subscriber.queue, delivery)
                if subscriber.held is not None:
                    held, subscriber.held = subscriber.held, None
                    held.due, held.sequence = delivery.due, self._next()
                    heapq.heappush(subscriber.queue, held)
            self._staff()
            self._lock.notify_all()

    def flush(self, timeout: float = 30) -> bool:
        """Send any held delivery now, and wait until every queued one is done (True) or the
        timeout (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            for subscriber in self._all():
                subscriber.release_held(force=True)
            self._lock.notify_all()
            while self._busy or any(s.queue or s.held for s in self._all()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def stop(self) -> None:
        """Stop the senders; one in the middle of an attempt finishes it first (its deadline bounds that)."""
        with self._lock:
            self._stop = True
            self._lock.notify_all()
            senders = list(self._senders)
            deadline = time.monotonic() + self.settings.timeout_seconds + 1
        for sender in senders:
            sender.join(timeout=max(0.0, deadline - time.monotonic()))

    def _staff(self) -> None:
        """Start senders until each subscriber with deliveries waiting has a free one (within the pool's bound)."""
        if self._stop:
            return
        missing = sum(s.waiting for s in self._all()) - (len(self._senders) - self._busy)
        for _ in range(min(missing, SUBSCRIPTIONS_IN_ALL - len(self._senders))):
            sender = threading.Thread(target=self._send_forever, name=f"cm-sim-webhooks-{self._next()}", daemon=True)
            self._senders.add(sender)
            sender.start()

    def _send_forever(self) -> None:
        while (job := self._next_job()) is not None:
            subscriber, delivery, settings = job
            try:
                self._attempt(subscriber, delivery, settings)
            finally:
                with self._lock:
                    subscriber.sending = False
                    self._busy -= 1
                    self._staff()  # the pool was full: a subscriber may still lack a sender
                    self._lock.notify_all()

    def _next_job(self) -> tuple[Subscriber, Delivery, WebhookSettings] | None:
        """The next due delivery of a subscriber no other sender serves; None when this sender is
        not needed any more (stopping, or more free senders than subscribers waiting)."""
        with self._lock:
            while not self._stop:
                subscriber = self._due()
                if subscriber is not None:
                    subscriber.sending = True
                    self._busy += 1
                    return subscriber, heapq.heappop(subscriber.queue), self.settings
                waiting = [s for s in self._all() if s.waiting]
                if len(self._senders) - self._busy > len(waiting):
                    break
                self._lock.wait(max(0.0, min(s.next_due() for s in waiting) - time.monotonic()))
            self._senders.discard(threading.current_thread())
            return None

    def _due(self) -> Subscriber | None:
        for subscriber in self._all():
            if not subscriber.sending:
                subscriber.release_held()
                if subscriber.queue and subscriber.queue[0].due <= time.monotonic():
                    return subscriber
        return None

    def _attempt(self, subscriber: Subscriber, delivery: Delivery, settings: WebhookSettings) -> None:
        status, problem = post(delivery.url, delivery.body, _headers(delivery.body, settings), settings.timeout_seconds)
        retries = settings.retry_seconds
        if not problem:
            self._record(delivery, status, delivery.note or "delivered")
            return
        with self._lock:
            retrying = not subscriber.ended and delivery.attempt <= len(retries)
            if retrying:
                heapq.heappush(
                    subscriber.queue,
                    Delivery(
                        time.monotonic() + retries[delivery.attempt - 1],
                        self._next(),
                        delivery.url,
                        delivery.body,
                        delivery.namespace,
                        delivery.order_id,
                        delivery.attempt + 1,
                        delivery.note,
                    ),
                )
            ended = subscriber.ended
        then = "retrying" if retrying else "subscription ended" if ended else "gave up"
        self._record(delivery, status, f"failed ({problem}); {then}")

    def _record(self, delivery: Delivery, status: int | None, outcome: str) -> None:
        self.journal.record(
            JournalEntry(
                namespace=delivery.namespace,
                method="POST",
                path=delivery.url,
                at=format_datetime(self.clock.now()),
                operation=DELIVERY_OPERATION,
                order_id=delivery.order_id,
                outcome=outcome,
                attempt=delivery.attempt,
                request_body=delivery.body,
                status=status,
            )
        )

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence


def _headers(body: bytes, settings: WebhookSettings) -> dict:
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if settings.signing_secret:
        digest = hmac.new(settings.signing_secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    return headers


# -- one attempt on the wire -------------------------------------------------


class AnswerTooLarge(Exception):
    pass


def post(url: str, body: bytes, headers: dict, seconds: float) -> tuple[int | None, str]:
    """POST once, all of it within `seconds`: (the answer's status or None, what went wrong or "").
    Only a 2xx answer is a success; a redirect is not followed."""
    deadline = time.monotonic() + seconds
    connection = None
    try:
        parts = urlsplit(url)
        if not parts.hostname:
            raise http.client.InvalidURL("no host")
        https = parts.scheme == "https"
        connection = http.client.HTTPConnection(parts.hostname, parts.port)  # writes the request; the socket is ours
        connection.sock = _connect(parts.hostname, parts.port or (443 if https else 80), https, deadline)
        connection.sock.settimeout(_left(deadline))
        connection.request("POST", _target(parts), body, headers)
        # HTTPResponse reads through makefile() only, which _Answer provides with the deadline
        answer = http.client.HTTPResponse(_Answer(connection.sock, deadline), method="POST")  # type: ignore[arg-type]
        answer.begin()
    except (OSError, ValueError, http.client.HTTPException, AnswerTooLarge) as error:
        return None, _problem(error)
    finally:
        if connection is not None:
            connection.close()
    if 200 <= answer.status < 300:
        return answer.status, ""
    if 300 <= answer.status < 400:
        return answer.status, f"status {answer.status}: redirects are not followed"
    return answer.status, f"status {answer.status}"


def _target(parts) -> str:
    """The path and query, with what may not go on the request line percent-encoded."""
    return quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe="!#$%&'()*+,/:;=?@[]~")


def _connect(host: str, port: int, https: bool, deadline: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=_left(deadline))
    if not https:
        return sock
    tls = _tls_context().wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    try:
        tls.settimeout(_left(deadline))
        tls.do_handshake()  # its timeout is for the whole handshake
    except BaseException:
        tls.close()
        raise
    return tls


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the attempt's deadline passed")
    return left


class _Answer:
    """The receiver's answer as http.client reads it (line by line): each read gets only the
    time left until the attempt's deadline, and all of them together at most ANSWER_LIMIT bytes."""

    def __init__(self, sock: socket.socket, deadline: float):
        self._sock, self._deadline = sock, deadline
        self._buffer, self._taken = b"", 0

    def makefile(self, mode: str) -> _Answer:
        return self

    def readline(self, limit: int = -1) -> bytes:
        while b"\n" not in self._buffer and (limit < 0 or len(self._buffer) < limit) and self._receive():
            pass
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        if limit >= 0:
            end = min(end, limit)
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line

    def _receive(self) -> bool:
        if self._taken >= ANSWER_LIMIT:
            raise AnswerTooLarge
        self._sock.settimeout(_left(self._deadline))
        chunk = self._sock.recv(min(16384, ANSWER_LIMIT - self._taken))
        self._taken += len(chunk)
        self._buffer += chunk
        return bool(chunk)

    def close(self) -> None:
        pass


_PROBLEMS: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [  # the first that fits
    (TimeoutError, "timeout"),
    (AnswerTooLarge, f"answer over {ANSWER_LIMIT // 1024} KiB"),
    (http.client.RemoteDisconnected, "closed without an answer"),
    (ConnectionRefusedError, "connection refused"),
    ((ConnectionResetError, BrokenPipeError), "connection reset"),
    (socket.gaierror, "unknown host"),
    (ssl.SSLError, "TLS failed"),
    ((http.client.InvalidURL, ValueError), "not a usable URL"),  # after SSLError: a certificate error is both
    (http.client.HTTPException, "not an HTTP answer"),
]


def _problem(error: BaseException) -> str:
    return next((text for kind, text in _PROBLEMS if isinstance(error, kind)), type(error).__name__)


def company_id(namespace: tuple) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(namespace)))


def _odata(subscription: dict) -> dict:
    return {"@odata.etag": f'W/"{subscription["timestamp"]}"', **subscription}
