"""Servers that end a session or stop answering: `session_expiry`, `stop_reading`, `silent`.

In memory on looptime's fast-forwarding loop, except one test over TCP: a server that stops reading
must make a real client's writes block (the kernel's buffers fill), which only a socket shows.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from emulator_helpers import (
    STEP_TIMEOUT,
    InMemoryTestClient,
    of_type,
    reopen,
    scenario_from,
    until_closed,
    user_text,
)

from interview_kit.emulator import Emulator, serve_in_memory
from interview_kit.transport import InMemoryPeer

SPEED = 10.0
LONG_LINE = "Say exactly the following: " + " ".join(["word"] * 40)  # 15 s at 160 wpm


def _scenario(*faults: dict, **top) -> object:
    return scenario_from(
        {
            "name": "dead",
            "speed": SPEED,
            "latency": {"response_created": 0.0, "first_audio": 0.0},
            "interviewer": {"questions": ["Q1?", "Q2?"]},
            "faults": list(faults),
            **top,
        }
    )


async def _still_serving(c: InMemoryTestClient) -> None:
    await c.send({"type": "input_audio_buffer.clear"})
    await c.recv_until("input_audio_buffer.cleared")


async def _unanswered(awaitable, within: float) -> bool:
    """True when `awaitable` has not completed `within` seconds of the loop's clock."""
    try:
        await asyncio.wait_for(awaitable, within)
    except TimeoutError:
        return True
    return False


async def _arrivals(c: InMemoryTestClient, within: float) -> list[tuple[float, dict]]:
    """Every event that arrives in the next `within` seconds, with the loop time it arrived at."""
    loop = asyncio.get_running_loop()
    out: list[tuple[float, dict]] = []
    deadline = loop.time() + within
    while (left := deadline - loop.time()) > 0:
        try:
            event = await c.recv(left)
        except TimeoutError:
            break
        out.append((loop.time(), event))
    return out


# ---- session_expiry ------------------------------------------------------------------------------------


@pytest.mark.looptime
@pytest.mark.parametrize("reconnectable", [False, True])
async def test_session_expiry_is_announced_then_ends_the_session_like_the_hosted_limit(reconnectable):
    loop = asyncio.get_running_loop()
    emulator = serve_in_memory(
        _scenario({"kind": "session_expiry", "at": 30.0, "reconnectable": reconnectable})
    )
    for connection in (1, 2):
        wall, opened = time.time(), loop.time()
        c = await InMemoryTestClient.start(emulator)
        created = await c.recv()
        expires_at = created["session"]["expires_at"]
        if connection == 2 and reconnectable:  # spent: only the hosted limit (an hour) is announced
            assert expires_at >= int(wall + 3600) - 1
            await asyncio.sleep(30.0 / SPEED + 1.0)
            await _still_serving(c)
            await c.close()
            break
        assert int(wall + 30.0 / SPEED) - 1 <= expires_at <= int(time.time() + 30.0 / SPEED)  # epoch seconds
        closed = await until_closed(c)
        assert loop.time() - opened == pytest.approx(30.0 / SPEED, abs=0.001)  # the audio clock: ÷ speed
        error = of_type(c.seen, "error")[-1]["error"]
        message = "Your session hit the maximum duration of 3 seconds."
        assert (error["type"], error["code"], error["message"]) == (
            "invalid_request_error",
            "session_expired",
            message,
        )
        assert (closed.info.code, closed.info.reason, closed.info.by) == (1001, message, "server")


# ---- stop_reading --------------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_stop_reading_sends_nothing_more_answers_no_ping_and_blocks_the_clients_sends():
    loop = asyncio.get_running_loop()
    emulator = serve_in_memory(_scenario({"kind": "stop_reading", "during": "summary", "at": 2.0}))
    c = await InMemoryTestClient.open(emulator)
    assert not await _unanswered(await c.transport.ping(), 1.0)  # answered before the fault
    await c.send(
        {
            "type": "response.create",
            "response": {"instructions": LONG_LINE, "metadata": {"purpose": "summary"}},
        }
    )
    await c.recv_until("response.created")
    stopped_at = loop.time() + 2.0 / SPEED
    arrivals = await _arrivals(c, 30.0)
    assert arrivals and all(t <= stopped_at + 1e-6 for t, _ in arrivals)  # nothing after the fault
    assert any(e["type"] == "response.output_audio.delta" for _, e in arrivals)  # stopped mid-line
    assert all(e["type"] != "response.done" for e in c.seen)
    seen = len(c.seen)
    assert await _unanswered(await c.transport.ping(), 30.0)  # pings go unanswered
    # the client's frames pile up in the buffers; then its sends block
    frame = {"type": "input_audio_buffer.append", "audio": "A" * 64_000}
    sent = 0
    while not await _unanswered(c.send(frame), 5.0):
        sent += 1
        assert sent * 64_000 <= InMemoryPeer.SOCKET_BUFFER_BYTES + 64_000
    assert sent * 64_000 >= InMemoryPeer.SOCKET_BUFFER_BYTES - 64_000  # the buffer took its fill first
    assert len(c.seen) == seen and loop.time() > stopped_at + 60.0  # it never resumes
    (conversation,) = emulator.connections
    await c.close()
    await asyncio.sleep(2.0)
    assert conversation.closed and not emulator.connections  # the server's end is gone with the client


@pytest.mark.looptime
async def test_stop_reading_at_a_time_holds_the_keepalive_too():
    scenario = _scenario({"kind": "stop_reading", "at": 1.0}, ping_interval=0.5, ping_timeout=0.5)
    async with await InMemoryTestClient.open(scenario) as c:
        await asyncio.sleep(5.0)  # a server that stopped pings nobody and so never closes for a missing pong
        assert not c.transport.close_info and await _unanswered(c.recv(), 10.0)


# ---- silent --------------------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_silent_answers_pings_and_reads_but_sends_no_event():
    emulator = serve_in_memory(_scenario({"kind": "silent", "at": 1.0}))
    c = await InMemoryTestClient.open(emulator)
    await _still_serving(c)  # before the fault
    await asyncio.sleep(1.0 / SPEED)
    await c.send({"type": "conversation.item.create", "item": user_text("an answer")})
    await c.send({"type": "response.create"})
    assert await _unanswered(c.recv(), 30.0)  # no item.added, no response: nothing at all
    assert not await _unanswered(await c.transport.ping(), 1.0)  # but pings are answered
    (conversation,) = emulator.connections
    assert conversation.script.answers == 1 and len(conversation.items) == 2  # it read and handled both
    await c.close()


@pytest.mark.looptime
async def test_reconnectable_silence_is_spent_on_the_next_connection():
    emulator = serve_in_memory(_scenario({"kind": "silent", "at": 0.0, "reconnectable": True}))
    c = await InMemoryTestClient.start(emulator)
    assert (await c.recv())["type"] == "session.created"  # sent before the fault at 0
    await c.send({"type": "input_audio_buffer.clear"})
    assert await _unanswered(c.recv(), 10.0)
    fresh = await reopen(c)
    await _still_serving(fresh)
    await fresh.close()
    await c.close()


# ---- over TCP: the client's writes really block --------------------------------------------------------


async def test_stop_reading_over_tcp_blocks_the_clients_writes_and_pings():
    async with Emulator(_scenario({"kind": "stop_reading", "at": 0.0})) as emu:
        ws = await asyncio.wait_for(websockets.connect(emu.realtime_url, ping_interval=None), STEP_TIMEOUT)
        try:
            assert json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT))["type"] == "session.created"
            await asyncio.sleep(0.2)  # the fault fires at once; let it
            frame = json.dumps({"type": "input_audio_buffer.append", "audio": "A" * 1_000_000})
            blocked = False
            for _ in range(200):  # at most 200 MB: the kernel's buffers hold a few MB
                try:
                    await asyncio.wait_for(ws.send(frame), 1.0)
                except TimeoutError:
                    blocked = True
                    break
            assert blocked, "the client's send never blocked"
            try:
                pong = await asyncio.wait_for(ws.ping(), 0.5)
            except TimeoutError:  # the ping cannot even be written: it waits behind the blocked send
                pong = None
            assert pong is None or await _unanswered(pong, 0.5)
        finally:
            ws.transport.abort()  # a close would wait for a server that no longer reads
