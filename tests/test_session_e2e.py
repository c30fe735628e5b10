"""Whole interviews against the emulator: the happy path, the original failure in both modes, a dropped
connection, a failing assessor, a stop, and what every folder holds afterwards."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from pathlib import Path

import pytest
from session_helpers import (
    FAKE_KEY,
    RaisingAssessor,
    Run,
    SlowAssessor,
    assert_folder_complete,
    assert_phases_in_order,
    fast,
    run_interview,
)

from interview_kit.assessment import (
    HeuristicAssessor,
)
from interview_kit.config import SessionConfig
from interview_kit.emulator import Emulator
from interview_kit.flow import Phase
from interview_kit.scenario import Fault
from interview_kit.session import InterviewSession, SessionResult

HAPPY_PATH = ["triggered", "ack_generating", "ack_speaking", "summary_sending", "summary_speaking",
              "goodbye_sending", "goodbye_speaking", "complete"]


async def test_default_interview_reaches_complete(tmp_path: Path) -> None:
    run = await run_interview(fast("default", speed=30), tmp_path)
    assert run.result.outcome == "complete"
    assert run.result.close_code == 1000
    assert run.result.trigger_source == "tool"
    phases = run.phases()
    assert_phases_in_order(phases)
    assert [p for p in phases if p != "awaiting_report"] == HAPPY_PATH
    assert_folder_complete(run)
    events = run.events()
    # every response id comes from the protocol: never "unknown", never missing on response events
    for e in events:
        assert e.get("response_id") != "unknown"
        if e["dir"] == "in" and e["type"].startswith("response.") and e["type"] != "response.create":
            assert e.get("response_id"), e
    assert not run.of("flow.ignored") and not run.of("error") and not run.of("timeout")
    # the end_interview call got its output
    outputs = [e for e in run.of("conversation.item.create")
               if e["data"]["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1
    # barge-in and automatic responses off before the acknowledgement is requested
    updates = run.of("session.update")
    td = updates[-1]["data"]["session"]["audio"]["input"]["turn_detection"]
    assert td["create_response"] is False and td["interrupt_response"] is False
    creates = {e["data"]["response"]["metadata"]["purpose"]: e for e in run.of("response.create")}
    assert updates[-1]["t"] <= creates["ack"]["t"]
    # overlap: the report starts at the trigger, before the ack has even been created
    assert run.of("report.started")[0]["t"] <= run.of("response.created")[-3]["t"]
    # audio complete = played: the summary is requested only after the ack's last sample was played
    ack_id = run.session.flow.response_id("ack")
    ack_end = next(e for e in run.of("playback.ended") if e["response_id"] == ack_id)
    assert ack_end["data"]["purpose"] == "ack" and not ack_end["data"]["truncated"]
    assert creates["summary"]["t"] >= ack_end["t"]
    # appends carry their position in the input stream, contiguous from 0
    appends = run.of("input_audio_buffer.append")
    assert appends[0]["data"]["audio_start_ms"] == 0
    assert all(a["data"]["audio_end_ms"] == b["data"]["audio_start_ms"] for a, b in pairwise(appends))
    assert all("audio" not in a["data"] and a["bytes"] > 0 for a in appends)
    # transcript: the candidate's answers and the interviewer's lines, in time order
    turns = run.json("transcript.json")["turns"]
    answers = [t["text"] for t in turns if t["role"] == "candidate"]
    assert answers == list(fast("default").candidate.answers)
    assert [t["purpose"] for t in turns if t["purpose"] in ("ack", "summary", "goodbye")] == \
        ["ack", "summary", "goodbye"]
    starts = [t["start"] for t in turns]
    assert starts == sorted(starts)
    report = run.json("report.json")
    assert report["error"] is None and report["prompt"] == "default" and report["scores"]


async def test_slow_report_overlap_completes_without_a_close(tmp_path: Path) -> None:
    run = await run_interview(fast("slow-report", speed=30), tmp_path)
    assert run.session.config.ping_interval == 0.5  # the scenario's [client] table was applied
    assert run.result.outcome == "complete"
    assert run.result.close_code == 1000
    closed = run.of("connection.closed")
    assert [c["data"]["by"] for c in closed] == ["client"]
    assert run.of("report.ready")[0]["data"]["duration_s"] >= 4.5
    pings = run.of("ping")
    assert pings and all("rtt_ms" in p["data"] for p in pings)  # keepalive answered throughout
    # the report ran off the loop: no stall after the trigger (a blocking call, or building an async
    # client on the loop, would show here as hundreds of ms)
    trigger_t = run.of("assessment.trigger")[0]["t"]
    after = [s["data"]["duration_ms"] for s in run.of("loop.stall") if s["data"]["started"] >= trigger_t]
    assert max(after, default=0.0) < 150
    assert_folder_complete(run)


async def test_slow_report_blocking_mode_reproduces_the_1011_close(tmp_path: Path) -> None:
    run = await run_interview(fast("slow-report", speed=30), tmp_path, assessment_mode="blocking")
    assert run.result.outcome == "disconnected"
    # The server's keepalive gave up while the loop was blocked: the original failure, exactly.
    assert (run.result.close_code, run.result.close_reason) == (1011, "keepalive ping timeout")
    stalls = [s["data"]["duration_ms"] for s in run.of("loop.stall")]
    assert max(stalls) >= 3000  # the report call held the loop for ~5 s
    assert run.result.phases[-1]["to"] == "disconnected"
    report = run.json("report.json")
    assert report["error"] is None  # the report itself was produced, and saved
    assert_folder_complete(run)


async def test_drop_during_summary_saves_the_report(tmp_path: Path) -> None:
    run = await run_interview(fast("drop-during-summary", speed=20), tmp_path)
    assert run.result.outcome == "disconnected"
    assert "summary_speaking" in run.phases()
    assert run.phases()[-1] == "disconnected"
    assert run.json("report.json")["error"] is None
    assert run.json("session.json")["outcome"] == "disconnected"
    assert_folder_complete(run)



async def test_failing_assessor_speaks_fallback_then_goodbye(tmp_path: Path) -> None:
    scenario = fast("default", speed=30)
    run = await run_interview(scenario, tmp_path, assessor=RaisingAssessor())
    assert run.result.outcome == "complete"
    purposes = [e["data"]["response"]["metadata"]["purpose"] for e in run.of("response.create")]
    assert purposes[-3:] == ["ack", "fallback", "goodbye"]
    report = run.json("report.json")
    assert "the assessment service is down" in report["error"]
    assert report["model"] == "broken-model"
    assert run.of("report.failed")
    assert_folder_complete(run)



async def test_report_timeout_speaks_fallback(tmp_path: Path) -> None:
    run = await run_interview(fast("default", speed=30), tmp_path, assessor=SlowAssessor(),
                              report_timeout=1.0)
    assert run.result.outcome == "complete"
    assert "timed out" in run.json("report.json")["error"]
    assert run.of("timeout")[0]["data"]["waiting_for"] == "report"
    assert "awaiting_report" in run.phases()


async def test_stop_mid_interview_leaves_a_complete_folder(tmp_path: Path) -> None:
    def stop_soon(session: object) -> None:
        asyncio.get_running_loop().call_later(1.0, session.stop)  # type: ignore[attr-defined]

    run = await run_interview(fast("default", speed=10), tmp_path, during=stop_soon)
    assert run.result.outcome == "stopped"
    assert run.session.phase is Phase.INTERVIEWING
    assert "interview ended before the assessment" in run.json("report.json")["error"]
    assert run.json("transcript.json")["turns"]
    assert_folder_complete(run)


async def test_button_trigger_assesses(tmp_path: Path) -> None:
    def press_soon(session: object) -> None:
        asyncio.get_running_loop().call_later(1.2, session.trigger_assessment)  # type: ignore[attr-defined]

    run = await run_interview(fast("default", speed=10), tmp_path, during=press_soon)
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "button"
    assert run.of("assessment.trigger")[0]["data"]["source"] == "button"
    assert_folder_complete(run)


async def test_question_limit_triggers_the_assessment(tmp_path: Path) -> None:
    run = await run_interview(fast("default", speed=30), tmp_path, max_questions=2)
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "limit"
    assert len([t for t in run.json("transcript.json")["turns"] if t["role"] == "candidate"]) == 2


async def test_without_metadata_echo_ids_bind_to_the_pending_request(tmp_path: Path) -> None:
    scenario = fast("default", speed=30, faults=(Fault(kind="no_metadata_echo"),))
    run = await run_interview(scenario, tmp_path)
    assert run.result.outcome == "complete"
    created = run.of("response.created")
    assert created and all(not (e["data"]["response"].get("metadata") or {}).get("purpose") for e in created)
    assert run.session.flow.response_id("ack") and run.session.flow.response_id("goodbye")
    assert_phases_in_order(run.phases())


async def test_after_ack_mode_starts_the_report_after_the_ack_played(tmp_path: Path) -> None:
    run = await run_interview(fast("default", speed=30), tmp_path, assessment_mode="after-ack")
    assert run.result.outcome == "complete"
    ack_id = run.session.flow.response_id("ack")
    ack_end = next(e for e in run.of("playback.ended") if e["response_id"] == ack_id)
    assert run.of("report.started")[0]["t"] >= ack_end["t"]
    assert run.of("report.started")[0]["data"]["mode"] == "after-ack"


async def test_wrong_key_is_a_failed_outcome_not_an_exception(tmp_path: Path) -> None:
    scenario = fast("default", speed=30)
    run = await run_interview(scenario, tmp_path, emulator_key="sk-the-right-one", assessor=RaisingAssessor())
    assert run.result.outcome == "failed"
    errors = run.of("error")
    assert errors and "401" in errors[0]["data"]["message"]
    assert_folder_complete(run)


@pytest.mark.parametrize("mode", ["overlap"])
async def test_secrets_never_reach_the_folder_even_in_errors(tmp_path: Path, mode: str) -> None:
    scenario = fast("default", speed=30, faults=(Fault(kind="error_event", at=0.2, code="invalid_api_key",
                                                       message=f"Incorrect API key provided: {FAKE_KEY}"),))
    run = await run_interview(scenario, tmp_path, assessment_mode=mode)
    assert run.result.outcome == "complete"
    errors = [e for e in run.of("error") if e["dir"] == "in"]
    assert errors and "[redacted]" in errors[0]["data"]["error"]["message"]
    assert_folder_complete(run)  # greps every file for the key


async def test_cancelled_run_still_completes_the_folder(tmp_path: Path) -> None:
    """Ctrl-C cancels the task running the session: the folder is completed, then it re-raises."""
    scenario = fast("default", speed=10)
    with Emulator.in_thread(scenario=scenario) as emu:
        config = SessionConfig(base_url=emu.base_url, api_key=FAKE_KEY, out_dir=tmp_path, speed=10.0)
        session = InterviewSession(config, assessor=HeuristicAssessor(), candidate=scenario)
        task = asyncio.create_task(session.run())
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)
    assert session.folder is not None
    meta = json.loads((session.folder / "session.json").read_text())
    assert meta["outcome"] == "stopped" and meta["close_code"] == 1000
    run = Run(SessionResult("stopped", session.folder, close_code=1000), session)
    assert run.events()[-1]["type"] == "session.ended"
    assert_folder_complete(run)


async def test_drop_while_the_report_runs_still_saves_it(tmp_path: Path) -> None:
    scenario = fast("default", speed=30, report_delay=1.5,
                    faults=(Fault(kind="drop", during="ack", at=0.0, mode="abrupt"),))
    run = await run_interview(scenario, tmp_path)
    assert run.result.outcome == "disconnected"
    assert run.phases()[-1] == "disconnected"
    ready = run.of("report.ready")
    closed = run.of("connection.closed")[0]
    assert ready and ready[0]["t"] > closed["t"]  # finished after the drop, and was saved
    assert run.json("report.json")["error"] is None
    assert_folder_complete(run)


async def test_minutes_limit_triggers_the_assessment(tmp_path: Path) -> None:
    run = await run_interview(fast("default", speed=10), tmp_path, max_minutes=0.02)  # 1.2 s
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "limit"
    assert run.of("assessment.trigger")[0]["t"] >= 1.2


async def test_a_button_press_mid_answer_silences_the_candidate(tmp_path: Path) -> None:
    """The simulated candidate stops talking at the trigger: it must not speak over the acknowledgement."""
    def press_mid_answer(session: InterviewSession) -> None:
        pressed = False

        def listen(record: dict) -> None:
            nonlocal pressed
            if record["type"] == "candidate.speech_started" and not pressed:
                pressed = True
                asyncio.get_running_loop().call_later(0.02, session.trigger_assessment)

        session.add_listener(listen)

    run = await run_interview(fast("default", speed=5), tmp_path, during=press_mid_answer)
    assert run.result.outcome == "complete" and run.result.trigger_source == "button"
    trigger_t = run.of("assessment.trigger")[0]["t"]
    started = [e["t"] for e in run.of("candidate.speech_started")]
    ended = [e["t"] for e in run.of("candidate.speech_ended")]
    assert len(started) == len(ended) == 1
    assert 0 <= ended[0] - trigger_t < 0.05  # cut at the press, not at the end of the answer
    ack_created = next(e["t"] for e in run.of("response.created")
                       if e["data"]["response"]["metadata"]["purpose"] == "ack")
    assert ended[0] < ack_created
