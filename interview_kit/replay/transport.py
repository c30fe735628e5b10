"""The recorded server, played back: `ReplayTransport`, a `RealtimeTransport` for any session or test.

It delivers the recorded server frames at their recorded times (audio deltas, logged without their
audio, come back as silence of the logged length), answers pings as the recording did (the recorded
round trip, or no pong where the recording shows a ping timeout), closes with the recorded code and
reason at the recorded moment when the session *heard* the close (the server's, or the transport's own
keepalive timeout), and otherwise waits for the replayed session to close it itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from interview_kit.records import Rec
from interview_kit.replay.recording import Recording
from interview_kit.transport import ABNORMAL_CLOSURE, CloseInfo, ConnectError, TransportClosed

log = logging.getLogger(__name__)

#: Loop seconds a server frame waits for a request the recording had sent before reading it.
CAUSAL_WAIT = 1.0

_CLOSED = object()  # the end-of-stream marker in the inbox


def _event_type(frame: str) -> str | None:
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return event.get("type") if isinstance(event, dict) else None


def _answer_pong(pong: asyncio.Future[float], start: float) -> None:
    if not pong.done():
        pong.set_result(asyncio.get_running_loop().time() - start)


class ReplayTransport:
    """A `RealtimeTransport` that plays a recording's server side back.

    Frames are delivered at ``origin + t`` on the loop's clock, ``origin`` being the session's t = 0
    (`start_clock`; by default the connection opens at once and the recording's times count from it).
    `sent` holds ``(session time, frame)`` of everything the client sent.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.description = f"replay:{recording.folder.name}"
        self.sent: list[tuple[float, str]] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.delivered = 0  # server frames handed over so far
        self._origin: float | None = None
        self._info: CloseInfo | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._pings = 0
        self._unanswered: list[asyncio.Future[float]] = []
        self._requests = 0  # requests sent (client events but input audio)
        self._missing = 0  # recorded requests the replay did not send (found by waiting for them)
        self._request_sent = asyncio.Event()

    def start_clock(self, origin: float) -> None:
        """The session's t = 0, on the loop's clock (call before `connect`)."""
        self._origin = origin

    def now(self) -> float:
        """Session time on this transport's clock."""
        return asyncio.get_running_loop().time() - (self._origin or 0.0)

    @property
    def close_info(self) -> CloseInfo | None:
        return self._info

    def reopen(self) -> ReplayTransport:
        """The recording's next connection (a session that reconnected recorded several), on the same
        clock: it opens when the recorded one did, not sooner."""
        following = ReplayTransport(self.recording.next_connection())
        if self._origin is not None:
            following.start_clock(self._origin)
        return following

    async def connect(self) -> None:
        error = self.recording.connect_error
        if error is not None:
            raise ConnectError(error)
        loop = asyncio.get_running_loop()
        if self._origin is None:
            self._origin = loop.time() - self.recording.opened_t
        else:  # the connection takes as long to open as it did
            await self._until(self._origin + self.recording.opened_t)
        self._feeder = loop.create_task(self._feed(), name="replay-server")

    @staticmethod
    async def _until(when: float) -> None:
        """Sleep until `when` on the loop's clock (not at all if it has passed)."""
        delay = when - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _feed(self) -> None:
        assert self._origin is not None
        due = float("-inf")
        for item in self.recording.server_items:
            due = max(due, self._origin + item.t)  # in the recorded order, whatever the stall shifts
            await self._until(due)
            await self._after_requests(item.after)
            if self._info is not None:
                return
            self.inbox.put_nowait(item.frame)
            self.delivered += 1
        close = self.recording.close
        if close is not None and close.heard:
            await self._until(max(due, self._origin + close.t))
            await self._after_requests(close.after)
            log.debug("replay: the recorded close %s %s (%s)", close.info.code, close.info.reason,
                      close.info.by)
            self._end(close.info)
        # otherwise the session closed the recorded connection itself: wait for the replayed one to

    async def _after_requests(self, n: int) -> None:
        """Cause before effect: a frame the recording read after the client's n-th request is not
        delivered before the replayed client has sent as many (it may answer one of them: an
        ``error`` rejecting it, the ``response.created`` it asked for). A request the replay never
        sends is waited for `CAUSAL_WAIT` at most, once; the replay has diverged by then."""
        if self._requests >= n - self._missing:
            return
        try:
            async with asyncio.timeout(CAUSAL_WAIT):
                while self._requests < n - self._missing and self._info is None:
                    self._request_sent.clear()
                    await self._request_sent.wait()
        except TimeoutError:
            self._missing = n - self._requests
            log.debug("replay: %d recorded request(s) not sent by the replay", self._missing)

    async def send(self, text: str) -> None:
        if self._info is not None:
            raise TransportClosed(self._info)
        self.sent.append((round(self.now(), 6), text))
        if _event_type(text) != Rec.INPUT_APPEND:
            self._requests += 1
            self._request_sent.set()

    async def receive(self) -> str | bytes:
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)  # for the next reader too
            assert self._info is not None
            raise TransportClosed(self._info)
        return item

    async def ping(self) -> asyncio.Future[float]:
        """The n-th ping is answered as the recording's n-th was: after its round trip, or never (a
        recorded timeout). Pings beyond the recording are answered like its last one."""
        if self._info is not None:
            raise TransportClosed(self._info)
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[float] = loop.create_future()
        recorded = self.recording.pings
        rtt = recorded[min(self._pings, len(recorded) - 1)] if recorded else 0.0
        self._pings += 1
        if rtt is None:
            self._unanswered.append(pong)
        else:
            loop.call_later(rtt, _answer_pong, pong, loop.time())
        return pong

    async def close(self, code: int = 1000, reason: str = "") -> CloseInfo:
        self._end(CloseInfo(code, reason, "client"))
        assert self._info is not None
        return self._info

    def abort(self) -> None:
        self._end(CloseInfo(ABNORMAL_CLOSURE, "aborted", "client"))

    def _end(self, info: CloseInfo) -> None:
        if self._info is not None:
            return
        self._info = info
        self.inbox.put_nowait(_CLOSED)
        for pong in self._unanswered:
            if not pong.done():
                pong.set_exception(TransportClosed(info))
                pong.exception()  # retrieved: whoever still waits on it gets it, nobody is warned
        self._unanswered.clear()
        feeder = self._feeder
        if feeder is not None and not feeder.done() and feeder is not asyncio.current_task():
            feeder.cancel()
