"""Assessors, prompts and reports; OpenAIAssessor against the emulator's chat endpoint and its faults."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from interview_kit.assessment import (
    AssessmentError,
    AssessmentPrompt,
    AssessmentReport,
    HeuristicAssessor,
    MalformedAnswer,
    OpenAIAssessor,
    PromptError,
    build_messages,
    build_schema,
    fallback_summary,
    list_prompts,
    load_prompt,
    parse_answer,
    report_to_verbal_summary,
    retry_after_seconds,
    transcript_to_text,
)
from interview_kit.assessment.retry import Attempts, Wait, drive_async, drive_sync
from interview_kit.emulator import Emulator
from interview_kit.monitor import LoopLagMonitor
from interview_kit.scenario import parse_scenario

KEY = "sk-FAKE-assessor-42"

GOOD = [
    {"role": "interviewer", "text": "Welcome. Tell me about a project you led?"},
    {"role": "candidate", "text": (
        "First, I led the migration of our billing system to a new event pipeline because the old batch "
        "jobs failed every month. For example, we cut failed invoices by 40 percent in three months. "
        "Then I trained the support team, and finally we retired the old system.")},
    {"role": "interviewer", "text": "How do you handle disagreement in a team?"},
    {"role": "candidate", "text": (
        "I listen first, then I write down the options with their costs so that we compare facts. "
        "For instance, when I disagreed with our architect about caching, we ran a two week experiment "
        "and the data settled it. As a result the team trusted the process.")},
]
POOR = [
    {"role": "interviewer", "text": "Welcome. Tell me about a project you led?"},
    {"role": "candidate", "text": "Um, I guess a website, maybe."},
    {"role": "interviewer", "text": "How do you handle disagreement in a team?"},
    {"role": "interviewer", "text": "Anything else you would like to add?"},
]


def scenario(**faults: dict[str, Any]) -> Any:
    return parse_scenario({"name": "assessment-test", "report_delay": 0.0,
                           "faults": [{"kind": kind, **args} for kind, args in faults.items()]})


# ---------------------------------------------------------------------------------------------
# Prompts


def test_shipped_prompts_load() -> None:
    names = list_prompts()
    assert {"default", "strict", "supportive", "korean"} <= set(names)
    for name in names:
        prompt = load_prompt(name)
        assert prompt.name == name and prompt.criteria and prompt.system.strip() and prompt.summary_style
    assert load_prompt("korean").language == "ko"
    assert load_prompt("strict").system != load_prompt("default").system


def test_prompt_by_path_and_clear_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text('system = "Be fair."\nsummary_style = "short"\n[[criteria]]\nname = "clarity"\n'
                    'description = "clear"\n', encoding="utf-8")
    assert load_prompt(good).name == "mine"  # the file name when the file has none
    with pytest.raises(PromptError, match=r"no prompt named 'nope'.*default"):
        load_prompt("nope")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("system = ", encoding="utf-8")
    with pytest.raises(PromptError, match=r"bad\.toml: not valid TOML"):
        load_prompt(bad_toml)
    dupes = tmp_path / "dupes.toml"
    dupes.write_text('system = "x"\nsummary_style = "y"\n[[criteria]]\nname = "a"\ndescription = ""\n'
                     '[[criteria]]\nname = "a"\ndescription = ""\n', encoding="utf-8")
    with pytest.raises(PromptError, match=r"duplicate criterion name.*a"):
        load_prompt(dupes)
    missing = tmp_path / "missing.toml"
    missing.write_text('summary_style = "y"\ncriteria = []\n', encoding="utf-8")
    with pytest.raises(PromptError) as err:
        load_prompt(missing)
    assert "missing.toml" in str(err.value) and "system" in str(err.value) and "criteria" in str(err.value)


def test_schema_is_strict_and_follows_the_rubric() -> None:
    prompt = load_prompt("supportive")
    schema = build_schema(prompt)
    scores = schema["properties"]["scores"]
    assert scores["required"] == list(scores["properties"]) == prompt.criterion_names
    for obj in (schema, scores):  # strict structured outputs: every object closed, every field required
        assert obj["additionalProperties"] is False and set(obj["required"]) == set(obj["properties"])
    assert all(p["minimum"] == 1 and p["maximum"] == 5 for p in scores["properties"].values())


def test_transcript_lines_and_messages() -> None:
    text = transcript_to_text([{"role": "interviewer", "text": "Hi?\nSecond line"},
                               {"role": "user", "text": "Yes"}, {"role": "candidate", "text": "  "}])
    assert text == "Interviewer: Hi? Second line\nCandidate: Yes"
    with pytest.raises(ValueError, match="role must be"):
        transcript_to_text([{"role": "narrator", "text": "x"}])
    messages = build_messages(GOOD, load_prompt("default"))
    assert messages[-1]["role"] == "user" and "Candidate: First, I led" in messages[-1]["content"]
    assert "- communication:" in messages[0]["content"]


def test_parse_answer_rejects_what_the_schema_forbids() -> None:
    prompt = load_prompt("default")
    ok = {"scores": dict.fromkeys(prompt.criterion_names, 3), "strengths": ["a"], "concerns": [],
          "summary": "s"}
    assert parse_answer(json.dumps(ok), prompt)["scores"]["communication"] == 3
    for broken, why in [
        ("{not json", "not valid JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({**ok, "scores": {**ok["scores"], "examples": 7}}), "'examples' must be an integer 1..5"),
        (json.dumps({**ok, "scores": {"communication": 3}}), "technical_depth"),
        (json.dumps({k: v for k, v in ok.items() if k != "summary"}), "summary"),
        (None, "no content"),
    ]:
        with pytest.raises(MalformedAnswer, match=re.escape(why)):
            parse_answer(broken, prompt)


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after_seconds({"retry-after": "soon"}) is None and retry_after_seconds(None) is None


# ---------------------------------------------------------------------------------------------
# HeuristicAssessor and reports


def test_heuristic_scores_a_strong_interview_above_a_weak_one() -> None:
    assessor = HeuristicAssessor()
    good, poor = assessor.assess_sync(GOOD, "default"), assessor.assess_sync(POOR, "default")
    assert set(good.scores) == set(poor.scores) == set(load_prompt("default").criterion_names)
    assert all(1 <= s <= 5 for s in [*good.scores.values(), *poor.scores.values()])
    assert good.overall > poor.overall
    assert good.scores["examples"] > poor.scores["examples"]
    assert good.scores["communication"] > poor.scores["communication"]  # "um, I guess, maybe"
    assert poor.features["answered_fraction"] < 1 and "left questions unanswered" in poor.concerns
    assert good.overall == round(sum(good.scores.values()) / len(good.scores), 2)
    assert good.error is None and good.model == "heuristic-v1" and good.prompt == "default"
    again = assessor.assess_sync(GOOD, "default")
    volatile = {"created", "duration_s"}
    assert again.model_dump(exclude=volatile) == good.model_dump(exclude=volatile)


async def test_heuristic_async_and_empty_transcript() -> None:
    report = await HeuristicAssessor().assess([], load_prompt("supportive"))
    assert report.scores == dict.fromkeys(load_prompt("supportive").criterion_names, 1)
    assert "no answers" in report.summary


def test_report_save_load_and_failed(tmp_path: Path) -> None:
    report = HeuristicAssessor().assess_sync(GOOD, "default")
    report.save(tmp_path / "report.json")
    assert AssessmentReport.load(tmp_path / "report.json") == report
    failed = AssessmentReport.failed("default", "gpt-4o-mini", f"HTTP 401 for key {KEY}", 1.5)
    failed.save(tmp_path / "failed.json", secrets=[KEY])
    data = json.loads((tmp_path / "failed.json").read_text())
    assert KEY not in json.dumps(data)
    assert data["scores"] == {} and data["overall"] is None and data["duration_s"] == 1.5
    assert data["error"].startswith("HTTP 401") and data["created"]
    with pytest.raises(ValueError):
        AssessmentReport(prompt="p", model="m", scores={"a": 6})


def test_verbal_summary_is_short_plain_and_speakable() -> None:
    report = AssessmentReport(prompt="default", model="m", scores={"a": 4, "b": 3}, overall=3.5,
                              summary="**Great** answers!\n\n- You gave [clear examples](http://x.y).\n"
                                      "- # Work on structure\n" + " ".join(["More detail here."] * 40))
    text = report_to_verbal_summary(report, max_words=30)
    assert len(text.split()) <= 30
    assert not re.search(r"[*#\[\]()`_]|http", text)
    assert text.startswith("Great answers! You gave clear examples. Work on structure.")
    assert text.endswith("Your overall score is 3.5 out of 5.")
    korean_report = report.model_copy(update={"summary": "좋은 답변이었습니다."})
    korean = report_to_verbal_summary(korean_report, language="ko")
    assert korean == "좋은 답변이었습니다. 종합 점수는 5점 만점에 3.5점입니다."
    from_prompt = HeuristicAssessor().assess_sync(GOOD, "korean")  # the prompt's language travels along
    assert from_prompt.language == "ko" and "5점 만점에" in report_to_verbal_summary(from_prompt)


def test_failed_report_speaks_the_fallback() -> None:
    failed = AssessmentReport.failed("default", "m", "timeout")
    assert report_to_verbal_summary(failed) == fallback_summary()
    assert report_to_verbal_summary(failed, language="ko") == fallback_summary("ko") != fallback_summary("en")
    assert fallback_summary("xx") == fallback_summary("en")
    assert len(fallback_summary().split()) < 25


# ---------------------------------------------------------------------------------------------
# OpenAIAssessor against the emulator


async def test_openai_assessor_against_the_emulator() -> None:
    async with Emulator(scenario=scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY)
        report = await assessor.assess(GOOD, "strict")
        poor = await assessor.assess(POOR, "strict")
    assert assessor.attempts == ["ok"]
    assert set(report.scores) == set(load_prompt("strict").criterion_names)
    assert all(1 <= s <= 5 for s in report.scores.values())
    assert report.overall == round(sum(report.scores.values()) / len(report.scores), 2)
    assert report.overall > poor.overall  # the stand-in model reads the transcript we sent
    assert report.strengths and report.summary and report.error is None
    assert report.prompt == "strict"
    assert report.model.startswith("emulator-standin")  # the model that answered, as the server names it
    assert report.usage["total_tokens"] == report.usage["prompt_tokens"] + report.usage["completion_tokens"]
    assert report.duration_s is not None and report.duration_s > 0


async def test_a_prepared_assessor_makes_no_client_at_report_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a client loads the CA bundle while holding the interpreter lock (the session's loop
    stalled 100-160 ms at report time in a kernel): once prepared, the report uses the prepared client."""
    import openai

    async with Emulator(scenario=scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY)
        await asyncio.to_thread(assessor.prepare)
        made: list[str] = []
        for name in ("OpenAI", "AsyncOpenAI"):
            monkeypatch.setattr(openai, name, lambda *_a, _n=name, **_k: made.append(_n))
        report = await assessor.assess(GOOD, "strict")
    assert made == [] and report.error is None and assessor.attempts == ["ok"]


async def test_429_waits_as_long_as_retry_after_asks() -> None:
    async with Emulator(scenario=scenario(chat_429={"count": 1, "retry_after": 0.4})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01)
        report = await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["429", "ok"]
    assert report.duration_s >= 0.4  # Retry-After, not the 10 ms backoff
    assert report.error is None and report.scores


async def test_a_retry_after_beyond_the_budget_fails_at_once_naming_the_429() -> None:
    async with Emulator(scenario=scenario(chat_429={"count": 5, "retry_after": 30})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01, budget=5.0)
        with pytest.raises(AssessmentError) as caught:
            await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["429"]  # no 30 s wait into a timeout
    message = str(caught.value)
    assert "rate limited (HTTP 429, Retry-After 30 s) longer than the report budget (5 s)" in message
    assert KEY not in message


def test_the_session_assessor_has_the_report_budget() -> None:
    from interview_kit.config import SessionConfig
    from interview_kit.report_runner import default_assessor

    assessor = default_assessor(SessionConfig(api_key=KEY, report_timeout=12.0))
    assert isinstance(assessor, OpenAIAssessor) and assessor.budget == 12.0


async def test_500s_are_retried_with_backoff_then_give_up() -> None:
    async with Emulator(scenario=scenario(chat_500={"count": 2})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01)
        report = await assessor.assess(GOOD, "default")
        assert assessor.attempts == ["500", "500", "ok"] and report.scores
    async with Emulator(scenario=scenario(chat_500={"count": 10})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01, max_retries=2)
        with pytest.raises(AssessmentError, match=r"failed after 3 attempt.*HTTP 500") as err:
            await assessor.assess(GOOD, "default")
        assert emu.chat.calls == 3
    assert assessor.attempts == ["500", "500", "500"]
    assert KEY not in str(err.value)


async def test_malformed_json_is_retried_then_an_error() -> None:
    async with Emulator(scenario=scenario(chat_malformed={"count": 1})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01)
        report = await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["malformed", "ok"] and report.scores
    async with Emulator(scenario=scenario(chat_malformed={"count": 10})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01, max_retries=1)
        with pytest.raises(AssessmentError, match="not valid JSON"):
            await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["malformed", "malformed"]


async def test_a_slow_model_times_out() -> None:
    async with Emulator(scenario=scenario(chat_delay={"seconds": 1.0})) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, timeout=0.3, max_retries=1,
                                  backoff=0.01)
        with pytest.raises(AssessmentError, match=r"no answer within 0\.3 s"):
            await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["timeout", "timeout"]


async def test_a_wrong_key_fails_at_once_without_showing_it() -> None:
    wrong = "sk-FAKE-wrong-4242"
    async with Emulator(scenario=scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=wrong, backoff=0.01)
        with pytest.raises(AssessmentError, match="HTTP 401") as err:
            await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["401"]  # not retried
    assert wrong not in str(err.value) and wrong not in repr(assessor)


async def test_missing_key_and_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AssessmentError, match="set OPENAI_API_KEY"):
        await OpenAIAssessor().assess(GOOD, "default")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assessor = OpenAIAssessor(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=1,
                              backoff=0.01)
    with pytest.raises(AssessmentError, match="could not reach"):
        await assessor.assess(GOOD, "default")
    assert assessor.attempts == ["connection", "connection"]


def flaky_loop(seen: list[str]) -> Attempts[str]:
    """A retry loop like OpenAIAssessor's: ValueError is retried after a growing wait; the rest ends it."""
    for attempt in range(3):
        try:
            result = yield None
        except ValueError as exc:
            seen.append(str(exc))
            yield Wait(0.1 * (attempt + 1))
            continue
        return f"{result} after {attempt + 1}"
    raise AssertionError("unreachable")


def outcomes(*items: object) -> list[object]:
    return list(items)


def test_one_retry_loop_driven_blocking_or_awaiting() -> None:
    """The sync and async drivers carry out the same loop: the same calls, waits and result."""

    def run_sync(items: list[object]) -> tuple[object, list[str], list[float]]:
        seen: list[str] = []
        waits: list[float] = []

        def call() -> object:
            item = items.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item

        try:
            result: object = drive_sync(flaky_loop(seen), call, waits.append)
        except Exception as exc:
            result = exc
        return result, seen, waits

    def run_async(items: list[object]) -> tuple[object, list[str], list[float]]:
        seen: list[str] = []
        waits: list[float] = []

        async def call() -> object:
            item = items.pop(0)
            if isinstance(item, BaseException):
                raise item
            return item

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        async def main() -> object:
            try:
                return await drive_async(flaky_loop(seen), call, sleep)
            except Exception as exc:
                return exc
        return asyncio.run(main()), seen, waits

    for run in (run_sync, run_async):
        assert run(outcomes("ok")) == ("ok after 1", [], [])
        assert run(outcomes(ValueError("a"), ValueError("b"), "ok")) == ("ok after 3", ["a", "b"],
                                                                          [0.1, pytest.approx(0.2)])
        result, seen, waits = run(outcomes(ValueError("a"), KeyError("fatal"), "never"))
        assert isinstance(result, KeyError) and seen == ["a"] and waits == [0.1]  # not retried: out at once


def test_assess_sync_waits_with_the_sleep_it_was_given() -> None:
    waits: list[float] = []
    with Emulator.in_thread(scenario(chat_500={"count": 2}), api_key=KEY) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01, sleep=waits.append)
        report = assessor.assess_sync(GOOD, "default")
    assert assessor.attempts == ["500", "500", "ok"] and report.scores
    assert waits == [0.01, 0.02]  # backoff * 2**attempt, through the injected sleep


def test_assess_sync_same_policy_against_an_emulator_thread() -> None:
    faulty = scenario(chat_429={"count": 1, "retry_after": 0.2}, chat_500={"count": 1})
    with Emulator.in_thread(faulty, api_key=KEY) as emu:
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY, backoff=0.01)
        report = assessor.assess_sync(GOOD, "default")
    assert assessor.attempts == ["429", "500", "ok"]
    assert report.duration_s >= 0.2 and set(report.scores) == set(load_prompt("default").criterion_names)


async def test_async_assess_leaves_the_loop_free_and_sync_on_the_loop_blocks_it() -> None:
    slow = parse_scenario({"name": "slow", "report_delay": 0.6})
    with Emulator.in_thread(slow, api_key=KEY) as emu:  # its own loop, so blocking ours cannot stall it
        assessor = OpenAIAssessor(base_url=emu.base_url, api_key=KEY)
        monitor = LoopLagMonitor(None, threshold=0.05)
        monitor.start()
        await asyncio.sleep(0.02)
        seen_before = monitor.lags_seen
        await asyncio.wait_for(assessor.assess(GOOD, "default"), 30)
        turns_during_async = monitor.lags_seen - seen_before
        await asyncio.sleep(0.02)
        seen_before = monitor.lags_seen
        assessor.assess_sync(GOOD, "default")  # the original bug, on purpose: a sync call on the loop
        turns_during_sync = monitor.lags_seen - seen_before
        await asyncio.sleep(0.02)
        await monitor.stop()
    assert turns_during_async > 5  # the loop went on turning through the 0.6 s report
    assert turns_during_sync == 0  # the sync call held it: not one turn...
    assert monitor.longest_stall >= 0.55  # ...for the whole report


def test_custom_prompt_object_is_accepted() -> None:
    prompt = AssessmentPrompt(name="adhoc", system="Judge.", summary_style="One line.",
                              criteria=[{"name": "vocabulary", "description": "range of words"}])
    report = HeuristicAssessor().assess_sync(GOOD, prompt)
    assert list(report.scores) == ["vocabulary"] and report.prompt == "adhoc"
