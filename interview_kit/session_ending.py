"""How an interview ends: the bounded wind-down, the files every run leaves, and the result.

`SessionEnding` is the part of `InterviewSession` that runs on every exit path (complete, stopped,
failed, cancelled, a bug): it gives a running report what is left of its budget, stops the tasks, the
monitors, the connection and the audio, then writes ``transcript.json`` and the final
``session.json`` synchronously, so that nothing can cancel them half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interview_kit.flow import Phase
from interview_kit.folder import TRANSCRIPT_FILE
from interview_kit.records import Dir, Outcome, Rec

STOP_REPORT_WAIT = 2.0  # seconds a stopped session still gives a running report before abandoning it


@dataclass
class SessionResult:
    """How a run ended, and where its folder is."""

    outcome: str  # an Outcome
    folder: Path
    close_code: int | None = None
    close_reason: str | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    phase_durations: dict[str, float] = field(default_factory=dict)
    longest_stall_ms: float = 0.0
    ping_rtts_ms: list[float | None] = field(default_factory=list)
    report_duration_s: float | None = None
    report_error: str | None = None
    trigger_source: str | None = None
    reconnects: int = 0  # connections resumed after a loss (or a move ahead of the session's expiry)
    offline_s: float = 0.0  # time spent without a connection
    not_heard: list[str] = field(default_factory=list)  # assessment lines given up on (ack, summary, goodbye)


class SessionEnding:
    """The ending of `InterviewSession` (a mixin: the state it reads is the session's)."""

    async def _finish(self) -> None:
        """Every exit path: wait (bounded) for the report, stop everything, write every file. The
        files are written even when this is cancelled itself (a second Ctrl-C), then it re-raises."""
        try:
            await self._wind_down()
        except BaseException:
            for task in list(self._tasks):
                task.cancel()
            for monitor in (self._stall_monitor, self._keepalive):
                if monitor is not None:
                    monitor.cancel()
            if self._conn is not None:
                self._conn.abort("aborted: the session was cancelled while closing")
            raise
        finally:
            self._write_final()

    async def _wind_down(self) -> None:
        if self._candidate is not None:
            self._candidate.cancel()
        closing = self._input.close()
        # A report still waiting for transcripts is built now from what came: no more will come.
        self._apply(self._flow.stop_waiting_for_transcripts(self._now()))
        if self._report.running:
            budget = self._report.remaining(self.config.report_timeout)
            if self._outcome is Outcome.STOPPED:  # the user wants out now, not after the whole budget
                budget = min(budget, STOP_REPORT_WAIT)
            await self._report.wait(budget)
            why = ("the session was stopped" if self._outcome is Outcome.STOPPED
                   else f"the session ended ({self.config.report_timeout:g} s budget)")
            self._report.abandon(f"report generation did not finish before {why}")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(closing, 2.5)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(1000, self._outcome or "")
        for monitor in (self._stall_monitor, self._keepalive):
            if monitor is not None:
                with contextlib.suppress(Exception):
                    await monitor.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._output.close(), 2.0)
        if self._recorder is not None:  # after the output: what it cut on closing is cut in the file
            with contextlib.suppress(Exception):
                await self._recorder.aclose()

    def _write_final(self) -> None:
        """The files every run leaves, whatever happened before (synchronous: nothing can cancel it)."""
        if self._recorder is not None:  # closed already, unless the wind-down was cut short
            self._recorder.close()
        self._report.fail("the interview ended before the assessment" if self._report.started_at is None
                          else "report generation did not finish")
        complete = self._flow.phase is Phase.COMPLETE
        self._outcome = self._outcome or (Outcome(self._flow.completed_outcome) if complete
                                          else Outcome.FAILED)
        assert self._folder is not None
        self._write(TRANSCRIPT_FILE, self._transcript.as_dict())
        self._record(Dir.LOCAL, Rec.SESSION_ENDED, data={"outcome": self._outcome})
        self._write_session_json(ended=True)
        self._folder.close()

    def _on_write_error(self, message: str) -> None:
        """The folder could not be written (a full disk; the folder has said so once), from any
        thread, even from inside a `record()` on the loop: the interview ends on the loop's next turn,
        not in the middle of that write."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over anyway
                self._loop.call_soon_threadsafe(self._folder_failed, message)

    def _folder_failed(self, message: str) -> None:
        """Nothing more can be kept: the interviewer says goodbye (when the connection still works)
        and the interview ends ``failed``."""
        self._record(Dir.LOCAL, Rec.ERROR, data={"message": message, "where": "folder"})
        if not self._online:
            self._apply(self._flow.fail(self._now(), message))
            return
        active = self._sequencer.active_id if self._sequencer is not None else None
        self._apply(self._flow.fail_after_goodbye(
            self._now(), message, active_purpose=self._registry.purpose(active),
            playing_purpose=self._registry.purpose(self._output.playing_response_id)))

    def _write_session_json(self, *, ended: bool = False) -> None:
        assert self._folder is not None
        info = self._conn.info if self._conn is not None else None
        self._folder.write_session({
            "outcome": self._outcome if ended else None,
            "close_code": info.code if info else None, "close_reason": info.reason if info else None,
            "closed_by": info.by if info else None,
            "connected_to": self._transport.description if self._transport is not None else None,
            "config": self.config.to_dict(),
            "scenario": self._scenario_name, "assessment_mode": self._mode,
            "assessor": {"name": getattr(self.assessor, "name", type(self.assessor).__name__),
                         "model": self.assessor.model},
            "trigger_source": self._flow.trigger_source,
            "phases": [t.as_dict() for t in self._flow.transitions],
            "longest_stall_ms": self._longest_stall_ms(),
            "expires_at": self._expires_at,
            "reconnects": self._reconnects, "offline_s": round(self._flow.offline_s, 3),
            "not_heard": list(self._flow.not_heard),
            "write_error": self._folder.write_error, "events_lost": self._folder.log.lines_lost,
        }, ended=ended)

    def _longest_stall_ms(self) -> float:
        return round(self._stall_monitor.longest_stall * 1000, 3) if self._stall_monitor else 0.0

    def _result(self) -> SessionResult:
        assert self._folder is not None and self._outcome is not None
        info = self._conn.info if self._conn is not None else None
        report = self._report.report
        return SessionResult(
            outcome=self._outcome, folder=self._folder.path, close_code=info.code if info else None,
            close_reason=info.reason if info else None, phases=[t.as_dict() for t in self._flow.transitions],
            phase_durations=self._flow.phase_durations(), longest_stall_ms=self._longest_stall_ms(),
            ping_rtts_ms=[None if r is None else round(r * 1000, 3)
                          for r in (self._keepalive.round_trips if self._keepalive else [])],
            report_duration_s=self._report.duration_s, report_error=report.error if report else None,
            trigger_source=self._flow.trigger_source, reconnects=self._reconnects,
            offline_s=round(self._flow.offline_s, 3), not_heard=list(self._flow.not_heard),
        )
