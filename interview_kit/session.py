"""The interview session: the asyncio shell around the pure flow.

`InterviewSession` connects to a Realtime server with ``websockets``, configures the interview, streams
the candidate's audio, plays the interviewer's, and carries out what `AssessmentFlow` asks for at the
end: acknowledgement, report (off the event loop), summary, goodbye, close. Every event in and out,
every phase change, playback moment, loop stall and ping round trip lands in the session folder, on
every exit path.

Only this module awaits. Its dispatch of server events is synchronous (one handler call per frame);
sends go through a queue drained by one writer task; every ``response.create`` goes through the
`ResponseSequencer`. Report generation is awaited on the loop but runs in a thread of its own (a
synchronous assessor directly, an async one on a private loop there, since even building an async
client costs tens of milliseconds of blocking work), never on the loop, except in the ``blocking``
mode, which reproduces the original bug on purpose: a synchronous call inside a task still blocks the
loop, exactly as the original write-up's ``asyncio.create_task`` "fix" did.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import platform
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

import interview_kit
from interview_kit import protocol as proto
from interview_kit.assessment import (
    AssessmentPrompt,
    AssessmentReport,
    Assessor,
    HeuristicAssessor,
    OpenAIAssessor,
    fallback_summary,
    load_prompt,
    report_to_verbal_summary,
)
from interview_kit.audio import (
    PLAYBACK_ENDED,
    PLAYBACK_STARTED,
    AudioDeviceError,
    AudioInput,
    AudioOutput,
    ScriptedVoiceInput,
    SilenceInput,
    VirtualOutput,
)
from interview_kit.candidate import SimulatedCandidate
from interview_kit.config import SessionConfig
from interview_kit.eventlog import EventLog, strip_userinfo, url_secrets, write_json
from interview_kit.flow import (
    AbandonReport,
    Action,
    AssessmentFlow,
    DisableTurnTaking,
    EndSession,
    FlowSettings,
    FlowTimeouts,
    Phase,
    ReportStart,
    RequestResponse,
    StartReport,
)
from interview_kit.monitor import KeepaliveMonitor, LoopLagMonitor
from interview_kit.scenario import Scenario
from interview_kit.sequencer import ResponseSequencer
from interview_kit.transcript import BYTES_PER_MS, Transcript

log = logging.getLogger(__name__)

INTERVIEW_PURPOSES = frozenset({proto.AUTO_PURPOSE, "question"})
ACTIVE_RESPONSE_ERROR = "conversation_already_has_active_response"
AUDIO_DELTA = "response.output_audio.delta"

RecordListener = Callable[[dict[str, Any]], None]

OPENAI_MAX_RETRIES = 3  # the default assessor's retries; each attempt gets report_timeout / 4
STOP_REPORT_WAIT = 2.0  # seconds a stopped session still gives a running report before abandoning it


@dataclass
class SessionResult:
    """How a run ended, and where its folder is."""

    outcome: str  # complete | failed | disconnected | stopped
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


def _new_folder(out_dir: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(out_dir) / f"{stamp}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def _versions() -> dict[str, str]:
    """Package versions from their metadata: importing ``openai`` here would block the loop ~0.35 s."""
    try:
        openai_version = importlib.metadata.version("openai")
    except importlib.metadata.PackageNotFoundError:
        openai_version = "not installed"
    return {"interview_kit": interview_kit.__version__, "openai": openai_version,
            "websockets": websockets.__version__, "python": platform.python_version()}


def _chunk_ms(config: SessionConfig) -> int:
    """Input chunk length: `chunk_ms` at real time; longer when the audio clock runs fast, so that a
    sped-up rehearsal sends at most ~125 appends a second instead of 25 x speed."""
    return config.chunk_ms * max(1, int(config.speed // 5))


def _in_daemon_thread(fn: Callable[[], Any], *, name: str) -> asyncio.Future[Any]:
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


class InterviewSession:
    """One interview, from connect to a complete session folder.

    ``candidate`` given: a simulated candidate answers by voice from the scenario after each
    interviewer question has been played. ``output``/``input`` default to a virtual output and
    silence (or the candidate's scripted voice). ``assessor`` defaults to the one the config names.
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        output: AudioOutput | None = None,
        input: AudioInput | None = None,
        assessor: Assessor | None = None,
        candidate: Scenario | None = None,
        scenario_name: str | None = None,
    ) -> None:
        self.config = config
        self._prompt: AssessmentPrompt = load_prompt(config.prompt)  # bad prompt name: fail now, clearly
        self.assessor = assessor or self._default_assessor()
        self._output = output or VirtualOutput(None, speed=config.speed)
        self._output.tracker.on_event = self._on_playback
        self._candidate: SimulatedCandidate | None = None
        if candidate is not None:
            if input is not None and not isinstance(input, ScriptedVoiceInput):
                raise ValueError("a simulated candidate speaks through a ScriptedVoiceInput; "
                                 "pass none or one")
            voice = input or ScriptedVoiceInput(config.speed, chunk_ms=_chunk_ms(config))
            voice.on_speech = self._on_candidate_speech
            self._input: AudioInput = voice
            self._candidate = SimulatedCandidate(candidate, voice.say, speed=config.speed)
        else:
            self._input = input or SilenceInput(config.speed, chunk_ms=_chunk_ms(config))
        self._scenario_name = scenario_name or (candidate.name if candidate is not None else None)
        self._listeners: list[RecordListener] = []
        settings = FlowSettings(
            report_start=(ReportStart.AT_TRIGGER if config.assessment_mode == "overlap"
                          else ReportStart.AFTER_ACK),
            timeouts=FlowTimeouts(response_created=config.response_created_timeout,
                                  speaking=config.speaking_timeout, report=config.report_timeout),
            ack_text=config.line("ack"), goodbye_text=config.line("goodbye"),
        )
        self._flow = AssessmentFlow(settings, observer=self._on_flow_record)
        self._folder: Path | None = None
        self._log: EventLog | None = None
        self._ws: ClientConnection | None = None
        self._registry = proto.ResponseRegistry()
        self._outbox: asyncio.Queue[tuple[dict[str, Any], dict[str, Any] | None]] | None = None
        self._sequencer: ResponseSequencer | None = None
        self._transcript = Transcript(config.speed)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ended: asyncio.Event | None = None
        self._session_updated: asyncio.Event | None = None
        self._turn_taking_off: asyncio.Task[None] | None = None
        self._requests: list[asyncio.Task[Any]] = []  # response requests not yet settled, oldest first
        self._stop_pending = False  # stop() before run(): honoured as soon as run() starts
        self._report_task: asyncio.Task[None] | None = None
        self._report: AssessmentReport | None = None
        self._report_started: float | None = None
        self._report_duration: float | None = None  # start -> ready/failed, as the session saw it
        self._outcome: str | None = None
        self._close_code: int | None = None
        self._close_reason: str | None = None
        self._close_by: str | None = None
        self._closing = False  # we started the closing handshake
        self._secrets: list[str] = []
        self._audio_items: dict[str, str] = {}  # response id -> its audio item id
        self._with_audio: set[str] = set()
        self._finished_audio: set[str] = set()
        self._calls_handled: set[str] = set()
        self._answers = 0
        self._stall_monitor: LoopLagMonitor | None = None
        self._keepalive: KeepaliveMonitor | None = None
        self._started_wall: str | None = None
        self._running = False
        self._phase_name = str(Phase.INTERVIEWING)  # the flow's phase as logged (kept, not recomputed)

    # --- public surface -----------------------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        return self._flow.phase

    @property
    def flow(self) -> AssessmentFlow:
        """The assessment flow (read its `transitions`, `ignored`, `timeouts`; do not feed it)."""
        return self._flow

    @property
    def folder(self) -> Path | None:
        """The session folder, once `run()` has created it."""
        return self._folder

    def add_listener(self, cb: RecordListener) -> None:
        """`cb(record)` for every event-log record, called on the loop (the panel's live view)."""
        self._listeners.append(cb)
        if self._log is not None:
            self._log.add_listener(cb)

    def trigger_assessment(self, source: str = "button") -> None:
        """Start the assessment now (from the loop, or thread-safely from elsewhere).

        Raises RuntimeError before `run()` has started or after it has ended: there is no interview
        to assess.
        """
        if self._loop is None or self._log is None or self._log.closed:
            raise RuntimeError("the session is not running")
        self._call_on_loop(self._trigger, source)

    def stop(self) -> None:
        """End the session cleanly: the folder is completed, the outcome is ``stopped``.

        Called before `run()`, the stop is remembered: `run()` then ends at once with ``stopped`` and a
        complete folder.
        """
        if self._loop is None:
            self._stop_pending = True
            return
        self._call_on_loop(self._stop)

    async def run(self) -> SessionResult:
        """Run the interview to its end and return how it ended (never raises for network, server or
        assessor failures: those are outcomes)."""
        if self._running:
            raise RuntimeError("this session is already running; make a new InterviewSession per interview")
        self._running = True
        key = self._open()
        cancelled = False
        try:
            if self._stop_pending:
                self._stop()
            else:
                await self._run_connected(key)
        except asyncio.CancelledError:
            cancelled = True
            self._outcome = self._outcome or "stopped"
        except Exception as exc:  # a bug must still leave a complete folder, then surface
            self._error("session", exc)
            self._outcome = "failed"
            await self._finish()
            raise
        await self._finish()
        if cancelled:
            raise asyncio.CancelledError
        return self._result()

    def _open(self) -> str | None:
        """Create the folder, the event log and the loop-bound state; return the API key to use."""
        self._loop = asyncio.get_running_loop()
        self._ended = asyncio.Event()
        self._session_updated = asyncio.Event()
        self._outbox = asyncio.Queue()
        self._folder = _new_folder(self.config.out_dir)
        key = self.config.resolve_api_key()
        self._secrets = [s for s in (key, self.config.api_key, *url_secrets(self.config.base_url)) if s]
        self._log = EventLog(self._folder / "events.jsonl", secrets=self._secrets)
        for cb in self._listeners:
            self._log.add_listener(cb)
        self._sequencer = ResponseSequencer(
            self._enqueue, self._registry, done_timeout=self.config.sequencer_timeout,
            created_timeout=self.config.response_created_timeout,
            on_note=lambda kind, data: self._record("local", kind, data=data),
        )
        self._started_wall = datetime.now(UTC).isoformat()
        self._record("local", "session.started", data={"config": self.config.to_dict(),
                                                         "scenario": self._scenario_name})
        self._write_session_json()
        return key

    # --- connection -----------------------------------------------------------------------------

    async def _run_connected(self, key: str | None) -> None:
        url = self.config.realtime_url
        shown = strip_userinfo(url)  # what the folder may show: no user:password@
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        await self._output.start()  # a missing device is a setup error: raised before connecting
        try:
            ws = await websockets.connect(
                url, additional_headers=headers, ping_interval=self.config.ping_interval,
                ping_timeout=self.config.ping_timeout, close_timeout=self.config.close_timeout,
                open_timeout=self.config.connect_timeout, max_size=None,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            message = f"could not connect to {shown}: {type(exc).__name__}"
            if isinstance(exc, InvalidStatus) and status is not None:
                message += f" (HTTP {status})"
            elif str(exc):
                message += f": {strip_userinfo(str(exc))}"
            self._record("local", "error", data={"message": message, "where": "connect"})
            log.error("%s", message)
            self._apply(self._flow.fail(self._now(), "connect failed"))
            return
        self._ws = ws
        self._record("local", "connection.opened", data={"url": shown})
        self._stall_monitor = LoopLagMonitor(self._on_stall, threshold=self.config.stall_threshold)
        self._stall_monitor.start()
        self._keepalive = KeepaliveMonitor(ws.ping, self._on_ping, interval=self.config.ping_interval,
                                           timeout=self.config.ping_timeout)
        self._keepalive.start()
        receiver = self._spawn(self._receive(ws), "receive")
        self._spawn(self._write(ws), "write")
        self._spawn(self._pump_input(), "input")
        self._spawn(self._tick(), "tick")
        self._enqueue(proto.session_update(
            instructions=self.config.instructions, voice=self.config.voice,
            turn_detection=self._turn_detection(True), tools=[proto.END_INTERVIEW_TOOL],
            transcription_model=self.config.transcription_model, language=self.config.language,
        ))
        self._requests.append(self._spawn(self._start_interview(), "greeting"))
        assert self._ended is not None
        await self._ended.wait()
        if not receiver.done():  # we ended it (complete, stopped, failed): close our side
            await self._close(ws, 1000, self._outcome or "")

    async def _start_interview(self) -> None:
        await self._wait_session_updated()
        if self._flow.phase is Phase.INTERVIEWING:
            assert self._sequencer is not None
            await self._sequencer.request("question", proto.response_create("question"),
                                          still_wanted=lambda: self._flow.wants("question"))

    async def _wait_session_updated(self) -> None:
        assert self._session_updated is not None
        try:
            await asyncio.wait_for(self._session_updated.wait(), self.config.session_updated_timeout)
        except TimeoutError:
            self._record("local", "timeout", data={"waiting_for": "session.updated",
                                                   "after_s": self.config.session_updated_timeout})

    async def _close(self, ws: ClientConnection, code: int, reason: str) -> None:
        """Close with a bound: the hosted API may never answer a close frame."""
        self._closing = True
        try:
            await asyncio.wait_for(ws.close(code, reason[:120]), self.config.close_timeout + 0.5)
        except (TimeoutError, OSError, ConnectionClosed):
            ws.transport.abort()
        self._note_closed(ws.close_code or code, ws.close_reason or reason, "client")

    def _note_closed(self, code: int | None, reason: str | None, by: str) -> None:
        if self._close_by is not None:
            return
        self._close_code, self._close_reason, self._close_by = code, reason, by
        self._record("local", "connection.closed", data={"code": code, "reason": reason, "by": by})

    async def _receive(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                self._dispatch(frame)
        except ConnectionClosed as exc:
            rcvd, sent = exc.rcvd, exc.sent
            if self._closing and sent is not None:
                self._note_closed(sent.code, sent.reason, "client")
            elif rcvd is not None and (sent is None or exc.rcvd_then_sent):
                self._note_closed(rcvd.code, rcvd.reason, "server")
            elif sent is not None:
                self._note_closed(sent.code, sent.reason, "client")
            else:
                self._note_closed(1006, "connection lost without a close frame", "unknown")
        except Exception as exc:  # e.g. a transport error: the connection is gone all the same
            self._error("receive", exc)
            self._note_closed(1006, f"{type(exc).__name__}", "unknown")
        else:
            self._note_closed(ws.close_code, ws.close_reason, "client" if self._closing else "server")
        if self._sequencer is not None:
            self._sequencer.close()
        if not self._flow.finished and self._outcome is None:
            reason = f"connection closed: {self._close_code} {self._close_reason or ''}".strip()
            self._apply(self._flow.connection_lost(self._now(), reason))
        self._end("disconnected")

    async def _write(self, ws: ClientConnection) -> None:
        assert self._outbox is not None
        while True:
            event, extra = await self._outbox.get()
            try:
                text = json.dumps(event)
                await ws.send(text)
            except ConnectionClosed:
                return
            data = event if extra is None else {**event, **extra}
            self._record("out", event["type"], data=data, response_id=None,
                         item_id=event.get("item_id") or None)

    def _enqueue(self, event: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        """Queue a client event for the writer (never blocks the caller)."""
        if self._outbox is not None:
            self._outbox.put_nowait((event, extra))

    async def _pump_input(self) -> None:
        """Stream the input. A chunk is yielded once its last sample has been recorded, so the moment
        it is sent is the moment the stream reached its *end* (`audio_end_ms`)."""
        try:
            async for chunk in self._input.chunks():
                end_ms = self._input.position_ms
                start_ms = end_ms - len(chunk) / BYTES_PER_MS
                self._transcript.clock.appended(end_ms, self._now())
                self._enqueue(proto.input_audio_append(chunk),
                              {"audio_start_ms": round(start_ms, 3), "audio_end_ms": round(end_ms, 3)})
        except AudioDeviceError as exc:  # the microphone failed mid-run: no input will ever come again
            self._error("input", exc)
            self._apply(self._flow.fail(self._now(), f"input device: {exc}"))
        except Exception as exc:
            self._error("input", exc)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            now = self._now()
            if (self.config.max_minutes is not None and self._flow.phase is Phase.INTERVIEWING
                    and now >= self.config.max_minutes * 60):
                self._trigger("limit")
            self._apply(self._flow.tick(now))

    # --- server events --------------------------------------------------------------------------

    def _dispatch(self, frame: str | bytes) -> None:
        """One server frame: log it, bind its ids, hand it to its handler. Never raises."""
        try:
            event = proto.parse_server_event(frame)
        except proto.ProtocolError as exc:
            self._record("in", "invalid", data={"error": str(exc), "frame": str(frame)[:200]})
            return
        kind = event["type"]
        try:
            if kind == AUDIO_DELTA:
                self._on_audio_delta(event)
                return
            binding = None
            if kind == "response.created":
                binding = self._registry.created(event)
                rid = binding.response_id if binding else None
            elif kind == "response.done":
                binding = self._registry.done(event)
                rid = binding.response_id if binding else None
            else:
                streaming = kind.startswith("response.")
                rid = self._registry.resolve(event) if streaming else proto.response_id_of(event)
            self._record("in", kind, response_id=rid, item_id=proto.item_id_of(event), data=event)
            handler = self._HANDLERS.get(kind)
            if handler is not None:
                handler(self, event, rid, binding)
        except Exception as exc:  # a malformed event must not end the interview
            self._error(f"dispatch {kind}", exc)

    def _on_session_updated(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        assert self._session_updated is not None
        self._session_updated.set()

    def _on_response_created(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if binding is None:
            return
        assert self._sequencer is not None
        self._sequencer.on_created(binding)
        self._transcript.interviewer(binding.response_id, self._now(), binding.purpose)
        self._apply(self._flow.response_created(self._now(), binding.response_id, binding.purpose))

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        """The hot path (most frames are audio): decoded once, logged with its decoded size and the
        fields the top level does not already carry, queued for playback."""
        rid = self._registry.resolve(event)
        item = proto.item_id_of(event)
        pcm = proto.audio_of(event)
        if self._log is not None:
            self._log.record("in", AUDIO_DELTA, response_id=rid, item_id=item, phase=self._phase_name,
                             nbytes=len(pcm), data={"event_id": event.get("event_id"),
                                                    "output_index": event.get("output_index"),
                                                    "content_index": event.get("content_index")})
        if rid is None:
            return
        if item:
            self._audio_items.setdefault(rid, item)
        if pcm and rid not in self._finished_audio:
            self._with_audio.add(rid)
            self._output.enqueue(rid, pcm)

    def _on_audio_done(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if rid is not None:
            self._finish_audio(rid)

    def _finish_audio(self, rid: str) -> None:
        if rid in self._finished_audio:
            return
        self._finished_audio.add(rid)
        if rid in self._with_audio:
            self._output.finish(rid)  # playback.ended follows once its last sample has been played
        else:  # nothing to play: complete at once
            self._apply(self._flow.playback_done(self._now(), rid))

    def _on_transcript(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if rid is None:
            return
        item = proto.item_id_of(event)
        if event["type"].endswith(".done"):
            text = event.get("transcript")
            if isinstance(text, str):
                self._transcript.interviewer_text(rid, self._now(), final=text, item_id=item)
        else:
            delta = event.get("delta")
            if isinstance(delta, str):
                self._transcript.interviewer_text(rid, self._now(), delta=delta, item_id=item)

    def _on_function_call(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        for call in proto.function_calls_of(event):
            if call.call_id in self._calls_handled:
                continue
            self._calls_handled.add(call.call_id)
            if call.name == proto.END_INTERVIEW_TOOL["name"]:
                self._enqueue(proto.function_call_output(call.call_id, {"ok": True, "next": "assessment"}))
                self._trigger("tool")
            else:
                log.warning("the model called an unknown function %r", call.name)
                error = {"error": f"unknown function {call.name}"}
                self._enqueue(proto.function_call_output(call.call_id, error))

    def _on_response_done(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        self._on_function_call(event, rid, binding)
        if binding is None:
            return
        assert self._sequencer is not None
        self._sequencer.on_done(binding)
        now = self._now()
        self._transcript.interviewer(binding.response_id, now, binding.purpose)
        self._apply(self._flow.response_done(now, binding.response_id, binding.purpose))
        self._finish_audio(binding.response_id)

    def _on_speech_started(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        now = self._now()
        self._transcript.speech_started(proto.item_id_of(event), event.get("audio_start_ms"), now)
        if self._flow.phase is not Phase.INTERVIEWING:
            return  # barge-in is off during the assessment
        self._barge_in("speech_started")

    def _barge_in(self, why: str) -> None:
        playing = self._output.playing_response_id
        if playing is None or self._registry.purpose(playing) not in INTERVIEW_PURPOSES:
            return
        stopped, played_ms = self._output.interrupt()
        item = self._audio_items.get(stopped or "")
        self._record("local", "barge_in", response_id=stopped, item_id=item,
                     data={"played_ms": played_ms, "why": why})
        if stopped and item:
            self._enqueue(proto.item_truncate(item, played_ms))

    def _on_speech_stopped(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        self._transcript.speech_stopped(proto.item_id_of(event), event.get("audio_end_ms"), self._now())

    def _on_input_transcript(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        text = event.get("transcript")
        if not isinstance(text, str):
            return
        self._transcript.candidate_text(proto.item_id_of(event), text, self._now())
        if self._flow.phase is Phase.INTERVIEWING:
            self._answers += 1
            if self.config.max_questions is not None and self._answers >= self.config.max_questions:
                self._trigger("limit")

    def _on_error(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        code, message, event_id = proto.error_of(event)
        if code == ACTIVE_RESPONSE_ERROR:
            assert self._sequencer is not None
            self._sequencer.on_rejected(event_id)
            log.info("response.create rejected (active response); retrying after response.done")
        else:
            log.warning("server error %s: %s", code, message)

    _HANDLERS: ClassVar[dict[str, Callable[..., None]]] = {
        "session.updated": _on_session_updated,
        "response.created": _on_response_created,
        "response.output_audio.done": _on_audio_done,
        "response.output_audio_transcript.delta": _on_transcript,
        "response.output_audio_transcript.done": _on_transcript,
        "response.function_call_arguments.done": _on_function_call,
        "response.done": _on_response_done,
        "input_audio_buffer.speech_started": _on_speech_started,
        "input_audio_buffer.speech_stopped": _on_speech_stopped,
        "conversation.item.input_audio_transcription.completed": _on_input_transcript,
        "error": _on_error,
    }

    # --- local events -----------------------------------------------------------------------------

    def _on_playback(self, kind: str, rid: str, t: float, info: dict) -> None:
        assert self._log is not None
        now = t - self._log.t0
        purpose = self._registry.purpose(rid)
        self._record("local", kind, response_id=rid, item_id=self._audio_items.get(rid), t=now,
                     data={"purpose": purpose, **info})
        if kind == PLAYBACK_STARTED:
            self._transcript.interviewer_played(rid, now, started=True)
            self._apply(self._flow.playback_started(now, rid))
        elif kind == PLAYBACK_ENDED:
            self._transcript.interviewer_played(rid, now, started=False)
            self._apply(self._flow.playback_done(now, rid))
            if (self._candidate is not None and purpose in INTERVIEW_PURPOSES and not info.get("truncated")
                    and self._flow.phase is Phase.INTERVIEWING):
                self._candidate.question_played()

    def _on_candidate_speech(self, kind: str, position_ms: float) -> None:
        self._record("local", kind, data={"audio_ms": round(position_ms, 3)})

    def _on_stall(self, start: float, duration: float) -> None:
        assert self._log is not None
        self._record("local", "loop.stall", data={"duration_ms": round(duration * 1000, 3),
                                                  "started": round(start - self._log.t0, 6)})

    def _on_ping(self, rtt: float | None) -> None:
        data = {"timeout": True} if rtt is None else {"rtt_ms": round(rtt * 1000, 3)}
        self._record("local", "ping", data=data)

    def _on_flow_record(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "phase":
            self._phase_name = str(record["to"])
        data = {k: v for k, v in record.items() if k not in ("t", "phase")}
        phase = record.get("to") if kind == "phase" else record.get("phase")
        self._record("local", kind, phase=phase, t=record.get("t"), data=data)

    # --- the assessment -------------------------------------------------------------------------

    def _trigger(self, source: str) -> None:
        if self._flow.phase is not Phase.INTERVIEWING:
            self._apply(self._flow.trigger(self._now(), source))  # recorded as ignored
            return
        self._record("local", "assessment.trigger", data={"source": source})
        if self._candidate is not None:
            self._candidate.cancel()
            if isinstance(self._input, ScriptedVoiceInput):
                self._input.stop_speaking()  # mid-answer: it must not talk over the acknowledgement
        if source != "tool":  # end now: the interviewer stops mid-sentence
            assert self._sequencer is not None
            active = self._sequencer.active_id
            if active is not None and self._registry.purpose(active) in INTERVIEW_PURPOSES:
                self._enqueue(proto.response_cancel())
            self._barge_in(f"trigger:{source}")
        self._apply(self._flow.trigger(self._now(), source))

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, DisableTurnTaking):
                self._turn_taking_off = self._spawn(self._disable_turn_taking(), "turn-taking-off")
            elif isinstance(action, RequestResponse):
                self._drop_stale_requests()
                self._requests.append(self._spawn(self._request(action), f"request-{action.purpose}"))
            elif isinstance(action, StartReport):
                self._start_report()
            elif isinstance(action, AbandonReport):
                self._abandon_report(action.reason)
            elif isinstance(action, EndSession):
                self._end(action.outcome)

    async def _disable_turn_taking(self) -> None:
        assert self._session_updated is not None
        self._session_updated.clear()
        self._enqueue(proto.session_update(turn_detection=self._turn_detection(False)))
        await self._wait_session_updated()

    def _drop_stale_requests(self) -> None:
        """The flow asked for a new line, so it has moved past every earlier one: a request still
        waiting in the sequencer is cancelled, never sent late and out of order."""
        for task in self._requests:
            if not task.done():
                task.cancel()
        self._requests = []

    async def _request(self, action: RequestResponse) -> None:
        if self._turn_taking_off is not None:  # shielded: cancelling this request must not cancel it
            await asyncio.shield(self._turn_taking_off)
        # The fallback speaks the prompt's language, as a ready report's summary does.
        text = action.text if action.text is not None else fallback_summary(self._prompt.language)
        assert self._sequencer is not None
        await self._sequencer.request(action.purpose, proto.response_create(
            action.purpose, instructions=proto.say_exactly(text)),
            still_wanted=lambda: self._flow.wants(action.purpose))

    def _start_report(self) -> None:
        mode = self.config.assessment_mode
        self._report_started = time.monotonic()
        self._record("local", "report.started", data={"mode": mode, "prompt": self._prompt.name,
                                                      "model": self.assessor.model})
        turns = self._transcript.for_assessment(proto.ASSESSMENT_PURPOSES)
        if mode == "blocking":
            self._report_task = self._spawn(self._report_blocking(turns), "report")
        else:
            self._report_task = self._spawn(self._report_async(turns), "report")

    async def _report_async(self, turns: list[dict[str, str]]) -> None:
        """The fix: the report is awaited while all of its work runs off the loop, in its own thread.

        Even a natively async assessor runs there, on a private loop: building an ``AsyncOpenAI`` client
        and its first request cost 20-110 ms of synchronous work (SSL context, lazy imports), which on
        the interview's loop would be a stall of its own. A daemon thread, not the default executor, so
        an assessor that hangs cannot hold up the process's exit.
        """
        assessor, prompt = self.assessor, self._prompt
        if type(assessor).assess is Assessor.assess:  # synchronous only: call it directly in the thread
            work: Callable[[], AssessmentReport] = lambda: assessor.assess_sync(turns, prompt)  # noqa: E731
        else:
            work = lambda: asyncio.run(assessor.assess(turns, prompt))  # noqa: E731
        try:
            report = await _in_daemon_thread(work, name="interview-report")
        except Exception as exc:
            self._report_done(None, exc)
        else:
            self._report_done(report, None)

    async def _report_blocking(self, turns: list[dict[str, str]]) -> None:
        """The original bug, on purpose: a synchronous call inside a task blocks the whole loop."""
        try:
            report = self.assessor.assess_sync(turns, self._prompt)
        except Exception as exc:
            self._report_done(None, exc)
        else:
            self._report_done(report, None)

    def _report_done(self, report: AssessmentReport | None, error: BaseException | None) -> None:
        duration = time.monotonic() - (self._report_started or time.monotonic())
        self._report_duration = round(duration, 3)
        if self._report is not None:  # abandoned already (timed out): the late result is only noted
            self._record("local", "report.late", data={"duration_s": round(duration, 3),
                                                       "error": None if error is None else str(error)})
            return
        now = self._now()
        if report is not None:
            if report.duration_s is None:
                report.duration_s = round(duration, 3)
            try:
                language = getattr(report, "language", None) or self.config.language
                summary = report_to_verbal_summary(report, language=language)
            except Exception as exc:
                report, error = None, exc
            else:
                self._report = report
                self._save_report()
                self._record("local", "report.ready", data={"duration_s": round(duration, 3)})
                self._apply(self._flow.report_ready(now, summary))
                return
        message = f"{type(error).__name__}: {error}"
        self._fail_report(message)
        self._apply(self._flow.report_failed(now, message))

    def _fail_report(self, error: str) -> None:
        """Save a report that holds only `error` (generation failed, timed out, was abandoned or never
        started) and note it in the log; nothing is done when a report is saved already."""
        if self._report is not None:
            return
        started = self._report_started
        duration = None if started is None else round(time.monotonic() - started, 3)
        self._report = AssessmentReport.failed(self._prompt.name, self.assessor.model, error, duration)
        self._save_report()
        if started is not None:
            self._record("local", "report.failed", data={"duration_s": duration, "error": error})

    def _abandon_report(self, reason: str) -> None:
        self._fail_report(reason)
        if self._report_task is not None and not self._report_task.done():
            self._report_task.cancel()

    def _save_report(self) -> None:
        assert self._folder is not None and self._report is not None
        write_json(self._folder / "report.json", self._report.model_dump(mode="json"), secrets=self._secrets)

    # --- ending -----------------------------------------------------------------------------------

    def _end(self, outcome: str) -> None:
        if self._outcome is None:
            self._outcome = outcome
        if self._ended is not None:
            self._ended.set()

    def _stop(self) -> None:
        self._record("local", "stop.requested")
        self._end("stopped")

    async def _finish(self) -> None:
        """Every exit path: wait (bounded) for the report, stop everything, write every file.

        The files are written even when this is cancelled itself (a second Ctrl-C), then it re-raises.
        """
        try:
            await self._wind_down()
        except BaseException:
            self._abort()
            raise
        finally:
            self._write_final()

    def _abort(self) -> None:
        """Shutdown that cannot wait (cancelled while winding down): nothing may log after the end."""
        for task in list(self._tasks):
            if task is not self._report_task:
                task.cancel()
        for monitor in (self._stall_monitor, self._keepalive):
            if monitor is not None:
                monitor.cancel()
        if self._ws is not None and self._close_by is None:
            self._ws.transport.abort()
            self._note_closed(1006, "aborted: the session was cancelled while closing", "client")

    async def _wind_down(self) -> None:
        if self._candidate is not None:
            self._candidate.cancel()
        closing = self._input.close()
        report_task = self._report_task
        if report_task is not None and not report_task.done():
            remaining = self.config.report_timeout - (time.monotonic() - (self._report_started or 0.0))
            if self._outcome == "stopped":  # the user wants out now, not after the whole report budget
                remaining = min(remaining, STOP_REPORT_WAIT)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(report_task), max(0.1, remaining))
            if self._report is None:
                why = ("the session was stopped" if self._outcome == "stopped"
                       else f"the session ended ({self.config.report_timeout:g} s budget)")
                self._abandon_report(f"report generation did not finish before {why}")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(closing, 2.5)
        for task in list(self._tasks):
            if task is not report_task:
                task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2.0)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._close(self._ws, 1000, self._outcome or "")
        for monitor in (self._stall_monitor, self._keepalive):
            if monitor is not None:
                with contextlib.suppress(Exception):
                    await monitor.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._output.close(), 2.0)

    def _write_final(self) -> None:
        """The files every run leaves, whatever happened before (synchronous: nothing can cancel it)."""
        if self._report is None:
            self._fail_report("the interview ended before the assessment" if self._report_started is None
                              else "report generation did not finish")
        self._outcome = self._outcome or ("complete" if self._flow.phase is Phase.COMPLETE else "failed")
        assert self._folder is not None and self._log is not None
        write_json(self._folder / "transcript.json", self._transcript.as_dict(), secrets=self._secrets)
        self._record("local", "session.ended", data={"outcome": self._outcome})
        self._write_session_json(ended=True)
        self._log.close()

    def _write_session_json(self, *, ended: bool = False) -> None:
        assert self._folder is not None
        write_json(self._folder / "session.json", {
            "id": self._folder.name,
            "started": self._started_wall,
            "ended": datetime.now(UTC).isoformat() if ended else None,
            "outcome": self._outcome if ended else None,
            "close_code": self._close_code,
            "close_reason": self._close_reason,
            "closed_by": self._close_by,
            "config": self.config.to_dict(),
            "scenario": self._scenario_name,
            "assessment_mode": self.config.assessment_mode,
            "assessor": {"name": getattr(self.assessor, "name", type(self.assessor).__name__),
                         "model": self.assessor.model},
            "versions": _versions(),
            "trigger_source": self._flow.trigger_source,
            "phases": [t.as_dict() for t in self._flow.transitions],
            "longest_stall_ms": self._longest_stall_ms(),
        }, secrets=self._secrets)

    def _longest_stall_ms(self) -> float:
        return round(self._stall_monitor.longest_stall * 1000, 3) if self._stall_monitor else 0.0

    def _result(self) -> SessionResult:
        assert self._folder is not None and self._outcome is not None
        return SessionResult(
            outcome=self._outcome, folder=self._folder, close_code=self._close_code,
            close_reason=self._close_reason, phases=[t.as_dict() for t in self._flow.transitions],
            phase_durations=self._flow.phase_durations(),
            longest_stall_ms=self._longest_stall_ms(),
            ping_rtts_ms=[None if r is None else round(r * 1000, 3)
                          for r in (self._keepalive.round_trips if self._keepalive else [])],
            report_duration_s=self._report_duration,
            report_error=self._report.error if self._report else None,
            trigger_source=self._flow.trigger_source,
        )

    # --- helpers --------------------------------------------------------------------------------

    def _default_assessor(self) -> Assessor:
        if self.config.assessor == "heuristic":
            return HeuristicAssessor()
        # Each attempt gets an equal share of the report budget, so that retries fit inside it.
        attempts = OPENAI_MAX_RETRIES + 1
        return OpenAIAssessor(self.config.assessment_model, base_url=self.config.base_url,
                              api_key=self.config.resolve_api_key(),
                              timeout=self.config.report_timeout / attempts, max_retries=OPENAI_MAX_RETRIES)

    def _turn_detection(self, turn_taking: bool) -> dict[str, Any]:
        return proto.turn_detection(
            create_response=turn_taking, interrupt_response=turn_taking, threshold=self.config.vad_threshold,
            prefix_padding_ms=self.config.vad_prefix_padding_ms,
            silence_duration_ms=self.config.vad_silence_duration_ms,
        )

    def _now(self) -> float:
        return self._log.now() if self._log is not None else 0.0

    def _record(self, dir: str, type: str, *, response_id: str | None = None, item_id: str | None = None,
                phase: str | None = None, data: dict[str, Any] | None = None, t: float | None = None) -> None:
        if self._log is None:
            return
        self._log.record(dir, type, response_id=response_id, item_id=item_id,
                         phase=phase or self._phase_name, data=data, t=t)

    def _error(self, where: str, exc: BaseException) -> None:
        message = f"{type(exc).__name__}: {exc}"
        log.warning("error in %s: %s", where, message, exc_info=log.isEnabledFor(logging.DEBUG))
        self._record("local", "error", data={"message": message, "where": where})

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
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)
