"""The deterministic stand-in for a chat model: transcript features in, schema-shaped JSON out.

It is not a language model. It reads the transcript lines (``Interviewer: ...`` / ``Candidate: ...``)
in the last user message, measures a few features and fills whatever JSON schema it is given from
them, so that assessment code can be exercised end to end without a model. The formulas are in
docs/emulator.md; keep the two in step.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

_TURN = re.compile(r"^\s*(interviewer|candidate|assistant|user)\s*:\s*(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)
_CRITERION = re.compile(
    r"^\s*(?:[-*•]|\d+[.)])\s*\**`?([A-Za-z][A-Za-z _\-]{1,40}?)`?\**\s*[:(—–-]", re.MULTILINE
)
FULL_ANSWER_WORDS = 40.0  # an answer this long or longer counts as fully developed
# An answer is concrete when it has a number or says "for example"; reasoned when it gives a cause.
_CONCRETE = re.compile(r"\d|for example|for instance|such as|예를 들어|예를 들면", re.IGNORECASE)
_REASONED = re.compile(
    r"\b(because|so|therefore|since|which meant|as a result)\b|때문에|그래서|따라서|덕분에", re.IGNORECASE
)
# The prompt's tone shifts every score: a strict grader marks down, a supportive one up.
_STRICT = ("strict", "demanding", "bar raiser", "conservative", "choose the lower")
_LENIENT = ("supportive", "encouraging", "benefit of the doubt", "generous", "coach")
TONE_SHIFT = 0.15
SUMMARY_WORDS = (
    "summary",
    "overview",
    "feedback",
    "assessment",
    "comment",
    "rationale",
    "explanation",
    "justification",
    "reasoning",
    "notes",
)
DEFAULT_CRITERIA = ("communication", "relevance", "depth")
# Schema levels the filler follows (anyOf/allOf count too); deeper, as under a self-referencing $ref,
# objects and arrays are left empty.
MAX_DEPTH = 10
_EMPTY: dict[str, Any] = {"object": {}, "array": [], "string": "", "boolean": False, "null": None}


class SchemaError(ValueError):
    """A json_schema the stand-in cannot fill (a bound of the wrong type, minItems > maxItems, ...)."""


@dataclass(frozen=True)
class TranscriptFeatures:
    """What the stand-in model "notices" in a transcript (all deterministic)."""

    questions: int  # interviewer turns
    answers: int  # candidate turns with at least one word
    candidate_words: int
    mean_answer_words: float
    longest_answer_words: int
    lexical_variety: float  # distinct / total candidate words, 0..1
    answer_rate: float  # answers / questions, capped at 1
    length_score: float  # mean_answer_words / 40, capped at 1
    quality: float  # 0.4 length_score + 0.3 lexical_variety + 0.3 answer_rate (0 without answers)
    concreteness: float = 0.0  # share of answers with a number or an explicit example
    reasoning: float = 0.0  # share of answers that give a cause ("because", "so", "그래서", ...)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def parse_transcript(text: str) -> list[tuple[str, str]]:
    """(role, text) turns from ``Role: text`` lines; other lines continue the previous turn."""
    turns: list[tuple[str, str]] = []
    for line in text.splitlines():
        match = _TURN.match(line)
        if match:
            role = "interviewer" if match.group(1).lower() in ("interviewer", "assistant") else "candidate"
            turns.append((role, match.group(2).strip()))
        elif turns and line.strip():
            role, previous = turns[-1]
            turns[-1] = (role, f"{previous} {line.strip()}")
    return turns


def features_of(turns: list[tuple[str, str]]) -> TranscriptFeatures:
    questions = sum(1 for role, _ in turns if role == "interviewer")
    answers = [_WORD.findall(text.lower()) for role, text in turns if role == "candidate"]
    answers = [words for words in answers if words]
    words = [w for answer in answers for w in answer]
    n = len(answers)
    mean = len(words) / n if n else 0.0
    variety = len(set(words)) / len(words) if words else 0.0
    rate = min(1.0, n / questions) if questions else (1.0 if n else 0.0)
    length = min(1.0, mean / FULL_ANSWER_WORDS)
    quality = 0.4 * length + 0.3 * variety + 0.3 * rate if n else 0.0
    texts = [text for role, text in turns if role == "candidate" and _WORD.search(text)]
    concrete = sum(1 for text in texts if _CONCRETE.search(text)) / n if n else 0.0
    reasoned = sum(1 for text in texts if _REASONED.search(text)) / n if n else 0.0
    return TranscriptFeatures(
        questions,
        n,
        len(words),
        round(mean, 2),
        max((len(a) for a in answers), default=0),
        round(variety, 3),
        round(rate, 3),
        round(length, 3),
        round(quality, 3),
        round(concrete, 3),
        round(reasoned, 3),
    )


def criteria_from_prompt(prompt: str) -> list[str]:
    """Criterion names listed as bullets (``- clarity: ...``) in the prompt, snake_cased."""
    names = []
    for match in _CRITERION.finditer(prompt):
        name = re.sub(r"[\s\-]+", "_", match.group(1).strip().lower())
        if name not in names:
            names.append(name)
    return names[:8]


def score_for(name: str, f: TranscriptFeatures) -> float:
    """The 0..1 score a field gets, chosen by words in its name (see docs/emulator.md)."""
    key = name.lower()
    if any(w in key for w in ("fluen", "detail", "depth", "elabor", "length", "thorough")):
        return f.length_score
    if any(w in key for w in ("vocab", "lexic", "variety", "language", "word")):
        return f.lexical_variety
    if any(w in key for w in ("complete", "engage", "respons", "particip", "coverage")):
        return f.answer_rate
    if any(w in key for w in ("example", "concrete", "specific", "evidence")):
        return f.concreteness
    if any(w in key for w in ("problem", "reason", "solv", "analy", "logic")):
        return f.reasoning
    return f.quality


def prompt_tone(prompt: str) -> float:
    """How the prompt's tone shifts scores: -TONE_SHIFT for a strict grader, +TONE_SHIFT for a lenient one."""
    text = prompt.lower()
    return TONE_SHIFT * (any(w in text for w in _LENIENT) - any(w in text for w in _STRICT))


def strengths(f: TranscriptFeatures) -> list[str]:
    out = []
    if f.answers:
        out.append(f"Answered {f.answers} of {f.questions} questions.")
    if f.mean_answer_words >= 20:
        out.append(f"Gave developed answers (about {f.mean_answer_words:.0f} words each).")
    if f.lexical_variety >= 0.6:
        out.append(f"Used varied vocabulary (lexical variety {f.lexical_variety:.2f}).")
    return out or ["Took part in the interview."]


def concerns(f: TranscriptFeatures) -> list[str]:
    out = []
    if f.mean_answer_words < 20:
        out.append(f"Answers were brief (about {f.mean_answer_words:.0f} words each).")
    if f.answers < f.questions:
        out.append(f"Left {f.questions - f.answers} question(s) without an answer.")
    if f.lexical_variety < 0.6:
        out.append(f"Repeated vocabulary (lexical variety {f.lexical_variety:.2f}).")
    return out or ["Could support some answers with more concrete examples."]


def summary(f: TranscriptFeatures) -> str:
    return (
        f"The candidate answered {f.answers} of {f.questions} questions, with about "
        f"{f.mean_answer_words:.0f} words per answer. Lexical variety was {f.lexical_variety:.2f}, for an "
        f"overall quality of {f.quality:.2f} on a 0-1 scale. This assessment comes from the emulator's "
        "deterministic stand-in model, not a language model."
    )


class SchemaFiller:
    """Fills a JSON schema (properties, arrays, enums, $ref, anyOf, bounds) from transcript features."""

    def __init__(self, features: TranscriptFeatures, schema: dict[str, Any], prompt: str = "") -> None:
        self.f = features
        self.root = schema
        self.criteria = criteria_from_prompt(prompt) or list(DEFAULT_CRITERIA)
        self.tone = prompt_tone(prompt)
        self._depth = 0

    def fill(self, schema: dict[str, Any] | None = None, name: str = "") -> Any:
        """The value for `schema` (the root schema when None), for a field called `name`."""
        self._depth += 1
        try:
            return self._fill(self._resolve(self.root if schema is None else schema), name)
        finally:
            self._depth -= 1

    def _fill(self, schema: dict[str, Any], name: str) -> Any:
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self._resolve(o) for o in schema[key]]
                chosen = next((o for o in options if o.get("type") != "null"), options[0] if options else {})
                return self.fill(chosen, name)
        if "allOf" in schema:
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                part = self._resolve(part)
                merged = {
                    **merged,
                    **part,
                    "properties": {**merged.get("properties", {}), **part.get("properties", {})},
                }
            return self.fill(merged, name)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if self._depth > MAX_DEPTH and kind in _EMPTY:
            return _EMPTY[kind]
        return getattr(self, f"_{kind}", self._string)(schema, name)

    def _resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/"):
                return {}
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            schema, seen = target, seen + 1
        return schema if isinstance(schema, dict) else {}

    def _object(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        props = schema.get("properties") or {}
        if not isinstance(props, dict):
            raise SchemaError(f"'properties' of {name or 'the root'} must be an object")
        if props:
            return {key: self.fill(sub, key) for key, sub in props.items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return {key: self.fill(extra, key) for key in self.criteria}
        return {}

    def _array(self, schema: dict[str, Any], name: str) -> list[Any]:
        items = self._resolve(schema.get("items") or {"type": "string"})
        given_low, given_high = _count(schema, "minItems"), _count(schema, "maxItems")
        high = 3 if given_high is None else given_high
        low = min(1, high) if given_low is None else given_low
        if low > high:
            raise SchemaError(f"minItems {low} is above maxItems {high}")
        if items.get("type", "string") == "string" and not items.get("enum"):
            key = name.lower()
            if any(w in key for w in ("strength", "positive", "highlight")):
                pool = strengths(self.f)
            elif any(w in key for w in ("concern", "weak", "improve", "risk", "gap")):
                pool = concerns(self.f)
            else:
                pool = strengths(self.f)[:1] + concerns(self.f)[:2]
            count = max(low, min(high, len(pool)))
            return [pool[i % len(pool)] for i in range(count)]
        count = max(low, min(high, 2))
        return [self.fill(items, name.rstrip("s")) for _ in range(count)]

    def _bounds(self, schema: dict[str, Any], integer: bool) -> tuple[float, float]:
        step = 1 if integer else 0.01
        low, high = _number(schema, "minimum"), _number(schema, "maximum")
        if low is None and (exclusive := _number(schema, "exclusiveMinimum")) is not None:
            low = exclusive + step
        if high is None and (exclusive := _number(schema, "exclusiveMaximum")) is not None:
            high = exclusive - step
        if low is not None and high is not None and low > high:
            raise SchemaError(f"minimum {low:g} is above maximum {high:g}")
        if low is None and high is None:
            low, high = 1, 5
        elif low is None:
            low = high - 4
        elif high is None:
            high = low + 4
        return float(low), float(high)

    def _integer(self, schema: dict[str, Any], name: str) -> int:
        low, high = self._bounds(schema, True)
        return round(low + self._score(name) * (high - low))

    def _number(self, schema: dict[str, Any], name: str) -> float:
        low, high = self._bounds(schema, False)
        return round(low + self._score(name) * (high - low), 2)

    def _score(self, name: str) -> float:
        """The field's 0..1 score, shifted by the prompt's tone."""
        return min(1.0, max(0.0, score_for(name, self.f) + self.tone))

    def _boolean(self, schema: dict[str, Any], name: str) -> bool:
        return self._score(name) >= 0.5

    def _null(self, schema: dict[str, Any], name: str) -> None:
        return None

    def _string(self, schema: dict[str, Any], name: str) -> str:
        key = name.lower()
        if any(w in key for w in SUMMARY_WORDS):
            text = summary(self.f)
        elif key in ("model", "prompt", "name", "id"):
            text = "emulator-standin"
        else:
            label = name.replace("_", " ") or "answer"
            text = (
                f"Stand-in {label}: {self.f.answers} answers, about {self.f.mean_answer_words:.0f} "
                f"words each, lexical variety {self.f.lexical_variety:.2f}."
            )
        max_length = _count(schema, "maxLength")
        return text if max_length is None else text[:max_length]


def _number(schema: dict[str, Any], key: str) -> float | None:
    """A numeric keyword of the schema, None when absent; SchemaError when it is not a number."""
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaError(f"'{key}' must be a number, got {value!r}")
    return float(value)


def _count(schema: dict[str, Any], key: str) -> int | None:
    """A non-negative integer keyword (minItems, maxItems, maxLength), None when absent."""
    value = schema.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SchemaError(f"'{key}' must be a non-negative integer, got {value!r}")
    return value


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def answer(messages: list[dict[str, Any]], response_format: dict[str, Any] | None) -> str:
    """The stand-in model's reply content for a chat request."""
    prompt = "\n".join(message_text(m) for m in messages if m.get("role") in ("system", "developer"))
    users = [m for m in messages if m.get("role") == "user"]
    transcript = message_text(users[-1]) if users else ""
    f = features_of(parse_transcript(transcript))
    kind = (response_format or {}).get("type", "text")
    if kind == "json_schema":
        schema = (response_format or {}).get("json_schema", {}).get("schema") or {"type": "object"}
        if not isinstance(schema, dict):
            raise SchemaError("the schema must be an object")
        try:
            return json.dumps(SchemaFiller(f, schema, prompt).fill(), ensure_ascii=False)
        except SchemaError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            raise SchemaError(f"the schema has an unexpected shape ({type(exc).__name__}: {exc})") from None
    if kind == "json_object":
        return json.dumps(
            {
                "summary": summary(f),
                "score": round(1 + 4 * f.quality),
                "features": f.as_dict(),
                "strengths": strengths(f),
                "concerns": concerns(f),
            },
            ensure_ascii=False,
        )
    return summary(f)
