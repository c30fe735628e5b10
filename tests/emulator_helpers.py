"""Shared helpers for tests that talk to the emulator (others may reuse them).

`RealtimeTestClient` validates every event it sends as ``RealtimeClientEvent`` (unless sent raw, for
bad-input tests) and every event it receives as ``RealtimeServerEvent``, so any conversation a test
holds also checks the emulator's wire format. `InMemoryTestClient` does the same over an
``InMemoryTransport`` served by the emulator's conversation (no socket): in a test marked
``@pytest.mark.looptime`` its pacing, latencies and faults run on a fast-forwarding loop clock, so
timings can be asserted exactly and cost no wall time. Start such clients inside the test body, not in
an async fixture: looptime fast-forwards only while the test function itself runs.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from typing import Any

import websockets
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from pydantic import TypeAdapter

from interview_kit import voice
from interview_kit.emulator import InMemoryEmulator, serve_in_memory
from interview_kit.scenario import Scenario, load_scenario, parse_scenario
from interview_kit.transport import InMemoryTransport, TransportClosed

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
CLIENT_EVENT = TypeAdapter(RealtimeClientEvent)
STEP_TIMEOUT = 10.0  # seconds any single wait may take before a test fails


def validate_server_event(event: dict[str, Any]) -> None:
    """Raise unless `event` parses as the openai package's RealtimeServerEvent."""
    SERVER_EVENT.validate_python(event)


def validate_client_event(event: dict[str, Any]) -> None:
    CLIENT_EVENT.validate_python(event)


def fast(scenario: str | Scenario = "default", speed: float = 20.0, **changes: Any) -> Scenario:
    """A scenario (shipped name or object) with its audio clock sped up, plus any field changes."""
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    return dataclasses.replace(base, speed=speed, **changes)


def scenario_from(raw: dict[str, Any]) -> Scenario:
    """A scenario built in code from a TOML-shaped dict."""
    return parse_scenario(raw, "<test>")


def answer_audio(text: str, words_per_minute: float = 150.0, lead: float = 0.3, tail: float = 0.8) -> bytes:
    """The simulated candidate's spoken answer, with silence around it so that the VAD closes the turn."""
    return voice.silence(lead) + voice.synthesize(text, words_per_minute) + voice.silence(tail)


class RealtimeTestClient:
    """A raw websockets realtime client that records and validates everything."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> RealtimeTestClient:
        ws = await asyncio.wait_for(websockets.connect(url, max_size=None, **kwargs), STEP_TIMEOUT)
        return cls(ws)

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), STEP_TIMEOUT)

    async def __aenter__(self) -> RealtimeTestClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def send(self, event: dict[str, Any]) -> None:
        validate_client_event(event)
        await self.ws.send(json.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def recv(self, limit: float = STEP_TIMEOUT) -> dict[str, Any]:
        event = json.loads(await asyncio.wait_for(self.ws.recv(), limit))
        validate_server_event(event)
        self.seen.append(event)
        return event

    async def recv_until(self, type_: str, limit: float = STEP_TIMEOUT) -> list[dict[str, Any]]:
        """Events up to and including the first of `type_` (each wait bounded by `limit` seconds)."""
        out = []
        while True:
            event = await self.recv(limit)
            out.append(event)
            if event["type"] == type_:
                return out

    async def recv_until_timed(
        self, type_: str, limit: float = STEP_TIMEOUT
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """`recv_until`, with the loop's clock (``loop.time()``) at each event's arrival."""
        loop = asyncio.get_running_loop()
        events, times = [], []
        while not events or events[-1]["type"] != type_:
            events.append(await self.recv(limit))
            times.append(loop.time())
        return events, times

    async def update_session(self, **session: Any) -> dict[str, Any]:
        await self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        return (await self.recv_until("session.updated"))[-1]

    async def create_response(self, **response: Any) -> list[dict[str, Any]]:
        """Ask for a response and return its events through ``response.done``."""
        await self.send(
            {"type": "response.create", "response": response} if response else {"type": "response.create"}
        )
        return await self.recv_until("response.done")

    async def append_audio(self, pcm: bytes, chunk_ms: int = 100) -> None:
        step = voice.SAMPLE_RATE * voice.BYTES_PER_SAMPLE * chunk_ms // 1000
        for i in range(0, len(pcm), step):
            await self.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + step]).decode()}
            )


class InMemoryTestClient(RealtimeTestClient):
    """`RealtimeTestClient` over an ``InMemoryTransport`` whose server is the emulator's conversation.

    Its waits are bounded by `STEP_TIMEOUT` seconds of the loop's clock, so on a fast-forwarding loop
    (``@pytest.mark.looptime``) a wait that never ends fails at once instead of after 10 s."""

    def __init__(self, transport: InMemoryTransport) -> None:
        self.transport = transport
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def start(
        cls, scenario: str | Scenario | InMemoryEmulator = "default", model: str = "gpt-realtime"
    ) -> InMemoryTestClient:
        """Connect to a new in-memory emulator of `scenario` (reporting `model`), or to `scenario`
        itself when it is an ``InMemoryEmulator`` (a connection of its own, as another websocket)."""
        serve = scenario if isinstance(scenario, InMemoryEmulator) else serve_in_memory(scenario, model)
        transport = InMemoryTransport(serve=serve)
        await transport.connect()
        return cls(transport)

    @classmethod
    async def open(
        cls, scenario: str | Scenario | InMemoryEmulator = "default", model: str = "gpt-realtime"
    ) -> InMemoryTestClient:
        """`start`, then read the ``session.created`` that must come first."""
        client = await cls.start(scenario, model)
        created = await client.recv()
        assert created["type"] == "session.created", created
        return client

    async def close(self) -> None:
        await asyncio.wait_for(self.transport.close(), STEP_TIMEOUT)

    async def send(self, event: dict[str, Any]) -> None:
        validate_client_event(event)
        await self.transport.send(json.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        await self.transport.send(data)  # type: ignore[arg-type]  # bytes: a binary frame

    async def recv(self, limit: float = STEP_TIMEOUT) -> dict[str, Any]:
        event = json.loads(await asyncio.wait_for(self.transport.receive(), limit))
        validate_server_event(event)
        self.seen.append(event)
        return event


async def until_closed(client: InMemoryTestClient, limit: float = 60.0) -> TransportClosed:
    """Read until the in-memory connection ends (each wait bounded by `limit` seconds of the loop's
    clock); the `TransportClosed` says who closed it, with which code and reason."""
    while True:
        try:
            await client.recv(limit)
        except TransportClosed as closed:
            return closed


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


def transcript_of(events: list[dict[str, Any]]) -> str:
    """The assistant transcript spoken in these events (from the transcript deltas)."""
    return "".join(e["delta"] for e in events if e["type"] == "response.output_audio_transcript.delta")


def audio_of(events: list[dict[str, Any]]) -> bytes:
    return b"".join(
        base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta"
    )


END_TOOL = {
    "type": "function",
    "name": "end_interview",
    "description": "End the interview once the candidate has answered the questions.",
    "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
}


# ---- resuming on a new connection (what a reconnecting client sends, in the shapes it sends) -----------


def user_text(text: str) -> dict[str, Any]:
    """A candidate answer replayed as a user message."""
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def assistant_text(text: str) -> dict[str, Any]:
    """An interviewer line replayed as an assistant message (text: assistant audio cannot be created)."""
    return {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def function_call(call_id: str, name: str = "end_interview", arguments: str = "{}") -> dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}


def function_call_output(call_id: str, output: str = '{"ok": true}') -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


async def reopen(client: InMemoryTestClient) -> InMemoryTestClient:
    """A new connection to the same in-memory emulator (``InMemoryTransport.reopen``), as a client that
    reconnects opens one; ``session.created`` already read."""
    transport = client.transport.reopen()
    await transport.connect()
    fresh = InMemoryTestClient(transport)
    created = await fresh.recv()
    assert created["type"] == "session.created", created
    return fresh


async def replay(client: RealtimeTestClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create `items` in order, each confirmed by its ``conversation.item.done``; the events seen."""
    events: list[dict[str, Any]] = []
    for item in items:
        await client.send({"type": "conversation.item.create", "item": item})
        events += await client.recv_until("conversation.item.done")
    return events
