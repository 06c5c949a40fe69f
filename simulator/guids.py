"""GUIDs as Business Central reads and writes them."""
import uuid

def parse_guid(text: str) -> str | None:
    """Return the lowercase form of a GUID written plain or in braces, else None."""
    candidate = text[1:-1] if text.startswith("{") and text.endswith("}") else text
    if len(candidate) != 36:
        return None
    try:
        return str(uuid.UUID(candidate))
    except ValueError:
        return None

def braced(guid: str) -> str:
    """Format a GUID the way AL's Format() does inside messages: `{9C6B2F4E-...}`."""
    return "{" + guid.upper() + "}"
