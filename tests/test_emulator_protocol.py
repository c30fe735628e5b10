"""The realtime protocol as a client sees it: events, their order, ids, metadata, one response at a time.

All but one run in memory (``InMemoryTestClient`` on an ``InMemoryEmulator``, the same conversation
the websocket endpoint runs) on looptime's fast-forwarding loop, so audio pacing and latencies cost no
wall time. ``test_addresses_and_session_created_over_the_websocket`` keeps the socket: its point is the
server's URLs and the ``?model=`` query of the websocket request.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from emulator_helpers import (
    END_TOOL,
    InMemoryTestClient,
    RealtimeTestClient,
    audio_of,
    fast,
    of_type,
    transcript_of,
)
from openai.types.realtime import RealtimeSessionCreateRequest, SessionCreatedEvent

from interview_kit import voice
from interview_kit.emulator import Emulator, InMemoryEmulator, realtime, responses, serve_in_memory
from interview_kit.emulator.session_config import SERVER_VAD_DEFAULTS

SCENARIO = fast("default", speed=50)


@pytest.fixture
def emu() -> InMemoryEmulator:
    """The emulator's conversation in memory; each ``InMemoryTestClient.open(emu)`` is a connection of
    its own (clients are opened in the test body, where looptime's clock runs)."""
    return serve_in_memory(SCENARIO, model="gpt-realtime")


async def test_addresses_and_session_created_over_the_websocket():
    async with (
        Emulator(SCENARIO) as emu,
        await RealtimeTestClient.connect(emu.realtime_url + "?model=gpt-realtime-mini") as c,
    ):
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/v1"
        assert emu.realtime_url == f"ws://127.0.0.1:{emu.port}/v1/realtime"
        created = await c.recv()
        parsed = SessionCreatedEvent.model_validate(created)
        assert isinstance(parsed.session, RealtimeSessionCreateRequest) and parsed.session.type == "realtime"
        session = created["session"]
        assert session["model"] == "gpt-realtime-mini"
        assert session["audio"]["input"]["turn_detection"] == SERVER_VAD_DEFAULTS
        assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.looptime
async def test_session_update_merges_and_reports(emu):
    async with await InMemoryTestClient.open(emu) as client:
        updated = await client.update_session(
            instructions="Be brief.",
            audio={"input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}}},
        )
        session = updated["session"]
        assert session["instructions"] == "Be brief."
        td = session["audio"]["input"]["turn_detection"]
        assert td["threshold"] == 0.7 and td["silence_duration_ms"] == 500 and td["create_response"] is True
        updated = await client.update_session(audio={"input": {"turn_detection": None}})
        assert updated["session"]["audio"]["input"]["turn_detection"] is None
        assert updated["session"]["instructions"] == "Be brief."


@pytest.mark.looptime
async def test_scripted_response_event_order_and_ids(emu):
    async with await InMemoryTestClient.open(emu) as client:
        events = await client.create_response(metadata={"purpose": "question"})
        types = [e["type"] for e in events]
        assert types[:4] == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
        ]
        assert types[-6:] == [
            "response.output_audio.done",
            "response.output_audio_transcript.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
        created, done = events[0], of_type(events, "response.done")[0]
        rid = created["response"]["id"]
        assert done["response"]["id"] == rid and done["response"]["status"] == "completed"
        assert created["response"]["metadata"] == {"purpose": "question"} == done["response"]["metadata"]
        deltas = of_type(events, "response.output_audio.delta")
        assert deltas and all(d["response_id"] == rid for d in deltas)
        script = emu.scenario.interviewer
        expected = f"{script.greeting} {script.questions[0]}"
        assert transcript_of(events) == expected
        assert of_type(events, "response.output_audio_transcript.done")[0]["transcript"] == expected
        audio = audio_of(events)
        assert abs(voice.pcm_seconds(audio) - voice.speech_duration(expected, script.words_per_minute)) < 0.01
        output = done["response"]["output"]
        assert (
            output[0]["content"][0]["transcript"] == expected
            and done["response"]["usage"]["total_tokens"] > 0
        )
        limits = await client.recv()
        assert limits["type"] == "rate_limits.updated"


@pytest.mark.looptime
async def test_answering_rule_verbatim_then_script(emu):
    async with await InMemoryTestClient.open(emu) as client:
        said = "I'm preparing your assessment now."
        events = await client.create_response(
            instructions=f'Say exactly the following: "{said}"', metadata={"purpose": "ack"}
        )
        assert transcript_of(events) == said
        events = await client.create_response()
        assert transcript_of(events).startswith(emu.scenario.interviewer.greeting)


@pytest.mark.looptime
async def test_end_interview_tool_call_after_answers(emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.update_session(tools=[END_TOOL], audio={"input": {"turn_detection": None}})
        await client.create_response()  # greeting + first question
        for i, _ in enumerate(emu.scenario.interviewer.questions):
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": f"answer {i}"}],
                    },
                }
            )
            await client.recv_until("conversation.item.done")
            events = await client.create_response()
            if i < len(emu.scenario.interviewer.questions) - 1:
                assert transcript_of(events) == emu.scenario.interviewer.questions[i + 1]
        assert not of_type(events, "response.output_audio.delta")
        done = of_type(events, "response.function_call_arguments.done")[0]
        assert done["name"] == "end_interview"
        deltas = "".join(e["delta"] for e in of_type(events, "response.function_call_arguments.delta"))
        assert deltas == done["arguments"] and "reason" in json.loads(done["arguments"])
        item = of_type(events, "response.done")[0]["response"]["output"][0]
        assert item["type"] == "function_call" and item["call_id"] == done["call_id"]
        # the client answers the call and asks for a goodbye: the closing line follows when not verbatim
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": done["call_id"], "output": "{}"},
            }
        )
        await client.recv_until("conversation.item.done")
        events = await client.create_response()
        assert transcript_of(events) == emu.scenario.interviewer.closing


@pytest.mark.looptime
async def test_closing_without_tool(emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.update_session(audio={"input": {"turn_detection": None}})
        await client.create_response()
        for _ in emu.scenario.interviewer.questions:
            await client.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "yes"}],
                    },
                }
            )
            events = await client.create_response()
        assert transcript_of(events) == emu.scenario.interviewer.closing


@pytest.mark.looptime
async def test_out_of_band_response_is_not_added(emu):
    async with await InMemoryTestClient.open(emu) as client:
        events = await client.create_response(conversation="none", metadata={"purpose": "summary"})
        assert not of_type(events, "conversation.item.added")
        assert of_type(events, "response.done")[0]["response"]["conversation_id"] is None
        events = await client.create_response()  # the script did not move: still the greeting
        assert transcript_of(events).startswith(emu.scenario.interviewer.greeting)
        assert of_type(events, "conversation.item.added")


@pytest.mark.looptime
async def test_one_response_at_a_time_and_cancel(emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.send({"type": "response.create", "event_id": "evt_first"})
        created = (await client.recv_until("response.created"))[-1]
        await client.send({"type": "response.create", "event_id": "evt_second"})
        error = (await client.recv_until("error"))[-1]["error"]
        assert (
            error["code"] == "conversation_already_has_active_response" and error["event_id"] == "evt_second"
        )
        await client.recv_until("response.output_audio.delta")
        await client.send({"type": "response.cancel"})
        events = await client.recv_until("response.done")
        done = events[-1]["response"]
        assert done["id"] == created["response"]["id"] and done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "client_cancelled"
        assert done["output"][0]["status"] == "incomplete"
        await client.send({"type": "response.cancel", "event_id": "evt_late"})
        error = (await client.recv_until("error"))[-1]["error"]
        assert error["code"] == "response_cancel_not_active" and error["event_id"] == "evt_late"


@pytest.mark.looptime
async def test_cancel_before_created_still_sends_created(emu):
    slow = fast(
        "default", latency=emu.scenario.latency.__class__(response_created=5.0, first_audio=0.1), speed=1.0
    )
    async with await InMemoryTestClient.open(slow) as c:
        sent = asyncio.get_running_loop().time()
        await c.send({"type": "response.create"})
        await c.send({"type": "response.cancel"})
        events, times = await c.recv_until_timed("response.done")
        assert [e["type"] for e in events] == ["response.created", "response.done"]
        assert events[0]["response"]["id"] == events[1]["response"]["id"]
        assert times[-1] - sent == pytest.approx(0.0, abs=0.001)  # the 5 s latency is not waited out


@pytest.mark.looptime
async def test_text_modality(emu):
    async with await InMemoryTestClient.open(emu) as client:
        events = await client.create_response(output_modalities=["text"])
        assert not of_type(events, "response.output_audio.delta")
        text = of_type(events, "response.output_text.done")[0]["text"]
        assert text == "".join(e["delta"] for e in of_type(events, "response.output_text.delta"))
        assert text.startswith(emu.scenario.interviewer.greeting)


@pytest.mark.looptime
async def test_items_truncate_delete_retrieve(emu):
    async with await InMemoryTestClient.open(emu) as client:
        events = await client.create_response()
        item_id = of_type(events, "response.output_item.done")[0]["item"]["id"]
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 500,
            }
        )
        truncated = (await client.recv_until("conversation.item.truncated"))[-1]
        assert truncated["item_id"] == item_id and truncated["audio_end_ms"] == 500
        await client.send(
            {
                "type": "conversation.item.truncate",
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 10_000_000,
            }
        )
        assert (await client.recv_until("error"))[-1]["error"]["param"] == "audio_end_ms"
        await client.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = (await client.recv_until("conversation.item.retrieved"))[-1]
        assert retrieved["item"]["id"] == item_id
        await client.send({"type": "conversation.item.delete", "item_id": item_id})
        assert (await client.recv_until("conversation.item.deleted"))[-1]["item_id"] == item_id
        await client.send({"type": "conversation.item.delete", "item_id": item_id})
        assert (await client.recv_until("error"))[-1]["error"]["code"] == "item_not_found"


@pytest.mark.looptime
async def test_system_item_and_audio_clear(emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "Be kind."}],
                },
            }
        )
        added = (await client.recv_until("conversation.item.added"))[-1]
        assert added["item"]["role"] == "system" and added["item"]["id"]
        await client.append_audio(voice.silence(0.2))
        await client.send({"type": "input_audio_buffer.clear"})
        await client.recv_until("input_audio_buffer.cleared")
        await client.send({"type": "input_audio_buffer.commit", "event_id": "evt_commit"})
        error = (await client.recv_until("error"))[-1]["error"]
        assert error["code"] == "input_audio_buffer_commit_empty" and error["event_id"] == "evt_commit"


@pytest.mark.looptime
async def test_sessions_are_isolated(emu):
    async with await InMemoryTestClient.open(emu) as a, await InMemoryTestClient.open(emu) as b:
        assert len(emu.connections) == 2
        await a.update_session(instructions="only for a", audio={"input": {"turn_detection": None}})
        await a.create_response()  # a hears the greeting and moves on to question 2
        await a.send(
            {
                "type": "conversation.item.create",
                "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
            }
        )
        assert transcript_of(await a.create_response()) == emu.scenario.interviewer.questions[1]
        assert transcript_of(await b.create_response()).startswith(emu.scenario.interviewer.greeting)
        await b.send({"type": "session.update", "session": {"type": "realtime"}})
        updated = (await b.recv_until("session.updated"))[-1]
        assert updated["session"]["instructions"] == ""


@pytest.fixture
def slow_transport(monkeypatch):
    """Every event send yields for 5 ms, as a transport under backpressure does, so the closing
    events of a response overlap whatever the client sends in reply."""
    original = realtime.RealtimeConversation.send_text

    async def send_text(self, text: str) -> None:
        await original(self, text)
        await asyncio.sleep(0.005)

    monkeypatch.setattr(realtime.RealtimeConversation, "send_text", send_text)


@pytest.mark.looptime
async def test_next_response_may_be_asked_for_as_soon_as_done_arrives(slow_transport, emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.send(
            {"type": "response.create", "response": {"instructions": "Say exactly the following: hi"}}
        )
        await client.recv_until("response.done")
        await client.send({"type": "response.create", "event_id": "evt_next"})
        events = await client.recv_until("response.done")
        assert not of_type(events, "error")
        assert events[-1]["response"]["status"] == "completed"


@pytest.mark.looptime
async def test_a_response_that_is_closing_cannot_be_cancelled(slow_transport, emu):
    async with await InMemoryTestClient.open(emu) as client:
        await client.send(
            {"type": "response.create", "response": {"instructions": "Say exactly the following: hi"}}
        )
        await client.recv_until("response.output_audio.done")
        await client.send({"type": "response.cancel", "event_id": "evt_late"})
        events = await client.recv_until("response.done")
        errors = of_type(events, "error")
        assert [e["error"]["code"] for e in errors] == ["response_cancel_not_active"]
        assert events[-1]["response"]["status"] == "completed"
        assert not of_type(events, "response.output_audio.done")  # the closing events went out once
        await client.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        assert (await client.recv_until("response.done"))[-1]["response"]["status"] == "completed"
        assert len(of_type(client.seen, "response.done")) == 2


@pytest.mark.looptime
async def test_an_error_inside_a_response_ends_it_as_failed(monkeypatch, emu):
    async with await InMemoryTestClient.open(emu) as client:

        def broken(text: str, words_per_minute: float) -> None:
            raise RuntimeError("synthesis broke")

        monkeypatch.setattr(responses.speech, "utterance", broken)
        await client.send({"type": "response.create"})
        events = await client.recv_until("response.done", limit=3.0)
        error = of_type(events, "error")[0]["error"]
        assert error["code"] == "server_error" and error["type"] == "server_error"
        assert "synthesis broke" not in error["message"]  # internals stay in the server's log
        done = events[-1]["response"]
        assert done["status"] == "failed" and done["status_details"]["type"] == "failed"
        assert done["output"][0]["status"] == "incomplete"
        events = await client.create_response(output_modalities=["text"])  # the connection carries on
        assert events[-1]["response"]["status"] == "completed"
