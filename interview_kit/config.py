"""The session's settings: one dataclass, loadable from TOML, overridable by a scenario's ``[client]``
table, and snapshotted into ``session.json`` without its secrets.

The settings the first ``session.update`` carries (voice, transcription model, language, server VAD) are
checked when the config is made, against what the hosted API takes (`interview_kit.wire_types`: the
`openai` package's own lists, the same the emulator enforces): a value the server would refuse fails
here, before connecting, with a `ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from interview_kit import wire_types
from interview_kit.eventlog import strip_userinfo

HOSTED_BASE_URL = "https://api.openai.com/v1"
ASSESSMENT_MODES = ("overlap", "after-ack", "blocking")
ASSESSORS = ("openai", "heuristic")

DEFAULT_INSTRUCTIONS = (
    "You are a friendly, professional interviewer holding a short spoken interview. Greet the "
    "candidate, then ask one question at a time and wait for the answer. Keep your turns short. When "
    "you have asked all your questions and heard the answers, call the end_interview tool instead of "
    "saying goodbye yourself: the assessment follows."
)

_SECRET_FIELDS = frozenset({"api_key"})

#: Where each setting goes in the interview's first ``session.update`` (the ``param`` of a server
#: error that refuses it): the session names the setting when the server refuses one.
WIRE_PARAMS: dict[str, str] = {
    "session.instructions": "instructions",
    "session.audio.output.voice": "voice",
    "session.audio.input.transcription.model": "transcription_model",
    "session.audio.input.transcription.language": "language",
    "session.audio.input.turn_detection.threshold": "vad_threshold",
    "session.audio.input.turn_detection.prefix_padding_ms": "vad_prefix_padding_ms",
    "session.audio.input.turn_detection.silence_duration_ms": "vad_silence_duration_ms",
}

#: The standard acknowledgement and goodbye, by language (English for any other).
LINES: dict[str, dict[str, str]] = {
    "en": {"ack": "Thank you. I'm preparing your assessment now; it will take a moment.",
           "goodbye": "That's everything from me. Thank you for your time, and goodbye."},
    "ko": {"ack": "감사합니다. 지금 평가를 준비하고 있습니다. 잠시만 기다려 주세요.",
           "goodbye": "오늘 인터뷰는 여기까지입니다. 시간 내주셔서 감사합니다. 안녕히 계세요."},
}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass
class SessionConfig:
    """Everything a session needs to know. Times are seconds unless named otherwise."""

    base_url: str = HOSTED_BASE_URL
    model: str = "gpt-realtime"
    api_key: str | None = None  # default: the environment variable `api_key_env` at connect time
    api_key_env: str = "OPENAI_API_KEY"
    voice: str = "marin"
    instructions: str = DEFAULT_INSTRUCTIONS
    language: str = "en"  # ISO-639-1 ("en"); a region ("en-US") is accepted, the code alone is sent
    transcription_model: str = "gpt-4o-mini-transcribe"
    # connection
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    close_timeout: float = 2.0
    connect_timeout: float = 10.0
    send_timeout: float = 10.0  # a frame not sent within this: the connection is dead (closed locally)
    silence_timeout: float = 30.0  # no server event while a response is expected: the same
    # reconnect: after an unexpected close, a new connection resumes the interview (never in blocking
    # mode, which exists to reproduce the original failure)
    reconnect: bool = True
    reconnect_attempts: int = 5
    reconnect_delay: float = 0.5  # before the first attempt; doubled each time, up to the next
    reconnect_max_delay: float = 8.0
    expiry_margin: float = 120.0  # move to a new session this long before the server's expires_at
    # assessment
    assessment_mode: str = "overlap"  # overlap | after-ack | blocking (the original bug, to reproduce it)
    prompt: str = "default"
    assessor: str = "openai"  # openai | heuristic
    assessment_model: str = "gpt-4o-mini"
    ack_text: str | None = None  # None: the standard line in `language` (see LINES)
    goodbye_text: str | None = None
    # per-phase timeouts
    response_created_timeout: float = 15.0  # request sent -> response.created
    speaking_timeout: float = 120.0  # response.created -> done and played
    report_timeout: float = 90.0  # report started -> ready
    transcript_wait: float = 5.0  # report started -> every committed answer transcribed (in the budget)
    sequencer_timeout: float = 30.0  # wait for the active response's response.done before a new request
    session_updated_timeout: float = 5.0  # session.update -> session.updated
    # limits (None: no limit)
    max_questions: int | None = None
    max_minutes: float | None = 45.0  # no interview waits forever; the panel and the log say so
    # audio
    speed: float = 1.0  # audio clock multiplier for virtual output and the simulated candidate
    chunk_ms: int = 40
    vad_threshold: float = 0.5
    vad_prefix_padding_ms: int = 300
    vad_silence_duration_ms: int = 500
    # recording
    out_dir: Path = field(default_factory=lambda: Path("data/sessions"))
    record_audio: bool = True  # audio/candidate.wav, audio/interviewer.wav at real time (off: none kept)
    stall_threshold: float = 0.05
    tick_interval: float = 0.05

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.assessment_mode not in ASSESSMENT_MODES:
            raise ConfigError(f"assessment_mode must be one of {', '.join(ASSESSMENT_MODES)}; "
                              f"got {self.assessment_mode!r}")
        if self.assessor not in ASSESSORS:
            raise ConfigError(f"assessor must be one of {', '.join(ASSESSORS)}; got {self.assessor!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in {"max_questions", "max_minutes"}:
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                          or value <= 0):
                    raise ConfigError(f"{f.name} must be a positive number or unset; got {value!r}")
            elif f.type in ("float", "int") and (isinstance(value, bool) or not isinstance(value, int | float)
                                                 or value <= 0):
                raise ConfigError(f"{f.name} must be a positive number; got {value!r}")
        if urlsplit(self.base_url).scheme not in ("http", "https", "ws", "wss"):
            raise ConfigError(f"base_url must be an http(s) or ws(s) URL; got {self.base_url!r}")
        self._check_wire()

    def _check_wire(self) -> None:
        """What the first ``session.update`` carries, against what the hosted API takes; each refusal
        names the setting and what it may be."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "str" and not isinstance(value, str):
                raise ConfigError(f"{f.name} must be a string; got {value!r}")
            if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{f.name} must be an integer; got {value!r}")
        voices = wire_types.voices()
        if self.voice not in voices:
            raise ConfigError(f"voice: {self.voice!r} is not a Realtime voice; "
                              f"choose one of {_listed(voices)}")
        models = wire_types.transcription_models()
        if self.transcription_model not in models:
            raise ConfigError(f"transcription_model: {self.transcription_model!r} is not a Realtime "
                              f"transcription model; choose one of {_listed(models)}")
        if self.language and self.transcription_language not in wire_types.TRANSCRIPTION_LANGUAGES:
            raise ConfigError(f"language: {self.language!r} is not a language the transcription takes; "
                              "use an ISO-639-1 code such as 'en' or 'ko' (a region, as in 'en-US', may "
                              f"follow), one of {_listed(wire_types.TRANSCRIPTION_LANGUAGES)}")
        if self.vad_threshold > 1:
            raise ConfigError(f"vad_threshold: {self.vad_threshold:g} is above 1; the server VAD's "
                              "activation threshold is between 0 and 1 (default 0.5)")

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, path: str | Path) -> SessionConfig:
        """Read a TOML file: keys at the top level or in a ``[session]`` table."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        if isinstance(raw.get("session"), dict):
            raw = {**{k: v for k, v in raw.items() if k != "session"}, **raw["session"]}
        if "api_key" in raw:
            raise ConfigError(f"{path}: api_key does not belong in a config file; set it in the "
                              "environment (OPENAI_API_KEY, or the variable named by api_key_env)")
        try:
            return cls().with_overrides(raw)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def with_overrides(self, overrides: Mapping[str, Any]) -> SessionConfig:
        """A copy with these settings changed; unknown names or wrong types give a clear error."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for name, value in overrides.items():
            values[name] = _coerce(name, known[name].type, value)
        return dataclasses.replace(self, **values)

    # --- views ------------------------------------------------------------------------------------

    def line(self, kind: str) -> str:
        """The acknowledgement (``ack``) or ``goodbye`` to speak: as set, else the standard one."""
        given = self.ack_text if kind == "ack" else self.goodbye_text
        if given:
            return given
        return LINES.get(self.transcription_language, LINES["en"])[kind]

    @property
    def transcription_language(self) -> str:
        """`language` as the transcription takes it: the ISO-639-1 code alone (``en-US`` -> ``en``,
        ``pt_BR`` -> ``pt``); empty: no language sent, the transcription detects it."""
        return self.language.replace("_", "-").split("-")[0].strip().lower()

    def resolve_api_key(self) -> str | None:
        """The key: given, else from the environment variable `api_key_env`."""
        return self.api_key or os.environ.get(self.api_key_env) or None

    @property
    def records_audio(self) -> bool:
        """Whether the session keeps both sides' audio: `record_audio`, at real time only. A sped-up
        rehearsal's audio would be `speed` times longer than its session and is no use for timing
        (the analysis leaves such runs out); `SessionRecorder` can still record one if asked."""
        return self.record_audio and self.speed == 1

    @property
    def reconnects(self) -> bool:
        """Whether a lost connection is resumed: `reconnect`, except in ``blocking`` mode, whose
        point is to show the original failure (the keepalive timeout ending the interview)."""
        return self.reconnect and self.assessment_mode != "blocking"

    @property
    def is_hosted(self) -> bool:
        return urlsplit(self.base_url).hostname == "api.openai.com"

    @property
    def realtime_url(self) -> str:
        """``ws(s)://.../v1/realtime?model=...`` from ``base_url``."""
        parts = urlsplit(self.base_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = parts.path.rstrip("/")
        if not path.endswith("/realtime"):
            path += "/realtime"
        return urlunsplit((scheme, parts.netloc, path, f"model={self.model}", ""))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot without secrets (no API key, no ``user:password@`` in ``base_url``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _SECRET_FIELDS:
                continue
            value = getattr(self, f.name)
            out[f.name] = str(value) if isinstance(value, Path) else value
        out["base_url"] = strip_userinfo(self.base_url)
        return out


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(repr(v) for v in values)


def _coerce(name: str, type_: Any, value: Any) -> Any:
    """Check (and gently convert: int -> float, str -> Path) one override."""
    type_name = str(type_)
    if name == "out_dir":
        if not isinstance(value, str | Path):
            raise ConfigError(f"{name} must be a path; got {value!r}")
        return Path(value)
    if value is None and "None" in type_name:
        return None
    if type_name == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false; got {value!r}")
        return value
    if type_name.startswith("float") or "float" in type_name:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name} must be a number; got {value!r}")
        return float(value)
    if type_name.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer; got {value!r}")
        return value
    if "str" in type_name and not isinstance(value, str):
        raise ConfigError(f"{name} must be a string; got {value!r}")
    return value
