"""The realtime session object: its defaults (as the hosted API reports them) and `session.update`.

An update is judged whole before anything changes (a rejected update leaves the session as it was):
first by the `openai` package's models (what ``session.updated`` echoes must parse), then by its client
type with the hosted rules (`rules.check_param`: unknown fields, literal values, languages, limits),
then by the session's own rules (voice and model are fixed once set) and the emulator's limits
(PCM 24 kHz only), so that a client's mistake gets the hosted API's kind of ``error`` (code and
param naming the field) instead of being silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest
from openai.types.realtime.realtime_session_create_request_param import RealtimeSessionCreateRequestParam

from interview_kit.audio.format import SAMPLE_RATE, WIRE_TYPE, pcm_format
from interview_kit.emulator.checks import ClientEventError, check_model, expect
from interview_kit.emulator.events import new_id
from interview_kit.emulator.rules import check_param

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}


def default_session(model: str) -> dict[str, Any]:
    """The session as `session.created` reports it."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 0,
        "include": None,
        "audio": {
            "input": {
                "format": pcm_format(),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": pcm_format(), "voice": "alloy", "speed": 1.0},
        },
    }


def _number(value: Any, param: str, low: float, high: float | None = None) -> None:
    expect(value, (int, float), param, "a number")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        message = f"Invalid value for '{param}': {value} (must be {bound})."
        raise ClientEventError(message, "invalid_value", param)


def _turn_detection(raw: Any) -> dict[str, Any] | None:
    param = "session.audio.input.turn_detection"
    if raw is None:
        return None
    expect(raw, (dict,), param, "an object or null")
    kind = raw.get("type", "server_vad")
    if kind == "server_vad":
        td = {**SERVER_VAD_DEFAULTS, **raw}
    elif kind == "semantic_vad":
        td = {**SEMANTIC_VAD_DEFAULTS, **raw}
    else:
        raise ClientEventError(
            f"Invalid value: '{kind}'. Supported values are: 'server_vad' and 'semantic_vad'.",
            "invalid_value",
            f"{param}.type",
        )
    for key in ("create_response", "interrupt_response"):
        expect(td[key], (bool,), f"{param}.{key}", "a boolean")
    if kind == "server_vad":
        _number(td["threshold"], f"{param}.threshold", 0.0, 1.0)
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            expect(td[key], (int,), f"{param}.{key}", "an integer")
            _number(td[key], f"{param}.{key}", 0)
    return td


def _format(raw: Any, param: str) -> dict[str, Any]:
    """A format the hosted API takes (checked before) that the emulator also speaks: PCM 24 kHz only."""
    expect(raw, (dict,), param, "an object")
    kind = raw.get("type", WIRE_TYPE)
    if kind != WIRE_TYPE or raw.get("rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ClientEventError(
            f"Invalid value for '{param}': {kind!r} is valid for the hosted API, but the emulator speaks "
            f"{WIRE_TYPE} at {SAMPLE_RATE} Hz only.",
            "invalid_value",
            f"{param}.type",
        )
    return pcm_format()


def apply_update(session: dict[str, Any], update: Any, *, voice_locked: bool = False) -> dict[str, Any]:
    """Return the session with `update` applied, or raise ClientEventError; `session` is not modified.
    `voice_locked`: assistant audio has been sent, so the voice can no longer change."""
    expect(update, (dict,), "session", "an object")
    if update.get("type", "realtime") != "realtime":
        raise ClientEventError(
            f"Invalid value: '{str(update['type'])[:64]}'. This session is of type 'realtime'.",
            "invalid_value",
            "session.type",
        )
    # the openai package's models first (types; what session.updated echoes must parse) ...
    check_model(RealtimeSessionCreateRequest, {**update, "type": "realtime"}, "session")
    # ... then its client type, literal values included, and the hosted rules on top (rules.py)
    check_param(RealtimeSessionCreateRequestParam, update, "session")
    _check_fixed(session, update, voice_locked)
    new = copy.deepcopy(session)
    for key, value in update.items():
        if key == "audio":
            _apply_audio(new["audio"], value)
        elif key == "output_modalities":
            new[key] = list(value)
        elif key == "tools":
            new[key] = checked_tools(value, "session.tools")
        elif key != "type":
            new[key] = copy.deepcopy(value)
    return new


def _check_fixed(session: dict[str, Any], update: dict[str, Any], voice_locked: bool) -> None:
    """The two settings a session keeps: its model, and its voice once it has spoken."""
    model = update.get("model")
    if model is not None and model != session["model"]:
        raise ClientEventError(
            f"Invalid value for 'session.model': the model of a session cannot be changed "
            f"(this session's is '{session['model']}').",
            "invalid_value",
            "session.model",
        )
    voice = ((update.get("audio") or {}).get("output") or {}).get("voice")
    if voice_locked and voice is not None and voice != session["audio"]["output"].get("voice"):
        raise ClientEventError(
            "Cannot update a conversation's voice if assistant audio is present.", "cannot_update_voice"
        )


def _apply_audio(audio: dict[str, Any], raw: dict[str, Any]) -> None:
    """Apply a checked ``session.audio``: the emulator's own limits (formats, ranges) on top."""
    for key, value in raw.get("input", {}).items():
        param = f"session.audio.input.{key}"
        if key == "turn_detection":
            audio["input"][key] = _turn_detection(value)
        elif key == "format":
            audio["input"][key] = _format(value, param)
        else:  # transcription, noise_reduction
            audio["input"][key] = copy.deepcopy(value)
    for key, value in raw.get("output", {}).items():
        param = f"session.audio.output.{key}"
        if key == "format":
            audio["output"][key] = _format(value, param)
        elif key == "speed":
            _number(value, param, 0.25, 1.5)
            audio["output"][key] = value
        else:  # voice
            audio["output"][key] = copy.deepcopy(value)


def checked_tools(raw: Any, param: str) -> list[dict[str, Any]]:
    """A copy of the declared tools, or ClientEventError naming the first bad one."""
    expect(raw, (list,), param, "an array")
    for i, tool in enumerate(raw):
        expect(tool, (dict,), f"{param}[{i}]", "an object")
        if tool.get("type", "function") == "function":
            if "name" not in tool:
                raise ClientEventError(
                    f"Missing required parameter: '{param}[{i}].name'.",
                    "missing_required_parameter",
                    f"{param}[{i}].name",
                )
            expect(tool.get("name"), (str,), f"{param}[{i}].name", "a string")
    return copy.deepcopy(raw)


def tool_names(tools: list[dict[str, Any]]) -> set[str]:
    """Names of the declared function tools."""
    return {
        t["name"] for t in tools if t.get("type", "function") == "function" and isinstance(t.get("name"), str)
    }
