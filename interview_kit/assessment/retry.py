"""Retrying a model call: how long a server asked us to wait, and one retry loop for sync and async callers.

The loop is written once, as a generator (`Attempts`) that never calls or sleeps itself: it yields
`None` to ask for one attempt (the driver sends the result back, or throws the attempt's exception in)
and a `Wait` to ask for a pause, and returns the final result. `drive_sync` carries those requests out
with blocking calls, `drive_async` with awaitable ones, so both paths share the same counting, the same
waits and the same give-up rule. (The sans-I/O style of the flow and the protocol, applied to retries.)
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

MAX_BACKOFF = 30.0  # seconds: the longest wait between two attempts, whatever Retry-After says


@dataclass(frozen=True)
class Wait:
    """The retry loop asks for a pause of `seconds` before its next attempt."""

    seconds: float


#: The retry loop: yields None (make one attempt) or a `Wait`; returns the result.
Attempts = Generator[Wait | None, Any, T]


def backoff_seconds(backoff: float, attempt: int) -> float:
    """Exponential backoff after failed attempt number `attempt` (from 0), capped at `MAX_BACKOFF`."""
    return min(MAX_BACKOFF, backoff * 2**attempt)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, or ``retry-after`` in seconds or as a date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def drive_sync(attempts: Attempts[T], call: Callable[[], Any], sleep: Callable[[float], None]) -> T:
    """Run the retry loop in this thread: blocking `call()` for each attempt, `sleep(s)` for each wait."""
    try:
        request = next(attempts)
        while True:
            if isinstance(request, Wait):
                sleep(request.seconds)
                request = attempts.send(None)
                continue
            try:
                result = call()
            except Exception as exc:  # the loop decides: try again, or give up with its own error
                request = attempts.throw(exc)
            else:
                request = attempts.send(result)
    except StopIteration as done:
        return done.value
    finally:
        attempts.close()


async def drive_async(attempts: Attempts[T], call: Callable[[], Awaitable[Any]],
                      sleep: Callable[[float], Awaitable[Any]]) -> T:
    """Run the retry loop on the event loop: ``await call()`` for each attempt, ``await sleep(s)`` for each
    wait. Cancellation is not an attempt's failure: it ends the loop at once."""
    try:
        request = next(attempts)
        while True:
            if isinstance(request, Wait):
                await sleep(request.seconds)
                request = attempts.send(None)
                continue
            try:
                result = await call()
            except Exception as exc:  # the loop decides: try again, or give up with its own error
                request = attempts.throw(exc)
            else:
                request = attempts.send(result)
    except StopIteration as done:
        return done.value
    finally:
        attempts.close()
