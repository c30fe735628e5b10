"""The recorded assessor, played back: `ReplayAssessor` gives back the recorded report (or raises the
recorded error) after as long as the recorded one took, on the session's own clock."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from interview_kit.assessment import AssessmentError, AssessmentPrompt, AssessmentReport, Assessor
from interview_kit.records import Rec
from interview_kit.replay.recording import ReportPlan
from interview_kit.replay.summary import data_of
from interview_kit.virtual_clock import Hold, VirtualClockLoop

log = logging.getLogger(__name__)

#: Real seconds the virtual clock waits for the report's thread to hand its result back.
HANDOFF_LIMIT = 5.0


def _recorded_error(text: str) -> Exception:
    """An exception whose ``f"{type(e).__name__}: {e}"`` is the recorded error text."""
    match = re.match(r"([A-Za-z_][\w.]*): (.*)\Z", text, re.S)
    if match is None:
        return AssessmentError(text)
    name = match.group(1).rsplit(".", 1)[-1]
    return type(name, (AssessmentError,), {"__module__": __name__})(match.group(2))


class ReplayAssessor(Assessor):
    """Gives back what the recorded assessor gave back, after as long as it took (see `ReportPlan`).

    It waits on the session's loop, so a virtual clock applies: `on_record` (a session listener) sees
    ``report.started`` and sets the answer's moment on the loop's clock; `assess`, which the session
    runs in a thread of its own, waits for that moment. The clock is held while the thread hands the
    result back, so the session sees it at exactly that moment. In ``blocking`` mode `assess_sync`
    runs on the loop and blocks it as long as the recorded call did (on a virtual clock, by moving
    the clock on while nothing runs). Call `close` when the session is over.
    """

    name = "replay"

    def __init__(self, plan: ReportPlan) -> None:
        self.plan = plan
        self.model = plan.model
        self._answer: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._hold: Hold | None = None
        self._settled = False
        self._closed = False

    def on_record(self, rec: Mapping[str, Any]) -> None:
        kind = rec.get("type")
        if kind == Rec.REPORT_STARTED and self._loop is None:
            self._loop = asyncio.get_running_loop()
            if data_of(rec).get("mode") != "blocking" and self.plan.seconds is not None:
                self._timer = self._loop.call_later(self.plan.seconds, self._due)
        elif kind in (Rec.REPORT_READY, Rec.REPORT_FAILED, Rec.REPORT_LATE):
            self._settled = True
            self._release()

    def _due(self) -> None:
        # Stop the clock until the thread's result is back (settled already: no result will come).
        if isinstance(self._loop, VirtualClockLoop) and not self._settled:
            self._hold = self._loop.hold("replay report hand-off", max_wall=HANDOFF_LIMIT)
        self._answer_now()

    def _answer_now(self) -> None:
        if not self._answer.done():
            self._answer.set_result(None)

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    def close(self) -> None:
        """The replay is over: a thread still waiting for its answer gives up."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._release()
        self._answer_now()

    async def assess(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        if self._loop is None:  # not attached to a session's records: wait on this loop's clock
            if self.plan.seconds is None:
                await asyncio.Event().wait()
            await asyncio.sleep(self.plan.seconds or 0.0)
        else:
            await asyncio.wrap_future(self._answer)
        return self._result(prompt)

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        seconds = self.plan.seconds if self.plan.seconds is not None else self.plan.block_s
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if isinstance(loop, VirtualClockLoop):
            loop.advance(seconds)  # the loop stalls as long, in loop time
        else:
            time.sleep(seconds)
        if self.plan.seconds is None:
            raise AssessmentError("the recorded report never came")
        return self._result(prompt)

    def _result(self, prompt: AssessmentPrompt | str) -> AssessmentReport:
        if self._closed:
            raise AssessmentError("the replay is over")
        if self.plan.error is not None:
            raise _recorded_error(self.plan.error)
        if self.plan.report is not None:
            try:
                return AssessmentReport.model_validate(self.plan.report)
            except ValueError as exc:
                log.warning("the recorded report.json does not load (%s); replaying an empty report", exc)
        return AssessmentReport(prompt=prompt if isinstance(prompt, str) else prompt.name, model=self.model)
