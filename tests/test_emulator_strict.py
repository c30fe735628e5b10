"""The strict emulator: where the hosted API refuses a client's input, the emulator refuses it too, with
the hosted error, and a refused ``session.update`` changes nothing (docs/emulator.md, "Strictness").

Most tests hold a conversation in memory (`serve_in_memory` over an ``InMemoryTransport``); one goes
through the official `openai` SDK's realtime client and the real websocket; the chat rules go through
the SDK's chat client and the emulator's HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from emulator_helpers import END_TOOL, STEP_TIMEOUT, InMemoryTestClient, fast
from openai import AsyncOpenAI
from openai.types.realtime.realtime_audio_config_output_param import RealtimeAudioConfigOutputParam

from interview_kit import protocol
from interview_kit.emulator import Emulator
from interview_kit.emulator.rules import (
    CHAT_MODEL_RULES,
    TRANSCRIPTION_LANGUAGES,
    VOICES,
    chat_model_error,
    chat_model_rule,
    fields_of,
    literal_values,
)
from interview_kit.emulator.session_config import apply_update, default_session

SCENARIO = fast("default", speed=50.0)


async def _client() -> InMemoryTestClient:
    client = await InMemoryTestClient.start(SCENARIO)
    assert (await client.recv())["type"] == "session.created"
    return client


async def _send(client: InMemoryTestClient, event: dict[str, Any]) -> None:
    """Send as is (the test client would refuse to send most of these)."""
    await client.send_raw(json.dumps(event))


async def _answer_to(client: InMemoryTestClient, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Send `event`, then a marker (``input_audio_buffer.clear``): everything the server said in answer
    to `event` comes before the marker's ``input_audio_buffer.cleared`` (events are handled in order)."""
    await _send(client, event)
    await client.send({"type": "input_audio_buffer.clear"})
    return (await client.recv_until("input_audio_buffer.cleared"))[:-1]


def _refused(answer: list[dict[str, Any]], code: str, param: str | None, event_id: str) -> dict[str, Any]:
    """The one ``error`` event of `answer`, hosted-shaped, naming the client's event."""
    assert [e["type"] for e in answer] == ["error"], answer
    error = answer[0]["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert (error["code"], error["param"], error["event_id"]) == (code, param, event_id)
    assert answer[0]["event_id"] and answer[0]["event_id"] != event_id  # the server's own id
    return error


async def _speak(client: InMemoryTestClient, **response: Any) -> list[dict[str, Any]]:
    """A response's events through ``response.done``, and the ``rate_limits.updated`` after it."""
    events = await client.create_response(**response)
    await client.recv_until("rate_limits.updated")
    return events


def _update(event_id: str, **session: Any) -> dict[str, Any]:
    return {"type": "session.update", "event_id": event_id, "session": {"type": "realtime", **session}}


GOOD = {
    "instructions": "You interview candidates.",
    "audio": {
        "input": {"transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"}},
        "output": {"voice": "marin"},
    },
}


# ---- session.update: refused whole, the session as it was --------------------------------------------------


@pytest.mark.parametrize(
    ("audio", "param", "shown"),
    [
        (
            {"output": {"voice": "nova"}},
            "session.audio.output.voice",
            "'nova'. Supported values are: 'alloy'",
        ),
        (
            {"input": {"transcription": {"model": "gpt-4o-mini-transcribe", "language": "english"}}},
            "session.audio.input.transcription.language",
            "'english'. Supported values are: 'af'",
        ),
    ],
    ids=["voice nova", "language english"],
)
async def test_a_refused_update_gets_the_hosted_error_and_changes_nothing(audio, param, shown):
    client = await _client()
    first = await _answer_to(client, _update("e1", **GOOD))
    assert [e["type"] for e in first] == ["session.updated"]
    before = first[0]["session"]

    # the bad field rides with good ones: none of them is applied
    bad = _update("e2", instructions="Something else.", audio=audio)
    error = _refused(await _answer_to(client, bad), "invalid_value", param, "e2")
    assert error["message"].startswith(f"Invalid value: {shown}")

    # the previous settings still apply: the next update's echo shows them, and a response speaks them
    after = await _answer_to(client, _update("e3", max_output_tokens=500))
    assert [e["type"] for e in after] == ["session.updated"]
    session = after[0]["session"]
    assert session["instructions"] == before["instructions"] == GOOD["instructions"]
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe", "language": "en"}
    assert session["max_output_tokens"] == 500
    events = await _speak(client)
    assert events[-1]["response"]["status"] == "completed"
    assert events[-1]["response"]["audio"]["output"]["voice"] == "marin"
    await client.close()


async def test_a_good_update_still_works():
    client = await _client()
    answer = await _answer_to(
        client,
        _update(
            "e1",
            audio={
                "input": {
                    "transcription": {"model": "whisper-1", "language": "ko"},
                    "noise_reduction": {"type": "far_field"},
                    "turn_detection": {"type": "semantic_vad", "eagerness": "high"},
                },
                "output": {"voice": "cedar", "speed": 1.2},
            },
            tool_choice="none",
            tools=[END_TOOL],
            max_output_tokens="inf",
        ),
    )
    assert [e["type"] for e in answer] == ["session.updated"]
    session = answer[0]["session"]
    assert session["audio"]["output"]["voice"] == "cedar" and session["tool_choice"] == "none"
    assert session["audio"]["input"]["transcription"]["language"] == "ko"
    # null turns a setting off, as the hosted API documents for these two
    off = {"input": {"noise_reduction": None, "transcription": None}}
    answer = await _answer_to(client, _update("e2", audio=off))
    assert answer[0]["session"]["audio"]["input"]["transcription"] is None
    await client.close()


async def test_the_toolkit_s_own_session_updates_are_accepted():
    """What the client sends (`protocol.session_update`, at the start and at the trigger) passes."""
    session = default_session("gpt-realtime")
    start = protocol.session_update(
        instructions="Interview.",
        voice="marin",
        turn_detection=protocol.turn_detection(),
        tools=[protocol.END_INTERVIEW_TOOL],
        transcription_model="gpt-4o-mini-transcribe",
        language="ko",
    )
    session = apply_update(session, start["session"])
    trigger = protocol.session_update(
        turn_detection=protocol.turn_detection(create_response=False, interrupt_response=False)
    )
    session = apply_update(session, trigger["session"], voice_locked=True)
    assert session["audio"]["output"]["voice"] == "marin"


def _transcription(**fields: Any) -> dict[str, Any]:
    return {"audio": {"input": {"transcription": {"model": "whisper-1", **fields}}}}


def _vad(**fields: Any) -> dict[str, Any]:
    return {"audio": {"input": {"turn_detection": fields}}}


TD = "session.audio.input.turn_detection"
TR = "session.audio.input.transcription"
UPDATES = [  # (name, session fields, code, param)
    ("no session type", {"type": None, "instructions": "x"}, "missing_required_parameter", "session.type"),
    ("GA has no temperature", {"temperature": 0.7}, "unknown_parameter", "session.temperature"),
    ("unknown transcription model", _transcription(model="whisper-2"), "invalid_value", f"{TR}.model"),
    ("language as a locale", _transcription(language="en-US"), "invalid_value", f"{TR}.language"),
    ("unknown transcription field", _transcription(temperature=0), "unknown_parameter", f"{TR}.temperature"),
    ("delay is gpt-realtime-whisper's", _transcription(delay="low"), "unsupported_parameter", f"{TR}.delay"),
    ("audio format", {"audio": {"input": {"format": {"type": "audio/wav"}}}}, "invalid_value",
     "session.audio.input.format.type"),
    ("audio rate", {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "invalid_value",
     "session.audio.output.format.rate"),
    ("turn detection without type", _vad(threshold=0.4), "missing_required_parameter", f"{TD}.type"),
    ("threshold is server_vad's", _vad(type="semantic_vad", threshold=0.4), "unknown_parameter",
     f"{TD}.threshold"),
    ("turn detection type", _vad(type="push_to_talk"), "invalid_value", f"{TD}.type"),
    ("noise reduction type", {"audio": {"input": {"noise_reduction": {"type": "near"}}}}, "invalid_value",
     "session.audio.input.noise_reduction.type"),
    ("tool_choice", {"tool_choice": "sometimes"}, "invalid_value", "session.tool_choice"),
    ("tool_choice function without name", {"tool_choice": {"type": "function"}},
     "missing_required_parameter", "session.tool_choice.name"),
    ("both modalities", {"output_modalities": ["audio", "text"]}, "invalid_value",
     "session.output_modalities"),
    ("max_output_tokens too high", {"max_output_tokens": 5000}, "integer_above_max_value",
     "session.max_output_tokens"),
    ("max_output_tokens zero", {"max_output_tokens": 0}, "integer_below_min_value",
     "session.max_output_tokens"),
    ("function name", {"tools": [{"type": "function", "name": "end interview"}]}, "invalid_value",
     "session.tools[0].name"),
    ("function tool field", {"tools": [{**END_TOOL, "strict": True}]}, "unknown_parameter",
     "session.tools[0].strict"),
    ("model", {"model": "gpt-4o-realtime-preview"}, "invalid_value", "session.model"),
    ("include", {"include": ["logprobs"]}, "invalid_value", "session.include[0]"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "code", "param"), [u[1:] for u in UPDATES], ids=[u[0] for u in UPDATES])
async def test_session_fields_the_hosted_api_refuses(fields, code, param):
    client = await _client()
    event = _update("e9", **fields)
    event["session"] = {k: v for k, v in event["session"].items() if v is not None}
    _refused(await _answer_to(client, event), code, param, "e9")
    await client.close()


async def test_the_voice_is_fixed_once_the_model_has_spoken():
    client = await _client()
    assert (await _answer_to(client, _update("e1", audio={"output": {"voice": "ash"}})))[0]["session"]
    await _speak(client)  # the greeting: assistant audio is now present
    error = _refused(
        await _answer_to(client, _update("e2", audio={"output": {"voice": "coral"}})),
        "cannot_update_voice",
        None,
        "e2",
    )
    assert error["message"] == "Cannot update a conversation's voice if assistant audio is present."
    same = await _answer_to(client, _update("e3", audio={"output": {"voice": "ash"}}, instructions="Go on."))
    assert [e["type"] for e in same] == ["session.updated"]  # the same voice again is no change
    await client.close()


# ---- response.create -------------------------------------------------------------------------------------


def _create(event_id: str, **response: Any) -> dict[str, Any]:
    return {"type": "response.create", "event_id": event_id, "response": response}


async def test_tool_choice_none_is_accepted_and_a_bad_one_refused():
    client = await _client()
    events = await _speak(client, tool_choice="none", tools=[END_TOOL], metadata={"purpose": "question"})
    assert events[-1]["response"]["status"] == "completed"

    answer = await _answer_to(client, _create("r1", tool_choice="sometimes"))
    error = _refused(answer, "invalid_value", "response.tool_choice", "r1")
    assert (
        error["message"]
        == "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'."
    )
    function_choice = {"type": "function", "name": "end_interview"}
    events = await _speak(client, tool_choice=function_choice, tools=[END_TOOL])
    assert events[-1]["response"]["status"] == "completed"
    await client.close()


RESPONSES = [  # (name, response fields, code, param)
    ("GA has no temperature", {"temperature": 0.6}, "unknown_parameter", "response.temperature"),
    ("tool of unknown type", {"tools": [{"type": "code_interpreter"}]}, "invalid_value",
     "response.tools[0].type"),
    ("tool without a name", {"tools": [{"type": "function", "parameters": {"type": "object"}}]},
     "missing_required_parameter", "response.tools[0].name"),
    ("tool parameters not a schema", {"tools": [{"type": "function", "name": "f", "parameters": "x"}]},
     "invalid_type", "response.tools[0].parameters"),
    ("voice", {"audio": {"output": {"voice": "nova"}}}, "invalid_value", "response.audio.output.voice"),
    ("both modalities", {"output_modalities": ["text", "audio"]}, "invalid_value",
     "response.output_modalities"),
    ("metadata value too long", {"metadata": {"purpose": "x" * 513}}, "string_above_max_length",
     "response.metadata.purpose"),
    ("too much metadata", {"metadata": {f"k{i}": "v" for i in range(17)}}, "object_above_max_properties",
     "response.metadata"),
    ("max_output_tokens", {"max_output_tokens": 4097}, "integer_above_max_value",
     "response.max_output_tokens"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "code", "param"), [r[1:] for r in RESPONSES], ids=[r[0] for r in RESPONSES]
)
async def test_response_parameters_the_hosted_api_refuses(fields, code, param):
    client = await _client()
    _refused(await _answer_to(client, _create("r9", **fields)), code, param, "r9")  # no response.created
    await client.close()


async def test_unknown_top_level_fields_are_refused():
    client = await _client()
    event = {"type": "input_audio_buffer.clear", "event_id": "c1", "audio": ""}
    _refused(await _answer_to(client, event), "unknown_parameter", "audio", "c1")
    event = {"type": "response.cancel", "event_id": "c2", "response_id": 5}
    _refused(await _answer_to(client, event), "invalid_type", "response_id", "c2")
    await client.close()


# ---- the official SDK over the websocket ----------------------------------------------------------------


async def test_sdk_realtime_client_sees_the_refusal_and_the_session_unchanged():
    async with Emulator(SCENARIO) as emu:
        client = AsyncOpenAI(base_url=emu.base_url, api_key="test")
        async with client.realtime.connect(model="gpt-realtime") as connection:

            async def until(type_: str) -> list[Any]:
                events = []
                while True:
                    events.append(await asyncio.wait_for(connection.recv(), STEP_TIMEOUT))
                    if events[-1].type == type_:
                        return events

            await until("session.created")
            await connection.session.update(
                session={"type": "realtime", "audio": {"output": {"voice": "sage"}}}
            )
            await until("session.updated")
            await connection.session.update(
                session={"type": "realtime", "audio": {"output": {"voice": "nova"}}}, event_id="sdk-bad"
            )
            await connection.session.update(session={"type": "realtime", "instructions": "Interview."})
            events = await until("session.updated")
            errors = [e for e in events if e.type == "error"]
            assert [e.type for e in events] == ["error", "session.updated"]  # none for the refused one
            error = errors[0].error
            assert (error.code, error.param, error.event_id) == (
                "invalid_value",
                "session.audio.output.voice",
                "sdk-bad",
            )
            assert events[-1].session.audio.output.voice == "sage"  # the previous voice still applies
        await client.close()


# ---- the rule tables are the SDK's -------------------------------------------------------------------------


def test_the_voices_are_the_sdk_literals_and_languages_iso_639_1():
    assert VOICES == literal_values(fields_of(RealtimeAudioConfigOutputParam)["voice"].annotation)
    assert "marin" in VOICES and "nova" not in VOICES
    assert all(len(code) == 2 and code.isalpha() and code.islower() for code in TRANSCRIPTION_LANGUAGES)
    assert {"en", "ko"} <= set(TRANSCRIPTION_LANGUAGES)


# ---- chat completions: what the requested model accepts ----------------------------------------------------


CHAT_CASES = [  # (model, extra body, status, code, param)
    ("o4-mini", {"temperature": 0.2}, 400, "unsupported_value", "temperature"),
    ("o3", {"temperature": 0}, 400, "unsupported_value", "temperature"),
    ("o1-2024-12-17", {"temperature": 0.5}, 400, "unsupported_value", "temperature"),
    ("gpt-5", {"temperature": 0.2}, 400, "unsupported_value", "temperature"),
    ("gpt-5.1-mini", {"top_p": 0.9}, 400, "unsupported_parameter", "top_p"),
    ("gpt-5-nano", {"max_tokens": 100}, 400, "unsupported_parameter", "max_tokens"),
    ("o3-mini", {"temperature": 1}, 400, "unsupported_parameter", "temperature"),
    ("ft:o4-mini:acme::abc123", {"temperature": 0.3}, 400, "unsupported_value", "temperature"),
    ("gpt-4o", {"reasoning_effort": "low"}, 400, "unsupported_parameter", "reasoning_effort"),
    ("gpt-4o-mini", {"temperature": 2.5}, 400, "decimal_above_max_value", "temperature"),
    ("gpt-5", {"temperature": 1, "max_completion_tokens": 200, "reasoning_effort": "low"}, 200, None, None),
    ("o4-mini", {}, 200, None, None),
    ("gpt-4o", {"temperature": 0.2, "top_p": 0.9, "max_tokens": 300}, 200, None, None),
    ("gpt-4o-mini", {"temperature": 0.2}, 200, None, None),
    ("gpt-4.1", {"temperature": 0}, 200, None, None),
    ("gpt-5-chat-latest", {"temperature": 0.2}, 200, None, None),
    ("o10-hypothetical", {"temperature": 0.2}, 200, None, None),  # "o1" is a prefix of the name only
]


@pytest.mark.parametrize(("model", "extra", "status", "code", "param"), CHAT_CASES)
def test_chat_rule_table(model, extra, status, code, param):
    error = chat_model_error({"model": model, "messages": [], **extra})
    if status == 200:
        assert error is None
    else:
        assert error is not None and (error.code, error.param) == (code, param)


def test_every_chat_rule_is_exercised():
    judged = {chat_model_rule(case[0]).prefix for case in CHAT_CASES}
    assert {rule.prefix for rule in CHAT_MODEL_RULES} <= judged


async def test_chat_endpoint_answers_400_for_what_the_model_refuses_and_200_otherwise():
    async with Emulator(fast("default", report_delay=0.0)) as emu:
        client = AsyncOpenAI(base_url=emu.base_url, api_key="test", max_retries=0)
        messages = [{"role": "user", "content": "Interviewer: Hi?\nCandidate: Hello there."}]
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="o4-mini", messages=messages, temperature=0.2)
        assert info.value.status_code == 400
        assert info.value.body == {
            "message": "Unsupported value: 'temperature' does not support 0.2 with this model. "
            "Only the default (1) value is supported.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "unsupported_value",
        }
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="gpt-5-mini", messages=messages, max_tokens=50)
        assert info.value.body["message"] == (
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead."
        )
        assert emu.chat.calls == 0  # refused before the report delay and any chat fault
        ok = await client.chat.completions.create(model="gpt-4o", messages=messages, temperature=0.2)
        assert ok.model == "emulator-standin-gpt-4o" and ok.choices[0].message.content
        ok = await client.chat.completions.create(
            model="o4-mini", messages=messages, max_completion_tokens=99
        )
        assert ok.choices[0].message.content
        await client.close()
