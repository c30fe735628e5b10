"""Assessors: turn an interview transcript into a scored report (``report.json``) and a spoken summary.

`OpenAIAssessor` asks any OpenAI-compatible chat-completions endpoint (the hosted API, the emulator, a
local server) for JSON that follows a schema built from the prompt's rubric, with its own retry policy
(429/5xx/connection errors, exponential backoff, ``Retry-After`` honoured). `HeuristicAssessor` scores
offline from documented transcript features. Prompts are TOML files in ``data/prompts/``; see
``docs/assessment.md``.

`Assessor.assess_sync` blocks; `Assessor.assess` never blocks the event loop. The session uses the
latter; its `blocking` mode calls the former on the loop on purpose, to reproduce the original bug.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import os
import re
import time
import tomllib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from interview_kit.eventlog import redact, strip_userinfo, url_secrets, write_json
from interview_kit.paths import data_dir, resolve_named_file

log = logging.getLogger(__name__)

Turns = Sequence[Mapping[str, Any]]

SCORE_MIN, SCORE_MAX = 1, 5
MAX_BACKOFF = 30.0  # seconds: the longest wait between two attempts, whatever Retry-After says


class AssessmentError(RuntimeError):
    """Report generation failed; the message says why (and never contains the API key)."""


class PromptError(ValueError):
    """A prompt file that cannot be used; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------
# Prompts


class Criterion(BaseModel):
    name: str = Field(min_length=1)
    description: str


class AssessmentPrompt(BaseModel):
    """A prompt variant: the assessor's system prompt, its rubric, and how the summary should sound."""

    name: str = Field(min_length=1)
    system: str = Field(min_length=1)
    criteria: list[Criterion] = Field(min_length=1)
    summary_style: str
    language: str = "en"  # the language of the spoken summary and of the fallback line

    @field_validator("criteria")
    @classmethod
    def _unique_names(cls, criteria: list[Criterion]) -> list[Criterion]:
        names = [c.name for c in criteria]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate criterion name(s): {', '.join(dupes)}")
        return criteria

    @property
    def criterion_names(self) -> list[str]:
        return [c.name for c in self.criteria]


def list_prompts() -> list[str]:
    """Names of the shipped prompt variants (``default``, ``strict``, ``supportive``, ...)."""
    return sorted(p.stem for p in data_dir("prompts").glob("*.toml"))


def load_prompt(name_or_path: str | Path | AssessmentPrompt = "default") -> AssessmentPrompt:
    """Load a shipped prompt by name or any prompt TOML file by path, with a clear error."""
    if isinstance(name_or_path, AssessmentPrompt):
        return name_or_path
    try:
        path = resolve_named_file(name_or_path, "prompts")
    except FileNotFoundError as exc:
        raise PromptError(str(exc)) from None
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: not valid TOML: {exc}") from None
    raw.setdefault("name", path.stem)
    try:
        return AssessmentPrompt.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<file>'}: {e['msg']}" for e in exc.errors()
        )
        raise PromptError(f"{path}: {problems}") from None


# ---------------------------------------------------------------------------------------------
# Reports


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AssessmentReport(BaseModel):
    """The assessment of one interview, as saved in ``report.json``."""

    prompt: str
    model: str
    scores: dict[str, int] = Field(default_factory=dict)  # criterion -> 1..5
    overall: float | None = None
    strengths: list[str] = Field(default_factory=list)
    concerns: list[str] = Field(default_factory=list)
    summary: str = ""
    duration_s: float | None = None
    error: str | None = None
    usage: dict[str, Any] | None = None  # token usage as the server reported it
    features: dict[str, Any] | None = None  # the transcript features a heuristic scored from
    language: str | None = None  # the prompt's language: the spoken summary's language
    created: str = Field(default_factory=_now_iso)

    @field_validator("scores")
    @classmethod
    def _in_range(cls, scores: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in scores.items() if not SCORE_MIN <= v <= SCORE_MAX}
        if bad:
            raise ValueError(f"scores must be {SCORE_MIN}..{SCORE_MAX}: {bad}")
        return scores

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, prompt: str, model: str, error: str, duration_s: float | None = None) -> AssessmentReport:
        """The report saved when generation failed or timed out: no scores, the error kept."""
        return cls(prompt=prompt, model=model, error=error, duration_s=duration_s)

    def save(self, path: Path | str, *, secrets: Sequence[str] = ()) -> None:
        """Write as JSON, atomically."""
        write_json(Path(path), self.model_dump(mode="json"), secrets=secrets)

    @classmethod
    def load(cls, path: Path | str) -> AssessmentReport:
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def mean_score(scores: Mapping[str, int]) -> float | None:
    """The overall score: the mean of the criterion scores, to two decimals (None without scores)."""
    return round(sum(scores.values()) / len(scores), 2) if scores else None


# ---------------------------------------------------------------------------------------------
# Transcripts

_ROLE_LABELS = {"interviewer": "Interviewer", "assistant": "Interviewer", "candidate": "Candidate",
                "user": "Candidate"}


def transcript_to_text(turns: Turns) -> str:
    """One line per turn: ``Interviewer: text`` / ``Candidate: text`` (empty turns are skipped).

    ``assistant``/``user`` are accepted as aliases; any other role is an error.
    """
    lines = []
    for i, turn in enumerate(turns):
        role = str(turn.get("role", "")).lower()
        if role not in _ROLE_LABELS:
            raise ValueError(f"turn {i}: role must be 'interviewer' or 'candidate', got {turn.get('role')!r}")
        text = " ".join(str(turn.get("text") or "").split())
        if text:
            lines.append(f"{_ROLE_LABELS[role]}: {text}")
    return "\n".join(lines)


def _candidate_texts(turns: Turns) -> list[str]:
    return [str(t.get("text") or "") for t in turns if _ROLE_LABELS.get(str(t.get("role", "")).lower())
            == "Candidate" and str(t.get("text") or "").strip()]


def _interviewer_texts(turns: Turns) -> list[str]:
    return [str(t.get("text") or "") for t in turns if _ROLE_LABELS.get(str(t.get("role", "")).lower())
            == "Interviewer" and str(t.get("text") or "").strip()]


# ---------------------------------------------------------------------------------------------
# Assessors


class Assessor(ABC):
    """Turns a transcript into an `AssessmentReport`; raises `AssessmentError` on failure."""

    name: str = "assessor"
    model: str = ""

    @abstractmethod
    def assess_sync(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        """Blocking. Never call it on the event loop (that is the original bug)."""

    async def assess(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        """Non-blocking: by default the synchronous call runs in a worker thread."""
        return await asyncio.to_thread(self.assess_sync, turns, prompt)


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


class MalformedAnswer(Exception):
    """The model's answer is not the JSON the schema asks for (retried, then an AssessmentError)."""


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


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asked us to wait (``retry-after-ms``, or ``retry-after`` in seconds or as a date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class OpenAIAssessor(Assessor):
    """Chat completions with a strict ``json_schema`` response format, on any OpenAI-compatible server.

    Retries (up to `max_retries` more attempts) on 429, 5xx, connection errors, timeouts and malformed
    answers, waiting ``backoff * 2**attempt`` seconds or what ``Retry-After`` asks (capped at 30 s).
    Other errors (400, 401, 404...) fail at once. The SDK's own retries are off.
    """

    name = "openai"

    def __init__(
        self,
        model: str = "gpt-4o-mini",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        temperature: float | None = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0 or backoff < 0 or timeout <= 0:
            raise ValueError("max_retries and backoff must be >= 0 and timeout > 0")
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.temperature = temperature
        self._sleep = sleep
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.attempts: list[str] = []  # outcome of each attempt of the last call ("ok", "429", ...)

    def __repr__(self) -> str:
        url = strip_userinfo(self.base_url) if self.base_url else None
        return f"OpenAIAssessor(model={self.model!r}, base_url={url!r})"

    # -- the call ---------------------------------------------------------------------------------
    def _key(self) -> str:
        if not self._api_key:
            raise AssessmentError("no API key for the assessment model: set OPENAI_API_KEY (or pass api_key)")
        return self._api_key

    def _clean(self, text: str) -> str:
        secrets = [self._api_key] if self._api_key else []
        return redact(strip_userinfo(text), [*secrets, *url_secrets(self.base_url)])

    def _request(self, turns: Turns, prompt: AssessmentPrompt) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": build_messages(turns, prompt),
                                  "response_format": response_format(prompt)}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        return kwargs

    def _classify(self, exc: BaseException, attempt: int) -> tuple[str, float | None]:
        """(label, seconds to wait before retrying) for a failed attempt; None means do not retry."""
        import openai

        backoff = min(MAX_BACKOFF, self.backoff * 2**attempt)
        if isinstance(exc, MalformedAnswer):
            return "malformed", backoff
        if isinstance(exc, openai.APITimeoutError):
            return "timeout", backoff
        if isinstance(exc, openai.APIConnectionError):
            return "connection", backoff
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 429 or status >= 500:
                asked = retry_after_seconds(getattr(exc.response, "headers", None))
                return str(status), min(MAX_BACKOFF, asked) if asked is not None else backoff
            return str(status), None
        return type(exc).__name__, None

    def _describe(self, exc: BaseException) -> str:
        import openai

        if isinstance(exc, MalformedAnswer):
            return str(exc)
        if isinstance(exc, openai.APIStatusError):
            text = f"HTTP {exc.status_code}: {exc.message}"
        elif isinstance(exc, openai.APITimeoutError):
            text = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, openai.APIConnectionError):
            where = strip_userinfo(self.base_url) if self.base_url else "the OpenAI API"
            text = f"could not reach {where} ({exc})"
        else:
            text = f"{type(exc).__name__}: {exc}"
        return self._clean(text)

    def _report(self, answer: dict[str, Any], prompt: AssessmentPrompt, completion: Any, started: float
                ) -> AssessmentReport:
        """Build the report; `model` is what the server says answered (e.g. the emulator's stand-in)."""
        usage = getattr(completion, "usage", None)
        if hasattr(usage, "model_dump"):
            usage = usage.model_dump(mode="json", exclude_none=True)
        model = getattr(completion, "model", None) or self.model
        return AssessmentReport(prompt=prompt.name, model=model, scores=answer["scores"],
                                overall=mean_score(answer["scores"]), strengths=answer["strengths"],
                                concerns=answer["concerns"], summary=answer["summary"],
                                duration_s=round(time.monotonic() - started, 3), usage=usage,
                                language=prompt.language)

    @staticmethod
    def _content(completion: Any) -> str | None:
        if not getattr(completion, "choices", None):
            raise MalformedAnswer("the answer has no choices")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise AssessmentError(f"the model refused to assess: {message.refusal}")
        return message.content

    def _after_failure(self, exc: BaseException, attempt: int) -> float:
        """Record failed attempt number `attempt` (from 0); return the seconds to wait before the next
        one, or raise the `AssessmentError` that ends the call (not retryable, or no retries left)."""
        label, wait = self._classify(exc, attempt)
        self.attempts.append(label)
        if wait is None or attempt == self.max_retries:
            raise AssessmentError(f"assessment with {self.model} failed after {attempt + 1} attempt(s): "
                                  f"{self._describe(exc)}") from None
        log.info("assessment attempt %d failed (%s); retry in %.2f s", attempt + 1, label, wait)
        return wait

    def assess_sync(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        import openai

        prompt = load_prompt(prompt)
        started = time.monotonic()
        kwargs = self._request(turns, prompt)
        self.attempts = []
        with openai.OpenAI(api_key=self._key(), base_url=self.base_url, timeout=self.timeout,
                           max_retries=0) as client:
            for attempt in range(self.max_retries + 1):
                try:
                    completion = client.chat.completions.create(**kwargs)
                    answer = parse_answer(self._content(completion), prompt)
                except AssessmentError:
                    raise
                except Exception as exc:
                    self._sleep(self._after_failure(exc, attempt))
                    continue
                self.attempts.append("ok")
                return self._report(answer, prompt, completion, started)
        raise AssertionError("unreachable")

    async def assess(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        import openai

        prompt = load_prompt(prompt)
        started = time.monotonic()
        kwargs = self._request(turns, prompt)
        self.attempts = []
        async with openai.AsyncOpenAI(api_key=self._key(), base_url=self.base_url, timeout=self.timeout,
                                      max_retries=0) as client:
            for attempt in range(self.max_retries + 1):
                try:
                    completion = await client.chat.completions.create(**kwargs)
                    answer = parse_answer(self._content(completion), prompt)
                except AssessmentError:
                    raise
                except Exception as exc:
                    await asyncio.sleep(self._after_failure(exc, attempt))
                    continue
                self.attempts.append("ok")
                return self._report(answer, prompt, completion, started)
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# The offline heuristic

_WORD = re.compile(r"[\w']+", re.UNICODE)
_NUMBER = re.compile(r"\d+")
_EXAMPLE_MARKERS = ("for example", "for instance", "such as", "e.g.", "when i", "i built", "i led",
                    "we built", "i wrote", "i designed", "i implemented", "i managed", "in my last",
                    "at my previous")
_STRUCTURE_MARKERS = ("first", "second", "then", "finally", "because", "so that", "as a result", "therefore",
                      "on the other hand", "in the end")
_FILLERS = ("um", "uh", "erm", "hmm", "you know", "i guess", "maybe", "not sure", "i don't know", "kind of",
            "sort of")

#: Criterion keyword -> the feature that scores it (first match in the criterion's name, then description).
FEATURE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "clarity": ("clar", "communicat", "concise", "articul", "fluen"),
    "depth": ("depth", "technical", "knowledge", "expert", "skill", "competen", "understand"),
    "specificity": ("example", "specific", "evidence", "concrete", "experience", "star"),
    "structure": ("structur", "organi", "logic", "reason", "problem"),
    "engagement": ("engag", "motivat", "enthusias", "interest", "complete", "responsive", "attitude"),
    "vocabulary": ("vocab", "language", "lexic", "wording"),
}

_FEATURE_PHRASES = {
    "clarity": ("speaks clearly, with few fillers or hedges", "many fillers and hedges"),
    "depth": ("gives full, developed answers", "answers are short and undeveloped"),
    "specificity": ("backs answers with concrete examples", "few concrete examples"),
    "structure": ("answers are well organised", "answers lack structure"),
    "engagement": ("answered every question", "left questions unanswered"),
    "vocabulary": ("varied vocabulary", "repetitive wording"),
}


def _count(text: str, markers: Sequence[str]) -> int:
    padded = f" {' '.join(_WORD.findall(text.lower()))} "
    return sum(padded.count(f" {' '.join(_WORD.findall(m))} ") for m in markers)


def _ladder(value: float, steps: Sequence[float]) -> int:
    """1 + the number of `steps` that `value` reaches (steps ascending, four of them)."""
    return SCORE_MIN + sum(1 for s in steps if value >= s)


def transcript_features(turns: Turns) -> dict[str, Any]:
    """The measurable features the heuristic scores from (documented in docs/assessment.md)."""
    answers = _candidate_texts(turns)
    interviewer = _interviewer_texts(turns)
    questions = sum(1 for t in interviewer if "?" in t) or len(interviewer)
    words = [w.lower() for a in answers for w in _WORD.findall(a)]
    n_answers = len(answers)
    per = max(1, n_answers)
    sample = words[:300]
    return {
        "answers": n_answers,
        "questions": questions,
        "words": len(words),
        "words_per_answer": len(words) / per,
        "examples_per_answer": sum(_count(a, _EXAMPLE_MARKERS) + len(_NUMBER.findall(a))
                                   for a in answers) / per,
        "structure_per_answer": sum(_count(a, _STRUCTURE_MARKERS) for a in answers) / per,
        "fillers_per_100_words": 100 * sum(_count(a, _FILLERS) for a in answers) / max(1, len(words)),
        "answered_fraction": min(1.0, n_answers / questions) if questions else (1.0 if n_answers else 0.0),
        "type_token_ratio": len(set(sample)) / len(sample) if sample else 0.0,
    }


def feature_scores(f: Mapping[str, Any]) -> dict[str, int]:
    """Each feature on the 1..5 scale (the ladders are documented in docs/assessment.md)."""
    if not f["answers"]:
        return dict.fromkeys(FEATURE_KEYWORDS, SCORE_MIN)
    fillers = f["fillers_per_100_words"]
    clarity = 5 if fillers < 1 else 4 if fillers < 3 else 3 if fillers < 6 else 2 if fillers < 10 else 1
    vocabulary = _ladder(f["type_token_ratio"], (0.4, 0.5, 0.6, 0.7))
    if f["words"] < 20:
        vocabulary = min(vocabulary, 2)  # a handful of words says little about vocabulary
    return {
        "clarity": clarity,
        "depth": _ladder(f["words_per_answer"], (10, 25, 50, 90)),
        "specificity": _ladder(f["examples_per_answer"], (0.01, 0.25, 0.5, 1.0)),
        "structure": _ladder(f["structure_per_answer"], (0.01, 0.5, 1.0, 2.0)),
        "engagement": _ladder(f["answered_fraction"], (0.25, 0.5, 0.75, 1.0)),
        "vocabulary": vocabulary,
    }


def feature_for(criterion: Criterion) -> str | None:
    """The feature that scores a criterion: a keyword in its name first, then in its description."""
    for text in (criterion.name.lower(), criterion.description.lower()):
        for feature, keywords in FEATURE_KEYWORDS.items():
            if any(k in text for k in keywords):
                return feature
    return None


class HeuristicAssessor(Assessor):
    """Offline and deterministic: scores each criterion from transcript features (no model call)."""

    name = "heuristic"

    def __init__(self) -> None:
        self.model = "heuristic-v1"

    def assess_sync(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        prompt = load_prompt(prompt)
        started = time.monotonic()
        try:
            features = transcript_features(turns)
        except (TypeError, AttributeError) as exc:
            raise AssessmentError(f"the transcript cannot be read: {exc}") from None
        by_feature = feature_scores(features)
        mean_all = round(sum(by_feature.values()) / len(by_feature))
        scores = {}
        for c in prompt.criteria:
            feature = feature_for(c)
            scores[c.name] = by_feature[feature] if feature else mean_all
        strengths = [_FEATURE_PHRASES[k][0] for k, v in by_feature.items() if v >= 4]
        concerns = [_FEATURE_PHRASES[k][1] for k, v in by_feature.items() if v <= 2]
        if features["answers"]:
            best = max(scores, key=lambda k: scores[k])
            worst = min(scores, key=lambda k: scores[k])
            summary = (f"The candidate answered {features['answers']} of {features['questions']} questions, "
                       f"with about {features['words_per_answer']:.0f} words per answer. "
                       f"The strongest area was {best.replace('_', ' ')} and the weakest was "
                       f"{worst.replace('_', ' ')}.")
        else:
            summary = "The candidate gave no answers, so there is little to assess."
        return AssessmentReport(prompt=prompt.name, model=self.model, scores=scores,
                                overall=mean_score(scores), strengths=strengths, concerns=concerns,
                                summary=summary, language=prompt.language,
                                duration_s=round(time.monotonic() - started, 4),
                                features={k: round(v, 3) if isinstance(v, float) else v
                                          for k, v in features.items()})


# ---------------------------------------------------------------------------------------------
# Speaking the result

_PHRASES = {
    "en": {"overall": "Your overall score is {score} out of 5.",
           "fallback": "Thank you. Your assessment is not ready yet; you will receive it in writing soon."},
    "ko": {"overall": "종합 점수는 5점 만점에 {score}점입니다.",
           "fallback": "감사합니다. 평가 결과가 아직 준비되지 않았습니다. 곧 서면으로 전달해 드리겠습니다."},
}


def fallback_summary(language: str = "en") -> str:
    """The short line spoken when the report failed or timed out."""
    return _PHRASES.get(language.split("-")[0].lower(), _PHRASES["en"])["fallback"]


_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_BULLET = re.compile(r"^\s*(?:(?:[-*+•]|\d+[.)]|#+)\s+)+")
_EMPHASIS = re.compile(r"[*_`~]+")
_SENTENCE = re.compile(r"(?<=[.!?。])\s+")


def speakable(text: str) -> str:
    """Markdown and URLs out, each line a sentence, whitespace collapsed: text for a voice to read."""
    lines = []
    for line in text.splitlines():
        line = _EMPHASIS.sub("", _BULLET.sub("", _URL.sub("", _MD_LINK.sub(r"\1", line))))
        line = " ".join(line.split())
        if line:
            lines.append(line if line[-1] in ".!?。:;," else line + ".")
    return " ".join(lines)


def _cut_words(text: str, max_words: int) -> str:
    words = text.split()
    if len(words) <= max_words:
        return text
    return " ".join(words[:max_words]).rstrip(",;:") + "."


def report_to_verbal_summary(report: AssessmentReport, max_words: int = 80,
                             language: str | None = None) -> str:
    """A short summary to speak: the report's summary in whole sentences, then the overall score.

    No markdown, at most `max_words` words. A failed report gives `fallback_summary`. The language is
    `language`, else the report's (its prompt's), else English.
    """
    language = language or report.language or "en"
    if report.error or (not report.summary and report.overall is None):
        return fallback_summary(language)
    phrases = _PHRASES.get(language.split("-")[0].lower(), _PHRASES["en"])
    closing = ""
    if report.overall is not None:
        score = f"{report.overall:.1f}".removesuffix(".0")
        closing = phrases["overall"].format(score=score)
    budget = max(1, max_words - len(closing.split())) if closing else max_words
    sentences = [s for s in _SENTENCE.split(speakable(report.summary)) if s]
    kept: list[str] = []
    used = 0
    for s in sentences:
        n = len(s.split())
        if used + n > budget:
            if not kept:
                kept.append(_cut_words(s, budget))
            break
        kept.append(s)
        used += n
    text = " ".join([*kept, closing]).strip()
    return _cut_words(text, max_words)
