"""The hosted-like timing profile (issue 9): each untidiness of the hosted service is observable, and
``timing = "idealised"`` gives the old clean order back.

In memory, on a fast-forwarding loop (``looptime``): every time asserted is the loop's clock. Every
event a test receives is parsed as the openai package's ``RealtimeServerEvent`` (emulator_helpers).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from emulator_helpers import (
    END_TOOL,
    InMemoryTestClient,
    answer_audio,
    audio_of,
    of_type,
    scenario_from,
    transcript_of,
    until_closed,
)
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionFailedEvent,
    RateLimitsUpdatedEvent,
    SessionCreatedEvent,
)

from interview_kit import voice
from interview_kit.emulator import speech
from interview_kit.scenario import ScenarioError, load_scenario

LINE = "one two three four five six seven eight"  # 3.0 s at 160 wpm
ANSWERS = ["I built a data pipeline for nightly jobs.", "I would learn statistics next."]
SHIPPED = ["default", "korean", "slow-report", "drop-during-summary", "stalled-server", "drop-and-resume"]


def _scenario(timing: str = "hosted-like", hosted: dict[str, Any] | None = None, **top: Any):
    return scenario_from(
        {
            "name": "hosted-test",
            "timing": timing,
            "latency": {"response_created": 0.2, "first_audio": 0.0},
            "interviewer": {"questions": ["Q1?", "Q2?"]},
            "candidate": {"answers": ANSWERS},
            "hosted": hosted or {},
            **top,
        }
    )


def _say(text: str = LINE) -> dict[str, Any]:
    return {"type": "response.create", "response": {"instructions": f"Say exactly the following: {text}"}}


async def _timed_until(client: InMemoryTestClient, type_: str) -> list[tuple[float, dict[str, Any]]]:
    loop = asyncio.get_running_loop()
    out: list[tuple[float, dict[str, Any]]] = []
    while not out or out[-1][1]["type"] != type_:
        event = await client.recv()
        out.append((loop.time(), event))
    return out


async def _answer(client: InMemoryTestClient, text: str) -> None:
    """Speak one answer into the server VAD, as fast as the client can send it."""
    await client.append_audio(answer_audio(text))


def _types(timed: list[tuple[float, dict[str, Any]]]) -> list[str]:
    return [e["type"] for _, e in timed]


# ---- the setting --------------------------------------------------------------------------------------


def test_hosted_like_is_the_default_and_shipped_scenarios_use_it():
    assert scenario_from({"name": "x"}).timing == "hosted-like"
    for name in [*SHIPPED, "hosted-like", "late-transcript"]:
        assert load_scenario(name).hosted_like, name


def test_new_shipped_scenarios():
    late = load_scenario("late-transcript")
    assert late.hosted.late_answers == (len(late.candidate.answers),)
    assert late.hosted.late_delay == pytest.approx(late.latency.response_created + 3.0)
    hosted = load_scenario("hosted-like")
    assert hosted.hosted.failed_answers == (2,) and hosted.hosted.burst_factor > 1


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"timing": "clean"}, "timing must be one of 'hosted-like', 'idealised'"),
        ({"hosted": {"late_answers": [0]}}, "late_answers counts answers from 1"),
        ({"hosted": {"failed_answers": ["2"]}}, "failed_answers must be an array of integers"),
        ({"hosted": {"burst_factor": 0}}, "burst_factor must be a positive number"),
        ({"hosted": {"max_session_s": 0}}, "max_session_s must be a positive number"),
        ({"hosted": {"transcription_delay": -1}}, "transcription_delay must not be negative"),
        ({"hosted": {"jitter": 1}}, "unknown field(s) jitter"),
    ],
)
def test_bad_hosted_settings_are_refused(raw, words):
    with pytest.raises(ScenarioError) as info:
        scenario_from({"name": "x", **raw})
    assert words in str(info.value)


# ---- idealised: the old order -------------------------------------------------------------------------


@pytest.mark.looptime
async def test_idealised_gives_the_old_clean_order():
    client = await InMemoryTestClient.start(_scenario("idealised"))
    created = await client.recv()
    assert created["session"]["expires_at"] == 0
    await client.send(_say())
    timed = await _timed_until(client, "response.done")
    deltas = [t for t, e in timed if e["type"] == "response.output_audio.delta"]
    for k, at in enumerate(deltas):  # real time: one 100 ms chunk every 100 ms
        assert at - deltas[0] == pytest.approx(k * 0.1, abs=0.005)
    assert (await client.recv())["type"] == "rate_limits.updated"
    await _answer(client, ANSWERS[0])
    timed = await _timed_until(client, "response.created")
    types = _types(timed)
    assert "conversation.item.input_audio_transcription.completed" in types  # before response.created
    assert types.index("conversation.item.input_audio_transcription.completed") < types.index(
        "response.created"
    )
    await client.close()


@pytest.mark.looptime
async def test_idealised_transcript_never_leads_the_audio():
    client = await InMemoryTestClient.open(_scenario("idealised"))
    await client.send(_say())
    events = await client.recv_until("response.done")
    _assert_transcript_lead(events, max_lead=0.1)
    await client.close()


def _assert_transcript_lead(events: list[dict[str, Any]], max_lead: float) -> float:
    """The most audio (seconds) by which a transcript word went out ahead of the audio it names;
    asserts it is at most `max_lead`."""
    words = speech.utterance(LINE, 160.0).words
    sent = 0.0
    lead = -1.0
    w = 0
    for e in events:
        if e["type"] == "response.output_audio.delta":
            sent += voice.pcm_seconds(audio_of([e]))
        elif e["type"] == "response.output_audio_transcript.delta":
            lead = max(lead, words[w][1] - sent)
            w += 1
    assert w == len(words) and lead <= max_lead + 1e-6
    return lead


# ---- hosted-like ------------------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_audio_goes_out_in_bursts_faster_than_real_time():
    hosted = {"burst_factor": 4.0, "burst_seconds": 1.0, "burst_gap": 0.3}
    client = await InMemoryTestClient.open(_scenario(hosted=hosted))
    await client.send(_say())
    timed = await _timed_until(client, "response.done")
    deltas = [t for t, e in timed if e["type"] == "response.output_audio.delta"]
    audio_s = voice.pcm_seconds(audio_of([e for _, e in timed]))
    assert audio_s >= 3.0
    for k, at in enumerate(deltas):  # chunk k: k x 25 ms, plus 0.3 s per burst already sent
        assert at - deltas[0] == pytest.approx(k * 0.025 + (k // 10) * 0.3, abs=0.005)
    assert deltas[-1] - deltas[0] < audio_s / 2  # well ahead of real time overall
    await client.close()


@pytest.mark.looptime
async def test_transcript_deltas_run_ahead_of_the_audio():
    client = await InMemoryTestClient.open(_scenario(hosted={"transcript_lead": 0.5}))
    await client.send(_say())
    events = await client.recv_until("response.done")
    assert transcript_of(events) == LINE
    lead = _assert_transcript_lead(events, max_lead=0.5)
    assert lead > 0.2  # some word's text arrived well before its audio
    first_audio = next(i for i, e in enumerate(events) if e["type"] == "response.output_audio.delta")
    first_text = next(
        i for i, e in enumerate(events) if e["type"] == "response.output_audio_transcript.delta"
    )
    assert first_text == first_audio + 1  # the opening words come with the first chunk
    await client.close()


@pytest.mark.looptime
async def test_rate_limits_updated_follows_every_response_done():
    client = await InMemoryTestClient.open(_scenario())
    for _ in range(2):
        await client.send(_say("hello there"))
        await client.recv_until("response.done")
        event = await client.recv()
        assert event["type"] == "rate_limits.updated"
        parsed = RateLimitsUpdatedEvent.model_validate(event)
        assert {r.name for r in parsed.rate_limits} == {"requests", "tokens"}
    await client.close()


@pytest.mark.looptime
async def test_input_transcription_lands_after_the_next_response_created():
    """The SDK's own docstring of the event: "Transcription runs asynchronously with Response
    creation, so this event may come before or after the Response events"."""
    client = await InMemoryTestClient.open(_scenario(hosted={"transcription_delay": 0.8}))
    await client.send(_say("hello"))
    await client.recv_until("rate_limits.updated")
    await _answer(client, ANSWERS[0])
    timed = await _timed_until(client, "conversation.item.input_audio_transcription.completed")
    types = _types(timed)
    committed = next(t for t, e in timed if e["type"] == "input_audio_buffer.committed")
    created = next(t for t, e in timed if e["type"] == "response.created")
    done_at, done = timed[-1]
    assert types.index("response.created") < len(types) - 1
    assert created - committed == pytest.approx(0.2, abs=0.01)
    assert done_at - committed == pytest.approx(0.8, abs=0.01)
    assert done["transcript"] == ANSWERS[0]
    item_id = next(e["item"]["id"] for _, e in timed if e["type"] == "conversation.item.done")
    assert done["item_id"] == item_id
    await client.close()


@pytest.mark.looptime
async def test_a_listed_answer_fails_transcription():
    client = await InMemoryTestClient.open(
        _scenario(hosted={"failed_answers": [1], "transcription_delay": 0.1})
    )
    await client.update_session(audio={"input": {"turn_detection": None}})
    await client.append_audio(answer_audio(ANSWERS[0]))
    await client.send({"type": "input_audio_buffer.commit"})
    events = await client.recv_until("conversation.item.input_audio_transcription.failed")
    failed = ConversationItemInputAudioTranscriptionFailedEvent.model_validate(events[-1])
    committed = of_type(events, "input_audio_buffer.committed")[0]
    assert failed.item_id == committed["item_id"] and failed.content_index == 0
    assert failed.error.type == "server_error" and committed["item_id"] in (failed.error.message or "")
    assert not of_type(events, "conversation.item.input_audio_transcription.completed")
    # the next answer is transcribed as usual, and the script moved on past the failed one
    await client.append_audio(answer_audio(ANSWERS[1]))
    await client.send({"type": "input_audio_buffer.commit"})
    events = await client.recv_until("conversation.item.input_audio_transcription.completed")
    assert events[-1]["transcript"] == ANSWERS[1]
    await client.close()


@pytest.mark.looptime
async def test_a_late_answer_waits_late_delay():
    client = await InMemoryTestClient.open(
        _scenario(hosted={"late_answers": [1], "late_delay": 2.5}, speed=2.0)
    )
    await client.update_session(audio={"input": {"turn_detection": None}})
    await client.append_audio(answer_audio(ANSWERS[0]))
    await client.send({"type": "input_audio_buffer.commit"})
    timed = await _timed_until(client, "conversation.item.input_audio_transcription.completed")
    committed = next(t for t, e in timed if e["type"] == "input_audio_buffer.committed")
    assert timed[-1][0] - committed == pytest.approx(2.5 / 2.0, abs=0.01)  # ÷ speed
    await client.close()


@pytest.mark.looptime
async def test_session_expires_with_the_hosted_error_then_close_1001():
    before = time.time()
    client = await InMemoryTestClient.start(_scenario(hosted={"max_session_s": 120.0}))
    loop = asyncio.get_running_loop()
    started = loop.time()
    created = await client.recv()
    session = SessionCreatedEvent.model_validate(created).session
    assert session.expires_at is not None  # epoch seconds: connect + max length
    assert before + 119 <= session.expires_at <= time.time() + 121
    error = await client.recv(200.0)
    assert error["type"] == "error"
    assert loop.time() - started == pytest.approx(120.0, abs=0.01)
    assert error["error"] == {
        "type": "invalid_request_error",
        "code": "session_expired",
        "message": "Your session hit the maximum duration of 2 minutes.",
        "param": None,
        "event_id": None,
    }
    closed = await until_closed(client)
    info = closed.info
    assert (info.code, info.reason, info.by) == (1001, error["error"]["message"], "server")


@pytest.mark.looptime
async def test_the_session_limit_is_not_divided_by_speed():
    client = await InMemoryTestClient.open(_scenario(hosted={"max_session_s": 45.0}, speed=10.0))
    loop = asyncio.get_running_loop()
    started = loop.time()
    error = await client.recv(100.0)
    assert error["error"]["code"] == "session_expired"
    assert error["error"]["message"] == "Your session hit the maximum duration of 45 seconds."
    assert loop.time() - started == pytest.approx(45.0, abs=0.01)
    await until_closed(client)


@pytest.mark.looptime
async def test_late_transcript_scenario_lands_3_s_after_the_end_interview_call():
    scenario = load_scenario("late-transcript")
    client = await InMemoryTestClient.open(scenario)
    await client.update_session(tools=[END_TOOL])
    await client.send({"type": "response.create"})
    await client.recv_until("rate_limits.updated")
    timed: list[tuple[float, dict[str, Any]]] = []
    for i, answer in enumerate(scenario.candidate.answers):
        await _answer(client, answer)
        last = i == len(scenario.candidate.answers) - 1
        until = "conversation.item.input_audio_transcription.completed" if last else "rate_limits.updated"
        timed += await _timed_until(client, until)
    call = [t for t, e in timed if e["type"] == "response.function_call_arguments.done"]
    assert len(call) == 1
    done = [(t, e) for t, e in timed if e["type"] == "conversation.item.input_audio_transcription.completed"]
    at, last = done[-1]
    assert last["transcript"] == scenario.candidate.answers[-1]
    assert at - call[0] == pytest.approx(3.0, abs=0.01)
    await client.close()


@pytest.mark.looptime
async def test_a_slow_audio_fault_paces_evenly_without_bursts():
    client = await InMemoryTestClient.open(_scenario(faults=[{"kind": "slow_audio", "factor": 0.5}]))
    await client.send(_say())
    timed = await _timed_until(client, "response.done")
    deltas = [t for t, e in timed if e["type"] == "response.output_audio.delta"]
    for k, at in enumerate(deltas):  # 100 ms of audio every 200 ms: half real time, no bursts
        assert at - deltas[0] == pytest.approx(k * 0.2, abs=0.005)
    await client.close()
