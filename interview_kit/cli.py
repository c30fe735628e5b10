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
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interview-kit", description=__doc__.split(".")[0] + ".")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, _func, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            adder = getattr(importlib.import_module(module), "add_arguments_" + name.replace("-", "_"))
        except (ImportError, AttributeError) as exc:  # a subcommand still missing must not break the others
            p.set_defaults(_unavailable=f"{name} is not available: {exc}")
            continue
        adder(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "_unavailable", None):
        print(args._unavailable, file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[args.command]
    try:
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except KeyboardInterrupt:
        return 130
