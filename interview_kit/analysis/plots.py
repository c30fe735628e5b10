"""Plots of recorded sessions and prompt comparisons, returned as matplotlib figures.

Figures are built with `matplotlib.figure.Figure`, not pyplot: nothing here touches pyplot's global
state or a display, so they render the same in a script (`fig.savefig("x.png")`) or a headless test.
In IPython/Jupyter a figure that ends a cell is shown as an image (`show_in_ipython`, run on import):
without pyplot nothing else would register one, and the cell would show only ``<Figure ...>``.
Pass `ax=` to draw into an axes of your own.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from interview_kit.analysis.metrics import PHASE_ORDER, assessment_gaps
from interview_kit.analysis.prompts import score_columns
from interview_kit.analysis.sessions import meta_columns
from interview_kit.records import Rec

__all__ = [
    "plot_assessment_gaps",
    "plot_latency",
    "plot_prompt_scores",
    "plot_timeline",
    "score_columns",
    "show_in_ipython",
]

log = logging.getLogger(__name__)

ROLE_COLOURS = {"candidate": "#1f77b4", "interviewer": "#ff7f0e"}
PHASE_COLOURS = dict(
    zip(
        PHASE_ORDER,
        [
            "#e8e8e8",
            "#fde0c5",
            "#facba6",
            "#f8b58b",
            "#f59e72",
            "#c6dbef",
            "#9ecae1",
            "#c7e9c0",
            "#a1d99b",
            "#74c476",
            "#fb6a4a",
            "#cb181d",
        ],
        strict=True,
    )
)
GAP_COLUMNS = {
    "trigger_to_ack_s": "trigger → ack",
    "ack_to_summary_s": "ack → summary",
    "report_s": "report generation",
    "summary_to_goodbye_s": "summary → goodbye",
}


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, cropped to what is drawn (as Jupyter's inline backend shows figures)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def show_in_ipython() -> bool:
    """Have the running IPython (a Jupyter kernel) display a `Figure` as a PNG when it ends a cell.

    Does nothing outside IPython, and leaves alone a PNG formatter for figures that is already there
    (pyplot's inline backend, after ``%matplotlib inline``). True when figures will display as images."""
    ipython = sys.modules.get("IPython")  # only if already imported: a script never pays for IPython
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None:
        return False
    try:
        formatter = shell.display_formatter.formatters["image/png"]
        try:
            formatter.lookup_by_type(Figure)
        except KeyError:
            formatter.for_type(Figure, figure_png)
    except (AttributeError, KeyError):  # a shell without rich display: figures stay text
        log.debug("no image/png formatter in %r", shell, exc_info=True)
        return False
    return True


show_in_ipython()


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_timeline(session: Any, *, ax: Axes | None = None, title: str | None = None) -> Figure:
    """One session on its clock: candidate and interviewer speech as bars, the flow's phases as a band,
    loop stalls as red spans, ping round trips as dots (x for a timeout), and the close as a line."""
    fig, ax = _axes(ax, (12, 4.5))
    turns, phases, stalls, pings = session.turns, session.phases, session.stalls, session.pings
    lanes = {"phases": 0, "interviewer": 1, "candidate": 2}
    for role in ("interviewer", "candidate"):
        rows = turns[(turns["role"] == role) & turns["start"].notna()]
        ends = rows["end"].fillna(rows["start"])
        spans = list(zip(rows["start"], (ends - rows["start"]).clip(lower=0.02), strict=True))
        ax.broken_barh(spans, (lanes[role] - 0.35, 0.7), facecolors=ROLE_COLOURS[role], edgecolor="none")
        cut = rows[rows["truncated"].astype(bool)]
        ax.plot(
            cut["end"], [lanes[role]] * len(cut), marker="|", markersize=18, color="black", linestyle="none"
        )
    seen_phases = []
    for _, row in phases.iterrows():
        phase = str(row["phase"])
        colour = PHASE_COLOURS.get(phase, "#bbbbbb")
        ax.broken_barh(
            [(row["start"], max(row["duration"], 0.01))],
            (-0.35, 0.7),
            facecolors=colour,
            edgecolor="white",
            linewidth=0.5,
        )
        if phase not in seen_phases:
            seen_phases.append(phase)
    for _, row in stalls.iterrows():
        ax.axvspan(row["start"], row["end"], color="red", alpha=0.25, linewidth=0)
    answered = pings[~pings["timeout"]]
    ax.scatter(answered["t"], np.full(len(answered), 2.75), s=12, color="#2ca02c", zorder=3)
    missed = pings[pings["timeout"]]
    ax.scatter(missed["t"], np.full(len(missed), 2.75), s=30, marker="x", color="red", zorder=3)
    closes = session.events[session.events["type"] == Rec.CONNECTION_CLOSED]
    for t, data in zip(closes["t"], closes["data"], strict=True):
        d = data if isinstance(data, dict) else {}
        ax.axvline(t, color="black", linestyle="--", linewidth=1)
        label = f"close {d.get('code', '?')}" + (f" {d['reason']}" if d.get("reason") else "")
        ax.annotate(label, (t, 3.05), rotation=0, ha="right", va="bottom", fontsize=8)
    ax.set_yticks([0, 1, 2, 2.75], ["phase", "interviewer", "candidate", "pings"])
    ax.set_ylim(-0.6, 3.4)
    ax.set_xlabel("session time (s)")
    handles: list[Any] = [
        Patch(color=ROLE_COLOURS["candidate"], label="candidate speech"),
        Patch(color=ROLE_COLOURS["interviewer"], label="interviewer audio played"),
    ]
    handles += [Patch(color=PHASE_COLOURS.get(p, "#bbbbbb"), label=p) for p in seen_phases]
    handles += [
        Patch(color="red", alpha=0.25, label="loop stall"),
        Line2D([], [], marker="o", color="#2ca02c", linestyle="none", label="ping answered"),
        Line2D([], [], marker="x", color="red", linestyle="none", label="ping timed out"),
        Line2D([], [], color="black", linestyle="--", label="connection closed"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    meta = getattr(session, "meta", {}) or {}
    ax.set_title(
        title
        or f"{getattr(session, 'name', 'session')}: {meta.get('scenario') or 'live'}, "
        f"{meta.get('assessment_mode', '?')} mode, outcome {meta.get('outcome', '?')}"
    )
    return fig


def plot_latency(
    sessions: Any,
    *,
    by: str = "scenario",
    metric: str = "gap_s",
    kind: str = "ecdf",
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """The distribution of a per-turn latency (default the voice-to-voice `gap_s`; also `vad_s`,
    `server_created_s`, `server_audio_s`, `client_s`) across sessions, one curve or box per value of
    `by` (a `session.json` field such as `scenario` or `assessment_mode`, or a turns column)."""
    if kind not in ("ecdf", "box"):
        raise ValueError(f"kind must be 'ecdf' or 'box', not {kind!r}")
    turns = sessions.turns
    if metric not in turns.columns:
        raise ValueError(
            f"no per-turn metric {metric!r}; try gap_s, vad_s, server_created_s, server_audio_s, client_s"
        )
    data = meta_columns(sessions, turns, [by]) if by not in turns.columns else turns
    if by not in data.columns:
        raise ValueError(f"cannot group by {by!r}: not a session.json field or a turns column")
    data = data[data[metric].notna()]
    groups = [(str(k), g[metric].to_numpy()) for k, g in data.groupby(data[by].astype(str), sort=True)]
    fig, ax = _axes(ax, (7, 4.5))
    if kind == "ecdf":
        for label, values in groups:
            x = np.sort(values)
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", label=f"{label} (n={len(x)})")
        ax.set_xlabel(f"{metric} (s)")
        ax.set_ylabel("fraction of turns ≤ x")
        ax.set_ylim(0, 1.02)
    else:
        ax.boxplot([v for _, v in groups], tick_labels=[f"{k}\n(n={len(v)})" for k, v in groups])
        ax.set_ylabel(f"{metric} (s)")
        ax.set_xlabel(by)
    if groups and kind == "ecdf":
        ax.legend(title=by, fontsize=8)
    elif not groups:
        ax.text(0.5, 0.5, "no turns with this metric", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{metric} by {by}")
    return fig


def plot_assessment_gaps(
    sessions: Any, *, by: str = "assessment_mode", ax: Axes | None = None, title: str | None = None
) -> Figure:
    """The assessment's silences and report time (`metrics.assessment_gaps`) per group: a bar for the
    median of each gap, one dot per session."""
    gaps = meta_columns(sessions, assessment_gaps(sessions), [by])
    if by not in gaps.columns:
        raise ValueError(f"cannot group by {by!r}: not a session.json field")
    labels = sorted(gaps[by].astype(str).unique())
    fig, ax = _axes(ax, (8, 4.5))
    width = 0.8 / max(len(labels), 1)
    x = np.arange(len(GAP_COLUMNS))
    for i, label in enumerate(labels):
        rows = gaps[gaps[by].astype(str) == label]
        offset = x - 0.4 + width * (i + 0.5)
        medians = [rows[c].median() for c in GAP_COLUMNS]
        ax.bar(offset, np.nan_to_num(medians), width, label=f"{label} (n={len(rows)})", alpha=0.8)
        for j, col in enumerate(GAP_COLUMNS):
            values = rows[col].dropna().to_numpy()
            ax.scatter(np.full(len(values), offset[j]), values, s=14, color="black", zorder=3)
    ax.set_xticks(x, list(GAP_COLUMNS.values()))
    ax.set_ylabel("seconds (bar: median, dots: sessions)")
    ax.legend(title=by, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"assessment gaps by {by}")
    return fig


def plot_prompt_scores(
    results: pd.DataFrame, *, criteria: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """A `compare_prompts` result: mean score per criterion for each prompt (left) and each transcript's
    overall score under each prompt (right; parallel lines mean the prompts agree on the ranking)."""
    ok = results[results["error"].isna()] if "error" in results else results
    criteria = list(criteria) if criteria is not None else score_columns(results)
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    prompts = sorted(ok["prompt"].astype(str).unique()) if len(ok) else []
    width = 0.8 / max(len(prompts), 1)
    x = np.arange(len(criteria))
    for i, prompt in enumerate(prompts):
        rows = ok[ok["prompt"].astype(str) == prompt]
        means = [rows[c].mean() for c in criteria]
        left.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(means), width, label=prompt)
    left.set_xticks(x, [c.removeprefix("score_") for c in criteria], rotation=30, ha="right")
    left.set_ylabel("mean score (1-5)")
    left.set_ylim(0, 5.3)
    left.set_title("criteria by prompt")
    if prompts:
        left.legend(title="prompt", fontsize=8)
    if len(ok):
        overall = (
            ok.groupby([ok["transcript"].astype(str), ok["prompt"].astype(str)])["overall"].mean().unstack()
        )
        for transcript, row in overall.iterrows():
            right.plot(range(len(row)), row.to_numpy(), marker="o", label=str(transcript))
        right.set_xticks(range(len(overall.columns)), list(overall.columns))
        right.legend(title="transcript", fontsize=7)
    failed = int(results["error"].notna().sum()) if "error" in results else 0
    right.set_xlabel("prompt")
    right.set_ylabel("overall score")
    right.set_title("overall per transcript" + (f" ({failed} failed calls not shown)" if failed else ""))
    right.grid(alpha=0.3)
    fig.suptitle(title or "prompt comparison")
    return fig
