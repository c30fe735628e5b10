"""`interview-kit analyse` and `interview-kit compare-prompts`.

This module is imported to build the top-level parser, so it imports nothing heavy at module level:
pandas, matplotlib and the emulator load inside the main functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

# The summary columns `analyse` prints, with short headers that fit a terminal.
TABLE_COLUMNS = {
    "session": "session",
    "scenario": "scenario",
    "assessment_mode": "mode",
    "outcome": "outcome",
    "duration_s": "dur_s",
    "interviewer_turns": "q_turns",
    "candidate_turns": "a_turns",
    "gap_median_s": "gap_med_s",
    "trigger_to_ack_s": "trig→ack_s",
    "ack_to_summary_s": "ack→sum_s",
    "report_s": "report_s",
    "summary_to_goodbye_s": "sum→bye_s",
    "longest_stall_s": "max_stall_s",
    "ping_timeouts": "ping_to",
    "close_code": "close",
    "close_reason": "close_reason",
}


def add_arguments_analyse(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="DIR_OR_GLOB",
        help="session folders, globs (quote them) or a parent folder such as data/sessions",
    )
    parser.add_argument(
        "--csv", type=Path, metavar="FILE", help="also write the full summary (every column) here"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="save a figure: the timeline of one session, or latency and assessment gaps of many",
    )
    parser.add_argument(
        "--by",
        default="scenario",
        help="group the plot of many sessions by this session.json field (default: scenario)",
    )


def _format_table(summary: Any) -> str:
    import pandas as pd

    table = summary[[c for c in TABLE_COLUMNS if c in summary.columns]].rename(columns=TABLE_COLUMNS)
    shown = table.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")
        else:
            shown[col] = shown[col].map(
                lambda v: "-" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)[:40]
            )
    return shown.to_string(index=False)


def _save_plot(loaded: Any, path: Path, by: str) -> None:
    from matplotlib.figure import Figure

    from interview_kit.analysis.plots import plot_assessment_gaps, plot_latency, plot_timeline

    if len(loaded) == 1:
        fig = plot_timeline(next(iter(loaded)))
    else:
        fig = Figure(figsize=(15, 5), layout="constrained")
        left, right = fig.subplots(1, 2)
        plot_latency(loaded, by=by, ax=left)
        plot_assessment_gaps(loaded, by=by, ax=right)
    fig.savefig(path, dpi=110)


def analyse_main(args: argparse.Namespace) -> int:
    """Print one summary row per session; 1 when nothing could be loaded."""
    from interview_kit.analysis.load import load_sessions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_sessions(args.paths)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if not len(loaded):
        print("no session could be loaded", file=sys.stderr)
        return 1
    summary = loaded.summary()
    print(_format_table(summary))
    if args.csv:
        summary.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.plot:
        try:
            _save_plot(loaded, args.plot, args.by)
        except (ValueError, OSError) as exc:
            print(f"cannot plot: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def add_arguments_compare_prompts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prompts",
        nargs="+",
        required=True,
        metavar="NAME_OR_FILE",
        help="prompt variants: shipped names (default, strict, supportive, ...) or TOML files",
    )
    parser.add_argument(
        "--transcripts",
        nargs="+",
        required=True,
        type=Path,
        metavar="DIR_OR_FILE",
        help="transcript files or folders of them (session folders work too)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="calls per prompt and transcript (default 1)")
    parser.add_argument("--concurrency", type=int, default=4, help="calls at once (default 4)")
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="write every call's row here")
    parser.add_argument("--plot", type=Path, metavar="FILE.png", help="save the comparison plot here")
    parser.add_argument("--model", default="gpt-4o-mini", help="assessment model (default gpt-4o-mini)")
    parser.add_argument(
        "--base-url",
        help="an OpenAI-compatible server; without it (and without "
        "--api-key-env) the built-in emulator answers, offline",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="environment variable holding the API key (default OPENAI_API_KEY with --base-url)",
    )
    parser.add_argument(
        "--scenario", default="default", help="the offline emulator's scenario (default: default)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def compare_prompts_main(args: argparse.Namespace) -> int:
    """Run the comparison and print a table per prompt and the agreement; 1 when every call failed."""
    import pandas as pd

    from interview_kit.analysis.prompts import (
        TranscriptError,
        compare_prompts,
        prompt_agreement,
        prompt_table,
    )
    from interview_kit.assessment import PromptError

    if args.repeats < 1 or args.concurrency < 1:
        print("--repeats and --concurrency must be at least 1", file=sys.stderr)
        return 2
    api_key = None
    if args.api_key_env or args.base_url:
        env = args.api_key_env or "OPENAI_API_KEY"
        api_key = os.environ.get(env)
        if not api_key:
            print(
                f"no API key: set {env} (or leave out --base-url/--api-key-env to run offline)",
                file=sys.stderr,
            )
            return 2
    try:
        results = compare_prompts(
            [str(p) for p in args.transcripts],
            args.prompts,
            repeats=args.repeats,
            concurrency=args.concurrency,
            progress=not args.no_progress,
            model=args.model,
            base_url=args.base_url,
            api_key=api_key,
            scenario=args.scenario,
        )
    except (TranscriptError, PromptError, FileNotFoundError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.precision", 2):
        print(prompt_table(results).to_string(index=False))
        agreement = prompt_agreement(results)
        if len(agreement):
            print("\nrank agreement between prompts (Spearman's rho over transcripts):")
            print(agreement.to_string(index=False))
    failed = results[results["error"].notna()]
    for _, row in failed.drop_duplicates("error").head(5).iterrows():
        print(f"failed: {row['prompt']} on {row['transcript']}: {row['error']}", file=sys.stderr)
    if args.out:
        results.to_csv(args.out, index=False)
        print(f"wrote {args.out}", file=sys.stderr)
    if args.plot:
        from interview_kit.analysis.plots import plot_prompt_scores

        plot_prompt_scores(results).savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0 if len(failed) < len(results) else 1
