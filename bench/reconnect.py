"""How long a dropped connection interrupts the interview: from the close to the resumed interview's
first audio, over many drops against the emulator, at real time.

One interview runs against the thread-hosted emulator (``default`` scenario at speed 1, hosted-like
timing) with a ``drop`` fault 0.5 s into every question, reconnectable, `--drops` times in all: each
drop cuts the question, the session reconnects (backoff `reconnect_delay`), tells the new connection
the conversation so far and asks again, and the question asked again is dropped again until the fault
is spent. Drops in a row without a finished response would double the backoff each time (the policy
for a server that keeps failing); the bench caps it at `reconnect_delay` to measure every drop alike.
From the session folder, per drop:

- ``close->audio``: the close to the first audio delta of the resumed interview (what the candidate
  notices), split into ``backoff`` (the wait before the attempt), ``connect`` (opening the websocket),
  ``settings`` (session.update to session.updated), and ``first audio`` (the new request to its audio);
- the baseline, in the same run: a question's request to its first audio without any drop (the
  server's own latency, which a resume pays once more).

Target: close->audio p50 and p95 under 2 s with the default backoff (0.5 s).

    .venv/bin/python bench/reconnect.py [--drops 20] [--reconnect-delay 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interview_kit.assessment import HeuristicAssessor  # noqa: E402
from interview_kit.config import SessionConfig  # noqa: E402
from interview_kit.emulator import Emulator  # noqa: E402
from interview_kit.scenario import Fault, load_scenario  # noqa: E402
from interview_kit.session import InterviewSession  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(drops: int, delay: float, out: Path) -> list[dict[str, Any]]:
    drop = Fault(kind="drop", during="question", at=0.5, mode="abrupt", count=drops, reconnectable=True)
    scenario = dataclasses.replace(load_scenario("default"), speed=1.0, faults=(drop,))
    with Emulator.in_thread(scenario=scenario) as emu:
        # (the local emulator checks no key; the assessor's client only needs one to be set)
        config = SessionConfig(base_url=emu.base_url, api_key="not-a-key", out_dir=out, speed=1.0,
                               reconnect_delay=delay, reconnect_max_delay=delay,
                               reconnect_attempts=drops + 5)
        session = InterviewSession(config, assessor=HeuristicAssessor(), candidate=scenario)
        result = asyncio.run(session.run())
    events = [json.loads(line) for line in (result.folder / "events.jsonl").read_text().splitlines()]
    print(f"outcome {result.outcome}, {result.reconnects} reconnects", file=sys.stderr)
    return events


def measure(events: list[dict[str, Any]]) -> tuple[list[dict[str, float]], list[float]]:
    """Per drop: the stages from the close to the first audio after it; and the undisturbed
    request-to-first-audio latencies (requests answered before any drop came)."""
    drops: list[dict[str, float]] = []
    baseline: list[float] = []
    pending_request: float | None = None
    current: dict[str, float] | None = None
    for e in events:
        kind, t = e["type"], e["t"]
        if kind == "connection.lost":
            current = {"closed": t}
            pending_request = None
        elif current is not None:
            if kind == "connection.reconnecting":  # logged before its backoff
                current["backoff"] = e["data"]["delay_s"]
                current["attempt"] = t + e["data"]["delay_s"]
            elif kind == "connection.opened":
                current["opened"] = t
            elif kind == "session.updated" and "opened" in current:
                current.setdefault("updated", t)
            elif kind == "response.create" and e["dir"] == "out" and "updated" in current:
                current.setdefault("requested", t)
            elif kind == "response.output_audio.delta" and "updated" in current:
                current["audio"] = t
                drops.append(current)
                current = None
        elif kind == "response.create" and e["dir"] == "out":
            pending_request = t
        elif kind == "response.output_audio.delta" and pending_request is not None:
            baseline.append(t - pending_request)
            pending_request = None
    return drops, baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drops", type=int, default=20)
    parser.add_argument("--reconnect-delay", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = run(args.drops, args.reconnect_delay, Path(tmp))
    drops, baseline = measure(events)
    if not drops:
        print("no drop was resumed", file=sys.stderr)
        return 1
    stages = {
        "close->audio": [d["audio"] - d["closed"] for d in drops],
        "  backoff": [d["attempt"] - d["closed"] for d in drops],
        "  connect": [d["opened"] - d["attempt"] for d in drops],
        "  settings": [d["updated"] - d["opened"] for d in drops],
        "  first audio": [d["audio"] - d.get("requested", d["updated"]) for d in drops],
    }
    floor = statistics.median(baseline) if baseline else float("nan")
    print(f"{len(drops)} drops resumed; backoff {args.reconnect_delay:g} s; baseline request->first audio "
          f"p50 {floor * 1000:.0f} ms over {len(baseline)} undisturbed requests")
    print(f"{'stage':16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/base':>9}")
    for name, values in stages.items():
        p50, p95 = pct(values, 0.5), pct(values, 0.95)
        print(f"{name:16} {p50 * 1000:8.0f} {p95 * 1000:8.0f} {max(values) * 1000:8.0f} {p50 / floor:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
