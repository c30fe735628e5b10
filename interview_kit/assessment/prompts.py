"""Prompt variants: the assessor's system prompt, its rubric and the summary's style, as TOML files.

The shipped ones live in ``data/prompts/``; any other file is loaded by path. See ``docs/assessment.md``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from interview_kit.paths import data_dir, resolve_named_file


class PromptError(ValueError):
    """A prompt file that cannot be used; the message names the file and the problem."""


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
    # the sampling temperature for the assessment model (None: the assessor's own); sent only to models
    # that take one (not to reasoning models: see `OpenAIAssessor`)
    temperature: float | None = Field(default=None, ge=0, le=2)

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
