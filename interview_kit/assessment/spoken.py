"""Speaking the result: the short summary the interviewer reads out, and the line said when there is
no report to read (generation failed or timed out).

Text for a voice: no markdown, no URLs, whole sentences, a word budget. English and Korean phrases are
built in; any other language falls back to English.
"""

from __future__ import annotations

import re

from interview_kit.assessment.report import AssessmentReport

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
