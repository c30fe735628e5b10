"""What a new connection is told so that the interview goes on where it was (pure: no I/O).

A Realtime session lives and dies with its websocket: a new connection starts a new, empty server
session. To resume, the client sends its settings again and then the conversation so far as
conversation items (the candidate's transcribed answers as user text, the interviewer's lines as
assistant text, the model's function calls and their outputs), as LiveKit Agents does on a reconnect.
A line the drop cut off is asked again from the start of the sentence the candidate was hearing: what
was heard is not repeated, and nobody has to make sense of half a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from interview_kit import protocol as proto

# A sentence ends at . ! ? followed by white space or the end, or at a full-width 。！？ (no space follows).
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?:\s+|$)|[\u3002\uff01\uff1f]+\s*")


INAUDIBLE = "[inaudible]"  # an answer the server could not transcribe, as a new session is told it


SPEECH_LEVEL = 500  # of 32767: about -36 dBFS, well above a quiet room's noise floor, far below speech
LEAD_MS = 1000  # audio kept before the first speech sent again: the server VAD's prefix padding needs it


def _loud(chunk: bytes) -> bool:
    import numpy as np

    samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2")
    return bool(samples.size) and int(np.abs(samples.astype(np.int32)).max()) > SPEECH_LEVEL


def speech_to_resend(chunks: Iterable[tuple[bytes, float, float]]) -> list[tuple[bytes, float, float]]:
    """Of the candidate's audio the old connection may not have fully heard (``(pcm, start_ms,
    end_ms)`` in order), what a new one must hear: from `LEAD_MS` before the first speech on; nothing
    when it is all silence (the new connection has no use for it). Speech in it is an answer the
    server will respond to by itself."""
    chunks = list(chunks)
    first = next((i for i, (pcm, _, _) in enumerate(chunks) if _loud(pcm)), None)
    if first is None:
        return []
    start = chunks[first][1] - LEAD_MS
    return [c for c in chunks[:first] if c[2] > start] + list(chunks[first:])


@dataclass(frozen=True)
class FunctionCallRecord:
    """A function call the model made and what the client answered, at session time `t`."""

    t: float
    call_id: str
    name: str
    arguments: str
    output: str


# Closes after which a new connection can carry on: the server going away (a restart, the session's
# expiry), an abnormal end (no close frame), a server-side error or overload. Not a normal close the
# server chose (1000), a protocol or policy refusal the same client would get again (1002-1010), or an
# application code (4000-4999, e.g. an authentication refusal).
RESUMABLE_CLOSES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


def worth_resuming(code: int | None, by: str) -> bool:
    """Whether a close is one a new connection can recover from. Our own drops (a dead connection
    found here) always are."""
    return by == "client" or code is None or code in RESUMABLE_CLOSES


def backoff_delays(attempts: int, first: float, cap: float) -> list[float]:
    """The wait before each reconnect attempt: `first`, doubled each time, at most `cap`."""
    return [min(cap, first * 2 ** i) for i in range(attempts)]


def heard_fraction(played_ms: float, received_ms: float, *, finished: bool, text_received: int,
                   text_total: int) -> float:
    """How much of a line the candidate heard, as a fraction of its text (an estimate: the audio's
    words are not timed). The line's whole length in audio is what was received when its audio was
    complete; otherwise what was received scaled up by how much of its text the transcript had
    reached (the transcript runs ahead of the audio, so this errs toward "heard more"; the cut
    sentence is repeated whole, which covers it)."""
    if played_ms <= 0 or received_ms <= 0:
        return 0.0
    total_ms = received_ms
    if not finished and 0 < text_received < text_total:
        total_ms = received_ms * text_total / text_received
    return max(0.0, min(1.0, played_ms / total_ms))


def split_heard(text: str, fraction: float) -> tuple[str, str]:
    """`text` cut where `fraction` of it was heard, moved back to the start of that sentence:
    (the sentences heard in full, the rest to say again)."""
    cut = int(len(text) * max(0.0, min(1.0, fraction)))
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > cut:
            break
        start = match.end()
    if fraction >= 1.0:
        start = len(text)
    return text[:start].strip(), text[start:].strip()


def conversation_items(turns: Iterable[Mapping[str, Any]],
                       calls: Iterable[FunctionCallRecord]) -> list[dict[str, Any]]:
    """The ``conversation.item.create`` events that tell a new session the interview so far.

    `turns` are ``transcript.json`` turns in order (a line a drop cut off carries what was heard:
    nothing heard, nothing told); `calls` the function calls, placed by time among them. An answer
    whose transcription failed is told as `INAUDIBLE` (it was an answer: the model, and the emulator's
    script, count it); one whose transcript has not come is left out (its audio is sent again)."""
    placed: list[tuple[float, int, dict[str, Any]]] = []
    for n, turn in enumerate(turns):
        text = INAUDIBLE if turn.get("transcription_failed") else turn.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        role = "user" if turn.get("role") == "candidate" else "assistant"
        t = turn.get("start")
        placed.append((t if isinstance(t, int | float) else float("inf"), n, proto.message_item(role, text)))
    base = len(placed)
    for n, call in enumerate(calls):
        made = proto.function_call_item(call.call_id, call.name, call.arguments)
        placed.append((call.t, base + 2 * n, made))
        placed.append((call.t, base + 2 * n + 1, proto.function_call_output(call.call_id, call.output)))
    placed.sort(key=lambda entry: (entry[0], entry[1]))
    return [event for _, _, event in placed]
