"""The connection's life inside an interview: open it, notice when it is dead, and carry on in a new one.

`SessionLink` is the part of `InterviewSession` that owns the link to the server. A candidate will not
sit through an interview twice, so a lost connection is not the end of it: when the connection ends
unexpectedly (a drop, a server error close, a going-away close, the session's expiry, or a connection
found dead here), a new one is opened with bounded attempts and backoff, given the settings again and
told the conversation so far (`interview_kit.resume`), and the flow goes on where it was. The audio
the candidate spoke meanwhile, and since the last answer the server had fully heard, is sent again.
Ahead of the server's own expiry the session moves to a new connection the same way, between turns.

A connection is dead when a frame cannot be sent within `send_timeout`, when a keepalive ping gets no
pong within `ping_timeout`, or when the server sends nothing for `silence_timeout` while a response is
expected: it is dropped here (so no wait is unbounded) and resumed like any other loss.

Every step is in the event log: ``connection.lost``, ``connection.reconnecting``,
``connection.resumed``; ``session.json`` counts ``reconnects`` and ``offline_s``. Never in
``blocking`` mode, whose point is the original failure.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from interview_kit import protocol as proto
from interview_kit.assessment import fallback_summary
from interview_kit.audio.format import BYTES_PER_MS
from interview_kit.clock import loop_time
from interview_kit.connection import Connection
from interview_kit.flow import Phase
from interview_kit.monitor import KeepaliveMonitor
from interview_kit.records import Dir, Outcome, Purpose, Rec
from interview_kit.resume import (
    FunctionCallRecord,
    backoff_delays,
    conversation_items,
    heard_fraction,
    speech_to_resend,
    split_heard,
    worth_resuming,
)
from interview_kit.sequencer import ResponseSequencer
from interview_kit.transport import CloseInfo, ConnectError, RealtimeTransport

log = logging.getLogger("interview_kit.session")

RESEND_MS = 30_000  # at most this much of the candidate's latest audio is sent again on a resume
KEEPALIVE_TIMEOUT = "keepalive ping timeout"  # the words (and 1011) websockets uses for the same
MIN_AGE_TO_MOVE = 30.0  # seconds a connection lives before it is moved ahead of its expiry (or half its life)


class SessionLink:
    """The link of `InterviewSession` (a mixin: the state it reads is the session's)."""

    def _init_link(self) -> None:
        self._link_tasks: list[asyncio.Task[Any]] = []  # this connection's reader and writer
        self._reconnecting: asyncio.Task[None] | None = None
        self._reconnects = 0
        self._attempts_used = 0  # attempts since the last connection that finished a response
        self._connections = 0
        self._opened_at = 0.0  # session time the current connection opened
        self._last_frame = 0.0  # loop time of the last server frame
        # (pcm, start ms, end ms) of the candidate's audio the server may not have fully heard yet
        self._resend: collections.deque[tuple[bytes, float, float]] = collections.deque()
        self._audio_offset_ms = 0.0  # the current connection's audio position 0, on the input's clock
        self._speech_open = False  # the server heard speech start and not yet stop, on this connection
        self._heard: dict[str, float] = {}  # cut-off response id -> fraction of its line heard
        self._calls: list[FunctionCallRecord] = []
        self._expires_loop: float | None = None  # the server's expires_at, on the loop's clock
        self._awaiting_response = False  # a response.create went out and no response.done came since
        self._link_progress = False  # this connection finished a response (it carried the interview on)

    # --- opening --------------------------------------------------------------------------------------

    async def _open_link(self, transport: RealtimeTransport) -> bool:
        """Connect, start reading, writing and pinging, and send the interview's settings (turn taking
        on only while interviewing). False, logged, when the connection cannot be opened."""
        try:
            await transport.connect()
        except ConnectError as exc:
            self._record(Dir.LOCAL, Rec.ERROR, data={"message": str(exc), "where": "connect"})
            log.error("%s", exc)
            return False
        self._connections += 1
        self._opened_at, self._last_frame = self._now(), loop_time()
        self._speech_open = self._awaiting_response = self._link_progress = False
        self._registry.resumed()
        conn = self._conn = Connection(transport, on_frame=self._dispatch, on_sent=self._on_sent,
                                       on_closed=lambda info: self._on_closed(info, conn),
                                       send_timeout=self.config.send_timeout)
        self._sequencer = ResponseSequencer(
            conn.send, self._registry, done_timeout=self.config.sequencer_timeout,
            created_timeout=self.config.response_created_timeout,
            on_note=lambda kind, data: self._record(Dir.LOCAL, kind, data=data))
        self._record(Dir.LOCAL, Rec.CONNECTION_OPENED, data={"url": transport.description,
                                                             "connection": self._connections})
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._keepalive = KeepaliveMonitor(transport.ping, self._on_ping, interval=self.config.ping_interval,
                                           timeout=self.config.ping_timeout, clock=loop_time)
        self._keepalive.start()
        self._link_tasks = [self._spawn(conn.read(), "receive"), self._spawn(conn.write(), "write")]
        assert self._session_updated is not None
        self._session_updated.clear()
        interviewing = self._flow.phase is Phase.INTERVIEWING
        conn.send(proto.session_update(
            instructions=self.config.instructions, voice=self.config.voice,
            turn_detection=self._turn_detection(interviewing), tools=[proto.END_INTERVIEW_TOOL],
            transcription_model=self.config.transcription_model,
            language=self.config.transcription_language, event_id=proto.SETTINGS_UPDATE_ID))
        return True

    @property
    def _online(self) -> bool:
        return self._conn is not None and self._conn.open and self._reconnecting is None

    # --- the candidate's audio ------------------------------------------------------------------------

    def _send_audio(self, chunk: bytes, end_ms: float) -> None:
        """Send one input chunk, and keep it until the server has fully heard the answer it is part
        of: a new connection gets it again (`RESEND_MS` at most)."""
        start_ms = end_ms - len(chunk) / BYTES_PER_MS
        resend = self._resend
        resend.append((chunk, start_ms, end_ms))
        while resend and end_ms - resend[0][1] > RESEND_MS:
            resend.popleft()
        if self._online:
            assert self._conn is not None
            self._conn.send(proto.input_audio_append(chunk), {"audio_start_ms": round(start_ms, 3),
                                                             "audio_end_ms": round(end_ms, 3)})

    def _answers_settled(self) -> None:
        """Every answer the server heard is transcribed (or failed) and nobody speaks: the audio kept
        so far will never be needed again."""
        if not self._speech_open and not self._flow.has_pending_answers:
            self._resend.clear()

    def _input_ms(self, audio_ms: Any) -> float | None:
        """A server audio position (it counts from this connection's start) on the input's clock."""
        return audio_ms + self._audio_offset_ms if isinstance(audio_ms, int | float) else None

    # --- noticing a dead connection -------------------------------------------------------------------

    def _on_ping(self, rtt: float | None) -> None:
        data = {"timeout": True} if rtt is None else {"rtt_ms": round(rtt * 1000, 3)}
        self._record(Dir.LOCAL, Rec.PING, data=data)
        if rtt is None and self._conn is not None and self._conn.open:
            log.warning("no pong within %g s: the connection is dead", self.config.ping_timeout)
            self._conn.abort(KEEPALIVE_TIMEOUT, 1011)

    def _check_link(self) -> None:
        """From the tick: a server silent while a response is expected is dead; a session about to
        expire is left for a new one between turns."""
        if not self._online or self._flow.finished:
            return
        assert self._conn is not None and self._sequencer is not None
        now = loop_time()
        silent = now - self._last_frame
        expected = self._awaiting_response or self._sequencer.busy
        if expected and silent > self.config.silence_timeout:
            log.warning("no server event for %.0f s while a response is expected: the connection is dead",
                        silent)
            self._conn.abort(f"no server event for {self.config.silence_timeout:g} s")
            return
        if self._expires_loop is None or not self.config.reconnects:
            return
        age = now - (self._opened_at + self._t0_loop())
        lifetime = self._expires_loop - (self._opened_at + self._t0_loop())
        margin = min(self.config.expiry_margin, max(lifetime, 0.0) / 4)
        if age < min(MIN_AGE_TO_MOVE, lifetime / 2):  # a connection just made is not moved at once
            return
        between_turns = (not self._sequencer.busy and self._output.playing_response_id is None
                         and not self._speech_open
                         and self._flow.phase in (Phase.INTERVIEWING, Phase.AWAITING_REPORT))
        if now >= self._expires_loop - margin and between_turns:
            left = self._expires_loop - now
            self._lose(CloseInfo(1000, f"the server session expires in {left:.0f} s", "client"), planned=True)
            self._spawn(self._conn.close(1000, "moving to a new session"), "close-expiring")

    def _t0_loop(self) -> float:
        assert self._folder is not None
        return self._folder.log.t0

    def _note_expiry_at(self, expires_at: int) -> None:
        """expires_at is wall-clock epoch seconds; kept on the loop's clock, which the checks use. One
        already past says a clock is off (ours or the server's): it is not acted on (the server's own
        expiry close is still resumed)."""
        left = expires_at - self._wall_clock()
        if left <= 0:
            log.warning("the server says its session expired %.0f s ago: a clock is off; not moving "
                        "ahead of it", -left)
            self._expires_loop = None
            return
        self._expires_loop = loop_time() + left

    # --- losing it ------------------------------------------------------------------------------------

    def _on_closed(self, info: CloseInfo, conn: Connection) -> None:
        self._record(Dir.LOCAL, Rec.CONNECTION_CLOSED, data={"code": info.code, "reason": info.reason,
                                                             "by": info.by})
        try:
            self._after_close(info, conn)
        except Exception as exc:  # a bug here must not leave the session waiting for ever
            self._error("connection closed", exc)
            self._end(Outcome.DISCONNECTED)

    def _after_close(self, info: CloseInfo, conn: Connection) -> None:
        if conn is not self._conn:
            return  # an older connection's late close
        if self._sequencer is not None:
            self._sequencer.close()
        if self._reconnecting is not None or self._flow.finished or self._outcome is not None:
            if self._reconnecting is None:
                self._end(Outcome.DISCONNECTED)
            return
        if self.config.reconnects and worth_resuming(info.code, info.by):
            self._lose(info, planned=False)
            return
        reason = f"connection closed: {info.code} {info.reason or ''}".strip()
        self._apply(self._flow.connection_lost(self._now(), reason))
        self._end(Outcome.DISCONNECTED)

    def _lose(self, info: CloseInfo, *, planned: bool) -> None:
        """The connection is gone (or going, `planned`): stop what needs it, cut the line being heard
        if the server had not finished it, and start reconnecting."""
        now = self._now()
        if self._link_progress:  # it carried the interview on: the next loss gets every attempt
            self._attempts_used = 0
        log.warning("connection %s: %s %s; reconnecting", "moving" if planned else "lost", info.code,
                    info.reason or "")
        cut = self._cut_playback()
        self._record(Dir.LOCAL, Rec.CONNECTION_LOST, data={
            "code": info.code, "reason": info.reason, "by": info.by, "phase": str(self._flow.phase),
            "planned": planned, "cut": cut})
        for task in self._requests:
            task.cancel()
        self._requests = []
        if self._link_tasks and not planned:
            self._link_tasks[1].cancel()  # the writer: nothing more goes out on this connection
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._apply(self._flow.connection_interrupted(now))
        self._reconnecting = self._spawn(self._reconnect(now, planned), "reconnect")

    def _cut_playback(self) -> dict[str, Any] | None:
        """The line being heard stops here when the server had not finished it (its rest will be
        asked again); a finished one plays out from what was received. Returns what was cut."""
        rid = self._output.playing_response_id
        if rid is None or rid in self._finished_audio:
            return None
        text = self._line_text(self._registry.purpose(rid), rid)
        received_text = self._transcript.interviewer(rid, self._now()).text
        _, played_ms = self._output.interrupt()
        fraction = heard_fraction(played_ms, self._output.received_ms(rid), finished=False,
                                  text_received=len(received_text), text_total=len(text))
        self._heard[rid] = fraction
        self._finished_audio.add(rid)  # whatever else arrives for it is not played
        self._transcript.cut(rid, split_heard(text, fraction)[0])
        return {"response_id": rid, "played_ms": played_ms, "heard_fraction": round(fraction, 3)}

    def _line_text(self, purpose: str | None, rid: str) -> str:
        """The whole text of a line: the assessment lines' are known; a question's is what the
        transcript received."""
        flow = self._flow
        known = {Purpose.ACK: flow.settings.ack_text, Purpose.GOODBYE: flow.settings.goodbye_text,
                 Purpose.SUMMARY: flow.summary_text,
                 Purpose.FALLBACK: fallback_summary(self._prompt.language)}.get(purpose or "")
        return known or self._transcript.interviewer(rid, self._now()).text

    # --- reconnecting ---------------------------------------------------------------------------------

    async def _reconnect(self, lost_at: float, planned: bool) -> None:
        c = self.config
        try:
            delays = backoff_delays(c.reconnect_attempts, c.reconnect_delay, c.reconnect_max_delay)
            # A planned move goes at once; then (or after a loss) the attempts left, with backoff.
            first = [0.0] if planned else []
            for delay in first + delays[self._attempts_used:]:
                self._attempts_used += not planned
                attempt = self._attempts_used
                self._record(Dir.LOCAL, Rec.CONNECTION_RECONNECTING, data={"attempt": attempt,
                                                                           "delay_s": delay})
                await asyncio.sleep(delay)
                assert self._transport is not None
                self._transport = self._transport.reopen()
                if await self._open_link(self._transport) and await self._resume(attempt, lost_at):
                    return
                planned = False
            reason = f"could not reconnect after {c.reconnect_attempts} attempts"
        except Exception as exc:  # a bug must end the interview plainly, not leave it half-connected
            self._error("reconnect", exc)
            reason = f"reconnecting failed: {type(exc).__name__}"
        finally:
            if self._reconnecting is asyncio.current_task():
                self._reconnecting = None
        log.error("%s; the interview ends", reason)
        self._apply(self._flow.connection_lost(self._now(), reason))
        self._end(Outcome.DISCONNECTED)

    async def _resume(self, attempt: int, lost_at: float) -> bool:
        """Tell the new connection the interview so far and go on; False if it was lost meanwhile."""
        conn = self._conn
        assert conn is not None
        await self._wait_session_updated(first=True)
        if not conn.open or self._flow.finished:
            return self._flow.finished
        turns = self._transcript.as_dict()["turns"]
        items = conversation_items(turns, self._calls)
        for event in items:
            conn.send(event, {"resume": True})
        self._transcript.forget_pending_answers()
        resend = speech_to_resend(self._resend)
        # An answer in the audio sent again (cut by the drop, said while offline, or not transcribed
        # before it): the server responds to it by itself, so no question is asked on top of it.
        answering = bool(resend) or bool(getattr(self._input, "speaking", False))
        self._audio_offset_ms = resend[0][1] if resend else self._input.position_ms
        for chunk, start_ms, end_ms in resend:
            conn.send(proto.input_audio_append(chunk), {"audio_start_ms": round(start_ms, 3),
                                                        "audio_end_ms": round(end_ms, 3), "resent": True})
        now = self._now()
        self._reconnects += 1
        self._reconnecting = None
        self._record(Dir.LOCAL, Rec.CONNECTION_RESUMED, data={
            "attempt": attempt, "items_replayed": len(items), "offline_s": round(now - lost_at, 3),
            "audio_offset_ms": round(self._audio_offset_ms, 3), "audio_resent_ms": round(
                sum(len(c) for c, _, _ in resend) / BYTES_PER_MS, 3)})
        log.info("resumed on a new connection after %.1f s (%d items replayed)", now - lost_at, len(items))
        self._apply(self._flow.connection_resumed(now, answer_in_progress=answering))
        return True

    def _resumed_text(self, text: str, resumes: str | None) -> str:
        """What to say of a line asked again: from the start of the sentence the drop cut."""
        if resumes is None or resumes not in self._heard:
            return text
        rest = split_heard(text, min(self._heard[resumes], 0.999))[1]
        return rest or text

    def _note_call(self, call_id: str, name: str, arguments: str, output: str) -> None:
        """A function call and our answer, for the conversation a new connection is told."""
        self._calls.append(FunctionCallRecord(self._now(), call_id, name, arguments, output))
