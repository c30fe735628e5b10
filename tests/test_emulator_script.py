"""The answering rule, the pacing of audio and words, and the shipped scenarios.

The pacing runs in memory on looptime's fast-forwarding loop (``InMemoryTestClient``), where it is
asserted exactly; nothing here needs a socket.
"""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from emulator_helpers import InMemoryTestClient, fast, scenario_from

from interview_kit import voice
from interview_kit.emulator.script import InterviewScript, verbatim_text
from interview_kit.emulator.speech import CHUNK_MS
from interview_kit.scenario import ScenarioError, load_scenario, parse_scenario


@pytest.mark.parametrize(
    ("instructions", "said"),
    [
        ("Say exactly the following: I'm preparing your assessment.", "I'm preparing your assessment."),
        (
            'You are kind.\nSAY EXACTLY THE FOLLOWING, word for word:  "Thank you, goodbye."  ',
            "Thank you, goodbye.",
        ),
        ("say exactly the following:\n'One line.\nTwo lines.'", "One line.\nTwo lines."),
        ("Say exactly the following: “Curly quotes.”", "Curly quotes."),
        ("Say exactly the following ask the next question", None),  # no colon: not a verbatim line
        ("Ask the next question.", None),
        (None, None),
    ],
)
def test_verbatim_rule(instructions, said):
    assert verbatim_text(instructions) == said


def test_script_order_and_end():
    scenario = scenario_from(
        {
            "interviewer": {
                "greeting": "Hi.",
                "questions": ["Q1?", "Q2?", "Q3?"],
                "closing": "Bye.",
                "end_after_answers": 2,
            },
            "candidate": {"answers": ["A1", "A2"]},
        }
    )
    script = InterviewScript(scenario)
    tools = {"end_interview"}
    assert script.next_line(None, tools, in_conversation=False).text == "Hi. Q1?"  # out of band: no move
    first = script.next_line(None, tools)
    assert (first.label, first.text) == ("greeting", "Hi. Q1?")
    assert script.record_answer() == "A1"
    assert script.next_line("Say exactly the following: ok", tools).label == "verbatim"  # does not move
    assert script.next_line(None, tools).text == "Q2?"
    assert script.record_answer() == "A2"
    call = script.next_line(None, tools)
    assert (
        call.kind == "call"
        and call.name == "end_interview"
        and "2 question" in json.loads(call.arguments)["reason"]
    )
    assert script.next_line(None, tools).text == "Bye."  # called once; then the closing line
    assert script.record_answer() == ""  # the scripted answers ran out


def test_closing_without_the_tool_and_without_questions():
    script = InterviewScript(scenario_from({"interviewer": {"greeting": "Hi.", "closing": "Bye."}}))
    assert script.next_line(None, set()).text == "Hi."
    assert script.next_line(None, set()).text == "Bye."


def test_shipped_scenarios():
    default = load_scenario("default")
    assert 3 <= len(default.interviewer.questions) <= 4 and len(default.candidate.answers) == 4
    korean = load_scenario("korean")
    assert korean.language == "ko" and all(
        any("\uac00" <= ch <= "\ud7a3" for ch in q) for q in korean.interviewer.questions
    )
    for name in ("slow-report", "drop-during-summary", "stalled-server"):
        assert load_scenario(name).name == name


@pytest.mark.looptime  # in memory, on the loop's clock: the pacing holds exactly
async def test_audio_is_paced_and_words_come_in_step():
    line = "one two three four five six seven eight nine ten"
    scenario = fast("default", speed=5.0, timing="idealised")  # bursts: test_emulator_hosted_like
    loop = asyncio.get_running_loop()
    async with await InMemoryTestClient.open(scenario) as c:
        await c.send(
            {"type": "response.create", "response": {"instructions": f"Say exactly the following: {line}"}}
        )
        arrivals, audio_bytes, words_at = [], 0, []
        while True:
            event = await c.recv()
            if event["type"] == "response.output_audio.delta":
                arrivals.append(loop.time())
                audio_bytes += len(base64.b64decode(event["delta"]))
            elif event["type"] == "response.output_audio_transcript.delta":
                words_at.append((event["delta"], audio_bytes))
            elif event["type"] == "response.done":
                break
    chunk_s = CHUNK_MS / 1000
    for k, at in enumerate(arrivals):  # never early, never late: delta k leaves k chunks after the first
        assert at - arrivals[0] == pytest.approx(k * chunk_s / scenario.speed, abs=0.001)
    bytes_per_s = voice.SAMPLE_RATE * voice.BYTES_PER_SAMPLE
    for (word, received), (expected, start, _end) in zip(
        words_at, voice.word_timings(line, 160), strict=True
    ):
        assert word.strip() == expected
        assert start * bytes_per_s < received <= (start + chunk_s) * bytes_per_s + 1  # with its audio chunk


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"interviewer": {"words_per_minute": 0}}, "words_per_minute"),
        ({"candidate": {"words_per_minute": -5}}, "words_per_minute"),
        ({"latency": {"first_audio": "x"}}, "first_audio"),
        ({"faults": [{"kind": "drop", "mode": "close"}]}, "mode"),  # a typo must not act as "abrupt"
        ({"faults": [{"kind": "stall", "at": "1"}]}, "at"),  # a string would never fire
        ({"faults": [{"kind": "chat_500", "count": 0}]}, "count"),
        ({"faults": [{"kind": "slow_audio", "factor": 0}]}, "factor"),
        ({"faults": [{"kind": "explode"}]}, "kind"),
        ({"faults": {"kind": "drop"}}, "faults"),
        ({"report_delay": -1}, "report_delay"),
        ({"speed": True}, "speed"),
        ({"interviewer": {"questions": "abc"}}, "questions"),
        ({"interviewer": {"questions": ["ok", 3]}}, "questions"),
        ({"interviewer": {"end_after_answers": 1.5}}, "end_after_answers"),
    ],
)
def test_bad_scenario_fields_are_refused_by_name(raw, named):
    with pytest.raises(ScenarioError, match=named):
        parse_scenario(raw, "<test>")


def test_good_scenario_fields_are_kept():
    s = parse_scenario(
        {
            "speed": 2,
            "interviewer": {"questions": ["Q?"], "end_after_answers": 1},
            "faults": [{"kind": "stall", "at": 1, "during": "question", "seconds": 0.5, "count": 2}],
        }
    )
    assert s.speed == 2 and s.interviewer.questions == ("Q?",) and s.faults[0].count == 2


@pytest.mark.parametrize("wpm", [160.0, 750.0, 1500.0])
def test_every_word_is_voiced_at_any_rate(wpm):
    pcm = np.frombuffer(voice.synthesize("one two three four", wpm), dtype="<i2")
    for _word, start, end in voice.word_timings("one two three four", wpm):
        word = pcm[int(start * voice.SAMPLE_RATE) : int(end * voice.SAMPLE_RATE)]
        assert np.abs(word).max() > 3000
    with pytest.raises(ValueError, match="words_per_minute"):
        voice.synthesize("one", 0)


def test_a_question_cut_after_its_first_sentence_is_not_asked():
    """A resuming client replays the sentences heard in full: a two-sentence question cut in its
    second sentence arrives as its first sentence only, a prefix, so it is asked again whole."""
    question = "Describe a time you disagreed with a colleague. How did you resolve it?"
    script = InterviewScript(
        scenario_from({"interviewer": {"greeting": "Hi.", "questions": ["First?", question, "Last?"]}})
    )
    script.heard_line("Hi. First?")
    script.record_answer()
    script.heard_line("Describe a time you disagreed with a colleague.")
    assert (script.greeted, script.asked) == (True, {0})
    assert script.next_line(None, set()).text == question
    script.heard_line(question)  # replayed again whole: nothing changes twice
    assert script.next_line(None, set()).text == "Last?"
