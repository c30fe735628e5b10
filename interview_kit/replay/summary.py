"""What a session folder records of the client's decisions: its phases, requests, outcome, close,
trigger and report, the terms in which a replay is compared with its recording. Also the few readers
of an event record that every part of the replay shares."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interview_kit.records import Dir, Rec
from interview_kit.transport import CloseInfo


def data_of(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``data``; an empty dict when it has none (a hand-edited folder may hold anything)."""
    data = rec.get("data")
    return data if isinstance(data, dict) else {}


def number(value: Any) -> float | None:
    """`value` as a float if it is a number (JSON ``true`` is not one), else None."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def is_request(rec: Mapping[str, Any]) -> bool:
    """A client event the server may answer: every ``out`` record but input audio."""
    return rec["dir"] == Dir.OUT and rec["type"] != Rec.INPUT_APPEND


def request_label(event: Mapping[str, Any]) -> str:
    """A client event as a decision: ``response.create summary``, ``conversation.item.create
    function_call_output``, ``session.update``..."""
    kind = str(event.get("type"))
    if kind == Rec.RESPONSE_CREATE:
        response = event.get("response")
        metadata = response.get("metadata") if isinstance(response, dict) else None
        purpose = metadata.get("purpose") if isinstance(metadata, dict) else None
        return f"{kind} {purpose or '?'}"
    if kind == Rec.ITEM_CREATE:
        item = event.get("item")
        item_type = item.get("type") if isinstance(item, dict) else None
        return f"{kind} {item_type}" if item_type else kind
    return kind


@dataclass(frozen=True)
class Step:
    """One moment of a sequence: a phase entered, or a request sent (`what`), at session time `t`."""

    t: float | None
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Summary:
    """The decisions a session folder records, as a replay compares them (`Summary()`: none at all)."""

    outcome: str | None = None
    close: CloseInfo | None = None
    trigger_source: str | None = None
    phases: tuple[Step, ...] = ()
    requests: tuple[Step, ...] = ()  # every client event but input audio, in order
    report_ok: bool | None = None  # None: no report.json
    report_error: str | None = None
    report_s: float | None = None  # report started -> ready or failed, as the session measured it
    duration_s: float = 0.0  # the last record's time
    notes: tuple[Step, ...] = ()  # flow.ignored, timeouts, sequencer notes, errors, stalls, ping timeouts


# Records worth showing next to the decisions (with -v): what the client ignored, gave up on or retried.
_NOTE_TYPES = frozenset({Rec.FLOW_IGNORED, Rec.TIMEOUT, Rec.SEQUENCER_TIMEOUT, Rec.SEQUENCER_RETRY,
                         Rec.SEQUENCER_DROPPED, Rec.LOOP_STALL, Rec.STOP_REQUESTED, Rec.ERROR})


def _phases(session: Mapping[str, Any], events: list[dict[str, Any]]) -> list[Step]:
    raw = session.get("phases")
    if not isinstance(raw, list):  # an unfinished session.json: the phase records
        return [Step(r["t"], str(data_of(r).get("to")), str(data_of(r).get("reason") or ""))
                for r in events if r["dir"] == Dir.LOCAL and r["type"] == Rec.PHASE]
    return [Step(number(p.get("t")), p["to"], str(p.get("reason") or ""))
            for p in raw if isinstance(p, dict) and isinstance(p.get("to"), str)]


def summarize(session: Mapping[str, Any], events: list[dict[str, Any]],
              report: Mapping[str, Any] | None) -> Summary:
    """What a folder (its ``session.json``, ``events.jsonl`` records and ``report.json``) records."""
    requests, notes = [], []
    report_s, started = None, False
    for r in events:
        kind = r["type"]
        if is_request(r):
            requests.append(Step(r["t"], request_label(data_of(r) or {"type": kind})))
        if r["dir"] != Dir.LOCAL:
            continue
        if kind == Rec.REPORT_STARTED:
            started = True
        elif kind in (Rec.REPORT_READY, Rec.REPORT_FAILED) and started and report_s is None:
            report_s = number(data_of(r).get("duration_s"))
        elif kind in _NOTE_TYPES or (kind == Rec.PING and data_of(r).get("timeout")):
            notes.append(Step(r["t"], kind, ", ".join(f"{k}={v}" for k, v in data_of(r).items())))
    code = session.get("close_code")
    close = None
    if code is not None or session.get("closed_by") is not None:
        close = CloseInfo(code if isinstance(code, int) else None, session.get("close_reason"),
                          str(session.get("closed_by") or "unknown"))
    report_error = report.get("error") if isinstance(report, Mapping) else None
    return Summary(
        outcome=session.get("outcome"), close=close, trigger_source=session.get("trigger_source"),
        phases=tuple(_phases(session, events)), requests=tuple(requests),
        report_ok=report_error is None if isinstance(report, Mapping) else None,
        report_error=str(report_error) if report_error is not None else None, report_s=report_s,
        duration_s=max(r["t"] for r in events), notes=tuple(notes),
    )
