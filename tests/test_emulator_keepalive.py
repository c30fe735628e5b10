"""Keepalive as the original failure saw it: a client whose loop is blocked is closed with 1011.

Everything here runs over the real websocket on the wall clock, because the socket is the point: the
aiohttp server's own pings, a ``websockets`` client whose blocked loop cannot pong, the close frame it
still reads afterwards, the listening port and the 1001 of a server that stops. The same keepalive on
the loop's clock, in memory, is in test_emulator_inmemory.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
import websockets
from emulator_helpers import STEP_TIMEOUT, fast, validate_server_event
from websockets.exceptions import ConnectionClosedError

from interview_kit.emulator import Emulator

EXPECTED = "received 1011 (internal error) keepalive ping timeout"


def _short_keepalive():
    return fast("default", ping_interval=0.3, ping_timeout=0.6)


async def _blocked_client(url: str, block_s: float) -> ConnectionClosedError:
    """Connect, then block this loop (as a synchronous report call would) and read on afterwards."""
    async with websockets.connect(url, ping_interval=None, max_size=None) as ws:
        validate_server_event(json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)))
        time.sleep(block_s)  # noqa: ASYNC251 - the bug itself: blocking work on the loop, no pongs
        try:
            while True:
                validate_server_event(json.loads(await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)))
        except ConnectionClosedError as exc:
            return exc
    raise AssertionError("the connection was not closed")


def test_thread_hosted_emulator_closes_a_blocked_client_with_1011():
    with Emulator.in_thread(_short_keepalive()) as emu:
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/v1"
        exc = asyncio.run(_blocked_client(emu.realtime_url, 2.0))
    assert str(exc).startswith(EXPECTED)
    assert exc.rcvd is not None and exc.rcvd.code == 1011 and exc.rcvd.reason == "keepalive ping timeout"


async def test_async_emulator_closes_a_blocked_client_with_1011_and_keeps_a_responsive_one():
    scenario = _short_keepalive()
    async with (
        Emulator(scenario) as emu,
        websockets.connect(emu.realtime_url, ping_interval=None) as responsive,
    ):
        await asyncio.wait_for(responsive.recv(), STEP_TIMEOUT)
        result: list[BaseException] = []

        def client_thread() -> None:  # the client's own loop, blocked while the emulator's runs here
            try:
                result.append(asyncio.run(_blocked_client(emu.realtime_url, 2.0)))
            except BaseException as exc:
                result.append(exc)

        started = time.monotonic()
        thread = threading.Thread(target=client_thread)
        thread.start()
        await asyncio.wait_for(asyncio.to_thread(thread.join, STEP_TIMEOUT), STEP_TIMEOUT + 1)
        # meanwhile the responsive client, whose loop (this one) is free, answered every ping of the
        # same server for more than two whole ping intervals + timeouts, and is still served
        assert time.monotonic() - started >= 2 * (scenario.ping_interval + scenario.ping_timeout)
        await responsive.send(json.dumps({"type": "response.create"}))
        event = json.loads(await asyncio.wait_for(responsive.recv(), STEP_TIMEOUT))
        assert event["type"] == "response.created"
    assert isinstance(result[0], ConnectionClosedError), result
    assert str(result[0]).startswith(EXPECTED)


def test_in_thread_reports_a_port_in_use():
    with Emulator.in_thread("default") as emu:
        busy = Emulator.in_thread("default", port=emu.port, timeout=5.0)
        with pytest.raises(RuntimeError, match="could not start"):
            busy.start()


async def test_stop_closes_open_websockets_with_1001():
    emu = await Emulator(fast("default")).start()
    ws = await websockets.connect(emu.realtime_url, ping_interval=None)
    await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    await asyncio.wait_for(emu.stop(), STEP_TIMEOUT)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), STEP_TIMEOUT)
    assert ws.close_code == 1001
