"""Timing metrics of recorded sessions, each defined once, with the events that bound it.

All times are seconds on the session clock (`t` of docs/session-folder.md). Every function takes a
`Session` or `Sessions` (anything with `events`, `turns`, `phases`, `pings`, `stalls`, `sessions`)
and returns one frame for all the sessions in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interview_kit import flow
from interview_kit.analysis.tables import SUMMARY_PURPOSES, EventParts, by_session, session_bounds
from interview_kit.records import Purpose, Rec

# The flow's phases in order (`flow.PHASE_ORDER`, the happy path), then its other ends (failed,
# disconnected), for column order; unknown phases go after them.
PHASE_ORDER: tuple[str, ...] = tuple(str(p) for p in flow.PHASE_ORDER) + tuple(
    str(p) for p in flow.Phase if p in flow.TERMINAL_PHASES and p not in flow.PHASE_ORDER
)


def _parts(s: Any) -> EventParts:
    """The shared derived pieces of `s` (a `Session`/`Sessions` keeps one), else built now."""
    parts = getattr(s, "parts", None)
    return parts if isinstance(parts, EventParts) else EventParts(s.events)


def _voice_to_voice(s: Any) -> pd.DataFrame:
    """`voice_to_voice(s)` as `s` caches it (do not change the frame), else computed now."""
    cached = getattr(s, "voice_to_voice_frame", None)
    return cached if isinstance(cached, pd.DataFrame) else voice_to_voice_table(_parts(s))


def voice_to_voice(s: Any) -> pd.DataFrame:
    """The voice-to-voice gap of every interviewer response that answers candidate speech, in parts.

    For a response R that is the first `response.created` after an `in`
    `input_audio_buffer.speech_stopped` S (so R answers S):

    - `speech_end`: the candidate's last speech: S's `data.audio_end_ms` minus the VAD's
      `silence_duration_ms` (`silence_ms`; the hosted API counts the silence window into audio_end_ms),
      mapped onto the session clock through the `out` `input_audio_buffer.append` lines
      (`tables.speech_segments`, `tables.AudioClock`);
    - `vad_s` = t(S) - `speech_end`: the VAD's silence window, plus detection and transport;
    - `server_created_s` = t(R's `response.created`) - t(S);
    - `server_audio_s` = t(R's first `response.output_audio.delta`) - t(R's `response.created`);
    - `client_s` = t(R's `playback.started`) - t(first audio delta): buffering and playout;
    - `gap_s` = t(R's `playback.started`) - `speech_end`, the sum of the four parts: what the candidate
      hears as silence. NaN when R played no audio (e.g. a function call).
    """
    return _voice_to_voice(s).copy()


def voice_to_voice_table(parts: EventParts) -> pd.DataFrame:
    """`voice_to_voice` of the events behind `parts` (what `Session.voice_to_voice_frame` caches)."""
    first_audio = parts.first_audio
    rows: list[dict[str, Any]] = []
    for name, ev in parts.ctrl_by_session.items():
        played: dict[str, float] = {}
        for t, ty, rid in zip(ev["t"], ev["type"], ev["response_id"], strict=True):
            if ty == Rec.PLAYBACK_STARTED and isinstance(rid, str):
                played.setdefault(rid, t)
        segments = parts.segments(name)
        pending: dict[str, Any] | None = None  # the speech segment not yet answered
        for t, ty, rid, iid, d in zip(
            ev["t"], ev["type"], ev["response_id"], ev["item_id"], ev["data"], strict=True
        ):
            d = d if isinstance(d, dict) else {}
            if ty == Rec.SPEECH_STOPPED:
                pending = segments.get(d.get("item_id") or iid)
            elif ty == Rec.RESPONSE_CREATED:
                rid = (d.get("response") or {}).get("id") or rid
                segment, pending = pending, None
                if segment is None or not isinstance(rid, str):
                    continue
                stopped, speech_end = segment["stopped"], segment["end"]
                audio = first_audio.get((name, rid), np.nan)
                start = played.get(rid, np.nan)
                rows.append(
                    {
                        "session": name,
                        "response_id": rid,
                        "item_id": segment["item_id"],
                        "speech_end": speech_end,
                        "stopped": stopped,
                        "created": t,
                        "first_audio": audio,
                        "played": start,
                        "silence_ms": segment["silence_ms"],
                        "vad_s": stopped - speech_end,
                        "server_created_s": t - stopped,
                        "server_audio_s": audio - t,
                        "client_s": start - audio,
                        "gap_s": start - speech_end,
                    }
                )
    columns = [
        "session",
        "response_id",
        "item_id",
        "speech_end",
        "stopped",
        "created",
        "first_audio",
        "played",
        "silence_ms",
        "vad_s",
        "server_created_s",
        "server_audio_s",
        "client_s",
        "gap_s",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["session"] = frame["session"].astype("category")
    return frame


def _split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows by session name, split once (filtering per session would cost sessions x rows)."""
    return dict(by_session(frame))


# The assessment's spoken lines, by the purposes that make each (a failed report speaks a fallback summary).
ASSESSMENT_LINES = {
    **{str(p): "ack" for p in (Purpose.ACK,)},
    **{str(p): "summary" for p in SUMMARY_PURPOSES},
    **{str(p): "goodbye" for p in (Purpose.GOODBYE,)},
}


def _first_lines(turns: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """(session, line) -> the first interviewer turn (by `created`, NaN last) that speaks that assessment
    line (`ack`, `summary`, `goodbye`: `ASSESSMENT_LINES`), in one pass over all sessions' turns."""
    spoken = turns[turns["role"] == "interviewer"]
    line = spoken["purpose"].astype(object).map(ASSESSMENT_LINES)
    hit = spoken.assign(line=line)[line.notna()]
    hit = hit.sort_values("created", na_position="last", kind="stable")
    first = hit.groupby([hit["session"].astype(str), "line"], sort=False).head(1)
    return {
        (str(n), str(k)): {"start": st, "end": en, "purpose": pu}
        for n, k, st, en, pu in zip(
            first["session"], first["line"], first["start"], first["end"], first["purpose"], strict=True
        )
    }


def assessment_gaps(s: Any) -> pd.DataFrame:
    """One row per session: the silences and waits of the end-of-interview assessment.

    - `trigger_to_ack_s`: the first `local` `assessment.trigger` -> `playback.started` of the response
      whose purpose is `ack`;
    - `ack_to_summary_s`: `playback.ended` of the ack -> `playback.started` of the `summary` (or its
      `fallback`): the silence the original bug caused;
    - `report_s`: report generation, `data.duration_s` of `report.ready`/`report.failed` (else the
      time from `report.started` to that line); `report_ok` False on `report.failed`;
    - `report_start_s`: `assessment.trigger` -> `report.started` (0 in overlap mode, the ack in after-ack);
    - `summary_to_goodbye_s`: `playback.ended` of the summary -> `playback.started` of `goodbye`.

    Purposes come from `playback.*` `data.purpose`, else the metadata echoed on `response.created`.
    A gap whose bounding events are missing (the session ended first) is NaN.
    """
    turns = s.turns
    ctrl = _parts(s).ctrl
    rows: list[dict[str, Any]] = []
    wanted = (Rec.TRIGGER, Rec.REPORT_STARTED, Rec.REPORT_READY, Rec.REPORT_FAILED)
    by_name = _split(ctrl[ctrl["type"].isin(wanted)])
    lines = _first_lines(turns)
    for name in s.sessions["session"].astype(str):
        ev = by_name.get(name, ctrl.iloc[:0])
        row: dict[str, Any] = {
            "session": name,
            "trigger": np.nan,
            "trigger_source": None,
            "report_mode": None,
            "report_started": np.nan,
            "report_done": np.nan,
            "report_s": np.nan,
            "report_ok": pd.NA,
            "report_error": None,
        }
        for t, ty, d in zip(ev["t"], ev["type"], ev["data"], strict=True):
            d = d if isinstance(d, dict) else {}
            if ty == Rec.TRIGGER and np.isnan(row["trigger"]):
                row["trigger"], row["trigger_source"] = t, d.get("source")
            elif ty == Rec.REPORT_STARTED and np.isnan(row["report_started"]):
                row["report_started"], row["report_mode"] = t, d.get("mode")
            elif ty in (Rec.REPORT_READY, Rec.REPORT_FAILED) and np.isnan(row["report_done"]):
                row["report_done"] = t
                row["report_ok"] = ty == Rec.REPORT_READY
                row["report_error"] = d.get("error")
                duration = d.get("duration_s")
                row["report_s"] = (
                    float(duration) if isinstance(duration, int | float) else t - row["report_started"]
                )
        ack, summ, bye = (lines.get((name, k), {}) for k in ("ack", "summary", "goodbye"))
        row["ack_start"], row["ack_end"] = ack.get("start", np.nan), ack.get("end", np.nan)
        row["summary_start"], row["summary_end"] = summ.get("start", np.nan), summ.get("end", np.nan)
        row["summary_purpose"] = summ.get("purpose")
        row["goodbye_start"] = bye.get("start", np.nan)
        row["trigger_to_ack_s"] = row["ack_start"] - row["trigger"]
        row["ack_to_summary_s"] = row["summary_start"] - row["ack_end"]
        row["report_start_s"] = row["report_started"] - row["trigger"]
        row["summary_to_goodbye_s"] = row["goodbye_start"] - row["summary_end"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(
            columns=["session", "trigger_to_ack_s", "ack_to_summary_s", "report_s", "summary_to_goodbye_s"]
        )
    for col in frame.columns:
        if col.endswith(("_s", "_start", "_end")) or col in ("trigger", "report_started", "report_done"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    frame["report_ok"] = frame["report_ok"].astype("boolean") if "report_ok" in frame else pd.NA
    return frame


def phase_durations(s: Any) -> pd.DataFrame:
    """One row per session, one column per phase: seconds spent in it (summed if entered twice), bounded
    by the `local` `phase` lines (see `tables.phases_table`). Phases never entered are NaN."""
    phases = s.phases
    names = list(s.sessions["session"].astype(str))
    if phases.empty:
        return pd.DataFrame(index=pd.Index(names, name="session"))
    wide = phases.assign(
        session=phases["session"].astype(str), phase=phases["phase"].astype(str)
    ).pivot_table(index="session", columns="phase", values="duration", aggfunc="sum")
    order = [p for p in PHASE_ORDER if p in wide.columns] + sorted(
        c for c in wide.columns if c not in PHASE_ORDER
    )
    wide = wide.reindex(index=names, columns=order)
    wide.columns.name = None
    wide.index.name = "session"
    return wide


def timeouts(s: Any) -> pd.DataFrame:
    """One row per session: how the connection's keepalive fared and how it ended.

    - `stalls`, `longest_stall_s`, `longest_stall_phase`: `local` `loop.stall` lines (`data.duration_ms`;
      the phase the flow was in when the longest stall began, `stalls.phase`: a stall is logged only once
      it is over, so its line's own phase, `stalls.logged_phase`, is often the next one);
    - `pings`, `ping_timeouts`, `rtt_median_s`, `rtt_max_s`: `local` `ping` lines (`data.rtt_ms` or
      `data.timeout`);
    - `close_t`, `close_code`, `close_reason`, `close_by`: the last `local` `connection.closed` line
      (the session's end: a connection lost before it was resumed, see `reconnects`; else
      `session.json`'s `close_code`/`close_reason`, with `close_t` NaN);
    - `stall_to_close_s`: from the end of the last stall that began before the close to `close_t`
      (about 0 when the close was only seen once a blocked loop ran again);
    - `pong_to_close_s`: from the last answered ping (a `ping` line without timeout) to `close_t`.
    """
    stalls, pings, ctrl = s.stalls, s.pings, _parts(s).ctrl
    closes = ctrl[ctrl["type"] == Rec.CONNECTION_CLOSED]
    rows = []
    stalls_by, pings_by, closes_by = _split(stalls), _split(pings), _split(closes)
    for name, meta in s.metas.items():
        st = stalls_by.get(name, stalls.iloc[:0])
        pg = pings_by.get(name, pings.iloc[:0])
        cl = closes_by.get(name, closes.iloc[:0])
        row: dict[str, Any] = {
            "session": name,
            "stalls": len(st),
            "longest_stall_s": np.nan,
            "longest_stall_phase": None,
        }
        if len(st):
            worst = st.loc[st["duration_s"].idxmax()]
            row["longest_stall_s"], row["longest_stall_phase"] = worst["duration_s"], worst["phase"]
        answered = pg[~pg["timeout"]]
        row.update(
            pings=len(pg),
            ping_timeouts=int(pg["timeout"].sum()),
            rtt_median_s=answered["rtt_s"].median(),
            rtt_max_s=answered["rtt_s"].max(),
        )
        if len(cl):
            last = cl.iloc[-1]  # the session's end: earlier closes were reconnected (`reconnects`)
            d = last["data"] if isinstance(last["data"], dict) else {}
            close_t = float(last["t"])
            row.update(
                close_t=close_t, close_code=d.get("code"), close_reason=d.get("reason"), close_by=d.get("by")
            )
            before = st[st["start"] <= close_t]
            row["stall_to_close_s"] = close_t - before["end"].max() if len(before) else np.nan
            pongs = answered[answered["t"] <= close_t]
            row["pong_to_close_s"] = close_t - pongs["t"].max() if len(pongs) else np.nan
        else:
            row.update(
                close_t=np.nan,
                close_code=meta.get("close_code"),
                close_reason=meta.get("close_reason"),
                close_by=None,
                stall_to_close_s=np.nan,
                pong_to_close_s=np.nan,
            )
        rows.append(row)
    frame = pd.DataFrame(
        rows,
        columns=[
            "session",
            "stalls",
            "longest_stall_s",
            "longest_stall_phase",
            "pings",
            "ping_timeouts",
            "rtt_median_s",
            "rtt_max_s",
            "close_t",
            "close_code",
            "close_reason",
            "close_by",
            "stall_to_close_s",
            "pong_to_close_s",
        ],
    )
    frame["close_code"] = pd.to_numeric(frame["close_code"], errors="coerce").astype("Int64")
    return frame


SUMMARY_COLUMNS = [
    "session",
    "scenario",
    "assessment_mode",
    "speed",
    "target",
    "usable",
    "outcome",
    "final_phase",
    "duration_s",
    "interviewer_turns",
    "candidate_turns",
    "barge_ins",
    "gap_median_s",
    "gap_ci_low_s",
    "gap_ci_high_s",
    "gap_max_s",
    "vad_median_s",
    "server_median_s",
    "client_median_s",
    "trigger_to_ack_s",
    "ack_to_summary_s",
    "report_s",
    "report_ok",
    "summary_to_goodbye_s",
    "stalls",
    "longest_stall_s",
    "longest_stall_phase",
    "ping_timeouts",
    "rtt_median_s",
    "close_code",
    "close_reason",
    "stall_to_close_s",
    "pong_to_close_s",
    "reconnects",
    "offline_s",
    "unusable_reason",
    "report_error",
]

# The bootstrap behind every confidence interval here: a percentile bootstrap of the median in numpy,
# with a fixed seed so that the same data give the same interval.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261203
CONFIDENCE = 0.95


def median_ci(
    values: Any,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(median, low, high): the median of `values` (NaN ignored) and its percentile-bootstrap
    confidence interval (`resamples` resamples with replacement, numpy's default generator seeded with
    `seed`). The interval is NaN below two values; with few values it is as wide as the data allow."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    median = float(np.median(x))
    if x.size < 2:
        return median, np.nan, np.nan
    rng = np.random.default_rng(seed)
    medians = np.empty(resamples)
    step = max(1, 4_000_000 // x.size)  # resamples per batch: bounded memory for long columns
    for start in range(0, resamples, step):
        stop = min(resamples, start + step)
        medians[start:stop] = np.median(x[rng.integers(0, x.size, size=(stop - start, x.size))], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(medians, [tail, 1.0 - tail])
    return median, float(low), float(high)


def reconnects(s: Any) -> pd.DataFrame:
    """One row per session: `reconnects` (connections resumed after the first: `connection.resumed`
    lines, else session.json `reconnects`) and `offline_s` (the offline gaps summed: the resumes'
    `offline_s`, else session.json `offline_s`; 0 when the connection never dropped)."""
    conn = s.connections
    later = conn[conn["connection"] > 0]
    g = later.groupby(later["session"].astype(str), observed=True)
    counted = g["resumed"].count()
    offline = g["offline_s"].sum(min_count=1)
    rows = []
    for name, meta in s.metas.items():
        n, gone = counted.get(name, 0), offline.get(name, np.nan)
        if not n and isinstance(meta.get("reconnects"), int):
            n = meta["reconnects"]
        if np.isnan(gone):
            value = meta.get("offline_s")
            gone = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
        rows.append({"session": name, "reconnects": int(n), "offline_s": float(gone)})
    return pd.DataFrame(rows, columns=["session", "reconnects", "offline_s"])


def summary(s: Any) -> pd.DataFrame:
    """One row per session with the headline figures of the metrics above (medians over turns), plus
    `duration_s` (first event -> `session.ended`, else the last event) and `final_phase` (the last row
    of `phases`)."""
    info = s.sessions.astype({"session": str}).set_index("session")
    names = list(info.index)
    bounds = session_bounds(s.events).reindex(names)
    turns = s.turns
    role = turns["role"].astype(str)
    key = turns["session"].astype(str)
    out = pd.DataFrame(index=pd.Index(names, name="session"))
    out["scenario"] = info["scenario"].astype(object)
    out["assessment_mode"] = info["assessment_mode"].astype(object)
    outcome = info["outcome"].astype(object)
    final = s.phases.groupby(s.phases["session"].astype(str))["phase"].last().astype(object)
    out["final_phase"] = final.reindex(names)
    out["outcome"] = outcome.where(outcome.notna(), _ended_outcome(s, names))
    out["duration_s"] = bounds["ended"] - bounds["first"]
    out["interviewer_turns"] = (role == "interviewer").groupby(key).sum().reindex(names).fillna(0).astype(int)
    out["candidate_turns"] = (role == "candidate").groupby(key).sum().reindex(names).fillna(0).astype(int)
    out["barge_ins"] = (
        turns["barge_in"].fillna(False).astype(bool).groupby(key).sum().reindex(names).fillna(0)
    )
    out["barge_ins"] = out["barge_ins"].astype(int)
    v2v = _voice_to_voice(s)
    g = v2v.groupby(v2v["session"].astype(str))
    out["gap_median_s"] = g["gap_s"].median().reindex(names)
    cis = {str(name): median_ci(rows["gap_s"])[1:] for name, rows in g}
    out["gap_ci_low_s"] = [cis.get(n, (np.nan, np.nan))[0] for n in names]
    out["gap_ci_high_s"] = [cis.get(n, (np.nan, np.nan))[1] for n in names]
    out["gap_max_s"] = g["gap_s"].max().reindex(names)
    out["vad_median_s"] = g["vad_s"].median().reindex(names)
    out["server_median_s"] = (
        (v2v["server_created_s"] + v2v["server_audio_s"])
        .groupby(v2v["session"].astype(str))
        .median()
        .reindex(names)
    )
    out["client_median_s"] = g["client_s"].median().reindex(names)
    gaps = assessment_gaps(s).set_index("session").reindex(names)
    for col in (
        "trigger_to_ack_s",
        "ack_to_summary_s",
        "report_s",
        "report_ok",
        "summary_to_goodbye_s",
        "report_error",
    ):
        out[col] = gaps[col] if col in gaps else np.nan
    tm = timeouts(s).set_index("session").reindex(names)
    for col in (
        "stalls",
        "longest_stall_s",
        "longest_stall_phase",
        "ping_timeouts",
        "rtt_median_s",
        "close_code",
        "close_reason",
        "stall_to_close_s",
        "pong_to_close_s",
    ):
        out[col] = tm[col]
    rc = reconnects(s).set_index("session").reindex(names)
    out["reconnects"] = rc["reconnects"].fillna(0).astype(int)
    out["offline_s"] = rc["offline_s"]
    for col in ("speed", "target", "usable", "unusable_reason"):
        out[col] = info[col].astype(object) if col in info else np.nan
    out["speed"] = out["speed"].astype(float)
    out["usable"] = out["usable"].astype(bool)
    out = out.reset_index()
    return out[SUMMARY_COLUMNS]


# What `medians` reports: the per-turn latency parts (pooled over the group's turns) and, per session,
# the assessment's gaps and the phase durations.
TURN_METRICS = ("gap_s", "vad_s", "server_created_s", "server_audio_s", "client_s")
SESSION_METRICS = ("trigger_to_ack_s", "ack_to_summary_s", "report_s", "summary_to_goodbye_s")


def medians(s: Any, *, by: Any = ("scenario", "mode"), confidence: float = CONFIDENCE) -> pd.DataFrame:
    """The median of every gap and phase duration per group, with its bootstrap confidence interval
    (`median_ci`: percentile bootstrap in numpy, fixed seed).

    One row per group and metric: the `by` columns (sessions-table columns: `scenario`, `mode`,
    `speed`, `target`, ...), `metric`, `unit` (`turn` or `session`: what was resampled), `n`, `median`,
    `ci_low`, `ci_high`. Per-turn latencies (`gap_s` and its parts) pool the group's turns, so their
    interval is that of a turn drawn from these sessions (turns of one session are not independent:
    read a narrow interval over few sessions with care); assessment gaps and phase durations
    (`phase:<name>`) take one value per session.
    """
    by = [by] if isinstance(by, str) else list(by)
    info = s.sessions.astype({"session": str})
    missing = [c for c in by if c not in info.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: the sessions table has {list(info.columns)}")
    keys = info.set_index("session")[by].astype(object)
    turns = s.turns
    per_turn = turns[turns["role"] == "interviewer"][["session", *TURN_METRICS]].assign(
        session=lambda f: f["session"].astype(str)
    )
    per_session = assessment_gaps(s)[["session", *SESSION_METRICS]].assign(
        session=lambda f: f["session"].astype(str)
    )
    phases = phase_durations(s)
    phases.columns = [f"phase:{c}" for c in phases.columns]
    per_session = per_session.merge(phases, left_on="session", right_index=True, how="left")
    rows = []
    for frame, unit in ((per_turn, "turn"), (per_session, "session")):
        frame = frame.join(keys, on="session")
        metrics = [c for c in frame.columns if c not in ("session", *by)]
        for group, rows_of in frame.groupby(by, dropna=False, sort=True, observed=True):
            group = group if isinstance(group, tuple) else (group,)
            for metric in metrics:
                values = rows_of[metric].to_numpy(dtype=float)
                n = int(np.count_nonzero(~np.isnan(values)))
                if not n:
                    continue
                median, low, high = median_ci(values, confidence=confidence)
                rows.append(
                    {
                        **dict(zip(by, group, strict=True)),
                        "metric": metric,
                        "unit": unit,
                        "n": n,
                        "median": median,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    return pd.DataFrame(rows, columns=[*by, "metric", "unit", "n", "median", "ci_low", "ci_high"])


def _ended_outcome(s: Any, names: list[str]) -> pd.Series:
    """`session.ended` `data.outcome` per session, for a session.json that has none."""
    ctrl = _parts(s).ctrl
    ended = ctrl[ctrl["type"] == Rec.SESSION_ENDED]
    found = {
        str(n): (d or {}).get("outcome")
        for n, d in zip(ended["session"], ended["data"], strict=True)
        if isinstance(d, dict)
    }
    return pd.Series([found.get(n, "unfinished") for n in names], index=names, dtype=object)
