"""The original failure, measured: a 5 s synchronous report in each assessment mode.

For each mode (overlap, after-ack, blocking) a whole interview runs against the thread-hosted emulator
(``slow-report`` scenario: keepalive pings every 0.5 s, 1 s timeout on both sides; audio sped up) with
an assessor whose report is a synchronous 5 s call (``time.sleep``, then the offline heuristic), the
shape of the original client's model call. From each session folder it reads the longest event-loop
stall during the assessment (trigger to end) and before it, the keepalive round trips during the
assessment, the report time and how the session ended.

Target: longest assessment stall under 20 ms in the default (overlap) mode, against ~5000 ms in
`blocking`, which must reproduce the 1011 "keepalive ping timeout" close.

    .venv/bin/python bench/loop_stall.py [--report-seconds 5] [--speed 20] [--modes overlap blocking]

The startup heap is frozen (``gc.freeze()``) before each run, as ``interview-kit demo`` does: a full
garbage collection over the imported libraries otherwise pauses every thread for ~50 ms at random.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interview_kit.assessment import AssessmentPrompt, AssessmentReport, HeuristicAssessor  # noqa: E402
from interview_kit.config import SessionConfig  # noqa: E402
from interview_kit.emulator import Emulator  # noqa: E402
from interview_kit.scenario import load_scenario  # noqa: E402
from interview_kit.session import InterviewSession  # noqa: E402

STALL_THRESHOLD = 0.005  # record every stall over 5 ms (the session default is 50 ms)


class SlowSyncAssessor(HeuristicAssessor):
    """A synchronous report that takes `seconds` (like a blocking model call), then a real report."""

    name = "slow-sync"

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.model = f"heuristic+sleep{seconds:g}s"

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        time.sleep(self.seconds)
        return super().assess_sync(turns, prompt)


def run_mode(mode: str, seconds: float, speed: float, out: Path, freeze: bool = True) -> dict[str, Any]:
    scenario = dataclasses.replace(load_scenario("slow-report"), speed=speed)
    with Emulator.in_thread(scenario=scenario) as emu:
        config = SessionConfig(base_url=emu.base_url, api_key="bench", out_dir=out, speed=speed,
                               assessment_mode=mode, stall_threshold=STALL_THRESHOLD)
        config = config.with_overrides(scenario.client)
        session = InterviewSession(config, assessor=SlowSyncAssessor(seconds), candidate=scenario)
        if freeze:
            gc.collect()
            gc.freeze()
        try:
            result = asyncio.run(asyncio.wait_for(session.run(), 120))
        finally:
            gc.unfreeze()
    events = [json.loads(line) for line in (result.folder / "events.jsonl").read_text().splitlines()]
    trigger = next((e["t"] for e in events if e["type"] == "assessment.trigger"), float("inf"))
    stalls_before = [e["data"]["duration_ms"] for e in events if e["type"] == "loop.stall"
                     and e["data"]["started"] < trigger]
    stalls_after = [e["data"]["duration_ms"] for e in events if e["type"] == "loop.stall"
                    and e["data"]["started"] >= trigger]
    pings = [e["data"] for e in events if e["type"] == "ping" and e["t"] >= trigger]
    rtts = [p["rtt_ms"] for p in pings if "rtt_ms" in p]
    return {
        "mode": mode,
        "outcome": result.outcome,
        "close": f"{result.close_code} {result.close_reason or ''}".strip(),
        "stall_ms": max(stalls_after, default=0.0),
        "stall_before_ms": max(stalls_before, default=0.0),
        "pings": len(pings),
        "ping_max_ms": max(rtts, default=float("nan")),
        "ping_lost": len(pings) - len(rtts),
        "report_s": result.report_duration_s,
        "folder": str(result.folder),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report-seconds", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=20.0, help="audio clock multiplier of the interview")
    parser.add_argument("--modes", nargs="+", default=["overlap", "after-ack", "blocking"])
    parser.add_argument("--keep", action="store_true", help="keep the session folders (path printed)")
    parser.add_argument("--no-freeze", action="store_true", help="leave the startup heap to the collector")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="loop-stall-"))
    rows = [run_mode(mode, args.report_seconds, args.speed, tmp, not args.no_freeze) for mode in args.modes]
    print(f"report: synchronous {args.report_seconds:g} s; scenario slow-report (keepalive 0.5 s / 1.0 s), "
          f"speed {args.speed:g}, startup heap {'left to the collector' if args.no_freeze else 'frozen'}")
    header = (f"{'mode':<10}{'longest stall ms':>18}{'(before trigger)':>18}{'pings':>7}{'max rtt ms':>12}"
              f"{'lost':>6}{'report s':>10}  outcome / close")
    print(header)
    print(f"{'':<10}{'(< 5 ms shows as 0)':>18}")
    for r in rows:
        report = "-" if r["report_s"] is None else f"{r['report_s']:.2f}"
        print(f"{r['mode']:<10}{r['stall_ms']:>18.1f}{r['stall_before_ms']:>18.1f}{r['pings']:>7}"
              f"{r['ping_max_ms']:>12.2f}{r['ping_lost']:>6}{report:>10}  {r['outcome']} / {r['close']}")
    by_mode = {r["mode"]: r for r in rows}
    if "overlap" in by_mode and "blocking" in by_mode:
        base = max(by_mode["overlap"]["stall_ms"], 1.0)
        print(f"blocking / overlap longest stall: {by_mode['blocking']['stall_ms'] / base:.0f}x "
              f"(overlap target < 20 ms: {'met' if by_mode['overlap']['stall_ms'] < 20 else 'MISSED'})")
    if args.keep:
        print(f"session folders in {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
