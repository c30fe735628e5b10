"""How many concurrent real-time sessions one emulator process paces well.

The emulator runs as `interview-kit emulator` in its own process (so its CPU is measured apart from
the clients'); this process opens N websocket sessions, each asking for one long interviewer line
spoken at real time (speed 1.0), and timestamps every ``response.output_audio.delta`` on arrival.

Jitter of a delta is its lateness against the session's ideal audio clock: with chunk duration c,
delta k should arrive at origin + k*c; origin is the session's earliest consistent start
(min over k of arrival_k - k*c), so jitter >= 0 and 0 means "exactly on the clock".
The first row (1 session) is the baseline; other rows show their p99 as a ratio to it.

    .venv/bin/python bench/emulator_capacity.py                      # N = 1 (baseline), 10, 50, 100, 200
    .venv/bin/python bench/emulator_capacity.py --sessions 10 --seconds 5   # quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import websockets

from interview_kit.emulator.speech import CHUNK_MS

WPM = 160.0


def scenario_toml(seconds: float) -> str:
    words = max(1, int(seconds * WPM / 60))
    line = " ".join(f"word{i % 50}" for i in range(words))
    return f"""name = "capacity"
speed = 1.0
ping_interval = 20.0
ping_timeout = 20.0
[interviewer]
greeting = "{line}"
words_per_minute = {WPM}
[latency]
response_created = 0.0
first_audio = 0.0
"""


async def one_session(url: str, delay: float, arrivals: list[float]) -> None:
    await asyncio.sleep(delay)
    async with websockets.connect(url, max_size=None, compression=None, ping_interval=None) as ws:
        await asyncio.wait_for(ws.recv(), 30)  # session.created
        await ws.send(json.dumps({"type": "response.create"}))
        while True:
            frame = await asyncio.wait_for(ws.recv(), 60)
            now = time.perf_counter()
            head = frame[:48]
            if "output_audio.delta" in head:
                arrivals.append(now)
            elif '"response.done"' in head or '"type":"response.done"' in frame[:200]:
                return


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def jitter_ms(arrivals: list[float]) -> np.ndarray:
    chunk = CHUNK_MS / 1000
    ideal = np.arange(len(arrivals)) * chunk
    offsets = np.asarray(arrivals) - ideal
    return (offsets - offsets.min()) * 1000


async def run(url: str, sessions: int, stagger: float, server: psutil.Process) -> dict[str, float]:
    per_session: list[list[float]] = [[] for _ in range(sessions)]
    me = psutil.Process()
    server_cpu0, client_cpu0 = cpu_seconds(server), cpu_seconds(me)
    wall0 = time.perf_counter()
    rng = random.Random(sessions)
    starts = [rng.uniform(0, stagger) for _ in range(sessions)]
    await asyncio.gather(
        *(one_session(url, start, arrivals) for start, arrivals in zip(starts, per_session, strict=True))
    )
    wall = time.perf_counter() - wall0
    server_cpu, client_cpu = cpu_seconds(server) - server_cpu0, cpu_seconds(me) - client_cpu0
    jitters = np.concatenate([jitter_ms(a) for a in per_session if len(a) > 1])
    return {
        "sessions": sessions,
        "deltas": int(sum(len(a) for a in per_session)),
        "p50": float(np.percentile(jitters, 50)),
        "p99": float(np.percentile(jitters, 99)),
        "max": float(jitters.max()),
        "server_cpu": 100 * server_cpu / wall,
        "client_cpu": 100 * client_cpu / wall,
        "wall": wall,
    }


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capacity.toml"
        path.write_text(scenario_toml(args.seconds), encoding="utf-8")
        command = [sys.executable, "-m", "interview_kit", "emulator", "--port", "0", "--scenario", str(path)]
        proc = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE)
        try:
            base = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
            if not base.startswith("http://"):
                print(f"emulator did not start: {base!r}", file=sys.stderr)
                return 1
            url = base.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
            server = psutil.Process(proc.pid)
            print(
                f"emulator pid {proc.pid}; {os.cpu_count()} CPUs; {args.seconds:g} s of audio per session; "
                f"{CHUNK_MS} ms per delta; sessions start within {args.stagger:g} s"
            )
            print(
                f"{'N':>5} {'deltas':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p99/base':>9} "
                f"{'server CPU%':>12} {'client CPU%':>12}"
            )
            baseline = None
            counts = [1, *args.sessions] if args.baseline else list(args.sessions)
            for n in counts:
                r = await run(url, n, args.stagger, server)
                baseline = baseline or r["p99"]
                ratio = r["p99"] / max(baseline, 1e-3)
                print(
                    f"{n:>5} {r['deltas']:>7} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.2f} "
                    f"{ratio:>9.1f} {r['server_cpu']:>12.1f} {r['client_cpu']:>12.1f}",
                    flush=True,
                )
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio seconds per session")
    parser.add_argument("--stagger", type=float, default=1.0, help="sessions start at random within this (s)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the 1-session row")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
