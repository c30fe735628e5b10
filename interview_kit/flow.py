"""The end-of-interview assessment flow as a pure state machine (sans-I/O).

`AssessmentFlow` takes inputs (a trigger, a response created / played / done with its id and purpose,
the report ready or failed, an answer heard, the candidate starting to speak, a tick with the current
time) and returns the actions the session must take (interrupt the interviewer, cancel its response,
silence the simulated candidate, turn turn-taking off, ask for a spoken line, start or abandon the
report, end the session). The interview's own rules live here too: the question and minute limits,
barge-in only while interviewing, and a button or limit trigger cutting the interviewer off. It
never sleeps, reads a clock or touches a socket: every input carries ``now``. Every transition is
recorded with its time and reason; an input that does not fit the current phase is recorded and
ignored, never raised; every waiting phase has a timeout, checked on `tick`.

"Audio complete" means played: a response is complete when the server has finished it
(``response.done``) and the player has played its last sample (``playback.ended``), in either order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from interview_kit.records import INTERVIEW_PURPOSES, Rec, TriggerSource


class Phase(StrEnum):
    INTERVIEWING = "interviewing"
    TRIGGERED = "triggered"
    ACK_GENERATING = "ack_generating"
    ACK_SPEAKING = "ack_speaking"
    AWAITING_REPORT = "awaiting_report"
    SUMMARY_SENDING = "summary_sending"
    SUMMARY_SPEAKING = "summary_speaking"
    GOODBYE_SENDING = "goodbye_sending"
    GOODBYE_SPEAKING = "goodbye_speaking"
    COMPLETE = "complete"
    FAILED = "failed"
    DISCONNECTED = "disconnected"


#: The happy path, in order (``awaiting_report`` is skipped when the report is ready in time).
PHASE_ORDER: tuple[Phase, ...] = (
    Phase.INTERVIEWING, Phase.TRIGGERED, Phase.ACK_GENERATING, Phase.ACK_SPEAKING, Phase.AWAITING_REPORT,
    Phase.SUMMARY_SENDING, Phase.SUMMARY_SPEAKING, Phase.GOODBYE_SENDING, Phase.GOODBYE_SPEAKING,
    Phase.COMPLETE,
)
TERMINAL_PHASES = frozenset({Phase.COMPLETE, Phase.FAILED, Phase.DISCONNECTED})


class ReportStart(StrEnum):
    """When report generation starts: at the trigger (overlapping the acknowledgement, the fix) or
    after the acknowledgement has played (the original order)."""

    AT_TRIGGER = "trigger"
    AFTER_ACK = "after_ack"


class ReportState(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True)
class FlowTimeouts:
    """Seconds each wait may last before the flow moves on."""

    response_created: float = 15.0  # request sent -> its response.created
    speaking: float = 120.0  # response.created -> done and played
    report: float = 90.0  # report started -> ready or failed


@dataclass(frozen=True)
class FlowSettings:
    report_start: ReportStart = ReportStart.AT_TRIGGER
    timeouts: FlowTimeouts = field(default_factory=FlowTimeouts)
    ack_text: str = "Thank you. I'm preparing your assessment now; it will take a moment."
    goodbye_text: str = "That's everything. Thank you for your time, and goodbye."
    max_questions: int | None = None  # answers heard while interviewing before a ``limit`` trigger
    max_minutes: float | None = None  # session minutes before a ``limit`` trigger


# --- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InterruptSpeech:
    """Stop the interviewer's audio now, and truncate its item to what the candidate heard."""

    why: str


@dataclass(frozen=True)
class CancelResponse:
    """Cancel the interviewer's response in progress (``response.cancel``)."""


@dataclass(frozen=True)
class SilenceCandidate:
    """The simulated candidate stops talking and answers nothing more."""


@dataclass(frozen=True)
class DisableTurnTaking:
    """Stop automatic responses and barge-in (session.update) before the assessment speaks."""


@dataclass(frozen=True)
class RequestResponse:
    """Ask the server to speak a line. ``text`` None means: the fallback summary."""

    purpose: str  # ack | summary | fallback | goodbye
    text: str | None


@dataclass(frozen=True)
class StartReport:
    """Start report generation (off the event loop)."""


@dataclass(frozen=True)
class AbandonReport:
    """The report did not come in time: stop waiting for it and save the error."""

    reason: str


@dataclass(frozen=True)
class EndSession:
    outcome: str  # complete | failed | disconnected


Action = (InterruptSpeech | CancelResponse | SilenceCandidate | DisableTurnTaking | RequestResponse
          | StartReport | AbandonReport | EndSession)


@dataclass(frozen=True)
class Transition:
    t: float
    from_: Phase
    to: Phase
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "from": str(self.from_), "to": str(self.to), "reason": self.reason}


@dataclass
class _Tracked:
    """An assessment response: bound id, finished by the server, fully played."""

    response_id: str | None = None
    done: bool = False
    played: bool = False

    @property
    def complete(self) -> bool:
        return self.done and self.played


# Which stage each purpose belongs to, and the phases that wait for its response.created.
_STAGE_OF_PURPOSE = {"ack": "ack", "summary": "summary", "fallback": "summary", "goodbye": "goodbye"}
_SENDING = {"ack": Phase.TRIGGERED, "summary": Phase.SUMMARY_SENDING, "goodbye": Phase.GOODBYE_SENDING}
_SPEAKING = {
    "ack": (Phase.ACK_GENERATING, Phase.ACK_SPEAKING),
    "summary": (Phase.SUMMARY_SPEAKING,),
    "goodbye": (Phase.GOODBYE_SPEAKING,),
}
_AFTER_CREATED = {
    "ack": Phase.ACK_GENERATING, "summary": Phase.SUMMARY_SPEAKING, "goodbye": Phase.GOODBYE_SPEAKING,
}

Observer = Callable[[str, dict[str, Any]], None]


class AssessmentFlow:
    """The assessment state machine. Feed it inputs; carry out the actions it returns.

    ``observer(kind, record)`` (optional) hears each ``phase`` transition, ``assessment.trigger``,
    ``timeout`` and ``flow.ignored`` record as it happens, e.g. to write it to the event log.
    """

    def __init__(self, settings: FlowSettings | None = None, *, now: float = 0.0,
                 observer: Observer | None = None) -> None:
        self.settings = settings or FlowSettings()
        self.phase = Phase.INTERVIEWING
        self.transitions: list[Transition] = []
        self.ignored: list[dict[str, Any]] = []
        self.timeouts: list[dict[str, Any]] = []
        self.trigger_source: str | None = None
        self.triggered_at: float | None = None
        self.report_state = ReportState.NOT_STARTED
        self.report_started_at: float | None = None
        self.summary_text: str | None = None
        self.report_error: str | None = None
        self.answers = 0  # candidate answers heard while interviewing
        self._observer = observer
        self._entered_at = now
        self._deadline: float | None = None
        self._stages = {"ack": _Tracked(), "summary": _Tracked(), "goodbye": _Tracked()}
        self._played_early: list[str] = []  # playback ended for ids not bound yet (bounded)

    # --- read-only views --------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES

    def wants(self, purpose: str) -> bool:
        """Whether a request for `purpose` is still wanted now: its phase is still waiting for it to be
        created. A request the flow gave up on (it timed out and moved on) must not be sent late."""
        if purpose in INTERVIEW_PURPOSES:
            return self.phase is Phase.INTERVIEWING
        stage = _STAGE_OF_PURPOSE.get(purpose)
        if stage is None:
            return False
        if stage == "summary" and (purpose == "summary") != (self.report_state is ReportState.READY):
            return False  # the summary when the fallback is wanted, or the other way round
        return self.phase is _SENDING[stage] and self._stages[stage].response_id is None

    def response_id(self, stage: str) -> str | None:
        """The id bound to the ``ack``, ``summary`` or ``goodbye`` response, once created."""
        return self._stages[stage].response_id

    def phase_durations(self, end: float | None = None) -> dict[str, float]:
        """Seconds spent in each phase entered so far (the last one up to `end`)."""
        out: dict[str, float] = {}
        start, phase = 0.0, Phase.INTERVIEWING
        for tr in self.transitions:
            out[str(phase)] = out.get(str(phase), 0.0) + tr.t - start
            start, phase = tr.t, tr.to
        if end is not None and phase not in TERMINAL_PHASES:
            out[str(phase)] = out.get(str(phase), 0.0) + max(0.0, end - start)
        return out

    # --- inputs -----------------------------------------------------------------------------------

    def trigger(self, now: float, source: str, *, active_purpose: str | None = None,
                playing_purpose: str | None = None) -> list[Action]:
        """The assessment was triggered (``tool``, ``button`` or ``limit``).

        `active_purpose` / `playing_purpose`: the purpose of the response the server is generating and
        of the one being played, if any. A button or a limit ends the interview now: the interviewer
        is cut off mid-sentence. The model's own ``end_interview`` call is already its last word.
        """
        if self.phase is not Phase.INTERVIEWING:
            return self._ignore(now, f"trigger:{source}", f"already {self.phase}")
        self.trigger_source, self.triggered_at = source, now
        self._note(Rec.TRIGGER, {"t": now, "source": source, "phase": str(self.phase)})
        actions: list[Action] = [SilenceCandidate()]
        if source != TriggerSource.TOOL:
            if active_purpose in INTERVIEW_PURPOSES:
                actions.append(CancelResponse())
            if playing_purpose in INTERVIEW_PURPOSES:
                actions.append(InterruptSpeech(f"trigger:{source}"))
        actions += [DisableTurnTaking(), RequestResponse("ack", self.settings.ack_text)]
        if self.settings.report_start is ReportStart.AT_TRIGGER:
            actions.append(self._start_report(now))
        self._enter(now, Phase.TRIGGERED, f"trigger:{source}", self.settings.timeouts.response_created)
        return actions

    def answer_heard(self, now: float) -> list[Action]:
        """A candidate answer was transcribed; the question limit may end the interview."""
        if self.phase is not Phase.INTERVIEWING:
            return []
        self.answers += 1
        limit = self.settings.max_questions
        if limit is not None and self.answers >= limit:
            return self.trigger(now, TriggerSource.LIMIT)
        return []

    def speech_started(self, now: float, playing_purpose: str | None) -> list[Action]:
        """The server heard the candidate start speaking: barge-in, while interviewing only."""
        if self.phase is Phase.INTERVIEWING and playing_purpose in INTERVIEW_PURPOSES:
            return [InterruptSpeech("speech_started")]
        return []

    def response_created(self, now: float, response_id: str, purpose: str) -> list[Action]:
        """``response.created`` bound to `purpose` (only assessment purposes concern the flow)."""
        stage = _STAGE_OF_PURPOSE.get(purpose)
        if stage is None:
            return []
        tracked = self._stages[stage]
        if tracked.response_id == response_id:
            return self._ignore(now, f"response_created:{purpose}", "duplicate")
        if self.phase is not _SENDING[stage] or tracked.response_id is not None:
            return self._ignore(now, f"response_created:{purpose}", f"not expected in {self.phase}")
        self._bind(stage, response_id)
        self._enter(now, _AFTER_CREATED[stage], f"{purpose} created {response_id}",
                    self.settings.timeouts.speaking)
        return self._check_complete(now, stage)

    def playback_started(self, now: float, response_id: str) -> list[Action]:
        """The first sample of a response was played."""
        stage = self._stage_of_id(response_id)
        if stage == "ack" and self.phase is Phase.ACK_GENERATING:
            self._enter(now, Phase.ACK_SPEAKING, f"ack audio playing {response_id}",
                        self.settings.timeouts.speaking)
        return []

    def playback_done(self, now: float, response_id: str) -> list[Action]:
        """The last sample of a response was played (or it had none)."""
        stage = self._stage_of_id(response_id)
        if stage is None:
            if response_id not in self._played_early:
                self._played_early = [*self._played_early[-31:], response_id]
            return []
        tracked = self._stages[stage]
        if tracked.played:
            return self._ignore(now, f"playback_done:{stage}", "duplicate")
        tracked.played = True
        return self._check_complete(now, stage)

    def response_done(self, now: float, response_id: str, purpose: str) -> list[Action]:
        """``response.done`` for a response bound to `purpose`. A done whose created never came
        (lost, or after an interruption) binds here when its phase is waiting for it."""
        stage = self._stage_of_id(response_id)
        if stage is None:
            stage = _STAGE_OF_PURPOSE.get(purpose)
            if stage is None:
                return []
            if self.phase is not _SENDING[stage] or self._stages[stage].response_id is not None:
                return self._ignore(now, f"response_done:{purpose}", f"not expected in {self.phase}")
            self._bind(stage, response_id)
            self._enter(now, _AFTER_CREATED[stage], f"{purpose} done without created {response_id}",
                        self.settings.timeouts.speaking)
        tracked = self._stages[stage]
        if tracked.done:
            return self._ignore(now, f"response_done:{stage}", "duplicate")
        tracked.done = True
        return self._check_complete(now, stage)

    def report_ready(self, now: float, summary: str) -> list[Action]:
        """The report is ready; `summary` is its verbal summary."""
        if self.report_state is not ReportState.RUNNING:
            return self._ignore(now, "report_ready", f"report {self.report_state}")
        self.report_state, self.summary_text = ReportState.READY, summary
        if self.phase is Phase.AWAITING_REPORT:
            return self._send_summary(now, "report ready")
        return []

    def report_failed(self, now: float, error: str) -> list[Action]:
        """Report generation failed: the fallback summary will be spoken."""
        if self.report_state is not ReportState.RUNNING:
            return self._ignore(now, "report_failed", f"report {self.report_state}")
        self.report_state, self.report_error = ReportState.FAILED, error
        if self.phase is Phase.AWAITING_REPORT:
            return self._send_summary(now, "report failed")
        return []

    def connection_lost(self, now: float, reason: str) -> list[Action]:
        """The connection dropped: the flow ends ``disconnected`` (the report may still finish)."""
        if self.finished:
            return self._ignore(now, "connection_lost", f"already {self.phase}")
        self._enter(now, Phase.DISCONNECTED, reason, None)
        return [EndSession("disconnected")]

    def fail(self, now: float, reason: str) -> list[Action]:
        """An error the session cannot go on from."""
        if self.finished:
            return self._ignore(now, "fail", f"already {self.phase}")
        self._enter(now, Phase.FAILED, reason, None)
        return [EndSession("failed")]

    def tick(self, now: float) -> list[Action]:
        """Check the timeouts, and the minute limit."""
        minutes = self.settings.max_minutes
        if minutes is not None and self.phase is Phase.INTERVIEWING and now >= minutes * 60:
            return self.trigger(now, TriggerSource.LIMIT)
        actions: list[Action] = []
        report_deadline = self._report_deadline()
        if report_deadline is not None and now >= report_deadline:
            limit = self.settings.timeouts.report
            self.report_state = ReportState.TIMED_OUT
            self.report_error = f"report generation timed out after {limit:g} s"
            self._timeout(now, "report", limit)
            actions.append(AbandonReport(self.report_error))
            if self.phase is Phase.AWAITING_REPORT:
                actions += self._send_summary(now, "report timeout")
        if self._deadline is not None and now >= self._deadline and not self.finished:
            actions += self._phase_timeout(now)
        return actions

    # --- internals --------------------------------------------------------------------------------

    def _stage_of_id(self, response_id: str | None) -> str | None:
        if response_id is None:
            return None
        for stage, tracked in self._stages.items():
            if tracked.response_id == response_id:
                return stage
        return None

    def _report_deadline(self) -> float | None:
        if self.report_state is ReportState.RUNNING and self.report_started_at is not None:
            return self.report_started_at + self.settings.timeouts.report
        return None

    def _start_report(self, now: float) -> StartReport:
        self.report_state, self.report_started_at = ReportState.RUNNING, now
        return StartReport()

    def _enter(self, now: float, phase: Phase, reason: str, timeout: float | None) -> None:
        if phase is self.phase:
            return
        transition = Transition(now, self.phase, phase, reason)
        self.transitions.append(transition)
        self.phase, self._entered_at = phase, now
        self._deadline = None if timeout is None or phase in TERMINAL_PHASES else now + timeout
        self._note(Rec.PHASE, transition.as_dict())

    def _note(self, kind: str, record: dict[str, Any]) -> None:
        if self._observer is not None:
            self._observer(kind, record)

    def _ignore(self, now: float, what: str, why: str) -> list[Action]:
        record = {"t": now, "input": what, "why": why, "phase": str(self.phase)}
        self.ignored.append(record)
        self._note(Rec.FLOW_IGNORED, record)
        return []

    def _timeout(self, now: float, waiting_for: str, after_s: float) -> None:
        record = {"t": now, "waiting_for": waiting_for, "after_s": after_s, "phase": str(self.phase)}
        self.timeouts.append(record)
        self._note(Rec.TIMEOUT, record)

    def _bind(self, stage: str, response_id: str) -> None:
        tracked = self._stages[stage]
        tracked.response_id = response_id
        if response_id in self._played_early:  # its playback ended before its binding arrived
            tracked.played = True
            self._played_early.remove(response_id)

    def _check_complete(self, now: float, stage: str) -> list[Action]:
        if not self._stages[stage].complete or self.phase not in _SPEAKING[stage]:
            return []
        rid = self._stages[stage].response_id
        if stage == "ack":
            return self._after_ack(now, f"ack played {rid}")
        if stage == "summary":
            return self._send_goodbye(now, f"summary played {rid}")
        self._enter(now, Phase.COMPLETE, f"goodbye played {rid}", None)
        return [EndSession("complete")]

    def _after_ack(self, now: float, reason: str) -> list[Action]:
        actions: list[Action] = []
        if self.report_state is ReportState.NOT_STARTED:
            actions.append(self._start_report(now))
        if self.report_state is ReportState.RUNNING:
            self._enter(now, Phase.AWAITING_REPORT, reason, None)  # bounded by the report deadline
            return actions
        return actions + self._send_summary(now, reason)

    def _send_summary(self, now: float, reason: str) -> list[Action]:
        if self.report_state is ReportState.READY:
            request = RequestResponse("summary", self.summary_text)
        else:
            request = RequestResponse("fallback", None)
        self._enter(now, Phase.SUMMARY_SENDING, reason, self.settings.timeouts.response_created)
        return [request]

    def _send_goodbye(self, now: float, reason: str) -> list[Action]:
        self._enter(now, Phase.GOODBYE_SENDING, reason, self.settings.timeouts.response_created)
        return [RequestResponse("goodbye", self.settings.goodbye_text)]

    def _phase_timeout(self, now: float) -> list[Action]:
        phase = self.phase
        waited = now - self._entered_at
        if phase is Phase.TRIGGERED:
            self._timeout(now, "ack response.created", waited)
            return self._after_ack(now, "timeout: ack never created")
        if phase in (Phase.ACK_GENERATING, Phase.ACK_SPEAKING):
            self._timeout(now, "ack played", waited)
            return self._after_ack(now, "timeout: ack not played")
        if phase is Phase.SUMMARY_SENDING:
            self._timeout(now, "summary response.created", waited)
            return self._send_goodbye(now, "timeout: summary never created")
        if phase is Phase.SUMMARY_SPEAKING:
            self._timeout(now, "summary played", waited)
            return self._send_goodbye(now, "timeout: summary not played")
        if phase in (Phase.GOODBYE_SENDING, Phase.GOODBYE_SPEAKING):
            self._timeout(now, "goodbye played", waited)
            self._enter(now, Phase.COMPLETE, "timeout: goodbye not played", None)
            return [EndSession("complete")]
        self._deadline = None  # interviewing and awaiting_report have no phase deadline
        return []
