"""Builders for the server events the emulator sends, shaped as the `openai` package's realtime types.

Everything here returns plain dicts (or, for the hot audio path, a ready JSON string) so that sending
stays cheap; the tests check that every one of them parses as ``RealtimeServerEvent``.
"""

from __future__ import annotations

import itertools
import json
import os
from typing import Any

from interview_kit.audio.format import pcm_format

_PREFIX = os.urandom(4).hex()
_COUNTER = itertools.count(1)


def new_id(prefix: str) -> str:
    """A process-unique id such as ``event_1a2b3c4d000042`` (cheap: no randomness per call)."""
    return f"{prefix}_{_PREFIX}{next(_COUNTER):08x}"


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """A server event with a fresh `event_id`."""
    return {"type": type_, "event_id": new_id("event"), **fields}


def error_event(
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    event_id: str | None = None,
    type_: str = "invalid_request_error",
) -> dict[str, Any]:
    """An ``error`` event as the hosted API sends it; `event_id` names the client event that caused it."""
    return event(
        "error",
        error={"type": type_, "code": code, "message": message, "param": param, "event_id": event_id},
    )


def audio_delta_json(response_id: str, item_id: str, b64: str) -> str:
    """The ``response.output_audio.delta`` event as JSON text, built without json.dumps (hot path;
    all parts are ids and base64, which need no escaping)."""
    return (
        '{"type":"response.output_audio.delta","event_id":"'
        + new_id("event")
        + '","response_id":"'
        + response_id
        + '","item_id":"'
        + item_id
        + '","output_index":0,"content_index":0,"delta":"'
        + b64
        + '"}'
    )


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def assistant_item(item_id: str, *, status: str, modality: str, transcript: str | None) -> dict[str, Any]:
    """An assistant message item; `transcript` None while in progress."""
    part: dict[str, Any]
    if modality == "audio":
        part = {"type": "output_audio", "transcript": transcript}
    else:
        part = {"type": "output_text", "text": transcript}
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part] if transcript is not None or status != "in_progress" else [],
    }


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def user_audio_item(item_id: str, transcript: str | None) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [{"type": "input_audio", "transcript": transcript}],
    }


def response_object(
    response_id: str,
    *,
    status: str,
    metadata: dict[str, str] | None,
    modalities: list[str],
    conversation_id: str | None,
    output: list[dict[str, Any]],
    voice: str,
    usage: dict[str, Any] | None = None,
    status_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": status_details,
        "output": output,
        "conversation_id": conversation_id,
        "output_modalities": modalities,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": pcm_format(), "voice": voice}},
        "usage": usage,
        "metadata": metadata,
    }


def usage(
    input_text_tokens: int, output_text_tokens: int, output_audio_tokens: int, input_audio_tokens: int = 0
) -> dict[str, Any]:
    inp = input_text_tokens + input_audio_tokens
    out = output_text_tokens + output_audio_tokens
    return {
        "total_tokens": inp + out,
        "input_tokens": inp,
        "output_tokens": out,
        "input_token_details": {
            "text_tokens": input_text_tokens,
            "audio_tokens": input_audio_tokens,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text_tokens, "audio_tokens": output_audio_tokens},
    }


def rate_limits(requests_remaining: int, tokens_remaining: int) -> dict[str, Any]:
    return event(
        "rate_limits.updated",
        rate_limits=[
            {"name": "requests", "limit": 5000, "remaining": requests_remaining, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 40000, "remaining": tokens_remaining, "reset_seconds": 0.0},
        ],
    )
