"""Each realtime fault a scenario can inject, as the client sees it.

Most run in memory (``InMemoryTestClient``) on looptime's fast-forwarding loop: the emulator times
faults, latencies and audio on the loop's clock only, so their timings are asserted exactly. The tests
named ``..._over_the_websocket`` keep a real socket because the socket is what they test: an abrupt
drop is a TCP cut with no close frame, and a stalled aiohttp server (``autoping=False``) leaves the
``websockets`` client's own pings unanswered until its keepalive closes with 1011.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from emulator_helpers import (
    STEP_TIMEOUT,
    InMemoryTestClient,
    RealtimeTestClient,
    fast,
    of_type,
    scenario_from,
    until_closed,
)
from websockets.exceptions import ConnectionClosedError

from interview_kit import voice
from interview_kit.emulator import Emulator
from interview_kit.scenario import load_scenario
from interview_kit.transport import InMemoryTransport

LINE = "one two three four five six seven eight nine ten eleven twelve"  # 4.5 s at 160 wpm
CHUNK_S = 0.1  # audio seconds per output_audio.delta


def _scenario(*faults: dict, speed: float = 10.0, **top) -> object:
    return scenario_from(
        {
            "name": "faulty",
            "speed": speed,
            "latency": {"response_created": 0.0, "first_audio": 0.0},
            "interviewer": {"questions": ["Q1?", "Q2?"]},
            "faults": list(faults),
            **top,
        }
    )


async def _client(emu: Emulator) -> RealtimeTestClient:
    client = await RealtimeTestClient.connect(emu.realtime_url)
    await client.recv()
    return client


def _say(purpose: str | None = None) -> dict:
    response: dict = {"instructions": f"Say exactly the following: {LINE}"}
    if purpose:
        response["metadata"] = {"purpose": purpose}
    return response


async def _timed_response(c: RealtimeTestClient, **response) -> tuple[list[dict], list[float]]:
    """Ask for a response; its events through ``response.done`` and the loop time each arrived."""
    await c.send({"type": "response.create", "response": response})
    return await c.recv_until_timed("response.done")


def _first_audio_after_created(events: list[dict], times: list[float]) -> float:
    first = next(i for i, e in enumerate(events) if e["type"] == "response.output_audio.delta")
    return times[first] - times[0]


# ---- in memory, on the loop's clock ---------------------------------------------------------------------


@pytest.mark.looptime
async def test_first_audio_delay():
    async with await InMemoryTestClient.open(
        _scenario({"kind": "first_audio_delay", "seconds": 10.0, "during": "ack"})
    ) as c:
        delayed = _first_audio_after_created(*await _timed_response(c, **_say("ack")))
        assert delayed == pytest.approx(10.0 / 10, abs=0.001)  # 10 s of the scenario's clock at speed 10
        undelayed = _first_audio_after_created(*await _timed_response(c, **_say("summary")))
        assert undelayed == pytest.approx(0.0, abs=0.001)  # other purposes are not delayed (latencies 0)


@pytest.mark.looptime
async def test_slow_audio_paces_below_real_time():
    async with await InMemoryTestClient.open(_scenario({"kind": "slow_audio", "factor": 0.5})) as c:
        events, times = await _timed_response(c, **_say())
        deltas = [t for e, t in zip(events, times, strict=True) if e["type"] == "response.output_audio.delta"]
        assert len(deltas) == round(voice.speech_duration(LINE, 160) / CHUNK_S)
        # delta k leaves k chunks of audio later on a clock running at speed * factor = 5x (not 10x)
        for k, at in enumerate(deltas):
            assert at - deltas[0] == pytest.approx(k * CHUNK_S / 5, abs=0.001)


@pytest.mark.looptime
async def test_drop_with_close_1011_at_a_time():
    loop = asyncio.get_running_loop()
    started = loop.time()
    c = await InMemoryTestClient.open(_scenario({"kind": "drop", "at": 2.0, "mode": "close_1011"}))
    closed = await until_closed(c)
    assert (closed.info.code, closed.info.reason, closed.info.by) == (1011, "internal server error", "server")
    assert loop.time() - started == pytest.approx(2.0 / 10, abs=0.001)  # 2 s of its clock at speed 10


@pytest.mark.looptime
async def test_stall_holds_requests_then_resumes():
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with await InMemoryTestClient.open(_scenario({"kind": "stall", "at": 0.0, "seconds": 1.0})) as c:
        await asyncio.sleep(0.05)
        await c.send({"type": "response.create"})
        event = await c.recv()
        # held until the stall ends, 1.0 s (real seconds, not divided by speed) after the connection
        assert event["type"] == "response.created" and loop.time() - started == pytest.approx(1.0, abs=0.001)
        await c.recv_until("response.done")


@pytest.mark.looptime
async def test_no_metadata_echo():
    async with await InMemoryTestClient.open(_scenario({"kind": "no_metadata_echo"})) as c:
        events = await c.create_response(metadata={"purpose": "ack"})
        assert events[0]["response"]["metadata"] is None
        assert of_type(events, "response.done")[0]["response"]["metadata"] is None


@pytest.mark.looptime
async def test_error_event_during_a_response():
    fault = {"kind": "error_event", "during": "summary", "at": 0.0, "code": "server_error", "message": "boom"}
    async with await InMemoryTestClient.open(_scenario(fault)) as c:
        await c.send({"type": "response.create", "response": _say("summary")})
        events = await c.recv_until("error")
        assert events[-1]["error"]["message"] == "boom" and events[-1]["error"]["code"] == "server_error"
        assert events[-1]["error"]["type"] == "server_error" and events[0]["type"] == "response.created"
        done = (await c.recv_until("response.done"))[-1]  # the connection and the response carry on
        assert done["response"]["status"] == "completed"


def test_shipped_fault_scenarios_describe_the_failures():
    slow = load_scenario("slow-report")
    assert slow.report_delay == 5.0 and (slow.ping_interval, slow.ping_timeout) == (0.5, 1.0)
    assert slow.client == {"ping_interval": 0.5, "ping_timeout": 1.0}
    drop = load_scenario("drop-during-summary").faults[0]
    assert (drop.kind, drop.during, drop.at, drop.mode) == ("drop", "summary", 1.0, "abrupt")
    stalled = load_scenario("stalled-server")
    assert (
        stalled.faults[0].kind == "stall" and stalled.faults[0].seconds > stalled.client["ping_timeout"] * 2
    )


async def _client_keepalive(transport: InMemoryTransport, interval: float, pong_within: float) -> float:
    """A client's keepalive, as ``websockets`` runs one: ping every `interval`; a pong missing after
    `pong_within` seconds closes the connection with 1011 "keepalive ping timeout". Returns the loop
    time it closed at."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval)
        pong = await transport.ping()
        try:
            await asyncio.wait_for(pong, pong_within)
        except TimeoutError:
            tripped = loop.time()
            await transport.close(1011, "keepalive ping timeout")
            return tripped


@pytest.mark.looptime
async def test_stalled_server_scenario_stalls_during_the_second_question():
    loop = asyncio.get_running_loop()
    scenario = fast("stalled-server", speed=20)
    stall = scenario.faults[0]
    async with await InMemoryTestClient.open(scenario) as c:
        interval, timeout = scenario.client["ping_interval"], scenario.client["ping_timeout"]
        keepalive = asyncio.ensure_future(_client_keepalive(c.transport, interval, timeout))
        await c.update_session(audio={"input": {"turn_detection": None}})
        await c.create_response()  # greeting: no stall
        await c.recv_until("rate_limits.updated")
        user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "an answer"}]}
        await c.send({"type": "conversation.item.create", "item": user})
        await c.recv_until("conversation.item.done")
        assert not keepalive.done()  # every ping so far was answered
        await c.send({"type": "response.create"})  # the second question
        _, times = await c.recv_until_timed("response.created")
        seen = len(c.seen)
        closed = await until_closed(c)
        assert closed.info.code == 1011 and closed.info.reason == "keepalive ping timeout"
        assert closed.info.by == "client"
        tripped = await keepalive
    stalled_at = times[-1] + stall.at / scenario.speed  # 0.5 s of the question's audio clock
    assert of_type(c.seen[seen:], "response.output_audio.delta")  # the question had begun
    assert len(of_type(c.seen, "response.created")) == 2 and len(of_type(c.seen, "response.done")) == 1
    # the first ping after the stall began went unanswered for the client's whole timeout, long
    # before the stall (4 s) would have ended
    assert stalled_at + timeout <= tripped <= stalled_at + interval + timeout + 0.001
    assert tripped < stalled_at + stall.seconds and loop.time() >= tripped


@pytest.mark.looptime
async def test_stall_holds_every_event_not_only_audio():
    stall = {"kind": "stall", "during": "ack", "at": 0.0, "seconds": 1.0}
    async with await InMemoryTestClient.open(_scenario(stall)) as c:
        events, times = await _timed_response(c, output_modalities=["text"], **_say("ack"))
        assert events[0]["type"] == "response.created"
        text = [t for e, t in zip(events, times, strict=True) if e["type"] == "response.output_text.delta"]
        # stall seconds are real seconds (not divided by speed); text is held as audio would be
        assert text and text[0] - times[0] == pytest.approx(1.0, abs=0.001)
        assert times[-1] - times[0] >= 1.0 - 0.001  # response.done waited too


@pytest.mark.looptime
async def test_a_fault_timed_from_a_response_does_not_outlive_it():
    loop = asyncio.get_running_loop()
    drop = {"kind": "drop", "during": "summary", "at": 1.0}
    async with await InMemoryTestClient.open(_scenario(drop)) as c:
        short = {"instructions": "Say exactly the following: ok", "metadata": {"purpose": "summary"}}
        started = loop.time()
        await c.create_response(**short)  # ends well before 1.0 s of its clock (0.1 s at speed 10)
        events = await c.create_response(**_say("goodbye"))  # 0.45 s: spans the time the drop had
        assert loop.time() - started > 1.0 / 10
        assert events[-1]["response"]["status"] == "completed"
        await c.send({"type": "input_audio_buffer.clear"})
        await c.recv_until("input_audio_buffer.cleared")  # still connected


@pytest.mark.looptime
async def test_a_response_cancelled_before_it_started_arms_no_fault():
    fault = {"kind": "error_event", "during": "ack", "at": 0.0, "message": "boom"}
    latency = {"response_created": 2.0, "first_audio": 0.0}  # 0.2 s at speed 10: time to cancel first
    async with await InMemoryTestClient.open(_scenario(fault, latency=latency)) as c:
        await c.send({"type": "response.create", "response": _say("ack")})
        await c.send({"type": "response.cancel"})
        events = await c.recv_until("response.done")
        assert events[-1]["response"]["status"] == "cancelled"
        await c.create_response(output_modalities=["text"], **_say("other"))
        assert not of_type(c.seen, "error")


# ---- over the websocket: the socket is the point ------------------------------------------------------


async def test_drop_abrupt_during_a_named_response_cuts_tcp_over_the_websocket():
    async with (
        Emulator(_scenario({"kind": "drop", "during": "summary", "at": 1.0})) as emu,
        await _client(emu) as c,
    ):
        await c.create_response(**_say("ack"))  # other purposes are untouched
        await c.send({"type": "response.create", "response": _say("summary")})
        with pytest.raises(ConnectionClosedError) as info:
            while True:
                await c.recv()
        assert info.value.rcvd is None  # no close frame: the transport was cut
        assert of_type(c.seen, "response.output_audio.delta")


async def test_stall_trips_the_clients_keepalive_over_the_websocket():
    scenario = _scenario({"kind": "stall", "at": 0.0, "seconds": 1.5})
    async with Emulator(scenario) as emu:
        async with websockets.connect(emu.realtime_url, ping_interval=0.2, ping_timeout=0.5) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        assert info.value.sent is not None and info.value.sent.code == 1011
        assert "keepalive ping timeout" in str(info.value)
