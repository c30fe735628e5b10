"""Loop-lag and keepalive monitors: they see a blocked loop and every ping's round trip."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from interview_kit.monitor import KeepaliveMonitor, LoopLagMonitor


def block_loop(seconds: float) -> None:
    """What the original bug did: synchronous work on the event loop."""
    time.sleep(seconds)


async def test_a_blocked_loop_is_recorded_as_a_stall() -> None:
    seen: list[tuple[float, float]] = []
    monitor = LoopLagMonitor(lambda start, duration, _cpu: seen.append((start, duration)), threshold=0.05)
    monitor.start()
    await asyncio.sleep(0.05)
    before = time.monotonic()
    block_loop(0.4)
    await asyncio.sleep(0.05)
    await monitor.stop()
    assert seen == monitor.stalls
    worst_start, worst = max(monitor.stalls, key=lambda s: s[1])
    assert worst == monitor.longest_stall
    assert worst >= 0.35  # the stall covers (nearly) the whole block
    assert before - 0.05 <= worst_start <= before + 0.05  # it started when the block began
    assert not monitor.running


async def test_work_moved_off_the_loop_does_not_stall_it() -> None:
    monitor = LoopLagMonitor(None, threshold=0.05)
    monitor.start()
    await asyncio.sleep(0.05)
    seen_before, began = monitor.lags_seen, time.monotonic()
    await asyncio.wait_for(asyncio.to_thread(block_loop, 1.0), 10)  # the fix: same work, in a thread
    seen_during, ended = monitor.lags_seen - seen_before, time.monotonic()
    await monitor.stop()
    # the loop kept turning, and was watched, while the work ran (blocked, it would not have turned at all)
    assert seen_during > 5
    # ...so no stall spans the work, as the same work on the loop does (above)
    assert not [(due, lag) for due, lag in monitor.stalls if due <= began + 0.05 <= ended - 0.05 <= due + lag]


async def test_a_failing_callback_does_not_stop_the_monitor() -> None:
    calls = 0

    def broken(start: float, duration: float, cpu: float) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("handler bug")

    monitor = LoopLagMonitor(broken, threshold=0.05)
    monitor.start()
    monitor.start()  # a second start is a no-op
    for _ in range(2):
        await asyncio.sleep(0.03)
        block_loop(0.15)
    await asyncio.sleep(0.03)
    assert monitor.running
    await monitor.stop()
    await monitor.stop()
    assert calls == len(monitor.stalls) >= 2


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        LoopLagMonitor(None, threshold=0)
    with pytest.raises(ValueError):
        KeepaliveMonitor(lambda: None, None, interval=-1)  # type: ignore[arg-type, return-value]


async def echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


async def test_round_trips_of_real_websocket_pings() -> None:
    results: list[float | None] = []
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", ping_interval=None) as ws:
            monitor = KeepaliveMonitor(ws.ping, results.append, interval=0.02, timeout=2.0)
            monitor.start()
            for _ in range(200):
                if len(results) >= 3:
                    break
                await asyncio.sleep(0.01)
            await monitor.stop()
    assert len(results) >= 3 and results == monitor.round_trips[: len(results)]
    assert all(r is not None and r > 0 for r in results)  # every ping answered (a timeout is None)


async def test_an_unanswered_ping_is_a_timeout_and_the_monitor_goes_on() -> None:
    results: list[float | None] = []
    answered = 0

    async def ping() -> asyncio.Future[float]:
        nonlocal answered
        pong: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if answered == 0:  # the first pong never comes (a stalled peer)
            answered += 1
        else:
            asyncio.get_running_loop().call_later(0.01, pong.set_result, 0.01)
        return pong

    monitor = KeepaliveMonitor(ping, results.append, interval=0.01, timeout=0.1)
    monitor.start()
    for _ in range(300):
        if len(results) >= 2:
            break
        await asyncio.sleep(0.01)
    await monitor.stop()
    assert results[0] is None
    assert results[1] is not None and results[1] >= 0.01


async def test_a_closed_connection_ends_the_monitor_quietly() -> None:
    results: list[float | None] = []
    async with websockets.serve(echo, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await websockets.connect(f"ws://127.0.0.1:{port}", ping_interval=None)
        monitor = KeepaliveMonitor(ws.ping, results.append, interval=0.02, timeout=1.0)
        monitor.start()
        await asyncio.wait_for(ws.close(), 5)
        for _ in range(300):
            if not monitor.running:
                break
            await asyncio.sleep(0.01)
    assert not monitor.running
    assert monitor.ended_by is not None and "ConnectionClosed" in monitor.ended_by
    await monitor.stop()  # stopping an ended monitor is fine


async def test_a_stall_says_whether_the_loop_was_working_or_could_not_run() -> None:
    """Busy work on the loop uses the loop thread's CPU for the whole stall; a blocking call (like the
    original bug's synchronous HTTP request, or waiting for another thread's GIL) uses next to none."""
    seen: list[tuple[float, float]] = []
    monitor = LoopLagMonitor(lambda _start, duration, cpu: seen.append((duration, cpu)), threshold=0.05)
    monitor.start()
    await asyncio.sleep(0.05)
    block_loop(0.3)  # waiting: no CPU
    await asyncio.sleep(0.05)
    spin_until = time.monotonic() + 0.3
    while time.monotonic() < spin_until:  # working: CPU all along
        pass
    await asyncio.sleep(0.05)
    await monitor.stop()
    waited, worked = [(duration, cpu) for duration, cpu in seen if duration >= 0.25]  # in their order
    assert waited[1] < 0.02, seen  # (a loaded machine gives the spinning loop less than all of the CPU)
    assert worked[1] >= 0.05, seen
