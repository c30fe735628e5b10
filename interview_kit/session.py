"""The interview session: the asyncio shell around the pure flow, and nothing but wiring.

`InterviewSession` connects through a `RealtimeTransport` (a websocket by default), configures the
interview, streams the candidate's audio, plays the interviewer's, and carries out what
`AssessmentFlow` decides: interrupt, cancel, ask for a spoken line, start or abandon the report, end.
The decisions live in the flow; what each event means in `SessionEvents`; the report's run in
`ReportRunner`; the files in `SessionFolder`; sending and receiving in `Connection`; every time comes
from one clock (`clock.loop_time`).

Only this module awaits. Dispatch of server events is synchronous (one handler call per frame);
every ``response.create`` goes through the `ResponseSequencer`. Record names are ``records.Rec``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interview_kit import protocol as proto
from interview_kit.assessment import Assessor, fallback_summary, load_prompt
from interview_kit.audio import (
    AudioDeviceError,
    AudioInput,
    AudioOutput,
    ScriptedVoiceInput,
    SilenceInput,
    VirtualOutput,
)
from interview_kit.audio.recorder import SessionRecorder
from interview_kit.candidate import SimulatedCandidate
from interview_kit.clock import loop_time
from interview_kit.config import SessionConfig
from interview_kit.connection import Connection
from interview_kit.eventlog import url_secrets
from interview_kit.flow import (
    AbandonReport,
    Action,
    AssessmentFlow,
    BuildReport,
    CancelResponse,
    DisableTurnTaking,
    DiscardResponse,
    EndSession,
    FlowSettings,
    FlowTimeouts,
    InterruptSpeech,
    Phase,
    ReportStart,
    RequestResponse,
    SilenceCandidate,
    StartReport,
)
from interview_kit.folder import REPORT_FILE, SessionFolder
from interview_kit.monitor import KeepaliveMonitor, LoopLagMonitor
from interview_kit.records import (
    INTERVIEW_PURPOSES,
    AssessmentMode,
    Dir,
    Outcome,
    Purpose,
    Rec,
    TriggerSource,
)
from interview_kit.report_runner import ReportRunner, default_assessor
from interview_kit.scenario import Scenario
from interview_kit.sequencer import ResponseSequencer
from interview_kit.session_ending import SessionEnding, SessionResult
from interview_kit.session_events import SessionEvents
from interview_kit.session_link import SessionLink
from interview_kit.transcript import Transcript
from interview_kit.transport import RealtimeTransport, WebsocketTransport

log = logging.getLogger(__name__)

RecordListener = Callable[[dict[str, Any]], None]


def _chunk_ms(config: SessionConfig) -> int:
    """Input chunk length: `chunk_ms` at real time; longer when the audio clock runs fast, so that a
    sped-up rehearsal sends at most ~125 appends a second instead of 25 x speed."""
    return config.chunk_ms * max(1, int(config.speed // 5))


class InterviewSession(SessionEvents, SessionLink, SessionEnding):
    """One interview, from connect to a complete session folder.

    ``candidate`` given: a simulated candidate answers by voice from the scenario after each question
    has been played. ``output``/``input`` default to a virtual output and silence (or the candidate's
    scripted voice); ``assessor`` to the one the config names; ``transport`` to a websocket to the
    config's URL (tests pass an `InMemoryTransport`, replay a `ReplayTransport`); ``wall_clock`` to
    the machine's (a replay passes the recording's, so that its `expires_at` means what it meant).
    """

    def __init__(self, config: SessionConfig, *, output: AudioOutput | None = None,
                 input: AudioInput | None = None, assessor: Assessor | None = None,
                 candidate: Scenario | None = None, scenario_name: str | None = None,
                 transport: RealtimeTransport | None = None,
                 wall_clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self._prompt = load_prompt(config.prompt)  # a bad prompt name fails now, clearly
        self.assessor = assessor or default_assessor(config)
        self._output = output or VirtualOutput(None, speed=config.speed, clock=loop_time)
        self._output.tracker.on_event = self._on_playback
        self._candidate: SimulatedCandidate | None = None
        if candidate is not None:
            if input is not None and not isinstance(input, ScriptedVoiceInput):
                raise ValueError("a simulated candidate speaks through a ScriptedVoiceInput; "
                                 "pass none or one")
            voice = input or ScriptedVoiceInput(config.speed, chunk_ms=_chunk_ms(config))
            voice.on_speech = lambda kind, ms: self._record(Dir.LOCAL, kind, data={"audio_ms": round(ms, 3)})
            self._input: AudioInput = voice
            self._candidate = SimulatedCandidate(candidate, voice.say, speed=config.speed)
        else:
            self._input = input or SilenceInput(config.speed, chunk_ms=_chunk_ms(config))
        self._scenario_name = scenario_name or (candidate.name if candidate is not None else None)
        self._transport = transport
        self._wall_clock = wall_clock or time.time  # what the server's epoch times are read against
        self._mode = AssessmentMode(config.assessment_mode)
        self._flow = AssessmentFlow(FlowSettings(
            report_start=(ReportStart.AT_TRIGGER if self._mode is AssessmentMode.OVERLAP
                          else ReportStart.AFTER_ACK),
            timeouts=FlowTimeouts(response_created=config.response_created_timeout,
                                  speaking=config.speaking_timeout, report=config.report_timeout,
                                  transcripts=config.transcript_wait),
            ack_text=config.line("ack"), goodbye_text=config.line("goodbye"),
            max_questions=config.max_questions, max_minutes=config.max_minutes,
        ), observer=self._on_flow_record)
        self._report = ReportRunner(
            self.assessor, self._prompt, mode=self._mode, language=config.language,
            on_ready=lambda summary: self._apply(self._flow.report_ready(self._now(), summary)),
            on_failed=lambda error: self._apply(self._flow.report_failed(self._now(), error)),
            on_note=lambda kind, data: self._record(Dir.LOCAL, kind, data=data),
            save=lambda report: self._write(REPORT_FILE, report.model_dump(mode="json")),
        )
        self._registry = proto.ResponseRegistry()
        self._transcript = Transcript()
        self._listeners: list[RecordListener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._requests: list[asyncio.Task[Any]] = []  # response requests not yet settled, oldest first
        self._audio_items: dict[str, str] = {}  # response id -> its audio item id
        self._with_audio: set[str] = set()
        self._finished_audio: set[str] = set()  # (and discarded ones': never played)
        self._unplayable: set[str] = set()  # responses whose audio came but could not be decoded
        self._discarded: set[str] = set()  # responses cancelled at their creation (flow: unwanted)
        self._calls_handled: set[str] = set()
        self._expires_at: int | None = None  # session.expires_at, as the server last said
        self._folder: SessionFolder | None = None
        self._conn: Connection | None = None
        self._recorder: SessionRecorder | None = None  # both sides' audio in the folder (record_audio)
        self._sequencer: ResponseSequencer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Event | None = None
        self._session_updated: asyncio.Event | None = None
        self._turn_taking_off: asyncio.Task[None] | None = None
        self._stall_monitor: LoopLagMonitor | None = None
        self._keepalive: KeepaliveMonitor | None = None
        self._outcome: Outcome | None = None
        self._stop_pending = False  # stop() before run(): honoured as soon as run() starts
        self._running = False
        self._init_link()

    # --- public surface -------------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._flow.phase

    @property
    def flow(self) -> AssessmentFlow:
        """The assessment flow (read its `transitions`, `ignored`, `timeouts`; do not feed it)."""
        return self._flow

    @property
    def elapsed(self) -> float:
        """Seconds since the session started, on its event log's clock (0 before `run()`)."""
        return self._now()

    @property
    def folder(self) -> Path | None:
        """The session folder, once `run()` has created it."""
        return self._folder.path if self._folder else None

    def add_listener(self, cb: RecordListener) -> None:
        """`cb(record)` for every event-log record, called on the loop (the panel's live view)."""
        self._listeners.append(cb)
        if self._folder is not None:
            self._folder.log.add_listener(cb)

    def note(self, kind: str, data: dict[str, Any]) -> None:
        """A local record of the caller's own into the event log (the browser audio's
        ``audio.latency``), thread-safely; nothing before `run()` has made the folder."""
        if self._loop is not None and self._folder is not None and not self._folder.log.closed:
            self._call_on_loop(lambda: self._record(Dir.LOCAL, kind, data=data))

    def trigger_assessment(self, source: str = TriggerSource.BUTTON) -> None:
        """Start the assessment now (from the loop, or thread-safely from elsewhere); RuntimeError when
        no interview is running."""
        if self._loop is None or self._folder is None or self._folder.log.closed:
            raise RuntimeError("the session is not running")
        self._call_on_loop(self._trigger, source)

    def stop(self) -> None:
        """End the session cleanly (outcome ``stopped``); before `run()`, run() then ends at once."""
        if self._loop is None:
            self._stop_pending = True
        else:
            self._call_on_loop(self._stop)

    async def run(self) -> SessionResult:
        """Run the interview to its end; network, server and assessor failures are outcomes, not raised."""
        if self._running:
            raise RuntimeError("this session is already running; make a new InterviewSession per interview")
        self._running = True
        transport = self._open()
        cancelled = False
        try:
            if self._stop_pending:
                self._stop()
            else:
                await self._run_connected(transport)
        except asyncio.CancelledError:
            cancelled = True
            self._outcome = self._outcome or Outcome.STOPPED
        except Exception as exc:  # a bug must still leave a complete folder, then surface
            self._error("session", exc)
            self._outcome = Outcome.FAILED
            await self._finish()
            raise
        await self._finish()
        if cancelled:
            raise asyncio.CancelledError
        return self._result()

    # --- start ----------------------------------------------------------------------------------------

    def _open(self) -> RealtimeTransport:
        """Create the folder, its log and the loop-bound state; return the transport to use."""
        self._loop = asyncio.get_running_loop()
        self._ended, self._session_updated = asyncio.Event(), asyncio.Event()
        key = self.config.resolve_api_key()
        self._folder = SessionFolder(self.config.out_dir, secrets=[
            s for s in (key, self.config.api_key, *url_secrets(self.config.base_url)) if s],
            on_write_error=self._on_write_error)
        for cb in self._listeners:
            self._folder.log.add_listener(cb)
        if self.config.records_audio:  # on the log's clock: sample / 24 kHz = t
            self._recorder = SessionRecorder(
                self._folder.path, t0=self._folder.log.t0, speed=self.config.speed,
                on_error=self._recording_stopped)
            self._recorder.attach(self._input, self._output)
        if self._transport is None:
            c = self.config
            self._transport = WebsocketTransport(
                c.realtime_url, headers={"Authorization": f"Bearer {key}"} if key else {},
                ping_interval=c.ping_interval, ping_timeout=c.ping_timeout, close_timeout=c.close_timeout,
                open_timeout=c.connect_timeout)
        self._record(Dir.LOCAL, Rec.SESSION_STARTED, data={"config": self.config.to_dict(),
                                                           "scenario": self._scenario_name})
        self._write_session_json()
        return self._transport

    async def _run_connected(self, transport: RealtimeTransport) -> None:
        await self._output.start()  # a missing device is a setup error: raised before connecting
        await self._prepare_assessor()
        self._stall_monitor = LoopLagMonitor(self._on_stall, threshold=self.config.stall_threshold,
                                             clock=loop_time)
        self._stall_monitor.start()
        # The interview's settings go first: refused (`_on_error`) or unconfirmed, it does not start.
        if not await self._open_link(transport):
            self._apply(self._flow.fail(self._now(), "connect failed"))
            return
        if self.config.max_minutes is not None:
            log.info("interview limit: %g min (max_minutes); the assessment starts then",
                     self.config.max_minutes)
        for coro, name in ((self._pump_input(), "input"), (self._tick(), "tick")):
            self._spawn(coro, name)
        self._requests.append(self._spawn(self._start_interview(), "greeting"))
        assert self._ended is not None
        await self._ended.wait()
        if self._conn is not None and self._conn.open:  # we ended it (complete, stopped, failed)
            await self._conn.close(1000, self._outcome or "")

    async def _prepare_assessor(self) -> None:
        """The assessor's slow set-up, in a thread before the interview (not mid-interview, where it
        would stall the loop); a failure here is the report's to meet later, not the interview's."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.assessor.prepare), 10.0)
        except Exception as exc:
            log.info("preparing the assessor failed (the report will try again): %s", exc)

    async def _start_interview(self) -> None:
        await self._wait_session_updated(first=True)
        if self._flow.phase is Phase.INTERVIEWING:
            assert self._sequencer is not None
            await self._sequencer.request(Purpose.QUESTION, proto.response_create(Purpose.QUESTION),
                                          still_wanted=lambda: self._flow.wants(Purpose.QUESTION))

    async def _wait_session_updated(self, *, first: bool = False) -> None:
        """Wait for `session.updated`. For the `first` update (the interview's settings: its tool, the
        transcription, the voice) none in time is fatal: the server would run on its defaults, and an
        interview without its end_interview tool never ends. Later updates go on after a timeout."""
        assert self._session_updated is not None
        limit = self.config.session_updated_timeout
        try:
            await asyncio.wait_for(self._session_updated.wait(), limit)
        except TimeoutError:
            self._record(Dir.LOCAL, Rec.TIMEOUT, data={"waiting_for": Rec.SESSION_UPDATED, "after_s": limit})
            if first and not self._flow.finished:
                reason = f"session.update not confirmed: no session.updated within {limit:g} s"
                log.error("%s; the interview does not start", reason)
                self._apply(self._flow.fail(self._now(), reason))

    async def _pump_input(self) -> None:
        """Stream the input. A chunk is yielded once its last sample has been recorded, so the moment
        it is sent is the moment the stream reached its *end* (`audio_end_ms`)."""
        try:
            async for chunk in self._input.chunks():
                end_ms = self._input.position_ms
                self._transcript.clock.appended(end_ms, self._now())
                self._send_audio(chunk, end_ms)
        except AudioDeviceError as exc:  # the microphone failed mid-run: no input will ever come again
            self._error("input", exc)
            self._apply(self._flow.fail(self._now(), f"input device: {exc}"))
        except Exception as exc:
            self._error("input", exc)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            self._apply(self._flow.tick(self._now()))
            self._check_link()

    # --- the flow's actions ---------------------------------------------------------------------------

    def _trigger(self, source: str) -> None:
        active = self._sequencer.active_id if self._sequencer is not None else None
        self._apply(self._flow.trigger(self._now(), source, active_purpose=self._registry.purpose(active),
                                       playing_purpose=self._registry.purpose(self._output.playing_response_id)))

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, InterruptSpeech):
                self._interrupt(action.why)
            elif isinstance(action, CancelResponse) and self._online:
                self._conn.send(proto.response_cancel())
            elif isinstance(action, SilenceCandidate) and self._candidate is not None:
                self._candidate.cancel()
                if isinstance(self._input, ScriptedVoiceInput):
                    self._input.stop_speaking()  # mid-answer: it must not talk over the acknowledgement
            elif isinstance(action, DisableTurnTaking):
                self._turn_taking_off = self._spawn(self._disable_turn_taking(), "turn-taking-off")
            elif isinstance(action, RequestResponse):
                for task in self._requests:  # the flow moved past every earlier line: never send one late
                    task.cancel()
                self._requests = [self._spawn(self._request(action), f"request-{action.purpose}")]
            elif isinstance(action, StartReport):
                self._report.start()
            elif isinstance(action, BuildReport):
                self._report.build(self._transcript.for_assessment(proto.ASSESSMENT_PURPOSES), action.missing)
            elif isinstance(action, DiscardResponse):
                self._discard(action)
            elif isinstance(action, AbandonReport):
                self._report.abandon(action.reason)
            elif isinstance(action, EndSession):
                self._end(Outcome(action.outcome))

    def _interrupt(self, why: str) -> None:
        """Stop playback; truncate the item to what was heard, kept inside what the server will take."""
        stopped, played_ms = self._output.interrupt()
        item = self._audio_items.get(stopped or "")
        end_ms = proto.truncate_end_ms(played_ms, self._output.received_ms(stopped),
                                       finished=stopped in self._finished_audio) if stopped else None
        self._record(Dir.LOCAL, Rec.BARGE_IN, response_id=stopped, item_id=item,
                     data={"played_ms": played_ms, "why": why, "audio_end_ms": end_ms})
        if item and end_ms is not None and self._conn is not None:
            self._conn.send(proto.item_truncate(item, end_ms))

    async def _disable_turn_taking(self) -> None:
        assert self._session_updated is not None and self._conn is not None
        self._session_updated.clear()
        self._conn.send(proto.session_update(turn_detection=self._turn_detection(False),
                                             event_id=proto.TURN_TAKING_OFF_ID))
        await self._wait_session_updated()

    async def _request(self, action: RequestResponse) -> None:
        if self._turn_taking_off is not None:  # shielded: cancelling this request must not cancel it
            await asyncio.shield(self._turn_taking_off)
        assert self._sequencer is not None
        if action.purpose in INTERVIEW_PURPOSES:  # after a resume: the interviewer goes on
            await self._sequencer.request(Purpose.QUESTION, proto.response_create(Purpose.QUESTION),
                                          still_wanted=lambda: self._flow.wants(Purpose.QUESTION))
            return
        # The fallback speaks the prompt's language, as a ready report's summary does.
        text = action.text if action.text is not None else fallback_summary(self._prompt.language)
        text = self._resumed_text(text, action.resumes)
        await self._sequencer.request(action.purpose, proto.response_create(  # spoken, never a tool call
            action.purpose, instructions=proto.say_exactly(text), tool_choice="none"),
            still_wanted=lambda: self._flow.wants(action.purpose))

    # --- ending ---------------------------------------------------------------------------------------

    def _end(self, outcome: Outcome) -> None:
        self._outcome = self._outcome or outcome
        if self._ended is not None:
            self._ended.set()

    def _stop(self) -> None:
        self._record(Dir.LOCAL, Rec.STOP_REQUESTED)
        self._end(Outcome.STOPPED)

    # --- helpers --------------------------------------------------------------------------------------

    def _turn_detection(self, turn_taking: bool) -> dict[str, Any]:
        c = self.config
        return proto.turn_detection(create_response=turn_taking, interrupt_response=turn_taking,
                                    threshold=c.vad_threshold, prefix_padding_ms=c.vad_prefix_padding_ms,
                                    silence_duration_ms=c.vad_silence_duration_ms)

    def _now(self) -> float:
        return self._folder.log.now() if self._folder is not None else 0.0

    def _write(self, filename: str, obj: Any) -> None:
        assert self._folder is not None
        self._folder.write(filename, obj)

    def _record(self, dir: str, type: str, *, response_id: str | None = None, item_id: str | None = None,
                phase: str | None = None, data: dict[str, Any] | None = None, t: float | None = None) -> None:
        if self._folder is not None:
            self._folder.log.record(dir, type, response_id=response_id, item_id=item_id,
                                    phase=phase or self._flow.phase, data=data, t=t)

    def _recording_stopped(self, exc: BaseException) -> None:
        """The audio recording stopped (a disk error, too little room left; said on the loop): the
        interview goes on without it; the event log says why, the log at -v (a full disk says so
        itself, once)."""
        log.info("audio recording stopped: %s", exc)
        self._record(Dir.LOCAL, Rec.ERROR, data={"message": f"{type(exc).__name__}: {exc}",
                                                 "where": "recording"})

    def _error(self, where: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        log.warning("error in %s: %s", where, message, exc_info=log.isEnabledFor(logging.DEBUG))
        self._record(Dir.LOCAL, Rec.ERROR, data={"message": message, "where": where})

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"session-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._error(task.get_name(), task.exception())  # type: ignore[arg-type]

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is None or running is self._loop:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)
