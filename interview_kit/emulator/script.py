"""The answering rule: what the scripted interviewer says for each `response.create`.

1. Instructions containing "Say exactly the following" (any case) and then a colon: the text after
   the colon is spoken verbatim (whitespace and one pair of surrounding quotes stripped).
2. Otherwise the next scripted line: first the greeting followed by the first question (one
   response), then the next question for each later response; once the candidate has given
   `scenario.answers_before_end` answers (or no question is left), a call of the `end_interview`
   function when the session declared that tool (once), else the closing line.
Responses with ``conversation: "none"`` say the line that would come next without moving the script.

A new connection's conversation starts empty; a client resuming an interview tells it the interview
so far with ``conversation.item.create`` (`heard_line`, `heard_call`, `record_answer`), and the script
takes up its place from those items: a question counts as asked only when its whole text is there (a
line cut off by the drop is a prefix, so that question is asked again), the next question is the
first one not asked, and answers are counted whether spoken or replayed as text.
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


def normalised(text: str) -> str:
    """Text as the script compares lines: white space collapsed, case folded (a transcript joins
    the words with single spaces; a client may trim or re-space what it heard)."""
    return " ".join(text.split()).casefold()


class InterviewScript:
    """One connection's place in the scenario: lines said, answers heard."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.greeted = False
        self.asked: set[int] = set()  # indexes of the questions asked in full
        self.answers = 0
        self.end_called = False
        self._greeting = normalised(scenario.interviewer.greeting)
        self._questions = [normalised(q) for q in scenario.interviewer.questions]

    @property
    def questions_asked(self) -> int:
        return len(self.asked)

    def _next_question(self) -> int | None:
        return next((i for i in range(len(self._questions)) if i not in self.asked), None)

    def heard_line(self, text: str) -> None:
        """An interviewer line the client put into the conversation (a resumed interview): every
        scripted question whose whole text it contains counts as asked, and the greeting as said
        when its whole text is there or a question is (the greeting comes first). A line that was
        cut off carries a prefix: what it did not finish is not asked, so it comes again."""
        line = normalised(text)
        if not line:
            return
        for i, question in enumerate(self._questions):
            if question and question in line:
                self.asked.add(i)
        if (self._greeting and self._greeting in line) or self.asked:
            self.greeted = True

    def heard_call(self, name: str) -> None:
        """A function call the client put into the conversation: an ``end_interview`` call there
        means the interview's end has been called already."""
        if name == END_TOOL:
            self.end_called = True

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
        following = self._next_question()
        if not self.greeted:
            first = questions[following] if following is not None else ""
            text = f"{interviewer.greeting} {first}".strip()
            if in_conversation:
                self.greeted = True
                if following is not None:
                    self.asked.add(following)
            return Line("speak", "greeting", text)
        if self.answers >= self.scenario.answers_before_end or following is None:
            if END_TOOL in tools and not self.end_called:
                if in_conversation:
                    self.end_called = True
                reason = f"The candidate has answered {self.answers} question(s); the interview is complete."
                return Line("call", END_TOOL, name=END_TOOL, arguments=json.dumps({"reason": reason}))
            return Line("speak", "closing", interviewer.closing)
        if in_conversation:
            self.asked.add(following)
        return Line("speak", "question", questions[following])
