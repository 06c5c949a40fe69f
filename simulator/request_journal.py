"""The request journal: every partner API call, what it was answered, which fault rules
fired, the state transitions it caused, and for a rejection the rule that refused it.

Request and response bodies are kept as JSON text and decoded when read: as decoded trees,
ten thousand orders' worth of small objects would be walked by every full garbage collection.

Bounded: at most CAPACITY entries and MAX_BYTES of kept bodies (the oldest go first); a body
over BODY_CAP characters is kept as `{"truncated": true, "characters": N, "head": "..."}`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CAPACITY = 10_000  # the most recent entries kept
BODY_CAP = 64 * 1024  # characters of one body's JSON text kept whole
MAX_BYTES = 64 * 1024 * 1024  # characters of bodies kept in all
HEAD = 1024  # characters of a truncated body kept
ENTRY_COST = 512  # what an entry costs besides its bodies, roughly
FILTERS = ("operation", "status", "orderId", "tenant", "environment", "company", "rule", "sellToOrderReference")


@dataclass
class JournalEntry:
    """One recorded call: a partner API call (begun by simulator.partner_calls, finished by
    simulator.api) or a webhook delivery attempt (simulator.webhooks). `as_dict` is the entry
    as GET /_sim/journal serves it, its fields in that order."""

    namespace: tuple[str, str, str]
    method: str
    path: str = ""
    at: str = ""  # the simulator's clock
    operation: str | None = None
    order_id: str | None = None
    reference: str | None = None  # the sellToOrderReference
    faults: list[str] = field(default_factory=list)  # ids of the rules that fired
    outcome: str | None = None  # the decisive rule's outcome; for a delivery, what became of it
    rejection: dict[str, str | None] | None = None  # a refused call's field, rule and message
    attempt: int | None = None  # a delivery's
    transitions: list[dict[str, str | None]] = field(default_factory=list)
    note: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    request_body: str | bytes | None = None  # JSON text
    status: int | None = None  # None: no answer was sent
    response_body: bytes | None = None
    lost: str | None = None  # the transport fault that took the answer

    def as_dict(self) -> dict[str, Any]:
        tenant, environment, company = self.namespace
        entry: dict[str, Any] = {
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "namespace": {"tenant": tenant, "environment": environment, "company": company},
            "operation": self.operation,
            "orderId": self.order_id,
            "sellToOrderReference": self.reference,
            "faults": self.faults,
            "outcome": self.outcome,
        }
        if self.rejection is not None:
            entry["rejection"] = self.rejection
        if self.attempt is not None:
            entry["attempt"] = self.attempt
        entry["transitions"] = self.transitions
        if self.note is not None:
            entry["note"] = self.note
        entry["request"] = {"query": self.query, "body": self.request_body}
        entry["response"] = {"status": self.status, "body": self.response_body, "lost": self.lost}
        return entry


class RequestJournal:
    def __init__(self, capacity: int = CAPACITY, max_bytes: int = MAX_BYTES):
        self._lock = threading.Lock()
        self._entries: deque = deque()
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self._next_id = 1

    def record(self, recorded: JournalEntry) -> dict[str, Any]:
        entry = recorded.as_dict()
        entry["request"], entry["response"] = _capped(entry["request"]), _capped(entry["response"])
        with self._lock:
            entry = {"id": self._next_id, **entry}
            self._next_id += 1
            self._entries.append(entry)
            self._bytes += _size(entry)
            while len(self._entries) > self._capacity or self._bytes > self._max_bytes:
                self._bytes -= _size(self._entries.popleft())
        return entry

    def query(self, filters: Mapping[str, str]) -> list[dict]:
        """Entries matching every given filter, oldest first. With `since` (an entry id), the
        first `limit` after it (paging forward); without, the latest `limit`."""
        since = int(filters.get("since", 0) or 0)
        limit = int(filters.get("limit", 0) or 0)
        if since < 0 or limit < 0:
            raise ValueError("since and limit cannot be negative")
        with self._lock:
            entries = [entry for entry in self._entries if entry["id"] > since and _matches(entry, filters)]
        if limit:
            entries = entries[:limit] if "since" in filters else entries[-limit:]
        return [_decoded(entry) for entry in entries]

    def clear(self, namespace: tuple[str, str, str] | None = None) -> None:
        with self._lock:
            kept = (
                []
                if namespace is None
                else [entry for entry in self._entries if tuple(entry["namespace"].values()) != namespace]
            )
            self._entries = deque(kept)
            self._bytes = sum(_size(entry) for entry in kept)


def _capped(part: dict) -> dict:
    body = part.get("body")
    if body is None or len(body) <= BODY_CAP:
        return part
    head = body[:HEAD].decode("utf-8", "ignore") if isinstance(body, bytes) else body[:HEAD]
    marker = {"truncated": True, "characters": len(body), "head": head}
    return {**part, "body": json.dumps(marker, ensure_ascii=False)}


def _size(entry: dict) -> int:
    return ENTRY_COST + len(entry["request"]["body"] or "") + len(entry["response"]["body"] or "")


def _decoded(entry: dict) -> dict:
    request, response = entry["request"], entry["response"]
    return {
        **entry,
        "request": {**request, "body": _json(request["body"])},
        "response": {**response, "body": _json(response["body"])},
    }


def _json(text: str | None):
    return None if text is None else json.loads(text)


def _matches(entry: dict, filters: Mapping[str, str]) -> bool:
    for name in FILTERS:
        wanted = filters.get(name)
        if wanted is None:
            continue
        if name == "status" and str(entry["response"]["status"]) != wanted:
            return False
        if name in ("tenant", "environment", "company") and entry["namespace"][name] != wanted:
            return False
        if name == "rule" and wanted not in entry["faults"]:
            return False
        if name in ("operation", "orderId", "sellToOrderReference") and entry.get(name) != wanted:
            return False
    return True
