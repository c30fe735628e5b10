"""Scenario files: the script the emulator's interviewer follows and the simulated candidate answers from.

A scenario is a TOML file (see ``data/scenarios/`` and ``docs/emulator.md``). The emulator reads the
interviewer, latency, keepalive and fault parts; the demo reads the candidate's answers and applies the
``[client]`` section to its session, so one file describes a whole reproducible run.
"""

from __future__ import annotations

import math
import tomllib
import types
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from interview_kit.paths import resolve_named_file

FaultKind = Literal[
    "first_audio_delay",  # extra seconds before the first audio delta of a response
    "slow_audio",  # audio deltas sent at `factor` x real time (0.5 = twice as slow)
    "drop",  # drop the connection `at` seconds, or during the response named by `during`
    "stall",  # stop reading and answering pings for `seconds`
    "no_metadata_echo",  # response.created / response.done without the request's metadata
    "error_event",  # send an `error` event with `code` and `message`
    "chat_delay",  # chat completions take `seconds` longer
    "chat_429",  # the first `count` chat completions get HTTP 429 with Retry-After: `retry_after`
    "chat_500",  # the first `count` chat completions get HTTP 500
    "chat_malformed",  # the first `count` chat completions return content that is not valid JSON
    "session_expiry",  # the session expires `at` after the connection opened: session_expired, close 1001
    "stop_reading",  # from `at` the server reads nothing, answers no ping and sends nothing, for good
    "silent",  # from `at` the server sends no event ever again (it still reads and answers pings)
]
FAULT_KINDS: frozenset[str] = frozenset(FaultKind.__args__)  # type: ignore[attr-defined]
#: The kinds that fire at a moment (`at`, `during`), at most `count` times; `reconnectable` counts
#: those times per emulator, across its connections, instead of per connection.
TIMED_KINDS: tuple[str, ...] = ("drop", "stall", "error_event", "session_expiry", "stop_reading", "silent")
#: `during = "answer"` times a fault from the speech start of the candidate's answer number `answer`.
DURING_ANSWER = "answer"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Fault:
    """One injected fault. `at` counts seconds from the connection's start, or from the start
    (``response.created``) of the response whose purpose is `during` when that is set, or, with
    ``during = "answer"``, from the speech start of the candidate's answer number `answer` (counted
    from 1 over the whole conversation, answers replayed on a new connection included).

    `reconnectable` (timed kinds): `count` is counted per emulator across all its connections, so a
    client that reconnects finds the scenario going on and the fault spent; otherwise per connection."""

    kind: FaultKind
    at: float | None = None
    during: str | None = None
    seconds: float = 0.0
    factor: float = 1.0
    mode: Literal["abrupt", "close_1011"] = "abrupt"
    code: str = "server_error"
    message: str = "The server had an error while processing your request."
    count: int = 1
    retry_after: float = 1.0
    reconnectable: bool = False
    answer: int | None = None


@dataclass(frozen=True)
class Interviewer:
    """What the scripted interviewer says, in order: greeting, questions, then the end."""

    greeting: str = "Hello, and thank you for joining. Let's begin."
    questions: tuple[str, ...] = ()
    closing: str = "Thank you, that is all my questions."
    words_per_minute: float = 160.0
    end_after_answers: int | None = None  # default: after the last question's answer


@dataclass(frozen=True)
class Candidate:
    """The simulated candidate: the answers (also the emulator's transcriptions) and how they are spoken."""

    answers: tuple[str, ...] = ()
    words_per_minute: float = 150.0
    pause: float = 0.6  # seconds of silence between the interviewer's audio ending and the answer


@dataclass(frozen=True)
class Latency:
    """Server latencies in seconds: request -> response.created, response.created -> first audio delta."""

    response_created: float = 0.2
    first_audio: float = 0.3


Timing = Literal["hosted-like", "idealised"]


@dataclass(frozen=True)
class Hosted:
    """The untidiness of the hosted service, used when ``timing = "hosted-like"`` (docs/emulator.md,
    "Hosted-like timing"). Times are seconds of the conversation's timeline (divided by ``speed``),
    except `max_session_s` (real seconds, as keepalive)."""

    transcription_delay: float = 0.6  # commit -> input_audio_transcription.completed / .failed
    late_answers: tuple[int, ...] = ()  # answers (1-based) whose transcription takes `late_delay`
    late_delay: float = 3.0
    failed_answers: tuple[int, ...] = ()  # answers (1-based) whose transcription fails
    burst_factor: float = 3.0  # audio is sent in bursts at this multiple of real time
    burst_seconds: float = 1.0  # seconds of audio per burst
    burst_gap: float = 0.25  # pause between bursts
    transcript_lead: float = 0.5  # a word's transcript delta goes out this much audio ahead of it
    max_session_s: float = 3600.0  # session_expired error, then close 1001 (real seconds)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    language: str = "en"
    speed: float = 1.0  # audio clock multiplier; 1.0 is real time, tests may use 10 or more
    ping_interval: float = 20.0  # the emulator's keepalive ping interval (seconds)
    ping_timeout: float = 20.0  # close with 1011 "keepalive ping timeout" when no pong within this
    report_delay: float = 0.5  # seconds the stand-in chat model takes to answer
    interviewer: Interviewer = field(default_factory=Interviewer)
    candidate: Candidate = field(default_factory=Candidate)
    latency: Latency = field(default_factory=Latency)
    faults: tuple[Fault, ...] = ()
    timing: Timing = "hosted-like"  # "idealised": the old clean timing, no [hosted] behaviour
    hosted: Hosted = field(default_factory=Hosted)
    client: dict[str, Any] = field(default_factory=dict)  # settings the demo applies to its session
    path: Path | None = None

    @property
    def hosted_like(self) -> bool:
        return self.timing == "hosted-like"

    @property
    def answers_before_end(self) -> int:
        """How many candidate answers the interviewer waits for before calling `end_interview`."""
        n = self.interviewer.end_after_answers
        return len(self.interviewer.questions) if n is None else n

    def faults_of(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]


# Fields that must be above zero / at least zero (a rate of 0 divides by zero; a negative delay is a typo).
_POSITIVE = frozenset(
    {"speed", "ping_interval", "ping_timeout", "words_per_minute", "factor"}
    | {"burst_factor", "burst_seconds", "max_session_s"}
)
_NOT_NEGATIVE = frozenset(
    {"report_delay", "pause", "response_created", "first_audio", "at", "seconds", "retry_after"}
    | {"end_after_answers", "transcription_delay", "late_delay", "burst_gap", "transcript_lead"}
)
_ANSWER_NUMBERS = frozenset({"late_answers", "failed_answers"})
_MIN_COUNT = 1


def _is_union(hint: Any) -> bool:
    return isinstance(hint, types.UnionType)


def _describe(hint: Any) -> str:
    """What a field's annotation asks for, in the words of a TOML file."""
    if _is_union(hint):
        return " or ".join(_describe(h) for h in get_args(hint) if h is not type(None))
    if hint is float:
        return "a number"
    if hint is int:
        return "an integer"
    if hint is str:
        return "a string"
    if hint is bool:
        return "true or false"
    if get_origin(hint) is tuple:
        return "an array of integers" if get_args(hint)[0] is int else "an array of strings"
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if get_origin(hint) is dict:
        return "a table"
    return str(hint)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a field's annotation (int for float is fine; bool is no number)."""
    if _is_union(hint):
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float) and math.isfinite(value)
    if hint is int:
        return isinstance(value, int)
    if hint is str:
        return isinstance(value, str)
    if hint is bool:
        return False  # not a bool: checked above
    if get_origin(hint) is tuple:
        item = get_args(hint)[0]
        if item is int:
            return isinstance(value, tuple) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            )
        return isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    if get_origin(hint) is Literal:
        return value in get_args(hint)
    if get_origin(hint) is dict:
        return isinstance(value, dict)
    return True


def _check(cls: type, values: dict[str, Any], where: str) -> None:
    """Type and range of each given field, so a typo fails at load time and not mid-interview."""
    hints = get_type_hints(cls)
    for name, value in values.items():
        hint = hints[name]
        if not _fits(value, hint):
            raise ScenarioError(f"{where}: {name} must be {_describe(hint)}, got {value!r}")
        if name in _ANSWER_NUMBERS and any(v < 1 for v in value):
            raise ScenarioError(f"{where}: {name} counts answers from 1, got {list(value)!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if name in _POSITIVE and value <= 0:
                raise ScenarioError(f"{where}: {name} must be a positive number, got {value!r}")
            if name in _NOT_NEGATIVE and value < 0:
                raise ScenarioError(f"{where}: {name} must not be negative, got {value!r}")
            if name in ("count", "answer") and value < _MIN_COUNT:
                raise ScenarioError(f"{where}: {name} must be at least {_MIN_COUNT}, got {value!r}")


def _check_fault(values: dict[str, Any], where: str) -> None:
    """The rules that tie a fault's fields together (which kinds take `during`, `answer`,
    `reconnectable`), so a fault that could never fire as written fails at load time."""
    kind, during = values["kind"], values.get("during")
    timed = kind in TIMED_KINDS
    if values.get("reconnectable") and not timed:
        raise ScenarioError(
            f"{where}: reconnectable applies to the kinds that fire ({', '.join(TIMED_KINDS)}), not {kind!r}"
        )
    if kind == "session_expiry":
        if during is not None:
            raise ScenarioError(
                f"{where}: session_expiry counts from the connection's start (session.created announces it "
                "in expires_at); it takes no during"
            )
        if not values.get("at"):
            raise ScenarioError(
                f"{where}: session_expiry needs at, the seconds after the connection opened (> 0)"
            )
    if during == DURING_ANSWER:
        if not timed:
            kinds = ", ".join(TIMED_KINDS)
            raise ScenarioError(
                f'{where}: during = "answer" times a fault that fires ({kinds}), not {kind!r}'
            )
        if values.get("answer") is None:
            raise ScenarioError(f'{where}: during = "answer" needs answer, the answer\'s number (from 1)')
    elif values.get("answer") is not None:
        raise ScenarioError(f'{where}: answer is only used with during = "answer"')


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: expected a table, got {type(raw).__name__}")
    known = {f.name for f in fields(cls)} - {"path"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    if cls is Fault and values.get("kind") not in FAULT_KINDS:
        known_kinds = ", ".join(sorted(FAULT_KINDS))
        raise ScenarioError(f"{where}: unknown kind {values.get('kind')!r}; known: {known_kinds}")
    _check(cls, values, where)
    if cls is Fault:
        _check_fault(values, where)
    try:
        return cls(**values)
    except TypeError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def parse_scenario(raw: dict[str, Any], source: str = "<scenario>", path: Path | None = None) -> Scenario:
    """Build a validated `Scenario` from a parsed TOML table."""
    raw = dict(raw)
    nested = {
        "interviewer": _build(Interviewer, raw.pop("interviewer", {}), f"{source} [interviewer]"),
        "candidate": _build(Candidate, raw.pop("candidate", {}), f"{source} [candidate]"),
        "latency": _build(Latency, raw.pop("latency", {}), f"{source} [latency]"),
        "hosted": _build(Hosted, raw.pop("hosted", {}), f"{source} [hosted]"),
    }
    faults = []
    listed = raw.pop("faults", [])
    if not isinstance(listed, list):
        raise ScenarioError(f"{source} [[faults]]: expected an array of tables, got {type(listed).__name__}")
    for i, f in enumerate(listed):
        faults.append(_build(Fault, f, f"{source} [[faults]] #{i + 1}"))
    client = raw.pop("client", {})
    if not isinstance(client, dict):
        raise ScenarioError(f"{source} [client]: expected a table")
    raw.setdefault("name", path.stem if path else "scenario")
    scenario = _build(Scenario, raw, source)
    return replace(scenario, **nested, faults=tuple(faults), client=client, path=path)


def load_scenario(name_or_path: str | Path = "default") -> Scenario:
    """Load a shipped scenario by name (``default``, ``slow-report``, ...) or any TOML file by path."""
    path = resolve_named_file(name_or_path, "scenarios")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    return parse_scenario(raw, str(path), path)
