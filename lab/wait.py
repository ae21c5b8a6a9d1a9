"""Bounded waits. Every wait in the lab goes through `until`, which names what it waited for."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

from lab.node import CommandError

T = TypeVar("T")
# What a probe of a VM raises while the thing it probes is not there yet.
TRANSIENT = (CommandError, ValueError, OSError, EOFError)


# How much of the last state seen a timeout's message shows.
MAX_SEEN = 2000


class WaitTimeout(TimeoutError):
    pass


def until(
    probe: Callable[[], T],
    what: str,
    *,
    timeout: float,
    interval: float = 2.0,
    retry_on: tuple[type[BaseException], ...] | None = None,
    accept: Callable[[T], bool] = bool,
) -> T:
    """Call `probe` until `accept(result)` holds; return that result.

    Exceptions in `retry_on` (by default a failed remote command, unparsable output, a dropped
    connection) count as "not yet". After `timeout` seconds raise `WaitTimeout` saying what was
    awaited and what the last attempt saw.
    """
    if retry_on is None:
        retry_on = TRANSIENT
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_exception_type(retry_on)
        | tenacity.retry_if_result(lambda result: not accept(result)),
        reraise=False,
    )
    try:
        return retrying(probe)
    except tenacity.RetryError as e:
        last = e.last_attempt
        seen = f"last error: {last.exception()!r}" if last.failed else f"last result: {last.result()!r}"
        if len(seen) > MAX_SEEN:
            seen = seen[:MAX_SEEN] + "…"
        raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what} ({seen})") from None
