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
from interview_kit.analysis.prompts import score_columns, stand_in_note
from interview_kit.analysis.sessions import meta_columns
from interview_kit.analysis.usable import run_speed
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


# Conditions that make runs incomparable: a figure never pools runs that differ in one of them (they
# become part of each group's label instead), so a mode comparison never mixes scenarios.
STRATA = ("scenario", "speed", "target")
MODE_FIELDS = frozenset({"mode", "assessment_mode"})


def usable_sessions(sessions: Any, include_unusable: bool, where: str) -> tuple[Any, str]:
    """`sessions` without the unusable ones (unless `include_unusable`), and a note for the figure
    naming how many this plot left out and why ("" when it left none out: what a loader left out
    already, the caller has been told, and the figure is the same as without those sessions)."""
    if include_unusable or not hasattr(sessions, "usable_only"):
        return sessions, ""
    kept = sessions.usable_only(where=where)
    if len(kept) == len(sessions):
        return kept, ""
    return kept, str(kept.left_out)


def _footnote(fig: Figure, note: str) -> None:
    """The left-out note under the figure (a figure-level label: the layout makes room for it)."""
    if note:
        fig.supxlabel(note, fontsize=7, color="#555555")


def _strata(data: pd.DataFrame, by: str) -> list[str]:
    """The conditions (`STRATA`) that vary in `data` besides `by`: each group is split by them."""
    return [c for c in STRATA if c != by and c in data.columns and data[c].astype(str).nunique() > 1]


def _group_labels(data: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One label per row: the values of `columns` joined ("slow-report · blocking")."""
    parts = [
        data[c].map(lambda v, c=c: f"{v:g}x" if c == "speed" and isinstance(v, float) else str(v))
        for c in columns
    ]
    label = parts[0].astype(str)
    for part in parts[1:]:
        label = label + " · " + part.astype(str)
    return label


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
    offline = _offline_spans(session)
    for start, end in offline:
        ax.axvspan(start, end, facecolor="#999999", alpha=0.3, hatch="//", edgecolor="#666666", linewidth=0)
    answered = pings[~pings["timeout"]]
    ax.scatter(answered["t"], np.full(len(answered), 2.75), s=12, color="#2ca02c", zorder=3)
    missed = pings[pings["timeout"]]
    ax.scatter(missed["t"], np.full(len(missed), 2.75), s=30, marker="x", color="red", zorder=3)
    closes = session.events[session.events["type"] == Rec.CONNECTION_CLOSED]
    for t, data in zip(closes["t"], closes["data"], strict=True):
        d = data if isinstance(data, dict) else {}
        ax.axvline(t, color="black", linestyle="--", linewidth=1)
        reason = str(d.get("reason") or "")
        label = f"close {d.get('code', '?')}" + (f" {reason[:24]}…" if len(reason) > 25 else f" {reason}")
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
        *(
            [
                Patch(
                    facecolor="#999999",
                    alpha=0.3,
                    hatch="//",
                    edgecolor="#666666",
                    label="offline (reconnecting)",
                )
            ]
            if offline
            else []
        ),
        Line2D([], [], marker="o", color="#2ca02c", linestyle="none", label="ping answered"),
        Line2D([], [], marker="x", color="red", linestyle="none", label="ping timed out"),
        Line2D([], [], color="black", linestyle="--", label="connection closed"),
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    meta = getattr(session, "meta", {}) or {}
    speed = run_speed(meta)
    ax.set_title(
        title
        or f"{getattr(session, 'name', 'session')}: {meta.get('scenario') or 'live'}, "
        f"{meta.get('assessment_mode', '?')} mode, outcome {meta.get('outcome', '?')}"
        + (f", speed {speed:g}x" if speed != 1.0 else "")
        + (f", {len(offline)} reconnect(s)" if offline else "")
    )
    return fig


def _offline_spans(session: Any) -> list[tuple[float, float]]:
    """(start, end) of each time the session was offline: a lost connection until its successor resumed
    (else opened; else the end of the log, if it never came back)."""
    conn = getattr(session, "connections", None)
    if conn is None or conn.empty:
        return []
    spans = []
    for row in conn[conn["connection"] > 0].itertuples():
        back = row.resumed if not np.isnan(row.resumed) else row.opened
        if not np.isnan(row.offline_from) and not np.isnan(back):
            spans.append((float(row.offline_from), float(back)))
    last = conn.groupby("session", observed=True).tail(1)
    events_end = float(session.events["t"].max()) if len(session.events) else np.nan
    for row in last.itertuples():
        if row.lost and not np.isnan(row.closed) and not row.planned:
            spans.append((float(row.closed), events_end))  # lost, and never back
    return spans


def plot_latency(
    sessions: Any,
    *,
    by: str = "scenario",
    metric: str = "gap_s",
    kind: str = "ecdf",
    ax: Axes | None = None,
    title: str | None = None,
    include_unusable: bool = False,
) -> Figure:
    """The distribution of a per-turn latency (default the voice-to-voice `gap_s`; also `vad_s`,
    `server_created_s`, `server_audio_s`, `client_s`) across sessions, one curve or box per value of
    `by` (a sessions-table column or `session.json` field such as `scenario` or `mode`, or a turns
    column).

    Only usable sessions are drawn unless `include_unusable` (the figure says how many were left out).
    Runs are never pooled across conditions: when the scenario, speed or target varies, each group is
    split by it too (grouping by mode gives one curve per scenario and mode)."""
    if kind not in ("ecdf", "box"):
        raise ValueError(f"kind must be 'ecdf' or 'box', not {kind!r}")
    sessions, note = usable_sessions(sessions, include_unusable, "plot_latency")
    turns = sessions.turns
    if metric not in turns.columns:
        raise ValueError(
            f"no per-turn metric {metric!r}; try gap_s, vad_s, server_created_s, server_audio_s, client_s"
        )
    wanted = [by, *STRATA] if by not in turns.columns else list(STRATA)
    data = meta_columns(sessions, turns, wanted)
    if by not in data.columns:
        raise ValueError(f"cannot group by {by!r}: not a session.json field or a turns column")
    data = data[data[metric].notna()]
    split = _strata(data, by)
    columns = [*(c for c in split if c == "scenario"), by, *(c for c in split if c != "scenario")]
    label = _group_labels(data, columns) if len(data) else pd.Series(dtype=str)
    groups = [(str(k), g[metric].to_numpy()) for k, g in data.groupby(label, sort=True)]
    fig, ax = _axes(ax, (7, 4.5))
    if kind == "ecdf":
        colours = _scenario_colours(data, label) if "scenario" in split else {}
        styles = ["-", "--", ":", "-."]
        seen: dict[str, int] = {}
        for name, values in groups:
            x = np.sort(values)
            scenario = name.split(" · ", 1)[0]
            seen[scenario] = seen.get(scenario, -1) + 1
            ax.step(
                x,
                np.arange(1, len(x) + 1) / len(x),
                where="post",
                label=f"{name} (n={len(x)})",
                color=colours.get(scenario),
                linestyle=styles[seen[scenario] % len(styles)] if colours else "-",
            )
        ax.set_xlabel(f"{metric} (s)")
        ax.set_ylabel("fraction of turns ≤ x")
        ax.set_ylim(0, 1.02)
    else:
        ax.boxplot([v for _, v in groups], tick_labels=[f"{k}\n(n={len(v)})" for k, v in groups])
        ax.set_ylabel(f"{metric} (s)")
        ax.set_xlabel(" · ".join(columns))
    if groups and kind == "ecdf":
        ax.legend(
            title=" · ".join(columns), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
        )
    elif not groups:
        ax.text(0.5, 0.5, "no turns with this metric", ha="center", va="center", transform=ax.transAxes)
    ax.grid(alpha=0.3)
    ax.set_title(title or f"{metric} by {' · '.join(columns)}")
    _footnote(fig, note)
    return fig


def _scenario_colours(data: pd.DataFrame, label: pd.Series) -> dict[str, Any]:
    """One colour per scenario (the first part of each label), from matplotlib's default cycle."""
    cycle = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    scenarios = sorted({str(x).split(" · ", 1)[0] for x in label.unique()})
    return {sc: cycle[i % len(cycle)] for i, sc in enumerate(scenarios)}


def _gap_bars(ax: Axes, gaps: pd.DataFrame, label: pd.Series) -> None:
    """Bars of the median of each assessment gap per group (`label`), one dot per session."""
    labels = sorted(label.unique())
    width = 0.8 / max(len(labels), 1)
    x = np.arange(len(GAP_COLUMNS))
    for i, name in enumerate(labels):
        rows = gaps[label == name]
        offset = x - 0.4 + width * (i + 0.5)
        medians = [rows[c].median() for c in GAP_COLUMNS]
        ax.bar(offset, np.nan_to_num(medians), width, label=f"{name} (n={len(rows)})", alpha=0.8)
        for j, col in enumerate(GAP_COLUMNS):
            values = rows[col].dropna().to_numpy()
            ax.scatter(np.full(len(values), offset[j]), values, s=14, color="black", zorder=3)
    ax.set_xticks(x, list(GAP_COLUMNS.values()), fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def plot_assessment_gaps(
    sessions: Any,
    *,
    by: str = "mode",
    ax: Axes | None = None,
    title: str | None = None,
    include_unusable: bool = False,
) -> Figure:
    """The assessment's silences and report time (`metrics.assessment_gaps`) per group: a bar for the
    median of each gap, one dot per session.

    Only usable sessions unless `include_unusable` (the figure says how many were left out). Scenarios
    are never pooled: grouped by anything but the scenario, the figure has one panel per scenario (or,
    drawn into your `ax`, one group per scenario and value); speeds and targets that vary split the
    groups too."""
    sessions, note = usable_sessions(sessions, include_unusable, "plot_assessment_gaps")
    gaps = meta_columns(sessions, assessment_gaps(sessions), [by, *STRATA])
    if by not in gaps.columns:
        raise ValueError(f"cannot group by {by!r}: not a session.json field")
    split = _strata(gaps, by)
    facets = "scenario" in split and ax is None
    inner = [c for c in split if c != "scenario" or not facets]
    inner = [*(c for c in inner if c == "scenario"), by, *(c for c in inner if c != "scenario")]
    scenarios = sorted(gaps["scenario"].astype(str).unique()) if facets else [None]
    if facets:
        fig = Figure(figsize=(9, 2.6 * len(scenarios) + 0.6), layout="constrained")
        axes = list(np.atleast_1d(fig.subplots(len(scenarios), 1, sharex=True, sharey=True)))
    else:
        fig, one = _axes(ax, (8, 4.5))
        axes = [one]
    for scenario, where in zip(scenarios, axes, strict=True):
        rows = gaps if scenario is None else gaps[gaps["scenario"].astype(str) == scenario]
        _gap_bars(where, rows, _group_labels(rows, inner) if len(rows) else pd.Series(dtype=str))
        where.set_ylabel("seconds")
        where.legend(
            title=" · ".join(inner), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
        )
        if scenario is not None:
            where.set_title(f"scenario {scenario}", fontsize=10)
    heading = title or f"assessment gaps by {' · '.join(inner)} (bar: median, dots: sessions)"
    if facets:
        fig.suptitle(heading)
    else:
        axes[0].set_title(heading)
    _footnote(fig, note)
    return fig


def plot_prompt_scores(
    results: pd.DataFrame, *, criteria: Sequence[str] | None = None, title: str | None = None
) -> Figure:
    """A `compare_prompts` result: mean score per criterion for each prompt (left) and each transcript's
    overall score under each prompt (right; parallel lines mean the prompts agree on the ranking). The
    title names the emulator's stand-in model when it scored (`prompts.stand_in_note`); legends sit
    beside the axes, never over the data."""
    ok = results[results["error"].isna()] if "error" in results else results
    criteria = list(criteria) if criteria is not None else score_columns(results)
    fig = Figure(figsize=(13, 4.8), layout="constrained")
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
        left.legend(title="prompt", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if len(ok):
        overall = (
            ok.groupby([ok["transcript"].astype(str), ok["prompt"].astype(str)])["overall"].mean().unstack()
        )
        for transcript, row in overall.iterrows():
            right.plot(range(len(row)), row.to_numpy(), marker="o", label=str(transcript))
        right.set_xticks(range(len(overall.columns)), list(overall.columns))
        right.set_xlim(-0.3, len(overall.columns) - 0.7)
        right.legend(
            title="transcript", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
        )
    failed = int(results["error"].notna().sum()) if "error" in results else 0
    right.set_xlabel("prompt")
    right.set_ylabel("overall score")
    right.set_title("overall per transcript" + (f" ({failed} failed calls not shown)" if failed else ""))
    right.grid(alpha=0.3)
    note = stand_in_note(results)
    fig.suptitle((title or "prompt comparison") + (f"\n{note}" if note else ""))
    return fig
