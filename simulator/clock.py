"""The simulator's "now": real UTC time, or a virtual clock that can be set, frozen and advanced."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # far from datetime's own limits


class Clock:
    def __init__(self):
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen_at: datetime | None = None

    def now(self) -> datetime:
        """The current simulated UTC time, to the second (the API shows no fractions)."""
        with self._lock:
            moment = self._frozen_at or (_real_now() + self._offset)
        return moment.replace(microsecond=0)

    def today(self) -> date:
        return self.now().date()

    def set(self, moment: datetime, frozen: bool = False) -> None:
        """Jump to `moment`; frozen, the clock then stays there until advanced."""
        _check(moment)
        with self._lock:
            self._offset = moment - _real_now()
            self._frozen_at = moment if frozen else None

    def freeze(self, frozen: bool = True) -> None:
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = _real_now() + self._offset
            elif not frozen and self._frozen_at is not None:
                self._offset = self._frozen_at - _real_now()
                self._frozen_at = None

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            try:
                _check((self._frozen_at or _real_now() + self._offset) + delta)
            except OverflowError:
                raise ValueError("the clock cannot go that far") from None
            self._offset += delta
            if self._frozen_at is not None:
                self._frozen_at += delta

    def reset(self) -> None:
        """Back to real time."""
        with self._lock:
            self._offset = timedelta(0)
            self._frozen_at = None

    def describe(self) -> dict:
        with self._lock:
            frozen = self._frozen_at is not None
            virtual = frozen or self._offset != timedelta(0)
        return {"now": format_datetime(self.now()), "frozen": frozen, "virtual": virtual}


def _check(moment: datetime) -> None:
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"the clock stays between {EARLIEST.year} and {LATEST.year}")


def _real_now() -> datetime:
    return datetime.now(UTC)


def format_datetime(moment: datetime | None) -> str:
    """Format a UTC datetime as the API does (`2026-05-15T09:30:00Z`); empty is ``""``."""
    if moment is None:
        return ""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    return f"{day}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"


def parse_datetime(text: str) -> datetime:
    """Read an ISO 8601 datetime; no zone means UTC. Raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
