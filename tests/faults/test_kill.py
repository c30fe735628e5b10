"""kill -9 in the middle of `interview-kit demo`: what is on disk still loads, and at most about a second
of events is lost (``events.jsonl`` is flushed at least every second; its lines are written whole).

Two real subprocesses, run side by side (a kill is the point, and a subprocess is the only way to take
one), each killed at a seeded moment after its first event reached the disk. Ctrl-C is
tests/test_interrupts.py's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from interview_kit.analysis import load_session

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")

REPO = Path(__file__).resolve().parents[2]
SEED = 11
RUNS = 2
WAIT = 120.0  # seconds any one step may take on a loaded machine (a bound against a hang, not a speed test)
FLUSH_INTERVAL = 1.0  # the event log's own (interview_kit.eventlog.EventLog.flush_interval)
#: A killed flush thread's last write is at most FLUSH_INTERVAL old, plus the moment the thread needed
#: to be scheduled and write (on a machine shared by many processes, up to a quarter of a second).
SCHEDULING = 0.25


def start_demo(out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "interview_kit", "demo", "--speed", "20", "--out", str(out)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def first_event(out: Path, deadline: float) -> Path:
    """The session folder, once its events.jsonl holds a line (polled: it is what a reader sees)."""
    while time.monotonic() < deadline:
        for events in out.glob("*/events.jsonl"):
            if events.stat().st_size > 0:
                return events.parent
        time.sleep(0.02)
    raise AssertionError(f"no event reached {out} within {WAIT:g} s")


def test_kill_9_mid_interview_loses_at_most_about_a_second_of_events(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    runs = [(tmp_path / f"run{i}", rng.uniform(1.5, 2.5)) for i in range(RUNS)]
    procs = [start_demo(out) for out, _ in runs]
    killed: list[tuple[Path, float, float]] = []  # folder, kill time (epoch), delay after the first event
    try:
        deadline = time.monotonic() + WAIT
        folders = [first_event(out, deadline) for out, _ in runs]
        seen = time.monotonic()
        # kill each at its moment, counted from when its first event was seen
        for (_, delay), proc, folder in sorted(zip(runs, procs, folders, strict=True), key=lambda r: r[0][1]):
            time.sleep(max(0.0, seen + delay - time.monotonic()))
            assert proc.poll() is None, f"the demo ended before its kill at +{delay:.2f} s"
            at = time.time()
            os.kill(proc.pid, signal.SIGKILL)
            killed.append((folder, at, delay))
    finally:
        stderr = []
        for proc in procs:
            proc.kill()
            proc.wait(WAIT)
            assert proc.stderr is not None
            stderr.append(proc.stderr.read().decode(errors="replace"))
            proc.stderr.close()
    for text in stderr:  # what it said before the kill
        assert "Traceback" not in text, text
    for folder, at, delay in killed:
        lines = (folder / "events.jsonl").read_text(encoding="utf-8").split("\n")
        whole, last = lines[:-1], lines[-1]  # a line is whole once its newline is written
        events = [json.loads(line) for line in whole]  # raises on a broken line
        if last:  # a cut last line is the most a kill may leave
            with pytest.raises(json.JSONDecodeError):
                json.loads(last)
        assert events[0]["type"] == "session.started"
        assert not [e for e in events if e["type"] == "session.ended"], "killed after it had ended"
        lost = at - events[-1]["wall"]
        assert lost <= FLUSH_INTERVAL + SCHEDULING, f"+{delay:.2f} s: {lost:.2f} s of events lost"
        session = json.loads((folder / "session.json").read_text())  # written atomically: whole
        assert session["outcome"] is None and session["started"]
        with warnings.catch_warnings(record=True) as said:  # what is missing is said, not raised
            warnings.simplefilter("always")
            loaded = load_session(folder, cache=False)
        assert all(issubclass(w.category, RuntimeWarning) and "missing" in str(w.message) for w in said)
        assert len(loaded.events) == len(events)
        print(f"killed at +{delay:.2f} s after the first event: {lost:.3f} s of events lost, "
              f"{len(events)} events on disk{', a cut last line' if last else ''}")
