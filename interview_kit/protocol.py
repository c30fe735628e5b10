"""The Realtime wire protocol as the interview uses it: builders for the client events it sends and
readers that take a server event apart.

Pure: no I/O, no clock. The shapes follow the ``openai`` package's types in
``openai/types/realtime/`` (the GA protocol). The readers exist because the original client read
``event["response_id"]`` on ``response.done``, a field the protocol does not have there: ids are read
here, once, from where the protocol puts them.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from interview_kit.audio.format import pcm_format

SAY_EXACTLY = "Say exactly the following:"
SETTINGS_UPDATE_ID = "session_update_interview"  # the interview's settings: refused = fatal
TURN_TAKING_OFF_ID = "session_update_turn_taking_off"  # at the trigger: refused = logged

#: Purposes the toolkit names in ``response.create`` metadata.
ASSESSMENT_PURPOSES = frozenset({"ack", "summary", "fallback", "goodbye"})
#: The purpose given to responses nobody asked for (server VAD's automatic responses).
AUTO_PURPOSE = "auto"

#: Events whose response id lives in ``event["response"]["id"]``.
RESPONSE_OBJECT_EVENTS = frozenset({"response.created", "response.done"})
#: Audio the client keeps off the end of a ``conversation.item.truncate``: the hosted service counts an
#: item's audio as slightly shorter than the bytes it sent (by up to ~100 ms) and refuses a truncate at
#: or beyond its count ("audio_end_ms is greater than audio duration"). Twice that shortfall, so a
#: truncate it is sent is always inside the audio; 200 ms is half a word, which the model cannot miss.
TRUNCATE_MARGIN_MS = 200

#: Events whose item lives in ``event["item"]``.
ITEM_OBJECT_EVENTS = frozenset({
    "conversation.item.added", "conversation.item.done", "conversation.item.created",
    "conversation.item.retrieved", "response.output_item.added", "response.output_item.done",
})

END_INTERVIEW_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "end_interview",
    "description": (
        "End the interview once you have asked all your questions and heard the answers. "
        "Call it instead of saying goodbye: the assessment follows."
    ),
    "parameters": {
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "why the interview is over"}},
        "required": ["reason"],
    },
}


class ProtocolError(ValueError):
    """A server frame that is not a JSON object with a string ``type``."""


# ---------------------------------------------------------------------------------------------
# Builders (client events)


def turn_detection(
    *,
    create_response: bool = True,
    interrupt_response: bool = True,
    threshold: float = 0.5,
    prefix_padding_ms: int = 300,
    silence_duration_ms: int = 500,
) -> dict[str, Any]:
    """A server-VAD ``turn_detection`` object."""
    return {
        "type": "server_vad",
        "threshold": threshold,
        "prefix_padding_ms": prefix_padding_ms,
        "silence_duration_ms": silence_duration_ms,
        "create_response": create_response,
        "interrupt_response": interrupt_response,
    }


def session_update(
    *,
    instructions: str | None = None,
    voice: str | None = None,
    turn_detection: Mapping[str, Any] | None = None,
    tools: list[Mapping[str, Any]] | None = None,
    transcription_model: str | None = None,
    language: str | None = None,
    include_turn_detection: bool = True,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The interview's ``session.update``: audio in/out as PCM16 24 kHz, server VAD, the tools.

    Only the fields given are sent, so the same builder makes the small update that turns
    automatic responses and barge-in off at the trigger. `event_id` comes back on an ``error`` that
    refuses the update (`SETTINGS_UPDATE_ID`, `TURN_TAKING_OFF_ID`).
    """
    session: dict[str, Any] = {"type": "realtime"}
    if instructions is not None:
        session["instructions"] = instructions
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    if voice is not None:
        session["output_modalities"] = ["audio"]
        audio_in["format"] = pcm_format()
        audio_out["format"] = pcm_format()
        audio_out["voice"] = voice
    if transcription_model is not None:
        transcription: dict[str, Any] = {"model": transcription_model}
        if language:
            transcription["language"] = language
        audio_in["transcription"] = transcription
    if include_turn_detection:
        audio_in["turn_detection"] = dict(turn_detection) if turn_detection is not None else None
    audio: dict[str, Any] = {}
    if audio_in:
        audio["input"] = audio_in
    if audio_out:
        audio["output"] = audio_out
    if audio:
        session["audio"] = audio
    if tools is not None:
        session["tools"] = [dict(t) for t in tools]
        session["tool_choice"] = "auto"
    update: dict[str, Any] = {"type": "session.update", "session": session}
    if event_id is not None:
        update["event_id"] = event_id
    return update


def input_audio_append(pcm: bytes) -> dict[str, Any]:
    """``input_audio_buffer.append`` with PCM16 audio, base64 encoded."""
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode("ascii")}


def say_exactly(text: str) -> str:
    """Instructions that make the model (and the emulator) speak `text` verbatim."""
    return f"{SAY_EXACTLY} {text}"


def response_create(
    purpose: str,
    *,
    instructions: str | None = None,
    out_of_band: bool = False,
    tool_choice: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """``response.create`` whose ``metadata`` names its purpose (echoed on ``response.created``).

    ``out_of_band`` sets ``conversation: "none"`` so the line does not join the conversation.
    ``tool_choice="none"`` keeps the model from answering with a tool call (the session's tools stay
    declared): an assessment line must be spoken, not another ``end_interview`` call.
    """
    response: dict[str, Any] = {"metadata": {"purpose": purpose}}
    if instructions is not None:
        response["instructions"] = instructions
    if tool_choice is not None:
        response["tool_choice"] = tool_choice
    if out_of_band:
        response["conversation"] = "none"
    event: dict[str, Any] = {"type": "response.create", "response": response}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def response_cancel(response_id: str | None = None) -> dict[str, Any]:
    """``response.cancel``: of the active response, or of the one named by `response_id`."""
    event: dict[str, Any] = {"type": "response.cancel"}
    if response_id is not None:
        event["response_id"] = response_id
    return event


def function_call_output(call_id: str, output: str | Mapping[str, Any]) -> dict[str, Any]:
    """``conversation.item.create`` carrying a function call's result."""
    text = output if isinstance(output, str) else json.dumps(output)
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": text},
    }


def message_item(role: str, text: str) -> dict[str, Any]:
    """``conversation.item.create`` of a text message: ``user`` (``input_text``) or ``assistant``
    (``output_text``), the content types the GA schema gives each role. A resumed session is told the
    interview so far this way: the new server session knows nothing of the old one."""
    content_type = "input_text" if role == "user" else "output_text"
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": role, "content": [{"type": content_type, "text": text}]}}


def function_call_item(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """``conversation.item.create`` of a function call the model made (replayed on a resume)."""
    return {"type": "conversation.item.create",
            "item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}}


def item_truncate(item_id: str, audio_end_ms: int, content_index: int = 0) -> dict[str, Any]:
    """``conversation.item.truncate``: tell the server how much of an assistant item was heard."""
    return {
        "type": "conversation.item.truncate",
        "item_id": item_id,
        "content_index": content_index,
        "audio_end_ms": max(0, int(audio_end_ms)),
    }


def truncate_end_ms(played_ms: float, received_ms: float, *, finished: bool,
                    margin_ms: int = TRUNCATE_MARGIN_MS) -> int | None:
    """The ``audio_end_ms`` to truncate an interrupted item at, or None when no truncate should be sent.

    `played_ms` of the item was heard out of `received_ms` received; `finished`: the server has sent all
    of its audio. The point is kept `margin_ms` inside the audio received (`TRUNCATE_MARGIN_MS`), where
    the hosted service takes it, so a cut within the margin of what had arrived truncates a little
    early (at 0 at the earliest: an unfinished item keeps growing on the server). None when
    nothing was received, or when a finished item was heard to within the margin of its end (fully
    played: there is nothing to cut, and the service would refuse the point).
    """
    limit = int(received_ms) - margin_ms
    if received_ms <= 0 or (finished and played_ms >= limit):
        return None
    return max(0, min(int(played_ms), limit))


# ---------------------------------------------------------------------------------------------
# Readers (server events)


def parse_server_event(frame: str | bytes) -> dict[str, Any]:
    """Decode one server frame; raise `ProtocolError` (never anything else) when it is unusable.

    orjson decodes it (an audio delta three times as fast as ``json``: this runs for every frame); what
    orjson refuses (NaN, a number beyond float range, a lone surrogate, a BOM, UTF-16 bytes) is decoded
    by ``json`` as before. One difference remains: an integer beyond 64 bits becomes a float (none is in
    the protocol).
    """
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        try:
            event = json.loads(frame)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ProtocolError("not an event object with a string 'type'")
    return event


def event_type(event: Mapping[str, Any]) -> str:
    value = event.get("type")
    return value if isinstance(value, str) else ""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def response_id_of(event: Mapping[str, Any]) -> str | None:
    """The response id from where the protocol puts it: ``response.id`` on ``response.created`` /
    ``response.done``, the top-level ``response_id`` on streaming events. (The helpers are inlined:
    this and `item_id_of` run for nearly every server event.)"""
    kind = event.get("type")
    if isinstance(kind, str) and kind in RESPONSE_OBJECT_EVENTS:
        response = event.get("response")
        return _str(response.get("id")) if isinstance(response, Mapping) else None
    rid = event.get("response_id")
    return rid if isinstance(rid, str) and rid else None


def item_id_of(event: Mapping[str, Any]) -> str | None:
    """The conversation item an event belongs to (top-level ``item_id`` or ``item.id``)."""
    kind = event.get("type")
    if isinstance(kind, str) and kind in ITEM_OBJECT_EVENTS:
        item = event.get("item")
        if isinstance(item, Mapping):
            return _str(item.get("id"))
    item_id = event.get("item_id")
    return item_id if isinstance(item_id, str) and item_id else None


def stream_ids_of(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(response_id, item_id)`` of a streaming event (an audio or transcript delta): the top-level
    fields, which is what `response_id_of` and `item_id_of` read for any type outside
    `RESPONSE_OBJECT_EVENTS` and `ITEM_OBJECT_EVENTS`; one call, no type look-up (the audio hot path)."""
    rid, item = event.get("response_id"), event.get("item_id")
    return (rid if isinstance(rid, str) and rid else None, item if isinstance(item, str) and item else None)


def answer_item_of(event: Mapping[str, Any]) -> str | None:
    """The candidate answer an event announces: the item of ``input_audio_buffer.speech_started`` /
    ``.committed``, or of a user message the server added (``conversation.item.added`` /
    ``.created``); None for any other item (the interviewer's, a function call's output)."""
    kind = event.get("type")
    if kind in ("input_audio_buffer.speech_started", "input_audio_buffer.committed"):
        return _str(event.get("item_id"))
    item = event.get("item")
    if isinstance(item, Mapping) and item.get("type") == "message" and item.get("role") == "user":
        return _str(item.get("id"))
    return None


def expires_at_of(event: Mapping[str, Any]) -> int | None:
    """``session.expires_at`` of ``session.created`` / ``session.updated`` (epoch seconds); None when
    absent or not a positive integer (the emulator sends 0: no expiry)."""
    session = event.get("session")
    value = session.get("expires_at") if isinstance(session, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def metadata_of(event: Mapping[str, Any]) -> dict[str, Any]:
    """The echoed request metadata of ``response.created`` / ``response.done`` (empty if absent)."""
    response = event.get("response")
    if isinstance(response, Mapping) and isinstance(response.get("metadata"), Mapping):
        return dict(response["metadata"])
    return {}


def purpose_of(event: Mapping[str, Any]) -> str | None:
    """The ``purpose`` the client put in the request's metadata, if the server echoed it."""
    return _str(metadata_of(event).get("purpose"))


def response_status_of(event: Mapping[str, Any]) -> str | None:
    response = event.get("response")
    return _str(response.get("status")) if isinstance(response, Mapping) else None


def audio_of(event: Mapping[str, Any]) -> bytes:
    """Decoded PCM of a ``response.output_audio.delta`` (empty when the payload is not base64).

    What ``base64.b64decode(delta, validate=True)`` does, without its wrapper's ASCII copy of the
    payload (a2b_base64 reads an ASCII str in place): this runs for every audio frame.
    """
    delta = event.get("delta")
    if not isinstance(delta, str):
        return b""
    try:
        return binascii.a2b_base64(delta, strict_mode=True)
    except (binascii.Error, ValueError):
        return b""


@dataclass(frozen=True)
class FunctionCall:
    """One function call the model made."""

    call_id: str
    name: str
    arguments: str
    item_id: str | None = None


def output_item_ids_of(event: Mapping[str, Any]) -> list[str]:
    """The ids of a response's output items (``response.output[].id``), where the event has them."""
    response = event.get("response")
    output = response.get("output") if isinstance(response, Mapping) else None
    if not isinstance(output, list):
        return []
    return [item["id"] for item in output if isinstance(item, Mapping) and isinstance(item.get("id"), str)]


def function_calls_of(event: Mapping[str, Any]) -> list[FunctionCall]:
    """Function calls in ``response.function_call_arguments.done`` or in ``response.done``'s output."""
    kind = event_type(event)
    if kind == "response.function_call_arguments.done":
        call_id, name = _str(event.get("call_id")), _str(event.get("name"))
        if call_id and name:
            args = event.get("arguments")
            return [FunctionCall(call_id, name, args if isinstance(args, str) else "", item_id_of(event))]
        return []
    if kind == "response.done":
        response = event.get("response")
        output = response.get("output") if isinstance(response, Mapping) else None
        calls = []
        for item in output if isinstance(output, list) else []:
            if isinstance(item, Mapping) and item.get("type") == "function_call":
                call_id, name = _str(item.get("call_id")), _str(item.get("name"))
                if call_id and name:
                    args = item.get("arguments")
                    calls.append(FunctionCall(call_id, name, args if isinstance(args, str) else "",
                                              _str(item.get("id"))))
        return calls
    return []


def error_of(event: Mapping[str, Any]) -> tuple[str | None, str, str | None]:
    """``(code, message, event_id)`` of an ``error`` event."""
    error = event.get("error")
    if not isinstance(error, Mapping):
        return None, str(error or "unknown error"), None
    return _str(error.get("code")), str(error.get("message") or ""), _str(error.get("event_id"))


def error_param_of(event: Mapping[str, Any]) -> str | None:
    """The field an ``error`` event names (``param``, e.g. ``session.audio.output.voice``), if any."""
    error = event.get("error")
    return (_str(error.get("param")) or None) if isinstance(error, Mapping) else None


# ---------------------------------------------------------------------------------------------
# Binding server responses to the requests that asked for them


@dataclass(frozen=True)
class Binding:
    """What a ``response.created`` was bound to, and how (``echo``, ``pending`` or ``auto``)."""

    response_id: str
    purpose: str
    how: str


class ResponseRegistry:
    """Which purpose each response id serves, and which response is current.

    A ``response.created`` that echoes its metadata binds by the echo. Without an echo, the oldest
    request still waiting for its ``response.created`` gets it; with none waiting it is the server's
    own (automatic) response. Streaming events without a ``response_id`` fall back to the current one.
    """

    def __init__(self) -> None:
        self._pending: deque[str] = deque()
        self._purposes: dict[str, str] = {}
        self._done: set[str] = set()  # ids whose response.done came: never current again
        self.current_id: str | None = None

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(self._pending)

    def resumed(self) -> None:
        """A new connection: nothing requested on the old one will be created, and no response is
        current (the ids already bound keep their purposes: their audio may still be playing)."""
        self._pending.clear()
        self.current_id = None

    def requested(self, purpose: str) -> None:
        """A ``response.create`` with this purpose was sent."""
        self._pending.append(purpose)

    def withdrawn(self, purpose: str) -> None:
        """A request was rejected by the server (it will be sent again, and ``requested`` again)."""
        try:
            self._pending.remove(purpose)
        except ValueError:
            pass

    def created(self, event: Mapping[str, Any]) -> Binding | None:
        """Bind a ``response.created``; None when the event carries no response id."""
        rid = response_id_of(event)
        if rid is None:
            return None
        if rid in self._purposes:  # a duplicate created (or one after its done): keep the first binding
            if rid not in self._done:
                self.current_id = rid
            return Binding(rid, self._purposes[rid], "known")
        echoed = purpose_of(event)
        if echoed is not None:
            self.withdrawn(echoed)
            binding = Binding(rid, echoed, "echo")
        elif self._pending:
            binding = Binding(rid, self._pending.popleft(), "pending")
        else:
            binding = Binding(rid, AUTO_PURPOSE, "auto")
        self._purposes[rid] = binding.purpose
        self.current_id = rid
        return binding

    def done(self, event: Mapping[str, Any], items: Mapping[str, str] | None = None,
             finished: Container[str] = ()) -> Binding | None:
        """Resolve a ``response.done``: by its id (bound or not: a done without created after an
        interruption still names its purpose by echo or becomes ``auto``). A done without a usable id
        (``response`` null, missing, its id not a string) binds to the response that owns one of its
        output items (`items`: item id -> response id, as seen in the stream), else to the current
        response once its audio is complete (`finished`: its audio's done came); otherwise to nothing,
        never to a response whose audio may still be arriving."""
        rid = response_id_of(event)
        if rid is None:
            owners = {items[i] for i in output_item_ids_of(event) if i in (items or {})}
            if len(owners) == 1:
                rid = owners.pop()
            elif not owners and self.current_id is not None and self.current_id in finished:
                rid = self.current_id
            else:
                return None
        purpose = self._purposes.get(rid)
        how = "known"
        if purpose is None:
            echoed = purpose_of(event)
            if echoed is not None:
                self.withdrawn(echoed)
                purpose, how = echoed, "echo"
            else:
                purpose, how = AUTO_PURPOSE, "auto"
            self._purposes[rid] = purpose
        if self.current_id == rid:
            self.current_id = None
        self._done.add(rid)
        return Binding(rid, purpose, how)

    def finished(self, response_id: str) -> bool:
        """Whether this response's ``response.done`` came."""
        return response_id in self._done

    def resolve(self, event: Mapping[str, Any]) -> str | None:
        """The response id of any event: its own, else the current response's."""
        return response_id_of(event) or self.current_id

    def purpose(self, response_id: str | None) -> str | None:
        return self._purposes.get(response_id) if response_id else None
