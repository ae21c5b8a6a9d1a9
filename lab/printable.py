"""Text from files the lab did not write (a supplied script, an image's tags, the cache's index), made
safe to print: control characters escaped, so an ESC in a tag cannot drive the terminal."""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str, limit: int | None = None) -> str:
    """`text` with control characters written as escapes (\\x1b, \\n), cut to `limit` characters."""
    shown = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if limit is not None and len(shown) > limit:
        return shown[:limit] + f"... ({len(text)} characters)"
    return shown
