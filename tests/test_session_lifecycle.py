"""The session's edges against a scripted server in memory: requests the flow gave up on, stop while the
report runs, stop/trigger before run, a failing microphone, the fallback's language, and where a
candidate turn sits on the session clock.

The scripted server (`session_helpers.FakeRealtime`) serves an ``InMemoryTransport``, on a fast-forwarding
loop (``looptime``): every wait below is on the loop's clock, so the times asserted are exact and a test
that waits for a timeout takes no wall time. (Credentials in a websocket URL: ``test_session_e2e.py``.)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from session_helpers import (
    FAKE_KEY,
    FOLDER_FILES,
    IN_MEMORY,
    FakeRealtime,
    RaisingAssessor,
    Run,
    SlowAssessor,
    assert_folder_complete,
    real_time,
    run_in_memory,
    when,
)

from interview_kit.assessment import (
    HeuristicAssessor,
    OpenAIAssessor,
    fallback_summary,
)
from interview_kit.audio import MicrophoneInput
from interview_kit.config import SessionConfig
from interview_kit.session import InterviewSession, SessionResult
from interview_kit.session_ending import STOP_REPORT_WAIT
from interview_kit.transport import InMemoryTransport

SCENARIO = real_time("default")  # gives the config its speed (1) and language; FakeRealtime is the server


async def run_against(fake: FakeRealtime, tmp_path: Path, **kwargs: Any) -> Run:
    """A session without a candidate against `fake`, in memory."""
    return await run_in_memory(SCENARIO, tmp_path, serve=fake.serve, candidate=False, **kwargs)


@IN_MEMORY
async def test_a_request_the_flow_gave_up_on_is_never_sent_late(tmp_path: Path) -> None:
    """The interviewer's question never finishes (a stalled server), so the ack waits in the sequencer;
    the flow times out and moves on. When the question finally ends, the abandoned ack must not be sent:
    the summary and goodbye follow, in order."""
    fake = FakeRealtime()

    def on_create(purpose: str) -> bool:
        if purpose != "question":
            return True
        asyncio.get_running_loop().create_task(fake.created("resp_q", "question"))  # ...and no done
        return False

    async def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "response.cancel":  # the button's cancel: the stalled server ends it late
            asyncio.get_running_loop().call_later(
                1.5, lambda: asyncio.ensure_future(fake.done("resp_q", "question")))

    fake.on_create, fake.on_event = on_create, on_event

    def press(session: InterviewSession) -> None:
        when(session, "response.created", session.trigger_assessment, 0.1)

    run = await run_against(fake, tmp_path, during=press, response_created_timeout=1.0,
                            sequencer_timeout=10.0)
    assert run.result.outcome == "complete"
    assert fake.purposes() == ["question", "summary", "goodbye"]  # no late ack
    creates = run.of("response.create")
    assert [(e["data"]["response"]["metadata"]["purpose"], e["phase"]) for e in creates] == [
        ("question", "interviewing"), ("summary", "summary_sending"), ("goodbye", "goodbye_sending")]
    # the summary went out once the stalled question was done (1.5 s after the cancel), not before
    cancel_t = run.of("response.cancel")[0]["t"]
    assert creates[1]["t"] - cancel_t == pytest.approx(1.5, abs=0.01)
    assert_folder_complete(run)


@IN_MEMORY
async def test_stop_while_the_report_runs_does_not_wait_for_the_report_budget(tmp_path: Path) -> None:
    def stop_during_the_report(session: InterviewSession) -> None:
        when(session, "response.done", session.trigger_assessment)
        when(session, "report.started", session.stop, 0.3)

    run = await run_against(FakeRealtime(), tmp_path, assessor=SlowAssessor(), during=stop_during_the_report)
    assert run.session.config.report_timeout == 90.0
    assert run.result.outcome == "stopped"
    error = run.json("report.json")["error"]
    assert "stopped" in error
    assert run.of("report.failed")[0]["data"]["error"] == error
    # a stopped session gives the report STOP_REPORT_WAIT (2 s) more, not what is left of the 90 s budget
    stopped_t = run.of("stop.requested")[0]["t"]
    assert run.of("report.failed")[0]["t"] - stopped_t == pytest.approx(STOP_REPORT_WAIT, abs=0.1)
    assert run.events()[-1]["t"] - stopped_t < STOP_REPORT_WAIT + 1.0
    assert_folder_complete(run)


@IN_MEMORY
async def test_a_second_cancel_while_finishing_still_completes_session_json(tmp_path: Path) -> None:
    transport = InMemoryTransport(serve=FakeRealtime().serve)
    session = InterviewSession(SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path), assessor=SlowAssessor(),
                               transport=transport)
    when(session, "response.done", session.trigger_assessment)
    task = asyncio.create_task(session.run())
    started = asyncio.Event()
    when(session, "report.started", started.set)
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()  # Ctrl-C
    await asyncio.sleep(0.2)
    task.cancel()  # ...and again, while the session waits for the report
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert session.folder is not None
    meta = json.loads((session.folder / "session.json").read_text())
    assert meta["ended"] and meta["outcome"] == "stopped"
    # (the second cancel may cut the closing handshake short: whatever code it got, the folder says it)
    run = Run(SessionResult("stopped", session.folder, close_code=meta["close_code"]), session)
    assert run.events()[-1]["type"] == "session.ended"
    assert run.json("report.json")["error"]
    assert_folder_complete(run)


@IN_MEMORY
async def test_stop_before_run_is_honoured_and_trigger_before_run_is_refused(tmp_path: Path) -> None:
    fake = FakeRealtime()
    transport = InMemoryTransport(serve=fake.serve)
    session = InterviewSession(SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path),
                               assessor=HeuristicAssessor(), transport=transport)
    with pytest.raises(RuntimeError, match="not running"):
        session.trigger_assessment()
    session.stop()
    result = await asyncio.wait_for(session.run(), 10)
    run = Run(result, session)
    assert result.outcome == "stopped"
    assert run.of("stop.requested") and not run.of("connection.opened")
    assert transport.sent == [] and fake.received == []  # it never connected
    for name in FOLDER_FILES:
        assert (run.folder / name).is_file()
    assert_folder_complete(run)


@IN_MEMORY
async def test_a_microphone_that_fails_mid_run_fails_the_session(tmp_path: Path) -> None:
    def broken_device(**kwargs: Any) -> Any:
        raise OSError("device unplugged")

    mic = MicrophoneInput(stream_factory=broken_device)
    run = await run_against(FakeRealtime(), tmp_path, input=mic)  # not an interview with no input, forever
    assert run.result.outcome == "failed"
    assert "input device" in run.result.phases[-1]["reason"]
    assert any("microphone" in e["data"]["message"] for e in run.of("error"))
    assert_folder_complete(run)


def test_the_default_assessor_leaves_room_for_retries_inside_the_report_budget(tmp_path: Path) -> None:
    session = InterviewSession(SessionConfig(out_dir=tmp_path, report_timeout=40.0, api_key="sk-x-1234"))
    assessor = session.assessor
    assert isinstance(assessor, OpenAIAssessor)
    assert assessor.timeout * (assessor.max_retries + 1) == pytest.approx(40.0)
    assert assessor.max_retries >= 1


@IN_MEMORY
async def test_the_fallback_line_speaks_the_prompts_language(tmp_path: Path) -> None:
    fake = FakeRealtime()

    def press(session: InterviewSession) -> None:
        when(session, "response.done", session.trigger_assessment)

    run = await run_against(fake, tmp_path, assessor=RaisingAssessor(), during=press, prompt="korean",
                            language="en")
    assert run.result.outcome == "complete"
    fallback = next(e for e in fake.received if e["type"] == "response.create"
                    and e["response"]["metadata"]["purpose"] == "fallback")
    assert fallback_summary("ko") in fallback["response"]["instructions"]
    assert fallback_summary("ko") != fallback_summary("en")


@IN_MEMORY
async def test_a_candidate_turn_sits_where_the_analysis_puts_it(tmp_path: Path) -> None:
    """A chunk is sent once its last sample is recorded: its send time is its end's, not its start's.
    The transcript's candidate turn must map positions the way analysis does (append t <-> audio_end_ms)."""
    fake = FakeRealtime()
    sent_speech = False

    async def on_event(event: dict[str, Any]) -> None:
        nonlocal sent_speech
        if event["type"] != "input_audio_buffer.append" or sent_speech:
            return
        appended = sum(1 for e in fake.received if e["type"] == "input_audio_buffer.append")
        if appended >= 12:  # 480 ms of input at 40 ms a chunk
            sent_speech = True
            await fake.send("input_audio_buffer.speech_started", audio_start_ms=200, item_id="item_c")
            await fake.send("input_audio_buffer.speech_stopped", audio_end_ms=400, item_id="item_c")
            await fake.send("conversation.item.input_audio_transcription.completed", item_id="item_c",
                            content_index=0, transcript="Hello there.")
            await fake.close(1000, "done")

    fake.on_event = on_event
    run = await run_against(fake, tmp_path, chunk_ms=40)
    appends = {a["data"]["audio_end_ms"]: a["t"] for a in run.of("input_audio_buffer.append")}
    assert appends[400] - appends[200] == pytest.approx(0.2, abs=1e-3)  # real-time input, on the clock
    turn = next(t for t in run.json("transcript.json")["turns"] if t["role"] == "candidate")
    assert turn["text"] == "Hello there."
    assert turn["start"] == pytest.approx(appends[200], abs=0.015)  # off by a chunk (40 ms) before
    assert turn["end"] == pytest.approx(appends[400], abs=0.015)


@IN_MEMORY
async def test_the_assessor_is_prepared_off_the_loop_before_the_interview(tmp_path: Path) -> None:
    """Its slow set-up (the SDK's client and TLS context) happens in a thread before connecting, not in
    the report's thread mid-interview, where it held the interpreter while the loop waited."""
    import threading

    seen: list[str] = []

    class Preparing(HeuristicAssessor):
        def __init__(self) -> None:
            super().__init__()
            self.prepared_in: str | None = None
            self.seen_then: list[str] = []

        def prepare(self) -> None:
            self.prepared_in = threading.current_thread().name
            self.seen_then = list(seen)

    assessor = Preparing()

    def watch(session: InterviewSession) -> None:
        session.add_listener(lambda record: seen.append(record["type"]))

    run = await run_in_memory(real_time("default", questions=1), tmp_path, assessor=assessor, during=watch)
    assert run.result.outcome == "complete"
    assert assessor.prepared_in is not None and assessor.prepared_in != threading.main_thread().name
    assert assessor.seen_then == ["session.started"]  # before connecting
