"""Launching an interview: from what a user chose to a configured `InterviewSession`, set up once.

The command line (`interview-kit demo`, `interview-kit run`) and the notebook panel (`InterviewPanel`)
both open their interviews with `open_interview`: the scenario and its speed, the session settings
(the scenario's ``[client]`` table, the emulator's placeholder key, the user's choices last), the API
key check, the audio device checks, the built-in emulator (started in its own thread or process for
the interview, stopped after it), the candidate's audio input and the interviewer's audio output.

Problems the user can fix are raised as `SetupError`, one plain sentence whose `problem` says what
kind it is; each surface adds what to do in its own terms (a flag for the CLI, a control for the
panel), because only it knows which alternatives it offers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from interview_kit.config import ConfigError, SessionConfig

if TYPE_CHECKING:
    from interview_kit.audio import AudioInput, AudioOutput
    from interview_kit.scenario import Scenario
    from interview_kit.session import InterviewSession

EMULATOR_KEY = "sk-emulator-demo"  # the emulator needs none; the assessor's client insists on one
EMULATOR_START_S = 30.0  # bound on starting or stopping the thread-hosted emulator
URL_SCHEMES = ("http", "https", "ws", "wss")


class CandidateSource(StrEnum):
    """Who answers: the scenario's scripted candidate (a synthetic voice), or a person: at the kernel's
    microphone, or at the browser's (the caller then brings the audio: `open_interview`'s `audio`)."""

    SIMULATED = "simulated"
    MICROPHONE = "microphone"
    BROWSER = "browser"

    @property
    def is_person(self) -> bool:
        """A person answers, in real time (speed 1), with no scripted candidate."""
        return self is not CandidateSource.SIMULATED


#: The caller's own audio for a person's interview: given the session's chunk length, the candidate's
#: input and the interviewer's output (the browser's microphone and speakers).
AudioFactory = Callable[[int], "tuple[AudioInput, AudioOutput]"]


class Problem(StrEnum):
    """What kind of set-up problem a `SetupError` is (each surface says what to do about it)."""

    SETTING = "setting"  # a scenario, setting, prompt or URL that cannot be used
    NO_KEY = "no_key"  # a hosted API and no key in the environment
    NO_AUDIO = "no_audio"  # no PortAudio, no sound card or no microphone
    EMULATOR = "emulator"  # the built-in emulator did not start


class SetupError(Exception):
    """An interview that cannot start as chosen; `str()` is one plain sentence without a fix."""

    def __init__(self, message: str, problem: Problem = Problem.SETTING) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass
class OpenedInterview:
    """What `open_interview` set up: the session to run and the parts a surface shows or controls."""

    session: InterviewSession
    config: SessionConfig  # the settings the session runs with (base_url is the emulator's, if any)
    input: AudioInput  # the candidate's audio input (Mute sets its `muted`)
    output: AudioOutput | None  # the interviewer's output: None for the session's default virtual output
    scenario: Scenario | None  # the emulator's script and the simulated candidate's answers, if any
    notes: list[str] = field(default_factory=list)  # adjustments worth telling the user about


def demo_scenario(name_or_path: str | Path, speed: float | None = None) -> Scenario:
    """A shipped scenario or scenario file, at `speed` (None keeps the scenario's own)."""
    from interview_kit.scenario import load_scenario

    scenario = load_scenario(name_or_path)
    if speed is None:
        return scenario
    if speed <= 0:
        raise ConfigError(f"speed must be positive, got {speed:g}")
    return dataclasses.replace(scenario, speed=float(speed))


def emulator_config(base: SessionConfig, scenario: Scenario, choices: Mapping[str, Any]) -> SessionConfig:
    """Session settings for an interview against the built-in emulator.

    The scenario's `[client]` table applies first (e.g. slow-report's short keepalive), then its audio
    speed and language, a placeholder key (so that a real one is never sent to the emulator), the
    emulator's chat endpoint as the assessor, and the caller's choices (assessment mode, prompt,
    out_dir, base_url) last.
    """
    fixed = {"speed": scenario.speed, "language": scenario.language, "api_key": EMULATOR_KEY,
             "assessor": "openai"}
    try:
        with_client = base.with_overrides(scenario.client)
    except ConfigError as exc:  # say where the setting came from
        raise ConfigError(f"scenario {scenario.path or scenario.name} [client]: {exc}") from None
    return with_client.with_overrides({**fixed, **choices})


def assessment_notes(config: SessionConfig) -> list[str]:
    """What the user should know about the assessment before the interview: a prompt's temperature
    that the assessment model will not be sent (said once; the assessor does not repeat it)."""
    if config.assessor != "openai":
        return []
    from interview_kit.assessment import load_prompt, temperature_warning

    note = temperature_warning(config.assessment_model, load_prompt(config.prompt))
    return [note] if note is not None else []


def audio_problem(exc: BaseException) -> str:
    """An audio device error's message without the audio layer's generic fallback (``...; without a
    sound card, use ...``), which names no option of the surface the user is in."""
    message = str(exc)
    head, sep, tail = message.rpartition("; ")
    return head if sep and tail.startswith("without ") else message


def plan_interview(
    base: SessionConfig,
    *,
    emulator: bool,
    candidate: str = CandidateSource.SIMULATED,
    scenario: str | Path | None = "default",
    speed: float | None = None,
    speakers: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> tuple[SessionConfig, Scenario | None, list[str]]:
    """The settings and the scenario an interview will use, and notes for the user; checks everything
    that needs no device and no server (see `open_interview` for the arguments).

    The emulator's base_url is not known yet: `open_interview` sets it once the emulator listens.
    """
    from interview_kit.assessment import PromptError
    from interview_kit.scenario import ScenarioError

    settings = dict(settings or {})
    url = settings.get("base_url")
    if isinstance(url, str) and urlsplit(url).scheme not in URL_SCHEMES:
        raise SetupError(f"the base URL must start with http://, https://, ws:// or wss:// (got {url!r})")
    try:
        source = CandidateSource(candidate)
    except ValueError:
        known = ", ".join(CandidateSource)
        raise SetupError(f"candidate must be one of {known}; got {candidate!r}") from None
    real_time = speakers or source.is_person
    notes: list[str] = []
    try:
        loaded: Scenario | None = None
        if emulator or source is CandidateSource.SIMULATED:
            if scenario is None:
                raise SetupError("a scenario is needed for the emulator or a simulated candidate")
            loaded = demo_scenario(scenario, speed)
            if real_time and loaded.speed != 1.0:
                why = "the sound card plays" if speakers else "a microphone records"
                notes.append(f"{why} in real time: speed {loaded.speed:g} -> 1")
                loaded = dataclasses.replace(loaded, speed=1.0)
        if emulator:
            assert loaded is not None
            config = emulator_config(base, loaded, settings)
        elif source.is_person:
            config = base.with_overrides({**settings, "speed": 1.0})
        else:
            assert loaded is not None
            config = base.with_overrides({**settings, "speed": loaded.speed, "language": loaded.language})
        notes += assessment_notes(config)
    except (FileNotFoundError, ScenarioError, ConfigError, PromptError) as exc:
        raise SetupError(str(exc)) from None
    if not emulator and config.is_hosted and config.resolve_api_key() is None:
        raise SetupError(f"no API key: set {config.api_key_env} to your OpenAI API key to use the hosted API",
                         Problem.NO_KEY)
    return config, loaded, notes


@contextlib.asynccontextmanager
async def open_interview(
    base: SessionConfig,
    *,
    emulator: bool,
    candidate: str = CandidateSource.SIMULATED,
    scenario: str | Path | None = "default",
    speed: float | None = None,
    speakers: bool = False,
    settings: Mapping[str, Any] | None = None,
    audio: AudioFactory | None = None,
    emulator_process: bool = False,
) -> AsyncIterator[OpenedInterview]:
    """Set up one interview and yield it, ready to `run()`; the emulator (if any) stops on exit.

    - `base`: the session settings to start from (defaults, a TOML file, the panel's config).
    - `emulator`: True starts the built-in emulator (in its own thread, so that a blocked loop cannot
      block it too) and talks to it; False talks to `base_url` (the hosted API by default).
    - `emulator_process`: serve the emulator from a process of its own instead (about 1 s to start):
      its work then never holds this process's interpreter lock, so the session's stall figures are
      the client's alone (`interview_kit.emulator.process`). The notebook panel does.
    - `candidate`: ``simulated`` (the scenario's answers, spoken by a synthetic voice), ``microphone``
      (a person at the kernel's sound card; the interviewer then plays through its speakers) or
      ``browser`` (a person whose audio the caller brings: `audio`).
    - `audio`: for ``browser``, makes the candidate's input and the interviewer's output (the
      browser's microphone and speakers) for the session's chunk length; called after the settings
      and device checks and before the emulator starts, so it may refuse with `SetupError` (no
      microphone yet) with nothing started.
    - `scenario`, `speed`: a shipped scenario name or a scenario file, and its audio clock factor
      (None: the scenario's own); used by the emulator and the simulated candidate.
    - `speakers`: play the interviewer through the sound card (real time) instead of a virtual output.
    - `settings`: the user's session settings (``out_dir``, ``assessment_mode``, ``prompt``,
      ``base_url``...), applied last.

    Raises `SetupError` (nothing started, or the emulator stopped again) for what the user can fix.
    """
    from interview_kit.audio import AudioDeviceError

    config, loaded, notes = plan_interview(base, emulator=emulator, candidate=candidate, scenario=scenario,
                                           speed=speed, speakers=speakers, settings=settings)
    source = CandidateSource(candidate)
    if (source is CandidateSource.BROWSER) != (audio is not None):
        raise SetupError("the browser candidate needs its audio (`audio`), and only it brings its own")
    microphone = source is CandidateSource.MICROPHONE
    try:
        await _check_devices(microphone=microphone, speakers=speakers or microphone)
    except AudioDeviceError as exc:
        raise SetupError(audio_problem(exc), Problem.NO_AUDIO) from None
    own_audio = audio(_chunk_ms(config)) if audio is not None else None  # may refuse, like a device
    async with contextlib.AsyncExitStack() as stack:
        if emulator:
            assert loaded is not None
            base_url = await _start_emulator(stack, loaded, process=emulator_process)
            config = dataclasses.replace(config, base_url=base_url)
        yield _build(config, loaded, source=source, speakers=speakers or microphone, notes=notes,
                     audio=own_audio)


async def _check_devices(*, microphone: bool, speakers: bool) -> None:
    """Fail early, in words, when a device the interview needs is missing (checked off the loop)."""
    from interview_kit.audio import check_input_device, check_output_device

    if speakers:
        await asyncio.to_thread(check_output_device)
    if microphone:
        await asyncio.to_thread(check_input_device)


async def _start_emulator(stack: contextlib.AsyncExitStack, scenario: Scenario, *, process: bool) -> str:
    """Start the emulator in its own thread or process (off the loop) and stop it when `stack` closes;
    its URL."""
    from interview_kit.emulator import Emulator, EmulatorThread
    from interview_kit.emulator.process import EmulatorProcess

    emu: EmulatorProcess | EmulatorThread = (EmulatorProcess(scenario, timeout=EMULATOR_START_S) if process
                                             else Emulator.in_thread(scenario=scenario))

    async def stop() -> None:
        await asyncio.wait_for(asyncio.to_thread(emu.stop), EMULATOR_START_S)

    stack.push_async_callback(stop)  # also when starting fails half-way: stop() is safe then
    try:
        await asyncio.wait_for(asyncio.to_thread(emu.start), EMULATOR_START_S + 5)
    except (RuntimeError, OSError, TimeoutError) as exc:
        raise SetupError(f"the built-in emulator did not start: {exc}", Problem.EMULATOR) from None
    assert emu.base_url is not None
    return emu.base_url


def _chunk_ms(config: SessionConfig) -> int:
    """The session's own rule for its input's chunks (longer when the clock runs fast)."""
    from interview_kit.session import _chunk_ms

    return _chunk_ms(config)


def _build(config: SessionConfig, scenario: Scenario | None, *, source: CandidateSource, speakers: bool,
           notes: list[str], audio: tuple[AudioInput, AudioOutput] | None) -> OpenedInterview:
    from interview_kit.audio import MicrophoneInput, ScriptedVoiceInput, SpeakerOutput
    from interview_kit.session import InterviewSession

    chunk_ms = _chunk_ms(config)
    audio_input: AudioInput
    output: AudioOutput | None  # None: the session's virtual output
    if audio is not None:
        audio_input, output = audio
    else:
        audio_input = (MicrophoneInput(chunk_ms=chunk_ms) if source is CandidateSource.MICROPHONE
                       else ScriptedVoiceInput(config.speed, chunk_ms=chunk_ms))
        output = SpeakerOutput(None) if speakers else None
    candidate = None if source.is_person else scenario
    try:  # a bad prompt name fails here, clearly
        session = InterviewSession(config, output=output, input=audio_input, candidate=candidate,
                                   scenario_name=scenario.name if scenario is not None else None)
    except (FileNotFoundError, ValueError) as exc:
        raise SetupError(str(exc)) from None
    return OpenedInterview(session=session, config=config, input=audio_input, output=output,
                           scenario=scenario, notes=notes)
