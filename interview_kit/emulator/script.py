"""The answering rule: what the scripted interviewer says for each `response.create`.

1. Instructions containing "Say exactly the following" (any case) and then a colon: the text after
   the colon is spoken verbatim (whitespace and one pair of surrounding quotes stripped).
2. Otherwise the next scripted line: first the greeting followed by the first question (one
   response), then the next question for each later response; once the candidate has given
   `scenario.answers_before_end` answers (or no question is left), a call of the `end_interview`
   function when the session declared that tool (once), else the closing line.
Responses with ``conversation: "none"`` say the line that would come next without moving the script.
Each line has a label (``greeting``, ``question``, ``closing``, ``end_interview``, ``verbatim``) that a
fault's ``during`` matches when the request carried no ``metadata.purpose``.
Pure logic: no I/O and no clock, so it is tested directly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from interview_kit.scenario import Scenario

VERBATIM = re.compile(r"say exactly the following[^:\n]*:(.*)\Z", re.IGNORECASE | re.DOTALL)
_QUOTES = (('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’"), ("«", "»"), ("「", "」"))
END_TOOL = "end_interview"


def verbatim_text(instructions: str | None) -> str | None:
    """The line to say verbatim, or None when the instructions do not give one."""
    if not instructions:
        return None
    match = VERBATIM.search(instructions)
    if match is None:
        return None
    text = match.group(1).strip()
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            text = text[len(left) : -len(right)].strip()
            break
    return text


@dataclass(frozen=True)
class Line:
    """What a response does: speak `text`, or call `end_interview` with JSON `arguments`."""

    kind: str  # "speak" | "call"
    label: str  # "verbatim", "greeting", "question", "closing", "end_interview": a fault's `during`
    text: str = ""
    name: str = ""
    arguments: str = ""


class InterviewScript:
    """One connection's place in the scenario: lines said, answers heard."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.greeted = False
        self.questions_asked = 0
        self.answers = 0
        self.end_called = False

    def record_answer(self) -> str:
        """A candidate answer was committed: count it and return its transcript (the scenario's next
        answer; empty once the scripted answers run out)."""
        answers = self.scenario.candidate.answers
        text = answers[self.answers] if self.answers < len(answers) else ""
        self.answers += 1
        return text

    def next_line(self, instructions: str | None, tools: set[str], in_conversation: bool = True) -> Line:
        """The line for a `response.create` (see the module docstring); moves the script unless
        the response is out of band."""
        said = verbatim_text(instructions)
        if said is not None:
            return Line("speak", "verbatim", said)
        interviewer = self.scenario.interviewer
        questions = interviewer.questions
        if not self.greeted:
            text = f"{interviewer.greeting} {questions[0]}".strip() if questions else interviewer.greeting
            if in_conversation:
                self.greeted, self.questions_asked = True, min(1, len(questions))
            return Line("speak", "greeting", text)
        if self.answers >= self.scenario.answers_before_end or self.questions_asked >= len(questions):
            if END_TOOL in tools and not self.end_called:
                if in_conversation:
                    self.end_called = True
                reason = f"The candidate has answered {self.answers} question(s); the interview is complete."
                return Line("call", END_TOOL, name=END_TOOL, arguments=json.dumps({"reason": reason}))
            return Line("speak", "closing", interviewer.closing)
        text = questions[self.questions_asked]
        if in_conversation:
            self.questions_asked += 1
        return Line("speak", "question", text)
