"""The `interview-kit` command line. Each subcommand's work lives in its own module, imported lazily
so that `interview-kit emulator` does not pay for pandas and `analyse` does not pay for audio."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> (module, function(args) -> int, one-line help). Each module also defines
# `add_arguments_<name>(parser)` with the subcommand's options.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "emulator": ("interview_kit.emulator.cli", "main", "serve the local OpenAI-compatible Realtime emulator"),
    "demo": ("interview_kit.runner", "demo_main", "run a whole interview against the built-in emulator"),
    "run": ("interview_kit.runner", "run_main", "run a live interview (microphone, speakers) against an API"),
    "analyse": ("interview_kit.analysis.cli", "analyse_main", "summarise session folders"),
    "compare-prompts": (
        "interview_kit.analysis.cli", "compare_prompts_main", "score transcripts with prompt variants"
    ),
    "replay": (
        "interview_kit.replay.cli", "replay_main",
        "replay a recorded session folder and compare its decisions",
    ),
    "sessions": (
        "interview_kit.analysis.prune", "sessions_main", "tidy session folders: prune the unusable ones"
    ),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (`only` a command's name, or "" for none) only that subcommand's options:
    each subcommand's module is imported to add them, and some import a lot (the emulator's imports
    openai's types), which ``interview-kit demo`` need not wait for."""
    parser = argparse.ArgumentParser(prog="interview-kit", description=__doc__.split(".")[0] + ".")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, _func, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if only is not None and name != only:
            continue
        try:
            adder = getattr(importlib.import_module(module), "add_arguments_" + name.replace("-", "_"))
        except (ImportError, AttributeError) as exc:  # a subcommand still missing must not break the others
            p.set_defaults(_unavailable=f"{name} is not available: {exc}")
            continue
        adder(p)
    return parser


def _command(argv: list[str]) -> str:
    """The subcommand named on the command line ("" if none): the first word that is not an option
    (the options before it, -v and -h, take no value)."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its exit code. Ctrl-C at any moment, start-up included (building the parser
    imports every subcommand's module), ends with one line and 130, never a traceback."""
    try:
        code = _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    if argv is None:  # the process's own command line: it exits next
        _exit_at_once_on_interrupt(code)
    return code


def _exit_at_once_on_interrupt(code: int) -> None:
    """From here on Ctrl-C keeps `code` (the folder is written already): while the interpreter waits for
    its threads it ends the process at once with it; from the exit handlers on (after which Python
    itself would restore the default, a death by signal) it is ignored."""
    import atexit
    import os
    import signal

    def leave(*_: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)

    try:
        signal.signal(signal.SIGINT, leave)
    except (ValueError, OSError):  # not the main thread
        return
    atexit.register(signal.signal, signal.SIGINT, signal.SIG_IGN)  # (the last registered runs first)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_command(argv)).parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from interview_kit import log_redaction

    # every record through the command line's handler, whichever logger it came from: no secrets
    log_redaction.protect(handlers=logging.getLogger().handlers)
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[args.command]
    return int(getattr(importlib.import_module(module), func)(args) or 0)
