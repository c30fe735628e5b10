"""The contract end to end: a folder recorded by `interview-kit demo` loads, and its metrics make sense.

This is the check that the session's real output matches docs/session-folder.md as the analysis reads it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interview_kit.analysis import assessment_gaps, load_session, voice_to_voice
from interview_kit.cli import main

pytestmark = pytest.mark.timeout(90)

FLOW = [
    "interviewing",
    "triggered",
    "ack_generating",
    "ack_speaking",
    "summary_sending",
    "summary_speaking",
    "goodbye_sending",
    "goodbye_speaking",
    "complete",
]


def test_a_recorded_demo_loads_with_sensible_metrics(tmp_path, capsys):
    code = main(["demo", "--scenario", "default", "--out", str(tmp_path), "--speed", "20"])
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and folder.parent == tmp_path
    s = load_session(folder)
    assert s.meta["outcome"] == "complete" and s.meta["scenario"] == "default"
    phases = [
        p for p in s.phases["phase"].astype(str) if p != "awaiting_report"
    ]  # entered only if the report is late
    assert phases == FLOW
    turns = s.turns
    candidate = turns[turns["role"] == "candidate"]
    assert len(candidate) == 4 and candidate["text"].notna().all()
    assert (candidate["end"] > candidate["start"]).all()
    spoken = turns[(turns["role"] == "interviewer") & turns["start"].notna()]
    assert set(spoken["purpose"].astype(str)) >= {"ack", "summary", "goodbye"}
    assert not turns["response_id"].astype(str).str.contains("unknown").any()
    v2v = voice_to_voice(s)
    answered = v2v[v2v["gap_s"].notna()]
    assert len(answered) == 3  # questions 2-4 answer answers 1-3; answer 4 is answered by the tool call
    parts = answered[["vad_s", "server_created_s", "server_audio_s", "client_s"]]
    assert (parts >= 0).all().all()
    assert answered["gap_s"].to_numpy() == pytest.approx(parts.sum(axis=1).to_numpy())
    assert (v2v["silence_ms"] == 500).all()
    gaps = assessment_gaps(s).iloc[0]
    for col in ("trigger_to_ack_s", "ack_to_summary_s", "report_s", "summary_to_goodbye_s"):
        assert gaps[col] > 0, col
    assert gaps["trigger_source"] == "tool" and gaps["report_mode"] == "overlap"
    row = s.summary().iloc[0]
    assert row["close_code"] == 1000 and row["final_phase"] == "complete"
