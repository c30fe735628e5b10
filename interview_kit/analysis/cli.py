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

# The summary columns `analyse` prints, most wanted first: (column, header, legend). The default table
# keeps as many as fit the width; `--wide` shows every summary column. Headers are words, not codes.
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("session", "session", ""),
    ("scenario", "scenario", ""),
    ("assessment_mode", "mode", "mode: assessment mode"),
    ("outcome", "outcome", ""),
    ("duration_s", "length", "length: the session"),
    ("gap_median_s", "reply gap", "reply gap: median silence before the interviewer answers"),
    ("ack_to_summary_s", "ack-summary", "ack-summary: silence between acknowledgement and summary"),
    ("report_s", "report", "report: time to write the report"),
    ("longest_stall_s", "stall", "stall: longest event-loop stall"),
    ("close_code", "close", "close: WebSocket close code"),
    ("trigger_to_ack_s", "trigger-ack", "trigger-ack: from the assessment trigger to the acknowledgement"),
    ("summary_to_goodbye_s", "summary-bye", "summary-bye: from the summary's end to the goodbye"),
    ("interviewer_turns", "questions", "questions: interviewer turns"),
    ("candidate_turns", "answers", "answers: candidate turns"),
    ("ping_timeouts", "lost pings", "lost pings: keepalive pings never answered"),
    ("speed", "speed", "speed: audio clock (1 = real time)"),
    ("close_reason", "close reason", ""),
)
TABLE_WIDTH = 100
TEXT_WIDTH = 22  # a text cell longer than this is cut, with "~" at the end
CSV_DECIMALS = 3  # seconds to the millisecond


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
    parser.add_argument(
        "--wide", action="store_true", help=f"every summary column (default: what fits {TABLE_WIDTH} columns)"
    )
    parser.add_argument(
        "--include-unusable",
        action="store_true",
        help="also sessions that cannot be compared with real-time interviews (sped up, unfinished, ...)",
    )


def _cell(value: Any, is_float: bool, width: int | None) -> str:
    import pandas as pd

    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return "-"
    if is_float:
        return f"{value:.2f}"
    text = str(value)
    return text if width is None or len(text) <= width else text[: width - 1] + "~"


def _header(column: str) -> str:
    """A summary column's header in words: the table's own, else its name without the unit suffix."""
    for name, header, _ in TABLE_COLUMNS:
        if name == column:
            return header
    return column.removesuffix("_s").replace("_", " ")


def format_table(summary: Any, *, wide: bool = False, width: int = TABLE_WIDTH) -> tuple[str, str]:
    """The summary as text, and its legend line(s): every column with `wide`, else the most wanted
    columns that fit `width` characters (the legend then says how many more `--wide` shows)."""
    import textwrap

    import pandas as pd

    names = list(summary.columns) if wide else [c for c, _, _ in TABLE_COLUMNS if c in summary.columns]
    cells = {}
    for col in names:
        is_float = pd.api.types.is_float_dtype(summary[col])
        cut = None if wide else TEXT_WIDTH
        cells[col] = [_cell(v, is_float, cut) for v in summary[col]]

    def render(cols: list[str]) -> str:
        table = pd.DataFrame({_header(c): cells[c] for c in cols}, columns=[_header(c) for c in cols])
        return table.to_string(index=False)

    shown = names
    text = render(shown)
    while not wide and len(shown) > 1 and max(map(len, text.splitlines())) > width:
        shown = shown[:-1]
        text = render(shown)
    legend = ["times in seconds", "- none"]
    legend += [why for col, _, why in TABLE_COLUMNS if why and col in shown]
    hidden = len(summary.columns) - len(shown)
    if hidden:
        legend.append(f"{hidden} more columns with --wide or --csv")
    return text, textwrap.fill("; ".join(legend), width=max(width, 40))


def csv_ready(summary: Any) -> Any:
    """The summary as the CSV holds it: seconds (every float) rounded to the millisecond."""
    import pandas as pd

    floats = [c for c in summary.columns if pd.api.types.is_float_dtype(summary[c])]
    return summary.round({c: CSV_DECIMALS for c in floats})


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
        loaded = load_sessions(args.paths, include_unusable=args.include_unusable)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    left_out = loaded.left_out
    if left_out.reasons:
        why = "; ".join(f"{n} {reason}" for reason, n in left_out.counts().most_common())
        print(
            f"left out {len(left_out)} of {left_out.total} sessions: {why} (--include-unusable shows them)",
            file=sys.stderr,
        )
    if not len(loaded):
        print("no usable session" if left_out.reasons else "no session could be loaded", file=sys.stderr)
        return 1
    summary = loaded.summary()
    table, legend = format_table(summary, wide=args.wide)
    print(table)
    print(legend)
    if args.csv:
        csv_ready(summary).to_csv(args.csv, index=False)
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


def _interval(value: float, low: float, high: float) -> str:
    import math

    if value is None or math.isnan(value):
        return "-"
    bounds = "" if math.isnan(low) or math.isnan(high) else f" [{low:.2f}, {high:.2f}]"
    return f"{value:.2f}{bounds}"


def _agreement_table(agreed: Any) -> Any:
    """`prompts.agreement` as printed: each coefficient with its interval in one cell."""
    import pandas as pd

    def cells(name: str) -> list[str]:
        triples = zip(agreed[name], agreed[f"{name}_low"], agreed[f"{name}_high"], strict=True)
        return [_interval(*v) for v in triples]

    return pd.DataFrame(
        {
            "criterion": agreed["criterion"],
            "between": agreed["between"],
            "transcripts": agreed["transcripts"],
            "alpha [95 % CI]": cells("alpha"),
            "ICC [95 % CI]": cells("icc"),
        }
    )


def compare_prompts_main(args: argparse.Namespace) -> int:
    """Run the comparison and print a table per prompt and the agreement; 1 when every call failed."""
    import pandas as pd

    from interview_kit.analysis.prompts import (
        TranscriptError,
        agreement,
        compare_prompts,
        prompt_agreement,
        prompt_table,
        stand_in_note,
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
    note = stand_in_note(results)
    if note:  # first, so that nobody reads the scores as a model's judgement
        print(note)
    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.precision", 2):
        print(prompt_table(results).to_string(index=False))
        agreed = agreement(results)
        if len(agreed):
            print(
                "\nagreement (Krippendorff's alpha, ordinal, and ICC(2,1); 95 % intervals; 1 = full, "
                "0 = chance):"
            )
            print(_agreement_table(agreed).to_string(index=False))
        ranks = prompt_agreement(results)
        if len(ranks):
            print("\nrank agreement between prompts (Spearman's rho over transcripts):")
            print(ranks.to_string(index=False))
        if note:
            print(f"\n{note}")
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
