"""The emulator's conversation over ``interview_kit.transport.InMemoryTransport``: no socket, no port.

```python
from interview_kit.emulator import serve_in_memory
from interview_kit.scenario import load_scenario
from interview_kit.transport import InMemoryTransport

transport = InMemoryTransport(serve=serve_in_memory(load_scenario("default")))
await transport.connect()            # the conversation starts in this loop: session.created comes first
```

The conversation is the same `RealtimeConversation` the websocket endpoint runs (events, script, VAD,
faults, keepalive); only its socket differs. Everything it times is on the loop's clock, so on a
fast-forwarding loop (the ``looptime`` pytest plugin) a real-time interview takes little wall time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from interview_kit.emulator.faults import FaultCounts
from interview_kit.emulator.realtime import DEFAULT_MODEL, RealtimeConversation, ScenarioLike, as_scenario
from interview_kit.emulator.sockets import Frame
from interview_kit.scenario import Scenario
from interview_kit.transport import CloseInfo, TransportClosed

log = logging.getLogger(__name__)


class Peer(Protocol):
    """What `PeerSocket` uses of ``interview_kit.transport.InMemoryPeer`` (which satisfies it)."""

    answer_pings: bool
    reading: bool

    @property
    def closed(self) -> bool: ...

    async def send(self, frame: str) -> None: ...

    async def receive(self) -> str | bytes: ...

    async def ping(self) -> float: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def abort(self) -> None: ...


class PeerSocket:
    """A `sockets.ServerSocket` over the server end of an in-memory connection.

    The client's pings are answered by the transport itself (`InMemoryPeer.answer_pings`), so no
    ``ping`` frame ever arrives here; `pause` holds those pongs during a stall. A close needs no
    handshake: the client learns code and reason at once (`TransportClosed` by ``server``), and an
    abort shows as 1006.
    """

    def __init__(self, peer: Peer) -> None:
        self._peer = peer
        self._pings: set[asyncio.Task[float]] = set()
        self.close_info: CloseInfo | None = None  # how the client ended it, when it did

    async def receive(self) -> Frame:
        try:
            data = await self._peer.receive()
        except TransportClosed as exc:
            self.close_info = exc.info
            self._end()
            return Frame("closed", str(exc))
        if isinstance(data, str):
            return Frame("text", data)
        return Frame("binary", data)

    async def send_text(self, text: str) -> None:
        try:
            await self._peer.send(text)
        except TransportClosed as exc:
            raise ConnectionError(str(exc)) from None

    async def ping(self) -> asyncio.Future[None]:
        if self._peer.closed:
            raise ConnectionError("the in-memory connection has ended")
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[None] = loop.create_future()
        task = loop.create_task(self._peer.ping())
        self._pings.add(task)

        def answered(task: asyncio.Task[float]) -> None:
            self._pings.discard(task)
            if not task.cancelled() and task.exception() is None and not pong.done():
                pong.set_result(None)

        task.add_done_callback(answered)
        return pong

    async def pong(self, data: str | bytes) -> None:
        """Never needed: the in-memory transport answers the client's pings itself."""

    async def close(self, code: int, reason: str) -> None:
        await self._peer.close(code, reason)
        self._end()

    def abort(self) -> None:
        self._peer.abort()
        self._end()

    def pause(self, paused: bool) -> None:
        self._peer.answer_pings = not paused

    def stop_reading(self) -> None:
        """The client's frames pile up in the peer's socket buffers until its sends block; its pings
        go unanswered (``InMemoryPeer.reading``)."""
        self._peer.reading = False

    def _end(self) -> None:
        """The connection is over: a ping still waiting for its pong never gets one."""
        for task in list(self._pings):
            task.cancel()
        self._pings.clear()


class InMemoryEmulator:
    """``serve`` for an ``InMemoryTransport``: each connection gets its own `RealtimeConversation`
    of `scenario` (its own session, script, VAD and faults), as each websocket does. What a server
    keeps across connections it keeps too: the `reconnectable` faults' counts (`fault_counts`), so a
    reopened transport (``InMemoryTransport.reopen``, the same `InMemoryEmulator`) finds them spent."""

    def __init__(self, scenario: ScenarioLike = "default", model: str = DEFAULT_MODEL) -> None:
        self.scenario: Scenario = as_scenario(scenario)
        self.model = model
        self.connections: set[RealtimeConversation] = set()  # the conversations being served
        self.fault_counts = FaultCounts()
        self.served = 0  # connections served so far

    async def __call__(self, peer: Peer) -> None:
        self.served += 1
        conversation = RealtimeConversation(PeerSocket(peer), self.scenario, self.model, self.fault_counts)
        self.connections.add(conversation)
        try:
            await conversation.run()
        finally:
            self.connections.discard(conversation)


def serve_in_memory(scenario: ScenarioLike = "default", model: str = DEFAULT_MODEL) -> InMemoryEmulator:
    """The ``serve`` callable of an ``InMemoryTransport`` that runs the emulator's conversation.

    `scenario` is a `Scenario`, a shipped name or a path (read now, not on connect); `model` is what
    ``session.created`` reports, like ``?model=`` on the websocket.
    """
    return InMemoryEmulator(scenario, model)
