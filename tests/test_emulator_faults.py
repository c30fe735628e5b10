"""Each realtime fault a scenario can inject, as the client sees it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from emulator_helpers import STEP_TIMEOUT, RealtimeTestClient, fast, of_type, scenario_from
from websockets.exceptions import ConnectionClosedError

from interview_kit import voice
from interview_kit.emulator import Emulator
from interview_kit.scenario import load_scenario

LINE = "one two three four five six seven eight nine ten eleven twelve"  # 4.5 s at 160 wpm


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
    await c.send({"type": "response.create", "response": response})
    events, times = [], []
    while not events or events[-1]["type"] != "response.done":
        events.append(await c.recv())
        times.append(time.monotonic())
    return events, times


def _first_audio_after_created(events: list[dict], times: list[float]) -> float:
    first = next(i for i, e in enumerate(events) if e["type"] == "response.output_audio.delta")
    return times[first] - times[0]


async def test_first_audio_delay():
    async with (
        Emulator(_scenario({"kind": "first_audio_delay", "seconds": 10.0, "during": "ack"})) as emu,
        await _client(emu) as c,
    ):
        delayed = _first_audio_after_created(*await _timed_response(c, **_say("ack")))
        assert delayed >= 10.0 / 10 - 0.01  # 10 s of the scenario's clock at speed 10
        undelayed = _first_audio_after_created(*await _timed_response(c, **_say("summary")))
        assert undelayed < delayed / 2  # other purposes are not delayed (latencies are 0 here)


async def test_slow_audio_paces_below_real_time():
    async with Emulator(_scenario({"kind": "slow_audio", "factor": 0.5})) as emu, await _client(emu) as c:
        events, times = await _timed_response(c, **_say())
        deltas = [t for e, t in zip(events, times, strict=True) if e["type"] == "response.output_audio.delta"]
        audio_s = voice.speech_duration(LINE, 160)
        # delta k leaves k chunks of audio later on a clock running at speed * factor = 5x
        assert deltas[-1] - deltas[0] >= (audio_s - 0.1) / 5 - 0.02


async def test_drop_abrupt_during_a_named_response():
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


async def test_drop_with_close_1011_at_a_time():
    async with (
        Emulator(_scenario({"kind": "drop", "at": 2.0, "mode": "close_1011"})) as emu,
        await _client(emu) as c,
    ):
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError) as info:
            while True:
                await c.recv()
        assert info.value.rcvd.code == 1011
        assert time.monotonic() - started >= 2.0 / 10 - 0.05


async def test_stall_trips_the_clients_keepalive():
    scenario = _scenario({"kind": "stall", "at": 0.0, "seconds": 1.5})
    async with Emulator(scenario) as emu:
        async with websockets.connect(emu.realtime_url, ping_interval=0.2, ping_timeout=0.5) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        assert info.value.sent is not None and info.value.sent.code == 1011
        assert "keepalive ping timeout" in str(info.value)


async def test_stall_holds_requests_then_resumes():
    async with (
        Emulator(_scenario({"kind": "stall", "at": 0.0, "seconds": 1.0})) as emu,
        websockets.connect(emu.realtime_url, ping_interval=None) as ws,
    ):
        await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
        await asyncio.sleep(0.05)
        sent = time.monotonic()
        await ws.send(json.dumps({"type": "response.create"}))
        event = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
        assert event["type"] == "response.created" and time.monotonic() - sent >= 0.8


async def test_no_metadata_echo():
    async with Emulator(_scenario({"kind": "no_metadata_echo"})) as emu, await _client(emu) as c:
        events = await c.create_response(metadata={"purpose": "ack"})
        assert events[0]["response"]["metadata"] is None
        assert of_type(events, "response.done")[0]["response"]["metadata"] is None


async def test_error_event_during_a_response():
    fault = {"kind": "error_event", "during": "summary", "at": 0.0, "code": "server_error", "message": "boom"}
    async with Emulator(_scenario(fault)) as emu, await _client(emu) as c:
        await c.send({"type": "response.create", "response": _say("summary")})
        events = await c.recv_until("error")
        assert events[-1]["error"]["message"] == "boom" and events[-1]["error"]["code"] == "server_error"
        await c.recv_until("response.done")  # the connection and the response carry on


async def test_shipped_fault_scenarios_describe_the_failures():
    slow = load_scenario("slow-report")
    assert slow.report_delay == 5.0 and (slow.ping_interval, slow.ping_timeout) == (0.5, 1.0)
    assert slow.client == {"ping_interval": 0.5, "ping_timeout": 1.0}
    drop = load_scenario("drop-during-summary").faults[0]
    assert (drop.kind, drop.during, drop.at, drop.mode) == ("drop", "summary", 1.0, "abrupt")
    stalled = load_scenario("stalled-server")
    assert (
        stalled.faults[0].kind == "stall" and stalled.faults[0].seconds > stalled.client["ping_timeout"] * 2
    )


async def test_stalled_server_scenario_stalls_during_the_second_question():
    async with Emulator(fast("stalled-server", speed=20)) as emu:
        async with websockets.connect(emu.realtime_url, ping_interval=0.5, ping_timeout=1.0) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "session.update",
                        "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                    }
                )
            )
            await ws.send(json.dumps({"type": "response.create"}))  # greeting: no stall
            await ws.send(
                json.dumps(
                    {
                        "type": "conversation.item.create",
                        "item": {
                            "type": "message",
                            "role": "user",
                            "content": [{"type": "input_text", "text": "an answer"}],
                        },
                    }
                )
            )
            types = []
            with pytest.raises(ConnectionClosedError) as info:
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))
                    types.append(event["type"])
                    if event["type"] == "response.done" and types.count("response.done") == 1:
                        await ws.send(json.dumps({"type": "response.create"}))  # the second question
        assert types.count("response.created") == 2 and types.count("response.done") == 1
        assert "keepalive ping timeout" in str(info.value)


async def test_stall_holds_every_event_not_only_audio():
    stall = {"kind": "stall", "during": "ack", "at": 0.0, "seconds": 1.0}
    async with Emulator(_scenario(stall)) as emu, await _client(emu) as c:
        events, times = await _timed_response(c, output_modalities=["text"], **_say("ack"))
        assert events[0]["type"] == "response.created"
        text = [t for e, t in zip(events, times, strict=True) if e["type"] == "response.output_text.delta"]
        assert text and text[0] - times[0] >= 0.8  # stall seconds are wall-clock seconds
        assert times[-1] - times[0] >= 0.8  # response.done waited too


async def test_a_fault_timed_from_a_response_does_not_outlive_it():
    async with (
        Emulator(_scenario({"kind": "drop", "during": "summary", "at": 1.0})) as emu,
        await _client(emu) as c,
    ):
        short = {"instructions": "Say exactly the following: ok", "metadata": {"purpose": "summary"}}
        await c.create_response(**short)  # ends well before 1.0 s of its clock (0.1 s at speed 10)
        events = await c.create_response(**_say("goodbye"))  # 0.45 s: spans the time the drop had
        assert events[-1]["response"]["status"] == "completed"
        await c.send({"type": "input_audio_buffer.clear"})
        await c.recv_until("input_audio_buffer.cleared")  # still connected


async def test_a_response_cancelled_before_it_started_arms_no_fault():
    fault = {"kind": "error_event", "during": "ack", "at": 0.0, "message": "boom"}
    latency = {"response_created": 2.0, "first_audio": 0.0}  # 0.2 s at speed 10: time to cancel first
    async with Emulator(_scenario(fault, latency=latency)) as emu, await _client(emu) as c:
        await c.send({"type": "response.create", "response": _say("ack")})
        await c.send({"type": "response.cancel"})
        events = await c.recv_until("response.done")
        assert events[-1]["response"]["status"] == "cancelled"
        await c.create_response(output_modalities=["text"], **_say("other"))
        assert not of_type(c.seen, "error")
