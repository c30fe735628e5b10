"""What the session's dispatch costs per server event, against the floor of merely decoding it.

The frame mix comes from one whole interview: by default one runs against the emulator (thread-hosted,
default scenario, sped up) and every server frame the session received is kept; with ``--session`` the
frames are rebuilt from a recorded session folder's ``events.jsonl`` (its ``in`` lines; each audio delta
gets a base64 payload of the logged decoded size, since the log never holds audio, and strings the log
cut at 500 characters stay cut); with ``--frames`` they are read from a file ``--save-frames`` wrote.
Then, in one process, the same frames go round after round (a) through a fresh session's real
dispatch (`InterviewSession._dispatch`: parse, bind ids, event-log line with the audio trimmed written
by a real EventLog to a temporary folder, virtual output enqueue, flow; the round's time ends with the
log's ``flush()``, so every line it made has reached the file), (b) through the floor, `json.loads` plus
a base64 decode of each audio delta, and (d) through the floor with `orjson.loads` (the decoder the
dispatch uses since issue 8) in place of `json.loads`; every other round (c) takes the place of (a): the
dispatch with the event log's ``record`` and ``record_audio_delta`` no-ops, to show the log's share.
Within a round the sides take turns slice by slice (`CHUNK` frames, the order rotating from slice to
slice and round to round), so that the dispatch and the floors it is held against run on the same frames
under the same load: on a shared machine the load changes from second to second, and with whole rounds
in turn the per-round ratios spread 0.6-2.9x. A warm-up round of each comes first and is not counted.

Reported: best and median microseconds per event; dispatch / floor as the ratio of the medians (the
figure held against the target), as the ratio of the bests, and the median and range of the per-round
ratios (each round's dispatch over the floor timed alongside it).
Target (issue 8): dispatch at most 1.5x the floor, median of the rounds.

    .venv/bin/python bench/event_overhead.py [--rounds 21] [--speed 20] [--save-frames FILE]
    .venv/bin/python bench/event_overhead.py --session data/sessions/<id>   # a recorded session's mix
    .venv/bin/python bench/event_overhead.py --frames FILE                  # the same frames again
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import dataclasses
import gc
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interview_kit.assessment import HeuristicAssessor  # noqa: E402
from interview_kit.audio import VirtualOutput  # noqa: E402
from interview_kit.config import SessionConfig  # noqa: E402
from interview_kit.emulator import Emulator  # noqa: E402
from interview_kit.eventlog import EventLog  # noqa: E402
from interview_kit.scenario import load_scenario  # noqa: E402
from interview_kit.session import InterviewSession  # noqa: E402

TARGET = 1.5  # dispatch / floor, median of the rounds (issue 8)
AUDIO_DELTA = "response.output_audio.delta"


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
        try:
            result = asyncio.run(asyncio.wait_for(session.run(), 120))
        except TimeoutError:
            raise SystemExit("the recording interview did not end within 120 s; cannot benchmark "
                             "(--session or --frames take a recorded mix instead)") from None
    if result.outcome != "complete":
        raise SystemExit(f"the recording interview ended {result.outcome}; cannot benchmark")
    return session.frames


def frames_from_session(folder: Path) -> list[str | bytes]:
    """The server frames of a recorded session, rebuilt from its ``events.jsonl``."""
    payloads: dict[int, str] = {}  # decoded size -> a base64 payload of that size (noise, like speech)
    frames: list[str | bytes] = []
    with (folder / "events.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("dir") != "in":
                continue
            data = rec.get("data") or {}
            if rec["type"] == "invalid":
                frames.append(str(data.get("frame", "")))
                continue
            if rec["type"] == AUDIO_DELTA:
                size = int(rec.get("bytes") or 0)
                if size not in payloads:
                    payloads[size] = base64.b64encode(random.Random(size).randbytes(size)).decode()
                event: dict[str, Any] = {"type": AUDIO_DELTA, "event_id": data.get("event_id"),
                                         "response_id": rec.get("response_id"), "item_id": rec.get("item_id"),
                                         "output_index": data.get("output_index"),
                                         "content_index": data.get("content_index"), "delta": payloads[size]}
            else:
                event = {"type": rec["type"], **data}
            frames.append(json.dumps(event))
    if not frames:
        raise SystemExit(f"no server events in {folder / 'events.jsonl'}")
    return frames


def _text(frame: str | bytes) -> str:
    return frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame


def _kind(frame: str | bytes) -> str:
    try:
        return str(json.loads(frame)["type"])
    except (ValueError, TypeError, KeyError):
        return "invalid"


def floor(frames: list[str | bytes], loads: Callable[[str | bytes], Any] = json.loads) -> None:
    for frame in frames:
        event = loads(frame)
        delta = event.get("delta")
        if event["type"] == AUDIO_DELTA and isinstance(delta, str):
            base64.b64decode(delta)


def _event_log(session: InterviewSession) -> EventLog:
    folder = getattr(session, "_folder", None)  # the log lives in the session's folder (before: `_log`)
    log = folder.log if folder is not None else getattr(session, "_log", None)
    assert isinstance(log, EventLog), "the session has no event log after _open()"
    return log


class _OfflineConnection:
    """Stands in for the connection: what the handlers send goes nowhere."""

    info = None

    def send(self, event: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        pass

    def abort(self, reason: str = "") -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass


def _connect_offline(session: InterviewSession) -> None:
    """What the handlers need besides the log (as after connecting): a connection and a sequencer that
    send nowhere. Best effort: the session's internals are not an API."""
    if getattr(session, "_conn", False) is None:
        session._conn = _OfflineConnection()  # type: ignore[assignment]
    if getattr(session, "_sequencer", False) is None:
        from interview_kit.sequencer import ResponseSequencer

        session._sequencer = ResponseSequencer(lambda event: None, session._registry)


async def _settle(session: InterviewSession) -> None:
    """Let a report the dispatch started (the end_interview call) finish before the folder goes."""
    report = getattr(session, "_report", None)
    if report is not None and getattr(report, "running", False):
        await report.wait(10.0)
    for task in list(getattr(session, "_tasks", ())):
        task.cancel()


def _noop_record(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {}


CHUNK = 32  # frames per slice: the dispatch and the floors take turns slice by slice


@dataclasses.dataclass
class Round:
    """One round's seconds for the whole mix: the session's dispatch (or the dispatch with the log off),
    and the two floors timed slice by slice alongside it; the `error` records the dispatch wrote."""

    dispatch: float = 0.0
    floor: float = 0.0
    orjson_floor: float = 0.0
    errors: int = 0


async def dispatch_round(frames: list[str | bytes], out: Path, *, log_off: bool = False,
                         turn: int = 0) -> Round:
    """Every frame through a fresh session (real event log, virtual output) and through both floors, in
    slices of `CHUNK` frames taking turns (the order rotating from slice to slice and round to round), so
    that both sides of the ratio run on the same frames under the same load on a shared machine. The
    dispatch's time ends with the log's ``flush()``: every line it made has reached the file. Also counted:
    the `error` records the dispatch wrote (handlers that needed what an offline session lacks)."""
    config = SessionConfig(base_url="http://127.0.0.1:9/v1", api_key="bench", out_dir=out, speed=20.0)
    session = InterviewSession(config, output=VirtualOutput(None, speed=20.0), assessor=HeuristicAssessor())
    session._open()
    _connect_offline(session)
    await session._output.start()
    log = _event_log(session)
    if log_off:  # every way the dispatch writes a line
        log.record = log.record_audio_delta = _noop_record  # type: ignore[method-assign]
    log.flush()
    lines_before = log.lines_written
    dispatch = session._dispatch
    result = Round()
    slices = [frames[k:k + CHUNK] for k in range(0, len(frames), CHUNK)]
    for s, part in enumerate(slices):
        for j in range(3):
            side = (s + j + turn) % 3
            start = time.perf_counter()
            if side == 0:
                for frame in part:
                    dispatch(frame)
                if s == len(slices) - 1:
                    log.flush()
                result.dispatch += time.perf_counter() - start
            elif side == 1:
                floor(part)
                result.floor += time.perf_counter() - start
            else:
                floor(part, orjson.loads)
                result.orjson_floor += time.perf_counter() - start
    await _settle(session)
    await session._output.close()
    log.close()
    if not log_off:
        with log.path.open(encoding="utf-8") as f:
            records = [json.loads(line) for line in f][lines_before:]
        result.errors = sum(1 for r in records if r["type"] == "error" and r["dir"] == "local")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21, help="timed rounds after one warm-up (default 21)")
    parser.add_argument("--speed", type=float, default=20.0, help="speed of the recording interview")
    parser.add_argument("--session", type=Path, help="rebuild the frames from this recorded session folder")
    parser.add_argument("--frames", type=Path, help="read the frames (one a line) saved by --save-frames")
    parser.add_argument("--save-frames", type=Path, help="save the frames used, one a line, to this file")
    args = parser.parse_args()
    # The recorded frames arrive without the playback that moves the flow on, so the session warns that
    # the summary and goodbye came unasked (and discards them): right, but noise on every round.
    logging.getLogger("interview_kit").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        if args.session is not None:
            frames = frames_from_session(args.session)
            source = f"rebuilt from {args.session}"
        elif args.frames is not None:
            frames = args.frames.read_text(encoding="utf-8").splitlines()
            source = f"read from {args.frames}"
        else:
            frames = record_frames(args.speed, Path(tmp) / "recorded")
            source = "recorded from one interview against the emulator"
        if args.save_frames is not None:
            args.save_frames.write_text("".join(f"{_text(f)}\n" for f in frames), encoding="utf-8")
        kinds = collections.Counter(_kind(f) for f in frames)
        print(f"{len(frames)} server events {source} ({kinds[AUDIO_DELTA]} audio deltas, "
              f"{sum(len(f) for f in frames) / 1e6:.1f} MB)")
        gc.collect()
        gc.freeze()
        times: dict[str, list[float]] = {"floor": [], "dispatch": [], "log off": [], "orjson floor": []}
        paired: list[float] = []  # dispatch / floor of each dispatch round (the same slices, side by side)
        errors = 0

        def run(i: int, log_off: bool) -> None:
            nonlocal errors
            name = "log off" if log_off else "dispatch"
            folder = Path(tmp) / f"{name}{i}".replace(" ", "-")
            r = asyncio.run(dispatch_round(frames, folder, log_off=log_off, turn=i))
            if i < 0:
                return  # the warm-up: caches, first-use imports
            times[name].append(r.dispatch)
            times["floor"].append(r.floor)
            times["orjson floor"].append(r.orjson_floor)
            if not log_off:
                paired.append(r.dispatch / r.floor)
                errors = max(errors, r.errors)

        run(-1, False)
        run(-1, True)
        for i in range(args.rounds):  # a dispatch round and a log-off round, in turn first
            for log_off in ((False, True) if i % 2 == 0 else (True, False)):
                run(i, log_off)
        gc.unfreeze()
    n = len(frames)
    best = {k: min(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"{f'{args.rounds} rounds, same process, us per event':46}{'best':>8}{'median':>9}  "
          f"(floors: {2 * args.rounds} rounds)")
    rows = (("floor (json.loads + b64decode)", "floor"), ("session dispatch", "dispatch"),
            ("session dispatch, event log off", "log off"), ("floor with orjson.loads", "orjson floor"))
    for label, key in rows:
        print(f"{label:46}{best[key] / n * 1e6:8.1f}{median[key] / n * 1e6:9.1f}")
    share = 1 - median["log off"] / median["dispatch"]
    print(f"event log share of the dispatch (median): {share:.0%}")
    if errors:
        print(f"note: {errors} dispatch error record(s) per round (handlers an offline session cannot serve)")
    ratio, best_ratio = median["dispatch"] / median["floor"], best["dispatch"] / best["floor"]
    paired.sort()
    print(f"dispatch / floor: {ratio:.2f}x median, {best_ratio:.2f}x best (per-round ratios: median "
          f"{statistics.median(paired):.2f}x, {paired[0]:.2f}-{paired[-1]:.2f}x)")
    print(f"target: dispatch <= {TARGET}x the floor (median) -> {'met' if ratio <= TARGET else 'MISSED'}")
    print(f"dispatch / floor with orjson.loads (the decoder the dispatch uses): "
          f"{median['dispatch'] / median['orjson floor']:.2f}x median")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
