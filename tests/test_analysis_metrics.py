"""Metrics against values computed by hand from the small logs in analysis_helpers (read their docstrings)."""

from __future__ import annotations

import math
import warnings

import pandas as pd
import pytest
from analysis_helpers import barge_in_session, complete_session, ev, write_folder

from interview_kit.analysis import (
    assessment_gaps,
    load_session,
    load_sessions,
    phase_durations,
    summary,
    timeouts,
    voice_to_voice,
)
from interview_kit.analysis.tables import AudioClock

approx = pytest.approx


@pytest.fixture
def complete(tmp_path):
    transcript = [
        {
            "role": "interviewer",
            "text": "Welcome! Tell me about a project.",
            "start": 0.85,
            "end": 2.85,
            "response_id": "r1",
            "purpose": "question",
        }
    ]
    return load_session(
        write_folder(tmp_path, "20261125-100000-aaaa", complete_session(), transcript=transcript)
    )


@pytest.fixture
def interrupted(tmp_path):
    with pytest.warns(RuntimeWarning, match="truncated"):
        return load_session(
            write_folder(
                tmp_path,
                "20261125-110000-bbbb",
                barge_in_session(),
                meta={
                    "outcome": None,
                    "close_code": None,
                    "close_reason": None,
                    "assessment_mode": "after-ack",
                },
                tail='{"t": 6.4, "wall": 17640000',
            )
        )


def test_audio_clock_maps_stream_positions_onto_the_session_clock(complete):
    clock = AudioClock(complete.events)
    name = complete.name
    assert clock.to_t(name, 4600) == approx(5.5)
    assert clock.to_t(name, 4650) == approx(5.55)  # inside a chunk: interpolated
    assert clock.to_t(name, 10**7) != clock.to_t(name, 10**7)  # past the last append: NaN
    assert math.isnan(clock.to_t("no-such-session", 100))


def test_voice_to_voice_parts_and_gap(complete):
    v2v = voice_to_voice(complete).set_index("response_id")
    assert list(v2v.index) == ["r2", "r3"]  # r1 (greeting) and the assessment responses answer no speech
    r2 = v2v.loc["r2"]
    assert r2["item_id"] == "u1"
    assert r2["speech_end"] == approx(5.5)
    assert r2["vad_s"] == approx(0.5)
    assert r2["server_created_s"] == approx(0.25)
    assert r2["server_audio_s"] == approx(0.30)
    assert r2["client_s"] == approx(0.05)
    assert r2["gap_s"] == approx(1.10)
    assert r2["gap_s"] == approx(r2["vad_s"] + r2["server_created_s"] + r2["server_audio_s"] + r2["client_s"])


def test_a_turn_with_no_audio_has_no_gap(complete):
    r3 = voice_to_voice(complete).set_index("response_id").loc["r3"]
    assert r3["vad_s"] == approx(0.5)
    assert r3["server_created_s"] == approx(0.2)
    assert math.isnan(r3["server_audio_s"]) and math.isnan(r3["client_s"]) and math.isnan(r3["gap_s"])
    turn = complete.turns.set_index("response_id").loc["r3"]
    assert math.isnan(turn["start"]) and turn["played_s"] == 0


def test_turns_table(complete):
    turns = complete.turns
    assert list(turns["role"].astype(str)) == [
        "interviewer",
        "candidate",
        "interviewer",
        "candidate",
        "interviewer",
        "interviewer",
        "interviewer",
        "interviewer",
    ]
    assert list(turns["turn"]) == list(range(8))
    by_id = turns.set_index(turns["response_id"].fillna(turns["item_id"]).astype(str))
    assert by_id.loc["u1", "start"] == approx(3.3) and by_id.loc["u1", "end"] == approx(5.5)
    assert by_id.loc["u1", "text"] == "I built a data pipeline."
    assert by_id.loc["r1", "text"] == "Welcome! Tell me about a project."  # from transcript.json
    assert by_id.loc["r2", "duration"] == approx(3.0)
    assert by_id.loc["r2", "gap_s"] == approx(1.10)
    assert [str(p) for p in by_id.loc[["r4", "r5", "r6"], "purpose"]] == ["ack", "summary", "goodbye"]
    assert not turns["barge_in"].any() and not turns["truncated"].any()


def test_assessment_gaps(complete):
    gaps = assessment_gaps(complete).iloc[0]
    assert gaps["trigger_source"] == "tool" and gaps["report_mode"] == "overlap"
    assert gaps["trigger_to_ack_s"] == approx(0.5)
    assert gaps["ack_to_summary_s"] == approx(0.95)
    assert gaps["report_s"] == approx(2.9)  # the line's own duration_s, not the 3.0 s between the lines
    assert bool(gaps["report_ok"]) is True
    assert gaps["report_start_s"] == approx(0.0)
    assert gaps["summary_to_goodbye_s"] == approx(0.40)


def test_phase_durations(complete):
    wide = phase_durations(complete).iloc[0]
    expected = {
        "interviewing": 13.0,
        "triggered": 0.01,
        "ack_generating": 0.19,
        "ack_speaking": 2.3,
        "awaiting_report": 0.5,
        "summary_sending": 0.2,
        "summary_speaking": 4.25,
        "goodbye_sending": 0.15,
        "goodbye_speaking": 2.25,
        "complete": 0.25,
    }
    assert list(wide.index) == list(expected)  # in the flow's order
    for phase, seconds in expected.items():
        assert wide[phase] == approx(seconds), phase
    phases = complete.phases
    assert phases.iloc[3]["exit_reason"] == "ack played" and phases.iloc[4]["enter_reason"] == "ack played"
    assert not phases["unfinished"].any()


def test_timeouts(complete):
    row = timeouts(complete).iloc[0]
    assert row["stalls"] == 1
    assert row["longest_stall_s"] == approx(0.12) and row["longest_stall_phase"] == "ack_speaking"
    assert row["pings"] == 4 and row["ping_timeouts"] == 1
    assert row["rtt_median_s"] == approx(0.003) and row["rtt_max_s"] == approx(0.004)
    assert row["close_t"] == approx(23.0) and row["close_code"] == 1000 and row["close_reason"] == "bye"
    assert row["close_by"] == "client"
    assert row["stall_to_close_s"] == approx(8.8)
    assert row["pong_to_close_s"] == approx(3.0)
    stall = complete.stalls.iloc[0]
    assert (stall["start"], stall["end"]) == (approx(14.08), approx(14.2))
    pings = complete.pings
    assert pings["timeout"].tolist() == [False, False, True, False]
    assert math.isnan(pings["rtt_s"].iloc[2])


def test_barge_in(interrupted):
    turns = interrupted.turns
    r1 = turns[turns["response_id"] == "r1"].iloc[0]
    u1 = turns[turns["item_id"] == "u1"].iloc[0]
    assert bool(r1["truncated"]) and r1["played_s"] == approx(1.5) and r1["status"] == "cancelled"
    assert bool(u1["barge_in"]) and u1["start"] == approx(2.1) and u1["end"] == approx(3.5)
    r2 = voice_to_voice(interrupted).set_index("response_id").loc["r2"]
    assert (r2["vad_s"], r2["server_created_s"], r2["server_audio_s"], r2["client_s"], r2["gap_s"]) == (
        approx(0.5),
        approx(0.3),
        approx(0.3),
        approx(0.02),
        approx(1.12),
    )


def test_a_session_that_ended_mid_flow(interrupted):
    phases = interrupted.phases
    assert list(phases["phase"].astype(str)) == ["interviewing", "triggered"]
    last = phases.iloc[-1]
    assert bool(last["unfinished"]) and pd.isna(last["exit_reason"])
    assert last["end"] == approx(6.2) and last["duration"] == approx(0.2)
    gaps = assessment_gaps(interrupted).iloc[0]
    assert gaps["trigger_source"] == "button" and gaps["report_mode"] == "after-ack"
    assert (
        math.isnan(gaps["trigger_to_ack_s"]) and math.isnan(gaps["report_s"]) and pd.isna(gaps["report_ok"])
    )
    row = summary(interrupted).iloc[0]
    assert row["outcome"] == "unfinished" and row["final_phase"] == "triggered"
    assert pd.isna(row["close_code"]) and math.isnan(row["stall_to_close_s"])
    assert row["barge_ins"] == 1


def test_summary_one_row_per_session(tmp_path):
    write_folder(tmp_path, "a-complete", complete_session())
    write_folder(
        tmp_path, "b-interrupted", barge_in_session(), meta={"scenario": "korean", "outcome": "failed"}
    )
    loaded = load_sessions(tmp_path)
    table = loaded.summary()
    assert list(table["session"]) == ["a-complete", "b-interrupted"]
    first = table.iloc[0]
    assert first["outcome"] == "complete" and first["final_phase"] == "complete"
    assert first["duration_s"] == approx(23.1)
    assert (first["interviewer_turns"], first["candidate_turns"]) == (6, 2)
    assert first["gap_median_s"] == approx(1.10) and first["gap_max_s"] == approx(1.10)
    assert first["server_median_s"] == approx(0.55) and first["client_median_s"] == approx(0.05)
    assert first["trigger_to_ack_s"] == approx(0.5) and first["close_code"] == 1000
    assert table.iloc[1]["outcome"] == "failed"  # session.json's word wins when it has one
    assert table.iloc[1]["gap_median_s"] == approx(1.12)
    # stacked metrics equal the per-session ones
    alone = voice_to_voice(loaded["b-interrupted"])
    stacked = voice_to_voice(loaded)
    assert stacked[stacked["session"] == "b-interrupted"]["gap_s"].tolist() == approx(alone["gap_s"].tolist())


def test_metrics_survive_dropping_stream_data(tmp_path):
    write_folder(tmp_path, "s", complete_session())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lean = load_sessions(tmp_path, stream_data=False)
        full = load_sessions(tmp_path, stream_data=True)
    appends = lean.events[lean.events["type"] == "input_audio_buffer.append"]
    assert appends["data"].isna().all() and appends["audio_end_ms"].notna().all()
    pd.testing.assert_frame_equal(lean.summary(), full.summary())


def test_vad_padding_and_silence_window_are_taken_out(tmp_path):
    # The hosted API counts prefix padding into audio_start_ms and the silence window into audio_end_ms.
    # With prefix 200 ms and silence 400 ms: u1 is speech from 2600 to 4200 ms -> t 3.5 .. 5.1.
    update = ev(
        0.3,
        "in",
        "session.updated",
        type="session.updated",
        session={
            "type": "realtime",
            "audio": {
                "input": {
                    "turn_detection": {
                        "type": "server_vad",
                        "prefix_padding_ms": 200,
                        "silence_duration_ms": 400,
                    }
                }
            },
        },
    )
    s = load_session(
        write_folder(tmp_path, "vad", sorted([*complete_session(), update], key=lambda x: x["t"]))
    )
    u1 = s.turns[s.turns["item_id"] == "u1"].iloc[0]
    assert (u1["start"], u1["end"]) == (approx(3.5), approx(5.1))
    r2 = voice_to_voice(s).set_index("response_id").loc["r2"]
    assert r2["silence_ms"] == 400
    assert (r2["speech_end"], r2["vad_s"], r2["gap_s"]) == (approx(5.1), approx(0.9), approx(1.5))
    assert r2["server_created_s"] == approx(0.25)  # the server and client parts do not move


def test_a_stopped_session_leaves_no_phase_unfinished(tmp_path):
    """Stop is a deliberate end: the phase it ended is not `unfinished` (a crash's would be)."""
    stop = [
        ev(6.3, "local", "connection.closed", phase="triggered", code=1000, reason="", by="client"),
        ev(6.4, "local", "session.ended", phase="triggered", outcome="stopped"),
    ]
    stopped = load_session(write_folder(tmp_path, "stopped", barge_in_session() + stop))
    last = stopped.phases.iloc[-1]
    assert last["phase"] == "triggered" and not bool(last["unfinished"]) and last["end"] == approx(6.4)
    assert summary(stopped).iloc[0]["outcome"] == "complete"  # session.json's word (write_folder's default)
    killed = load_session(write_folder(tmp_path, "killed", barge_in_session() + stop[:1]))
    assert bool(killed.phases.iloc[-1]["unfinished"])  # closed, but the session never said it ended


def test_longest_stall_phase_is_where_the_stall_began(tmp_path):
    """A stall is logged once it is over: the line's phase is often the next one; the metric's is not."""
    late = ev(15.6, "local", "loop.stall", phase="awaiting_report", duration_ms=300.0, started=15.3)
    s = load_session(write_folder(tmp_path, "s", sorted([*complete_session(), late], key=lambda x: x["t"])))
    row = timeouts(s).iloc[0]
    assert row["longest_stall_s"] == approx(0.3) and row["longest_stall_phase"] == "ack_speaking"
    assert s.stalls["logged_phase"].astype(str).tolist() == ["ack_speaking", "awaiting_report"]


def test_derived_pieces_are_computed_once(tmp_path, monkeypatch):
    """turns, voice_to_voice, summary and stalls share the VAD segments and the phases table."""
    from interview_kit.analysis import tables

    calls = {"segments": 0, "phases": 0}
    real_segments, real_phases = tables.speech_segments, tables.phases_table

    def segments(*args, **kwargs):
        calls["segments"] += 1
        return real_segments(*args, **kwargs)

    def phases(*args, **kwargs):
        calls["phases"] += 1
        return real_phases(*args, **kwargs)

    monkeypatch.setattr(tables, "speech_segments", segments)
    monkeypatch.setattr(tables, "phases_table", phases)
    write_folder(tmp_path, "a", complete_session())
    write_folder(tmp_path, "b", barge_in_session())
    loaded = load_sessions(tmp_path, workers=1)
    assert len(loaded.turns) and len(loaded.stalls)
    voice_to_voice(loaded)
    table = loaded.summary()
    assert calls == {"segments": 2, "phases": 1}
    assert table["gap_median_s"].tolist() == approx([1.10, 1.12])
    gaps = voice_to_voice(loaded)
    gaps.loc[:, "gap_s"] = 0.0  # a copy: changing it leaves the cached frame alone
    assert loaded.summary()["gap_median_s"].tolist() == approx([1.10, 1.12])


def test_phase_columns_follow_the_flow(tmp_path):
    from interview_kit import flow
    from interview_kit.analysis.metrics import PHASE_ORDER

    assert PHASE_ORDER == (*(str(p) for p in flow.PHASE_ORDER), "failed", "disconnected")
    from analysis_helpers import phase

    lines = [*barge_in_session(), phase(6.3, "triggered", "disconnected", "connection lost")]
    wide = phase_durations(load_session(write_folder(tmp_path, "d", lines)))
    assert list(wide.columns) == ["interviewing", "triggered", "disconnected"]


def test_median_ci_is_a_seeded_percentile_bootstrap():
    from interview_kit.analysis import median_ci

    values = [1.0, 1.2, 0.9, 1.1, 5.0, 1.05, 0.95, float("nan")]
    median, low, high = median_ci(values)
    assert median == approx(1.05) and low <= median <= high
    assert 0.9 <= low and high <= 1.2  # the outlier moves the median's interval little
    assert median_ci(values) == (median, low, high)  # fixed seed: the same interval every time
    wider = median_ci(values, confidence=0.99)
    assert wider[1] <= low and wider[2] >= high
    assert math.isnan(median_ci([2.0])[1]) and median_ci([2.0])[0] == 2.0
    assert all(math.isnan(v) for v in median_ci([]))


def test_summary_gives_the_gap_median_an_interval_and_medians_cover_every_gap_and_phase(tmp_path):
    write_folder(tmp_path, "a", complete_session(), meta={"assessment_mode": "overlap"})
    write_folder(tmp_path, "b", complete_session(), meta={"assessment_mode": "blocking"})
    write_folder(tmp_path, "c", complete_session(), meta={"assessment_mode": "blocking"})
    loaded = load_sessions(tmp_path, workers=1)
    row = loaded.summary().iloc[0]
    # one answered turn per session: a median, but no interval from one value
    assert row["gap_median_s"] == approx(1.10) and math.isnan(row["gap_ci_low_s"])
    assert (row["speed"], row["target"], row["usable"]) == (1.0, "emulator", True)
    table = loaded.medians(by="mode").set_index(["mode", "metric"])
    assert list(table.columns) == ["unit", "n", "median", "ci_low", "ci_high"]
    gap = table.loc[("blocking", "gap_s")]
    assert (gap["unit"], gap["n"], gap["median"]) == ("turn", 2, approx(1.10))
    assert gap["ci_low"] == approx(1.10) and gap["ci_high"] == approx(1.10)
    report = table.loc[("blocking", "report_s")]
    assert (report["unit"], report["n"], report["median"]) == ("session", 2, approx(2.9))
    assert table.loc[("overlap", "phase:ack_speaking"), "median"] == approx(2.3)
    metrics = set(table.loc["blocking"].index)
    assert {"vad_s", "client_s", "trigger_to_ack_s", "ack_to_summary_s", "summary_to_goodbye_s"} <= metrics
    with pytest.raises(ValueError, match="cannot group by"):
        loaded.medians(by="nope")
