"""The `ServerSocket` of an aiohttp ``WebSocketResponse``: the emulator's ``/v1/realtime`` on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from aiohttp import WSMessage, WSMsgType, web

from interview_kit.emulator.sockets import Frame

log = logging.getLogger(__name__)


class AiohttpSocket:
    """A prepared aiohttp websocket (``autoping=False``: the conversation answers pings itself, so
    that a stalled server answers none) and its request (for `abort`)."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self._ws = ws
        self._request = request
        self._receiving: asyncio.Task[WSMessage] | None = None
        self._pongs: list[asyncio.Future[None]] = []
        self._closing = False

    async def receive(self) -> Frame:
        while True:
            if self._closing:
                return Frame("closed", "closed by the server")
            # ws.receive() runs as a task of its own so that `close` can stop it (see there)
            task = asyncio.ensure_future(self._ws.receive())
            self._receiving = task
            try:
                msg = await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if task.cancelled() and not (current is not None and current.cancelling()):
                    return Frame("closed", "closed by the server")  # `close` stopped this read
                raise
            finally:
                self._receiving = None
            if msg.type is WSMsgType.TEXT:
                return Frame("text", msg.data)
            if msg.type is WSMsgType.BINARY:
                return Frame("binary", msg.data)
            if msg.type is WSMsgType.PING:
                return Frame("ping", msg.data)
            if msg.type is WSMsgType.PONG:
                pongs, self._pongs = self._pongs, []
                for pong in pongs:
                    if not pong.done():
                        pong.set_result(None)
                continue
            # CLOSE, CLOSING, CLOSED, ERROR
            if msg.type is WSMsgType.ERROR:
                log.info("websocket error: %s", msg.data)
            return Frame("closed", f"{msg.type.name} {msg.data if msg.data is not None else ''}".strip())

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            raise ConnectionError(str(exc)) from exc

    async def ping(self) -> asyncio.Future[None]:
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(pong)
        try:
            await self._ws.ping(os.urandom(4))
        except Exception as exc:
            raise ConnectionError(str(exc)) from exc
        return pong

    async def pong(self, data: str | bytes) -> None:
        with contextlib.suppress(Exception):
            await self._ws.pong(data.encode() if isinstance(data, str) else data)

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame and wait (aiohttp's `timeout`, 10 s) for the client's reply.

        The wait matters: dropping the socket while the client's frames are still unread makes the
        kernel reset the connection, and a client whose loop was blocked then loses the close frame
        and sees 1006 instead of the 1011 the hosted API sends. aiohttp's close() while another task
        waits in receive() closes the socket at once, unread frames and all; so the pending read is
        stopped first and close() itself reads until the reply.
        """
        self._closing = True
        receiving = self._receiving
        if receiving is not None and not receiving.done():
            receiving.cancel()
            await asyncio.wait([receiving], timeout=1.0)
        with contextlib.suppress(Exception):
            await self._ws.close(code=code, message=reason.encode("utf-8"))

    def abort(self) -> None:
        self._closing = True
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def pause(self, paused: bool) -> None:
        """Nothing to do: a paused conversation does not call `receive`, so pings wait unread."""

    def stop_reading(self) -> None:
        """Stop reading the TCP connection itself, so that the kernel's buffers fill and the client's
        writes (and its pings, behind them) really block, as with a server that stopped reading."""
        transport = self._request.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
