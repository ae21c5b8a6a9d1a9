"""How far a cached artifact can be trusted, for machines: what the index, the lab's state and
claims.json record next to the words of `verified`."""
from __future__ import annotations

from collections.abc import Iterable

VERIFIED = "verified"                           # a pin, a signature or Debian's archive vouches for it
FIRST_USE = "first-use"                         # nothing to check it against: its sha256 recorded at download
OPERATOR_UNPINNED = "operator-unpinned"         # fetch --from --accept-unpinned, nothing pins it
OPERATOR_DIFFERS = "operator-differs-from-pin"  # fetch --from --accept-unpinned, and it is not what is pinned
OPERATOR = (OPERATOR_UNPINNED, OPERATOR_DIFFERS)
# In words, weakest last.
LABELS = {
    VERIFIED: "verified",
    FIRST_USE: "trust on first use",
    OPERATOR_UNPINNED: "supplied by the operator, unpinned",
    OPERATOR_DIFFERS: "supplied by the operator, differs from the pin in lab/versions.yaml",
}


def weakest(levels: Iterable[str]) -> str:
    """The least trusted of several files' levels ("" where none is known)."""
    recognised = [level for level in levels if level in LABELS]
    return max(recognised, key=list(LABELS).index, default="")


def caveat(level: str) -> str:
    """What a report adds to a component's status: nothing when it is verified or not known."""
    return f"{LABELS[level]} ({level})" if level in LABELS and level != VERIFIED else ""
