"""The machine's floor for event-loop stalls: an empty asyncio loop, watched by the session's own
`LoopLagMonitor`, in a process of its own.

Nothing runs on this loop but the monitor, so every stall it logs is the machine's: the process was not
given a CPU in time (other processes, the hypervisor taking the virtual CPU away). Run it beside an
interview and compare: a kernel whose stalls match the floor's, and whose loop used no CPU during them
(`cpu_ms`, see `LoopLagMonitor`), stalls because of the machine, not because of its own work. The
real-browser test runs it during its interview (`tests/browser_helpers.machine_floor`).

    .venv/bin/python bench/loop_floor.py [--seconds 60] [--threshold 0.005]
    .venv/bin/python bench/loop_floor.py --until-stdin-closes   # (how the browser test runs it)

Prints one JSON object: how long it watched, the stalls over the threshold (count, median, longest, the
longest loop CPU during one) and, with ``--list``, each stall as [wall time, ms, cpu ms].
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from interview_kit.monitor import LoopLagMonitor


async def watch(seconds: float | None, threshold: float) -> tuple[float, list[list[float]]]:
    """Watch an empty loop for `seconds` (None: until stdin closes); the stalls as [wall, ms, cpu ms]."""
    stalls: list[list[float]] = []
    offset = time.time() - time.monotonic()

    def on_stall(start: float, duration: float, cpu: float) -> None:
        stalls.append([round(start + offset, 3), round(duration * 1000, 3), round(cpu * 1000, 3)])

    monitor = LoopLagMonitor(on_stall, threshold=threshold)
    began = time.monotonic()
    monitor.start()
    if seconds is None:
        await asyncio.to_thread(sys.stdin.read)  # (a thread blocked in read() does not hold the GIL)
    else:
        await asyncio.sleep(seconds)
    await monitor.stop()
    return time.monotonic() - began, stalls


def summary(watched_s: float, stalls: list[list[float]], threshold: float) -> dict[str, Any]:
    durations = [s[1] for s in stalls]
    return {"watched_s": round(watched_s, 1), "threshold_ms": threshold * 1000, "stalls": len(stalls),
            "median_ms": round(statistics.median(durations), 1) if durations else None,
            "longest_ms": max(durations, default=0.0),
            "longest_cpu_ms": max((s[2] for s in stalls), default=0.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--until-stdin-closes", action="store_true", help="watch until stdin closes")
    ap.add_argument("--threshold", type=float, default=0.005, help="seconds (default 0.005)")
    ap.add_argument("--list", action="store_true", help="also list every stall")
    args = ap.parse_args()
    watched, stalls = asyncio.run(watch(None if args.until_stdin_closes else args.seconds, args.threshold))
    out = summary(watched, stalls, args.threshold)
    if args.list:
        out["list"] = stalls
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
