"""The ``demo`` and ``run`` subcommands: a whole interview against the built-in emulator, or a live one.

``demo`` hosts the emulator in its own thread (so that the ``blocking`` mode, which blocks this
process's event loop on purpose, reproduces the original failure instead of freezing the server too),
runs a session with the simulated candidate, prints the phase timeline as it happens, a summary table
at the end, and the session folder as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interview_kit.config import ASSESSMENT_MODES, ConfigError, SessionConfig

if TYPE_CHECKING:
    from interview_kit.scenario import Scenario
    from interview_kit.session import InterviewSession

EMULATOR_KEY = "sk-emulator-demo"  # the emulator needs none; the assessor's client insists on one


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
    """Session settings for an interview against the built-in emulator, shared by `demo` and the panel.

    The scenario's `[client]` table applies first (e.g. slow-report's short keepalive), then its audio
    speed and language, a placeholder key (so that a real one is never sent to the emulator), and the
    caller's choices (assessment mode, prompt, out_dir, base_url) last.
    """
    fixed = {"speed": scenario.speed, "language": scenario.language, "api_key": EMULATOR_KEY,
             "assessor": "openai"}
    return base.with_overrides(scenario.client).with_overrides({**fixed, **choices})


# What each side said, as the event log records it: printed as the interview goes (progress).
_SPOKEN = {
    "response.output_audio_transcript.done": "interviewer",
    "conversation.item.input_audio_transcription.completed": "candidate",
}


def _print_progress(record: dict[str, Any]) -> None:
    """Print each spoken turn and each phase change as it happens."""
    speaker = _SPOKEN.get(record.get("type", "")) if record.get("dir") == "in" else None
    if speaker is not None:
        text = " ".join(str(record.get("data", {}).get("transcript", "")).split())
        text = text if len(text) <= 90 else text[:87] + "..."
        print(f"{record['t']:8.2f}s  {speaker:>11}: {text}", flush=True)
    elif record.get("type") == "phase":
        data = record.get("data", {})
        move = f"{data.get('from', '?'):>16} -> {data.get('to', '?'):<16}"
        print(f"{record['t']:8.2f}s  {move} {data.get('reason', '')}", flush=True)
    elif record.get("type") == "assessment.trigger":
        source = record.get("data", {}).get("source")
        print(f"{record['t']:8.2f}s  assessment triggered by {source}", flush=True)


def freeze_startup_heap() -> None:
    """Move everything allocated so far (imported modules, types, the emulator's audio) out of the
    garbage collector's reach. None of it is ever garbage, and a full collection over it stops every
    thread for ~50 ms: a loop stall in the middle of the interview's audio."""
    gc.collect()
    gc.freeze()


def _summary_table(result: Any) -> str:
    rows = [
        ("outcome", result.outcome),
        ("close", f"{result.close_code} {result.close_reason or ''}".strip()),
        ("trigger", result.trigger_source or "-"),
        ("longest stall", f"{result.longest_stall_ms:.1f} ms"),
        ("report time", "-" if result.report_duration_s is None else f"{result.report_duration_s:.2f} s"),
    ]
    if result.report_error:
        rows.append(("report error", result.report_error[:100]))
    rtts = [r for r in result.ping_rtts_ms if r is not None]
    if result.ping_rtts_ms:
        missed = len(result.ping_rtts_ms) - len(rtts)
        rows.append(("pings", f"{len(result.ping_rtts_ms)} (max rtt {max(rtts, default=0):.1f} ms, "
                              f"{missed} unanswered)"))
    rows += [(f"  {phase}", f"{seconds:.2f} s") for phase, seconds in result.phase_durations.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# --- demo -------------------------------------------------------------------------------------------


def add_arguments_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="default", help="scenario name or TOML file (default: default)")
    parser.add_argument("--out", type=Path, default=None, help="sessions folder (default: data/sessions)")
    parser.add_argument("--speakers", action="store_true", help="play through the sound card (real time)")
    parser.add_argument("--assessment-mode", choices=ASSESSMENT_MODES, default=None,
                        help="overlap (default): report during the acknowledgement; after-ack: the original "
                             "order; blocking: the original bug (report on the event loop)")
    parser.add_argument("--prompt", default=None, help="assessment prompt name or file (default: default)")
    parser.add_argument("--speed", type=float, default=None,
                        help="audio clock multiplier (default: the scenario's; 1 is real time)")


def demo_main(args: argparse.Namespace) -> int:
    from interview_kit.audio import SpeakerOutput, VirtualOutput
    from interview_kit.emulator import Emulator
    from interview_kit.scenario import ScenarioError
    from interview_kit.session import InterviewSession

    try:
        scenario = demo_scenario(args.scenario, args.speed)
        if args.speakers and scenario.speed != 1.0:
            print(f"--speakers plays in real time: speed {scenario.speed:g} -> 1", file=sys.stderr)
            scenario = dataclasses.replace(scenario, speed=1.0)
        choices = {name: value for name, value in (
            ("out_dir", args.out), ("assessment_mode", args.assessment_mode), ("prompt", args.prompt),
        ) if value is not None}
        config = emulator_config(SessionConfig(), scenario, choices)
    except (FileNotFoundError, ScenarioError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(f"scenario {scenario.name} (speed {scenario.speed:g}), assessment mode {config.assessment_mode}",
          flush=True)
    with Emulator.in_thread(scenario=scenario) as emu:
        config = dataclasses.replace(config, base_url=emu.base_url)
        output = SpeakerOutput(None) if args.speakers else VirtualOutput(None, speed=config.speed)
        try:  # the assessor is the session's default: OpenAIAssessor on the emulator's chat endpoint
            session = InterviewSession(config, output=output, candidate=scenario, scenario_name=scenario.name)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        try:
            return _run_and_report(session)
        finally:
            gc.unfreeze()


# --- run ----------------------------------------------------------------------------------------------


def add_arguments_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=None, help="session settings (TOML)")
    parser.add_argument("--base-url", default=None, help="server base URL (default: the hosted API)")
    parser.add_argument("--model", default=None, help="realtime model (default: gpt-realtime)")
    parser.add_argument("--api-key-env", default=None,
                        help="environment variable holding the API key (default: OPENAI_API_KEY)")
    parser.add_argument("--out", type=Path, default=None, help="sessions folder (default: data/sessions)")
    parser.add_argument("--assessment-mode", choices=ASSESSMENT_MODES, default=None)
    parser.add_argument("--prompt", default=None, help="assessment prompt name or file")


def run_main(args: argparse.Namespace) -> int:
    from interview_kit.audio import (
        AudioDeviceError,
        MicrophoneInput,
        SpeakerOutput,
        check_input_device,
        check_output_device,
    )

    try:
        config = SessionConfig.from_toml(args.config) if args.config else SessionConfig()
        overrides = {name: value for name, value in (
            ("base_url", args.base_url), ("model", args.model), ("api_key_env", args.api_key_env),
            ("out_dir", args.out), ("assessment_mode", args.assessment_mode), ("prompt", args.prompt),
        ) if value is not None}
        config = config.with_overrides(overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.resolve_api_key() is None and config.is_hosted:
        print(f"error: no API key: set {config.api_key_env} (or pass --base-url for a server that needs "
              "none, e.g. `interview-kit emulator`)", file=sys.stderr)
        return 2
    try:
        check_output_device()
        check_input_device()
    except AudioDeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from interview_kit.session import InterviewSession

    try:
        session = InterviewSession(config, output=SpeakerOutput(None), input=MicrophoneInput())
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("interviewing: speak when the interviewer has asked; Ctrl-C ends the session", flush=True)
    return _run_and_report(session)  # the process ends with the interview: no need to unfreeze


def _run_and_report(session: InterviewSession) -> int:
    """Run the session, printing turns and phases as they happen, a summary table and the folder last.

    Exit code: 0 complete, 1 any other outcome, 2 no audio device, 130 interrupted (folder printed).
    """
    from interview_kit.audio import AudioDeviceError

    session.add_listener(_print_progress)
    freeze_startup_heap()
    try:
        result = asyncio.run(session.run())
    except AudioDeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if session.folder is not None:
            print(session.folder)
        return 130
    print(_summary_table(result))
    print(result.folder, flush=True)
    return 0 if result.outcome == "complete" else 1
