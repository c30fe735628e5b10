"""``/v1/chat/completions``: the stand-in model through the official SDK and raw HTTP, and its faults."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import aiohttp
import openai
import pytest
from emulator_helpers import STEP_TIMEOUT, scenario_from
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from interview_kit.emulator import Emulator, chat, standin

TRANSCRIPT = """Interviewer: Could you tell me about a project you are proud of?
Candidate: I led the rewrite of our data pipeline. I designed the scheduler and wrote most of the tests.
Interviewer: Describe a time you disagreed with a colleague.
Candidate: We disagreed about load testing, ran a small experiment and shipped two days later.
Interviewer: What would you like to learn next?"""

PROMPT = """You assess interview transcripts. Score each criterion from 1 to 5:
- communication: how clearly the candidate speaks
- depth: how developed the answers are
- vocabulary: range of words
Return JSON."""

REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "scores": {
            "type": "object",
            "properties": {
                "communication": {"type": "integer", "minimum": 1, "maximum": 5},
                "depth": {"type": "integer", "minimum": 1, "maximum": 5},
                "vocabulary": {"type": "integer", "minimum": 1, "maximum": 5},
            },
            "required": ["communication", "depth", "vocabulary"],
            "additionalProperties": False,
        },
        "overall": {"type": "number", "minimum": 0, "maximum": 10},
        "recommendation": {"type": "string", "enum": ["advance", "hold", "reject"]},
        "strengths": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
        "concerns": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "string"},
    },
    "required": ["scores", "overall", "recommendation", "strengths", "concerns", "summary"],
    "additionalProperties": False,
}


def _messages(transcript: str = TRANSCRIPT) -> list[dict]:
    return [{"role": "system", "content": PROMPT}, {"role": "user", "content": f"Transcript:\n{transcript}"}]


def _schema_format(schema: dict = REPORT_SCHEMA) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "report", "schema": schema, "strict": True}}


def _scenario(*faults: dict, report_delay: float = 0.0, speed: float = 1.0) -> object:
    return scenario_from(
        {"name": "chat", "report_delay": report_delay, "speed": speed, "faults": list(faults)}
    )


def _client(emu, **kwargs) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=emu.base_url, api_key=kwargs.pop("api_key", "test"), timeout=STEP_TIMEOUT, **kwargs
    )


def test_features_of_a_transcript():
    f = standin.features_of(standin.parse_transcript(TRANSCRIPT))
    assert (f.questions, f.answers) == (3, 2)
    assert f.candidate_words == 32 and f.mean_answer_words == 16.0  # 18 + 14 words
    assert 0.8 < f.lexical_variety <= 1.0 and f.answer_rate == round(2 / 3, 3)
    assert f.quality == round(0.4 * (16 / 40) + 0.3 * f.lexical_variety + 0.3 * (2 / 3), 3)
    assert standin.features_of([]).quality == 0.0


def test_longer_answers_score_higher():
    short = "Interviewer: Tell me about yourself.\nCandidate: Fine."
    long_ = (
        "Interviewer: Tell me about yourself.\nCandidate: I build data tools for researchers, "
        "mostly pipelines and dashboards, and I enjoy teaching colleagues "
        "how to test their analysis code properly."
    )
    schema = {"type": "object", "properties": {"depth": {"type": "integer", "minimum": 1, "maximum": 10}}}
    low = json.loads(standin.answer(_messages(short), _schema_format(schema)))["depth"]
    high = json.loads(standin.answer(_messages(long_), _schema_format(schema)))["depth"]
    assert 1 <= low < high <= 10


def test_examples_and_reasons_are_noticed():
    plain = "Interviewer: How did it go?\nCandidate: It went well overall and the team liked it."
    evidenced = (
        "Interviewer: How did it go?\nCandidate: It went well because we measured it first: for example, "
        "latency fell from 900 to 120 milliseconds."
    )
    schema = {
        "type": "object",
        "properties": {
            key: {"type": "integer", "minimum": 1, "maximum": 5} for key in ("examples", "problem_solving")
        },
    }
    low = json.loads(standin.answer(_messages(plain), _schema_format(schema)))
    high = json.loads(standin.answer(_messages(evidenced), _schema_format(schema)))
    assert (low["examples"], low["problem_solving"]) == (1, 1)
    assert (high["examples"], high["problem_solving"]) == (5, 5)


def test_a_strict_prompt_scores_lower_than_a_supportive_one():
    score_schema = {"type": "integer", "minimum": 1, "maximum": 9}
    schema = {"type": "object", "properties": {"communication": score_schema}}

    def score(prompt: str) -> int:
        messages = [{"role": "system", "content": prompt}, {"role": "user", "content": TRANSCRIPT}]
        return json.loads(standin.answer(messages, _schema_format(schema)))["communication"]

    neutral = score("You assess interview transcripts.")
    assert score("You are a strict, demanding grader.") < neutral < score("You are a supportive coach.")


def test_fills_any_schema_with_refs_enums_and_nesting():
    schema = {
        "$defs": {
            "Criterion": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "score": {"type": "integer", "minimum": 0, "maximum": 3},
                    "ok": {"type": "boolean"},
                },
                "required": ["name", "score", "ok"],
            }
        },
        "type": "object",
        "properties": {
            "criteria": {
                "type": "array",
                "items": {"$ref": "#/$defs/Criterion"},
                "minItems": 2,
                "maxItems": 2,
            },
            "level": {"enum": ["junior", "senior"]},
            "note": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 20}]},
            "by_criterion": {"type": "object", "additionalProperties": {"type": "integer"}},
            "weaknesses": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
        },
    }
    out = json.loads(standin.answer(_messages(), _schema_format(schema)))
    assert len(out["criteria"]) == 2 and all(
        0 <= c["score"] <= 3 and isinstance(c["ok"], bool) for c in out["criteria"]
    )
    assert out["level"] == "junior" and isinstance(out["note"], str) and len(out["note"]) <= 20
    assert set(out["by_criterion"]) == {"communication", "depth", "vocabulary"}  # the prompt's bullets
    assert all(1 <= v <= 5 for v in out["by_criterion"].values())
    assert len(out["weaknesses"]) == 1 and "brief" in out["weaknesses"][0]


async def test_sdk_structured_report():
    async with Emulator(_scenario()) as emu:
        client = _client(emu)
        completion = await client.chat.completions.create(
            model="gpt-4o-mini", messages=_messages(), response_format=_schema_format()
        )
        assert completion.model == "emulator-standin-gpt-4o-mini"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        report = json.loads(completion.choices[0].message.content)
        assert set(report) == set(REPORT_SCHEMA["required"])
        assert all(1 <= v <= 5 for v in report["scores"].values()) and 0 <= report["overall"] <= 10
        assert report["recommendation"] in ("advance", "hold", "reject")
        assert 1 <= len(report["strengths"]) <= 3 and "2 of 3 questions" in report["summary"]
        assert "stand-in" in report["summary"]
        await client.close()


async def test_sdk_parse_with_pydantic_model():
    class Scores(BaseModel):
        clarity: int = Field(ge=1, le=5)
        relevance: int = Field(ge=1, le=5)

    class Report(BaseModel):
        scores: Scores
        strengths: list[str]
        summary: str

    async with Emulator(_scenario()) as emu:
        client = _client(emu)
        completion = await client.chat.completions.parse(
            model="m", messages=_messages(), response_format=Report
        )
        report = completion.choices[0].message.parsed
        assert isinstance(report, Report) and report.strengths
        await client.close()


async def test_plain_text_answer():
    async with Emulator(_scenario()) as emu:
        client = _client(emu)
        completion = await client.chat.completions.create(model="m", messages=_messages())
        assert completion.choices[0].message.content.startswith("The candidate answered 2 of 3 questions")
        await client.close()


async def test_report_delay_is_wall_time(monkeypatch: pytest.MonkeyPatch):
    waiting = most = 0

    async def counted_sleep(seconds: float) -> None:  # the chat endpoint's wait, counted
        nonlocal waiting, most
        waiting += 1
        most = max(most, waiting)
        try:
            await asyncio.sleep(seconds)
        finally:
            waiting -= 1

    class CountedAsyncio:  # the chat module's asyncio, with its sleeps counted
        sleep = staticmethod(counted_sleep)

        def __getattr__(self, name: str) -> object:
            return getattr(asyncio, name)

    monkeypatch.setattr(chat, "asyncio", CountedAsyncio())
    async with Emulator(_scenario(report_delay=1.0, speed=20.0)) as emu:  # speed does not shorten it
        client = _client(emu)
        started = time.monotonic()
        await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=_messages()) for _ in range(3))
        )
        elapsed = time.monotonic() - started
        assert elapsed >= 1.0
        assert most == 3  # the three calls waited side by side (one after another: never two at once)
        await client.close()


async def test_chat_429_with_retry_after_then_success():
    async with Emulator(_scenario({"kind": "chat_429", "count": 1, "retry_after": 0.2})) as emu:
        async with aiohttp.ClientSession() as http:
            first = await http.post(
                f"{emu.base_url}/chat/completions", json={"model": "m", "messages": _messages()}
            )
            assert first.status == 429 and first.headers["Retry-After"] == "0.2"
            assert (await first.json())["error"]["code"] == "rate_limit_exceeded"
        client = _client(emu, max_retries=0)
        completion = await client.chat.completions.create(model="m", messages=_messages())
        assert completion.choices[0].message.content
        await client.close()


async def test_chat_500_and_malformed_in_order():
    faults = ({"kind": "chat_500", "count": 1}, {"kind": "chat_malformed", "count": 1})
    async with Emulator(_scenario(*faults)) as emu:
        client = _client(emu, max_retries=0)
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(
                model="m", messages=_messages(), response_format=_schema_format()
            )
        bad = await client.chat.completions.create(
            model="m", messages=_messages(), response_format=_schema_format()
        )
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad.choices[0].message.content)
        good = await client.chat.completions.create(
            model="m", messages=_messages(), response_format=_schema_format()
        )
        assert json.loads(good.choices[0].message.content)["scores"]
        assert emu.chat.calls == 3
        await client.close()


async def test_chat_delay_adds_wall_seconds():
    scenario = _scenario({"kind": "chat_delay", "seconds": 0.5}, report_delay=0.3, speed=20.0)
    async with Emulator(scenario) as emu:
        client = _client(emu)
        started = time.monotonic()
        await client.chat.completions.create(model="m", messages=_messages())
        assert time.monotonic() - started >= 0.8  # report_delay + chat_delay, neither divided by speed
        await client.close()


async def test_bad_requests_get_openai_errors():
    async with Emulator(_scenario()) as emu, aiohttp.ClientSession() as http:
        url = f"{emu.base_url}/chat/completions"
        cases = [
            (b"{not json", "invalid_json"),
            (json.dumps({"messages": _messages()}).encode(), "missing_required_parameter"),
            (json.dumps({"model": "m", "messages": []}).encode(), "invalid_type"),
            (
                json.dumps({"model": "m", "messages": _messages(), "stream": True}).encode(),
                "unsupported_value",
            ),
            (
                json.dumps(
                    {"model": "m", "messages": _messages(), "response_format": {"type": "xml"}}
                ).encode(),
                "invalid_value",
            ),
        ]
        for body, code in cases:
            async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"]["code"] == code


async def test_api_key_is_required_when_set_and_never_echoed():
    secret = "sk-FAKE-chat-secret"
    async with Emulator(_scenario(), api_key=secret) as emu:
        wrong = _client(emu, api_key="sk-wrong-key-123", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            await wrong.chat.completions.create(model="m", messages=_messages())
        assert info.value.status_code == 401 and "sk-wrong-key-123" not in str(info.value)
        assert secret not in str(info.value) and secret not in repr(emu)
        await wrong.close()
        right = _client(emu, api_key=secret)
        assert (await right.chat.completions.create(model="m", messages=_messages())).choices
        await right.close()


def _filled(schema: dict, prompt: str = PROMPT) -> object:
    f = standin.features_of(standin.parse_transcript(TRANSCRIPT))
    return standin.SchemaFiller(f, schema, prompt).fill()


def test_awkward_schemas_are_filled_within_their_bounds():
    node = {"type": "object", "properties": {"note": {"type": "string"}, "child": {"$ref": "#/$defs/node"}}}
    nested = _filled({"$defs": {"node": node}, "$ref": "#/$defs/node"})  # refers to itself
    depth = 0
    while isinstance(nested, dict) and nested:
        nested, depth = nested.get("child"), depth + 1
    assert 3 <= depth <= standin.MAX_DEPTH
    assert _filled({"type": "array", "items": {"type": "string"}, "maxItems": 0}) == []
    assert len(_filled({"type": "array", "items": {"type": "integer"}, "maxItems": 1})) == 1
    assert len(_filled({"type": "string", "maxLength": 5})) == 5


def test_a_boolean_follows_the_prompts_tone():
    f = dataclasses.replace(standin.features_of([]), quality=0.55)
    strict = standin.SchemaFiller(f, {"type": "boolean"}, "Be a strict grader.").fill()
    supportive = standin.SchemaFiller(f, {"type": "boolean"}, "Be supportive.").fill()
    assert (strict, supportive) == (False, True)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "minimum": "1"},
        {"type": "number", "minimum": 5, "maximum": 1},
        {"type": "array", "items": {"type": "integer"}, "minItems": "3"},
        {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 2},
        {"type": "string", "maxLength": -5},
        {"type": "object", "properties": ["a", "b"]},
    ],
)
async def test_a_schema_that_cannot_be_filled_gets_a_400_naming_it(schema):
    async with Emulator(_scenario()) as emu, aiohttp.ClientSession() as http:
        body = {"model": "m", "messages": _messages(), "response_format": _schema_format(schema)}
        async with http.post(f"{emu.base_url}/chat/completions", json=body) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert error["param"] == "response_format.json_schema.schema" and error["code"] == "invalid_value"
        assert "report" in error["message"]
        assert emu.chat.calls == 0  # refused before it counted as a call (or met a fault)
