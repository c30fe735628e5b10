"""The report of one interview, as saved in ``report.json``, and the score scale it uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator

from interview_kit.eventlog import write_json

SCORE_MIN, SCORE_MAX = 1, 5


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
    # what the session built it from (None / empty: not built by a session, or never built)
    answers_assessed: int | None = None  # candidate answers with text in the turns assessed
    answers_missing: list[str] = Field(default_factory=list)  # answer item ids without a transcript
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
