"""`HeuristicAssessor`: an offline, deterministic report scored from measurable transcript features.

The features, their ladders to the 1..5 scale and the keywords that map a criterion to a feature are
documented in ``docs/assessment.md``; change them there too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from interview_kit.assessment.base import AssessmentError, Assessor
from interview_kit.assessment.prompts import AssessmentPrompt, Criterion, load_prompt
from interview_kit.assessment.report import SCORE_MIN, AssessmentReport, mean_score
from interview_kit.assessment.turns import Turns, candidate_texts, interviewer_texts

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
    answers = candidate_texts(turns)
    interviewer = interviewer_texts(turns)
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
