"""The interview's turns as they were heard, on the session clock, for ``transcript.json`` and the
assessor.

An interviewer turn runs from its first to its last played sample; a candidate turn from the server's
speech start to speech stop, mapped from input-stream milliseconds to the session clock by the one rule of
`interview_kit.inputclock` over the ``input_audio_buffer.append`` positions the session sent. A candidate
turn's text may come long after its speech (the hosted service transcribes asynchronously), or never: a
failed transcription leaves the turn with no text (``null`` in ``transcript.json``) and
``transcription_failed: true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interview_kit.inputclock import InputClock


@dataclass
class Turn:
    role: str  # interviewer | candidate
    text: str = ""
    start: float | None = None
    end: float | None = None
    response_id: str | None = None
    item_id: str | None = None
    purpose: str | None = None
    order: float = 0.0  # when the turn was first seen: sorts turns with no audio
    transcription_failed: bool = False  # a candidate turn the server could not transcribe
    cut: bool = False  # an interviewer line a lost connection cut off: `text` is what was heard

    def as_dict(self) -> dict[str, Any]:
        out = {"role": self.role, "text": None if self.transcription_failed else self.text,
               "start": self.start, "end": self.end, "response_id": self.response_id,
               "item_id": self.item_id, "purpose": self.purpose}
        if self.transcription_failed:
            out["transcription_failed"] = True
        if self.cut:
            out["cut"] = True
        return out


class Transcript:
    """Collects turns from server events and playback; order is by start time."""

    def __init__(self) -> None:
        self.clock = InputClock()
        self._interviewer: dict[str, Turn] = {}
        self._candidate: dict[str, Turn] = {}
        self._open_candidate: Turn | None = None
        self._discarded: set[str] = set()

    # interviewer
    def interviewer(self, response_id: str, t: float, purpose: str | None = None) -> Turn:
        turn = self._interviewer.get(response_id)
        if turn is None:
            turn = Turn("interviewer", response_id=response_id, purpose=purpose, order=t)
            if response_id not in self._discarded:  # (a discarded one's events change nothing)
                self._interviewer[response_id] = turn
        elif purpose is not None and turn.purpose is None:
            turn.purpose = purpose
        return turn

    def interviewer_text(self, response_id: str, t: float, *, delta: str = "", final: str | None = None,
                         item_id: str | None = None) -> None:
        turn = self.interviewer(response_id, t)
        turn.item_id = turn.item_id or item_id
        turn.text = final if final is not None else turn.text + delta

    def interviewer_played(self, response_id: str, t: float, *, started: bool) -> None:
        turn = self.interviewer(response_id, t)
        if started:
            turn.start = turn.start if turn.start is not None else t
        else:
            turn.end = t
            if turn.start is None:
                turn.start = t

    # candidate
    def speech_started(self, item_id: str | None, audio_ms: float | None, t: float) -> None:
        start = self.clock.to_session(audio_ms)
        turn = Turn("candidate", item_id=item_id, start=t if start is None else start, order=t)
        self._open_candidate = turn
        self._candidate[item_id or f"_anon{len(self._candidate)}"] = turn

    def speech_stopped(self, item_id: str | None, audio_ms: float | None, t: float) -> None:
        turn = self._candidate.get(item_id or "") or self._open_candidate
        if turn is None:
            turn = Turn("candidate", item_id=item_id, order=t)
            self._candidate[item_id or f"_anon{len(self._candidate)}"] = turn
        end = self.clock.to_session(audio_ms)
        turn.end = t if end is None else end
        self._open_candidate = None

    def candidate_text(self, item_id: str | None, text: str, t: float) -> None:
        turn = self._answer(item_id, t)
        turn.text, turn.transcription_failed = text, False

    def candidate_failed(self, item_id: str | None, t: float) -> None:
        """The server could not transcribe this answer: the turn stays, without text."""
        turn = self._answer(item_id, t)
        if not turn.text:
            turn.transcription_failed = True

    def _answer(self, item_id: str | None, t: float) -> Turn:
        turn = self._candidate.get(item_id or "")
        if turn is None:  # no speech events (manual commit): find the newest turn without text
            silent = [c for c in self._candidate.values()
                      if not c.text and not c.transcription_failed and c.item_id is None]
            turn = silent[-1] if silent else None
            if turn is None:
                turn = Turn("candidate", item_id=item_id, start=t, end=t, order=t)
                self._candidate[item_id or f"_anon{len(self._candidate)}"] = turn
        return turn

    def cut(self, response_id: str, heard: str) -> None:
        """A line a lost connection cut off keeps only what was heard (its rest is asked again)."""
        turn = self._interviewer.get(response_id)
        if turn is not None:
            turn.text, turn.cut = heard, True

    def forget_pending_answers(self) -> int:
        """A new connection hears again the audio of the answers whose transcript had not come: they
        come back under new items, so the old turns (no text, not failed) go. Returns how many."""
        pending = [key for key, turn in self._candidate.items()
                   if not turn.text and not turn.transcription_failed]
        for key in pending:
            del self._candidate[key]
        self._open_candidate = None
        return len(pending)

    def discard(self, response_id: str) -> None:
        """Leave out an interviewer response that is never heard (cancelled at its creation)."""
        self._discarded.add(response_id)
        self._interviewer.pop(response_id, None)

    # views
    def turns(self) -> list[Turn]:
        spoken = [t for t in self._interviewer.values() if t.text or t.start is not None]  # not tool calls
        every = [*spoken, *self._candidate.values()]
        return sorted(every, key=lambda turn: (turn.start if turn.start is not None else turn.order))

    def for_assessment(self, exclude_purposes: frozenset[str]) -> list[dict[str, str]]:
        """The interview's spoken turns as ``{"role", "text"}`` for the assessor."""
        return [{"role": turn.role, "text": turn.text} for turn in self.turns()
                if turn.text.strip() and turn.purpose not in exclude_purposes]

    def as_dict(self) -> dict[str, Any]:
        return {"turns": [turn.as_dict() for turn in self.turns()]}
