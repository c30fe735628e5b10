"""One clock for the whole session: the event loop's.

Every time the session writes (event lines, playback moments, report durations, stalls, pings) is read
from the running event loop's clock. In production that is ``time.monotonic`` (asyncio's loops read
it), so nothing changes for a live interview; in the tests a fast-forwarding loop (``looptime``) makes
a real-time interview pass in a fraction of a second without a single timing assumption changing.
Called off the loop (a sound-card callback thread), it reads ``time.monotonic`` directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop running in this thread, or None (a thread without one, e.g. ipykernel's comm threads)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def call_on(loop: asyncio.AbstractEventLoop | None, func: Callable[..., Any], *args: Any) -> None:
    """`func(*args)` on `loop`, whichever thread calls: handed over when `loop` runs in another thread
    (ipykernel 7 calls widget callbacks on a subshell's thread, with a loop of its own), directly when it
    is this thread's, or when there is no running loop to hand it to."""
    if loop is not None and loop is not running_loop() and loop.is_running():
        loop.call_soon_threadsafe(func, *args)
        return
    func(*args)


def loop_time() -> float:
    """Seconds on the running loop's clock (``time.monotonic`` when no loop runs in this thread)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()

