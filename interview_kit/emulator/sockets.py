"""What the emulator's conversation needs of a connection: text frames in and out, pings, close, abort.

`realtime.RealtimeConversation` talks to a `ServerSocket` only. Two adapters implement it:
`websocket.AiohttpSocket` (an aiohttp ``WebSocketResponse``: the emulator's ``/v1/realtime``) and
`inmemory.PeerSocket` (the server end of ``interview_kit.transport.InMemoryTransport``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol

FrameKind = Literal["text", "binary", "ping", "closed"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame from the client. ``ping`` is a client ping to answer with `ServerSocket.pong`
    (`data` its payload); ``closed`` ends the stream (`data` says why, for the log)."""

    kind: FrameKind
    data: str | bytes = ""


class ServerSocket(Protocol):
    """The server's end of one realtime connection.

    Every method is called from the conversation's event loop. Sending on a connection that is gone
    raises `ConnectionError`; `receive` never raises for a closed connection, it returns a
    ``closed`` frame (and keeps returning one).
    """

    async def receive(self) -> Frame:
        """The client's next frame. Pongs are consumed here: they complete the futures `ping` returned."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one text frame; `ConnectionError` when the connection is gone."""
        ...

    async def ping(self) -> asyncio.Future[None]:
        """Send a ping; the future completes when its pong has been received. `ConnectionError`
        when the connection is gone."""
        ...

    async def pong(self, data: str | bytes) -> None:
        """Answer a client's ping (a ``ping`` frame); a connection already gone is not an error."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame (`code`, `reason`) and wait, bounded, for the client's reply."""
        ...

    def abort(self) -> None:
        """Drop the connection at once with no close frame (the client sees 1006)."""
        ...

    def pause(self, paused: bool) -> None:
        """The server stops (True) or resumes (False) reading, as during a ``stall`` fault. A socket
        whose transport answers the client's pings by itself holds its pongs meanwhile."""
        ...

    def stop_reading(self) -> None:
        """The server stops reading the connection for good (a ``stop_reading`` fault): the client's
        frames pile up in the socket buffers until its sends block, and its pings go unanswered.
        Only the connection's end (an abort) is still noticed."""
        ...
