"""The realtime session object: its defaults (as the hosted API reports them) and `session.update`.

Updates are validated field by field so that a client's mistake gets the hosted API's kind of
``error`` (code and param naming the field) instead of being silently ignored.
"""

from __future__ import annotations

import copy
from typing import Any

from openai.types.realtime import RealtimeSessionCreateRequest

from interview_kit.audio.format import SAMPLE_RATE, WIRE_TYPE, pcm_format
from interview_kit.emulator.checks import ClientEventError, check_model, expect
from interview_kit.emulator.events import new_id

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
SESSION_KEYS = frozenset(
    {
        "type",
        "model",
        "instructions",
        "output_modalities",
        "audio",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "tracing",
        "truncation",
        "prompt",
        "include",
        "parallel_tool_calls",
        "reasoning",
    }
)


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
    known = SERVER_VAD_DEFAULTS if kind == "server_vad" else SEMANTIC_VAD_DEFAULTS
    for key in raw:
        if key not in known:
            raise ClientEventError(
                f"Unknown parameter: '{param}.{key}'.", "unknown_parameter", f"{param}.{key}"
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
    expect(raw, (dict,), param, "an object")
    kind = raw.get("type", WIRE_TYPE)
    if kind != WIRE_TYPE or raw.get("rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ClientEventError(
            f"Invalid value for '{param}': the emulator speaks {WIRE_TYPE} at {SAMPLE_RATE} Hz only.",
            "invalid_value",
            param,
        )
    return pcm_format()


def apply_update(session: dict[str, Any], update: Any) -> dict[str, Any]:
    """Return the session with `update` applied, or raise ClientEventError; `session` is not modified."""
    expect(update, (dict,), "session", "an object")
    for key in update:
        if key not in SESSION_KEYS:
            param = f"session.{key}"
            raise ClientEventError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)
    if update.get("type", "realtime") != "realtime":
        raise ClientEventError(
            f"Invalid value: '{update['type']}'. This session is of type 'realtime'.",
            "invalid_value",
            "session.type",
        )
    new = copy.deepcopy(session)
    for key, value in update.items():
        if key == "audio":
            _apply_audio(new["audio"], value)
        elif key == "instructions":
            expect(value, (str,), "session.instructions", "a string")
            new[key] = value
        elif key == "output_modalities":
            expect(value, (list,), "session.output_modalities", "an array")
            if not value or any(m not in ("audio", "text") for m in value):
                raise ClientEventError(
                    "Invalid value for 'session.output_modalities': use ['audio'] or ['text'].",
                    "invalid_value",
                    "session.output_modalities",
                )
            new[key] = list(value)
        elif key == "tools":
            new[key] = checked_tools(value, "session.tools")
        elif key != "type":
            new[key] = copy.deepcopy(value)
    # what no hand-written check above covers (tool_choice, tracing, voice objects, ...) must at
    # least be what the openai package accepts, since session.updated echoes it
    check_model(RealtimeSessionCreateRequest, {**update, "type": "realtime"}, "session")
    return new


def _apply_audio(audio: dict[str, Any], raw: Any) -> None:
    expect(raw, (dict,), "session.audio", "an object")
    for side in raw:
        if side not in ("input", "output"):
            raise ClientEventError(
                f"Unknown parameter: 'session.audio.{side}'.", "unknown_parameter", f"session.audio.{side}"
            )
        expect(raw[side], (dict,), f"session.audio.{side}", "an object")
    inp = raw.get("input", {})
    for key, value in inp.items():
        param = f"session.audio.input.{key}"
        if key == "turn_detection":
            audio["input"][key] = _turn_detection(value)
        elif key == "format":
            audio["input"][key] = _format(value, param)
        elif key in ("transcription", "noise_reduction"):
            if value is not None:
                expect(value, (dict,), param, "an object or null")
            audio["input"][key] = copy.deepcopy(value)
        else:
            raise ClientEventError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)
    out = raw.get("output", {})
    for key, value in out.items():
        param = f"session.audio.output.{key}"
        if key == "format":
            audio["output"][key] = _format(value, param)
        elif key == "voice":
            expect(value, (str, dict), param, "a string")
            audio["output"][key] = value
        elif key == "speed":
            _number(value, param, 0.25, 1.5)
            audio["output"][key] = value
        else:
            raise ClientEventError(f"Unknown parameter: '{param}'.", "unknown_parameter", param)


def checked_tools(raw: Any, param: str) -> list[dict[str, Any]]:
    """A copy of the declared tools, or ClientEventError naming the first bad one."""
    expect(raw, (list,), param, "an array")
    for i, tool in enumerate(raw):
        expect(tool, (dict,), f"{param}[{i}]", "an object")
        if tool.get("type", "function") == "function":
            expect(tool.get("name"), (str,), f"{param}[{i}].name", "a string")
    return copy.deepcopy(raw)


def tool_names(tools: list[dict[str, Any]]) -> set[str]:
    """Names of the declared function tools."""
    return {
        t["name"] for t in tools if t.get("type", "function") == "function" and isinstance(t.get("name"), str)
    }
