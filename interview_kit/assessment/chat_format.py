"""What the assessment model is sent and what it must answer: chat messages, the answer's strict JSON
schema (built from the prompt's rubric), and the validation of the answer on arrival.

Any OpenAI-compatible chat-completions server takes these; nothing here makes a call.
"""

from __future__ import annotations

import json
import math
from typing import Any

from interview_kit.assessment.prompts import AssessmentPrompt
from interview_kit.assessment.report import SCORE_MAX, SCORE_MIN
from interview_kit.assessment.turns import Turns, transcript_to_text


class MalformedAnswer(Exception):
    """The model's answer is not the JSON the schema asks for (retried, then an AssessmentError)."""


def build_schema(prompt: AssessmentPrompt) -> dict[str, Any]:
    """The JSON schema (strict structured outputs) of the answer the model must give for this rubric."""
    score = {"type": "integer", "minimum": SCORE_MIN, "maximum": SCORE_MAX}
    return {
        "type": "object",
        "properties": {
            "scores": {
                "type": "object",
                "properties": {c.name: {**score, "description": c.description} for c in prompt.criteria},
                "required": prompt.criterion_names,
                "additionalProperties": False,
            },
            "strengths": {"type": "array", "items": {"type": "string"}},
            "concerns": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "string"},
        },
        "required": ["scores", "strengths", "concerns", "summary"],
        "additionalProperties": False,
    }


def response_format(prompt: AssessmentPrompt) -> dict[str, Any]:
    """The ``response_format`` argument of the chat-completions call."""
    return {"type": "json_schema",
            "json_schema": {"name": "interview_assessment", "strict": True, "schema": build_schema(prompt)}}


def build_messages(turns: Turns, prompt: AssessmentPrompt) -> list[dict[str, str]]:
    """System prompt with the rubric, then the transcript as the last user message."""
    rubric = "\n".join(f"- {c.name}: {c.description}" for c in prompt.criteria)
    system = (
        f"{prompt.system.strip()}\n\n"
        f"Score the candidate on each criterion from {SCORE_MIN} (poor) to {SCORE_MAX} (excellent):\n"
        f"{rubric}\n\n"
        f"List the candidate's main strengths and concerns as short phrases. Summary style: "
        f"{prompt.summary_style.strip()}\n"
        "Answer only with JSON: {\"scores\": {criterion: score}, \"strengths\": [...], \"concerns\": [...], "
        "\"summary\": \"...\"}."
    )
    text = transcript_to_text(turns) or "(the interview has no transcript)"
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Interview transcript:\n{text}"}]


def parse_answer(content: str | None, prompt: AssessmentPrompt) -> dict[str, Any]:
    """Validate the model's JSON answer against the rubric; raises `MalformedAnswer` with the reason."""
    if not content:
        raise MalformedAnswer("the model returned no content")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise MalformedAnswer(f"the model's answer is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict):
        raise MalformedAnswer("the model's answer is not a JSON object")
    raw_scores = data.get("scores")
    if not isinstance(raw_scores, dict):
        raise MalformedAnswer("the answer has no 'scores' object")
    scores: dict[str, int] = {}
    for name in prompt.criterion_names:
        value = raw_scores.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value != int(value) or not SCORE_MIN <= value <= SCORE_MAX:
            raise MalformedAnswer(
                f"score for {name!r} must be an integer {SCORE_MIN}..{SCORE_MAX}, got {value!r}"
            )
        scores[name] = int(value)
    lists = {}
    for key in ("strengths", "concerns"):
        value = data.get(key, [])
        if not isinstance(value, list):
            raise MalformedAnswer(f"'{key}' must be a list of strings")
        lists[key] = [str(v) for v in value if str(v).strip()]
    summary = data.get("summary")
    if not isinstance(summary, str):
        raise MalformedAnswer("the answer has no 'summary' string")
    return {"scores": scores, "summary": summary.strip(), **lists}
