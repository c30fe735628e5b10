"""The session's two sides of one connection: a writer that drains a queue, a reader that dispatches.

Sends never block their caller: events go into a queue that one writer task drains in order, so a
slow or stalled server can never hold up a handler. A frame the transport cannot send within
`send_timeout` (a server that stopped reading: the socket buffer is full) means the connection is
dead: it is dropped here, and the session hears it as any other close. The reader hands each frame
to the session's synchronous dispatch. When the connection ends, however it ends, `on_closed` hears
once how.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from interview_kit.transport import ABNORMAL_CLOSURE, CloseInfo, RealtimeTransport, TransportClosed

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Connection:
    """A started transport with its writer queue. ``on_sent(event, extra)`` hears each event after it
    went out (`extra` is the sender's annotation for the log, never sent)."""

    def __init__(
        self,
        transport: RealtimeTransport,
        *,
        on_frame: Callable[[str | bytes], None],
        on_sent: Callable[[Event, dict[str, Any] | None], None],
        on_closed: Callable[[CloseInfo], None],
        send_timeout: float | None = None,
    ) -> None:
        self.transport = transport
        self._on_frame, self._on_sent, self._on_closed = on_frame, on_sent, on_closed
        self._send_timeout = send_timeout
        self._outbox: asyncio.Queue[tuple[Event, dict[str, Any] | None]] = asyncio.Queue()
        self.info: CloseInfo | None = None

    def send(self, event: Event, extra: dict[str, Any] | None = None) -> None:
        """Queue a client event for the writer."""
        self._outbox.put_nowait((event, extra))

    async def read(self) -> None:
        """Dispatch frames until the connection ends; then report how it ended."""
        try:
            while True:
                self._on_frame(await self.transport.receive())
        except TransportClosed as exc:
            self.closed(exc.info)
        except Exception as exc:  # a transport bug: the connection is gone all the same
            log.warning("receiving failed: %s: %s", type(exc).__name__, exc)
            self.closed(CloseInfo(ABNORMAL_CLOSURE, type(exc).__name__, "unknown"))

    async def write(self) -> None:
        """Send queued events in order until the connection ends."""
        while True:
            event, extra = await self._outbox.get()
            try:
                async with asyncio.timeout(self._send_timeout):  # (no extra task: sends stay in order)
                    await self.transport.send(json.dumps(event))
            except TransportClosed:
                return
            except TimeoutError:
                log.warning("a frame could not be sent within %g s: the connection is dead",
                            self._send_timeout)
                self.abort(f"send timed out after {self._send_timeout:g} s")
                return
            self._on_sent(event, extra)

    async def close(self, code: int, reason: str) -> None:
        """Close from our side (bounded by the transport)."""
        self.closed(await self.transport.close(code, reason))

    def abort(self, reason: str, code: int = ABNORMAL_CLOSURE) -> None:
        """Drop the connection now (no closing handshake: the other end may not be listening)."""
        self.transport.abort()
        self.closed(CloseInfo(code, reason, "client"))

    @property
    def open(self) -> bool:
        return self.info is None

    def closed(self, info: CloseInfo | None) -> None:
        """Note the end once (the first account of it wins)."""
        if self.info is None:
            self.info = info or CloseInfo(ABNORMAL_CLOSURE, "connection lost", "unknown")
            self._on_closed(self.info)
