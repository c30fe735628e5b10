"""The end-of-interview assessment flow as a pure state machine (sans-I/O).

`AssessmentFlow` takes inputs (a trigger, a response created / played / done with its id and purpose,
the report ready or failed, an answer pending / transcribed / not transcribable, the candidate starting
to speak, a tick with the current time) and returns the actions the session must take (interrupt the
interviewer, cancel its response, discard a response nobody wants any more, silence the simulated
candidate, turn turn-taking off, ask for a spoken line, start, build or abandon the report, end the
session). The interview's own rules live here too: the question and minute limits,
barge-in only while interviewing, and a button or limit trigger cutting the interviewer off. It
never sleeps, reads a clock or touches a socket: every input carries ``now``. Every transition is
recorded with its time and reason; an input that does not fit the current phase is recorded and
ignored, never raised; every waiting phase has a timeout, checked on `tick`.

The report starts (its budget counts from then) at the trigger or after the acknowledgement, and
is built once every answer the server committed has its transcript (the hosted service transcribes
asynchronously: the last answer's transcript may come after the ``end_interview`` call), or when
the wait for them (``FlowTimeouts.transcripts``) is over.

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
    transcripts: float = 5.0  # report started -> every committed answer transcribed (then built without)


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
    """Ask the server to speak a line. ``text`` None means: the fallback summary (or, for a
    ``question``, whatever the interviewer asks next). ``resumes``: the response a lost connection
    cut off, whose line this asks again (the shell says only what was not heard yet)."""

    purpose: str  # ack | summary | fallback | goodbye | question (after a resume)
    text: str | None
    resumes: str | None = None


@dataclass(frozen=True)
class StartReport:
    """The report's run starts now (its budget counts from here); it is built at `BuildReport`."""


@dataclass(frozen=True)
class BuildReport:
    """Every committed answer has its transcript, or the wait for them is over: build the report now
    from the turns known (off the event loop). `missing`: the answers it goes without (no transcript
    in time, or their transcription failed), by item id."""

    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiscardResponse:
    """A response the flow no longer wants was created (it gave up waiting, or the interview is
    over): cancel it and never play its audio."""

    response_id: str
    purpose: str
    why: str


@dataclass(frozen=True)
class AbandonReport:
    """The report did not come in time: stop waiting for it and save the error."""

    reason: str


@dataclass(frozen=True)
class EndSession:
    outcome: str  # complete | complete_degraded | failed | disconnected


Action = (InterruptSpeech | CancelResponse | SilenceCandidate | DisableTurnTaking | RequestResponse
          | StartReport | BuildReport | AbandonReport | DiscardResponse | EndSession)


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
# What became of a candidate answer the server has (by item id).
_PENDING, _TRANSCRIBED, _FAILED = "pending", "transcribed", "failed"

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
        self.answers = 0  # candidate answers heard (transcribed or not) while interviewing
        self.answer_items: dict[str, str] = {}  # item id -> pending | transcribed | failed, in order
        self._observer = observer
        self._entered_at = now
        self._deadline: float | None = None
        self._stages = {"ack": _Tracked(), "summary": _Tracked(), "goodbye": _Tracked()}
        self._played_early: list[str] = []  # playback ended for ids not bound yet (bounded)
        self._transcripts_deadline: float | None = None  # set while the report waits for transcripts
        self._offline_since: float | None = None  # the connection is lost and being reopened
        self.not_heard: list[str] = []  # assessment lines given up on (timed out): ack, summary, goodbye
        self._failing: str | None = None  # an error ends the interview once the goodbye is said
        self.offline_s = 0.0  # time spent without a connection, over the session

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

    @property
    def has_pending_answers(self) -> bool:
        """Whether an answer the server has is still waiting for its transcript."""
        return _PENDING in self.answer_items.values()

    @property
    def awaiting_transcripts(self) -> bool:
        """Whether the report has started and waits for answers' transcripts before it is built."""
        return self._transcripts_deadline is not None

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
        actions += [DisableTurnTaking(), self._line_request("ack")]
        if self.settings.report_start is ReportStart.AT_TRIGGER:
            actions += self._start_report(now)
        self._enter(now, Phase.TRIGGERED, f"trigger:{source}", self.settings.timeouts.response_created)
        return actions

    def answer_pending(self, now: float, item_id: str | None) -> list[Action]:
        """The server has (or will have) a candidate answer whose transcript is to come: its speech
        started, its audio was committed, or the server created its user item. Noted while
        interviewing, and while the report waits for transcripts; the report waits for it."""
        if item_id and item_id not in self.answer_items and (
                self.phase is Phase.INTERVIEWING or self.awaiting_transcripts):
            self.answer_items[item_id] = _PENDING
        return []

    def answer_heard(self, now: float, item_id: str | None = None) -> list[Action]:
        """A candidate answer was transcribed; the question limit may end the interview, and the
        report may be waiting for this transcript."""
        return self._answer_settled(now, item_id, _TRANSCRIBED)

    def answer_failed(self, now: float, item_id: str | None) -> list[Action]:
        """A candidate answer's transcription failed: the answer counts toward the question limit, and
        the report no longer waits for it (it goes without it)."""
        return self._answer_settled(now, item_id, _FAILED)

    def stop_waiting_for_transcripts(self, now: float) -> list[Action]:
        """No more transcripts will come (the session is ending): build the report now if it waits."""
        return self._build_report() if self.awaiting_transcripts else []

    def speech_started(self, now: float, playing_purpose: str | None) -> list[Action]:
        """The server heard the candidate start speaking: barge-in, while interviewing only."""
        if self.phase is Phase.INTERVIEWING and playing_purpose in INTERVIEW_PURPOSES:
            return [InterruptSpeech("speech_started")]
        return []

    def response_created(self, now: float, response_id: str, purpose: str) -> list[Action]:
        """``response.created`` bound to `purpose`. One the flow does not want (any more) is discarded:
        an assessment line it gave up waiting for or that was superseded, an interviewer turn after the
        trigger. The hosted service plays whatever it was asked for, however late."""
        stage = _STAGE_OF_PURPOSE.get(purpose)
        if stage is not None and self._stages[stage].response_id == response_id:
            return self._ignore(now, f"response_created:{purpose}", "duplicate")
        if not self.wants(purpose):
            if self.finished or (stage is None and purpose not in INTERVIEW_PURPOSES):
                return []
            why = f"not expected in {self.phase}"
            self._ignore(now, f"response_created:{purpose}", why)
            return [DiscardResponse(response_id, purpose, why)]
        if stage is None:
            return []
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

    def playback_done(self, now: float, response_id: str, *, heard: bool = True) -> list[Action]:
        """The last sample of a response was played (or it had none). `heard` False: its audio came
        but none of it could be played (not base64, not a string): an assessment line nobody heard,
        listed in `not_heard`."""
        stage = self._stage_of_id(response_id)
        if not heard and stage is not None and stage not in self.not_heard:
            self.not_heard.append(stage)
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
        self._transcripts_deadline = None
        if self.phase is Phase.AWAITING_REPORT:
            return self._send_summary(now, "report ready")
        return []

    def report_failed(self, now: float, error: str) -> list[Action]:
        """Report generation failed: the fallback summary will be spoken."""
        if self.report_state is not ReportState.RUNNING:
            return self._ignore(now, "report_failed", f"report {self.report_state}")
        self.report_state, self.report_error = ReportState.FAILED, error
        self._transcripts_deadline = None
        if self.phase is Phase.AWAITING_REPORT:
            return self._send_summary(now, "report failed")
        return []

    def connection_lost(self, now: float, reason: str) -> list[Action]:
        """The connection dropped: the flow ends ``disconnected`` (the report may still finish, built
        at once from the transcripts it has: no more will come)."""
        if self.finished:
            return self._ignore(now, "connection_lost", f"already {self.phase}")
        if self._offline_since is not None:  # it was being reopened, in vain
            self.offline_s += max(0.0, now - self._offline_since)
            self._offline_since = None
        self._enter(now, Phase.DISCONNECTED, reason, None)
        return [*self.stop_waiting_for_transcripts(now), EndSession("disconnected")]

    def connection_interrupted(self, now: float) -> list[Action]:
        """The connection dropped and a new one is being opened: nothing the server was doing will
        finish, and the time offline does not count against the phase's deadline (the report runs
        on: it does not need the connection)."""
        if not self.finished and self._offline_since is None:
            self._offline_since = now
        return []

    def connection_resumed(self, now: float, *, answer_in_progress: bool) -> list[Action]:
        """A new connection carries the interview on, told the conversation so far. While
        interviewing, the interviewer asks the next question (unless the candidate is still
        answering: the answer's end makes the server respond). In the assessment, the line the server
        had not finished is asked again and the flow goes on where it was; a line finished by the
        server plays out from what was received; the report is never restarted."""
        if self._offline_since is not None:
            offline = max(0.0, now - self._offline_since)
            self.offline_s += offline
            if self._deadline is not None:
                self._deadline += offline
            self._offline_since = None
        # Answers whose transcript had not come are heard again (their audio is sent again) under
        # new items; the old ones will never settle.
        self.answer_items = {i: how for i, how in self.answer_items.items() if how != _PENDING}
        if self.finished:
            return []
        if self.phase is Phase.INTERVIEWING:
            return [] if answer_in_progress else [RequestResponse("question", None)]
        for stage in ("ack", "summary", "goodbye"):
            if self.phase is _SENDING[stage] or (self.phase in _SPEAKING[stage]
                                                 and not self._stages[stage].done):
                cut = self._stages[stage].response_id
                self._stages[stage] = _Tracked()
                self._enter(now, _SENDING[stage], f"{stage} asked again after a reconnect",
                            self.settings.timeouts.response_created)
                return [self._line_request(stage, resumes=cut)]
        return []

    def fail_after_goodbye(self, now: float, reason: str, *, active_purpose: str | None = None,
                           playing_purpose: str | None = None) -> list[Action]:
        """An error the interview cannot go on from while the connection still works (the session
        folder cannot be written): the interviewer stops and says goodbye, then the flow ends
        ``failed``. Already saying goodbye, it just ends failed after it."""
        if self.finished:
            return self._ignore(now, "fail_after_goodbye", f"already {self.phase}")
        first = self._failing is None
        self._failing = self._failing or reason
        if not first or self.phase in (Phase.GOODBYE_SENDING, Phase.GOODBYE_SPEAKING):
            return []
        actions: list[Action] = [SilenceCandidate()]
        if active_purpose is not None:
            actions.append(CancelResponse())
        if playing_purpose is not None:
            actions.append(InterruptSpeech(f"ending: {reason}"))
        if self.phase is Phase.INTERVIEWING:
            actions.append(DisableTurnTaking())
        return actions + self._send_goodbye(now, f"ending: {reason}")

    def fail(self, now: float, reason: str) -> list[Action]:
        """An error the session cannot go on from."""
        if self.finished:
            return self._ignore(now, "fail", f"already {self.phase}")
        self._enter(now, Phase.FAILED, reason, None)
        return [*self.stop_waiting_for_transcripts(now), EndSession("failed")]

    def tick(self, now: float) -> list[Action]:
        """Check the timeouts, and the minute limit. While the connection is being reopened only the
        report's budget runs (the report does not need the connection); the phase deadlines wait."""
        offline = self._offline_since is not None
        minutes = self.settings.max_minutes
        if minutes is not None and self.phase is Phase.INTERVIEWING and now >= minutes * 60 and not offline:
            return self.trigger(now, TriggerSource.LIMIT)
        actions: list[Action] = []
        report_deadline = self._report_deadline()
        if report_deadline is not None and now >= report_deadline:
            limit = self.settings.timeouts.report
            self.report_state = ReportState.TIMED_OUT
            self.report_error = f"report generation timed out after {limit:g} s"
            self._timeout(now, "report", limit)
            self._transcripts_deadline = None  # abandoned: never built
            actions.append(AbandonReport(self.report_error))
            if self.phase is Phase.AWAITING_REPORT:
                actions += self._send_summary(now, "report timeout")
        if self._transcripts_deadline is not None and now >= self._transcripts_deadline:
            self._timeout(now, "transcripts", self.settings.timeouts.transcripts)
            actions += self._build_report()
        if self._deadline is not None and now >= self._deadline and not self.finished and not offline:
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

    def _start_report(self, now: float) -> list[Action]:
        self.report_state, self.report_started_at = ReportState.RUNNING, now
        self._transcripts_deadline = now + self.settings.timeouts.transcripts
        return [StartReport(), *self._build_if_settled()]

    def _build_if_settled(self) -> list[Action]:
        if self.awaiting_transcripts and _PENDING not in self.answer_items.values():
            return self._build_report()
        return []

    def _build_report(self) -> list[Action]:
        self._transcripts_deadline = None
        return [BuildReport(tuple(i for i, how in self.answer_items.items() if how != _TRANSCRIBED))]

    def _answer_settled(self, now: float, item_id: str | None, how: str) -> list[Action]:
        if item_id:
            if self.answer_items.get(item_id, _PENDING) != _PENDING:
                return self._ignore(now, f"answer_{how}", f"{item_id} settled already")
            self.answer_items[item_id] = how
        actions: list[Action] = []
        if self.phase is Phase.INTERVIEWING:
            self.answers += 1
            limit = self.settings.max_questions
            if limit is not None and self.answers >= limit:
                actions += self.trigger(now, TriggerSource.LIMIT)
        return actions + self._build_if_settled()

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
        return self._after_goodbye(now, f"goodbye played {rid}")

    def _after_ack(self, now: float, reason: str) -> list[Action]:
        actions: list[Action] = []
        if self.report_state is ReportState.NOT_STARTED:
            actions += self._start_report(now)
        if self.report_state is ReportState.RUNNING:
            self._enter(now, Phase.AWAITING_REPORT, reason, None)  # bounded by the report deadline
            return actions
        return actions + self._send_summary(now, reason)

    def _line_request(self, stage: str, *, resumes: str | None = None) -> RequestResponse:
        """The request for an assessment line: its purpose and its text."""
        if stage == "ack":
            return RequestResponse("ack", self.settings.ack_text, resumes)
        if stage == "goodbye":
            return RequestResponse("goodbye", self.settings.goodbye_text, resumes)
        if self.report_state is ReportState.READY:
            return RequestResponse("summary", self.summary_text, resumes)
        return RequestResponse("fallback", None, resumes)

    def _send_summary(self, now: float, reason: str) -> list[Action]:
        self._enter(now, Phase.SUMMARY_SENDING, reason, self.settings.timeouts.response_created)
        return [self._line_request("summary")]

    def _send_goodbye(self, now: float, reason: str) -> list[Action]:
        self._enter(now, Phase.GOODBYE_SENDING, reason, self.settings.timeouts.response_created)
        return [self._line_request("goodbye")]

    def _after_goodbye(self, now: float, reason: str) -> list[Action]:
        if self._failing is not None:
            return self.fail(now, self._failing)
        self._enter(now, Phase.COMPLETE, reason, None)
        return [EndSession(self.completed_outcome)]

    @property
    def completed_outcome(self) -> str:
        """``complete`` when the candidate heard the assessment (the summary or its fallback, and the
        goodbye); ``complete_degraded`` when either was given up on (`not_heard` says which)."""
        return "complete_degraded" if {"summary", "goodbye"} & set(self.not_heard) else "complete"

    def _phase_timeout(self, now: float) -> list[Action]:
        phase = self.phase
        waited = now - self._entered_at
        stage = next((s for s, phases in _SPEAKING.items() if phase is _SENDING[s] or phase in phases), None)
        if stage is not None:
            self.not_heard.append(stage)
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
            return self._after_goodbye(now, "timeout: goodbye not played")
        self._deadline = None  # interviewing and awaiting_report have no phase deadline
        return []
