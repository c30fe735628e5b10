"""Benchmark: `load_sessions` against `pandas.read_json(lines=True)` (and DuckDB when importable).

Generates N session folders of a realistic 10-minute interview each (the event mix and line format of
a real `interview-kit demo` folder: input appends every 40 ms, interviewer audio deltas of 100 ms,
transcript deltas word by word, keepalive pings, phases, the assessment at the end), then loads the same files
with each reader in turn and prints MB/s, events/s, the ratios and the peak memory (the RSS of this
process plus its worker processes, above this process's RSS at the start; sampled every 5 ms by a thread).

    .venv/bin/python bench/load_sessions.py                 # 1,000 sessions (about 3.5 GB on disk)
    .venv/bin/python bench/load_sessions.py --sessions 50   # a quick run
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = (
    "so tell me about a project where you had to make a difficult technical decision and how you "
    "weighed the options with your team under a tight deadline while keeping quality high"
).split()


class _Writer:
    """Collects event lines with their session time; written sorted by time like a real log."""

    def __init__(self, wall0: float) -> None:
        self.wall0 = wall0
        self.rows: list[tuple[float, int, dict[str, Any]]] = []
        self.seq = 0

    def add(
        self,
        t: float,
        dir_: str,
        type_: str,
        phase: str,
        *,
        data: dict[str, Any] | None = None,
        response_id: str | None = None,
        item_id: str | None = None,
        nbytes: int | None = None,
    ) -> None:
        row: dict[str, Any] = {"t": round(t, 6), "wall": round(self.wall0 + t, 6), "dir": dir_, "type": type_}
        if response_id:
            row["response_id"] = response_id
        if item_id:
            row["item_id"] = item_id
        row["phase"] = phase
        if nbytes is not None:
            row["bytes"] = nbytes
        if data is not None:
            row["data"] = data
        self.seq += 1
        self.rows.append((t, self.seq, row))

    def lines(self) -> str:
        self.rows.sort(key=lambda r: (r[0], r[1]))
        return "".join(json.dumps(r[2], ensure_ascii=False) + "\n" for r in self.rows)


def _eid(rng: random.Random) -> str:
    return "event_" + "".join(
        rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=22)
    )


def _response(
    w: _Writer,
    rng: random.Random,
    t: float,
    n: int,
    purpose: str,
    phase: str,
    words: int,
    transcript: list[dict[str, Any]],
) -> float:
    """One spoken interviewer response from `response.created` at t; returns when its playback ended."""
    rid, iid = f"resp_{n:04d}{rng.randrange(10**8):08d}", f"item_{n:04d}{rng.randrange(10**8):08d}"
    meta = {"purpose": purpose}
    w.add(
        t,
        "in",
        "response.created",
        phase,
        response_id=rid,
        data={
            "type": "response.created",
            "event_id": _eid(rng),
            "response": {"id": rid, "object": "realtime.response", "status": "in_progress", "metadata": meta},
        },
    )
    w.add(
        t + 0.01,
        "in",
        "response.output_item.added",
        phase,
        response_id=rid,
        item_id=iid,
        data={
            "type": "response.output_item.added",
            "event_id": _eid(rng),
            "response_id": rid,
            "output_index": 0,
            "item": {"id": iid, "type": "message", "role": "assistant"},
        },
    )
    first = t + rng.uniform(0.2, 0.4)
    speech = words * 60.0 / 160.0
    pos = 0.0
    while pos < speech:  # audio deltas of 50-100 ms
        chunk = min(0.1, speech - pos)
        w.add(
            first + pos,
            "in",
            "response.output_audio.delta",
            phase,
            response_id=rid,
            item_id=iid,
            nbytes=int(chunk * 48000),
            data={
                "type": "response.output_audio.delta",
                "event_id": _eid(rng),
                "response_id": rid,
                "item_id": iid,
                "output_index": 0,
                "content_index": 0,
            },
        )
        pos += chunk
    for k in range(words):  # transcript deltas in step with the words
        w.add(
            first + k * 60.0 / 160.0,
            "in",
            "response.output_audio_transcript.delta",
            phase,
            response_id=rid,
            item_id=iid,
            data={
                "type": "response.output_audio_transcript.delta",
                "event_id": _eid(rng),
                "response_id": rid,
                "item_id": iid,
                "output_index": 0,
                "content_index": 0,
                "delta": WORDS[k % len(WORDS)] + " ",
            },
        )
    text = " ".join(WORDS[k % len(WORDS)] for k in range(words))
    done = first + speech
    for typ in (
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.output_item.done",
    ):
        data: dict[str, Any] = {"type": typ, "event_id": _eid(rng), "response_id": rid, "item_id": iid}
        if typ.endswith("transcript.done"):
            data["transcript"] = text
        w.add(done, "in", typ, phase, response_id=rid, item_id=iid, data=data)
    w.add(
        done + 0.001,
        "in",
        "response.done",
        phase,
        response_id=rid,
        data={
            "type": "response.done",
            "event_id": _eid(rng),
            "response": {
                "id": rid,
                "status": "completed",
                "metadata": meta,
                "usage": {"total_tokens": 300 + words, "input_tokens": 200, "output_tokens": 100},
            },
        },
    )
    w.add(
        done + 0.002,
        "in",
        "rate_limits.updated",
        phase,
        data={
            "type": "rate_limits.updated",
            "event_id": _eid(rng),
            "rate_limits": [{"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5}],
        },
    )
    started = first + rng.uniform(0.02, 0.06)
    ended = started + speech + 0.05
    w.add(started, "local", "playback.started", phase, response_id=rid, data={"purpose": purpose})
    w.add(
        ended,
        "local",
        "playback.ended",
        phase,
        response_id=rid,
        data={"purpose": purpose, "played_ms": int(speech * 1000), "truncated": False},
    )
    transcript.append(
        {
            "role": "interviewer",
            "text": text,
            "start": started,
            "end": ended,
            "response_id": rid,
            "item_id": iid,
            "purpose": purpose,
        }
    )
    return ended


def write_session(folder: Path, seed: int, minutes: float = 10.0) -> int:
    """Write one realistic session folder; returns the number of event lines."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    w = _Writer(1_764_000_000.0 + seed * 1000)
    transcript: list[dict[str, Any]] = []
    w.add(0.0, "local", "session.started", "interviewing", data={"config": {"model": "gpt-realtime"}})
    w.add(0.05, "local", "connection.opened", "interviewing", data={"url": "ws://127.0.0.1:8000/v1/realtime"})
    w.add(
        0.06,
        "out",
        "session.update",
        "interviewing",
        data={
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {
                    "input": {
                        "turn_detection": {
                            "type": "server_vad",
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 500,
                        }
                    }
                },
            },
        },
    )
    w.add(
        0.1, "in", "session.created", "interviewing", data={"type": "session.created", "event_id": _eid(rng)}
    )
    end = minutes * 60.0
    t, n = 0.2, 0
    while t < end - 40:  # question / answer turns
        t = _response(w, rng, t, n, "question", "interviewing", rng.randint(15, 45), transcript)
        n += 1
        start = t + rng.uniform(0.4, 1.0)
        stop = start + rng.uniform(10, 40)
        a0, a1 = int(start * 1000), int(stop * 1000)
        iid = f"item_u{n:04d}"
        w.add(start, "local", "candidate.speech_started", "interviewing", data={"audio_ms": a0})
        w.add(stop, "local", "candidate.speech_ended", "interviewing", data={"audio_ms": a1})
        w.add(
            start + 0.3,
            "in",
            "input_audio_buffer.speech_started",
            "interviewing",
            item_id=iid,
            data={
                "type": "input_audio_buffer.speech_started",
                "event_id": _eid(rng),
                "audio_start_ms": a0 - 300,
                "item_id": iid,
            },
        )
        stopped = stop + 0.5
        w.add(
            stopped,
            "in",
            "input_audio_buffer.speech_stopped",
            "interviewing",
            item_id=iid,
            data={
                "type": "input_audio_buffer.speech_stopped",
                "event_id": _eid(rng),
                "audio_end_ms": a1 + 500,
                "item_id": iid,
            },
        )
        w.add(
            stopped + 0.01,
            "in",
            "input_audio_buffer.committed",
            "interviewing",
            item_id=iid,
            data={"type": "input_audio_buffer.committed", "event_id": _eid(rng), "item_id": iid},
        )
        w.add(
            stopped + 0.3,
            "in",
            "conversation.item.input_audio_transcription.completed",
            "interviewing",
            item_id=iid,
            data={
                "type": "conversation.item.input_audio_transcription.completed",
                "event_id": _eid(rng),
                "item_id": iid,
                "transcript": " ".join(WORDS[:20]),
            },
        )
        transcript.append(
            {"role": "candidate", "text": " ".join(WORDS[:20]), "start": start, "end": stop, "item_id": iid}
        )
        t = stopped + rng.uniform(0.2, 0.5)
    # the assessment
    phases = [("interviewing", "triggered", "tool"), ("triggered", "ack_generating", "ack requested")]
    w.add(t, "local", "assessment.trigger", "triggered", data={"source": "tool"})
    w.add(
        t,
        "local",
        "report.started",
        "triggered",
        data={"mode": "overlap", "prompt": "default", "model": "gpt-4o-mini"},
    )
    ack_end = _response(w, rng, t + 0.2, n + 1, "ack", "ack_speaking", 8, transcript)
    phases += [
        ("ack_generating", "ack_speaking", "ack created"),
        ("ack_speaking", "summary_sending", "ack played"),
    ]
    w.add(t + 3.5, "local", "report.ready", "ack_speaking", data={"duration_s": 3.5})
    sum_end = _response(w, rng, ack_end + 0.1, n + 2, "summary", "summary_speaking", 60, transcript)
    phases += [
        ("summary_sending", "summary_speaking", "summary created"),
        ("summary_speaking", "goodbye_sending", "summary played"),
    ]
    bye_end = _response(w, rng, sum_end + 0.1, n + 3, "goodbye", "goodbye_speaking", 10, transcript)
    phases += [
        ("goodbye_sending", "goodbye_speaking", "goodbye created"),
        ("goodbye_speaking", "complete", "goodbye played"),
    ]
    marks = [t, t + 0.01, t + 0.2, ack_end, ack_end + 0.1, sum_end, sum_end + 0.1, bye_end]
    for (frm, to, why), at in zip(phases, marks, strict=True):
        w.add(at, "local", "phase", to, data={"from": frm, "to": to, "reason": why})
    w.add(
        bye_end + 0.1,
        "local",
        "connection.closed",
        "complete",
        data={"code": 1000, "reason": "", "by": "client"},
    )
    w.add(bye_end + 0.11, "local", "session.ended", "complete", data={"outcome": "complete"})
    last = bye_end + 0.1
    k = 0
    while k * 0.04 < last:  # input appends every 40 ms, the whole session
        w.add(
            k * 0.04 + 0.001,
            "out",
            "input_audio_buffer.append",
            "interviewing",
            nbytes=1920,
            data={
                "type": "input_audio_buffer.append",
                "audio_start_ms": k * 40.0,
                "audio_end_ms": k * 40 + 40,
            },
        )
        k += 1
    p = 5.0
    while p < last:  # keepalive round trips
        w.add(p, "local", "ping", "interviewing", data={"rtt_ms": round(rng.uniform(0.3, 3.0), 3)})
        p += 5.0
    if rng.random() < 0.3:
        s = rng.uniform(10, last - 10)
        w.add(s + 0.08, "local", "loop.stall", "interviewing", data={"duration_ms": 80.0, "started": s})
    (folder / "events.jsonl").write_text(w.lines(), encoding="utf-8")
    meta = {
        "id": folder.name,
        "started": "2026-11-25T08:00:00+00:00",
        "ended": "2026-11-25T08:10:00+00:00",
        "outcome": "complete",
        "close_code": 1000,
        "close_reason": "",
        "scenario": "bench",
        "assessment_mode": "overlap",
        "config": {"model": "gpt-realtime"},
        "phases": [
            {"t": at, "from": f, "to": to, "reason": r} for (f, to, r), at in zip(phases, marks, strict=True)
        ],
    }
    (folder / "session.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (folder / "transcript.json").write_text(json.dumps({"turns": transcript}, indent=2), encoding="utf-8")
    (folder / "report.json").write_text(
        json.dumps(
            {
                "prompt": "default",
                "model": "gpt-4o-mini",
                "scores": {"clarity": 4, "depth": 3},
                "overall": 3.5,
                "strengths": ["clear"],
                "concerns": ["brief"],
                "summary": "A solid interview.",
                "duration_s": 3.5,
                "error": None,
                "usage": {"total_tokens": 900},
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return len(w.rows)


class PeakRSS:
    """Samples the RSS of this process and all its child processes (the loader's workers) every 5 ms in a
    thread; `peak` is the highest total seen above this process's RSS at the start. (Pages a worker shares
    with the parent after fork count twice: the figure is an upper bound for the workers' rows.)"""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def total(self) -> int:
        rss = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                rss += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass  # a worker that just exited
        return rss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.total() - self.base)
            time.sleep(0.005)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.total() - self.base)


def measure(name: str, fn: Callable[[], int], nbytes: int) -> tuple[float, int]:
    """Run one reader over every file; print its throughput and peak memory; return (seconds, events)."""
    gc.collect()
    time.sleep(0.5)  # let the RSS of the previous reader's freed frames settle
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        events = fn()
        dt = time.perf_counter() - t0
    print(
        f"{name:<42} {dt:8.2f} s {nbytes / dt / 1e6:9.1f} MB/s {events / dt / 1e6:8.2f} M events/s"
        f"  peak +{rss.peak / 1e6:,.0f} MB",
        flush=True,
    )
    gc.collect()
    return dt, events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sessions", type=int, default=1000, help="session folders to generate (default 1000)"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="interview length of each (default 10)")
    parser.add_argument("--dir", type=Path, help="reuse/keep folders here instead of a temp dir")
    parser.add_argument("--skip-pandas", action="store_true", help="time only load_sessions")
    parser.add_argument(
        "--stream-data",
        action="store_true",
        help="also time load_sessions(stream_data=True) (keeps every line's data: much more memory)",
    )
    args = parser.parse_args(argv)

    import pandas as pd

    from interview_kit.analysis import load_sessions

    root = args.dir or Path(tempfile.mkdtemp(prefix="ik-bench-sessions-"))
    try:
        existing = sorted(p for p in root.glob("*") if (p / "events.jsonl").is_file())
        if len(existing) < args.sessions:
            t0 = time.perf_counter()
            for i in range(len(existing), args.sessions):
                write_session(root / f"20261125-080000-{i:05d}", seed=i, minutes=args.minutes)
            print(
                f"generated {args.sessions - len(existing)} sessions in {time.perf_counter() - t0:.1f} s"
                + (f" ({len(existing)} already in {root})" if existing else ""),
                flush=True,
            )
        folders = sorted(p for p in root.glob("*") if (p / "events.jsonl").is_file())[: args.sessions]
        files = [f / "events.jsonl" for f in folders]
        nbytes = sum(f.stat().st_size for f in files)
        print(
            f"{len(files)} sessions, {nbytes / 1e6:,.0f} MB of events.jsonl "
            f"(pandas {pd.__version__}, python {sys.version.split()[0]})",
            flush=True,
        )

        workers = min(os.cpu_count() or 1, 8)

        def ours() -> int:  # workers named: the RSS sampler thread would otherwise keep it in one process
            loaded = load_sessions(folders, workers=workers)
            return len(loaded.events)

        def ours_single() -> int:
            return len(load_sessions(folders, workers=1).events)

        def ours_derived() -> int:
            loaded = load_sessions(folders, workers=workers)
            loaded.summary()
            return len(loaded.events)

        def pandas_each() -> int:
            return sum(len(pd.read_json(f, lines=True)) for f in files)

        def pandas_stacked() -> int:
            frames = [pd.read_json(f, lines=True) for f in files]
            return len(pd.concat(frames, ignore_index=True))

        def ours_stream() -> int:
            return len(load_sessions(folders, stream_data=True).events)

        # warm-up: first-call costs (imports, caches) stay out of the figures
        load_sessions(folders[:3]).summary()
        pd.read_json(files[0], lines=True)
        base_name = "pandas.read_json(lines=True)"
        results = {
            "load_sessions, 1 process": measure("load_sessions(workers=1)", ours_single, nbytes),
            f"load_sessions, {workers} workers": measure(f"load_sessions(workers={workers})", ours, nbytes),
        }
        results[f"load_sessions(workers={workers}) + summary()"] = measure(
            f"load_sessions(workers={workers}) + summary()", ours_derived, nbytes
        )
        if args.stream_data:
            results["load_sessions(stream_data=True)"] = measure(
                "load_sessions(stream_data=True)", ours_stream, nbytes
            )
        if not args.skip_pandas:
            # Each file read and dropped: stacking all of pandas' frames (object columns, a dict per line)
            # needs ~18 GB at 1,000 sessions, more than a shared 23 GB machine should give; the stacked
            # variant runs for small N only. Dropping makes the baseline faster, so the ratio is conservative.
            results[base_name] = measure(base_name + ", each file", pandas_each, nbytes)
            if len(files) <= 100:
                results[base_name + " + concat"] = measure(base_name + " + concat", pandas_stacked, nbytes)
        try:
            import duckdb  # type: ignore[import-not-found]
        except ImportError:
            print("duckdb: not installed, skipped")
        else:
            # the N selected files (a list), not a glob over every folder under --dir
            chosen = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)

            def duck() -> int:
                query = f"select * from read_json([{chosen}], format='newline_delimited')"
                return len(duckdb.sql(query).df())

            results["duckdb read_json"] = measure("duckdb read_json", duck, nbytes)
        base = results.get(base_name)
        if base:
            for name, (dt, _) in results.items():
                print(f"speed-up vs {base_name}: {name:<42} {base[0] / dt:6.2f}x")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
