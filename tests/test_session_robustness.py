"""Barge-in while the interviewer speaks, and a server that sends garbage: the session copes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import websockets
from session_helpers import FAKE_KEY, RUN_TIMEOUT, Run, assert_folder_complete, fast

from interview_kit.assessment import HeuristicAssessor
from interview_kit.audio import ScriptedVoiceInput
from interview_kit.config import SessionConfig
from interview_kit.emulator import Emulator
from interview_kit.session import InterviewSession
from interview_kit.voice import synthesize


async def test_candidate_speaking_over_the_interviewer_interrupts_and_truncates(tmp_path: Path) -> None:
    scenario = fast("default", speed=10)
    with Emulator.in_thread(scenario=scenario) as emu:
        config = SessionConfig(base_url=emu.base_url, api_key=FAKE_KEY, out_dir=tmp_path,
                               speed=scenario.speed)
        voice = ScriptedVoiceInput(scenario.speed)
        session = InterviewSession(config, input=voice, assessor=HeuristicAssessor())
        spoke = False

        def listen(record: dict[str, Any]) -> None:
            nonlocal spoke
            if record["type"] == "playback.started" and not spoke:  # talk over the greeting
                spoke = True
                voice.say(synthesize("Sorry, can I ask something first?", 150))
            if record["type"] == "conversation.item.truncate":
                asyncio.get_running_loop().call_later(0.2, session.stop)

        session.add_listener(listen)
        result = await asyncio.wait_for(session.run(), RUN_TIMEOUT)
    run = Run(result, session)
    assert result.outcome == "stopped"
    barge = run.of("barge_in")
    assert len(barge) == 1
    truncate = run.of("conversation.item.truncate")[0]
    ended = next(e for e in run.of("playback.ended") if e["response_id"] == barge[0]["response_id"])
    assert ended["data"]["truncated"] is True
    assert truncate["data"]["item_id"] == barge[0]["item_id"]
    assert 0 < truncate["data"]["audio_end_ms"] == ended["data"]["played_ms"]
    assert truncate["data"]["audio_end_ms"] < 11_000  # cut well before the greeting's end
    assert run.of("input_audio_buffer.speech_started")[0]["t"] <= truncate["t"]
    assert_folder_complete(run, secret=FAKE_KEY)


GARBAGE = [
    "not json at all",
    "[1, 2, 3]",
    '{"type": 7}',
    '{"type": "response.done"}',
    '{"type": "response.done", "response": "nope"}',
    '{"type": "response.created", "response": {"id": 5}}',
    '{"type": "response.output_audio.delta", "response_id": "r1", "delta": "%%%not base64"}',
    '{"type": "response.output_audio.delta"}',
    '{"type": "response.function_call_arguments.done", "name": "end_interview"}',
    '{"type": "input_audio_buffer.speech_started", "audio_start_ms": "soon"}',
    '{"type": "conversation.item.input_audio_transcription.completed", "transcript": 5}',
    '{"type": "error"}',
    '{"type": "error", "error": "string"}',
    '{"type": "totally.unknown.event", "x": {"y": [1]}}',
]


async def test_malformed_server_events_are_logged_and_ignored(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []

    async def server(ws: Any) -> None:
        for frame in GARBAGE:
            await ws.send(frame)
        await ws.send(json.dumps({"type": "session.updated", "session": {"type": "realtime"}}))
        async for message in ws:
            event = json.loads(message)
            received.append(event)
            if event["type"] == "response.create":  # the session went on after all that
                await ws.close(1001, "going away")
                return

    async with websockets.serve(server, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = SessionConfig(base_url=f"http://127.0.0.1:{port}/v1", api_key=FAKE_KEY, out_dir=tmp_path,
                               speed=10)
        session = InterviewSession(config, assessor=HeuristicAssessor())
        result = await asyncio.wait_for(session.run(), RUN_TIMEOUT)
    run = Run(result, session)
    assert result.outcome == "disconnected"
    assert result.close_code == 1001 and result.close_reason == "going away"
    assert any(e["type"] == "response.create" for e in received)
    assert len(run.of("invalid")) == 3  # not JSON, not an object, non-string type
    assert run.of("totally.unknown.event")
    assert not [e for e in run.of("error") if e["dir"] == "local"]  # no handler tripped over a field
    assert len([e for e in run.events() if e["dir"] == "in"]) == len(GARBAGE) + 1
    assert session.flow.ignored == [] and session.flow.phase == "disconnected"
    assert_folder_complete(run, secret=FAKE_KEY)
