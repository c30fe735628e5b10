"""The hosted API's rules for client input, where they are stricter than "it parses".

Two parts, each rule with its source in docs/emulator.md ("Strictness"):

- **Realtime client events.** `check_param` walks a value against the `openai` package's own
  *client* event types (``openai/types/realtime/*_param.py``, TypedDicts) and refuses what they refuse,
  *including their literal values*: an unknown field at any depth (``unknown_parameter``), a missing
  ``Required`` field, a value outside a ``Literal``. Where a type says ``Union[str, Literal[...]]`` but
  the hosted service accepts only the listed values (voices, transcription models), the field is
  *closed*: the literals are the list. Then the rules no type can express (ISO-639-1 languages,
  token and length limits, one output modality, function names, ...), hooked to the field they judge.
  The literal lists are read from the installed `openai` package, never copied here.
- **Chat completions.** `chat_model_error` applies a small table, keyed by model-name prefix, of the
  parameters reasoning models refuse (``temperature`` other than 1, ``top_p``, ``max_tokens``) and the
  one non-reasoning models refuse (``reasoning_effort``), with the hosted error bodies.

The type reading, the literal lists, the transcription languages and the chat-model table live in
`interview_kit.wire_types`, shared with the client (which checks its settings against them before it
connects); they are re-exported here.

Every refusal is a `ClientEventError` (realtime) or a `ChatParamError` (chat) with the hosted API's
``code``, ``param`` and message wording.
"""

from __future__ import annotations

import collections.abc
import json
import re
from collections.abc import Callable
from typing import Any, Literal, get_args, get_origin

from openai.types.realtime import realtime_client_event_param as _client_events
from openai.types.realtime.audio_transcription_param import AudioTranscriptionParam
from openai.types.realtime.realtime_audio_config_input_param import RealtimeAudioConfigInputParam
from openai.types.realtime.realtime_audio_config_output_param import RealtimeAudioConfigOutputParam
from openai.types.realtime.realtime_function_tool_param import RealtimeFunctionToolParam
from openai.types.realtime.realtime_response_create_audio_output_param import Output as ResponseAudioOutput
from openai.types.realtime.realtime_response_create_params_param import RealtimeResponseCreateParamsParam
from openai.types.realtime.realtime_response_create_params_with_references_param import (
    RealtimeResponseCreateParamsWithReferencesParam,
)
from openai.types.realtime.realtime_session_create_request_param import RealtimeSessionCreateRequestParam
from openai.types.realtime.realtime_truncation_retention_ratio_param import (
    RealtimeTruncationRetentionRatioParam,
)
from openai.types.realtime.response_create_event_with_references_param import (
    ResponseCreateEventWithReferencesParam,
)
from typing_extensions import is_typeddict

from interview_kit.emulator.checks import ClientEventError, join_listed, type_name

# Shared with the client (its settings are checked against the same lists before it connects), and
# re-exported here so that the emulator's rules read in one place.
from interview_kit.wire_types import CHAT_MODEL_RULES as CHAT_MODEL_RULES
from interview_kit.wire_types import OTHER_CHAT_MODELS as OTHER_CHAT_MODELS
from interview_kit.wire_types import (
    TRANSCRIPTION_LANGUAGES,
    chat_model_rule,
    fields_of,
    literal_values,
    transcription_models,
    voices,
)
from interview_kit.wire_types import ChatModelRule as ChatModelRule
from interview_kit.wire_types import union_options as _options

# ---- wording ---------------------------------------------------------------------------------------------


def quoted(value: Any, limit: int = 64) -> str:
    """A value as the hosted messages show it: strings in single quotes (cut at `limit`), others as JSON."""
    if isinstance(value, str):
        return "'" + (value if len(value) <= limit else value[:limit] + "...") + "'"
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def listed(values: collections.abc.Iterable[Any]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``: the hosted API's "Supported values are" list."""
    return join_listed([quoted(v) for v in values])


def invalid_value(value: Any, supported: collections.abc.Iterable[Any], param: str) -> ClientEventError:
    """``Invalid value: 'nova'. Supported values are: 'alloy', ..., and 'cedar'.`` (code invalid_value)."""
    return ClientEventError(
        f"Invalid value: {quoted(value)}. Supported values are: {listed(supported)}.", "invalid_value", param
    )


def invalid_type(value: Any, expected: str, param: str) -> ClientEventError:
    return ClientEventError(
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        "invalid_type",
        param,
    )


def above_max(value: Any, maximum: Any, param: str) -> ClientEventError:
    """``Invalid 'n': integer above maximum value. Expected a value <= 128, but got 130 instead.``"""
    kind = "integer" if isinstance(value, int) else "decimal"
    return ClientEventError(
        f"Invalid '{param}': {kind} above maximum value. Expected a value <= {maximum}, "
        f"but got {quoted(value)} instead.",
        f"{kind}_above_max_value",
        param,
    )


def below_min(value: Any, minimum: Any, param: str) -> ClientEventError:
    kind = "integer" if isinstance(value, int) else "decimal"
    return ClientEventError(
        f"Invalid '{param}': {kind} below minimum value. Expected a value >= {minimum}, "
        f"but got {quoted(value)} instead.",
        f"{kind}_below_min_value",
        param,
    )


def string_too_long(value: str, maximum: int, param: str) -> ClientEventError:
    return ClientEventError(
        f"Invalid '{param}': string too long. Expected a string with maximum length {maximum}, "
        f"but got a string with length {len(value)} instead.",
        "string_above_max_length",
        param,
    )


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


# ---- the openai package's client types, read once --------------------------------------------------------

_NONE = type(None)
_LISTS = (list, collections.abc.Sequence, collections.abc.Iterable, collections.abc.MutableSequence)
_DICTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


# Fields whose type is ``Union[str, Literal[...]]`` where the hosted service accepts the literals only:
# the literals are the list (a custom voice is the VoiceID object, still allowed).
CLOSED: frozenset[tuple[type, str]] = frozenset(
    {
        (RealtimeAudioConfigOutputParam, "voice"),
        (ResponseAudioOutput, "voice"),
        (AudioTranscriptionParam, "model"),
    }
)
# Fields the SDK types as an object but documents as "can be set to null to turn off".
NULLABLE: frozenset[tuple[type, str]] = frozenset(
    {
        (RealtimeAudioConfigInputParam, "transcription"),
        (RealtimeAudioConfigInputParam, "noise_reduction"),
    }
)

VOICES: tuple[str, ...] = voices()  # read from the openai package (interview_kit.wire_types)
TRANSCRIPTION_MODELS: tuple[str, ...] = transcription_models()

MAX_OUTPUT_TOKENS = 4096  # "an integer between 1 and 4096 ... or inf" (the SDK's field description)
METADATA_MAX_PAIRS, METADATA_KEY_MAX, METADATA_VALUE_MAX = 16, 64, 512  # the SDK's `Metadata` description
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# transcription fields only some transcription models take (the SDK's field descriptions)
WHISPER_ONLY_FIELDS = ("delay",)  # "Only supported with gpt-realtime-whisper"
NOT_WHISPER_FIELDS = ("prompt",)  # "Prompt is not supported with gpt-realtime-whisper"
KEYWORD_FIELDS = ("keywords", "languages")  # "Supported by gpt-transcribe and gpt-live-transcribe"
KEYWORD_MODELS = ("gpt-transcribe", "gpt-live-transcribe")


# ---- the rules no type expresses, hooked to the field they judge -----------------------------------------


def _language(value: Any, param: str) -> None:
    if value not in TRANSCRIPTION_LANGUAGES:
        raise invalid_value(value, TRANSCRIPTION_LANGUAGES, param)


def _languages(value: Any, param: str) -> None:
    for i, code in enumerate(value):
        _language(code, f"{param}[{i}]")


def _max_output_tokens(value: Any, param: str) -> None:
    if isinstance(value, int):
        if value < 1:
            raise below_min(value, 1, param)
        if value > MAX_OUTPUT_TOKENS:
            raise above_max(value, MAX_OUTPUT_TOKENS, param)


def _output_modalities(value: Any, param: str) -> None:
    """One of ``["audio"]`` / ``["text"]``: "It is not possible to request both text and audio"."""
    if len(value) != 1:
        raise ClientEventError(
            f"Invalid value for '{param}': {quoted(value)}. Supported values are: ['audio'] and ['text'].",
            "invalid_value",
            param,
        )


def _function_name(value: Any, param: str) -> None:
    if not FUNCTION_NAME.match(value):
        raise ClientEventError(
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the "
            f"pattern '^[a-zA-Z0-9_-]+$' of at most 64 characters, but got {quoted(value)}.",
            "invalid_value",
            param,
        )


def _function_tool(value: dict[str, Any], param: str) -> None:
    if "name" not in value:
        raise ClientEventError(
            f"Missing required parameter: '{param}.name'.", "missing_required_parameter", f"{param}.name"
        )
    parameters = value.get("parameters")
    if "parameters" in value and not isinstance(parameters, dict):
        raise invalid_type(parameters, "an object (a JSON Schema)", f"{param}.parameters")


def _metadata(value: Any, param: str) -> None:
    if not isinstance(value, dict):
        return
    if len(value) > METADATA_MAX_PAIRS:
        raise ClientEventError(
            f"Invalid '{param}': too many properties. Expected an object with at most {METADATA_MAX_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
            "object_above_max_properties",
            param,
        )
    for key, text in value.items():
        if len(key) > METADATA_KEY_MAX:
            raise string_too_long(key, METADATA_KEY_MAX, f"{param}.{key[:METADATA_KEY_MAX]}")
        if isinstance(text, str) and len(text) > METADATA_VALUE_MAX:
            raise string_too_long(text, METADATA_VALUE_MAX, f"{param}.{key}")


def _retention_ratio(value: Any, param: str) -> None:
    if value < 0:
        raise below_min(value, 0, param)
    if value > 1:
        raise above_max(value, 1, param)


def _transcription(value: dict[str, Any], param: str) -> None:
    """Fields that only some transcription models take (judged when the model is named)."""
    model = value.get("model")
    if not isinstance(model, str):
        return
    for name in value:
        allowed = (
            (name not in WHISPER_ONLY_FIELDS or model == "gpt-realtime-whisper")
            and (name not in NOT_WHISPER_FIELDS or model != "gpt-realtime-whisper")
            and (name not in KEYWORD_FIELDS or model in KEYWORD_MODELS)
        )
        if not allowed:
            raise ClientEventError(
                f"Unsupported parameter: '{param}.{name}' is not supported with the transcription model "
                f"{quoted(model)}.",
                "unsupported_parameter",
                f"{param}.{name}",
            )


FieldRule = Callable[[Any, str], None]
FIELD_RULES: dict[tuple[type, str], FieldRule] = {
    (AudioTranscriptionParam, "language"): _language,
    (AudioTranscriptionParam, "languages"): _languages,
    (RealtimeSessionCreateRequestParam, "max_output_tokens"): _max_output_tokens,
    (RealtimeResponseCreateParamsParam, "max_output_tokens"): _max_output_tokens,
    (RealtimeResponseCreateParamsWithReferencesParam, "max_output_tokens"): _max_output_tokens,
    (RealtimeSessionCreateRequestParam, "output_modalities"): _output_modalities,
    (RealtimeResponseCreateParamsParam, "output_modalities"): _output_modalities,
    (RealtimeResponseCreateParamsWithReferencesParam, "output_modalities"): _output_modalities,
    (RealtimeResponseCreateParamsParam, "metadata"): _metadata,
    (RealtimeResponseCreateParamsWithReferencesParam, "metadata"): _metadata,
    (RealtimeFunctionToolParam, "name"): _function_name,
    (RealtimeTruncationRetentionRatioParam, "retention_ratio"): _retention_ratio,
}
OBJECT_RULES: dict[type, FieldRule] = {
    RealtimeFunctionToolParam: _function_tool,
    AudioTranscriptionParam: _transcription,
}


# ---- the walk --------------------------------------------------------------------------------------------


def _kind_name(option: Any) -> str:
    if option is str or get_origin(option) is Literal:
        return "a string"
    if option is bool:
        return "a boolean"
    if option is int:
        return "an integer"
    if option is float:
        return "a number"
    if option is _NONE:
        return "null"
    origin = get_origin(option)
    if option in _LISTS or origin in _LISTS:
        return "an array"
    return "an object"


def _expected(options: tuple[Any, ...]) -> str:
    names: list[str] = []
    for option in options:
        if (name := _kind_name(option)) not in names:
            names.append(name)
    return " or ".join(names)


def _fits(option: Any, value: Any) -> bool:
    """Whether `value` is of the JSON kind `option` takes (its details are judged later)."""
    if option is Any or option is object:
        return True
    if option is _NONE:
        return value is None
    if get_origin(option) is Literal:
        return any(type(v) is type(value) for v in get_args(option))
    if option is bool:
        return isinstance(value, bool)
    if option is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if option is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if option is str:
        return isinstance(value, str)
    origin = get_origin(option) or option
    if origin in _LISTS:
        return isinstance(value, list)
    if origin in _DICTS or is_typeddict(option):
        return isinstance(value, dict)
    return True  # a form the SDK does not use: not judged here


def _discriminate(tds: list[type], value: dict[str, Any], param: str) -> list[type]:
    """Narrow the TypedDict branches a JSON object may be by its literal-valued keys (``type`` first,
    then e.g. ``role``); raise ``invalid_value`` naming the key when no branch takes its value."""
    keys: list[str] = []
    for td in tds:
        for name, spec in fields_of(td).items():
            if get_origin(spec.annotation) is Literal and name not in keys:
                keys.append(name)
    keys.sort(key=lambda k: k != "type")
    candidates = tds
    for key in keys:
        if key in value:
            narrowed = [
                td
                for td in candidates
                if key in fields_of(td)
                and (
                    get_origin(fields_of(td)[key].annotation) is not Literal
                    or value[key] in get_args(fields_of(td)[key].annotation)
                )
            ]
            if not narrowed:
                supported: list[Any] = []
                for td in candidates:
                    spec = fields_of(td).get(key)
                    if spec is not None:
                        supported.extend(v for v in literal_values(spec.annotation) if v not in supported)
                if supported:
                    if not isinstance(value[key], str):
                        raise invalid_type(value[key], "a string", _join(param, key))
                    raise invalid_value(value[key], supported, _join(param, key))
                continue
            candidates = narrowed
        else:
            optional = [
                td for td in candidates if key not in fields_of(td) or not fields_of(td)[key].required
            ]
            if optional:
                candidates = optional
    return candidates


def _check_union(options: tuple[Any, ...], value: Any, param: str, closed: bool) -> None:
    if closed:
        options = tuple(o for o in options if o is not str)
    fitting = [o for o in options if _fits(o, value)]
    if not fitting:
        raise invalid_type(value, _expected(options), param)
    if any(o is Any or o is object for o in fitting):
        return
    if all(get_origin(o) is Literal for o in fitting):
        values: list[Any] = []
        for option in fitting:
            values.extend(v for v in get_args(option) if v not in values)
        if any(v == value and type(v) is type(value) for v in values):
            return
        raise invalid_value(value, values, param)
    if isinstance(value, dict):
        tds = [o for o in fitting if is_typeddict(o)]
        if tds:
            narrowed = _discriminate(tds, value, param)
            fitting = narrowed + [o for o in fitting if not is_typeddict(o)]
    first: ClientEventError | None = None
    for option in fitting:
        try:
            _check(option, value, param, False)
            return
        except ClientEventError as exc:
            first = first or exc
    assert first is not None
    raise first


def _check_object(td: type, value: Any, param: str) -> None:
    if not isinstance(value, dict):
        raise invalid_type(value, "an object", param)
    spec = fields_of(td)
    for key in value:  # unknown fields first: a misspelt field is the most telling mistake
        if key not in spec:
            where = _join(param, str(key))
            raise ClientEventError(f"Unknown parameter: '{where}'.", "unknown_parameter", where)
    for key, field in spec.items():
        if field.required and key not in value:
            where = _join(param, key)
            raise ClientEventError(
                f"Missing required parameter: '{where}'.", "missing_required_parameter", where
            )
    for key, item in value.items():
        where = _join(param, key)
        if item is None and (td, key) in NULLABLE:
            continue
        _check(spec[key].annotation, item, where, (td, key) in CLOSED)
        rule = FIELD_RULES.get((td, key))
        if rule is not None:
            rule(item, where)
    object_rule = OBJECT_RULES.get(td)
    if object_rule is not None:
        object_rule(value, param)


def _check(annotation: Any, value: Any, param: str, closed: bool) -> None:
    if annotation is Any or annotation is object:
        return
    options = _options(annotation)
    if len(options) > 1 or get_origin(annotation) is Literal:
        _check_union(options, value, param, closed)
        return
    if annotation in (str, int, float, bool, _NONE):
        if not _fits(annotation, value):
            raise invalid_type(value, _kind_name(annotation), param)
        return
    if is_typeddict(annotation):
        _check_object(annotation, value, param)
        return
    origin = get_origin(annotation) or annotation
    args = get_args(annotation)
    if origin in _LISTS:
        if not isinstance(value, list):
            raise invalid_type(value, "an array", param)
        for i, item in enumerate(value):
            if args:
                _check(args[0], item, f"{param}[{i}]", closed)
        return
    if origin in _DICTS:
        if not isinstance(value, dict):
            raise invalid_type(value, "an object", param)
        if len(args) == 2:
            for key, item in value.items():
                _check(args[1], item, _join(param, str(key)), False)
        return
    # any other form: not one the realtime client types use; left to the openai models (check_model)


def check_param(annotation: Any, value: Any, param: str) -> None:
    """Raise ClientEventError unless `value` (parsed JSON) is what the `openai` package's client type
    `annotation` allows, literal values included, and passes the hosted rules hooked to its fields.
    `param` is the path of `value` in the event (``session``, ``response``, ``item``; ``""``: the event)."""
    _check(annotation, value, param, False)


# ---- whole client events ---------------------------------------------------------------------------------


def _event_types() -> dict[str, type]:
    out: dict[str, type] = {}
    for td in _options(_client_events.RealtimeClientEventParam):
        for kind in literal_values(fields_of(td)["type"].annotation):
            out[kind] = td
    # `response.input` may also hold references to earlier items (the SDK's "with references" variant)
    out["response.create"] = ResponseCreateEventWithReferencesParam
    return out


EVENT_TYPES: dict[str, type] = _event_types()
ITEM_PARAM: Any = fields_of(EVENT_TYPES["conversation.item.create"])["item"].annotation
RESPONSE_PARAMS: Any = fields_of(EVENT_TYPES["response.create"])["response"].annotation


def check_event_keys(event: dict[str, Any]) -> None:
    """``unknown_parameter`` for a top-level field the event's client type does not have."""
    td = EVENT_TYPES.get(event.get("type", ""))
    if td is None:
        return
    spec = fields_of(td)
    for key in event:
        if key not in spec:
            raise ClientEventError(f"Unknown parameter: '{key}'.", "unknown_parameter", str(key))


def check_event(event: dict[str, Any]) -> None:
    """The whole event against its client type (for events whose handler has no checks of its own)."""
    td = EVENT_TYPES.get(event.get("type", ""))
    if td is not None:
        check_param(td, event, "")


# ---- chat completions: what each model accepts -----------------------------------------------------------


class ChatParamError(ValueError):
    """A chat-completions parameter the requested model does not accept: HTTP 400 with this body."""

    def __init__(self, message: str, code: str, param: str) -> None:
        super().__init__(message)
        self.code, self.param = code, param


def _number_param(body: dict[str, Any], name: str, low: float, high: float) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ChatParamError(
            f"Invalid type for '{name}': expected a number, but got {type_name(value)} instead.",
            "invalid_type",
            name,
        )
    if value < low:
        exc = below_min(value, low if low % 1 else int(low), name)
        raise ChatParamError(str(exc), exc.code, name)
    if value > high:
        exc = above_max(value, high if high % 1 else int(high), name)
        raise ChatParamError(str(exc), exc.code, name)
    return value


def _unsupported_parameter(name: str, hint: str = "") -> ChatParamError:
    return ChatParamError(
        f"Unsupported parameter: '{name}' is not supported with this model.{hint}",
        "unsupported_parameter",
        name,
    )


def chat_model_error(body: dict[str, Any]) -> ChatParamError | None:
    """The hosted API's 400 for a chat-completions body whose parameters its model refuses, or None."""
    rule = chat_model_rule(str(body.get("model", "")))
    try:
        temperature = _number_param(body, "temperature", 0, 2)
        _number_param(body, "top_p", 0, 1)
    except ChatParamError as exc:
        return exc
    if rule.reasoning:
        if temperature is not None:
            if rule.temperature == "unsupported":
                return _unsupported_parameter("temperature")
            if rule.temperature == "default-only" and temperature != 1:
                return ChatParamError(
                    f"Unsupported value: 'temperature' does not support {json.dumps(temperature)} with this "
                    "model. Only the default (1) value is supported.",
                    "unsupported_value",
                    "temperature",
                )
        if body.get("top_p") is not None:
            return _unsupported_parameter("top_p")
        if body.get("max_tokens") is not None:
            return _unsupported_parameter("max_tokens", " Use 'max_completion_tokens' instead.")
    elif body.get("reasoning_effort") is not None:
        return _unsupported_parameter("reasoning_effort")
    return None
