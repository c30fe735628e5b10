"""Running the assessment report: off the event loop (the fix), or on it (the original bug, on purpose).

`ReportRunner` owns everything about one report's run: its start (when its budget starts counting),
its build from the turns once the flow says the transcripts are in (the hosted service transcribes
answers asynchronously, so the two may be seconds apart), the thread it runs in, the blocking mode,
abandoning it when the flow gives up, a result that comes back too late, and the report that is saved
whatever happens, with the answers it was built from. It tells its owner three things, through
callbacks: the report is ready (with its spoken summary), it failed (with the error), or a result came
back after it was abandoned. It knows nothing of the flow or the connection; the session passes those
answers on to the flow.

Off the loop means a daemon thread of its own: a synchronous assessor is called there directly, an
async one runs on a private loop there (even building an ``AsyncOpenAI`` client costs 20-110 ms of
synchronous work). A daemon thread, not the default executor, so that a hanging assessor cannot hold
up the process's exit. ``blocking`` mode calls the synchronous assessor inside a task on the loop:
exactly what the original write-up's ``asyncio.create_task`` "fix" did, so it can be measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from interview_kit.assessment import (
    AssessmentPrompt,
    AssessmentReport,
    Assessor,
    HeuristicAssessor,
    OpenAIAssessor,
    report_to_verbal_summary,
)
from interview_kit.clock import loop_time
from interview_kit.config import SessionConfig
from interview_kit.records import AssessmentMode, Rec

log = logging.getLogger(__name__)

Turns = list[dict[str, str]]
OPENAI_MAX_RETRIES = 3  # the default assessor's retries; each attempt gets report_timeout / 4


def default_assessor(config: SessionConfig) -> Assessor:
    """The assessor the config names. Each model attempt gets an equal share of the report budget,
    so that the retries fit inside it, and a ``Retry-After`` beyond the budget fails at once, named."""
    if config.assessor == "heuristic":
        return HeuristicAssessor()
    attempts = OPENAI_MAX_RETRIES + 1
    return OpenAIAssessor(config.assessment_model, base_url=config.base_url, api_key=config.resolve_api_key(),
                          timeout=config.report_timeout / attempts, max_retries=OPENAI_MAX_RETRIES,
                          budget=config.report_timeout)


def in_daemon_thread(fn: Callable[[], Any], *, name: str) -> asyncio.Future[Any]:
    """Run `fn` in a new daemon thread; the returned future resolves on the calling loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def main() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # delivered to the awaiting task, not lost in the thread
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=main, name=name, daemon=True).start()
    return future


class ReportRunner:
    """One report: `start` it, `build` it, `abandon` it; `report` is what ``report.json`` holds.

    ``on_ready(summary)``, ``on_failed(error)`` and ``on_note(kind, data)`` are called on the loop.
    ``save(report)`` writes ``report.json`` (called once per report the runner settles on).
    """

    def __init__(
        self,
        assessor: Assessor,
        prompt: AssessmentPrompt,
        *,
        mode: AssessmentMode,
        language: str,
        on_ready: Callable[[str], None],
        on_failed: Callable[[str], None],
        on_note: Callable[[str, dict[str, Any]], None],
        save: Callable[[AssessmentReport], None],
    ) -> None:
        self.assessor, self.prompt, self.mode, self.language = assessor, prompt, mode, language
        self._on_ready, self._on_failed, self._note, self._save = on_ready, on_failed, on_note, save
        self.report: AssessmentReport | None = None  # what report.json holds, once settled
        self.started_at: float | None = None  # loop_time() at start
        self.duration_s: float | None = None  # start -> result (or failure), as the session saw it
        self.answers_assessed: int | None = None  # set when built
        self.answers_missing: list[str] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Being built (a report started and still waiting for its transcripts is not running yet)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """The report's run starts: noted, and its budget counts from now. `build` follows."""
        self.started_at = loop_time()
        self._note(Rec.REPORT_STARTED, {"mode": str(self.mode), "prompt": self.prompt.name,
                                      "model": self.assessor.model})

    def build(self, turns: Turns, missing: tuple[str, ...] = ()) -> None:
        """Generate the report from `turns` now (off the loop unless the mode is ``blocking``);
        `missing`: the answers it goes without (item ids). Nothing happens once it is settled."""
        if self.report is not None or self._task is not None:
            return
        if self.started_at is None:
            self.start()
        self.answers_assessed = sum(1 for turn in turns if turn["role"] == "candidate")
        self.answers_missing = list(missing)
        self._note(Rec.REPORT_BUILT, {"answers_assessed": self.answers_assessed,
                                    "answers_missing": self.answers_missing,
                                    "waited_s": self._elapsed()})
        work = self._on_loop(turns) if self.mode is AssessmentMode.BLOCKING else self._off_loop(turns)
        self._task = asyncio.get_running_loop().create_task(work, name="session-report")

    async def _off_loop(self, turns: Turns) -> None:
        assessor, prompt = self.assessor, self.prompt
        if type(assessor).assess is Assessor.assess:  # synchronous only: call it directly in the thread
            work: Callable[[], AssessmentReport] = lambda: assessor.assess_sync(turns, prompt)  # noqa: E731
        else:
            work = lambda: asyncio.run(assessor.assess(turns, prompt))  # noqa: E731
        try:
            report = await in_daemon_thread(work, name="interview-report")
        except Exception as exc:
            self._settle(None, exc)
        else:
            self._settle(report, None)

    async def _on_loop(self, turns: Turns) -> None:
        """The original bug, on purpose: a synchronous call inside a task blocks the whole loop."""
        try:
            report = self.assessor.assess_sync(turns, self.prompt)
        except Exception as exc:
            self._settle(None, exc)
        else:
            self._settle(report, None)

    def _elapsed(self) -> float | None:
        return None if self.started_at is None else round(loop_time() - self.started_at, 3)

    def _settle(self, report: AssessmentReport | None, error: BaseException | None) -> None:
        self.duration_s = self._elapsed()
        if self.report is not None:  # abandoned already (timed out): the late result is only noted
            self._note(Rec.REPORT_LATE, {"duration_s": self.duration_s,
                                       "error": None if error is None else str(error)})
            return
        if report is not None:
            if report.duration_s is None:
                report.duration_s = self.duration_s
            try:
                summary = report_to_verbal_summary(report, language=report.language or self.language)
            except Exception as exc:
                error = exc
            else:
                self.report = self._with_answers(report)
                self._save_safely(report)
                self._note(Rec.REPORT_READY, {"duration_s": self.duration_s})
                self._on_ready(summary)
                return
        message = f"{type(error).__name__}: {error}"
        self.fail(message)
        self._on_failed(message)

    def fail(self, error: str) -> None:
        """Settle on a report that holds only `error` (failed, timed out, abandoned, never started);
        nothing happens when a report is settled already."""
        if self.report is not None:
            return
        self.report = self._with_answers(
            AssessmentReport.failed(self.prompt.name, self.assessor.model, error, self._elapsed()))
        self._save_safely(self.report)
        if self.started_at is not None:
            self._note(Rec.REPORT_FAILED, {"duration_s": self.report.duration_s, "error": error})

    def _save_safely(self, report: AssessmentReport) -> None:
        """Save `report`; a save that fails (a full disk) is logged, once per report, and the interview
        goes on: the candidate still hears the summary, the session still ends in order."""
        try:
            self._save(report)
        except Exception as exc:
            log.error("could not save the report: %s: %s", type(exc).__name__, exc)

    def _with_answers(self, report: AssessmentReport) -> AssessmentReport:
        """`report` with the answers it was built from (none recorded if it was never built)."""
        if self.answers_assessed is not None:
            report.answers_assessed, report.answers_missing = self.answers_assessed, self.answers_missing
        return report

    def abandon(self, reason: str) -> None:
        """The flow stopped waiting: save the error and stop the run (a thread finishes on its own)."""
        self.fail(reason)
        if self.running:
            assert self._task is not None
            self._task.cancel()

    async def wait(self, budget: float) -> None:
        """Give a running report up to `budget` seconds to finish (the session is ending)."""
        if self.running:
            assert self._task is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), max(0.1, budget))

    def remaining(self, limit: float) -> float:
        """Seconds left of a `limit` counted from the start."""
        return limit - (loop_time() - (self.started_at or loop_time()))
