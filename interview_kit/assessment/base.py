"""What every assessor is: a transcript in, an `AssessmentReport` out, or an `AssessmentError`.

`Assessor.assess_sync` blocks; `Assessor.assess` never blocks the event loop. The session uses the
latter; its `blocking` mode calls the former on the loop on purpose, to reproduce the original bug.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from interview_kit.assessment.turns import Turns

if TYPE_CHECKING:
    from interview_kit.assessment.prompts import AssessmentPrompt
    from interview_kit.assessment.report import AssessmentReport


class AssessmentError(RuntimeError):
    """Report generation failed; the message says why (and never contains the API key)."""


class Assessor(ABC):
    """Turns a transcript into an `AssessmentReport`; raises `AssessmentError` on failure."""

    name: str = "assessor"
    model: str = ""

    def prepare(self) -> None:
        """Do the slow set-up now (imports, an HTTP client and its TLS context), before the interview:
        in a thread at report time it would hold the interpreter while the session's loop waits. A
        session calls it in a thread before connecting; by default there is nothing to do."""
        return None

    @abstractmethod
    def assess_sync(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        """Blocking. Never call it on the event loop (that is the original bug)."""

    async def assess(self, turns: Turns, prompt: AssessmentPrompt | str) -> AssessmentReport:
        """Non-blocking: by default the synchronous call runs in a worker thread."""
        return await asyncio.to_thread(self.assess_sync, turns, prompt)
