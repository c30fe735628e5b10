"""Small hand-written session folders for the analysis tests, in the format of docs/session-folder.md.

The input audio clock of every log here is the same, so expected values are easy to compute by hand:
append k is sent at t = 1.0 + 0.1 k and covers [100 k, 100 k + 100) ms of the input stream, so the
stream reaches position p ms at t = 0.9 + p / 1000 (position 4600 -> t 5.5).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def ev(
    t: float,
    dir_: str,
    type_: str,
    *,
    rid: str | None = None,
    iid: str | None = None,
    phase: str = "interviewing",
    nbytes: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """One event line; `data` keys become the line's `data` object."""
    line: dict[str, Any] = {"t": t, "wall": 1_764_000_000.0 + t, "dir": dir_, "type": type_}
    if rid:
        line["response_id"] = rid
    if iid:
        line["item_id"] = iid
    line["phase"] = phase
    if nbytes is not None:
        line["bytes"] = nbytes
    if data:
        line["data"] = data
    return line


def appends(until: float) -> list[dict[str, Any]]:
    """Input appends of 100 ms every 0.1 s from t = 1.0 (see the module docstring)."""
    out, k = [], 0
    while 1.0 + 0.1 * k <= until + 1e-9:
        out.append(
            ev(
                round(1.0 + 0.1 * k, 3),
                "out",
                "input_audio_buffer.append",
                nbytes=4800,
                type="input_audio_buffer.append",
                audio_start_ms=100 * k,
                audio_end_ms=100 * k + 100,
            )
        )
        k += 1
    return out


def created(t: float, rid: str, purpose: str | None, phase: str = "interviewing") -> dict[str, Any]:
    response: dict[str, Any] = {"id": rid, "object": "realtime.response", "status": "in_progress"}
    if purpose:
        response["metadata"] = {"purpose": purpose}
    return ev(t, "in", "response.created", rid=rid, phase=phase, type="response.created", response=response)


def delta(t: float, rid: str, phase: str = "interviewing") -> dict[str, Any]:
    return ev(
        t,
        "in",
        "response.output_audio.delta",
        rid=rid,
        iid=f"item_{rid}",
        phase=phase,
        nbytes=4800,
        type="response.output_audio.delta",
        response_id=rid,
        item_id=f"item_{rid}",
    )


def done(t: float, rid: str, status: str = "completed", phase: str = "interviewing") -> dict[str, Any]:
    return ev(
        t,
        "in",
        "response.done",
        rid=rid,
        phase=phase,
        type="response.done",
        response={"id": rid, "status": status},
    )


def played(
    t0: float,
    t1: float | None,
    rid: str,
    purpose: str,
    phase: str = "interviewing",
    truncated: bool = False,
    played_ms: int | None = None,
) -> list[dict[str, Any]]:
    """playback.started at t0 (None: no audio) and playback.ended at t1."""
    out = []
    if t0 is not None:
        out.append(ev(t0, "local", "playback.started", rid=rid, phase=phase, purpose=purpose))
    if t1 is not None:
        ms = played_ms if played_ms is not None else round(((t1 - t0) if t0 is not None else 0) * 1000)
        out.append(
            ev(
                t1,
                "local",
                "playback.ended",
                rid=rid,
                phase=phase,
                purpose=purpose,
                played_ms=ms,
                truncated=truncated,
            )
        )
    return out


def speech(
    t_start: float, start_ms: int, t_stop: float | None, end_ms: int | None, iid: str, text: str | None = None
) -> list[dict[str, Any]]:
    """The server's VAD events for one candidate segment (and its transcription)."""
    out = [
        ev(
            t_start,
            "in",
            "input_audio_buffer.speech_started",
            iid=iid,
            type="input_audio_buffer.speech_started",
            audio_start_ms=start_ms,
            item_id=iid,
        )
    ]
    if t_stop is not None:
        out.append(
            ev(
                t_stop,
                "in",
                "input_audio_buffer.speech_stopped",
                iid=iid,
                type="input_audio_buffer.speech_stopped",
                audio_end_ms=end_ms,
                item_id=iid,
            )
        )
        if text is not None:
            out.append(
                ev(
                    t_stop + 0.05,
                    "in",
                    "conversation.item.input_audio_transcription.completed",
                    iid=iid,
                    type="conversation.item.input_audio_transcription.completed",
                    item_id=iid,
                    transcript=text,
                )
            )
    return out


def phase(t: float, frm: str, to: str, reason: str) -> dict[str, Any]:
    return ev(t, "local", "phase", phase=to, **{"from": frm, "to": to, "reason": reason})


def complete_session() -> list[dict[str, Any]]:
    """A whole interview: greeting, two answers (the second answered by a function call with no audio),
    the assessment in overlap mode with a report that outlasts the ack, goodbye, a clean close.

    Hand-computed: r2 answers u1: speech_end 5.5, vad 0.5, server 0.25 + 0.30, client 0.05, gap 1.10.
    r3 answers u2 with no audio: vad 0.5, server_created 0.2, the rest NaN. trigger->ack 0.5,
    ack->summary 0.95, report 2.9 (its duration_s), summary->goodbye 0.4. One stall of 0.12 s in
    ack_speaking ending at 14.2; pings 2, 4, timeout, 3 ms; close at 23.0 (stall->close 8.8, pong->close 3.0).
    """
    lines = [
        ev(0.0, "local", "session.started", config={"model": "gpt-realtime"}),
        ev(0.2, "local", "connection.opened", url="ws://127.0.0.1/v1/realtime"),
    ]
    lines += appends(25.0)
    lines += [created(0.5, "r1", "question"), delta(0.8, "r1"), delta(0.9, "r1"), done(1.2, "r1")]
    lines += played(0.85, 2.85, "r1", "question")
    lines += speech(3.4, 2400, 6.0, 4600, "u1", "I built a data pipeline.")
    lines += [created(6.25, "r2", "question"), delta(6.55, "r2"), delta(6.65, "r2"), done(7.0, "r2")]
    lines += played(6.6, 9.6, "r2", "question")
    lines += speech(10.2, 9200, 12.5, 11100, "u2", "I would learn statistics.")
    lines += [created(12.7, "r3", None), done(12.8, "r3")]
    lines += played(None, 12.8, "r3", "question")
    lines += [
        ev(13.0, "local", "assessment.trigger", phase="triggered", source="tool"),
        phase(13.0, "interviewing", "triggered", "tool"),
        ev(
            13.0,
            "local",
            "report.started",
            phase="triggered",
            mode="overlap",
            prompt="default",
            model="gpt-4o-mini",
        ),
        phase(13.01, "triggered", "ack_generating", "ack requested"),
        created(13.2, "r4", "ack", "ack_speaking"),
        phase(13.2, "ack_generating", "ack_speaking", "ack created"),
        delta(13.4, "r4", "ack_speaking"),
        done(13.6, "r4", phase="ack_speaking"),
        ev(14.2, "local", "loop.stall", phase="ack_speaking", duration_ms=120.0, started=14.08),
    ]
    lines += played(13.5, 15.5, "r4", "ack", "ack_speaking")
    lines += [
        phase(15.5, "ack_speaking", "awaiting_report", "ack played"),
        ev(16.0, "local", "report.ready", phase="awaiting_report", duration_s=2.9),
        phase(16.0, "awaiting_report", "summary_sending", "report ready"),
        created(16.2, "r5", "summary", "summary_speaking"),
        phase(16.2, "summary_sending", "summary_speaking", "summary created"),
        delta(16.4, "r5", "summary_speaking"),
        done(16.5, "r5", phase="summary_speaking"),
    ]
    lines += played(16.45, 20.45, "r5", "summary", "summary_speaking")
    lines += [
        phase(20.45, "summary_speaking", "goodbye_sending", "summary played"),
        created(20.6, "r6", "goodbye", "goodbye_speaking"),
        phase(20.6, "goodbye_sending", "goodbye_speaking", "goodbye created"),
        delta(20.8, "r6", "goodbye_speaking"),
        done(20.9, "r6", phase="goodbye_speaking"),
    ]
    lines += played(20.85, 22.85, "r6", "goodbye", "goodbye_speaking")
    lines += [
        phase(22.85, "goodbye_speaking", "complete", "goodbye played"),
        ev(23.0, "local", "connection.closed", phase="complete", code=1000, reason="bye", by="client"),
        ev(23.1, "local", "session.ended", phase="complete", outcome="complete"),
    ]
    lines += [
        ev(5.0, "local", "ping", rtt_ms=2.0),
        ev(10.0, "local", "ping", rtt_ms=4.0),
        ev(15.0, "local", "ping", phase="ack_speaking", timeout=True),
        ev(20.0, "local", "ping", phase="summary_speaking", rtt_ms=3.0),
    ]
    return sorted(lines, key=lambda line: line["t"])


def barge_in_session() -> list[dict[str, Any]]:
    """The candidate talks over the greeting; the run then dies mid-assessment (no close, no end).

    Hand-computed: u1 starts at 2.1 (position 1200) while r1 plays 0.75..2.25 -> barge-in, r1 truncated.
    r2 answers u1: speech_end 3.5, vad 0.5, server 0.3 + 0.3, client 0.02, gap 1.12. The last phase,
    triggered from 6.0, is unfinished and ends at the last event (6.2).
    """
    lines = [ev(0.0, "local", "session.started", config={})]
    lines += appends(6.0)
    lines += [created(0.5, "r1", "question"), delta(0.7, "r1")]
    lines += [ev(0.75, "local", "playback.started", rid="r1", purpose="question")]
    lines += speech(2.2, 1200, 4.0, 2600, "u1", "Sorry, can I ask something first?")
    lines += [
        ev(2.25, "local", "playback.ended", rid="r1", purpose="question", played_ms=1500, truncated=True),
        ev(
            2.26,
            "out",
            "conversation.item.truncate",
            type="conversation.item.truncate",
            item_id="item_r1",
            content_index=0,
            audio_end_ms=1500,
        ),
        done(2.3, "r1", status="cancelled"),
    ]
    lines += [created(4.3, "r2", "question"), delta(4.6, "r2"), done(4.9, "r2")]
    lines += played(4.62, 5.62, "r2", "question")
    lines += [
        ev(6.0, "local", "assessment.trigger", phase="triggered", source="button"),
        phase(6.0, "interviewing", "triggered", "button"),
        ev(
            6.0,
            "local",
            "report.started",
            phase="triggered",
            mode="after-ack",
            prompt="default",
            model="gpt-4o-mini",
        ),
        created(6.2, "r3", "ack", "triggered"),
    ]
    return sorted(lines, key=lambda line: line["t"])


def write_folder(
    root: Path,
    name: str,
    lines: list[dict[str, Any]],
    *,
    meta: dict[str, Any] | None = None,
    transcript: list[dict[str, Any]] | None = None,
    report: dict[str, Any] | None = None,
    tail: str = "",
) -> Path:
    """A session folder with these event lines (plus `tail` appended raw, e.g. a truncated line)."""
    folder = root / name
    folder.mkdir(parents=True)
    text = "".join(json.dumps(line) + "\n" for line in lines) + tail
    (folder / "events.jsonl").write_text(text, encoding="utf-8")
    base = {
        "id": name,
        "outcome": "complete",
        "close_code": 1000,
        "close_reason": "bye",
        "scenario": "default",
        "assessment_mode": "overlap",
        "config": {},
        "phases": [],
    }
    (folder / "session.json").write_text(json.dumps({**base, **(meta or {})}), encoding="utf-8")
    (folder / "transcript.json").write_text(json.dumps({"turns": transcript or []}), encoding="utf-8")
    (folder / "report.json").write_text(
        json.dumps(
            report
            if report is not None
            else {
                "prompt": "default",
                "model": "gpt-4o-mini",
                "scores": {"communication": 4},
                "overall": 4.0,
                "strengths": [],
                "concerns": [],
                "summary": "Good.",
                "duration_s": 2.9,
                "error": None,
            }
        ),
        encoding="utf-8",
    )
    return folder


def reconnect_session() -> list[dict[str, Any]]:
    """`complete_session` with a dropped connection in the middle of the interview, resumed on a new one.

    The connection drops at 8.0 (1006, unplanned, while interviewing); one reconnect attempt (0.5 s
    delay); the new connection opens at 8.6 and the conversation is resumed at 8.9 (4 items replayed,
    offline 0.9 s, `audio_offset_ms` 8000: the new connection's audio positions start at the session's
    input position 8000). The server counts u2 on the new connection, from 0: positions 1200..3100,
    which are 9200..11100 of the session's input stream, so u2 and every figure derived from it are those
    of `complete_session` (start 10.1, end 12.0). The session ends with a clean close at 23.0.
    """
    lines = []
    for line in complete_session():
        data = line.get("data") or {}
        if line["type"] == "input_audio_buffer.speech_started" and data.get("item_id") == "u2":
            line = {**line, "data": {**data, "audio_start_ms": data["audio_start_ms"] - 8000}}
        elif line["type"] == "input_audio_buffer.speech_stopped" and data.get("item_id") == "u2":
            line = {**line, "data": {**data, "audio_end_ms": data["audio_end_ms"] - 8000}}
        lines.append(line)
    lost = ev(8.0, "local", "connection.lost", code=1006, reason="", by="unknown", planned=False)
    lost["data"]["phase"] = "interviewing"  # `ev` takes `phase` for the line's own field
    lines += [
        lost,
        ev(8.0, "local", "connection.closed", code=1006, reason="", by="unknown"),
        ev(8.0, "local", "connection.reconnecting", attempt=1, delay_s=0.5),
        ev(8.6, "local", "connection.opened", url="ws://127.0.0.1/v1/realtime"),
        ev(
            8.9,
            "local",
            "connection.resumed",
            attempt=1,
            items_replayed=4,
            offline_s=0.9,
            audio_offset_ms=8000,
        ),
    ]
    return sorted(lines, key=lambda line: line["t"])
