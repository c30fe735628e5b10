"""What the hosted APIs accept, read from the installed `openai` package where it says so: one source of
truth for the client (its settings are checked against it before connecting) and the emulator (which
refuses what the hosted API refuses, `interview_kit.emulator.rules`).

- **Realtime literal lists**: voices and transcription models, read from the
  package's *client* types (the TypedDicts in ``openai/types/realtime/*_param.py``), never copied, so
  upgrading the package moves them. `openai` is imported on first use (it takes about a second), not
  when this module is imported.
- **Transcription languages**: the ISO-639-1 codes hosted transcription accepts (no type lists them).
- **Chat models**: which chat-completions models take sampling parameters, by model-name prefix
  (`CHAT_MODEL_RULES`, `chat_model_rule`). The sources of every entry are in docs/emulator.md
  ("Strictness").

Pure: no I/O, nothing from the rest of the package.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

# ---- reading the openai package's client types -----------------------------------------------------------


@dataclass(frozen=True)
class TypedField:
    """One field of a TypedDict: its annotation and whether it is required."""

    annotation: Any
    required: bool


@cache
def fields_of(td: type) -> dict[str, TypedField]:
    """A TypedDict's fields: annotation (``Required``/``NotRequired`` stripped) and whether required.
    (``__required_keys__`` cannot be trusted: the SDK's modules postpone their annotations.)"""
    out = {}
    total = getattr(td, "__total__", True)
    for name, hint in typing.get_type_hints(td, include_extras=True).items():
        origin = get_origin(hint)
        required = total
        while origin in (Required, NotRequired, typing.Annotated):
            if origin is Required:
                required = True
            elif origin is NotRequired:
                required = False
            hint = get_args(hint)[0]
            origin = get_origin(hint)
        out[name] = TypedField(hint, required)
    return out


def union_options(annotation: Any) -> tuple[Any, ...]:
    """The branches of a union (flattened); a non-union is its own only branch."""
    if get_origin(annotation) in (Union, types.UnionType):
        out: list[Any] = []
        for arg in get_args(annotation):
            out.extend(union_options(arg))
        return tuple(out)
    return (annotation,)


def literal_values(annotation: Any) -> tuple[Any, ...]:
    """Every ``Literal`` value among a (union) annotation's branches, in the SDK's order."""
    values: list[Any] = []
    for option in union_options(annotation):
        if get_origin(option) is Literal:
            values.extend(v for v in get_args(option) if v not in values)
    return tuple(values)


# ---- realtime: the literal lists -------------------------------------------------------------------------


@cache
def voices() -> tuple[str, ...]:
    """The built-in Realtime voices (``session.audio.output.voice``). The type says
    ``Union[str, Literal[...]]`` but the hosted service takes the listed ones only (docs/emulator.md)."""
    from openai.types.realtime.realtime_audio_config_output_param import RealtimeAudioConfigOutputParam

    return literal_values(fields_of(RealtimeAudioConfigOutputParam)["voice"].annotation)


@cache
def transcription_models() -> tuple[str, ...]:
    """The input transcription models (``session.audio.input.transcription.model``); closed like voices."""
    from openai.types.realtime.audio_transcription_param import AudioTranscriptionParam

    return literal_values(fields_of(AudioTranscriptionParam)["model"].annotation)


# ISO-639-1 codes the hosted transcription accepts: the "Supported values are" list of its own error
# for a bad `language` (the Whisper languages; sources in docs/emulator.md).
TRANSCRIPTION_LANGUAGES: tuple[str, ...] = (
    "af", "ar", "az", "be", "bg", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es", "et", "fa", "fi",
    "fr", "gl", "he", "hi", "hr", "hu", "hy", "id", "is", "it", "ja", "kk", "kn", "ko", "lt", "lv", "mi",
    "mk", "mr", "ms", "ne", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "sw", "ta", "th",
    "tl", "tr", "uk", "ur", "vi", "zh",
)  # fmt: skip

# ---- chat completions: what each model accepts -----------------------------------------------------------


@dataclass(frozen=True)
class ChatModelRule:
    """What a family of chat models (by model-name prefix) accepts."""

    prefix: str
    reasoning: bool  # refuses top_p and max_tokens; its temperature is the next field
    temperature: str  # "any" (0..2), "default-only" (1 only), "unsupported" (not even 1)

    @property
    def takes_sampling(self) -> bool:
        """Whether sampling parameters (``temperature``, ``top_p``) may be sent to this model at all."""
        return not self.reasoning and self.temperature == "any"

    def takes_temperature(self, value: float) -> bool:
        """Whether ``temperature=value`` is accepted (a reasoning model may take its default, 1)."""
        return self.temperature == "any" or (self.temperature == "default-only" and value == 1)


# First match wins (a prefix matches the name itself, or the name followed by "-", "." or "_";
# a fine-tuned "ft:<base>:..." is judged by its base). Sources: docs/emulator.md, "Strictness".
CHAT_MODEL_RULES: tuple[ChatModelRule, ...] = (
    ChatModelRule("gpt-5-chat", reasoning=False, temperature="any"),  # gpt-5-chat-latest: not reasoning
    ChatModelRule("gpt-5", reasoning=True, temperature="default-only"),  # gpt-5, -mini, -nano, 5.1, 5.2...
    ChatModelRule("o3-mini", reasoning=True, temperature="unsupported"),
    ChatModelRule("o1", reasoning=True, temperature="default-only"),
    ChatModelRule("o3", reasoning=True, temperature="default-only"),
    ChatModelRule("o4", reasoning=True, temperature="default-only"),
)
OTHER_CHAT_MODELS = ChatModelRule("", reasoning=False, temperature="any")  # gpt-4o, gpt-4.1, ...


def chat_model_rule(model: str) -> ChatModelRule:
    """The rule for `model` (the first prefix that matches), else the one for non-reasoning models."""
    name = model.split(":")[1] if model.startswith("ft:") else model
    for rule in CHAT_MODEL_RULES:
        if name == rule.prefix or (name.startswith(rule.prefix) and name[len(rule.prefix)] in "-._"):
            return rule
    return OTHER_CHAT_MODELS
