"""What sits in front of Business Central: API keys, tenant/environment/company lookup,
and the rate limits of api-facts 2.8 (off unless a scenario switches them on)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from simulator.clock import Clock
from simulator.errors import Forbidden, NamespaceNotFound, TooManyRequests, Unauthorized, Unavailable

PERMISSION_SET = "NPR API Channel Mgr"


@dataclass
class Access:
    """Which keys and namespaces exist; empty means any."""

    keys: dict[str, bool] = field(default_factory=dict)  # key -> holds the Channel Manager permission
    tenants: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)

    def check_key(self, key: str) -> None:
        if not key.strip():
            raise Unauthorized("Missing API key: send your NaviPartner API key in the x-np-api-key header")
        if self.keys and key not in self.keys:
            raise Unauthorized("Invalid API key")

    def check(self, key: str, namespace: tuple[str, str, str]) -> None:
        """Raise the gateway's or Business Central's answer to a call it would not serve."""
        self.check_key(key)
        tenant, environment, company = namespace
        for level, name, known in (
            ("tenant", tenant, self.tenants),
            ("environment", environment, self.environments),
            ("company", company, self.companies),
        ):
            if known and name not in known:
                raise NamespaceNotFound(level, name)
        if self.keys and not self.keys[key]:
            raise Forbidden(f"Missing permissions: {PERMISSION_SET}")


class Limits:
    """At most `max_concurrent` calls at once; up to `max_queued` more wait (429 past that),
    each at most `queue_timeout_seconds` (then 503); at most `requests_per_window` calls per
    sliding window of the simulator's clock (429)."""

    def __init__(
        self,
        clock: Clock,
        max_concurrent: int,
        max_queued: int,
        queue_timeout_seconds: float,
        requests_per_window: int,
        window_seconds: float,
    ):
        self.clock = clock
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.queue_timeout = queue_timeout_seconds
        self.requests_per_window = requests_per_window
        self.window_seconds = window_seconds
        self._condition = threading.Condition()
        self._active = 0
        self._queued = 0
        self._recent: deque = deque()

    def enter(self) -> None:
        with self._condition:
            self._admit_in_window()
            if self._active >= self.max_concurrent:
                if self._queued >= self.max_queued:
                    raise TooManyRequests(
                        f"Too many requests: {self.max_concurrent} are processing and {self.max_queued} are queued"
                    )
                self._queued += 1
                try:
                    if not self._condition.wait_for(lambda: self._active < self.max_concurrent, self.queue_timeout):
                        raise Unavailable(
                            f"The request waited more than {self.queue_timeout:g} seconds in the queue and timed out"
                        )
                finally:
                    self._queued -= 1
            self._active += 1

    def leave(self) -> None:
        with self._condition:
            self._active -= 1
            self._condition.notify()

    def _admit_in_window(self) -> None:
        now = self.clock.now().timestamp()
        if self._recent and self._recent[-1] > now:
            self._recent.clear()  # the clock was set back: the calls it counted are in its future
        while self._recent and self._recent[0] <= now - self.window_seconds:
            self._recent.popleft()
        if len(self._recent) >= self.requests_per_window:
            raise TooManyRequests(
                f"Rate limit exceeded: {self.requests_per_window} requests per {self.window_seconds:g} seconds"
            )
        self._recent.append(now)
