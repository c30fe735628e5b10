"""Benchmark: `load_sessions` (first load, and again from its Parquet cache) against the columnar readers.

Generates N session folders of a realistic 10-minute interview each (the event mix and line format of
a real `interview-kit demo` folder: input appends every 40 ms, interviewer audio deltas of 100 ms,
transcript deltas word by word, keepalive pings, phases, the assessment at the end), then reads the same
files with each reader, round after round (the readers in turn within a round, so that all see the same
machine), and prints each reader's best round: seconds, MB/s, events/s, peak memory (the RSS of this
process above its RSS at the start, sampled every 20 ms by a thread), and the ratios the
issue sets as targets: the first load within 1.5x of DuckDB's `read_ndjson`, the second load (unchanged
folders, from the cache) at least 10x faster than the first.

Readers: `load_sessions` with its caches removed first (the first load: it parses and writes each cache);
`load_sessions` again (the second load: reads the caches); the reference reader alone (the loader as it was
before the columnar reader: `json.loads` per file in this process); `pandas.read_json(lines=True)` per file;
`pyarrow.json.read_json` per file; DuckDB `read_ndjson` over all the files into an Arrow table (and into
pandas with `--duckdb-pandas`: much slower, as every line's `data` becomes a dict of every key seen). DuckDB
is a bench dependency only (`pip install duckdb`); its rows are skipped without it.

    .venv/bin/python bench/load_sessions.py                  # 20 sessions (93 MB), about a minute
    .venv/bin/python bench/load_sessions.py --issue          # the issue's corpus: 200 sessions (925 MB)
    .venv/bin/python bench/load_sessions.py --sessions 1000 --rounds 1 --dir /tmp/corpus   # keep the files
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
    """Samples the RSS of this process every 20 ms in a thread; `peak` is the highest seen above its RSS
    at the start. (Every reader here runs in this process: `load_sessions` reads in threads.) Reading
    /proc/self is cheap; walking child processes, as an earlier version did, took the GIL from the
    readers' threads often enough to slow them."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss - self.base)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss - self.base)


def measure(name: str, fn: Callable[[], int], nbytes: int) -> tuple[float, int, int]:
    """Run one reader over every file; print its time; return (seconds, events, peak bytes)."""
    gc.collect()
    time.sleep(0.5)  # let the RSS of the previous reader's freed frames settle
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        events = fn()
        dt = time.perf_counter() - t0
    print(f"  {name:<44} {dt:8.2f} s {nbytes / dt / 1e6:9.1f} MB/s  peak +{rss.peak / 1e6:,.0f} MB",
          flush=True)
    gc.collect()
    return dt, events, rss.peak


def _drop_caches(folders: list[Path]) -> None:
    from interview_kit.analysis.event_cache import CACHE_DIR

    for folder in folders:
        shutil.rmtree(folder / CACHE_DIR, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20, help="session folders to generate (default 20)")
    parser.add_argument(
        "--issue", action="store_true", help="the issue's corpus: 200 ten-minute sessions (925 MB)"
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="interview length of each (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all readers; best shown (default 2)")
    parser.add_argument("--dir", type=Path, help="reuse/keep folders here instead of a temp dir")
    parser.add_argument("--workers", type=int, help="load_sessions reader threads (default: its own)")
    parser.add_argument("--skip-slow", action="store_true", help="leave out pandas and the reference reader")
    parser.add_argument(
        "--duckdb-pandas",
        action="store_true",
        help="also DuckDB into pandas (slow: each line's data a dict of every key; 2 GB at 30 sessions)",
    )
    args = parser.parse_args(argv)
    if args.issue:
        args.sessions = 200

    import pandas as pd
    import pyarrow as pa
    import pyarrow.json as pj

    from interview_kit.analysis import load as load_module
    from interview_kit.analysis import load_sessions

    try:
        import duckdb  # type: ignore[import-not-found]
    except ImportError:
        duckdb = None

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
        for f in files:  # every reader then finds the files in the page cache
            f.read_bytes()
        versions = f"pandas {pd.__version__}, pyarrow {pa.__version__}"
        if duckdb is not None:
            versions += f", duckdb {duckdb.__version__}"
        print(
            f"{len(files)} sessions, {nbytes / 1e6:,.0f} MB of events.jsonl "
            f"(python {sys.version.split()[0]}, {versions}, {os.cpu_count()} CPUs)",
            flush=True,
        )

        def first_load() -> int:
            return len(load_sessions(folders, workers=args.workers).events)

        def second_load() -> int:
            return len(load_sessions(folders, workers=args.workers).events)

        def reference() -> int:  # the loader before the columnar reader and the cache, in this process
            real = load_module.read_events_fast
            load_module.read_events_fast = lambda path, stream_data: None
            try:
                return len(load_sessions(folders, workers=1, cache=False).events)
            finally:
                load_module.read_events_fast = real

        def pandas_each() -> int:
            return sum(len(pd.read_json(f, lines=True)) for f in files)

        def pyarrow_each() -> int:
            return sum(pj.read_json(f).num_rows for f in files)

        chosen = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)

        def duck_arrow() -> int:
            result = duckdb.sql(f"select * from read_ndjson([{chosen}])").arrow()
            table = result.read_all() if hasattr(result, "read_all") else result  # older duckdb: a Table
            return table.num_rows

        def duck_pandas() -> int:
            return len(duckdb.sql(f"select * from read_ndjson([{chosen}])").df())

        # the fast readers next to each other, so that the ratios compare readers under the same load
        readers: dict[str, Callable[[], int]] = {
            "load_sessions, first load (writes caches)": first_load,
            "load_sessions, second load (from caches)": second_load,
        }
        if duckdb is not None:
            readers["duckdb read_ndjson -> arrow"] = duck_arrow
        else:
            print("duckdb: not installed, its rows are skipped (pip install duckdb)")
        readers["pyarrow.json.read_json, each file"] = pyarrow_each
        if not args.skip_slow:
            readers["reference reader (json.loads), 1 thread"] = reference
            readers["pandas.read_json(lines=True), each file"] = pandas_each
        if duckdb is not None and args.duckdb_pandas:
            readers["duckdb read_ndjson -> pandas"] = duck_pandas

        load_sessions(folders[:2], cache=False)  # warm-up: imports and first-call costs stay out
        best: dict[str, tuple[float, int, int]] = {}
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds}", flush=True)
            for name, fn in readers.items():
                if fn is first_load:
                    _drop_caches(folders)
                dt, events, peak = measure(name, fn, nbytes)
                if name not in best or dt < best[name][0]:
                    best[name] = (dt, events, peak)
        _drop_caches(folders)
        print(f"\nbest of {args.rounds} rounds:")
        for name, (dt, events, peak) in best.items():
            print(
                f"{name:<44} {dt:8.2f} s {nbytes / dt / 1e6:9.1f} MB/s {events / dt / 1e6:8.2f} M events/s"
                f"  peak +{peak / 1e6:,.0f} MB"
            )
        first = best["load_sessions, first load (writes caches)"][0]
        second = best["load_sessions, second load (from caches)"][0]
        print(f"\nfirst load / second load: {first / second:.1f}x (target >= 10x)")
        duck = [best[k][0] for k in best if k.startswith("duckdb")]
        if duck:
            print(f"first load / fastest duckdb read_ndjson: {first / min(duck):.2f}x (target <= 1.5x)")
        for name in ("reference reader (json.loads), 1 thread", "pandas.read_json(lines=True), each file",
                     "pyarrow.json.read_json, each file"):
            if name in best:
                print(f"first load faster than {name}: {best[name][0] / first:.1f}x")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
