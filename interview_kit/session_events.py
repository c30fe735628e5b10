"""What each event means for the interview: server frames, playback moments, the monitors' readings.

`SessionEvents` is the half of `InterviewSession` that listens. Each server frame is parsed once,
logged, its response id read from where the protocol puts it (bound to a purpose by the registry) and
handed to one handler; local events (a frame sent, the connection closed, a sample played, a loop
stall, a ping) are logged and passed to the flow. Handlers never await and never raise: a malformed
event is logged as an error and the interview goes on. What to do about an event is the flow's
decision (`AssessmentFlow`); the session's other half (`session.py`) carries the actions out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from interview_kit import protocol as proto
from interview_kit.clock import loop_time
from interview_kit.config import WIRE_PARAMS
from interview_kit.flow import DiscardResponse, Phase
from interview_kit.records import INTERVIEW_PURPOSES, Dir, Rec, TriggerSource

log = logging.getLogger("interview_kit.session")

ACTIVE_RESPONSE_ERROR = "conversation_already_has_active_response"


class SessionEvents:
    """Event handlers of `InterviewSession` (a mixin: the state they read is the session's)."""

    def _dispatch(self, frame: str | bytes) -> None:
        """One server frame: log it, bind its ids, hand it to its handler. Never raises."""
        self._last_frame = loop_time()
        try:
            event = proto.parse_server_event(frame)
        except proto.ProtocolError as exc:
            self._record(Dir.IN, Rec.INVALID, data={"error": str(exc), "frame": str(frame)[:200]})
            return
        kind = event["type"]
        try:
            if kind == Rec.AUDIO_DELTA:
                self._on_audio_delta(event)
                return
            binding = None
            if kind == Rec.RESPONSE_CREATED:
                binding = self._registry.created(event)
            elif kind == Rec.RESPONSE_DONE:
                binding = self._registry.done(event, {item: r for r, item in self._audio_items.items()},
                                              finished=self._finished_audio)
                if binding is None:
                    log.warning("protocol: response.done without a usable response id and no known "
                                "output item; bound to no response (the current one plays on)")
            if binding is not None:
                rid: str | None = binding.response_id
            elif kind.startswith("response."):
                rid = self._registry.resolve(event) if kind not in proto.RESPONSE_OBJECT_EVENTS else None
            else:
                rid = proto.response_id_of(event)
            if self._folder is not None:  # (= self._record, one call less)
                self._folder.log.record(Dir.IN, kind, response_id=rid, item_id=proto.item_id_of(event),
                                        phase=self._flow.phase, data=event)
            handler = _HANDLERS.get(kind)
            if handler is not None:
                handler(self, event, rid, binding)
        except Exception as exc:  # a malformed event must not end the interview
            self._error(f"dispatch {kind}", exc)

    def _on_audio_delta(self, event: dict[str, Any]) -> None:
        """The hot path (most frames are audio): ids read in one call, decoded once, logged by the log's
        fixed-shape audio-delta line with its decoded size, played."""
        rid, item = proto.stream_ids_of(event)
        rid = rid or self._registry.current_id  # = self._registry.resolve(event), for a delta
        pcm = proto.audio_of(event)
        assert self._folder is not None
        self._folder.log.record_audio_delta(event, response_id=rid, item_id=item, phase=self._flow.phase,
                                            nbytes=len(pcm))
        if rid is None:
            return
        if item:
            self._audio_items.setdefault(rid, item)
        if not pcm:
            self._unplayable.add(rid)  # a delta that decodes to nothing (not base64, not a string)
        elif rid not in self._finished_audio:
            self._with_audio.add(rid)
            self._output.enqueue(rid, pcm)

    def _on_session_created(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        self._note_expiry(event)

    def _on_session_updated(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        assert self._session_updated is not None
        self._session_updated.set()
        self._note_expiry(event)

    def _note_expiry(self, event: dict) -> None:
        """When the server says the session expires (hosted: a fixed lifetime), once per new value."""
        expires_at = proto.expires_at_of(event)
        if expires_at is None or expires_at == self._expires_at:
            return
        self._expires_at = expires_at
        self._note_expiry_at(expires_at)
        left = round(expires_at - self._wall_clock(), 3)
        log.info("the server session expires at %d (in %.0f s)", expires_at, left)
        self._record(Dir.LOCAL, Rec.SESSION_EXPIRES, data={"expires_at": expires_at, "expires_in_s": left})

    def _on_response_created(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if binding is not None:
            assert self._sequencer is not None
            self._sequencer.on_created(binding)
            self._transcript.interviewer(binding.response_id, self._now(), binding.purpose)
            self._apply(self._flow.response_created(self._now(), binding.response_id, binding.purpose))

    def _on_audio_done(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if rid is not None:
            self._finish_audio(rid)

    def _finish_audio(self, rid: str) -> None:
        if rid in self._finished_audio:
            return
        self._finished_audio.add(rid)
        if rid in self._with_audio:
            self._output.finish(rid)  # playback.ended follows once its last sample has been played
        else:  # nothing to play: complete at once (heard, unless its audio came and could not be played)
            self._apply(self._flow.playback_done(self._now(), rid, heard=rid not in self._unplayable))

    def _on_transcript(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        if rid is None:
            return
        item, final, delta = proto.item_id_of(event), event.get("transcript"), event.get("delta")
        if event["type"] == Rec.AUDIO_TRANSCRIPT_DONE and isinstance(final, str):
            self._transcript.interviewer_text(rid, self._now(), final=final, item_id=item)
        elif isinstance(delta, str):
            self._transcript.interviewer_text(rid, self._now(), delta=delta, item_id=item)

    def _on_function_call(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        assert self._conn is not None
        for call in proto.function_calls_of(event):
            if call.call_id in self._calls_handled:
                continue
            self._calls_handled.add(call.call_id)
            if call.name == proto.END_INTERVIEW_TOOL["name"]:
                output = json.dumps({"ok": True, "next": "assessment"})
            else:
                log.warning("the model called an unknown function %r", call.name)
                output = json.dumps({"error": f"unknown function {call.name}"})
            self._note_call(call.call_id, call.name, call.arguments, output)
            self._conn.send(proto.function_call_output(call.call_id, output))
            if call.name == proto.END_INTERVIEW_TOOL["name"]:
                self._trigger(TriggerSource.TOOL)

    def _discard(self, action: DiscardResponse) -> None:
        """A response the flow does not want was created: cancel it; its audio is never played."""
        rid = action.response_id
        self._discarded.add(rid)
        self._finished_audio.add(rid)  # its audio deltas are dropped, not enqueued
        self._transcript.discard(rid)
        log.warning("%s response %s created but no longer wanted (%s): cancelled, not played",
                    action.purpose, rid, action.why)
        self._record(Dir.LOCAL, Rec.RESPONSE_DISCARDED, response_id=rid,
                     data={"purpose": action.purpose, "why": action.why})
        if self._conn is not None:
            self._conn.send(proto.response_cancel(rid))

    def _on_response_done(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        self._awaiting_response = False
        self._on_function_call(event, rid, binding)
        if binding is None:
            return
        self._link_progress = True
        assert self._sequencer is not None
        self._sequencer.on_done(binding)
        if binding.response_id in self._discarded:  # the flow has let it go already
            return
        now = self._now()
        self._transcript.interviewer(binding.response_id, now, binding.purpose)
        self._apply(self._flow.response_done(now, binding.response_id, binding.purpose))
        self._finish_audio(binding.response_id)

    def _on_speech_started(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        now = self._now()
        self._speech_open = True
        self._transcript.speech_started(proto.item_id_of(event), self._input_ms(event.get("audio_start_ms")),
                                        now)
        self._apply(self._flow.answer_pending(now, proto.answer_item_of(event)))
        playing = self._registry.purpose(self._output.playing_response_id)
        self._apply(self._flow.speech_started(now, playing))

    def _on_answer_item(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        """Input audio committed, or a user item added: an answer whose transcript is to come. While
        interviewing the server's turn taking responds to it: a response is due (the silence limit)."""
        self._apply(self._flow.answer_pending(self._now(), proto.answer_item_of(event)))
        if self._flow.phase is Phase.INTERVIEWING and event["type"] == Rec.INPUT_COMMITTED:
            self._awaiting_response = True

    def _on_speech_stopped(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        self._speech_open = False
        self._transcript.speech_stopped(proto.item_id_of(event), self._input_ms(event.get("audio_end_ms")),
                                        self._now())

    def _on_input_transcript(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        text, item = event.get("transcript"), proto.item_id_of(event)
        if isinstance(text, str):
            self._transcript.candidate_text(item, text, self._now())
            self._apply(self._flow.answer_heard(self._now(), item))
            self._answers_settled()

    def _on_transcript_failed(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        """An answer the server could not transcribe: it stays in the transcript without text, counts
        as an answer, and the report goes without it."""
        item, (code, message, _) = proto.item_id_of(event), proto.error_of(event)
        log.warning("the transcription of answer %s failed: %s %s", item, code or "", message)
        self._transcript.candidate_failed(item, self._now())
        self._apply(self._flow.answer_failed(self._now(), item))
        self._answers_settled()

    def _on_error(self, event: dict, rid: str | None, binding: proto.Binding | None) -> None:
        code, message, event_id = proto.error_of(event)
        param = proto.error_param_of(event)
        if code == ACTIVE_RESPONSE_ERROR:
            assert self._sequencer is not None
            self._sequencer.on_rejected(event_id)
            log.info("response.create rejected (active response); retrying after response.done")
        elif event_id == proto.SETTINGS_UPDATE_ID:
            # The interview's own settings refused: the server runs on with its defaults (no
            # end_interview tool, no transcription), so the interview must not start.
            setting = WIRE_PARAMS.get(param or "")
            where = f"{param} (setting {setting})" if setting else (param or code or "unknown field")
            reason = f"session.update refused: {where}: {message}"
            log.error("%s", reason)
            self._record(Dir.LOCAL, Rec.ERROR, data={"message": reason, "where": "session.update",
                                                     "param": param, "code": code})
            if not self._flow.finished:
                self._apply(self._flow.fail(self._now(), reason))
        elif event_id == proto.TURN_TAKING_OFF_ID:  # not fatal: its wait times out and we go on
            log.warning("session.update refused: %s: %s; the session keeps its previous settings",
                        param or code, message)
        else:
            log.warning("server error %s: %s", code, message)

    # --- local events ---------------------------------------------------------------------------------

    def _on_sent(self, event: dict[str, Any], extra: dict[str, Any] | None) -> None:
        if event["type"] == Rec.RESPONSE_CREATE:
            self._awaiting_response = True
        self._record(Dir.OUT, event["type"], item_id=event.get("item_id") or None,
                     data=event if extra is None else {**event, **extra})

    def _on_playback(self, kind: str, rid: str, t: float, info: dict) -> None:
        assert self._folder is not None
        now, purpose = t - self._folder.log.t0, self._registry.purpose(rid)
        self._record(Dir.LOCAL, kind, response_id=rid, item_id=self._audio_items.get(rid), t=now,
                     data={"purpose": purpose, **info})
        started = kind == Rec.PLAYBACK_STARTED
        self._transcript.interviewer_played(rid, now, started=started)
        if started:
            self._apply(self._flow.playback_started(now, rid))
            return
        self._apply(self._flow.playback_done(now, rid))
        if (self._candidate is not None and purpose in INTERVIEW_PURPOSES and not info.get("truncated")
                and self._flow.phase is Phase.INTERVIEWING):
            self._candidate.question_played()

    def _on_stall(self, start: float, duration: float, cpu: float) -> None:
        """`cpu`: the loop thread's CPU time over the stall and the monitor's interval before it (see
        `LoopLagMonitor`): near the duration, the loop was busy; near zero, it could not run."""
        assert self._folder is not None
        self._record(Dir.LOCAL, Rec.LOOP_STALL, data={"duration_ms": round(duration * 1000, 3),
                                                      "started": round(start - self._folder.log.t0, 6),
                                                      "cpu_ms": round(cpu * 1000, 3)})

    def _on_flow_record(self, kind: str, record: dict[str, Any]) -> None:
        data = {k: v for k, v in record.items() if k not in ("t", "phase")}
        phase = record.get("to") if kind == Rec.PHASE else record.get("phase")
        self._record(Dir.LOCAL, kind, phase=phase, t=record.get("t"), data=data)


_HANDLERS: dict[str, Callable[..., None]] = {
    Rec.SESSION_CREATED: SessionEvents._on_session_created,
    Rec.SESSION_UPDATED: SessionEvents._on_session_updated,
    Rec.INPUT_COMMITTED: SessionEvents._on_answer_item,
    Rec.ITEM_ADDED: SessionEvents._on_answer_item,
    Rec.ITEM_CREATED: SessionEvents._on_answer_item,
    Rec.INPUT_TRANSCRIPT_FAILED: SessionEvents._on_transcript_failed,
    Rec.RESPONSE_CREATED: SessionEvents._on_response_created,
    Rec.AUDIO_DONE: SessionEvents._on_audio_done,
    Rec.AUDIO_TRANSCRIPT_DELTA: SessionEvents._on_transcript,
    Rec.AUDIO_TRANSCRIPT_DONE: SessionEvents._on_transcript,
    Rec.FUNCTION_CALL_ARGUMENTS_DONE: SessionEvents._on_function_call,
    Rec.RESPONSE_DONE: SessionEvents._on_response_done,
    Rec.SPEECH_STARTED: SessionEvents._on_speech_started,
    Rec.SPEECH_STOPPED: SessionEvents._on_speech_stopped,
    Rec.INPUT_TRANSCRIPT_COMPLETED: SessionEvents._on_input_transcript,
    Rec.SERVER_ERROR: SessionEvents._on_error,
}
