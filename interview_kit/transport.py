"""The one seam between an interview and the network: a `RealtimeTransport` carries text frames.

The session never touches a socket. It asks its transport to connect, send a frame, receive the next
one, measure a ping round trip and close; when the connection ends, `receive` raises
`TransportClosed` carrying who closed it, with which code and reason. Three transports:

- `WebsocketTransport`: the hosted API or any OpenAI-compatible server, over ``websockets``;
- `InMemoryTransport`: an in-process connection whose other end (`InMemoryPeer`) a test or the
  emulator drives, so session tests need no server, no port and, on a fast-forwarding loop, no waiting;
- ``interview_kit.replay.ReplayTransport``: a recorded session's server events played back.

This is the cut-off point that ``httpx``'s ``BaseTransport`` is for HTTP: one small interface, tests
inject a transport instead of starting a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from interview_kit.eventlog import strip_userinfo

log = logging.getLogger(__name__)

#: The close code a connection gets when it ended without a close frame.
ABNORMAL_CLOSURE = 1006


@dataclass(frozen=True)
class CloseInfo:
    """How a connection ended: its close code and reason, and who closed it."""

    code: int | None
    reason: str | None
    by: str  # client | server | unknown


class ConnectError(Exception):
    """The connection could not be opened; the message names the URL without credentials."""


class TransportClosed(Exception):
    """The connection has ended (raised by `receive` and `send` from then on)."""

    def __init__(self, info: CloseInfo) -> None:
        super().__init__(f"connection closed: {info.code} {info.reason or ''}".strip())
        self.info = info


@runtime_checkable
class RealtimeTransport(Protocol):
    """What a session needs of a connection to a Realtime server."""

    #: Where it connects, for the folder (no credentials).
    description: str

    async def connect(self) -> None:
        """Open the connection; raise `ConnectError` with a plain message when it cannot be opened."""

    async def send(self, text: str) -> None:
        """Send one text frame; raise `TransportClosed` once the connection has ended."""

    async def receive(self) -> str | bytes:
        """The next frame from the server; raise `TransportClosed` once the connection has ended."""

    async def ping(self) -> Awaitable[float]:
        """Send a ping; the returned awaitable completes with the round trip in seconds on its pong."""

    async def close(self, code: int = 1000, reason: str = "") -> CloseInfo:
        """Close from our side, bounded: a server that never answers the close is dropped."""

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""

    @property
    def close_info(self) -> CloseInfo | None:
        """How the connection ended, once it has."""

    def reopen(self) -> RealtimeTransport:
        """A fresh, unconnected transport to the same place (a reconnect opens a new connection: a
        transport is one connection and never connects twice)."""


# --- websockets -------------------------------------------------------------------------------------


class WebsocketTransport:
    """A Realtime websocket (the hosted API, the emulator, any compatible server) via ``websockets``.

    ``headers`` may carry the ``Authorization`` header; it is sent and never shown: errors and
    `description` name the URL without its ``user:password@``.
    """

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 ping_interval: float | None = 20.0, ping_timeout: float | None = 20.0,
                 close_timeout: float = 5.0, open_timeout: float = 10.0) -> None:
        self.url = url
        self.description = strip_userinfo(url)
        self._headers = dict(headers or {})
        self._ping_interval, self._ping_timeout = ping_interval, ping_timeout
        self._close_timeout, self._open_timeout = close_timeout, open_timeout
        self._ws: Any = None
        self._closing = False
        self._info: CloseInfo | None = None

    @property
    def close_info(self) -> CloseInfo | None:
        return self._info

    def reopen(self) -> WebsocketTransport:
        return WebsocketTransport(self.url, headers=self._headers, ping_interval=self._ping_interval,
                                  ping_timeout=self._ping_timeout, close_timeout=self._close_timeout,
                                  open_timeout=self._open_timeout)

    async def connect(self) -> None:
        from urllib.parse import unquote, urlsplit, urlunsplit

        import websockets  # here, not at import: the in-memory and replay paths never need it
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
        from websockets.headers import build_authorization_basic

        # One Authorization header. websockets turns a URL's user:password@ into a Basic header of its
        # own, next to ours: the URL connected to loses its credentials, the key's Bearer header wins,
        # and without one the credentials become the Basic header.
        url, headers = self.url, dict(self._headers)
        try:
            parts = urlsplit(url)
            user, password = parts.username, parts.password
        except ValueError:  # websockets says what is wrong with it
            user = password = None
        if user is not None and password is not None:
            url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
            if not any(name.lower() == "authorization" for name in headers):
                headers["Authorization"] = build_authorization_basic(unquote(user), unquote(password))
        try:
            self._ws = await websockets.connect(
                url, additional_headers=headers, ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout, close_timeout=self._close_timeout,
                open_timeout=self._open_timeout, max_size=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            message = f"could not connect to {self.description}: {type(exc).__name__}"
            if isinstance(exc, InvalidStatus) and status is not None:
                message += f" (HTTP {status})"
            elif str(exc):
                message += f": {strip_userinfo(str(exc))}"
            raise ConnectError(message) from None

    async def send(self, text: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise TransportClosed(self._closed_by(exc)) from None

    async def receive(self) -> str | bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise TransportClosed(self._closed_by(exc)) from None
        except Exception as exc:  # a transport error: the connection is gone all the same
            raise TransportClosed(self._note(ABNORMAL_CLOSURE, type(exc).__name__, "unknown")) from exc

    async def ping(self) -> Awaitable[float]:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self._ws.ping()
        except ConnectionClosed as exc:
            raise TransportClosed(self._closed_by(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> CloseInfo:
        """Close with `code` and `reason`; a client close keeps the reason we sent (servers echo none)."""
        self._closing = True
        if self._ws is None:
            return self._note(code, reason, "client")
        try:
            await asyncio.wait_for(self._ws.close(code, reason[:120]), self._close_timeout + 0.5)
        except (TimeoutError, OSError, Exception):
            self.abort()
        return self._note(self._ws.close_code or code, reason or self._ws.close_reason, "client")

    def abort(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.transport.abort()
        self._note(ABNORMAL_CLOSURE, "aborted", "client")

    def _closed_by(self, exc: Any) -> CloseInfo:
        rcvd, sent = exc.rcvd, exc.sent
        if self._closing and sent is not None:
            return self._note(sent.code, sent.reason, "client")
        if rcvd is not None and (sent is None or exc.rcvd_then_sent):
            return self._note(rcvd.code, rcvd.reason, "server")
        if sent is not None:
            return self._note(sent.code, sent.reason, "client")
        return self._note(ABNORMAL_CLOSURE, "connection lost without a close frame", "unknown")

    def _note(self, code: int | None, reason: str | None, by: str) -> CloseInfo:
        if self._info is None:
            self._info = CloseInfo(code, reason, by)
        return self._info


# --- in memory -------------------------------------------------------------------------------------

_CLOSED = object()  # the end-of-stream marker in an inbox


class InMemoryPeer:
    """The server's end of an `InMemoryTransport`: a test script or the emulator drives it.

    Frames are text; `send` accepts a dict (sent as JSON) for convenience. `answer_pings` False makes
    the client's pings go unanswered (a server that stopped reading); set back to True, the pings
    held meanwhile are answered then, as by a server that reads again (the emulator's ``stall``).

    `reading` False is a server that stopped reading its socket altogether: the client's frames pile
    up in the socket buffers (`SOCKET_BUFFER_BYTES`), then its sends block, and its pings, queued
    behind them, go unanswered, as over TCP. Set back to True, everything held is delivered.
    """

    #: What the two ends' socket buffers hold before a sender blocks (Linux: a few hundred KB).
    SOCKET_BUFFER_BYTES = 256 * 1024

    def __init__(self, transport: InMemoryTransport) -> None:
        self._transport = transport
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()  # client -> server frames
        self._answer_pings = True
        self._held_pongs: list[Callable[[], None]] = []  # pongs of the pings made while not answering
        self.connected = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()
        self._unread: list[str] = []  # frames sent while not reading, in order
        self._unread_bytes = 0

    @property
    def reading(self) -> bool:
        return self._reading.is_set()

    @reading.setter
    def reading(self, value: bool) -> None:
        if value:
            held, self._unread, self._unread_bytes = self._unread, [], 0
            for frame in held:
                self.inbox.put_nowait(frame)
            self._reading.set()
        else:
            self._reading.clear()
        self.answer_pings = value

    async def _accept(self, text: str) -> None:
        """A client frame: delivered, or, while not reading, buffered until the buffers are full and
        then waited on (the client's send blocks, as a socket's does)."""
        if self.reading:
            self.inbox.put_nowait(text)
            return
        self._unread.append(text)
        self._unread_bytes += len(text)
        while self._unread_bytes > self.SOCKET_BUFFER_BYTES and not self.reading and not self.closed:
            await self._wait_reading()

    async def _wait_reading(self) -> None:
        closed = asyncio.ensure_future(self._transport._closed.wait())
        reading = asyncio.ensure_future(self._reading.wait())
        try:
            await asyncio.wait({closed, reading}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            reading.cancel()

    @property
    def answer_pings(self) -> bool:
        return self._answer_pings

    @answer_pings.setter
    def answer_pings(self, value: bool) -> None:
        self._answer_pings = value
        if value:
            held, self._held_pongs = self._held_pongs, []
            for answer in held:
                answer()

    def _pong(self, answer: Callable[[], None]) -> None:
        """Answer a client's ping now, or hold it until pings are answered again."""
        if self._answer_pings:
            answer()
        else:
            self._held_pongs.append(answer)

    @property
    def closed(self) -> bool:
        return self._transport.close_info is not None

    @property
    def close_info(self) -> CloseInfo | None:
        return self._transport.close_info

    async def send(self, frame: str | bytes | Mapping[str, Any]) -> None:
        """Deliver one frame to the client."""
        if self.closed:
            raise TransportClosed(self._transport.close_info)  # type: ignore[arg-type]
        if isinstance(frame, Mapping):
            import json

            frame = json.dumps(frame)
        self._transport.inbox.put_nowait(frame)

    async def receive(self) -> str | bytes:
        """The client's next frame; `TransportClosed` once the client has closed."""
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)  # every later receive sees the end too
            raise TransportClosed(self._transport.close_info)  # type: ignore[arg-type]
        return item

    async def ping(self) -> float:
        """A server ping: answered as soon as the client's loop runs (so a blocked loop never answers)."""
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[float] = loop.create_future()
        start = loop.time()
        loop.call_soon(lambda: pong.done() or pong.set_result(loop.time() - start))
        return await pong

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from the server's side (the client sees `TransportClosed` by ``server``)."""
        self._transport._end(CloseInfo(code, reason, "server"))

    def abort(self) -> None:
        """Drop the connection without a close frame (the client sees 1006)."""
        self._transport._end(CloseInfo(ABNORMAL_CLOSURE, "connection lost without a close frame", "unknown"))


Serve = Callable[[InMemoryPeer], Awaitable[None]]


class InMemoryTransport:
    """An in-process connection. ``serve(peer)``, when given, runs as the server from `connect` on
    (for example the emulator's conversation); otherwise the test drives `peer` itself."""

    description = "in-memory"

    def __init__(self, serve: Serve | None = None, *, refuse: str | None = None) -> None:
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()  # server -> client frames
        self.peer = InMemoryPeer(self)
        self.sent: list[str] = []  # every frame the client sent, in order
        self._serve = serve
        self._refuse = refuse
        self._server: asyncio.Task[None] | None = None
        self._info: CloseInfo | None = None
        self._closed = asyncio.Event()

    @property
    def close_info(self) -> CloseInfo | None:
        return self._info

    def reopen(self) -> InMemoryTransport:
        """A new connection to the same server: the same `serve` (an emulator keeps what it keeps
        across connections, as a server does) on a fresh peer."""
        return InMemoryTransport(self._serve, refuse=self._refuse)

    async def connect(self) -> None:
        if self._refuse is not None:
            raise ConnectError(f"could not connect to in-memory: {self._refuse}")
        self.peer.connected.set()
        if self._serve is not None:
            self._server = asyncio.get_running_loop().create_task(self._run_server(self._serve))

    async def _run_server(self, serve: Serve) -> None:
        try:
            await serve(self.peer)
        except TransportClosed:
            pass
        except Exception:
            log.exception("the in-memory server failed")
            self._end(CloseInfo(1011, "in-memory server error", "server"))

    async def send(self, text: str) -> None:
        if self._info is not None:
            raise TransportClosed(self._info)
        self.sent.append(text)
        await self.peer._accept(text)
        if self._info is not None:  # it ended while the send was blocked
            raise TransportClosed(self._info)

    async def receive(self) -> str | bytes:
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)
            raise TransportClosed(self._info)  # type: ignore[arg-type]
        return item

    async def ping(self) -> Awaitable[float]:
        if self._info is not None:
            raise TransportClosed(self._info)
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[float] = loop.create_future()
        start = loop.time()
        self.peer._pong(lambda: loop.call_soon(lambda: pong.done() or pong.set_result(loop.time() - start)))
        return pong

    async def close(self, code: int = 1000, reason: str = "") -> CloseInfo:
        self._end(CloseInfo(code, reason, "client"))
        if self._server is not None and not self._server.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._server), 1.0)
            self._server.cancel()
        return self._info  # type: ignore[return-value]

    def abort(self) -> None:
        self._end(CloseInfo(ABNORMAL_CLOSURE, "aborted", "client"))
        if self._server is not None:
            self._server.cancel()

    def _end(self, info: CloseInfo) -> None:
        if self._info is not None:
            return
        self._info = info
        self._closed.set()
        self.inbox.put_nowait(_CLOSED)
        self.peer.inbox.put_nowait(_CLOSED)
