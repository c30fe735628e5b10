"""A fast-forwarding event loop: its clock jumps to the next timer whenever nothing is ready to run.

`VirtualClockLoop` is an ordinary selector event loop whose `time()` is a virtual clock. Callbacks,
I/O and timers run exactly as on any loop; only the waiting is skipped: when nothing is ready and no
I/O has arrived, the clock jumps straight to the next timer instead of sleeping until it. A recorded
60 s interview replays in well under a second, and every time the session reads (``loop.time()``,
``clock.loop_time``) is loop time, so every timeout, pacing and measurement stays what it was.

Two things need care, because they happen outside the loop:

- Work in other threads. While a thread is about to hand a result back (``call_soon_threadsafe``), the
  loop must not race ahead: `hold()` stops the clock until its `Hold` is released (the loop then waits
  in real time for I/O or the hand-off, and the clock stands still). ``run_in_executor`` (and so
  ``asyncio.to_thread``) holds the clock until its job is done, automatically.
- A synchronous call that takes time. On a real loop it stalls everything: that is the bug the toolkit
  studies. `advance(seconds)` is that stall in loop time: the clock moves on while nothing runs, and
  every timer due meanwhile fires late, as it would have.

Why not ``looptime``: its loop freezes the clock during synchronous code (so a blocking report would
take no time at all, unless one wrote its private counter), and it waits for other threads only in
real-time steps of up to one timer interval (so a hand-off can land a timer later or not, from run to
run). A replay must take the same steps every time; this loop makes both explicit.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Longest real wait, in seconds, of one loop iteration while the clock is held.
HOLD_POLL = 0.05


def _nothing() -> None:
    pass


class Hold:
    """The clock stands still until `release()` (idempotent, callable from any thread)."""

    def __init__(self, loop: VirtualClockLoop, key: int) -> None:
        self._loop, self._key = loop, key

    def release(self) -> None:
        self._loop._release(self._key)

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """A selector event loop on a virtual clock that starts at `start` and jumps to the next timer
    whenever the loop would otherwise sleep. Use it as ``asyncio.Runner(loop_factory=VirtualClockLoop)``
    or `run_virtual(coro)`.

    `max_hold` bounds (in real seconds) how long one `hold()` may stop the clock; a hold left longer
    (a thread that never reported back) is dropped with a warning, so the loop cannot hang on it.
    """

    def __init__(self, selector: Any = None, *, start: float = 0.0, max_hold: float = 10.0) -> None:
        super().__init__(selector)
        self._virtual_now = float(start)
        self._max_hold = max_hold
        self._holds: dict[int, tuple[float, str]] = {}  # key -> (real deadline, why)
        self._hold_keys = itertools.count(1)
        self._real_select = self._selector.select
        self._selector.select = self._select  # type: ignore[method-assign]

    # --- the clock ----------------------------------------------------------------------------------

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """A synchronous stall of `seconds` of loop time: call it on the loop, from a callback or a
        coroutine step. Nothing else runs meanwhile; timers due in between fire late, afterwards."""
        if seconds > 0:
            self._virtual_now += seconds

    def hold(self, why: str = "", *, max_wall: float | None = None) -> Hold:
        """Stop the clock (it resumes when every hold is released). `max_wall` real seconds at most
        (default: the loop's `max_hold`; 0 or less: no limit)."""
        limit = self._max_hold if max_wall is None else max_wall
        key = next(self._hold_keys)
        self._holds[key] = (time.monotonic() + limit if limit > 0 else float("inf"), why)
        return Hold(self, key)

    def _release(self, key: int) -> None:
        if self._holds.pop(key, None) is not None and not self.is_closed():
            self.call_soon_threadsafe(_nothing)  # wake the loop out of its real wait (from any thread)

    # --- other threads ------------------------------------------------------------------------------

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        future = super().run_in_executor(executor, func, *args)
        hold = self.hold(f"executor {getattr(func, '__name__', func)!s}", max_wall=0)
        future.add_done_callback(lambda _f: hold.release())
        return future

    # --- the jump -----------------------------------------------------------------------------------

    def _select(self, timeout: float | None) -> list[Any]:
        """The selector's ``select``: poll; if nothing is ready, wait (held) or jump to the next timer."""
        ready = self._real_select(0)
        if ready or timeout == 0:
            return ready
        if self._holds and self._held_wait():
            return self._real_select(HOLD_POLL)  # the clock stands still meanwhile
        if timeout is None:  # no timer at all: only another thread (or I/O) can wake the loop
            return self._real_select(None)
        self._virtual_now += timeout
        return []

    def _held_wait(self) -> bool:
        """True while a hold is in force (expired ones are dropped, with a warning)."""
        now = time.monotonic()
        for key, (deadline, why) in list(self._holds.items()):
            if now >= deadline:
                self._holds.pop(key, None)
                log.warning("virtual clock: a hold (%s) was not released in time; the clock runs on", why)
        return bool(self._holds)


def run_virtual(coro: Any, *, start: float = 0.0, debug: bool | None = None) -> Any:
    """``asyncio.run(coro)`` on a `VirtualClockLoop`."""
    with asyncio.Runner(debug=debug, loop_factory=lambda: VirtualClockLoop(start=start)) as runner:
        return runner.run(coro)
