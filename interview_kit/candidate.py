"""The simulated candidate: answers each interviewer question by voice, after it has been played.

It speaks the scenario's answers in order with the synthetic voice, a pause after the question's last
sample was played, at the scenario's speed. What it says reaches the server as real audio through the
session's input stream, so the server's VAD, not a shortcut, decides where the turn is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from interview_kit.scenario import Scenario
from interview_kit.voice import synthesize

log = logging.getLogger(__name__)


class SimulatedCandidate:
    """Answers from ``scenario.candidate``; `say` is the voice input's ``say(pcm)``."""

    def __init__(self, scenario: Scenario, say: Callable[[bytes], None], *, speed: float = 1.0) -> None:
        self.answers = list(scenario.candidate.answers)
        self.words_per_minute = scenario.candidate.words_per_minute
        self.pause = scenario.candidate.pause
        self.speed = speed
        self._say = say
        self._next = 0
        self._pending: asyncio.TimerHandle | None = None
        self._audio = [synthesize(a, self.words_per_minute) for a in self.answers]  # ready before needed

    @property
    def answered(self) -> int:
        return self._next

    @property
    def remaining(self) -> int:
        return len(self.answers) - self._next

    def question_played(self) -> bool:
        """An interviewer question finished playing: answer it after the pause. False when out of answers."""
        if self._next >= len(self.answers) or self._pending is not None:
            return False
        loop = asyncio.get_running_loop()
        self._pending = loop.call_later(self.pause / self.speed, self._answer)
        return True

    def cancel(self) -> None:
        """Stop answering (the assessment has begun, or the session ends)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self._next = len(self.answers)

    def _answer(self) -> None:
        self._pending = None
        if self._next >= len(self.answers):
            return
        pcm = self._audio[self._next]
        log.debug("candidate answers #%d: %s", self._next + 1, self.answers[self._next][:60])
        self._next += 1
        self._say(pcm)
