"""`interview-kit replay FOLDER`. This module is imported to build the top-level parser, so it imports
nothing heavy at module level: the session, the transport and the assessor load in `replay_main`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from interview_kit.replay.differences import TOLERANCE


def add_arguments_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="a recorded session folder")
    parser.add_argument("--real-time", action="store_true",
                        help="pace by the wall clock (default: a fast-forwarding virtual clock)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where the replay's own session folder goes, kept (default: a new temporary "
                             "folder, removed at the end)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder and print its path (with --out it is kept anyway)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, metavar="S",
                        help=f"seconds a phase may move before it is flagged (default {TOLERANCE:g})")
    parser.add_argument("-v", "--verbose", dest="replay_verbose", action="count", default=0,
                        help="also the requests side by side and the notes of both runs (-vv: debug log)")


def replay_main(args: argparse.Namespace) -> int:
    """Exit 0 when the replay agrees with the recording, 1 when it differs, 2 for a bad folder."""
    from interview_kit.replay.printout import format_result
    from interview_kit.replay.recording import ReplayError
    from interview_kit.replay.run import replay

    verbose = max(getattr(args, "verbose", 0), args.replay_verbose)
    if args.replay_verbose:
        logging.getLogger().setLevel(logging.DEBUG if args.replay_verbose > 1 else logging.INFO)
    if not args.tolerance >= 0:
        print("error: --tolerance must be 0 or more", file=sys.stderr)
        return 2
    try:
        result = replay(args.folder, out_dir=args.out, keep=args.keep, real_time=args.real_time,
                        tolerance=args.tolerance)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result, verbose=verbose), flush=True)
    return 0 if result.agree else 1
