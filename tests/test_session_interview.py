"""Whole interviews against the emulator's conversation in memory, with real-time audio on the loop's clock.

Each test runs an interview (`session_helpers.run_in_memory`): the session, the simulated candidate
speaking into the emulator's VAD, the emulator's paced audio, all over an ``InMemoryTransport``, on a
fast-forwarding loop (``looptime``). The audio plays at speed 1, so every time in the event log is the
time a real interview would have, exactly; a whole interview costs a second or two of wall time.

What needs the real network (keepalive pings over a websocket, a blocked loop, a dropped TCP connection,
the HTTP handshake and chat endpoint) is in ``test_session_e2e.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from session_helpers import (
    IN_MEMORY,
    DelayedAssessor,
    RaisingAssessor,
    Run,
    SlowAssessor,
    assert_folder_complete,
    assert_happy_interview,
    assert_phases_in_order,
    real_time,
    run_in_memory,
    when,
)

from interview_kit.assessment import HeuristicAssessor
from interview_kit.config import SessionConfig
from interview_kit.emulator import serve_in_memory
from interview_kit.flow import Phase
from interview_kit.scenario import Fault
from interview_kit.session import InterviewSession, SessionResult
from interview_kit.transport import ABNORMAL_CLOSURE, InMemoryTransport

pytestmark = IN_MEMORY

TICK = 0.05  # the session's tick: limits and timeouts are checked this often
#: For tests whose point is the assessment: the default interview cut to its first question (the model
#: still ends it with its tool call).
SHORT = real_time("default", questions=1)


def create_of(run: Run, purpose: str) -> dict:
    return next(e for e in run.of("response.create")
                if e["data"]["response"]["metadata"]["purpose"] == purpose)


async def test_a_whole_interview_at_real_time_reaches_complete(tmp_path: Path) -> None:
    """As the end-to-end default interview (test_session_e2e.py), in memory, with real-time playback."""
    scenario = real_time("default", questions=2)
    run = await run_in_memory(scenario, tmp_path)
    assert_happy_interview(run, scenario)
    assert_folder_complete(run)
    # the interviewer's audio is played at real time on the session clock
    for purpose in ("ack", "summary", "goodbye"):
        rid = run.session.flow.response_id(purpose)
        started = next(e for e in run.of("playback.started") if e["response_id"] == rid)
        ended = next(e for e in run.of("playback.ended") if e["response_id"] == rid)
        assert ended["data"]["played_ms"] > 1000, purpose
        played_s = ended["data"]["played_ms"] / 1000
        assert ended["t"] - started["t"] == pytest.approx(played_s, abs=0.05), purpose
    # every frame the client sent is in the log, in order
    logged = [e["type"] for e in run.events() if e["dir"] == "out"]
    assert logged == [json.loads(frame)["type"] for frame in run.transport.sent]


async def test_failing_assessor_speaks_fallback_then_goodbye(tmp_path: Path) -> None:
    run = await run_in_memory(SHORT, tmp_path, assessor=RaisingAssessor())
    assert run.result.outcome == "complete"
    purposes = [e["data"]["response"]["metadata"]["purpose"] for e in run.of("response.create")]
    assert purposes[-3:] == ["ack", "fallback", "goodbye"]
    report = run.json("report.json")
    assert "the assessment service is down" in report["error"]
    assert report["model"] == "broken-model"
    assert run.of("report.failed")
    assert_folder_complete(run)


async def test_report_timeout_speaks_fallback(tmp_path: Path) -> None:
    """The ack (~5 s) has played and the report is still not there: the flow waits, up to the report
    timeout counted from the report's start, then speaks the fallback."""
    run = await run_in_memory(SHORT, tmp_path, assessor=SlowAssessor(), report_timeout=10.0)
    assert run.result.outcome == "complete"
    assert "timed out" in run.json("report.json")["error"]
    timeout = run.of("timeout")[0]
    assert timeout["data"]["waiting_for"] == "report" and timeout["phase"] == "awaiting_report"
    assert timeout["t"] - run.of("report.started")[0]["t"] == pytest.approx(10.0, abs=TICK + 0.01)
    assert "awaiting_report" in run.phases()
    assert create_of(run, "fallback")["t"] >= timeout["t"]


async def test_stop_mid_interview_leaves_a_complete_folder(tmp_path: Path) -> None:
    def stop_soon(session: InterviewSession) -> None:
        asyncio.get_running_loop().call_later(10.0, session.stop)  # during the greeting's question

    run = await run_in_memory(real_time("default"), tmp_path, during=stop_soon)
    assert run.result.outcome == "stopped"
    assert run.session.phase is Phase.INTERVIEWING
    assert "interview ended before the assessment" in run.json("report.json")["error"]
    assert run.json("transcript.json")["turns"]
    assert run.of("stop.requested")[0]["t"] == pytest.approx(10.0, abs=0.01)
    assert_folder_complete(run)


async def test_button_trigger_assesses(tmp_path: Path) -> None:
    def press_soon(session: InterviewSession) -> None:
        asyncio.get_running_loop().call_later(12.0, session.trigger_assessment)

    run = await run_in_memory(real_time("default"), tmp_path, during=press_soon)
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "button"
    trigger = run.of("assessment.trigger")[0]
    assert trigger["data"]["source"] == "button" and trigger["t"] == pytest.approx(12.0, abs=0.01)
    assert_folder_complete(run)


async def test_question_limit_triggers_the_assessment(tmp_path: Path) -> None:
    run = await run_in_memory(real_time("default", questions=3), tmp_path, max_questions=2)
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "limit"
    assert len([t for t in run.json("transcript.json")["turns"] if t["role"] == "candidate"]) == 2


async def test_minutes_limit_triggers_the_assessment(tmp_path: Path) -> None:
    run = await run_in_memory(real_time("default"), tmp_path, max_minutes=0.2)  # 12 s
    assert run.result.outcome == "complete"
    assert run.result.trigger_source == "limit"
    assert run.of("assessment.trigger")[0]["t"] == pytest.approx(12.0, abs=TICK + 0.01)
    assert run.of("assessment.trigger")[0]["t"] >= 12.0


async def test_without_metadata_echo_ids_bind_to_the_pending_request(tmp_path: Path) -> None:
    run = await run_in_memory(real_time("default", questions=2, faults=(Fault(kind="no_metadata_echo"),)),
                              tmp_path)
    assert run.result.outcome == "complete"
    created = run.of("response.created")
    assert created and all(not (e["data"]["response"].get("metadata") or {}).get("purpose") for e in created)
    assert run.session.flow.response_id("ack") and run.session.flow.response_id("goodbye")
    assert_phases_in_order(run.phases())


async def test_after_ack_mode_starts_the_report_after_the_ack_played(tmp_path: Path) -> None:
    run = await run_in_memory(SHORT, tmp_path, assessment_mode="after-ack")
    assert run.result.outcome == "complete"
    ack_id = run.session.flow.response_id("ack")
    ack_end = next(e for e in run.of("playback.ended") if e["response_id"] == ack_id)
    started = run.of("report.started")[0]
    assert started["t"] >= ack_end["t"] and started["data"]["mode"] == "after-ack"
    # ...and the summary waited for it (in overlap mode it is ready before the ack has played)
    assert run.of("report.ready")[0]["t"] <= create_of(run, "summary")["t"]


async def test_overlap_mode_starts_the_report_at_the_trigger(tmp_path: Path) -> None:
    """A 1.5 s report starts at the trigger and is hidden behind the ~5 s acknowledgement's audio."""
    run = await run_in_memory(SHORT, tmp_path, assessor=DelayedAssessor(1.5))
    assert run.result.outcome == "complete"
    trigger_t = run.of("assessment.trigger")[0]["t"]
    started, ready = run.of("report.started")[0], run.of("report.ready")[0]
    assert started["t"] == trigger_t and started["data"]["mode"] == "overlap"
    assert ready["t"] - started["t"] >= 1.5  # (its thread adds a little, never less)
    ack_id = run.session.flow.response_id("ack")
    ack_end = next(e for e in run.of("playback.ended") if e["response_id"] == ack_id)
    assert ready["t"] < ack_end["t"] and "awaiting_report" not in run.phases()


async def test_cancelled_run_still_completes_the_folder(tmp_path: Path) -> None:
    """Ctrl-C cancels the task running the session: the folder is completed, then it re-raises."""
    scenario = real_time("default")
    transport = InMemoryTransport(serve=serve_in_memory(scenario))
    config = SessionConfig(api_key="sk-cancel-key-1", out_dir=tmp_path)
    session = InterviewSession(config, assessor=HeuristicAssessor(), candidate=scenario, transport=transport)
    task = asyncio.create_task(session.run())
    await asyncio.sleep(10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 20)
    assert session.folder is not None
    meta = json.loads((session.folder / "session.json").read_text())
    assert meta["outcome"] == "stopped" and meta["close_code"] == 1000
    assert transport.close_info is not None and transport.close_info.by == "client"
    run = Run(SessionResult("stopped", session.folder, close_code=1000), session)
    assert run.events()[-1]["type"] == "session.ended"
    assert_folder_complete(run, secret="sk-cancel-key-1")


async def test_drop_while_the_report_runs_still_saves_it(tmp_path: Path) -> None:
    scenario = real_time("default", questions=1,
                         faults=(Fault(kind="drop", during="ack", at=0.0, mode="abrupt"),))
    run = await run_in_memory(scenario, tmp_path, assessor=DelayedAssessor(1.5), reconnect=False)
    assert run.result.outcome == "disconnected"
    assert run.result.close_code == ABNORMAL_CLOSURE
    assert run.phases()[-1] == "disconnected"
    ready = run.of("report.ready")
    closed = run.of("connection.closed")[0]
    assert ready and ready[0]["t"] > closed["t"]  # finished after the drop, and was saved
    report = run.json("report.json")
    assert report["error"] is None and report["scores"]
    assert_folder_complete(run)


async def test_a_button_press_mid_answer_silences_the_candidate(tmp_path: Path) -> None:
    """The simulated candidate stops talking at the trigger: it must not speak over the acknowledgement."""
    def press_mid_answer(session: InterviewSession) -> None:
        when(session, "candidate.speech_started", session.trigger_assessment, 0.5)

    run = await run_in_memory(real_time("default"), tmp_path, during=press_mid_answer)
    assert run.result.outcome == "complete" and run.result.trigger_source == "button"
    trigger_t = run.of("assessment.trigger")[0]["t"]
    started = [e["t"] for e in run.of("candidate.speech_started")]
    ended = [e["t"] for e in run.of("candidate.speech_ended")]
    assert len(started) == len(ended) == 1
    assert trigger_t - started[0] == pytest.approx(0.5, abs=0.01)
    assert 0 <= ended[0] - trigger_t < 0.05  # cut at the press (within a chunk), not at the answer's end
    ack_created = next(e["t"] for e in run.of("response.created")
                       if e["data"]["response"]["metadata"]["purpose"] == "ack")
    assert ended[0] < ack_created


class _ThreadNoting(HeuristicAssessor):
    """The heuristic report, noting the thread each call ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def assess_sync(self, turns, prompt):  # type: ignore[no-untyped-def]
        self.threads.append(threading.get_ident())
        return super().assess_sync(turns, prompt)


class _AsyncThreadNoting(_ThreadNoting):
    """The same as an async assessor (as the OpenAI one: it builds its client inside `assess`)."""

    async def assess(self, turns, prompt):  # type: ignore[no-untyped-def]
        self.threads.append(threading.get_ident())
        return HeuristicAssessor.assess_sync(self, turns, prompt)


@pytest.mark.parametrize("kind", [_ThreadNoting, _AsyncThreadNoting], ids=["sync", "async"])
@pytest.mark.parametrize("mode", ["overlap", "after-ack"])
async def test_the_report_runs_off_the_loop(tmp_path: Path, kind: type[_ThreadNoting], mode: str) -> None:
    """Whatever the assessor, no part of the report (not even building a client) runs on the loop."""
    assessor = kind()
    run = await run_in_memory(SHORT, tmp_path, assessor=assessor, assessment_mode=mode)
    assert run.result.outcome == "complete" and run.json("report.json")["error"] is None
    assert len(assessor.threads) == 1 and assessor.threads[0] != threading.get_ident()
