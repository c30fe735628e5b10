"""Bad client input gets an ``error`` event shaped like the hosted API's, and the connection stays open.

Every case runs in memory (``InMemoryTestClient``) on looptime's fast-forwarding loop, where the
response that shows the connection still serving costs no wall time. One case per framing kind also
runs over the websocket (``..._over_the_websocket``), where framing is the socket's business: a bad
text frame, a binary frame, and a text frame larger than ``MAX_EVENT_BYTES`` that aiohttp must still
deliver (its frame limit is 2x that) for the conversation to refuse. Floods (JSON nested thousands deep,
events over the size limit, the same mistake hundreds of times) get errors, never a traceback, and
leave a line per distinct error in the log.
"""

from __future__ import annotations

import json
import logging

import pytest
from emulator_helpers import InMemoryTestClient, RealtimeTestClient, fast

from interview_kit.emulator import Emulator
from interview_kit.emulator.realtime import MAX_EVENT_BYTES

CASES = [
    ("invalid json", "{not json", "invalid_json", None),
    ("not an object", "[1, 2]", "invalid_type", None),
    ("no type", json.dumps({"event_id": "e1"}), "missing_required_parameter", "type"),
    ("unknown type", json.dumps({"type": "response.explode", "event_id": "e1"}), "invalid_value", "type"),
    ("type not a string", json.dumps({"type": 7, "event_id": "e1"}), "invalid_type", "type"),
    (
        "append without audio",
        json.dumps({"type": "input_audio_buffer.append", "event_id": "e1"}),
        "missing_required_parameter",
        "audio",
    ),
    (
        "append audio not a string",
        json.dumps({"type": "input_audio_buffer.append", "audio": 5, "event_id": "e1"}),
        "invalid_type",
        "audio",
    ),
    (
        "invalid base64",
        json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64@@", "event_id": "e1"}),
        "invalid_value",
        "audio",
    ),
    (
        "empty commit",
        json.dumps({"type": "input_audio_buffer.commit", "event_id": "e1"}),
        "input_audio_buffer_commit_empty",
        None,
    ),
    (
        "session not an object",
        json.dumps({"type": "session.update", "session": "x", "event_id": "e1"}),
        "invalid_type",
        "session",
    ),
    (
        "unknown session field",
        json.dumps({"type": "session.update", "session": {"turn_detection": None}, "event_id": "e1"}),
        "unknown_parameter",
        "session.turn_detection",
    ),
    (
        "threshold out of range",
        json.dumps(
            {
                "type": "session.update",
                "event_id": "e1",
                "session": {
                    "type": "realtime",  # required by the hosted API (missing_required_parameter otherwise)
                    "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 3}}},
                },
            }
        ),
        "invalid_value",
        "session.audio.input.turn_detection.threshold",
    ),
    (
        "silence wrongly typed",
        json.dumps(
            {
                "type": "session.update",
                "event_id": "e1",
                "session": {
                    "audio": {
                        "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": "long"}}
                    }
                },
            }
        ),
        "invalid_type",
        "session.audio.input.turn_detection.silence_duration_ms",
    ),
    (
        "item missing",
        json.dumps({"type": "conversation.item.create", "event_id": "e1"}),
        "missing_required_parameter",
        "item",
    ),
    (
        "item of unknown type",
        json.dumps({"type": "conversation.item.create", "event_id": "e1", "item": {"type": "picture"}}),
        "invalid_value",
        "item.type",
    ),
    (
        "metadata not strings",
        json.dumps({"type": "response.create", "event_id": "e1", "response": {"metadata": {"purpose": 3}}}),
        "invalid_type",
        "response.metadata",
    ),
    (
        "cancel with nothing active",
        json.dumps({"type": "response.cancel", "event_id": "e1"}),
        "response_cancel_not_active",
        None,
    ),
    (
        "truncate unknown item",
        json.dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": "nope",
                "content_index": 0,
                "audio_end_ms": 0,
                "event_id": "e1",
            }
        ),
        "item_not_found",
        "item_id",
    ),
]


def _session(**session) -> str:
    return json.dumps(
        {"type": "session.update", "event_id": "e1", "session": {"type": "realtime", **session}}
    )


def _item(**item) -> str:
    return json.dumps({"type": "conversation.item.create", "event_id": "e1", "item": item})


def _turn_detection(**td) -> str:
    return _session(audio={"input": {"turn_detection": td}})


# Fields the emulator echoes back (in session.updated, conversation.item.added, response.done): a value
# the openai package's models reject must be refused here, or the echo would not parse on the client.
CASES += [
    (
        "content part of unknown type",
        _item(type="message", role="user", content=[{"type": "bogus"}]),
        "invalid_value",
        "item.content[0].type",
    ),
    (
        "assistant message with input_text",
        _item(type="message", role="assistant", content=[{"type": "input_text", "text": "x"}]),
        "invalid_value",
        "item.content[0].type",
    ),
    (
        "item text not a string",
        _item(type="message", role="user", content=[{"type": "input_text", "text": 5}]),
        "invalid_type",
        "item.content[0].text",
    ),
    (
        "item id not a string",
        _item(type="function_call_output", call_id="c", output="x", id=5),
        "invalid_type",
        "item.id",
    ),
    ("tool_choice a number", _session(tool_choice=5), "invalid_value", "session.tool_choice"),
    (
        "max_output_tokens a word",
        _session(max_output_tokens="lots"),
        "invalid_type",
        "session.max_output_tokens",
    ),
    (
        "transcription model a number",
        _session(audio={"input": {"transcription": {"model": 5}}}),
        "invalid_type",
        "session.audio.input.transcription.model",
    ),
    (
        "voice an arbitrary object",
        _session(audio={"output": {"voice": {"x": 1}}}),
        "invalid_type",
        "session.audio.output.voice",
    ),
    (
        "semantic eagerness unknown",
        _turn_detection(type="semantic_vad", eagerness="zzz"),
        "invalid_value",
        "session.audio.input.turn_detection.eagerness",
    ),
    (
        "idle timeout a word",
        _turn_detection(type="server_vad", idle_timeout_ms="x"),
        "invalid_type",
        "session.audio.input.turn_detection.idle_timeout_ms",
    ),
    (
        "unknown turn detection field",
        _turn_detection(type="server_vad", foo=1),
        "unknown_parameter",
        "session.audio.input.turn_detection.foo",
    ),
    (
        "response tool not an object",
        json.dumps({"type": "response.create", "event_id": "e1", "response": {"tools": [5]}}),
        "invalid_type",
        "response.tools[0]",
    ),
    (
        "response instructions not a string",
        json.dumps({"type": "response.create", "event_id": "e1", "response": {"instructions": 5}}),
        "invalid_type",
        "response.instructions",
    ),
    (
        "truncate content_index a word",
        json.dumps(
            {"type": "conversation.item.truncate", "item_id": "x", "content_index": "a", "audio_end_ms": 0}
        ),
        "invalid_type",
        "content_index",
    ),
]


SCENARIO = fast("default", speed=50)


@pytest.fixture(scope="module")
def emu():
    # no timing is asserted over the websocket: a fast audio clock makes "still serving" quick there
    with Emulator.in_thread(fast("default", speed=1000)) as emulator:
        yield emulator


async def _refused_then_still_serving(c: RealtimeTestClient, text: str, code: str, param: str | None) -> None:
    await c.send_raw(text)
    error = (await c.recv_until("error"))[-1]["error"]
    assert error["code"] == code and error["param"] == param and error["message"]
    assert error["type"] == "invalid_request_error"
    if '"event_id"' in text:
        assert error["event_id"] == "e1"
    events = await c.create_response()  # still serving
    assert events[-1]["response"]["status"] == "completed"


@pytest.mark.looptime
@pytest.mark.parametrize(("text", "code", "param"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_event_gets_an_error_and_the_connection_stays_open(text, code, param):
    async with await InMemoryTestClient.open(SCENARIO) as c:
        await _refused_then_still_serving(c, text, code, param)


async def test_bad_text_frame_over_the_websocket(emu):
    _name, text, code, param = CASES[0]  # invalid json
    async with await RealtimeTestClient.connect(emu.realtime_url) as c:
        await c.recv()
        await _refused_then_still_serving(c, text, code, param)


async def test_binary_and_oversized_frames_over_the_websocket(emu):
    async with await RealtimeTestClient.connect(emu.realtime_url) as c:
        await c.recv()
        await c.send_raw(b"\x00\x01binary")
        assert (await c.recv_until("error"))[-1]["error"]["code"] == "invalid_value"
        await c.send_raw(
            json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (MAX_EVENT_BYTES + 4)})
        )
        assert (await c.recv_until("error"))[-1]["error"]["code"] == "event_too_large"
        await c.send({"type": "input_audio_buffer.clear"})
        await c.recv_until("input_audio_buffer.cleared")


@pytest.mark.looptime
async def test_valid_settings_and_items_are_accepted_and_echo_parseable():
    """The stricter checks refuse only what the openai models refuse (every echo is validated by
    the test client as RealtimeServerEvent)."""
    async with await InMemoryTestClient.open(SCENARIO) as c:
        session = (
            await c.update_session(
                tool_choice="required",
                max_output_tokens=200,
                audio={
                    "input": {
                        "transcription": {"model": "whisper-1"},
                        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
                    },
                    "output": {"voice": "marin"},
                },
            )
        )["session"]
        assert session["tool_choice"] == "required" and session["max_output_tokens"] == 200
        assert session["audio"]["input"]["turn_detection"]["eagerness"] == "low"
        await c.send(
            {
                "type": "conversation.item.create",
                "previous_item_id": "root",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "x"}],
                },
            }
        )
        added = (await c.recv_until("conversation.item.added"))[-1]
        assert added["previous_item_id"] is None  # inserted at the start: nothing precedes it


# ---- floods: nested and oversized JSON, and the log they leave ----------------------------------------

# a tool schema 800 levels deep: it parses, then is too deep for the checks that walk it
_NESTED_TOOL = (
    '{"type":"session.update","session":{"type":"realtime","tools":[{"type":"function","name":"deep",'
    + '"parameters":'
    + '{"type":"object","properties":{"x":' * 400
    + "{}"
    + "}}" * 400
    + "}]}}"
)

FLOODS = [
    ("nested arrays", "[" * 2000 + "]" * 2000, "invalid_json"),
    ("nested objects", '{"a":' * 2000 + "1" + "}" * 2000, "invalid_json"),
    ("nested tool schema", _NESTED_TOOL, None),  # any error will do: no traceback is the point
    (
        "oversized",
        json.dumps({"type": "input_audio_buffer.append", "audio": "A" * (MAX_EVENT_BYTES + 4)}),
        "event_too_large",
    ),
]


@pytest.mark.looptime
@pytest.mark.parametrize(("text", "code"), [f[1:] for f in FLOODS], ids=[f[0] for f in FLOODS])
async def test_floods_get_an_error_and_no_traceback(text, code, caplog):
    caplog.set_level(logging.DEBUG, logger="interview_kit")
    async with await InMemoryTestClient.open(SCENARIO) as c:
        await c.send_raw(text)
        error = (await c.recv_until("error"))[-1]["error"]
        assert error["code"] == (code or error["code"]) and error["type"] == "invalid_request_error"
        events = await c.create_response()  # still serving
        assert events[-1]["response"]["status"] == "completed"
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


@pytest.mark.looptime
async def test_each_distinct_error_is_logged_once_per_connection_with_a_count(caplog):
    caplog.set_level(logging.INFO, logger="interview_kit.emulator.realtime")
    async with await InMemoryTestClient.open(SCENARIO) as c:
        for _ in range(200):
            await c.send_raw("[" * 2000 + "]" * 2000)
        for _ in range(3):
            await c.send_raw("{not json")  # the same code: counted with the floods
        await c.send_raw(json.dumps({"type": "response.cancel"}))  # another error
        await c.send_raw(_session(audio={"output": {"voice": "sk-secret-1234"}}))  # quoted in the error
        errors = [e for e in [await c.recv() for _ in range(205)] if e["type"] == "error"]
        assert len(errors) == 205  # every one was answered
        assert "sk-secret-1234" in errors[-1]["error"]["message"]
    lines = [r.getMessage() for r in caplog.records if r.name == "interview_kit.emulator.realtime"]
    about = [line for line in lines if "error invalid_json" in line]
    assert len(about) == 2, about  # once when first sent, once with the count at the end
    assert "was sent 203 times on this connection" in about[1]
    assert len([line for line in lines if "response_cancel_not_active" in line]) == 1  # sent once: no count
    assert not [r for r in caplog.records if r.exc_info]
    assert "sk-secret-1234" not in caplog.text  # the message quotes the value; the log does not
