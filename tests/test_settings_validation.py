"""The interview's settings are what the hosted API takes, or the interview does not start.

- Locally, before connecting: a voice, transcription model, language or VAD threshold the server would
  refuse is a `ConfigError` naming the setting (checked against `interview_kit.wire_types`: the `openai`
  package's own lists, the ones the emulator enforces); `interview-kit demo` with such a scenario file
  exits 2 with one line, before any question.
- On the wire: the first ``session.update`` carries an ``event_id``; an ``error`` for it, or no
  ``session.updated`` in time, ends the run ``failed`` before the interview starts. A refused later
  update (turn-taking off at the trigger) is logged and the interview goes on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from interview_kit import wire_types
from interview_kit.assessment import HeuristicAssessor
from interview_kit.config import ConfigError, SessionConfig
from interview_kit.emulator import serve_in_memory
from interview_kit.emulator.rules import TRANSCRIPTION_LANGUAGES, VOICES
from interview_kit.scenario import load_scenario
from interview_kit.session import InterviewSession, SessionResult
from interview_kit.transport import InMemoryPeer, InMemoryTransport, TransportClosed

ROOT = Path(__file__).resolve().parent.parent
IN_MEMORY = pytest.mark.looptime(noop_cycles=10)
RUN_LIMIT = 600.0  # seconds of the loop's clock


# ---- locally, before connecting --------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("voice", "nova", "voice: 'nova' is not a Realtime voice; choose one of 'alloy', "),
    ("transcription_model", "whisper-2", "transcription_model: 'whisper-2' is not a Realtime transcription"),
    ("language", "english", "language: 'english' is not a language the transcription takes"),
    ("language", "xx-YY", "language: 'xx-YY' is not a language"),
    ("vad_threshold", 1.5, "vad_threshold: 1.5 is above 1"),
    ("vad_silence_duration_ms", 500.5, "vad_silence_duration_ms must be an integer"),
])
def test_a_setting_the_server_would_refuse_fails_at_once_naming_it(setting: str, value: Any, says: str,
                                                                    tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as direct:
        SessionConfig(**{setting: value})
    assert str(direct.value).startswith(says)
    with pytest.raises(ConfigError, match=f"^{setting}"):
        SessionConfig().with_overrides({setting: value})
    file = tmp_path / "session.toml"
    file.write_text(f"{setting} = {json.dumps(value)}\n")
    with pytest.raises(ConfigError, match=f"^{file}: {setting}"):
        SessionConfig.from_toml(file)


def test_the_lists_are_the_ones_the_emulator_enforces() -> None:
    assert wire_types.voices() == VOICES and "marin" in VOICES and "nova" not in VOICES
    assert wire_types.TRANSCRIPTION_LANGUAGES is TRANSCRIPTION_LANGUAGES
    for voice in VOICES:
        assert SessionConfig(voice=voice).voice == voice
    for model in wire_types.transcription_models():
        assert SessionConfig(transcription_model=model).transcription_model == model


@pytest.mark.parametrize(("language", "sent"), [("en", "en"), ("en-US", "en"), ("pt_BR", "pt"), ("KO", "ko"),
                                                ("", "")])
def test_a_language_with_a_region_is_sent_as_its_iso_639_1_code(language: str, sent: str) -> None:
    config = SessionConfig(language=language)
    assert config.language == language and config.transcription_language == sent  # kept as given


def test_demo_with_a_scenario_whose_voice_is_refused_exits_before_any_question(tmp_path: Path) -> None:
    scenario = tmp_path / "nova.toml"
    scenario.write_text((ROOT / "data/scenarios/default.toml").read_text() + '\n[client]\nvoice = "nova"\n')
    out = tmp_path / "sessions"
    done = subprocess.run([sys.executable, "-m", "interview_kit", "demo", "--scenario", str(scenario),
                           "--out", str(out), "--speed", "20"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "voice: 'nova'" in lines[0], lines
    assert str(scenario) in lines[0]  # where the setting came from
    assert "interviewer" not in done.stdout and done.stdout == ""  # nothing started, nothing asked
    assert not out.exists()


# ---- on the wire: the first session.update ---------------------------------------------------------------


def _session(config: SessionConfig, transport: InMemoryTransport) -> InterviewSession:
    return InterviewSession(config, transport=transport, assessor=HeuristicAssessor())


def _sent(transport: InMemoryTransport, kind: str) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, transport.sent) if e["type"] == kind]


def _events(result: SessionResult) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (result.folder / "events.jsonl").read_text().splitlines()]


@IN_MEMORY
async def test_a_first_session_update_the_server_refuses_ends_the_run_failed_before_the_interview(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = SessionConfig(api_key="sk-test", out_dir=tmp_path)
    config.voice = "nova"  # past the local check, as a server with a shorter list than the package's would
    transport = InMemoryTransport(serve=serve_in_memory(load_scenario("default")))
    with caplog.at_level(logging.WARNING, logger="interview_kit"):
        result = await asyncio.wait_for(_session(config, transport).run(), RUN_LIMIT)
    assert result.outcome == "failed"
    assert [p["to"] for p in result.phases] == ["failed"]
    reason = result.phases[-1]["reason"]
    assert reason.startswith("session.update refused: session.audio.output.voice (setting voice): "
                             "Invalid value: 'nova'.")
    (update,) = _sent(transport, "session.update")
    assert update["event_id"]
    assert not _sent(transport, "response.create")  # no question was asked
    (error,) = [e for e in _events(result) if e["type"] == "error" and e["dir"] == "in"]
    assert error["data"]["error"]["event_id"] == update["event_id"]
    (logged,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged.levelno == logging.ERROR and logged.getMessage() == reason
    local = [e for e in _events(result) if e["type"] == "error" and e["dir"] == "local"]
    assert [e["data"]["param"] for e in local] == ["session.audio.output.voice"]
    assert result.phases[-1]["t"] < 1.0  # at once, not after a timeout


async def _deaf_to_updates(peer: InMemoryPeer) -> None:
    """A server that says hello and then reads everything, answering nothing."""
    await peer.send(json.dumps({"type": "session.created", "event_id": "ev_1",
                                "session": {"type": "realtime", "id": "sess_1"}}))
    try:
        while True:
            await peer.receive()
    except TransportClosed:
        pass


@IN_MEMORY
async def test_a_first_session_update_never_confirmed_ends_the_run_failed(tmp_path: Path) -> None:
    config = SessionConfig(api_key="sk-test", out_dir=tmp_path, session_updated_timeout=3.0)
    transport = InMemoryTransport(serve=_deaf_to_updates)
    result = await asyncio.wait_for(_session(config, transport).run(), RUN_LIMIT)
    assert result.outcome == "failed"
    assert result.phases[-1]["reason"] == "session.update not confirmed: no session.updated within 3 s"
    assert result.phases[-1]["t"] == pytest.approx(3.0, abs=0.2)
    assert not _sent(transport, "response.create")
    timeouts = [e for e in _events(result) if e["type"] == "timeout"]
    assert [t["data"]["waiting_for"] for t in timeouts] == ["session.updated"]


async def _refusing_the_second_update(peer: InMemoryPeer) -> None:
    """A scripted server: the first session.update is confirmed, later ones refused as the hosted API
    refuses (an `error` naming the field, no session.updated); every response.create is created and done
    at once (no audio)."""
    updates, n = 0, 0
    try:
        while True:
            event = json.loads(await peer.receive())
            n += 1
            if event["type"] == "session.update":
                updates += 1
                if updates == 1:
                    await peer.send(json.dumps({"type": "session.updated", "event_id": f"ev_{n}",
                                                "session": {"type": "realtime"}}))
                else:
                    await peer.send(json.dumps({"type": "error", "event_id": f"ev_{n}", "error": {
                        "type": "invalid_request_error", "code": "invalid_value",
                        "message": "Invalid value: 'x'.", "event_id": event.get("event_id"),
                        "param": "session.audio.input.turn_detection.create_response"}}))
            elif event["type"] == "response.create":
                purpose = event["response"]["metadata"]["purpose"]
                for kind in ("response.created", "response.done"):
                    await peer.send(json.dumps({"type": kind, "event_id": f"ev_{n}_{kind}", "response": {
                        "id": f"resp_{n}", "object": "realtime.response", "output": [],
                        "status": "in_progress" if kind == "response.created" else "completed",
                        "metadata": {"purpose": purpose}}}))
    except TransportClosed:
        pass


@IN_MEMORY
async def test_a_refused_later_update_is_logged_and_the_interview_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = SessionConfig(api_key="sk-test", out_dir=tmp_path, session_updated_timeout=2.0)
    transport = InMemoryTransport(serve=_refusing_the_second_update)
    session = _session(config, transport)
    asyncio.get_running_loop().call_later(5.0, session.trigger_assessment)
    with caplog.at_level(logging.WARNING, logger="interview_kit"):
        result = await asyncio.wait_for(session.run(), RUN_LIMIT)
    assert result.outcome == "complete"
    assert len(_sent(transport, "session.update")) == 2
    refused = [r.getMessage() for r in caplog.records if "session.update refused" in r.getMessage()]
    assert refused == ["session.update refused: session.audio.input.turn_detection.create_response: "
                       "Invalid value: 'x'.; the session keeps its previous settings"]
    timeouts = [e for e in _events(result) if e["type"] == "timeout" and e["data"].get("waiting_for")]
    assert [t["data"]["waiting_for"] for t in timeouts] == ["session.updated"]  # the later one: went on


@IN_MEMORY
async def test_a_language_with_a_region_goes_out_as_its_code_and_the_server_takes_it(tmp_path: Path) -> None:
    config = SessionConfig(api_key="sk-test", out_dir=tmp_path, language="en-US", session_updated_timeout=3.0)
    transport = InMemoryTransport(serve=serve_in_memory(load_scenario("default")))
    session = _session(config, transport)
    asyncio.get_running_loop().call_later(20.0, session.trigger_assessment)
    result = await asyncio.wait_for(session.run(), RUN_LIMIT)
    first = _sent(transport, "session.update")[0]
    assert first["session"]["audio"]["input"]["transcription"]["language"] == "en"
    assert result.outcome == "complete"
    assert not [e for e in _events(result) if e["type"] == "error"]
