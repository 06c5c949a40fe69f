"""The simulator's notion of "now" (real UTC time; later settable)."""
from datetime import date, datetime, timezone


class Clock:
    def now(self) -> datetime:
        """Return the current UTC time, to the second (the API shows no fractions)."""
        return datetime.now(timezone.utc).replace(microsecond=0)

    def today(self) -> date:
        return self.now().date()


def format_datetime(moment: datetime | None) -> str:
    """Format a UTC datetime as the API does (`2026-05-15T09:30:00Z`); empty is ``""``."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
