"""The tidy tables derived from a (stacked) events frame: phases, turns, pings, stalls, and the input
audio clock that maps the server's stream positions onto the session clock (`interview_kit.inputclock`'s
rule, applied to whole columns).

Every function takes the events frame of `load_session`/`load_sessions` (with its `session` column)
and returns one frame for all the sessions in it, so one session and a thousand go the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from interview_kit import flow
from interview_kit.analysis.session_folder import STREAM_TYPES
from interview_kit.analysis.vad_padding import VadWindow
from interview_kit.records import Outcome, Purpose, Rec

TERMINAL_PHASES = frozenset(str(p) for p in flow.TERMINAL_PHASES)
# An outcome of `session.ended` that ends the flow on purpose (the researcher's Stop): its last phase is
# where the interview was stopped, not a phase left unfinished by a crash.
DELIBERATE_OUTCOMES = frozenset({Outcome.STOPPED})
SUMMARY_PURPOSES = frozenset({Purpose.SUMMARY, Purpose.FALLBACK})  # a failed report speaks a fallback summary

# A wire event the session records but does not act on (so `Rec` does not name it).
OUTPUT_ITEM_ADDED = "response.output_item.added"


def _data(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def control_events(events: pd.DataFrame) -> pd.DataFrame:
    """The low-rate lines (everything but the audio stream): what the derived tables read."""
    stream = [c for c in events["type"].cat.categories if c in STREAM_TYPES]
    return events[~events["type"].isin(stream)] if stream else events


def by_session(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(session, rows) in the order sessions were loaded, skipping sessions with no rows."""
    for name, rows in frame.groupby("session", observed=True, sort=True):
        yield str(name), rows


def session_bounds(events: pd.DataFrame) -> pd.DataFrame:
    """Per session: `first` and `last` event times and `ended` (the `session.ended` line, else the last)."""
    g = events.groupby("session", observed=True)["t"]
    bounds = pd.DataFrame({"first": g.min(), "last": g.max()})
    ended = events[events["type"] == Rec.SESSION_ENDED].groupby("session", observed=True)["t"].max()
    bounds["ended"] = ended.reindex(bounds.index).fillna(bounds["last"])
    bounds.index = bounds.index.astype(str)
    return bounds


def input_times(ends_ms: Any, times: Any, positions_ms: Any) -> np.ndarray:
    """`interview_kit.inputclock.input_time` over an array of positions: the session time (s) at which
    the input stream reached each of `positions_ms`, given the appends' stream end positions `ends_ms`
    (ascending; repeats allowed) and the session times they were sent at. NaN where `input_time` is
    None: a NaN position, one past the last end, or no appends at all.

    The same rule as `input_time`, term for term: a position at or before the first end takes the first
    append's time; one equal to an end takes the time of that end's first append; one between two ends
    is interpolated linearly (`numpy.interp`'s rule, written out with `searchsorted` so that repeated
    ends and the arithmetic give `input_time`'s answers to the bit)."""
    ends = np.asarray(ends_ms, dtype=np.float64)
    ts = np.asarray(times, dtype=np.float64)
    pos = np.asarray(positions_ms, dtype=np.float64)
    out = np.full(pos.shape, np.nan)
    if ends.size == 0:
        return out
    known = pos <= ends[-1]  # False for NaN too
    p = pos[known]
    i = np.searchsorted(ends, p, side="left")  # bisect.bisect_left
    lo = np.maximum(i - 1, 0)
    e0, e1, t0, t1 = ends[lo], ends[i], ts[lo], ts[i]
    on_end = (i == 0) | (e1 == p)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = t0 + (p - e0) / (e1 - e0) * (t1 - t0)
    out[known] = np.where(on_end, t1, between)
    return out


class AudioClock:
    """Maps positions in the input audio stream (ms, as the server counts them in `audio_start_ms` /
    `audio_end_ms`) onto the session clock: `interview_kit.inputclock`'s rule, for whole sessions.

    Bounding lines: every `out` `input_audio_buffer.append` with `data.audio_end_ms`, sent at `t`. The
    stream reached position p at the time the chunk ending at p was sent; a position inside a chunk is
    interpolated linearly between neighbouring appends (`input_times`); one before the first append
    takes the first append's time; one past the last append is NaN (not sent yet). As `InputClock` does
    live, appends are taken in log order and one that does not extend the stream (a repeated or
    out-of-order end) adds nothing.
    """

    def __init__(self, events: pd.DataFrame) -> None:
        mask = (events["type"] == Rec.INPUT_APPEND) & events["audio_end_ms"].notna()
        appends = events.loc[mask, ["session", "t", "audio_end_ms"]]
        self._points: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, rows in by_session(appends):
            ends, ts = rows["audio_end_ms"].to_numpy(dtype=np.float64), rows["t"].to_numpy(dtype=np.float64)
            reached = np.concatenate(([-np.inf], np.maximum.accumulate(ends)[:-1]))
            grows = ends > reached  # `InputClock.appended`: only a new furthest end counts
            self._points[name] = (ends[grows], ts[grows])

    def points(self, session: str) -> tuple[np.ndarray, np.ndarray]:
        """The appends' stream end positions (ms, strictly ascending) and session times of `session`."""
        return self._points.get(session, (np.empty(0), np.empty(0)))

    def to_times(self, session: str, positions_ms: Any) -> np.ndarray:
        """`to_t` of an array of positions (NaN where not known)."""
        return input_times(*self.points(session), positions_ms)

    def to_t(self, session: str, position_ms: Any) -> float:
        """Session time (s) at which the input stream reached `position_ms`; NaN if it cannot be known."""
        return float(self.to_times(session, _num(position_ms)))


class EventParts:
    """What several tables and metrics derive from one events frame, each computed once on first use:
    the control lines, the input audio clock, first audio times, response purposes, and each session's
    VAD speech segments. `Session`/`Sessions` keep one, so `turns`, `voice_to_voice` and `summary` share
    the work instead of redoing it over millions of lines."""

    def __init__(self, events: pd.DataFrame) -> None:
        self.events = events
        self._segments: dict[str, dict[str, dict[str, Any]]] = {}

    @cached_property
    def ctrl(self) -> pd.DataFrame:
        return control_events(self.events)

    @cached_property
    def clock(self) -> AudioClock:
        return AudioClock(self.events)

    @cached_property
    def first_audio(self) -> dict[tuple[str, str], float]:
        return first_audio_times(self.events)

    @cached_property
    def purposes(self) -> dict[tuple[str, str], str]:
        return response_purposes(self.ctrl)

    @cached_property
    def ctrl_by_session(self) -> dict[str, pd.DataFrame]:
        return dict(by_session(self.ctrl))

    def segments(self, name: str) -> dict[str, dict[str, Any]]:
        """`speech_segments` of one session (the rows are shared: copy before changing them)."""
        if name not in self._segments:
            ev = self.ctrl_by_session.get(name, self.ctrl.iloc[:0])
            self._segments[name] = speech_segments(name, ev, self.clock)
        return self._segments[name]


def phases_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per phase the flow was in: `phase`, `start`, `end`, `duration`, `enter_reason`,
    `exit_reason`, and `unfinished` (the log ended in it without reaching complete/failed/disconnected,
    and not by a deliberate stop: a `session.ended` with outcome `stopped` ends the flow where it was).

    Bounded by the `local` `phase` lines (`data.from`/`to`/`reason`). The first phase starts at the first
    event; the last one ends at `session.ended` (else the last event).
    """
    bounds = session_bounds(events)
    ctrl = control_events(events)
    rows: list[dict[str, Any]] = []
    for name, ev in by_session(ctrl):
        first, end = bounds.at[name, "first"], bounds.at[name, "ended"]
        moves = [
            (t, _data(d)) for t, ty, d in zip(ev["t"], ev["type"], ev["data"], strict=True) if ty == Rec.PHASE
        ]
        start_phase = moves[0][1].get("from") if moves else None
        if start_phase is None:
            first_phase = ev["phase"].dropna()
            start_phase = str(first_phase.iloc[0]) if len(first_phase) else None
        if start_phase is None and not moves:
            continue
        current: dict[str, Any] = {"phase": start_phase, "start": first, "enter_reason": None}
        for t, d in moves:
            rows.append({"session": name, **current, "end": t, "exit_reason": d.get("reason")})
            current = {"phase": d.get("to"), "start": t, "enter_reason": d.get("reason")}
        ended = [d for ty, d in zip(ev["type"], ev["data"], strict=True) if ty == Rec.SESSION_ENDED]
        outcomes = {_data(d).get("outcome") for d in ended}
        rows.append({"session": name, **current, "end": max(end, current["start"]), "exit_reason": None})
        rows[-1]["unfinished"] = current["phase"] not in TERMINAL_PHASES and not (
            outcomes & DELIBERATE_OUTCOMES
        )
    frame = pd.DataFrame(
        rows, columns=["session", "phase", "start", "end", "enter_reason", "exit_reason", "unfinished"]
    )
    frame["unfinished"] = frame["unfinished"].fillna(False).astype(bool)
    frame.insert(4, "duration", frame["end"] - frame["start"])
    return _categorise(frame, ("session", "phase"))


def pings_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per keepalive ping (`local` `ping` lines): `t` (when the pong came back or the wait
    timed out), `phase`, `rtt_s` (NaN on timeout) and `timeout`."""
    pings = events[events["type"] == Rec.PING]
    data = [_data(d) for d in pings["data"]]
    frame = pd.DataFrame(
        {
            "session": pings["session"].to_numpy(),
            "t": pings["t"].to_numpy(),
            "phase": pings["phase"].to_numpy(),
            "rtt_s": np.array([_num(d.get("rtt_ms")) / 1000.0 for d in data], dtype=float),
            "timeout": np.array([bool(d.get("timeout", False)) for d in data], dtype=bool),
        }
    )
    return frame.reset_index(drop=True)


def stalls_table(events: pd.DataFrame, phases: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per event-loop stall (`local` `loop.stall` lines): `start` (`data.started`), `end`,
    `duration_s` (`data.duration_ms`), `cpu_s` (`data.cpu_ms`: the loop thread's CPU time over the stall;
    near `duration_s` the loop was busy, near 0 it could not run; NaN in logs older than the field),
    `phase` (the flow's phase when the stall began, from the `phase` lines; a stall is only logged once it
    is over, often in a later phase) and `logged_phase`.
    `phases`: the `phases_table` of these events if already built."""
    stalls = events[events["type"] == Rec.LOOP_STALL]
    data = [_data(d) for d in stalls["data"]]
    duration = np.array([_num(d.get("duration_ms")) / 1000.0 for d in data], dtype=float)
    cpu = np.array([_num(d.get("cpu_ms")) / 1000.0 for d in data], dtype=float)
    logged = stalls["t"].to_numpy()
    started = np.array([_num(d.get("started")) for d in data], dtype=float)
    start = np.where(np.isnan(started), logged - duration, started)
    frame = pd.DataFrame(
        {
            "session": stalls["session"].to_numpy(),
            "start": start,
            "end": start + duration,
            "duration_s": duration,
            "cpu_s": cpu,
            "phase": stalls["phase"].astype(object).to_numpy(),
            "logged_phase": stalls["phase"].to_numpy(),
            "t": logged,
        }
    )
    if len(frame):
        phases = dict(by_session(phases if phases is not None else phases_table(events)))
        began = list(frame["phase"])
        for i, (name, at) in enumerate(zip(frame["session"].astype(str), frame["start"], strict=True)):
            mine = phases.get(name)
            before = mine[mine["start"] <= at] if mine is not None else None
            if before is not None and len(before):
                began[i] = str(before["phase"].iloc[-1])
        frame["phase"] = began
    frame["phase"] = frame["phase"].astype("category")
    return frame.reset_index(drop=True)


def resume_offset_ms(data: Mapping[str, Any], previous_ms: float) -> float:
    """The input-stream position (ms) at which a resumed connection's audio positions start: the
    `audio_offset_ms` of a `connection.resumed` line (the previous offset when it has none)."""
    offset = _num(data.get("audio_offset_ms"))
    return previous_ms if np.isnan(offset) else offset


CONNECTION_TYPES = (
    Rec.CONNECTION_OPENED,
    Rec.CONNECTION_CLOSED,
    Rec.CONNECTION_LOST,
    Rec.CONNECTION_RECONNECTING,
    Rec.CONNECTION_RESUMED,
)
CONNECTION_COLUMNS = [
    "session",
    "connection",
    "opened",
    "closed",
    "close_code",
    "close_reason",
    "close_by",
    "lost",
    "planned",
    "lost_phase",
    "attempts",
    "offline_from",
    "offline_s",
    "resumed",
    "items_replayed",
    "audio_offset_ms",
]


def connections_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per connection of each session (a reconnect starts a new one), numbered from 0.

    Bounding lines (`local`): `connection.opened` (`opened`); the first `connection.lost` or
    `connection.closed` after it (`closed`, `close_code`, `close_reason`, `close_by`; `lost` when the
    close was unexpected or a planned move to a new session, `planned`, `lost_phase` from `data.phase`);
    `connection.reconnecting` lines before the next open (`attempts`); `connection.resumed` after it
    (`resumed`, `items_replayed`, `audio_offset_ms`). A connection left on purpose (a planned move, e.g.
    before the session expires) may close after its successor opened: that late close is its own. The
    offline gap before a connection runs from the previous connection's close (`offline_from`) to its
    resume (else its open): `offline_s`, or the resume's own `data.offline_s` when it has one. The
    first connection has no gap (NaN).
    """
    lines = events[events["type"].isin(list(CONNECTION_TYPES))]
    rows: list[dict[str, Any]] = []
    for name, ev in by_session(lines):
        mine: list[dict[str, Any]] = []
        attempts = 0
        down = np.nan  # when the previous connection went down
        moving: dict[str, Any] | None = None  # a connection left on purpose whose close has not come
        for t, ty, d in zip(ev["t"], ev["type"], ev["data"], strict=True):
            d = _data(d)
            current = mine[-1] if mine else None
            if ty == Rec.CONNECTION_OPENED:
                mine.append(
                    {
                        "session": name,
                        "connection": len(mine),
                        "opened": t,
                        "closed": np.nan,
                        "close_code": pd.NA,
                        "close_reason": None,
                        "close_by": None,
                        "lost": False,
                        "planned": False,
                        "lost_phase": None,
                        "attempts": attempts,
                        "offline_from": down if mine else np.nan,
                        "offline_s": t - down if mine and not np.isnan(down) else np.nan,
                        "resumed": np.nan,
                        "items_replayed": pd.NA,
                        "audio_offset_ms": np.nan,
                    }
                )
                attempts = 0
            elif ty == Rec.CONNECTION_RECONNECTING:
                attempts += 1
            elif current is None:
                continue
            elif ty in (Rec.CONNECTION_LOST, Rec.CONNECTION_CLOSED):
                if ty == Rec.CONNECTION_CLOSED and moving is not None:
                    current, moving = moving, None  # the late close of a connection moved away from
                if ty == Rec.CONNECTION_LOST:
                    current["lost"] = True
                    current["planned"] = bool(d.get("planned", False))
                    current["lost_phase"] = d.get("phase")
                    if current["planned"] and np.isnan(current["closed"]):
                        moving = current  # still open: its close comes later, maybe after the next open
                if np.isnan(current["closed"]):
                    current["closed"] = t
                    down = t if ty == Rec.CONNECTION_LOST or not current["planned"] else down
                    code = d.get("code")
                    current["close_code"] = (
                        code if isinstance(code, int) and not isinstance(code, bool) else pd.NA
                    )
                    current["close_reason"] = d.get("reason")
                    current["close_by"] = d.get("by")
            elif ty == Rec.CONNECTION_RESUMED:
                current["resumed"] = t
                replayed = d.get("items_replayed")
                current["items_replayed"] = replayed if isinstance(replayed, int) else pd.NA
                current["audio_offset_ms"] = resume_offset_ms(d, np.nan)
                offline = _num(d.get("offline_s"))
                if current["connection"] > 0:
                    current["offline_s"] = offline if not np.isnan(offline) else t - current["offline_from"]
        rows.extend(mine)
    frame = pd.DataFrame(rows, columns=CONNECTION_COLUMNS)
    for col in ("close_code", "items_replayed"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    for col in ("opened", "closed", "offline_from", "offline_s", "resumed", "audio_offset_ms"):
        frame[col] = frame[col].astype(float)
    frame["attempts"] = frame["attempts"].astype(int)
    for col in ("lost", "planned"):
        frame[col] = frame[col].astype(bool)
    frame["session"] = frame["session"].astype("category")
    return frame.reset_index(drop=True)


def first_audio_times(events: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(session, response_id) -> t of the response's first `response.output_audio.delta`."""
    deltas = events.loc[events["type"] == Rec.AUDIO_DELTA, ["session", "response_id", "t"]]
    first = deltas.groupby(["session", "response_id"], observed=True)["t"].min()
    return {(str(s), str(r)): float(t) for (s, r), t in first.items()}


def response_purposes(ctrl: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(session, response_id) -> purpose: the metadata echoed on `response.created`/`response.done`,
    overridden by the client's own binding on `playback.*` lines."""
    out: dict[tuple[str, str], str] = {}
    for s, ty, rid, d in zip(ctrl["session"], ctrl["type"], ctrl["response_id"], ctrl["data"], strict=True):
        d = _data(d)
        if ty in (Rec.RESPONSE_CREATED, Rec.RESPONSE_DONE):
            response = _data(d.get("response"))
            rid = response.get("id") or rid
            purpose = _data(response.get("metadata")).get("purpose")
        elif ty in (Rec.PLAYBACK_STARTED, Rec.PLAYBACK_ENDED):
            purpose = d.get("purpose")
        else:
            continue
        if isinstance(rid, str) and isinstance(purpose, str):
            out[(str(s), rid)] = purpose
    return out


def _interviewer_turns(
    name: str,
    ev: pd.DataFrame,
    first_audio: dict[tuple[str, str], float],
    purposes: dict[tuple[str, str], str],
    by_response: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    turns: dict[str, dict[str, Any]] = {}

    def turn(rid: str) -> dict[str, Any]:
        return turns.setdefault(
            rid,
            {
                "session": name,
                "role": "interviewer",
                "response_id": rid,
                "item_id": None,
                "purpose": None,
                "start": np.nan,
                "end": np.nan,
                "played_s": np.nan,
                "truncated": False,
                "created": np.nan,
                "first_audio": first_audio.get((name, rid), np.nan),
                "status": None,
                "text": None,
            },
        )

    for t, ty, rid, iid, d in zip(
        ev["t"], ev["type"], ev["response_id"], ev["item_id"], ev["data"], strict=True
    ):
        d = _data(d)
        if ty == Rec.RESPONSE_CREATED:
            rid = _data(d.get("response")).get("id") or rid
            if isinstance(rid, str) and np.isnan(turn(rid)["created"]):
                turn(rid)["created"] = t
        elif ty == Rec.RESPONSE_DONE:
            rid = _data(d.get("response")).get("id") or rid
            if isinstance(rid, str):
                turn(rid)["status"] = _data(d.get("response")).get("status")
        elif ty == Rec.PLAYBACK_STARTED and isinstance(rid, str):
            if np.isnan(turn(rid)["start"]):
                turn(rid)["start"] = t
        elif ty == Rec.PLAYBACK_ENDED and isinstance(rid, str):
            row = turn(rid)
            row["end"] = t
            row["played_s"] = _num(d.get("played_ms")) / 1000.0
            row["truncated"] = bool(d.get("truncated", False))
        elif ty == Rec.AUDIO_TRANSCRIPT_DONE and isinstance(rid, str):
            if isinstance(d.get("transcript"), str):
                turn(rid)["text"] = d["transcript"]
            if isinstance(iid, str):
                turn(rid)["item_id"] = iid
        elif ty == OUTPUT_ITEM_ADDED and isinstance(rid, str) and isinstance(iid, str):
            turn(rid)["item_id"] = turn(rid)["item_id"] or iid
    for rid, row in turns.items():
        row["purpose"] = purposes.get((name, rid))
        said = by_response.get(rid)
        if said:
            row["text"] = said.get("text") or row["text"]
            row["item_id"] = row["item_id"] or said.get("item_id")
            row["purpose"] = row["purpose"] or said.get("purpose")
    return list(turns.values())


def speech_segments(name: str, ev: pd.DataFrame, clock: AudioClock) -> dict[str, dict[str, Any]]:
    """The server VAD's speech segments of one session, by item id, in log order.

    Bounding lines: `in` `input_audio_buffer.speech_started` (`data.audio_start_ms`) and
    `speech_stopped` (`data.audio_end_ms`) with the same item id. As the hosted API documents, those
    positions include the VAD's `prefix_padding_ms` and `silence_duration_ms`; the speech itself runs from
    audio_start_ms + prefix to audio_end_ms - silence (`vad_padding.VadWindow`, shared with the live
    panel), with both settings read from the latest `session.update`/`session.updated` before the segment
    (0 when the log has none). `start`/`end` are those positions on the session clock (`AudioClock`);
    `detected`/`stopped` when the events arrived. After a reconnect the server counts positions from 0
    on the new connection: the `audio_offset_ms` of the latest `connection.resumed` before a segment is
    added to map them onto the session's input stream (`resume_offset_ms`).
    """
    vad = VadWindow()
    offset_ms = 0.0  # where the current connection's positions start in the session's input stream
    segments: dict[str, dict[str, Any]] = {}
    for t, ty, iid, d in zip(ev["t"], ev["type"], ev["item_id"], ev["data"], strict=True):
        d = _data(d)
        if vad.follow(ty, d):
            continue
        if ty == Rec.CONNECTION_RESUMED:
            offset_ms = resume_offset_ms(d, offset_ms)
            continue
        iid = d.get("item_id") or iid
        if not isinstance(iid, str):
            continue
        if ty == Rec.SPEECH_STARTED:
            segments[iid] = {
                "item_id": iid,
                "start": clock.to_t(name, offset_ms + vad.speech_start_ms(_num(d.get("audio_start_ms")))),
                "end": np.nan,
                "detected": t,
                "stopped": np.nan,
                "silence_ms": vad.silence_ms,
                "prefix_ms": vad.prefix_ms,
            }
        elif ty == Rec.SPEECH_STOPPED:
            segment = segments.setdefault(
                iid, {"item_id": iid, "start": np.nan, "detected": np.nan, "prefix_ms": vad.prefix_ms}
            )
            segment.update(
                end=clock.to_t(name, offset_ms + vad.speech_end_ms(_num(d.get("audio_end_ms")))),
                stopped=t,
                silence_ms=vad.silence_ms,
            )
    return segments


def _candidate_turns(
    name: str, ev: pd.DataFrame, segments: dict[str, dict[str, Any]], by_item: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Server VAD segments (`speech_segments`); the client's own `candidate.speech_*` lines when the
    server sent no VAD events (turn detection off)."""
    rows = [
        {"session": name, "role": "candidate", "response_id": None, "purpose": None, "text": None, **seg}
        for seg in segments.values()
    ]
    texts: dict[str, str] = {}
    client: list[dict[str, Any]] = []
    for t, ty, iid, d in zip(ev["t"], ev["type"], ev["item_id"], ev["data"], strict=True):
        d = _data(d)
        iid = d.get("item_id") or iid
        if ty == Rec.INPUT_TRANSCRIPT_COMPLETED and isinstance(iid, str):
            if isinstance(d.get("transcript"), str):
                texts[iid] = d["transcript"]
        elif ty == Rec.CANDIDATE_SPEECH_STARTED:
            client.append(
                {
                    "session": name,
                    "role": "candidate",
                    "item_id": None,
                    "response_id": None,
                    "purpose": None,
                    "start": t,
                    "end": np.nan,
                    "detected": np.nan,
                    "stopped": np.nan,
                    "text": None,
                }
            )
        elif ty == Rec.CANDIDATE_SPEECH_ENDED and client and np.isnan(client[-1]["end"]):
            client[-1]["end"] = t
    rows = rows or client
    for row in rows:
        iid = row["item_id"]
        if iid is not None:
            row["text"] = texts.get(iid) or _data(by_item.get(iid)).get("text")
        row.pop("silence_ms", None)
        row.pop("prefix_ms", None)
    return rows


TURN_COLUMNS = [
    "session",
    "turn",
    "role",
    "start",
    "end",
    "duration",
    "purpose",
    "text",
    "response_id",
    "item_id",
    "truncated",
    "barge_in",
    "played_s",
    "created",
    "first_audio",
    "status",
    "detected",
    "stopped",
]


def turns_table(
    events: pd.DataFrame,
    transcripts: Mapping[str, list[dict[str, Any]]] | None = None,
    parts: EventParts | None = None,
) -> pd.DataFrame:
    """One row per interviewer turn (a response: `start`/`end` = `playback.started`/`playback.ended`,
    `created` = `response.created`, `first_audio` = its first `response.output_audio.delta`, `status`
    from `response.done`) and per candidate turn (a VAD segment: `start`/`end` = the server's
    `audio_start_ms`/`audio_end_ms` on the session clock, `detected`/`stopped` = when
    `speech_started`/`speech_stopped` arrived). A response with no audio has NaN `start`/`end`.
    `barge_in` marks a candidate turn that began while the interviewer was playing (its turn is
    `truncated`). Text comes from the event log, else `transcript.json`. `parts`: the `EventParts` of
    these events if the caller keeps one.
    """
    transcripts = transcripts or {}
    parts = parts if parts is not None else EventParts(events)
    first_audio, purposes = parts.first_audio, parts.purposes
    rows: list[dict[str, Any]] = []
    for name, ev in parts.ctrl_by_session.items():
        said = transcripts.get(name, [])
        by_response = {x["response_id"]: x for x in said if isinstance(x.get("response_id"), str)}
        by_item = {x["item_id"]: x for x in said if isinstance(x.get("item_id"), str)}
        interviewer = _interviewer_turns(name, ev, first_audio, purposes, by_response)
        candidate = _candidate_turns(name, ev, parts.segments(name), by_item)
        spans = [(r["start"], r["end"]) for r in interviewer if not np.isnan(r["start"])]
        for row in candidate:
            s = row["start"]
            row["barge_in"] = bool(
                not np.isnan(s) and any(a <= s < (b if not np.isnan(b) else np.inf) for a, b in spans)
            )
        both = interviewer + candidate
        both.sort(
            key=lambda r: (
                r["start"]
                if not np.isnan(r["start"])
                else (r.get("created") if not np.isnan(r.get("created", np.nan)) else np.inf)
            )
        )
        for i, row in enumerate(both):
            row["turn"] = i
        rows.extend(both)
    frame = pd.DataFrame(rows, columns=[c for c in TURN_COLUMNS if c != "duration"])
    frame.insert(5, "duration", frame["end"] - frame["start"])
    for col in ("truncated", "barge_in"):  # False where it does not apply (a candidate is not truncated)
        frame[col] = frame[col].fillna(False).astype(bool)
    return _categorise(frame, ("session", "role", "purpose"))


def _categorise(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    for col in columns:
        frame[col] = frame[col].astype("category")
    return frame
