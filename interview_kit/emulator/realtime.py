"""One realtime connection: the conversation state, the client events it accepts and the events it sends.

The connection runs three kinds of task: the reader (this class's `run`), the keepalive pinger, and at
most one response at a time (`responses.ResponseRun`, which sees this class as its `ResponseHost`).
It talks to a `sockets.ServerSocket`, never to a websocket library: `websocket.AiohttpSocket` serves
it on the wire, `inmemory.PeerSocket` over an ``InMemoryTransport``. Every time it keeps is on the
event loop's clock (``loop.time()``, ``asyncio.sleep``). Bad client input becomes an ``error`` event,
never an exception that ends the connection.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from openai.types.realtime import (
    ConversationItemAdded,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
    RealtimeResponseCreateParams,
    RealtimeSessionCreateRequest,
    SessionUpdatedEvent,
)

import interview_kit.emulator.events as ev
from interview_kit.audio.format import BYTES_PER_MS
from interview_kit.emulator.checks import ClientEventError, check_model, field, warm_up
from interview_kit.emulator.faults import ConnectionFaults, FaultCounts
from interview_kit.emulator.items import ConversationItems
from interview_kit.emulator.responses import ResponsePlan, ResponseRun, purpose_of
from interview_kit.emulator.rules import (
    ITEM_PARAM,
    RESPONSE_PARAMS,
    check_event,
    check_event_keys,
    check_param,
)
from interview_kit.emulator.script import InterviewScript
from interview_kit.emulator.session_config import apply_update, checked_tools, default_session, tool_names
from interview_kit.emulator.sockets import ServerSocket
from interview_kit.emulator.vad import EnergyVad
from interview_kit.scenario import Fault, Scenario, load_scenario

log = logging.getLogger(__name__)

# The hosted limit: "up to a maximum of 15 MiB" per event (the SDK's InputAudioBufferAppendEvent
# docstring). Larger events get `event_too_large`; frames above MAX_FRAME_BYTES are refused by the
# websocket layer (close 1009), as any server must bound what it buffers.
MAX_EVENT_BYTES = 15 * 1024 * 1024
MAX_FRAME_BYTES = 2 * MAX_EVENT_BYTES
MIN_COMMIT_MS = 100
CLOSE_REPLY_TIMEOUT = 11.0  # a little over aiohttp's own 10 s wait for the client's close frame
DEFAULT_MODEL = "gpt-realtime"
ITEM_MODELS: dict[tuple[str, str | None], Any] = {  # the openai model of each item a client may create
    ("message", "system"): RealtimeConversationItemSystemMessage,
    ("message", "user"): RealtimeConversationItemUserMessage,
    ("message", "assistant"): RealtimeConversationItemAssistantMessage,
    ("function_call", None): RealtimeConversationItemFunctionCall,
    ("function_call_output", None): RealtimeConversationItemFunctionCallOutput,
}

ScenarioLike = str | Path | Scenario


def duration_words(seconds: float) -> str:
    """`seconds` as the hosted session_expired message says it: ``30 minutes`` (or ``45 seconds``)."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


def _assistant_part(part: dict[str, Any], param: str) -> None:
    """An assistant message a client creates carries text: the hosted service "cannot populate
    assistant audio messages" (SDK ``ConversationItemCreateEvent``) and wants ``text`` even on an
    ``output_audio`` part that has a transcript (openai/openai-agents-js#963)."""
    if "audio" in part:
        raise ClientEventError(
            "Invalid 'audio': assistant audio messages cannot be created; send the text instead.",
            "invalid_value",
            f"{param}.audio",
        )
    if "text" not in part:
        raise ClientEventError(
            f"Missing required parameter: '{param}.text'.", "missing_required_parameter", f"{param}.text"
        )


def as_scenario(scenario: ScenarioLike) -> Scenario:
    """A Scenario from itself, a shipped name or a path."""
    return scenario if isinstance(scenario, Scenario) else load_scenario(scenario)


class RealtimeConversation:
    """The server side of one realtime connection, over any `ServerSocket`."""

    def __init__(
        self,
        socket: ServerSocket,
        scenario: Scenario,
        model: str = DEFAULT_MODEL,
        shared: FaultCounts | None = None,
    ) -> None:
        """`shared` counts the `reconnectable` faults across the connections of one emulator."""
        self.socket = socket
        self.scenario = scenario
        self.loop = asyncio.get_running_loop()
        self.session = default_session(model)
        self.script = InterviewScript(scenario)
        self.faults = ConnectionFaults(scenario, shared)
        self._expiry = self.faults.expiry()  # a session_expiry fault that may fire on this connection
        limits = [scenario.hosted.max_session_s] if scenario.hosted_like else []
        if self._expiry is not None:
            limits.append((self._expiry.at or 0.0) / scenario.speed)
        if limits:  # the hosted service's session.created says when it will end
            self.session["expires_at"] = int(time.time() + min(limits))
        self._conversation_id = ev.new_id("conv")
        self._items = ConversationItems()
        td = self.turn_detection
        self.vad = EnergyVad(
            td.get("threshold", 0.5), td.get("prefix_padding_ms", 300), td.get("silence_duration_ms", 500)
        )
        self.input_bytes = 0  # all audio appended since connect: the stream the VAD positions count in
        self.buffer_bytes = 0  # audio appended since the last commit or clear
        self.speech_item_id: str | None = None
        self.active: ResponseRun | None = None
        self._spoke = False  # a finished response has sent audio: the voice is fixed from now on
        self.running = asyncio.Event()  # cleared while a `stall` fault holds the server
        self.running.set()
        self._stalled_seconds = 0.0  # total time stalls have held the server: audio pacing shifts by it
        self.stopped = False  # a `stop_reading` fault: the server reads, answers and sends nothing, for good
        self._gone = asyncio.Event()  # set once the connection is over (closed or aborted)
        self.silent = False  # a `silent` fault: it reads and answers pings but sends no event
        self._errors: dict[tuple[str | None, str | None], int] = {}  # error events sent, by code and param
        self._crashes: set[str] = set()  # kinds of handler failures already logged with a traceback
        self.closed = False
        self.started_at = self.loop.time()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Future[None] | None = None  # set while a close waits for the reply
        self._reader: asyncio.Task[None] | None = None
        self._requests_left = 5000
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.delete": self._item_delete,
            "conversation.item.retrieve": self._item_retrieve,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
            "output_audio_buffer.clear": self._output_clear,
        }
        # these handlers judge their own event (their checks first, then the client type's, rules.py)
        self._checked_by_handler = frozenset(
            {"session.update", "conversation.item.create", "response.create"}
        )

    # ---- plumbing -------------------------------------------------------------------------------

    @property
    def turn_detection(self) -> dict[str, Any]:
        """The session's turn detection, or {} when it is off."""
        return self.session["audio"]["input"].get("turn_detection") or {}

    @property
    def speed(self) -> float:
        return self.scenario.speed

    # ---- what a response sees (responses.ResponseHost) -----------------------------------------------

    @property
    def conversation_id(self) -> str:
        return self._conversation_id

    @property
    def items(self) -> ConversationItems:
        return self._items

    @property
    def stalled_seconds(self) -> float:
        return self._stalled_seconds

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def send(self, event: dict[str, Any]) -> None:
        await self.send_text(ev.dumps(event))

    async def send_text(self, text: str) -> None:
        """Send one event; a connection already gone is not an error (the reader will notice).
        During a `stall` nothing goes out: the event waits for the stall to end."""
        if not self.running.is_set():
            await self.running.wait()
        if self.closed or self.silent:
            return
        try:
            await self.socket.send_text(text)
        except ConnectionError as exc:
            log.debug("send after close: %s", exc)
            self.closed = True

    async def send_error(
        self,
        message: str,
        code: str | None,
        param: str | None = None,
        event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        """Send an ``error`` event. Each distinct error (code and param) is logged once per
        connection, when first sent; `run` logs how often each was sent at the end, so a client
        that repeats a mistake a thousand times makes two log lines, not a thousand. The message is
        not logged: it may quote a value the client sent, and a value may be a secret."""
        key = (code, param)
        self._errors[key] = self._errors.get(key, 0) + 1
        if self._errors[key] == 1:
            where = f" ({param})" if param else ""
            log.info("error %s%s sent to the client", code, where)
        await self.send(ev.error_event(message, code=code, param=param, event_id=event_id, type_=type_))

    def _log_error_counts(self) -> None:
        for (code, param), n in self._errors.items():
            if n > 1:
                where = f" ({param})" if param else ""
                log.info("error %s%s was sent %d times on this connection", code, where, n)

    async def close(self, code: int, reason: str) -> None:
        """Close with a close frame and wait (bounded by the socket) for the client's reply; `run`
        does not end before that wait is over."""
        if self.closed:
            return
        self.closed = True
        self._closing = self.loop.create_future()
        log.info("closing connection: %s %s", code, reason)
        try:
            with contextlib.suppress(Exception):
                await self.socket.close(code, reason)
        finally:
            self._gone.set()
            if not self._closing.done():
                self._closing.set_result(None)

    def abort(self) -> None:
        """Drop the connection with no close frame, as a network failure would."""
        self.closed = True
        self._gone.set()
        self.socket.abort()

    async def shutdown(self) -> None:
        """Server stopping: close with 1001, or drop the connection if the client does not answer
        (at once when the server had stopped reading: it could not read the answer)."""
        if self.stopped:
            self.abort()
            return
        try:
            await asyncio.wait_for(self.close(1001, "server shutting down"), 1.0)
        except TimeoutError:
            self.abort()

    # ---- the connection's life ---------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes; every task it started ends with it."""
        await self.send(ev.event("session.created", session=self.session))
        self.spawn(self._keepalive())
        if self.scenario.hosted_like:
            self.spawn(self._expire(self.scenario.hosted.max_session_s))
        if self._expiry is not None:
            self.spawn(self._expire((self._expiry.at or 0.0) / self.speed, self._expiry))
        for fault in self.faults.at_connect():
            self.spawn(self._timed_fault(fault, self.started_at, None))
        self._reader = self.loop.create_task(self._read_loop())
        try:
            await asyncio.wait([self._reader])  # however the reader ends, the connection ends with it
        finally:
            self._reader.cancel()
            self.closed = True
            if self._closing is not None:  # let a close in progress see the client's reply first
                await asyncio.wait([self._closing], timeout=CLOSE_REPLY_TIMEOUT)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2.0)
            self._log_error_counts()

    async def _read_loop(self) -> None:
        while not self.closed:
            if not self.running.is_set() and not self.stopped:
                await self.running.wait()
            if self.stopped:  # it reads nothing any more: only an abort (or a shutdown) ends it
                await self._gone.wait()
                break
            frame = await self.socket.receive()
            if self.stopped:  # a frame that was on its way when the server stopped is never handled
                if frame.kind == "closed":
                    break
                continue
            if not self.running.is_set():  # a stall began while this frame was on its way: hold it
                await self.running.wait()
            if frame.kind == "text":
                await self.handle_text(str(frame.data))
            elif frame.kind == "binary":
                await self.send_error(
                    "Binary frames are not supported; send JSON events as text frames.", "invalid_value"
                )
            elif frame.kind == "ping":
                await self.socket.pong(frame.data)
            else:  # closed
                log.debug("connection ended: %s", frame.data)
                break

    async def _keepalive(self) -> None:
        """Ping every `ping_interval`; no pong within `ping_timeout` closes with 1011 (seconds of
        the loop's clock, not divided by speed)."""
        interval, timeout = self.scenario.ping_interval, self.scenario.ping_timeout
        while not self.closed:
            await asyncio.sleep(interval)
            await self.running.wait()
            if self.closed:
                return
            try:
                pong = await self.socket.ping()
            except ConnectionError:  # the connection is gone; the reader ends it
                return
            deadline = self.loop.time() + timeout
            while True:
                try:
                    await asyncio.wait_for(asyncio.shield(pong), max(0.0, deadline - self.loop.time()))
                    break
                except TimeoutError:
                    if self.running.is_set():
                        log.info("no pong within %.1f s: closing with 1011", timeout)
                        await self.close(1011, "keepalive ping timeout")
                        self.abort()
                        return
                    await self.running.wait()  # our own stall: the pong may be waiting unread
                    deadline = self.loop.time() + timeout

    async def _expire(self, seconds: float, fault: Fault | None = None) -> None:
        """The hosted session limit: after `seconds` of loop time an ``error`` with code
        ``session_expired``, then a close with 1001 and the same message. The `[hosted]`
        `max_session_s` passes real seconds; a `session_expiry` `fault` its `at` divided by speed."""
        await asyncio.sleep(seconds)
        await self.running.wait()
        if self.closed or self.stopped or (fault is not None and not self.faults.take(fault)):
            return
        message = f"Your session hit the maximum duration of {duration_words(seconds)}."
        log.info("session expired after %.1f s: closing with 1001", seconds)
        await self.send_error(message, "session_expired")
        await self.close(1001, message)
        self.abort()

    # ---- faults on a timer --------------------------------------------------------------------------

    async def _timed_fault(self, fault: Fault, origin: float, run: ResponseRun | None) -> None:
        """Fire a drop / stall / error_event `fault.at` (audio-clock seconds) after `origin`; one
        timed from a response (`run`) does not fire once that response has ended."""
        delay = origin + (fault.at or 0.0) / self.speed - self.loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if self.closed or self.stopped or (run is not None and run.ended):
            return
        if not self.faults.take(fault):
            return
        log.info("fault %s fires%s", fault.kind, " (reconnectable)" if fault.reconnectable else "")
        if fault.kind == "drop":
            if fault.mode == "close_1011":
                await self.close(1011, "internal server error")
            self.abort()
        elif fault.kind == "stall":
            held = self.loop.time()
            self.running.clear()
            self.socket.pause(True)
            try:
                await asyncio.sleep(fault.seconds)
            finally:
                self._stalled_seconds += self.loop.time() - held  # before anyone waiting resumes
                self.socket.pause(False)
                self.running.set()
        elif fault.kind == "error_event":
            await self.send_error(fault.message, fault.code, type_="server_error")
        elif fault.kind == "stop_reading":  # for good: everything waits, nothing is read or answered
            self.stopped = True
            self.running.clear()
            self.socket.stop_reading()
        elif fault.kind == "silent":
            self.silent = True

    def _answer_started(self) -> None:
        """The candidate began an answer: start the faults timed from this answer's number (the
        answers counted so far, spoken or replayed, plus this one)."""
        now = self.loop.time()
        for fault in self.faults.at_answer(self.script.answers + 1):
            self.spawn(self._timed_fault(fault, now, None))

    def response_started(self, run: ResponseRun) -> None:
        """Called at each `response.created`: start the faults timed from a response of its purpose."""
        now = self.loop.time()
        for fault in self.faults.at_response(run.purpose):
            self.spawn(self._timed_fault(fault, now, run))

    # ---- client events ---------------------------------------------------------------------------

    async def handle_text(self, text: str) -> None:
        """Parse and dispatch one client event; every failure becomes an ``error`` event."""
        event_id: str | None = None
        try:
            if len(text) > MAX_EVENT_BYTES:
                raise ClientEventError(
                    f"Event too large: {len(text)} bytes; the maximum is {MAX_EVENT_BYTES} bytes.",
                    "event_too_large",
                )
            try:
                event = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ClientEventError(
                    f"Invalid JSON: {exc.msg} at position {exc.pos}.", "invalid_json"
                ) from None
            except RecursionError:  # a flood of nested brackets is bad input, not a server fault
                raise ClientEventError("Invalid JSON: nested too deeply.", "invalid_json") from None
            if not isinstance(event, dict):
                raise ClientEventError("Invalid event: expected a JSON object.", "invalid_type")
            if isinstance(event.get("event_id"), str):
                event_id = event["event_id"]
            kind = field(event, "type", (str,), "a string")
            handler = self._handlers.get(kind)
            if handler is None:
                raise ClientEventError(
                    f"Invalid value: '{kind[:64]}'. Supported values are: "
                    + ", ".join(f"'{k}'" for k in self._handlers)
                    + ".",
                    "invalid_value",
                    "type",
                )
            check_event_keys(event)  # a top-level field the event's client type does not have
            if kind not in self._checked_by_handler:
                check_event(event)  # the whole event against the openai package's client type
            await handler(event)
        except ClientEventError as exc:
            await self.send_error(str(exc), exc.code, exc.param, event_id)
        except RecursionError:  # JSON that parsed but is nested too deeply for the checks that walk it
            await self.send_error("Invalid JSON: nested too deeply.", "invalid_json", event_id=event_id)
        except Exception as exc:  # a bug here must not end the interview
            kind = type(exc).__name__
            if kind not in self._crashes:  # its traceback once per connection; repeats are counted
                self._crashes.add(kind)
                log.exception("error handling a client event")
            await self.send_error(
                "The server had an error while processing your request.",
                "server_error",
                event_id=event_id,
                type_="server_error",
            )

    async def _session_update(self, event: dict[str, Any]) -> None:
        update = field(event, "session", (dict,), "an object")
        session = apply_update(self.session, update, voice_locked=self.assistant_audio_present)
        reply = ev.event("session.updated", session=session)
        check_model(SessionUpdatedEvent, reply, "")  # what it echoes must parse on the client
        self.session = session
        td = self.turn_detection
        if td.get("type") == "server_vad":
            self.vad.configure(td["threshold"], td["prefix_padding_ms"], td["silence_duration_ms"])
        elif td:
            self.vad.configure(0.5, 300, 500)
        else:
            self.vad.reset()
            self.speech_item_id = None
        await self.send(reply)

    async def _append(self, event: dict[str, Any]) -> None:
        audio = field(event, "audio", (str,), "a string")
        try:
            pcm = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError):
            raise ClientEventError(
                "Invalid 'audio'. Expected base64-encoded PCM16 audio.", "invalid_value", "audio"
            ) from None
        self.input_bytes += len(pcm)
        self.buffer_bytes += len(pcm)
        for vad_event in self.vad.feed(pcm):
            if not self.turn_detection:
                continue
            if vad_event.kind == "started":
                await self._speech_started(vad_event.at_ms)
            else:
                await self._speech_stopped(vad_event.at_ms)
        if not self.turn_detection:
            self.vad.reset()

    async def _speech_started(self, at_ms: int) -> None:
        self._answer_started()
        self.speech_item_id = ev.new_id("item")
        await self.send(
            ev.event("input_audio_buffer.speech_started", audio_start_ms=at_ms, item_id=self.speech_item_id)
        )
        active = self.active
        if active is not None and self.turn_detection.get("interrupt_response", True):
            await active.cancel("turn_detected")

    async def _speech_stopped(self, at_ms: int) -> None:
        item_id = self.speech_item_id or ev.new_id("item")
        self.speech_item_id = None
        await self.send(ev.event("input_audio_buffer.speech_stopped", audio_end_ms=at_ms, item_id=item_id))
        await self._commit_user_audio(item_id)
        if self.turn_detection.get("create_response", True):
            active = self.active
            if active is not None and (active.cancelling or active.closing):  # it is ending anyway
                await active.wait_finished(2.0)
            if self.active is None:
                self._start_response({}, None)
            else:
                log.info("speech stopped during an active response: no new response")

    async def _commit(self, event: dict[str, Any]) -> None:
        if self.buffer_bytes < MIN_COMMIT_MS * BYTES_PER_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {self.buffer_bytes / BYTES_PER_MS:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        self.vad.reset()
        item_id = self.speech_item_id or ev.new_id("item")
        self.speech_item_id = None
        await self._commit_user_audio(item_id)

    async def _commit_user_audio(self, item_id: str) -> None:
        """Committed speech becomes a user item whose transcript is the scenario's next answer."""
        seconds = self.buffer_bytes / (BYTES_PER_MS * 1000)
        self.buffer_bytes = 0
        previous = self._items.last_id
        await self.send(ev.event("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous))
        item = ev.user_audio_item(item_id, None)
        self._items.append(item)
        await self.send(ev.event("conversation.item.added", item=item, previous_item_id=previous))
        await self.send(ev.event("conversation.item.done", item=item, previous_item_id=previous))
        answer = self.script.answers + 1  # 1-based: what `late_answers` / `failed_answers` count
        transcript = self.script.record_answer()
        if not self.scenario.hosted_like:  # idealised: the transcript at once, before any response
            await self._transcribed(item, transcript, seconds, failed=False)
            return
        hosted = self.scenario.hosted
        delay = hosted.late_delay if answer in hosted.late_answers else hosted.transcription_delay
        # the hosted ASR runs beside the response: its event may land after response.created
        failed = answer in hosted.failed_answers
        self.spawn(self._transcribe_later(item, transcript, seconds, delay / self.speed, failed))

    async def _transcribe_later(
        self, item: dict[str, Any], transcript: str, seconds: float, delay: float, failed: bool
    ) -> None:
        await asyncio.sleep(delay)
        await self._transcribed(item, transcript, seconds, failed)

    async def _transcribed(self, item: dict[str, Any], transcript: str, seconds: float, failed: bool) -> None:
        """``conversation.item.input_audio_transcription.completed`` (or ``.failed``) for a user item."""
        item_id = item["id"]
        if failed:
            error = {
                "type": "server_error",
                "code": None,
                "message": f"Input transcription failed for item '{item_id}'.",
                "param": None,
            }
            await self.send(
                ev.event(
                    "conversation.item.input_audio_transcription.failed",
                    item_id=item_id,
                    content_index=0,
                    error=error,
                )
            )
            return
        item["content"][0]["transcript"] = transcript
        await self.send(
            ev.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=transcript,
                usage={"type": "duration", "seconds": round(seconds, 3)},
            )
        )

    async def _clear(self, event: dict[str, Any]) -> None:
        self.buffer_bytes = 0
        self.vad.reset()
        self.speech_item_id = None
        await self.send(ev.event("input_audio_buffer.cleared"))

    async def _item_create(self, event: dict[str, Any]) -> None:
        item = field(event, "item", (dict,), "an object")
        previous = field(event, "previous_item_id", (str,), "a string", required=False)
        if previous is not None and previous != "root" and previous not in self._items:
            raise ClientEventError(
                f"Invalid 'previous_item_id': no item with id '{previous[:64]}'.",
                "invalid_value",
                "previous_item_id",
            )
        item = dict(item)
        kind = item.get("type")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "assistant"):
                raise ClientEventError(
                    "Invalid value for 'item.role': use 'user', 'system' or 'assistant'.",
                    "invalid_value",
                    "item.role",
                )
            content = field(item, "content", (list,), "an array", prefix="item.")
            for i, part in enumerate(content):
                audio = part.get("audio") if isinstance(part, dict) else None
                if audio is not None and part.get("type") == "input_audio":
                    try:
                        base64.b64decode(str(audio), validate=True)
                    except (binascii.Error, ValueError):
                        raise ClientEventError(
                            "Invalid 'audio'. Expected base64-encoded PCM16 audio.",
                            "invalid_value",
                            f"item.content[{i}].audio",
                        ) from None
                if role == "assistant" and isinstance(part, dict):
                    _assistant_part(part, f"item.content[{i}]")
        elif kind == "function_call_output":
            for name in ("call_id", "output"):
                field(item, name, (str,), "a string", prefix="item.")
        elif kind == "function_call":
            for name in ("name", "arguments"):
                field(item, name, (str,), "a string", prefix="item.")
        else:
            raise ClientEventError(
                f"Invalid value: '{str(kind)[:64]}'. Supported values are: 'message', 'function_call' and "
                "'function_call_output'.",
                "invalid_value",
                "item.type",
            )
        field(item, "id", (str,), "a string", required=False, prefix="item.")
        # the rest (content part types, text types, ...) as the openai package's item model has it
        check_model(ITEM_MODELS[kind, item.get("role")], item, "item")
        check_param(ITEM_PARAM, item, "item")  # the client type: unknown fields, literal values
        if kind == "function_call_output" and not self._items.has_call(item["call_id"]):
            raise ClientEventError(  # the hosted message; code and param are the emulator's
                f"Tool call ID '{item['call_id'][:64]}' not found in conversation.",
                "invalid_value",
                "item.call_id",
            )
        item.setdefault("id", ev.new_id("item"))
        item["object"], item["status"] = "realtime.item", "completed"
        if previous == "root":  # inserted at the start: nothing precedes it
            prev = None
        else:
            prev = self._items.last_id if previous is None else previous
        added = ev.event("conversation.item.added", item=item, previous_item_id=prev)
        check_model(ConversationItemAdded, added, "")
        self._items.append(item)
        # a resumed interview tells a new connection what was said: the script takes up its place
        if kind == "message" and item.get("role") == "user":
            self.script.record_answer()
        elif kind == "message" and item.get("role") == "assistant":
            self.script.heard_line(" ".join(str(part.get("text", "")) for part in item["content"]))
        elif kind == "function_call":
            self.script.heard_call(item["name"])
        await self.send(added)
        await self.send(ev.event("conversation.item.done", item=item, previous_item_id=prev))

    def _item(self, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        item_id = field(event, "item_id", (str,), "a string")
        item = self._items.get(item_id)
        if item is None:
            raise ClientEventError(
                f"Item with item_id not found: {item_id[:64]}", "item_not_found", "item_id"
            )
        return item_id, item

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        content_index = field(event, "content_index", (int,), "an integer")
        audio_end_ms = field(event, "audio_end_ms", (int,), "an integer")
        item_id, item = self._item(event)
        if item.get("role") != "assistant" or content_index != 0:
            raise ClientEventError(
                "Only the audio of an assistant message can be truncated.", "invalid_value", "item_id"
            )
        duration_ms = self._items.audio_ms(item_id)
        if audio_end_ms < 0 or audio_end_ms > duration_ms:
            raise ClientEventError(
                f"Audio content of {duration_ms}ms is shorter than {audio_end_ms}ms.",
                "invalid_value",
                "audio_end_ms",
            )
        await self.send(
            ev.event(
                "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=audio_end_ms
            )
        )

    async def _item_delete(self, event: dict[str, Any]) -> None:
        item_id, _ = self._item(event)
        self._items.delete(item_id)
        await self.send(ev.event("conversation.item.deleted", item_id=item_id))

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        _, item = self._item(event)
        await self.send(ev.event("conversation.item.retrieved", item=item))

    async def _response_create(self, event: dict[str, Any]) -> None:
        params = field(event, "response", (dict,), "an object", required=False) or {}
        if self.active is not None:
            raise ClientEventError(
                f"Conversation already has an active response in progress: {self.active.response_id}. "
                "Wait until the response is finished before creating a new one.",
                "conversation_already_has_active_response",
            )
        for name, kinds, what in (
            ("instructions", (str,), "a string"),
            ("metadata", (dict,), "an object"),
            ("conversation", (str,), "a string"),
            ("output_modalities", (list,), "an array"),
            ("tools", (list,), "an array"),
        ):
            field(params, name, kinds, what, required=False, prefix="response.")
        metadata = params.get("metadata")
        if metadata is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise ClientEventError(
                "Invalid 'response.metadata': keys and values must be strings.",
                "invalid_type",
                "response.metadata",
            )
        if params.get("conversation", "auto") not in ("auto", "none"):
            raise ClientEventError(
                "Invalid value for 'response.conversation': use 'auto' or 'none'.",
                "invalid_value",
                "response.conversation",
            )
        modalities = params.get("output_modalities")
        if modalities is not None and (not modalities or any(m not in ("audio", "text") for m in modalities)):
            raise ClientEventError(
                "Invalid value for 'response.output_modalities': use ['audio'] or ['text'].",
                "invalid_value",
                "response.output_modalities",
            )
        if params.get("tools") is not None:
            checked_tools(params["tools"], "response.tools")
        check_model(RealtimeResponseCreateParams, params, "response")
        check_param(RESPONSE_PARAMS, params, "response")  # the client type and the hosted rules (rules.py)
        self._start_response(params, metadata)

    def _start_response(self, params: dict[str, Any], metadata: dict[str, str] | None) -> None:
        in_conversation = params.get("conversation", "auto") != "none"
        tools = params.get("tools")
        names = tool_names(tools if tools is not None else self.session.get("tools") or [])
        instructions = params.get("instructions")
        line = self.script.next_line(instructions, names, in_conversation)
        modalities = params.get("output_modalities") or self.session["output_modalities"]
        purpose = purpose_of(metadata, line)
        output = self.session["audio"]["output"]
        voice = output.get("voice")
        latency = self.scenario.latency
        slowed = self.faults.audio_rate(purpose)
        # hosted-like bursts, unless a slow_audio fault paces this response (a slow link has no bursts)
        hosted = self.scenario.hosted if self.scenario.hosted_like else None
        bursts = hosted if hosted is not None and slowed == 1.0 else None
        plan = ResponsePlan(
            line=line,
            metadata=metadata,
            purpose=purpose,
            echo_metadata=self.faults.echo_metadata(purpose),
            in_conversation=in_conversation,
            modality="text" if "audio" not in modalities else "audio",
            voice=voice if isinstance(voice, str) else "alloy",
            words_per_minute=self.scenario.interviewer.words_per_minute * float(output.get("speed") or 1.0),
            created_delay=latency.response_created / self.speed,
            first_audio_delay=(latency.first_audio + self.faults.first_audio_delay(purpose)) / self.speed,
            audio_rate=self.speed * slowed * (bursts.burst_factor if bursts else 1.0),
            burst_seconds=bursts.burst_seconds if bursts else 0.0,
            burst_gap=bursts.burst_gap / self.speed if bursts else 0.0,
            transcript_lead=hosted.transcript_lead if hosted else 0.0,
        )
        run = ResponseRun(self, plan)
        self.active = run
        run.start()

    def response_finished(self, run: ResponseRun) -> None:
        if run.audio_seconds > 0:
            self._spoke = True
        if self.active is run:
            self.active = None

    @property
    def assistant_audio_present(self) -> bool:
        """Whether any assistant audio has been sent (then the hosted API refuses a new voice)."""
        return self._spoke or (self.active is not None and self.active.audio_seconds > 0)

    def next_rate_limits(self, tokens: int) -> dict[str, Any]:
        self._requests_left = max(0, self._requests_left - 1)
        return ev.rate_limits(self._requests_left, max(0, 40000 - tokens))

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        response_id = field(event, "response_id", (str,), "a string", required=False)
        active = self.active
        if (
            active is None
            or not active.cancellable
            or (response_id is not None and response_id != active.response_id)
        ):
            raise ClientEventError(
                "Cancellation failed: no active response found.", "response_cancel_not_active"
            )
        await active.cancel("client_cancelled")

    async def _output_clear(self, event: dict[str, Any]) -> None:
        raise ClientEventError(
            "output_audio_buffer.clear is only supported for WebRTC connections.", "invalid_value", "type"
        )


def warm_up_validators() -> None:
    """Every validator a conversation uses, built before the first client connects (`checks.warm_up`)."""
    warm_up([SessionUpdatedEvent, ConversationItemAdded, RealtimeResponseCreateParams,
             RealtimeSessionCreateRequest, *ITEM_MODELS.values()])
