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

# A sentence ends at . ! ? (or their full-width forms) followed by white space or the end.
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f]+[\"')\]]*(?:\s+|$)")


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
    nothing heard, nothing told); `calls` the function calls, placed by time among them. A candidate
    turn without text (its transcription failed or has not come) has nothing to tell."""
    placed: list[tuple[float, int, dict[str, Any]]] = []
    for n, turn in enumerate(turns):
        text = turn.get("text")
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
