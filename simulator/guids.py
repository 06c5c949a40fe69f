"""GUIDs as Business Central reads and writes them."""

import re

NULL_GUID = "00000000-0000-0000-0000-000000000000"
GUID = re.compile(r"\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?")


def parse_guid(text: str) -> str | None:
    """Return the lowercase form of a GUID written plain or in braces, else None."""
    match = GUID.fullmatch(text)
    if match is None or text.startswith("{") != text.endswith("}"):
        return None
    return match.group(1).lower()


def braced(guid: str) -> str:
    """Format a GUID the way AL's Format() does inside messages: `{9C6B2F4E-...}`."""
    return "{" + guid.upper() + "}"
