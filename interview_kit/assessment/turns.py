"""A transcript as assessors read it: turns with a role and a text, and the plain-text form a model reads.

``assistant``/``user`` are accepted as aliases of ``interviewer``/``candidate`` (the Realtime API's roles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Turns = Sequence[Mapping[str, Any]]

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


def _texts_of(turns: Turns, label: str) -> list[str]:
    return [str(t.get("text") or "") for t in turns if _ROLE_LABELS.get(str(t.get("role", "")).lower())
            == label and str(t.get("text") or "").strip()]


def candidate_texts(turns: Turns) -> list[str]:
    """The candidate's non-empty answers, in order (unknown roles are skipped, not an error)."""
    return _texts_of(turns, "Candidate")


def interviewer_texts(turns: Turns) -> list[str]:
    """The interviewer's non-empty turns, in order (unknown roles are skipped, not an error)."""
    return _texts_of(turns, "Interviewer")
