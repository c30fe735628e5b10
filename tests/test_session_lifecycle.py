"""The session's edges against a scripted server: requests the flow gave up on, stop while the report
runs, stop/trigger before run, a failing microphone, credentials in the URL, the fallback's language,
and where a candidate turn sits on the session clock."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import websockets
from session_helpers import (
    FOLDER_FILES,
    RUN_TIMEOUT,
    FakeRealtime,
    RaisingAssessor,
    Run,
    SlowAssessor,
    assert_folder_complete,
)

from interview_kit.assessment import (
    HeuristicAssessor,
    OpenAIAssessor,
    fallback_summary,
)
from interview_kit.audio import MicrophoneInput
from interview_kit.config import SessionConfig
from interview_kit.session import InterviewSession, SessionResult


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config_for(port: int, tmp_path: Path, **changes: Any) -> SessionConfig:
    return SessionConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-lifecycle-key-1",
                         out_dir=tmp_path, **changes)


def when(session: InterviewSession, type_: str, action: Any, delay: float = 0.0) -> None:
    """Call `action()` `delay` s after the first event-log record of `type_`."""
    fired = False

    def listen(record: dict[str, Any]) -> None:
        nonlocal fired
        if record["type"] == type_ and not fired:
            fired = True
            asyncio.get_running_loop().call_later(delay, action)

    session.add_listener(listen)


async def run_against(fake: FakeRealtime, session_for: Any) -> Run:
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as srv:
        session: InterviewSession = session_for(srv.sockets[0].getsockname()[1])
        result = await asyncio.wait_for(session.run(), RUN_TIMEOUT)
    return Run(result, session)


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

    def make(port: int) -> InterviewSession:
        session = InterviewSession(config_for(port, tmp_path, response_created_timeout=1.0,
                                              sequencer_timeout=10.0), assessor=HeuristicAssessor())
        when(session, "response.created", session.trigger_assessment, 0.1)
        return session

    run = await run_against(fake, make)
    assert run.result.outcome == "complete"
    assert fake.purposes() == ["question", "summary", "goodbye"]  # no late ack
    creates = run.of("response.create")
    assert [(e["data"]["response"]["metadata"]["purpose"], e["phase"]) for e in creates] == [
        ("question", "interviewing"), ("summary", "summary_sending"), ("goodbye", "goodbye_sending")]
    assert_folder_complete(run, secret="sk-lifecycle-key-1")



async def test_stop_while_the_report_runs_does_not_wait_for_the_report_budget(tmp_path: Path) -> None:
    fake = FakeRealtime()

    def make(port: int) -> InterviewSession:
        session = InterviewSession(config_for(port, tmp_path), assessor=SlowAssessor())  # 90 s budget
        when(session, "response.done", session.trigger_assessment)
        when(session, "report.started", session.stop, 0.3)
        return session

    async with websockets.serve(fake.handler, "127.0.0.1", 0) as srv:
        session = make(srv.sockets[0].getsockname()[1])
        result = await asyncio.wait_for(session.run(), 15.0)  # not the 90 s report budget
    run = Run(result, session)
    assert result.outcome == "stopped"
    error = run.json("report.json")["error"]
    assert "stopped" in error
    assert run.of("report.failed")[0]["data"]["error"] == error
    assert_folder_complete(run, secret="sk-lifecycle-key-1")


async def test_a_second_cancel_while_finishing_still_completes_session_json(tmp_path: Path) -> None:
    fake = FakeRealtime()
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as srv:
        session = InterviewSession(config_for(srv.sockets[0].getsockname()[1], tmp_path),
                                   assessor=SlowAssessor())
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
    run = Run(SessionResult("stopped", session.folder), session)
    meta = run.json("session.json")
    assert meta["ended"] and meta["outcome"] == "stopped"
    assert run.events()[-1]["type"] == "session.ended"
    assert run.json("report.json")["error"]


async def test_stop_before_run_is_honoured_and_trigger_before_run_is_refused(tmp_path: Path) -> None:
    session = InterviewSession(config_for(free_port(), tmp_path), assessor=HeuristicAssessor())
    with pytest.raises(RuntimeError, match="not running"):
        session.trigger_assessment()
    session.stop()
    result = await asyncio.wait_for(session.run(), 10)
    run = Run(result, session)
    assert result.outcome == "stopped"
    assert run.of("stop.requested") and not run.of("connection.opened")
    for name in FOLDER_FILES:
        assert (run.folder / name).is_file()
    assert_folder_complete(run, secret="sk-lifecycle-key-1")


async def test_a_microphone_that_fails_mid_run_fails_the_session(tmp_path: Path) -> None:
    def broken_device(**kwargs: Any) -> Any:
        raise OSError("device unplugged")

    fake = FakeRealtime()

    def make(port: int) -> InterviewSession:
        mic = MicrophoneInput(stream_factory=broken_device)
        return InterviewSession(config_for(port, tmp_path), input=mic, assessor=HeuristicAssessor())

    async with websockets.serve(fake.handler, "127.0.0.1", 0) as srv:
        session = make(srv.sockets[0].getsockname()[1])
        result = await asyncio.wait_for(session.run(), 10)  # not an interview with no input, forever
    run = Run(result, session)
    assert result.outcome == "failed"
    assert "input device" in run.result.phases[-1]["reason"]
    assert any("microphone" in e["data"]["message"] for e in run.of("error"))
    assert_folder_complete(run, secret="sk-lifecycle-key-1")


SECRET_PASSWORD = "pw-s3cret-in-url"


async def test_credentials_in_the_base_url_never_reach_the_folder(tmp_path: Path) -> None:
    fake = FakeRealtime()

    def make(port: int) -> InterviewSession:
        config = SessionConfig(base_url=f"http://alice:{SECRET_PASSWORD}@127.0.0.1:{port}/v1",
                               out_dir=tmp_path / "ok", api_key_env="IK_TEST_UNSET_KEY_VAR")
        session = InterviewSession(config, assessor=HeuristicAssessor())
        when(session, "response.done", session.stop)
        return session

    run = await run_against(fake, make)
    assert run.result.outcome == "stopped"
    assert run.of("connection.opened")[0]["data"]["url"].startswith("ws://127.0.0.1:")
    meta = run.json("session.json")
    assert "@" not in meta["config"]["base_url"]
    assert meta["config"]["api_key_env"] == "IK_TEST_UNSET_KEY_VAR"  # a variable's name, not a secret
    assert_folder_complete(run, secret=SECRET_PASSWORD)

    # a refused connection: the error message names the URL, without its credentials
    config = SessionConfig(base_url=f"http://alice:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/v1",
                           out_dir=tmp_path / "refused")
    session = InterviewSession(config, assessor=HeuristicAssessor())
    refused = Run(await asyncio.wait_for(session.run(), 20), session)
    assert refused.result.outcome == "failed"
    assert "could not connect to ws://127.0.0.1:" in refused.of("error")[0]["data"]["message"]
    assert_folder_complete(refused, secret=SECRET_PASSWORD)


def test_the_default_assessor_leaves_room_for_retries_inside_the_report_budget(tmp_path: Path) -> None:
    session = InterviewSession(SessionConfig(out_dir=tmp_path, report_timeout=40.0, api_key="sk-x-1234"))
    assessor = session.assessor
    assert isinstance(assessor, OpenAIAssessor)
    assert assessor.timeout * (assessor.max_retries + 1) == pytest.approx(40.0)
    assert assessor.max_retries >= 1



async def test_the_fallback_line_speaks_the_prompts_language(tmp_path: Path) -> None:
    fake = FakeRealtime()

    def make(port: int) -> InterviewSession:
        session = InterviewSession(config_for(port, tmp_path, prompt="korean", language="en"),
                                   assessor=RaisingAssessor())
        when(session, "response.done", session.trigger_assessment)
        return session

    run = await run_against(fake, make)
    assert run.result.outcome == "complete"
    fallback = next(e for e in fake.received if e["type"] == "response.create"
                    and e["response"]["metadata"]["purpose"] == "fallback")
    assert fallback_summary("ko") in fallback["response"]["instructions"]


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
            await fake.ws.close(1000, "done")

    fake.on_event = on_event

    def make(port: int) -> InterviewSession:
        return InterviewSession(config_for(port, tmp_path, chunk_ms=40, speed=1.0),
                                assessor=HeuristicAssessor())

    run = await run_against(fake, make)
    appends = {a["data"]["audio_end_ms"]: a["t"] for a in run.of("input_audio_buffer.append")}
    turn = next(t for t in run.json("transcript.json")["turns"] if t["role"] == "candidate")
    assert turn["text"] == "Hello there."
    assert turn["start"] == pytest.approx(appends[200], abs=0.015)  # off by a chunk (40 ms) before
    assert turn["end"] == pytest.approx(appends[400], abs=0.015)
