"""The request journal: every partner API call, what it was answered, which fault rules
fired, the state transitions it caused, and for a rejection the rule that refused it.

Request and response bodies are kept as JSON text and decoded when read: as decoded trees,
ten thousand orders' worth of small objects would be walked by every full garbage collection.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from typing import Mapping

CAPACITY = 10000  # the most recent entries kept
FILTERS = ("operation", "status", "orderId", "tenant", "environment", "company", "rule", "sellToOrderReference")


class RequestJournal:
    def __init__(self, capacity: int = CAPACITY):
        self._lock = threading.Lock()
        self._entries: deque = deque(maxlen=capacity)
        self._next_id = 1

    def record(self, entry: dict) -> dict:
        with self._lock:
            entry = {"id": self._next_id, **entry}
            self._next_id += 1
            self._entries.append(entry)
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
            if namespace is None:
                self._entries.clear()
            else:
                kept = [entry for entry in self._entries if tuple(entry["namespace"].values()) != namespace]
                self._entries = deque(kept, maxlen=self._entries.maxlen)


def _decoded(entry: dict) -> dict:
    request, response = entry["request"], entry["response"]
    return {**entry, "request": {**request, "body": _json(request["body"])},
            "response": {**response, "body": _json(response["body"])}}


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
