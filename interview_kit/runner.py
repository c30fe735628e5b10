"""The ``demo`` and ``run`` subcommands: a whole interview against the built-in emulator, or a live one.

Both open their interview with `interview_kit.launch.open_interview`, as the notebook panel does.
``demo`` hosts the emulator in its own thread (so that the ``blocking`` mode, which blocks this
process's event loop on purpose, reproduces the original failure instead of freezing the server too),
runs a session with the simulated candidate, prints the phase timeline as it happens, a summary table
at the end, and the session folder as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interview_kit import launch
from interview_kit.config import ASSESSMENT_MODES, ConfigError, SessionConfig
from interview_kit.launch import CandidateSource, Problem, SetupError, audio_problem
from interview_kit.records import Dir, Outcome, Rec

if TYPE_CHECKING:
    from interview_kit.launch import OpenedInterview
    from interview_kit.session import InterviewSession, SessionResult

# What each side said, as the event log records it: printed as the interview goes (progress).
_SPOKEN = {
    Rec.AUDIO_TRANSCRIPT_DONE: "interviewer",
    Rec.INPUT_TRANSCRIPT_COMPLETED: "candidate",
}

# What to do about each kind of set-up problem, in the command line's own terms.
_NO_KEY_HINT = "(or pass --base-url for a server that needs none, e.g. `interview-kit emulator`)"
_RUN_NO_AUDIO_HINT = ("without a sound card or a microphone, `interview-kit demo` runs a whole interview "
                      "against the built-in emulator with a simulated candidate and no audio device")
_DEMO_NO_AUDIO_HINT = "without a sound card, leave out --speakers (the audio then plays on a virtual clock)"


def _print_progress(record: Mapping[str, Any]) -> None:
    """Print each spoken turn and each phase change as it happens."""
    speaker = _SPOKEN.get(record.get("type", "")) if record.get("dir") == Dir.IN else None
    if speaker is not None:
        text = " ".join(str(record.get("data", {}).get("transcript", "")).split())
        text = text if len(text) <= 90 else text[:87] + "..."
        print(f"{record['t']:8.2f}s  {speaker:>11}: {text}", flush=True)
    elif record.get("type") == Rec.PHASE:
        data = record.get("data", {})
        move = f"{data.get('from', '?'):>16} -> {data.get('to', '?'):<16}"
        print(f"{record['t']:8.2f}s  {move} {data.get('reason', '')}", flush=True)
    elif record.get("type") == Rec.TRIGGER:
        source = record.get("data", {}).get("source")
        print(f"{record['t']:8.2f}s  assessment triggered by {source}", flush=True)
    elif record.get("type") == Rec.CONNECTION_RESUMED:
        data = record.get("data", {})
        print(f"{record['t']:8.2f}s  resumed on a new connection after {data.get('offline_s', 0):.2f} s "
              f"offline ({data.get('items_replayed', 0)} items replayed)", flush=True)


@contextlib.contextmanager
def on_interrupt(task: asyncio.Task[Any] | None) -> Iterator[None]:
    """Ctrl-C, while the interview is opened and run, cancels `task` from the loop: the session ends
    (outcome ``stopped``) and writes its folder. A second Ctrl-C during that wind-down cancels it again:
    the session stops waiting (report, close handshake) and still writes every file. Handled on the
    loop, never raised between two lines of code, so that no file is ever left half-written (asyncio's
    own handling raises `KeyboardInterrupt` wherever the second Ctrl-C lands). Without loop signal
    handlers (Windows), asyncio's own handling stays."""
    loop = asyncio.get_running_loop()
    presses = 0

    def pressed() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            print("interrupted: ending the interview and saving its folder (Ctrl-C again: stop waiting)",
                  file=sys.stderr, flush=True)
        elif presses == 2:
            print("interrupted again: not waiting any more; the folder is still written", file=sys.stderr,
                  flush=True)
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, pressed)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not Unix
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


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
        ("reconnects", f"{result.reconnects} ({result.offline_s:.2f} s offline)"),
        ("longest stall", f"{result.longest_stall_ms:.1f} ms"),
        ("report time", "-" if result.report_duration_s is None else f"{result.report_duration_s:.2f} s"),
    ]
    if result.not_heard:
        rows.append(("not heard", ", ".join(result.not_heard) + " (given up on: timed out)"))
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


def _chosen(**values: Any) -> dict[str, Any]:
    """The options given on the command line (None: not given, the settings' own value stays)."""
    return {name: value for name, value in values.items() if value is not None}


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
    parser.add_argument("--base-url", default=None,
                        help="talk to this server (e.g. `interview-kit emulator --scenario S` run "
                             "elsewhere) instead of starting the built-in emulator; the candidate answers "
                             "from --scenario")
    parser.add_argument("--api-key-env", default=None,
                        help="with --base-url: environment variable holding its API key "
                             "(default: OPENAI_API_KEY)")
    _add_no_reconnect(parser)


def _add_no_reconnect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-reconnect", dest="reconnect", action="store_false", default=None,
                        help="end the interview when the connection is lost, instead of resuming it on a "
                             "new one (blocking mode never reconnects)")


def demo_main(args: argparse.Namespace) -> int:
    def opened(interview: OpenedInterview) -> None:
        for note in interview.notes:
            print(note, file=sys.stderr)
        scenario, config = interview.scenario, interview.config
        assert scenario is not None
        print(f"scenario {scenario.name} (speed {scenario.speed:g}), "
              f"assessment mode {config.assessment_mode}", flush=True)

    # the assessor is the session's default: OpenAIAssessor on the emulator's (or the server's) chat endpoint
    settings = _chosen(out_dir=args.out, assessment_mode=args.assessment_mode, prompt=args.prompt,
                       base_url=args.base_url, api_key_env=args.api_key_env, reconnect=args.reconnect)
    built_in = args.base_url is None
    if built_in and args.api_key_env is not None:
        print("error: --api-key-env goes with --base-url (the built-in emulator needs no key)",
              file=sys.stderr)
        return 2
    return _run_and_report(
        lambda: launch.open_interview(SessionConfig(), emulator=built_in, candidate=CandidateSource.SIMULATED,
                                      scenario=args.scenario, speed=args.speed, speakers=args.speakers,
                                      settings=settings),
        opened=opened, no_audio_hint=_DEMO_NO_AUDIO_HINT)


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
    _add_no_reconnect(parser)


def run_main(args: argparse.Namespace) -> int:
    try:
        config = SessionConfig.from_toml(args.config) if args.config else SessionConfig()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def opened(_interview: OpenedInterview) -> None:
        print("interviewing: speak when the interviewer has asked; Ctrl-C ends the session", flush=True)

    settings = _chosen(base_url=args.base_url, model=args.model, api_key_env=args.api_key_env,
                       out_dir=args.out, assessment_mode=args.assessment_mode, prompt=args.prompt,
                       reconnect=args.reconnect)
    return _run_and_report(
        lambda: launch.open_interview(config, emulator=False, candidate=CandidateSource.MICROPHONE,
                                      scenario=None, settings=settings),
        opened=opened, no_audio_hint=_RUN_NO_AUDIO_HINT)


def _run_and_report(open_interview: Callable[[], AbstractAsyncContextManager[OpenedInterview]], *,
                    opened: Callable[[OpenedInterview], None], no_audio_hint: str) -> int:
    """Open the interview (`open_interview()`, a `launch.open_interview` call), tell the user about it
    (`opened`), run it, printing turns and phases as they happen, a summary table and the folder last.

    Exit code: 0 complete, 1 any other outcome (``complete_degraded`` too: the candidate did not hear
    the whole assessment), 2 a set-up problem or no audio device, 130 interrupted (the folder printed,
    if there is one).
    """
    from interview_kit.audio import AudioDeviceError

    running: list[InterviewSession] = []

    async def open_and_run() -> SessionResult:
        with on_interrupt(asyncio.current_task()):
            async with open_interview() as interview:
                running.append(interview.session)
                opened(interview)
                interview.session.add_listener(_print_progress)
                freeze_startup_heap()
                return await interview.session.run()

    try:
        result = asyncio.run(open_and_run())
    except SetupError as exc:
        hint = {Problem.NO_KEY: f" {_NO_KEY_HINT}", Problem.NO_AUDIO: f"; {no_audio_hint}"}
        print(f"error: {exc}{hint.get(exc.problem, '')}", file=sys.stderr)
        return 2
    except AudioDeviceError as exc:  # a device that passed the check but would not open
        print(f"error: {audio_problem(exc)}; {no_audio_hint}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        if running and running[0].folder is not None:
            print(running[0].folder, flush=True)
        return 130
    finally:
        gc.unfreeze()
    print(_summary_table(result))
    print(result.folder, flush=True)
    return 0 if result.outcome == Outcome.COMPLETE else 1
