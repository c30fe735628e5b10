"""The emulator's conversation over an InMemoryTransport behaves as over its websocket, on the loop's clock.

Tests marked ``looptime`` run on a fast-forwarding loop: their timing assertions are on the loop's
clock (``loop.time()``), which is the only clock the emulator paces by.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
from emulator_helpers import (
    END_TOOL,
    InMemoryTestClient,
    RealtimeTestClient,
    answer_audio,
    audio_of,
    fast,
    of_type,
    scenario_from,
)
from openai.types.realtime import SessionCreatedEvent

from interview_kit import voice
from interview_kit.emulator import Emulator, InMemoryEmulator, serve_in_memory
from interview_kit.emulator.inmemory import PeerSocket
from interview_kit.scenario import load_scenario
from interview_kit.transport import ABNORMAL_CLOSURE, InMemoryPeer, InMemoryTransport, TransportClosed

LINE = "one two three four five six seven eight"  # 3.0 s at 160 wpm


def _scenario(*faults: dict, speed: float = 1.0, **top: Any):
    return scenario_from(
        {
            "name": "inmemory",
            "speed": speed,
            "latency": {"response_created": 0.0, "first_audio": 0.0},
            "interviewer": {"questions": ["Q1?", "Q2?"]},
            "faults": list(faults),
            **top,
        }
    )


def _say(text: str = LINE, purpose: str | None = None) -> dict:
    response: dict = {"instructions": f"Say exactly the following: {text}"}
    if purpose:
        response["metadata"] = {"purpose": purpose}
    return response


async def _client(scenario: Any = "default", model: str = "gpt-realtime") -> InMemoryTestClient:
    client = await InMemoryTestClient.start(scenario, model)
    created = await client.recv()
    assert created["type"] == "session.created"
    return client


async def _until_closed(client: InMemoryTestClient, limit: float = 60.0) -> TransportClosed:
    """Read until the connection ends (each wait bounded by `limit` seconds of the loop's clock)."""
    with pytest.raises(TransportClosed) as info:
        while True:
            await client.recv(limit)
    return info.value


# ---- the same protocol as the websocket ----------------------------------------------------------------


async def test_session_created_comes_first_and_names_the_model():
    client = await InMemoryTestClient.start(fast("default"), model="gpt-realtime-mini")
    created = await client.recv()
    parsed = SessionCreatedEvent.model_validate(created)
    assert parsed.session.type == "realtime" and created["session"]["model"] == "gpt-realtime-mini"
    await client.close()


async def test_session_update_is_answered_with_session_updated():
    client = await _client(fast("default"))
    updated = await client.update_session(
        instructions="Be brief.",
        audio={"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
    )
    assert updated["session"]["instructions"] == "Be brief."
    assert updated["session"]["audio"]["input"]["turn_detection"]["threshold"] == 0.7
    await client.close()


async def test_bad_input_gets_error_events_and_the_connection_stays():
    client = await _client(fast("default"))
    await client.send_raw("{not json")
    assert (await client.recv())["error"]["code"] == "invalid_json"
    await client.send_raw(b"\x00\x01")
    assert (await client.recv())["error"]["code"] == "invalid_value"
    await client.send({"type": "input_audio_buffer.clear"})
    assert (await client.recv())["type"] == "input_audio_buffer.cleared"
    await client.close()


def _exchange(answers: int) -> list[dict]:
    """A conversation that touches every kind of client event, each sent after the previous answer,
    through `answers` answers to the end_interview call."""
    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "an answer"}]}
    manual = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
    exchange: list[dict] = [
        {"type": "session.update", "session": {"type": "realtime", "tools": [END_TOOL]}},
        {"type": "session.update", "session": manual},
        {"type": "response.create", "response": {"metadata": {"purpose": "question"}}},
        {"type": "input_audio_buffer.commit"},
        {"type": "response.create", "response": _say("ok", "ack")},
        {"type": "response.cancel"},
        {"type": "bogus.event"},
    ]
    for i in range(answers):
        exchange.append({"type": "conversation.item.create", "item": user})
        modalities = ["text"] if i % 2 else ["audio"]
        exchange.append({"type": "response.create", "response": {"output_modalities": modalities}})
    return exchange


async def _hold(client: RealtimeTestClient, answers: int) -> list[str]:
    """Send `_exchange` and return the types of the events it got, in order."""
    types = []
    for event in _exchange(answers):
        if event["type"] == "bogus.event":
            await client.send_raw(json.dumps(event))
        else:
            await client.send(event)
        last = "response.done" if event["type"] == "response.create" else None
        while True:
            received = await client.recv()
            types.append(received["type"])
            if last is None or received["type"] == last:
                break
        if last:
            types.append((await client.recv())["type"])  # rate_limits.updated
    return types


async def test_the_same_conversation_over_both_sockets():
    scenario = fast("default", speed=1000)  # the order of events, not their timing, is compared
    async with Emulator(scenario) as emu, await RealtimeTestClient.connect(emu.realtime_url) as ws_client:
        await ws_client.recv()
        over_websocket = await _hold(ws_client, scenario.answers_before_end)
    client = await _client(scenario)
    in_memory = await _hold(client, scenario.answers_before_end)
    await client.close()
    assert in_memory == over_websocket
    assert "response.function_call_arguments.done" in in_memory  # the end_interview call came too


# ---- the loop's clock -----------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_audio_is_paced_in_loop_time():
    loop = asyncio.get_running_loop()
    client = await _client(_scenario(timing="idealised"))  # hosted-like bursts: test_emulator_hosted_like
    await client.send({"type": "response.create", "response": _say()})
    arrivals, events = [], []
    while not events or events[-1]["type"] != "response.done":
        events.append(await client.recv())
        if events[-1]["type"] == "response.output_audio.delta":
            arrivals.append(loop.time())
    audio_s = voice.pcm_seconds(audio_of(events))
    assert audio_s == pytest.approx(voice.speech_duration(LINE, 160), abs=0.01) and audio_s >= 3.0
    for k, at in enumerate(arrivals):  # delta k leaves k chunks (100 ms) after the first, never early
        assert at - arrivals[0] == pytest.approx(k * 0.1, abs=0.005)
    assert arrivals[-1] - arrivals[0] == pytest.approx(audio_s - 0.1, abs=0.02)
    await client.close()


@pytest.mark.looptime
async def test_a_whole_interview_in_loop_time():
    """Greeting, every answer spoken into the VAD, the end_interview call: real-time pacing throughout."""
    loop = asyncio.get_running_loop()
    scenario = dataclasses.replace(load_scenario("default"), timing="idealised")
    client = await _client(scenario)
    started = loop.time()
    await client.update_session(tools=[END_TOOL])
    events = await client.create_response()
    spoken = voice.pcm_seconds(audio_of(events))
    answers = scenario.candidate.answers[: scenario.answers_before_end]
    for answer in answers:
        pcm = answer_audio(answer)
        await client.append_audio(pcm)
        spoken += voice.pcm_seconds(pcm)
        events = await client.recv_until("response.done")
        transcribed = of_type(events, "conversation.item.input_audio_transcription.completed")
        assert transcribed[0]["transcript"] == answer
        spoken += voice.pcm_seconds(audio_of(events))
    assert events[-1]["response"]["output"][0]["type"] == "function_call"
    assert of_type(events, "response.function_call_arguments.done")[0]["name"] == "end_interview"
    # the interviewer's audio is paced at real time; the candidate's is sent as fast as it is read
    interviewer = spoken - sum(voice.pcm_seconds(answer_audio(a)) for a in answers)
    assert interviewer > 20.0
    assert loop.time() - started >= interviewer - 0.5
    await client.close()


# ---- faults and keepalive ----------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_an_abrupt_drop_is_1006():
    client = await _client(_scenario({"kind": "drop", "during": "summary", "at": 1.0}, timing="idealised"))
    await client.create_response(**_say(purpose="ack"))  # other purposes are untouched
    await client.recv_until("rate_limits.updated")
    seen = len(client.seen)
    await client.send({"type": "response.create", "response": _say(purpose="summary")})
    closed = await _until_closed(client)
    assert closed.info.code == ABNORMAL_CLOSURE and closed.info.by == "unknown"
    summary = client.seen[seen:]
    assert summary[0]["type"] == "response.created" and not of_type(summary, "response.done")
    assert 10 <= len(of_type(summary, "response.output_audio.delta")) <= 11  # 1 s of audio, 100 ms each


@pytest.mark.looptime
async def test_a_close_fault_closes_with_its_code():
    loop = asyncio.get_running_loop()
    client = await _client(_scenario({"kind": "drop", "at": 2.0, "mode": "close_1011"}, speed=2.0))
    started = loop.time()
    closed = await _until_closed(client)
    assert (closed.info.code, closed.info.reason, closed.info.by) == (1011, "internal server error", "server")
    assert loop.time() - started == pytest.approx(1.0, abs=0.01)  # 2 s of the scenario's clock at speed 2


class _DeafPeer:
    """An InMemoryPeer whose client never answers the server's pings (as a blocked client's loop)."""

    def __init__(self, peer: InMemoryPeer) -> None:
        self._peer = peer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._peer, name)

    async def ping(self) -> float:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@pytest.mark.looptime
async def test_keepalive_closes_1011_when_pings_go_unanswered():
    loop = asyncio.get_running_loop()
    serve = serve_in_memory(_scenario(ping_interval=5.0, ping_timeout=10.0))
    transport = InMemoryTransport(serve=lambda peer: serve(_DeafPeer(peer)))
    await transport.connect()
    client = InMemoryTestClient(transport)
    started = loop.time()
    closed = await _until_closed(client)
    info = closed.info
    assert (info.code, info.reason, info.by) == (1011, "keepalive ping timeout", "server")
    assert loop.time() - started == pytest.approx(15.0, abs=0.01)  # first ping at 5 s, no pong by 15 s
    await asyncio.sleep(0.1)
    assert not serve.connections  # the conversation and its tasks have ended


@pytest.mark.looptime
async def test_a_client_that_answers_pings_is_kept():
    client = await _client(_scenario(ping_interval=5.0, ping_timeout=10.0))
    await asyncio.sleep(120.0)  # two dozen pings, each answered
    events = await client.create_response(output_modalities=["text"])
    assert events[-1]["response"]["status"] == "completed"
    await client.close()


@pytest.mark.looptime
async def test_a_stall_holds_events_and_the_pongs_of_client_pings():
    loop = asyncio.get_running_loop()
    client = await _client(_scenario({"kind": "stall", "at": 1.0, "seconds": 4.0}))
    rtt = await asyncio.wait_for(await client.transport.ping(), 1.0)  # before the stall: at once
    assert rtt == pytest.approx(0.0, abs=0.01)
    await asyncio.sleep(2.0)  # 1 s into the stall
    pong = await client.transport.ping()
    sent = loop.time()
    await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    assert await asyncio.wait_for(pong, 10.0) == pytest.approx(3.0, abs=0.01)  # answered when it ends
    event = await client.recv()
    assert event["type"] == "response.created" and loop.time() - sent == pytest.approx(3.0, abs=0.01)
    await client.recv_until("response.done")
    await client.close()


# ---- the connection's ends ------------------------------------------------------------------------------


async def test_the_server_learns_how_the_client_closed():
    emulator = serve_in_memory(fast("default"))
    assert isinstance(emulator, InMemoryEmulator)
    transport = InMemoryTransport(serve=emulator)
    await transport.connect()
    client = InMemoryTestClient(transport)
    await client.recv()
    (conversation,) = emulator.connections
    socket = conversation.socket
    assert isinstance(socket, PeerSocket)
    await asyncio.wait_for(transport.close(4000, "researcher stopped"), 5.0)
    assert not emulator.connections  # the conversation ended with the connection
    info = socket.close_info
    assert info is not None and (info.code, info.reason, info.by) == (4000, "researcher stopped", "client")


async def test_each_connection_has_its_own_conversation():
    serve = serve_in_memory(fast("default"))
    a, b = InMemoryTransport(serve=serve), InMemoryTransport(serve=serve)
    await a.connect()
    await b.connect()
    ca, cb = InMemoryTestClient(a), InMemoryTestClient(b)
    ida = (await ca.recv())["session"]["id"]
    idb = (await cb.recv())["session"]["id"]
    assert ida != idb and len(serve.connections) == 2
    await ca.close()
    await cb.close()
    assert not serve.connections


async def test_a_client_abort_ends_the_conversation():
    serve = serve_in_memory(fast("default"))
    transport = InMemoryTransport(serve=serve)
    await transport.connect()
    client = InMemoryTestClient(transport)
    await client.recv()
    await client.send({"type": "response.create"})  # a response in flight is ended with the rest
    await client.recv_until("response.output_audio.delta")
    transport.abort()
    for _ in range(100):
        if not serve.connections:
            break
        await asyncio.sleep(0.01)
    assert not serve.connections
