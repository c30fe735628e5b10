"""A client that reconnects finds the interview where it was: the emulator's side of resuming.

A new connection's conversation starts empty; the client replays the interview so far as
``conversation.item.create`` events (answers as user text, interviewer lines as assistant text, the
``end_interview`` call and its output) and the script takes up its place from them. `reconnectable`
faults are counted per emulator, so the new connection does not meet them again. In memory, on
looptime's fast-forwarding loop (``InMemoryTransport.reopen`` is the reconnect), except one test that
shows the websocket `Emulator` counting them too.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from emulator_helpers import (
    END_TOOL,
    InMemoryTestClient,
    RealtimeTestClient,
    answer_audio,
    assistant_text,
    fast,
    function_call,
    function_call_output,
    of_type,
    reopen,
    replay,
    scenario_from,
    transcript_of,
    until_closed,
    user_text,
)
from websockets.exceptions import ConnectionClosedError

from interview_kit import voice
from interview_kit.emulator import Emulator, serve_in_memory
from interview_kit.scenario import ScenarioError, load_scenario, parse_scenario
from interview_kit.transport import ABNORMAL_CLOSURE, TransportClosed

GREETING = "Hello, thank you for joining."
QUESTIONS = [
    "Tell me about a project you are proud of.",
    "How do you resolve a disagreement?",
    "Why this job?",
]
ANSWERS = ["I rebuilt the pipeline.", "We ran an experiment.", "I like the problems."]


def _scenario(*faults: dict, **top) -> object:
    return scenario_from(
        {
            "name": "resume",
            "speed": 20.0,
            "latency": {"response_created": 0.0, "first_audio": 0.0},
            "interviewer": {"greeting": GREETING, "questions": QUESTIONS},
            "candidate": {"answers": ANSWERS},
            "faults": list(faults),
            **top,
        }
    )


async def _open(scenario) -> InMemoryTestClient:
    """A connection whose session declares ``end_interview`` and takes turns by hand (no VAD)."""
    c = await InMemoryTestClient.open(scenario)
    await c.update_session(tools=[END_TOOL], audio={"input": {"turn_detection": None}})
    return c


async def _next_line(c: InMemoryTestClient) -> list[dict]:
    """What the interviewer says for a question-purpose ``response.create`` (events through done)."""
    return await c.create_response(metadata={"purpose": "question"})


# ---- the script takes up its place from the replayed items ---------------------------------------------


@pytest.mark.looptime
async def test_the_item_shapes_a_resuming_client_sends_are_accepted_with_added_and_done():
    async with await _open(_scenario()) as c:
        items = [
            assistant_text(f"{GREETING} {QUESTIONS[0]}"),
            user_text(ANSWERS[0]),
            function_call("call_1"),
            function_call_output("call_1"),
        ]
        events = await replay(c, items)
        assert not of_type(events, "error")
        added = of_type(events, "conversation.item.added")
        assert [e["item"]["type"] for e in added] == [
            "message",
            "message",
            "function_call",
            "function_call_output",
        ]
        assert [e["item"]["status"] for e in of_type(events, "conversation.item.done")] == ["completed"] * 4
        assert added[1]["previous_item_id"] == added[0]["item"]["id"]  # appended in order


@pytest.mark.looptime
async def test_replayed_items_put_the_next_question_right():
    async with await _open(_scenario()) as c:
        await replay(
            c,
            [
                assistant_text(f"{GREETING} {QUESTIONS[0]}"),
                user_text(ANSWERS[0]),
                assistant_text(QUESTIONS[1]),
                user_text(ANSWERS[1]),
            ],
        )
        assert transcript_of(await _next_line(c)) == QUESTIONS[2]  # not the greeting again
        await replay(c, [user_text(ANSWERS[2])])
        done = (await _next_line(c))[-1]  # every question answered: the model ends the interview
        assert done["response"]["output"][0]["type"] == "function_call"
        assert done["response"]["output"][0]["name"] == "end_interview"


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("heard", "said_next"),
    [
        ("Hello, thank", f"{GREETING} {QUESTIONS[0]}"),  # the greeting was cut: all of it again
        (GREETING, QUESTIONS[0]),  # the greeting heard, the first question cut before it began
        (f"{GREETING} Tell me about a", QUESTIONS[0]),  # cut in the first question: asked again
    ],
    ids=["greeting-cut", "question-not-begun", "question-cut"],
)
async def test_a_cut_off_line_is_said_again(heard, said_next):
    async with await _open(_scenario()) as c:
        await replay(c, [assistant_text(heard)])
        assert transcript_of(await _next_line(c)) == said_next


@pytest.mark.looptime
async def test_a_question_cut_later_in_the_interview_is_asked_again_then_the_next():
    async with await _open(_scenario()) as c:
        cut = " ".join(QUESTIONS[1].split()[:3])  # "How do you": what the candidate heard
        await replay(
            c, [assistant_text(f"{GREETING} {QUESTIONS[0]}"), user_text(ANSWERS[0]), assistant_text(cut)]
        )
        assert transcript_of(await _next_line(c)) == QUESTIONS[1]
        await replay(c, [user_text(ANSWERS[1])])
        assert transcript_of(await _next_line(c)) == QUESTIONS[2]


@pytest.mark.looptime
async def test_lines_are_matched_whatever_their_spacing_and_case():
    async with await _open(_scenario()) as c:
        await replay(c, [assistant_text(f"  {GREETING.upper()}\n{QUESTIONS[0]}  ")])
        assert transcript_of(await _next_line(c)) == QUESTIONS[1]


@pytest.mark.looptime
async def test_replayed_answers_count_for_the_next_transcription():
    async with await _open(_scenario(timing="idealised")) as c:
        await replay(c, [assistant_text(f"{GREETING} {QUESTIONS[0]}"), user_text(ANSWERS[0])])
        await c.append_audio(answer_audio(ANSWERS[1]))
        await c.send({"type": "input_audio_buffer.commit"})
        completed = (await c.recv_until("conversation.item.input_audio_transcription.completed"))[-1]
        assert completed["transcript"] == ANSWERS[1]  # the second answer, not the first again


@pytest.mark.looptime
async def test_a_replayed_end_interview_call_is_not_made_again():
    async with await _open(_scenario()) as c:
        items = [assistant_text(f"{GREETING} {QUESTIONS[0]}")]
        for question, answer in zip(QUESTIONS[1:], ANSWERS, strict=False):
            items += [user_text(answer), assistant_text(question)]
        items += [user_text(ANSWERS[-1]), function_call("call_9"), function_call_output("call_9")]
        await replay(c, items)
        events = await _next_line(c)
        assert not of_type(events, "response.function_call_arguments.done")
        assert transcript_of(events) == _scenario().interviewer.closing


@pytest.mark.looptime
async def test_lines_that_are_not_the_scripts_move_nothing():
    async with await _open(_scenario()) as c:
        await replay(c, [assistant_text("I'm preparing your assessment."), assistant_text("Thank you.")])
        assert transcript_of(await _next_line(c)) == f"{GREETING} {QUESTIONS[0]}"


# ---- what the hosted service refuses in such items ---------------------------------------------------------


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("item", "code", "param", "message"),
    [
        (
            function_call_output("call_missing"),
            "invalid_value",
            "item.call_id",
            "Tool call ID 'call_missing' not found in conversation.",
        ),
        (
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_audio", "transcript": "Hi"}],
            },
            "missing_required_parameter",
            "item.content[0].text",
            "Missing required parameter: 'item.content[0].text'.",
        ),
        (
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_audio", "text": "Hi", "audio": "AAAA"}],
            },
            "invalid_value",
            "item.content[0].audio",
            None,
        ),
    ],
    ids=["output-without-its-call", "assistant-audio-without-text", "assistant-audio"],
)
async def test_items_the_hosted_service_refuses(item, code, param, message):
    async with await _open(_scenario()) as c:
        await c.send({"type": "conversation.item.create", "item": item})
        error = (await c.recv_until("error"))[-1]["error"]
        assert (error["code"], error["param"]) == (code, param)
        if message:
            assert error["message"] == message
        # nothing was added: the script has not moved, the conversation is empty
        assert not of_type(c.seen, "conversation.item.added")
        assert transcript_of(await _next_line(c)) == f"{GREETING} {QUESTIONS[0]}"


# ---- reconnectable faults: counted per emulator, across its connections ---------------------------------


@pytest.mark.looptime
@pytest.mark.parametrize("reconnectable", [True, False])
async def test_a_reconnectable_drop_fires_once_per_emulator_another_once_per_connection(reconnectable):
    loop = asyncio.get_running_loop()
    emulator = serve_in_memory(_scenario({"kind": "drop", "at": 2.0, "reconnectable": reconnectable}))
    first = await InMemoryTestClient.open(emulator)
    opened = loop.time()
    closed = await until_closed(first)
    assert closed.info.code == ABNORMAL_CLOSURE and loop.time() - opened == pytest.approx(2.0 / 20, abs=0.001)
    second = await reopen(first)
    opened = loop.time()
    if reconnectable:  # spent: the new connection carries on past the time it had
        await asyncio.sleep(1.0)
        await second.send({"type": "input_audio_buffer.clear"})
        await second.recv_until("input_audio_buffer.cleared")
        await second.close()
    else:  # per connection: it drops the new one too
        closed = await until_closed(second)
        assert closed.info.code == ABNORMAL_CLOSURE and loop.time() - opened == pytest.approx(0.1, abs=0.001)
    assert emulator.served == 2


async def test_the_websocket_emulator_counts_a_reconnectable_drop_across_its_connections():
    async with Emulator(_scenario({"kind": "drop", "at": 0.5, "reconnectable": True})) as emu:
        first = await RealtimeTestClient.connect(emu.realtime_url)
        with pytest.raises(ConnectionClosedError) as info:
            while True:
                await first.recv()
        assert info.value.rcvd is None  # abrupt: no close frame
        async with await RealtimeTestClient.connect(emu.realtime_url) as second:
            await second.recv()
            await asyncio.sleep(0.1)  # past the drop's time (0.025 s at speed 20)
            await second.send({"type": "input_audio_buffer.clear"})
            await second.recv_until("input_audio_buffer.cleared")


async def _speak(c: InMemoryTestClient, text: str, speed: float) -> bool:
    """The candidate says `text` as a microphone would send it: 100 ms of audio every 0.1 s of the
    scenario's clock. False when the connection ended on the way."""
    pcm = answer_audio(text)
    step = voice.SAMPLE_RATE * voice.BYTES_PER_SAMPLE // 10
    for i in range(0, len(pcm), step):
        try:
            await c.send(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm[i : i + step]).decode()}
            )
        except TransportClosed:
            return False
        await asyncio.sleep(0.1 / speed)
    return True


@pytest.mark.looptime
async def test_drop_and_resume_scenario_resumes_twice():
    """The shipped scenario on three connections: the drop in the middle of answer 2, the drop in the
    summary, then the summary heard in full. The answer spoken again after the first reconnect is
    still answer 2 (counted with the replayed answer 1) and neither drop fires twice."""
    scenario = fast("drop-and-resume", speed=20.0, timing="idealised")
    speed, questions, answers = scenario.speed, scenario.interviewer.questions, scenario.candidate.answers
    loop = asyncio.get_running_loop()
    c = await InMemoryTestClient.open(scenario)
    await c.update_session(tools=[END_TOOL])  # server VAD: the candidate's audio makes the turns
    first_line = transcript_of(await _next_line(c))
    assert await _speak(c, answers[0], speed)
    assert transcript_of(await c.recv_until("response.done")) == questions[1]
    began = loop.time()
    assert not await _speak(c, answers[1], speed)  # cut off while speaking
    seen = len(c.seen)
    closed = await until_closed(c)
    assert closed.info.code == ABNORMAL_CLOSURE
    assert of_type(c.seen[seen:], "input_audio_buffer.speech_started")
    assert not of_type(c.seen[seen:], "input_audio_buffer.committed")  # answer 2 was never committed
    lead = 0.3  # answer_audio's silence before the speech starts
    assert loop.time() - began == pytest.approx(
        (lead + scenario.faults[0].at) / speed, abs=0.1 / speed + 0.001
    )

    c = await reopen(c)  # the client replays what it had
    await c.update_session(tools=[END_TOOL])
    await replay(c, [assistant_text(first_line), user_text(answers[0]), assistant_text(questions[1])])
    assert await _speak(c, answers[1], speed)  # the candidate answers again: no drop this time
    events = await c.recv_until("response.done")
    transcribed = of_type(events, "conversation.item.input_audio_transcription.completed")
    assert transcribed[0]["transcript"] == answers[1]
    assert transcript_of(events) == questions[2]
    assert await _speak(c, answers[2], speed)
    call = (await c.recv_until("response.done"))[-1]["response"]["output"][0]
    assert call["name"] == "end_interview"
    await replay(c, [function_call_output(call["call_id"])])
    summary = {"instructions": "Say exactly the following: You gave three clear answers with examples."}
    await c.send({"type": "response.create", "response": {**summary, "metadata": {"purpose": "summary"}}})
    await c.recv_until("response.created")
    began, seen = loop.time(), len(c.seen)
    await until_closed(c)  # 1 s of the scenario's clock into the summary
    assert loop.time() - began == pytest.approx(scenario.faults[1].at / speed, abs=0.001)
    cut = c.seen[seen:]  # the summary had begun and did not finish
    assert of_type(cut, "response.output_audio.delta") and not of_type(cut, "response.done")

    c = await reopen(c)
    items = [assistant_text(first_line)]
    for question, answer in zip(questions[1:], answers, strict=False):
        items += [user_text(answer), assistant_text(question)]
    items += [user_text(answers[2]), function_call(call["call_id"]), function_call_output(call["call_id"])]
    await replay(c, items)
    events = await c.create_response(**summary, metadata={"purpose": "summary"})
    assert events[-1]["response"]["status"] == "completed"  # heard in full on the third connection
    assert transcript_of(events) == "You gave three clear answers with examples."
    await c.close()


# ---- the fields that time and count them -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "named"),
    [
        ({"kind": "slow_audio", "factor": 0.5, "reconnectable": True}, "reconnectable"),
        ({"kind": "drop", "reconnectable": "yes"}, "reconnectable"),
        ({"kind": "drop", "during": "answer"}, "needs answer"),
        ({"kind": "drop", "during": "answer", "answer": 0}, "answer must be at least 1"),
        ({"kind": "drop", "answer": 2}, 'only used with during = "answer"'),
        ({"kind": "first_audio_delay", "during": "answer", "answer": 1, "seconds": 1.0}, "fires"),
        ({"kind": "session_expiry"}, "needs at"),
        ({"kind": "session_expiry", "at": 5.0, "during": "summary"}, "takes no during"),
        ({"kind": "stop_reading", "at": -1.0}, "at must not be negative"),
    ],
)
def test_fault_fields_that_could_never_work_are_refused(fault, named):
    with pytest.raises(ScenarioError, match=named):
        parse_scenario({"faults": [fault]}, "<test>")


def test_shipped_resume_scenarios():
    resume = load_scenario("drop-and-resume")
    assert [(f.kind, f.during, f.answer, f.reconnectable) for f in resume.faults] == [
        ("drop", "answer", 2, True),
        ("drop", "summary", None, True),
    ]
    assert load_scenario("drop-during-summary").faults[0].reconnectable
