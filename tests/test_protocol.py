"""The protocol builders produce events the openai package's schema accepts; the readers find ids
where the protocol puts them (never the top-level `response_id` on response.done)."""

from __future__ import annotations

import base64
import json

import pytest
from openai.types.realtime import RealtimeClientEvent
from pydantic import TypeAdapter

from interview_kit import protocol as p

CLIENT = TypeAdapter(RealtimeClientEvent)


def test_builders_parse_as_client_events() -> None:
    events = [
        p.session_update(instructions="Interview", voice="marin", tools=[p.END_INTERVIEW_TOOL],
                         turn_detection=p.turn_detection(), transcription_model="gpt-4o-mini-transcribe",
                         language="en"),
        p.session_update(turn_detection=p.turn_detection(create_response=False, interrupt_response=False)),
        p.input_audio_append(b"\x00\x01" * 10),
        p.response_create("ack", instructions=p.say_exactly("One moment."), out_of_band=True, event_id="e1"),
        p.function_call_output("call_1", {"ok": True}),
        p.item_truncate("item_1", 1234.7),
        p.response_cancel(),
    ]
    for event in events:
        CLIENT.validate_python(event)


def test_session_update_turns_off_responses_and_barge_in() -> None:
    event = p.session_update(turn_detection=p.turn_detection(create_response=False, interrupt_response=False))
    td = event["session"]["audio"]["input"]["turn_detection"]
    assert td["create_response"] is False and td["interrupt_response"] is False
    assert "instructions" not in event["session"] and "tools" not in event["session"]


def test_response_create_carries_purpose_and_verbatim_line() -> None:
    event = p.response_create("summary", instructions=p.say_exactly("You did well."))
    assert event["response"]["metadata"] == {"purpose": "summary"}
    assert event["response"]["instructions"].lower().startswith("say exactly the following:")
    assert event["response"]["instructions"].endswith("You did well.")


def test_append_round_trips_audio() -> None:
    pcm = bytes(range(256)) * 4
    assert base64.b64decode(p.input_audio_append(pcm)["audio"]) == pcm


def test_response_id_from_the_response_object_on_created_and_done() -> None:
    created = {"type": "response.created", "response": {"id": "resp_A", "metadata": {"purpose": "ack"}}}
    # the original bug: a top-level response_id does not exist on response.done; a bogus one is ignored
    done = {"type": "response.done", "response_id": "WRONG",
            "response": {"id": "resp_A", "status": "completed"}}
    assert p.response_id_of(created) == "resp_A"
    assert p.response_id_of(done) == "resp_A"
    assert p.purpose_of(created) == "ack"
    assert p.response_status_of(done) == "completed"


def test_response_id_top_level_on_streaming_events() -> None:
    delta = {"type": "response.output_audio.delta", "response_id": "resp_B", "item_id": "item_1",
             "delta": base64.b64encode(b"abcd").decode()}
    assert p.response_id_of(delta) == "resp_B"
    assert p.item_id_of(delta) == "item_1"
    assert p.audio_of(delta) == b"abcd"
    assert p.response_id_of({"type": "response.output_audio.done"}) is None


def test_item_id_from_item_object() -> None:
    assert p.item_id_of({"type": "conversation.item.added", "item": {"id": "it"}}) == "it"
    assert p.item_id_of({"type": "response.output_item.done", "item": {"id": "x"}}) == "x"


def test_readers_tolerate_malformed_events() -> None:
    for bad in ({"type": "response.done"}, {"type": "response.done", "response": "nope"},
                {"type": "response.created", "response": {"id": 5}}, {}):
        assert p.response_id_of(bad) is None
        assert p.purpose_of(bad) is None
        assert p.function_calls_of(bad) == []
    assert p.audio_of({"type": "response.output_audio.delta", "delta": "!!!not base64"}) == b""
    assert p.error_of({"type": "error"})[1]


@pytest.mark.parametrize("frame", ["not json", "[1,2]", '{"no_type": 1}', '{"type": 3}', b"\xff\xfe"])
def test_parse_server_event_raises_protocol_error_only(frame: str | bytes) -> None:
    with pytest.raises(p.ProtocolError):
        p.parse_server_event(frame)


def test_function_calls_from_arguments_done_and_response_done() -> None:
    args_done = {"type": "response.function_call_arguments.done", "call_id": "c1", "name": "end_interview",
                 "arguments": json.dumps({"reason": "done"}), "item_id": "i1", "response_id": "r"}
    done = {"type": "response.done", "response": {"id": "r", "output": [
        {"type": "message", "id": "m"},
        {"type": "function_call", "id": "i1", "call_id": "c1", "name": "end_interview", "arguments": "{}"},
    ]}}
    expected = p.FunctionCall("c1", "end_interview", '{"reason": "done"}', "i1")
    assert p.function_calls_of(args_done) == [expected]
    assert [c.call_id for c in p.function_calls_of(done)] == ["c1"]


def test_error_reader() -> None:
    event = {"type": "error", "error": {"type": "invalid_request_error",
                                        "code": "conversation_already_has_active_response",
                                        "message": "busy", "event_id": "e9"}}
    assert p.error_of(event) == ("conversation_already_has_active_response", "busy", "e9")


def test_registry_binds_by_echo_then_pending_then_auto() -> None:
    reg = p.ResponseRegistry()
    reg.requested("ack")
    echoed = {"type": "response.created", "response": {"id": "r1", "metadata": {"purpose": "ack"}}}
    assert reg.created(echoed) == p.Binding("r1", "ack", "echo")
    assert reg.pending == ()
    reg.requested("summary")  # no echo: the next created after a request binds to it
    assert reg.created({"type": "response.created", "response": {"id": "r2"}}).purpose == "summary"
    assert reg.created({"type": "response.created", "response": {"id": "r3"}}).purpose == p.AUTO_PURPOSE
    # streaming event without response_id: the current response
    assert reg.resolve({"type": "response.output_audio.done"}) == "r3"
    assert reg.done({"type": "response.done", "response": {"id": "r3"}}).purpose == p.AUTO_PURPOSE
    assert reg.current_id is None
    assert reg.purpose("r2") == "summary"


def test_registry_done_without_created() -> None:
    reg = p.ResponseRegistry()
    b = reg.done({"type": "response.done", "response": {"id": "rx", "status": "cancelled"}})
    assert b == p.Binding("rx", p.AUTO_PURPOSE, "auto")
    reg.requested("goodbye")
    b = reg.done({"type": "response.done", "response": {"id": "ry", "metadata": {"purpose": "goodbye"}}})
    assert b.purpose == "goodbye" and reg.pending == ()
    assert reg.done({"type": "response.done", "response": {}}) is None


def test_registry_duplicate_created_keeps_first_binding() -> None:
    reg = p.ResponseRegistry()
    reg.requested("ack")
    reg.created({"type": "response.created", "response": {"id": "r1"}})
    again = reg.created({"type": "response.created",
                         "response": {"id": "r1", "metadata": {"purpose": "goodbye"}}})
    assert again.purpose == "ack"


# --- the hot path's readers: the same answers as the general ones ----------------------------------------

HOT_EVENTS = [
    {"type": "response.output_audio.delta", "response_id": "resp_B", "item_id": "item_1", "delta": "AAAA"},
    {"type": "response.output_audio.delta", "response_id": "", "item_id": None},
    {"type": "response.output_audio.delta", "response_id": 5, "item_id": ["x"]},
    {"type": "response.output_audio_transcript.delta", "item_id": "item_2"},
    {"type": "response.output_audio.delta"},
    {},
]


@pytest.mark.parametrize("event", HOT_EVENTS)
def test_stream_ids_are_what_the_general_readers_find(event: dict) -> None:
    assert p.stream_ids_of(event) == (p.response_id_of(event), p.item_id_of(event))
    registry = p.ResponseRegistry()
    registry.current_id = "resp_current"
    rid, _ = p.stream_ids_of(event)
    assert (rid or registry.current_id) == registry.resolve(event)  # what _on_audio_delta does


@pytest.mark.parametrize("delta", [
    base64.b64encode(bytes(range(256)) * 19).decode(), "", "AAAA", "AAA=", "AA==", "A", "AAAAA",
    "!!!not base64", "AAAA\n", " AAAA", "AA AA", "AAAA====", "AAAAéé", "AAAA\x00", 42, None, b"AAAA",
])
def test_audio_of_decodes_as_b64decode_with_validate(delta: object) -> None:
    """a2b_base64 reads the str in place; the answer is b64decode(validate=True)'s (b"" where it raises)."""
    try:
        expected = base64.b64decode(delta, validate=True) if isinstance(delta, str) else b""
    except (ValueError, TypeError):
        expected = b""
    assert p.audio_of({"type": "response.output_audio.delta", "delta": delta}) == expected
