"""Instruments for the failure the toolkit studies: a blocked event loop and unanswered keepalive pings.

`LoopLagMonitor` wakes every few milliseconds and measures how late its timer fired; a late timer means
nothing ran on the loop meanwhile (a synchronous report on the loop stalls it for seconds, and the
server's pings go unanswered). `KeepaliveMonitor` pings the server itself and records each round trip.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

_STOP_TIMEOUT = 2.0


async def _stop_task(task: asyncio.Task[None] | None, name: str) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=_STOP_TIMEOUT)
    except asyncio.CancelledError:
        if not task.done():  # we were cancelled ourselves, not the monitor
            raise
    except TimeoutError:
        log.warning("%s did not stop within %.0f s", name, _STOP_TIMEOUT)


class _Monitor:
    """The life of a monitor's task: started on the running loop, stopped with a bounded wait; what it
    recorded stays readable afterwards."""

    _name = "monitor"
    _task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start on the running loop (call from a coroutine); a second call is a no-op."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Stop, waiting at most a couple of seconds for the task to end."""
        task, self._task = self._task, None
        await _stop_task(task, self._name)

    def cancel(self) -> None:
        """Stop without waiting, from a path that cannot await (the session's last-ditch shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def _run(self) -> None:
        raise NotImplementedError


class LoopLagMonitor(_Monitor):
    """Records every event-loop stall longer than `threshold` seconds: how late a `interval` timer fired.

    `on_stall(start, duration, cpu)` is called on the loop with the clock time the timer was due, how late
    it fired, and the CPU time the loop's thread used from the timer's previous firing to this one. The
    CPU time tells the two kinds of stall apart: a loop busy with work (cpu close to the interval plus
    the stall: something to move off the loop) and a loop that could not run (cpu near zero: a blocking
    call, another thread holding the GIL, or the machine giving the process no CPU). `stalls` keeps
    (start, duration) for them all; `longest_stall` is the worst (0.0 when none).
    """

    _name = "loop-lag-monitor"

    def __init__(
        self,
        on_stall: Callable[[float, float, float], None] | None,
        *,
        threshold: float = 0.05,
        interval: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        if threshold <= 0 or interval <= 0:
            raise ValueError("threshold and interval must be positive")
        self.on_stall = on_stall
        self._cpu_clock = cpu_clock
        self.threshold = threshold
        self.interval = interval
        self._clock = clock
        self.stalls: list[tuple[float, float]] = []
        self.longest_stall = 0.0
        self.lags_seen = 0

    def _record(self, start: float, duration: float, cpu: float) -> None:
        self.stalls.append((start, duration))
        self.longest_stall = max(self.longest_stall, duration)
        if self.on_stall is not None:
            try:
                self.on_stall(start, duration, cpu)
            except Exception:
                log.exception("on_stall handler raised")

    async def _run(self) -> None:
        cpu_before = self._cpu_clock()
        while True:
            due = self._clock() + self.interval
            await asyncio.sleep(self.interval)
            lag = self._clock() - due
            cpu_now = self._cpu_clock()
            self.lags_seen += 1
            if lag > self.threshold:
                self._record(due, lag, cpu_now - cpu_before)
            cpu_before = cpu_now


class KeepaliveMonitor(_Monitor):
    """Pings the server every `interval` seconds and reports each round trip (seconds, None on timeout).

    `ping` is e.g. a websockets connection's ``ws.ping``: calling and awaiting it sends the ping and gives
    back an awaitable that completes on the pong. A closed connection (or any error from `ping`) ends the
    monitor quietly; it never raises out of its task.
    """

    _name = "keepalive-monitor"

    def __init__(
        self,
        ping: Callable[[], Awaitable[Awaitable[Any]]],
        on_result: Callable[[float | None], None] | None,
        *,
        interval: float = 5.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        self.ping = ping
        self.on_result = on_result
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self.round_trips: list[float | None] = []
        self.ended_by: str | None = None  # why the monitor ended on its own ("closed: ...")

    async def round_trip(self) -> float | None:
        """One ping: seconds until its pong, or None when none came within `timeout`.

        Errors from `ping` (a closed connection) propagate to the caller.
        """
        sent = self._clock()
        waiter = await asyncio.wait_for(self.ping(), timeout=self.timeout)
        remaining = max(0.0, self.timeout - (self._clock() - sent))
        fut = asyncio.ensure_future(waiter)
        owned = fut is not waiter  # we wrapped a coroutine into a task: ours to cancel
        done, _ = await asyncio.wait({fut}, timeout=remaining)
        if not done:
            if owned:
                fut.cancel()
            return None
        fut.result()  # a pong waiter that failed (connection closed) raises here
        return self._clock() - sent

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    rtt = await self.round_trip()
                except TimeoutError:  # sending the ping itself did not complete in time
                    rtt = None
                self.round_trips.append(rtt)
                if self.on_result is not None:
                    try:
                        self.on_result(rtt)
                    except Exception:
                        log.exception("on_result handler raised")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ConnectionClosed and friends: the connection is gone, so are we
            self.ended_by = f"{type(exc).__name__}: {exc}"
            log.debug("keepalive monitor ended: %s", self.ended_by)
