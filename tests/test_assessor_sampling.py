"""Sampling parameters go only to assessment models that take them.

Reasoning models (o1, o3, o4-mini, the gpt-5 family) answer a ``temperature`` with a 400 that no retry
cures, which used to turn every report into the fallback line. The rule is the emulator's chat table
(`interview_kit.wire_types.chat_model_rule`); these tests run the assessor against the emulator's chat
endpoint, which enforces it, and read the bodies it received.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from interview_kit import launch
from interview_kit.assessment import OpenAIAssessor, PromptError, load_prompt
from interview_kit.config import SessionConfig
from interview_kit.emulator import Emulator, chat
from interview_kit.scenario import load_scenario

KEY = "sk-test-sampling"
TURNS = [
    {"role": "interviewer", "text": "Tell me about a project you are proud of?"},
    {"role": "candidate", "text": "I led the rewrite of our data pipeline; for example, I built the "
                                  "scheduler and we cut the nightly run from six hours to forty minutes."},
]
DEFAULT_PROMPT = Path(__file__).resolve().parent.parent / "data/prompts/default.toml"


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every chat-completions body the emulator received (read where it judges the parameters)."""
    seen: list[dict[str, Any]] = []
    judge = chat.chat_model_error

    def spy(body: dict[str, Any]) -> Any:
        seen.append(body)
        return judge(body)

    monkeypatch.setattr(chat, "chat_model_error", spy)
    return seen


def _prompt_with_temperature(tmp_path: Path, temperature: float, name: str) -> Path:
    """The default prompt with a `temperature` (a top-level key: before the [[criteria]] tables)."""
    file = tmp_path / f"{name}.toml"
    file.write_text(f"temperature = {temperature}\n" + DEFAULT_PROMPT.read_text(encoding="utf-8")
                    .replace('name = "default"', f'name = "{name}"'))
    return file


def _scenario() -> Any:
    return dataclasses.replace(load_scenario("default"), report_delay=0.0)


@pytest.mark.parametrize("model", ["o4-mini", "o3", "o3-mini", "gpt-5-mini", "o1-2024-12-17"])
async def test_a_reasoning_model_gets_its_report_with_no_temperature_sent(
        model: str, bodies: list[dict[str, Any]]) -> None:
    async with Emulator(_scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor(model, base_url=emu.base_url, api_key=KEY, max_retries=0)
        report = await assessor.assess(TURNS, "default")
    assert assessor.attempts == ["ok"] and report.error is None and report.scores
    assert [b["model"] for b in bodies] == [model]
    assert "temperature" not in bodies[0] and "top_p" not in bodies[0]


async def test_a_chat_model_gets_the_assessor_temperature_or_the_prompt_s(
        tmp_path: Path, bodies: list[dict[str, Any]]) -> None:
    warm = _prompt_with_temperature(tmp_path, 0.7, "warm")
    async with Emulator(_scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor("gpt-4o-mini", base_url=emu.base_url, api_key=KEY, max_retries=0)
        await assessor.assess(TURNS, "default")  # no temperature in the prompt: the assessor's
        await assessor.assess(TURNS, warm)  # the prompt's
        # the blocking path builds the same request (off this loop: the emulator serves on it)
        await asyncio.to_thread(assessor.assess_sync, TURNS, load_prompt(warm))
        plain = OpenAIAssessor("gpt-4o-mini", base_url=emu.base_url, api_key=KEY, temperature=None)
        await plain.assess(TURNS, "default")  # None: none sent
    assert [b.get("temperature") for b in bodies] == [0.2, 0.7, 0.7, None]
    assert "temperature" not in bodies[-1]


async def test_a_prompt_temperature_a_reasoning_model_refuses_is_left_out_with_one_warning(
        tmp_path: Path, bodies: list[dict[str, Any]], caplog: pytest.LogCaptureFixture) -> None:
    hot = _prompt_with_temperature(tmp_path, 0.9, "hot-for-o4")
    async with Emulator(_scenario(), api_key=KEY) as emu:
        assessor = OpenAIAssessor("o4-mini", base_url=emu.base_url, api_key=KEY, max_retries=0)
        with caplog.at_level(logging.WARNING, logger="interview_kit"):
            first = await assessor.assess(TURNS, hot)
            second = await assessor.assess(TURNS, hot)
    assert first.error is None and second.error is None
    assert [b.get("temperature") for b in bodies] == [None, None]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["prompt 'hot-for-o4' sets temperature 0.9, but the assessment model o4-mini is a "
                        "reasoning model that takes only its default temperature (1): no temperature is sent"]


def test_a_prompt_temperature_out_of_range_is_a_prompt_error(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="temperature"):
        load_prompt(_prompt_with_temperature(tmp_path, 2.5, "too-hot"))
    assert load_prompt("default").temperature is None  # the shipped prompts leave it to the assessor


def test_the_demo_says_before_the_interview_that_the_prompt_temperature_is_not_sent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    prompt = _prompt_with_temperature(tmp_path, 0.45, "noted-before")
    config, _scenario_used, notes = launch.plan_interview(
        SessionConfig(), emulator=True, settings={"assessment_model": "o3", "prompt": str(prompt),
                                                  "out_dir": tmp_path})
    assert config.assessment_model == "o3"
    assert [n for n in notes if "temperature" in n] == [
        "prompt 'noted-before' sets temperature 0.45, but the assessment model o3 is a reasoning model "
        "that takes only its default temperature (1): no temperature is sent"]
    with caplog.at_level(logging.WARNING, logger="interview_kit"):  # said once: the assessor stays quiet
        assert OpenAIAssessor("o3", api_key=KEY).temperature_for(load_prompt(prompt)) is None
    assert not caplog.records
    _config, _s, quiet = launch.plan_interview(SessionConfig(), emulator=True,
                                               settings={"assessment_model": "gpt-4o", "prompt": str(prompt)})
    assert not [n for n in quiet if "temperature" in n]  # a model that takes it: nothing to say
