"""Assessors: turn an interview transcript into a scored report (``report.json``) and a spoken summary.

`OpenAIAssessor` asks any OpenAI-compatible chat-completions endpoint (the hosted API, the emulator, a
local server) for JSON that follows a schema built from the prompt's rubric, with its own retry policy
(429/5xx/connection errors, exponential backoff, ``Retry-After`` honoured). `HeuristicAssessor` scores
offline from documented transcript features. Prompts are TOML files in ``data/prompts/``; see
``docs/assessment.md``.

`Assessor.assess_sync` blocks; `Assessor.assess` never blocks the event loop. The session uses the
latter; its `blocking` mode calls the former on the loop on purpose, to reproduce the original bug.

One concern a module:

- `base`: the `Assessor` interface and `AssessmentError`
- `prompts`: prompt variants (`AssessmentPrompt`, `load_prompt`, `list_prompts`, `PromptError`)
- `report`: `AssessmentReport` (``report.json``) and the 1..5 score scale
- `turns`: transcripts as assessors read them (`transcript_to_text`)
- `chat_format`: the chat-completions request, the answer's JSON schema and its validation
- `retry`: ``Retry-After``, backoff, and the one retry loop shared by the sync and async paths
- `openai_assessor`: `OpenAIAssessor`; which sampling parameters a model takes (`unsent_temperature`)
- `heuristic`: `HeuristicAssessor` and the transcript features it scores
- `spoken`: `report_to_verbal_summary`, `fallback_summary`: what the interviewer says
"""

from __future__ import annotations

from interview_kit.assessment.base import AssessmentError, Assessor
from interview_kit.assessment.chat_format import (
    MalformedAnswer,
    build_messages,
    build_schema,
    parse_answer,
    response_format,
)
from interview_kit.assessment.heuristic import (
    FEATURE_KEYWORDS,
    HeuristicAssessor,
    feature_for,
    feature_scores,
    transcript_features,
)
from interview_kit.assessment.openai_assessor import OpenAIAssessor, temperature_warning, unsent_temperature
from interview_kit.assessment.prompts import (
    AssessmentPrompt,
    Criterion,
    PromptError,
    list_prompts,
    load_prompt,
)
from interview_kit.assessment.report import SCORE_MAX, SCORE_MIN, AssessmentReport, mean_score
from interview_kit.assessment.retry import MAX_BACKOFF, retry_after_seconds
from interview_kit.assessment.spoken import fallback_summary, report_to_verbal_summary, speakable
from interview_kit.assessment.turns import Turns, transcript_to_text

__all__ = [
    "FEATURE_KEYWORDS",
    "MAX_BACKOFF",
    "SCORE_MAX",
    "SCORE_MIN",
    "AssessmentError",
    "AssessmentPrompt",
    "AssessmentReport",
    "Assessor",
    "Criterion",
    "HeuristicAssessor",
    "MalformedAnswer",
    "OpenAIAssessor",
    "PromptError",
    "Turns",
    "build_messages",
    "build_schema",
    "fallback_summary",
    "feature_for",
    "feature_scores",
    "list_prompts",
    "load_prompt",
    "mean_score",
    "parse_answer",
    "report_to_verbal_summary",
    "response_format",
    "retry_after_seconds",
    "speakable",
    "temperature_warning",
    "transcript_features",
    "transcript_to_text",
    "unsent_temperature",
]
