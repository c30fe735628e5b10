"""What the session's dispatch costs per server event, against the floor of merely decoding it.

First one whole interview runs against the emulator (thread-hosted, default scenario, sped up) and
every server frame the session received is recorded. Then, in one process and one loop, the same
frames go (a) through a fresh session's real dispatch (`InterviewSession._dispatch`: parse, bind ids,
event-log line with the audio trimmed, virtual output enqueue, flow) with a real EventLog writing to a
temporary folder, and (b) through the floor: `json.loads` plus a base64 decode of each audio delta.
Both are timed over several rounds; the best round of each is kept (the least disturbed by the shared
machine). Target: dispatch under 2x the floor.

    .venv/bin/python bench/event_overhead.py [--rounds 7] [--speed 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interview_kit.assessment import HeuristicAssessor  # noqa: E402
from interview_kit.audio import VirtualOutput  # noqa: E402
from interview_kit.config import SessionConfig  # noqa: E402
from interview_kit.emulator import Emulator  # noqa: E402
from interview_kit.scenario import load_scenario  # noqa: E402
from interview_kit.session import InterviewSession  # noqa: E402


class RecordingSession(InterviewSession):
    """A session that keeps every server frame it dispatched."""

    frames: list[str | bytes]

    def _dispatch(self, frame: str | bytes) -> None:
        self.frames.append(frame)
        super()._dispatch(frame)


def record_frames(speed: float, out: Path) -> list[str | bytes]:
    scenario = dataclasses.replace(load_scenario("default"), speed=speed)
    with Emulator.in_thread(scenario=scenario) as emu:
        config = SessionConfig(base_url=emu.base_url, api_key="bench", out_dir=out, speed=speed)
        session = RecordingSession(config, assessor=HeuristicAssessor(), candidate=scenario)
        session.frames = []
        result = asyncio.run(asyncio.wait_for(session.run(), 120))
    if result.outcome != "complete":
        raise SystemExit(f"the recording interview ended {result.outcome}; cannot benchmark")
    return session.frames


def floor(frames: list[str | bytes]) -> None:
    for frame in frames:
        event = json.loads(frame)
        delta = event.get("delta")
        if event["type"] == "response.output_audio.delta" and isinstance(delta, str):
            base64.b64decode(delta)


async def dispatch_round(frames: list[str | bytes], out: Path) -> float:
    """Seconds to dispatch every frame through a fresh session (real event log, virtual output)."""
    config = SessionConfig(base_url="http://127.0.0.1:9/v1", api_key="bench", out_dir=out, speed=20.0)
    session = InterviewSession(config, output=VirtualOutput(None, speed=20.0), assessor=HeuristicAssessor())
    session._open()
    await session._output.start()
    start = time.perf_counter()
    for frame in frames:
        session._dispatch(frame)
    elapsed = time.perf_counter() - start
    await session._output.close()
    assert session._log is not None
    session._log.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--speed", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        frames = record_frames(args.speed, Path(tmp) / "recorded")
        kinds = collections.Counter(json.loads(f)["type"] for f in frames)
        audio = kinds["response.output_audio.delta"]
        print(f"recorded {len(frames)} server events from one interview ({audio} audio deltas, "
              f"{sum(len(f) for f in frames) / 1e6:.1f} MB)")
        gc.collect()
        gc.freeze()
        floors, dispatches = [], []
        for i in range(args.rounds):
            t = time.perf_counter()
            floor(frames)
            floors.append(time.perf_counter() - t)
            dispatches.append(asyncio.run(dispatch_round(frames, Path(tmp) / f"round{i}")))
        gc.unfreeze()
    n = len(frames)
    best_floor, best_dispatch = min(floors), min(dispatches)
    print(f"{'':28}{'best us/event':>14}{'median us/event':>17}")
    for name, values in (("floor (json.loads + b64)", floors), ("session dispatch", dispatches)):
        print(f"{name:28}{min(values) / n * 1e6:14.1f}{sorted(values)[len(values) // 2] / n * 1e6:17.1f}")
    ratio = best_dispatch / best_floor
    print(f"dispatch / floor: {ratio:.2f}x (target < 2x) -> {'met' if ratio < 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
