"""Barge-in while the interviewer speaks, and a server that sends garbage: the session copes.

Both run in memory (an ``InMemoryTransport``) on a fast-forwarding loop (``looptime``), the audio at
real time on the loop's clock.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from session_helpers import IN_MEMORY, assert_folder_complete, real_time, run_in_memory

from interview_kit.audio import ScriptedVoiceInput
from interview_kit.protocol import TRUNCATE_MARGIN_MS
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryPeer
from interview_kit.voice import speech_duration, synthesize

pytestmark = IN_MEMORY


async def test_candidate_speaking_over_the_interviewer_interrupts_and_truncates(tmp_path: Path) -> None:
    scenario = real_time("default")
    voice = ScriptedVoiceInput(scenario.speed)

    def talk_over_the_greeting(session: InterviewSession) -> None:
        spoke = False

        def listen(record: dict[str, Any]) -> None:
            nonlocal spoke
            if record["type"] == "playback.started" and not spoke:  # talk over the greeting
                spoke = True
                voice.say(synthesize("Sorry, can I ask something first?", 150))
            if record["type"] == "conversation.item.truncate":
                asyncio.get_running_loop().call_later(0.2, session.stop)

        session.add_listener(listen)

    run = await run_in_memory(scenario, tmp_path, candidate=False, input=voice, during=talk_over_the_greeting)
    result = run.result
    assert result.outcome == "stopped"
    barge = run.of("barge_in")
    assert len(barge) == 1
    truncate = run.of("conversation.item.truncate")[0]
    ended = next(e for e in run.of("playback.ended") if e["response_id"] == barge[0]["response_id"])
    assert ended["data"]["truncated"] is True
    assert truncate["data"]["item_id"] == barge[0]["item_id"]
    played = ended["data"]["played_ms"]
    assert 0 < played == barge[0]["data"]["played_ms"]
    # the truncate is what was played, kept inside the audio received (protocol.truncate_end_ms)
    assert truncate["data"]["audio_end_ms"] == barge[0]["data"]["audio_end_ms"]
    assert max(0, played - TRUNCATE_MARGIN_MS) <= truncate["data"]["audio_end_ms"] <= played
    greeting = f"{scenario.interviewer.greeting} {scenario.interviewer.questions[0]}"
    greeting_ms = speech_duration(greeting, scenario.interviewer.words_per_minute) * 1000
    assert played < greeting_ms / 2  # cut well before the greeting's end
    speech_started = run.of("input_audio_buffer.speech_started")[0]
    assert speech_started["t"] <= truncate["t"]
    # the cut is what had been played at that moment: the greeting played at real time until then
    played_at_cut = truncate["t"] - run.of("playback.started")[0]["t"]
    assert played / 1000 == pytest.approx(played_at_cut, abs=0.05)
    assert_folder_complete(run)


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

    async def server(peer: InMemoryPeer) -> None:
        for frame in GARBAGE:
            await peer.send(frame)
        await peer.send(json.dumps({"type": "session.updated", "session": {"type": "realtime"}}))
        while True:
            event = json.loads(await peer.receive())
            received.append(event)
            if event["type"] == "response.create":  # the session went on after all that
                await peer.close(1001, "going away")
                return

    run = await run_in_memory(real_time("default"), tmp_path, serve=server, candidate=False, reconnect=False)
    result, session = run.result, run.session
    assert result.outcome == "disconnected"
    assert result.close_code == 1001 and result.close_reason == "going away"
    assert any(e["type"] == "response.create" for e in received)
    assert len(run.of("invalid")) == 3  # not JSON, not an object, non-string type
    assert run.of("totally.unknown.event")
    assert not [e for e in run.of("error") if e["dir"] == "local"]  # no handler tripped over a field
    assert len([e for e in run.events() if e["dir"] == "in"]) == len(GARBAGE) + 1
    assert session.flow.ignored == [] and session.flow.phase == "disconnected"
    assert_folder_complete(run)
