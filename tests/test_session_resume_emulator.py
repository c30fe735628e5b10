"""The emulator's resumable faults against the real session: the shipped scenarios end `complete`, and a
server that stops reading is found dead in bounded time over a real socket."""

from __future__ import annotations

from pathlib import Path

from session_helpers import IN_MEMORY, assert_folder_complete, fast, real_time, run_in_memory, run_interview

from interview_kit.scenario import Fault, load_scenario


@IN_MEMORY
async def test_drop_and_resume_ends_complete_with_every_question_and_answer_once(tmp_path: Path) -> None:
    """The shipped scenario drops in the middle of the second answer and again during the summary."""
    scenario = real_time("drop-and-resume")
    run = await run_in_memory(scenario, tmp_path)
    assert run.result.outcome == "complete" and run.result.reconnects == 2
    assert run.json("session.json")["reconnects"] == 2
    turns = run.json("transcript.json")["turns"]
    texts = [t["text"] for t in turns]
    for answer in scenario.candidate.answers:
        assert texts.count(answer) == 1, answer
    for question in scenario.interviewer.questions:
        assert sum(question in (t or "") for t in texts) == 1, question
    lost = [e["data"]["phase"] for e in run.of("connection.lost")]
    assert lost == ["interviewing", "summary_speaking"]
    summaries = [t for t in turns if t["purpose"] == "summary"]
    assert summaries[0].get("cut") and not summaries[-1].get("cut") and summaries[-1]["end"] is not None
    assert len(run.of("report.started")) == 1  # the report was not restarted
    assert_folder_complete(run)


@IN_MEMORY
async def test_drop_during_summary_is_heard_after_the_reconnect(tmp_path: Path) -> None:
    run = await run_in_memory(real_time("drop-during-summary"), tmp_path)
    assert run.result.outcome == "complete" and run.result.reconnects == 1
    assert "summary asked again after a reconnect" in [p["data"]["reason"] for p in run.of("phase")]
    assert run.json("report.json")["error"] is None
    assert_folder_complete(run)


async def test_a_server_that_stops_reading_never_hangs_the_session(tmp_path: Path) -> None:
    """Over a real websocket (real socket buffers) the emulator pauses reading its socket 0.5 s (audio
    clock) into the first question: the session closes the connection within 2 x the ping timeout and,
    reconnect off, ends disconnected. (Resumed after it, in memory: test_session_reconnect.py.)"""
    stop = Fault(kind="stop_reading", during="question", at=0.5, reconnectable=True)
    scenario = fast("default", speed=20, questions=1, faults=(stop,))
    ping = 1.0
    run = await run_interview(scenario, tmp_path, reconnect=False, ping_interval=ping, ping_timeout=ping)
    created = next(e["t"] for e in run.of("response.created"))
    closed = run.of("connection.closed")[0]
    assert closed["data"]["by"] == "client"
    assert closed["t"] - (created + 0.5 / scenario.speed) <= 2 * ping + 0.25
    assert run.result.outcome == "disconnected"
    assert_folder_complete(run)


def test_the_shipped_resume_scenarios_drop_resumably() -> None:
    """A drop that is not `reconnectable` would meet every new connection again."""
    for name in ("drop-and-resume", "drop-during-summary"):
        drops = [f for f in load_scenario(name).faults if f.kind == "drop"]
        assert drops and all(f.reconnectable for f in drops), name
