"""A hostile Realtime server of our own, kept with the tests: correct but for one misbehaviour.

`Hostile` speaks just enough of the Realtime protocol to carry a whole interview: it confirms the
settings, speaks the question it is asked for (created, a transcript delta, audio in 100 ms deltas,
done), hears the candidate (speech started and stopped, committed, transcribed: its own VAD, so the
session needs no voice), answers with the next question by itself (turn taking on, as the hosted
service does), calls ``end_interview`` after `questions` answers, and speaks each assessment line it
is asked for. Its one `Fault` changes that in one way: a rewrite of the frames it sends (garbage,
missing fields, duplicates, reordering, huge frames) or an act at one moment of the interview (a close
with a code, a drop, falling silent, no longer reading, ignoring one request):

- ``early``: the connection's first ``session.update`` arrived, before ``session.updated``;
- ``middle``: the candidate's first answer was heard (mid-interview);
- ``late``: half the summary's audio was sent (during the assessment).

In memory, ``InMemoryTransport(serve=server.serve)``: a reconnect (``transport.reopen()``) reaches the
same object, which keeps what a server keeps across connections (the answers it heard) and numbers
its connections, so a fault can hit the first connection only (the default) or every one. Over TCP
(`serving`), the same conversation runs behind a real websocket on 127.0.0.1, port 0 (a binary frame
is a binary frame there); `handshake_hang` and `http_status` are the servers that never get that far.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from interview_kit.audio.format import BYTES_PER_MS
from interview_kit.transport import CloseInfo, TransportClosed

Moment = Literal["early", "middle", "late"]
Frame = str | bytes | dict[str, Any]  # a dict is sent as JSON text
Rewrite = Callable[[dict[str, Any]], Iterable[Frame]]

QUESTIONS = ("Could you tell me about a project you are proud of?",
             "What would you do differently next time?",
             "How do you handle a disagreement in a team?")
ANSWERS = ("I rebuilt our data pipeline.", "I would test it earlier.", "I listen first, then decide.")
SAY = "Say exactly the following: "


def audio(ms: int) -> str:
    """`ms` of silent PCM16 audio, base64: what the client plays is its length, not its sound."""
    return base64.b64encode(bytes(int(ms * BYTES_PER_MS))).decode()


class Peer(Protocol):
    """The server's end of one connection (``transport.InMemoryPeer``, or `WebsocketPeer` over TCP)."""

    async def send(self, frame: Any) -> None: ...
    async def receive(self) -> str | bytes: ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...
    def abort(self) -> None: ...


@dataclass
class Fault:
    """One misbehaviour. `connections`: the ones that misbehave (0-based; None: every one)."""

    connections: frozenset[int] | None = frozenset({0})

    def on(self, link: Link) -> bool:
        return self.connections is None or link.n in self.connections

    def rewrite(self, event: dict[str, Any]) -> Iterable[Frame]:
        """What goes out instead of `event` (by default, the event itself)."""
        return [event]

    async def act(self, moment: Moment, link: Link) -> bool:
        """At `moment`: misbehave; True when the server is to stop what it was doing there."""
        return False

    def ignores(self, purpose: str) -> bool:
        """Whether a ``response.create`` for `purpose` goes unanswered."""
        return False


@dataclass
class Rewriting(Fault):
    """Every frame the server sends goes through `fn` (the frame-level faults)."""

    fn: Rewrite = lambda event: [event]

    def rewrite(self, event: dict[str, Any]) -> Iterable[Frame]:
        return self.fn(event)


@dataclass
class Closing(Fault):
    """At `moment`, the server closes with `code` (1006: drops the connection without a close frame)."""

    moment: Moment = "middle"
    code: int = 1011

    async def act(self, moment: Moment, link: Link) -> bool:
        if moment != self.moment:
            return False
        if self.code == 1006:
            link.peer.abort()
        else:
            await link.peer.close(self.code, f"hostile close {self.code}")
        return True


@dataclass
class Silent(Fault):
    """From `moment` on the server sends nothing (it still reads, and answers pings)."""

    moment: Moment = "middle"

    async def act(self, moment: Moment, link: Link) -> bool:
        if moment != self.moment:
            return False
        link.muted = True
        return True


@dataclass
class StopsReading(Fault):
    """From `moment` on the server neither reads nor sends: the client's frames pile up in the socket
    buffers, then its sends block, and its pings go unanswered (``InMemoryPeer.reading``)."""

    moment: Moment = "middle"

    async def act(self, moment: Moment, link: Link) -> bool:
        if moment != self.moment:
            return False
        link.muted = True
        link.peer.reading = False  # type: ignore[attr-defined]  (in memory only)
        return True


@dataclass
class Ignoring(Fault):
    """Every ``response.create`` for `purpose` goes unanswered (the rest of the conversation goes on)."""

    purpose: str = "goodbye"

    def ignores(self, purpose: str) -> bool:
        return purpose == self.purpose


# --- frame rewrites (the `fn` of a `Rewriting` fault) -------------------------------------------------


def inject_before(kind: str, *frames: Frame) -> Rewrite:
    """`frames` go out before every event of type `kind`."""
    return lambda event: [*frames, event] if event["type"] == kind else [event]


def inject_after(kind: str, make: Callable[[dict[str, Any]], Iterable[Frame]]) -> Rewrite:
    """`make(event)` goes out after every event of type `kind`."""
    return lambda event: [event, *make(event)] if event["type"] == kind else [event]


def changed(kinds: str | tuple[str, ...], **paths: Any) -> Rewrite:
    """Events of these types with fields set (``response__id=5``: ``event["response"]["id"] = 5``; the
    value `DROP`: the field left out)."""
    wanted = (kinds,) if isinstance(kinds, str) else kinds

    def fn(event: dict[str, Any]) -> list[Frame]:
        if event["type"] not in wanted:
            return [event]
        event = json.loads(json.dumps(event))  # (a deep copy: the server's own objects stay intact)
        for path, value in paths.items():
            *parents, last = path.split("__")
            target = event
            for key in parents:
                target = target[key]
            if value is DROP:
                target.pop(last, None)
            else:
                target[last] = value
        return [event]

    return fn


DROP = object()  # a `changed` value: leave the field out


def twice(kind: str) -> Rewrite:
    """Every event of type `kind` goes out twice."""
    return lambda event: [event, event] if event["type"] == kind else [event]


def held_until(held: str | tuple[str, ...], release: str) -> Rewrite:
    """Events of type(s) `held` are kept back and go out right after the next event of type `release`
    (reordering: a response's ``response.created`` after its ``response.done``, its audio after it)."""
    kinds = (held,) if isinstance(held, str) else held
    box: list[dict[str, Any]] = []

    def fn(event: dict[str, Any]) -> list[Frame]:
        if event["type"] in kinds:
            box.append(event)
            return []
        if event["type"] == release:
            out: list[Frame] = [event, *box]
            box.clear()
            return out
        return [event]

    return fn


class Link:
    """One connection of the server: its peer, its number, what it received."""

    def __init__(self, server: Hostile, peer: Peer, n: int) -> None:
        self.server, self.peer, self.n = server, peer, n
        self.received: list[dict[str, Any]] = []
        self.muted = False  # falling silent: nothing more is sent
        self.updates = 0
        self.interview: asyncio.Task[None] | None = None

    @property
    def faulty(self) -> bool:
        return self.server.fault.on(self)

    async def send(self, type_: str, **fields: Any) -> None:
        if self.muted:
            return
        event = {"type": type_, "event_id": self.server.next_id("event"), **fields}
        frames = self.server.fault.rewrite(event) if self.faulty else [event]
        for frame in frames:
            await self.peer.send(json.dumps(frame) if isinstance(frame, dict) else frame)

    async def act(self, moment: Moment) -> bool:
        return self.faulty and await self.server.fault.act(moment, self)


@dataclass
class Hostile:
    """The server (see the module's docstring). `speed` scales its waits for a line to be played, as
    the session's `speed` scales its audio clock; `speak_ms` is each line's audio."""

    fault: Fault = field(default_factory=Fault)
    questions: int = 2
    speak_ms: int = 1000
    speed: float = 1.0
    links: list[Link] = field(default_factory=list)
    answers: int = 0  # answers heard, over every connection (a new one goes on from there)
    _ids: int = 0

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}_{self._ids}"

    def purposes(self, n: int | None = None) -> list[str]:
        """The purposes of the ``response.create`` events connection `n` (None: every one) received."""
        links = self.links if n is None else [self.links[n]]
        return [e["response"]["metadata"]["purpose"] for link in links for e in link.received
                if e.get("type") == "response.create"]

    async def serve(self, peer: Peer) -> None:
        """One connection (the ``serve`` of an ``InMemoryTransport``; `serving` over TCP)."""
        link = Link(self, peer, len(self.links))
        self.links.append(link)
        try:
            while True:
                event = json.loads(await peer.receive())
                if event["type"] != "input_audio_buffer.append":
                    link.received.append(event)
                await self._answer(link, event)
        except TransportClosed:
            pass
        finally:
            if link.interview is not None:
                link.interview.cancel()

    async def _answer(self, link: Link, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "session.update":
            link.updates += 1
            if link.updates == 1 and await link.act("early"):
                return
            await link.send("session.updated", session={"type": "realtime", "object": "realtime.session"})
        elif kind == "response.create":
            response = event.get("response") or {}
            purpose = (response.get("metadata") or {}).get("purpose", "auto")
            if link.faulty and self.fault.ignores(purpose):
                return
            if purpose == "question":
                if link.interview is None or link.interview.done():
                    link.interview = asyncio.get_running_loop().create_task(self._interview(link))
                return
            text = str(response.get("instructions", "")).removeprefix(SAY)
            await self.speak(link, purpose, text, late=purpose in ("summary", "fallback"))

    async def _interview(self, link: Link) -> None:
        """Ask, hear the answer, ask the next by itself; after `questions` answers, end the interview."""
        purpose: str | None = "question"  # the first is asked for; the next ones the server's own
        with contextlib.suppress(TransportClosed):
            while self.answers < self.questions:
                await self.speak(link, purpose, QUESTIONS[self.answers % len(QUESTIONS)])
                purpose = None
                await asyncio.sleep((self.speak_ms + 300) / 1000 / self.speed)  # played
                await self.hear(link, self.answers)
                self.answers += 1
                if self.answers == 1 and await link.act("middle"):
                    return
                await asyncio.sleep(0.2 / self.speed)
            await self.end_interview(link)

    async def speak(self, link: Link, purpose: str | None, text: str, *, late: bool = False) -> None:
        """One spoken response; `late`: the ``late`` moment comes half way through its audio."""
        rid, item = self.next_id("resp"), self.next_id("item")
        response: dict[str, Any] = {"id": rid, "object": "realtime.response", "status": "in_progress",
                                    "output": [], "metadata": {"purpose": purpose} if purpose else None}
        await link.send("response.created", response=response)
        await link.send("response.output_audio_transcript.delta", response_id=rid, item_id=item,
                        output_index=0, content_index=0, delta=text)
        deltas = self.speak_ms // 100
        for i in range(deltas):
            if late and i == deltas // 2 and await link.act("late"):
                return
            await link.send("response.output_audio.delta", response_id=rid, item_id=item, output_index=0,
                            content_index=0, delta=audio(100))
        await link.send("response.output_audio.done", response_id=rid, item_id=item, output_index=0,
                        content_index=0)
        await link.send("response.output_audio_transcript.done", response_id=rid, item_id=item,
                        output_index=0, content_index=0, transcript=text)
        await link.send("response.done", response={
            **response, "status": "completed",
            "output": [{"id": item, "type": "message", "role": "assistant", "status": "completed"}]})

    async def hear(self, link: Link, n: int) -> None:
        """The candidate's answer `n`, as the server's VAD and transcription report it."""
        item = f"item_answer_{n}"
        await link.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id=item)
        await link.send("input_audio_buffer.speech_stopped", audio_end_ms=500, item_id=item)
        await link.send("input_audio_buffer.committed", item_id=item, previous_item_id=None)
        await link.send("conversation.item.input_audio_transcription.completed", item_id=item,
                        content_index=0, transcript=ANSWERS[n % len(ANSWERS)])

    async def end_interview(self, link: Link) -> None:
        """The model's own response: a call of ``end_interview``."""
        rid, item, call = self.next_id("resp"), self.next_id("item"), self.next_id("call")
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": [],
                    "metadata": None}
        await link.send("response.created", response=response)
        await link.send("response.function_call_arguments.done", response_id=rid, item_id=item,
                        output_index=0, call_id=call, name="end_interview", arguments="{}")
        await link.send("response.done", response={**response, "status": "completed", "output": [
            {"id": item, "type": "function_call", "call_id": call, "name": "end_interview",
             "arguments": "{}", "status": "completed"}]})


# --- over TCP --------------------------------------------------------------------------------------


class WebsocketPeer:
    """A websockets server connection as a `Peer`: bytes go out as a binary frame."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, frame: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(frame)
        except ConnectionClosed as exc:
            raise TransportClosed(_close_info(exc)) from None

    async def receive(self) -> str | bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            raise TransportClosed(_close_info(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def abort(self) -> None:
        self.ws.transport.abort()


def _close_info(exc: Any) -> CloseInfo:
    frame = exc.rcvd or exc.sent
    return CloseInfo(frame.code if frame else 1006, frame.reason if frame else "", "unknown")


@contextlib.asynccontextmanager
async def serving(server: Hostile) -> AsyncIterator[str]:
    """`server` behind a websocket on 127.0.0.1 (port 0); yields the base URL to give the session."""
    import websockets

    async def handler(ws: Any) -> None:
        await server.serve(WebsocketPeer(ws))

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/v1"


@contextlib.asynccontextmanager
async def raw_server(on_connect: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]
                     ) -> AsyncIterator[str]:
    """A plain TCP server on 127.0.0.1 (port 0) running `on_connect` per connection; yields its base URL."""
    connections: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await on_connect(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        for writer in connections:
            writer.transport.abort()
        server.close()
        await server.wait_closed()


def handshake_hang() -> contextlib.AbstractAsyncContextManager[str]:
    """A server that accepts the TCP connection, reads the upgrade request, and never answers it."""

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.Event().wait()

    return raw_server(hang)


def http_status(status: int, phrase: str) -> contextlib.AbstractAsyncContextManager[str]:
    """A server that answers the websocket upgrade with a plain HTTP error (401, 500, ...)."""

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = json.dumps({"error": {"message": phrase, "type": "hostile"}}).encode()
        writer.write(f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    return raw_server(refuse)
