"""Comparable by construction: every session says how it was run, and unusable runs stay out of figures.

A sped-up demo, a run that failed at start-up, one that never got to the assessment, or one still running
(or killed) must not shift a median or add a curve unless asked for; and whoever leaves them out says so.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from analysis_helpers import barge_in_session, complete_session, ev, write_folder

from interview_kit.analysis import load_sessions, plot_assessment_gaps, plot_latency
from interview_kit.analysis.usable import run_target


def _load(paths) -> object:
    """Every session, usable or not (what a plot gets when the caller kept them all)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return load_sessions(paths, workers=1, include_unusable=True)


def startup_failure() -> list[dict]:
    """The server refused at once: no response ever came."""
    return [
        ev(0.0, "local", "session.started", config={}),
        ev(0.01, "local", "connection.opened", url="ws://127.0.0.1/v1/realtime"),
        ev(0.02, "local", "connection.closed", code=1011, reason="server error", by="server"),
        ev(0.02, "local", "session.ended", phase="disconnected", outcome="disconnected"),
    ]


def before_assessment() -> list[dict]:
    """Dropped mid-interview: answered, but never assessed."""
    lines = [x for x in complete_session() if x["t"] < 9.0]
    lines.append(ev(9.0, "local", "session.ended", phase="disconnected", outcome="disconnected"))
    return lines


@pytest.fixture
def real_time(tmp_path: Path) -> Path:
    """Three usable real-time sessions in two scenarios and two modes."""
    root = tmp_path / "real"
    write_folder(root, "a", complete_session(), meta={"scenario": "default", "assessment_mode": "overlap"})
    write_folder(root, "b", complete_session(), meta={"scenario": "default", "assessment_mode": "blocking"})
    write_folder(
        root,
        "c",
        complete_session(),
        meta={"scenario": "slow-report", "assessment_mode": "overlap", "config": {"speed": 1.0}},
    )
    return root


def add_unusable(root: Path) -> None:
    """Five sped-up demos, a failed start, a run that never reached the assessment, one still running."""
    for i in range(5):
        write_folder(
            root,
            f"fast{i}",
            complete_session(),
            meta={"scenario": "default", "assessment_mode": "overlap", "config": {"speed": 10.0}},
        )
    write_folder(root, "failed-start", startup_failure(), meta={"outcome": "disconnected"})
    write_folder(
        root, "dropped", before_assessment(), meta={"outcome": "disconnected", "trigger_source": None}
    )
    write_folder(root, "running", barge_in_session(), meta={"outcome": None})


def test_every_session_row_says_how_it_was_run_and_whether_it_is_usable(real_time: Path) -> None:
    add_unusable(real_time)
    write_folder(real_time, "degraded", complete_session(), meta={"outcome": "complete_degraded"})
    table = _load(real_time).sessions.set_index("session")
    for col in ("speed", "target", "scenario", "mode", "outcome", "usable", "unusable_reason"):
        assert col in table.columns, col
    assert table.loc["b", "mode"] == "blocking" and table.loc["c", "speed"] == 1.0
    assert table.loc["fast0", "speed"] == 10.0
    reasons = table["unusable_reason"].to_dict()
    assert {n for n, ok in table["usable"].items() if ok} == {"a", "b", "c", "degraded"}
    assert reasons["fast3"] == "not real time (speed 10)"
    assert reasons["failed-start"] == "start-up failure (the server never answered)"
    assert reasons["dropped"] == "did not reach the assessment (outcome disconnected)"
    assert reasons["running"] == "unfinished (no outcome: still running, or killed)"
    assert pd.isna(reasons["degraded"])  # assessed, with a line not heard: it reached the assessment


def test_unusable_sessions_change_no_figure_and_are_counted(real_time: Path) -> None:
    before = _load(real_time)
    add_unusable(real_time)
    everything = _load(real_time)
    after = everything.usable_only()
    assert after.names == before.names
    pd.testing.assert_frame_equal(after.summary(), before.summary())
    assert len(after.left_out) == 8 and after.left_out.total == 11
    line = str(after.left_out)
    assert line.startswith("using 3 of 11 sessions; left out 8: 5 not real time (speed 10); ")
    for part in ("1 start-up failure", "1 did not reach the assessment", "1 unfinished"):
        assert part in line
    assert str(before.usable_only().left_out) == "using all 3 sessions (none left out)"
    # a selection keeps the count of what it would have taken
    assert str(after.select(scenario="slow-report").left_out) == "using all 1 sessions (none left out)"
    assert len(after.select(scenario="default").left_out) == 8  # every unusable one here is `default`
    # the run's conditions select too, left-out sessions included in the count
    assert after.select(mode="blocking").names == ["b"]
    fast = after.select(speed=10)
    assert fast.names == [] and sorted(fast.left_out.reasons) == [f"fast{i}" for i in range(5)]
    assert everything.select(speed=10, usable=False).names == [f"fast{i}" for i in range(5)]


def test_plots_leave_unusable_sessions_out_unless_asked(real_time: Path) -> None:
    add_unusable(real_time)
    everything = _load(real_time)
    fig = plot_latency(everything, by="scenario")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["default (n=2)", "slow-report (n=1)"]
    assert "left out 8" in fig.get_supxlabel()  # the figure says so
    shown = plot_latency(everything, by="scenario", include_unusable=True)
    legend = [t.get_text() for t in shown.axes[0].get_legend().get_texts()]
    # sped-up runs are never pooled with real-time ones: the speed splits the groups
    # (the dropped and the unfinished run add a turn each at 1x)
    assert legend == ["default · 10x (n=5)", "default · 1x (n=4)", "slow-report · 1x (n=1)"]


def test_a_mode_comparison_never_mixes_scenarios(real_time: Path) -> None:
    s = _load(real_time)
    fig = plot_latency(s, by="mode")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["default · blocking (n=1)", "default · overlap (n=1)", "slow-report · overlap (n=1)"]
    gaps = plot_assessment_gaps(s, by="mode")
    titles = [ax.get_title() for ax in gaps.axes]
    assert titles == ["scenario default", "scenario slow-report"]  # one panel per scenario
    first = [t.get_text() for t in gaps.axes[0].get_legend().get_texts()]
    assert first == ["blocking (n=1)", "overlap (n=1)"]


@pytest.mark.parametrize(
    ("meta", "target"),
    [
        ({"connected_to": "in-memory"}, "emulator"),
        ({"connected_to": "wss://api.openai.com/v1/realtime?model=gpt-realtime"}, "hosted"),
        ({"config": {"base_url": "https://api.openai.com/v1"}}, "hosted"),
        ({"connected_to": "ws://127.0.0.1:40000/v1/realtime", "scenario": "default"}, "emulator"),
        (
            {"connected_to": "ws://10.0.0.5:8000/v1/realtime?model=x", "scenario": None},
            "ws://10.0.0.5:8000/v1/realtime",
        ),
        ({"connected_to": "replay:20261125-093858-4a244e"}, "replay"),
    ],
)
def test_target_names_where_the_session_talked(meta: dict, target: str) -> None:
    assert run_target(meta) == target


def test_load_sessions_keeps_only_usable_sessions_unless_asked(real_time: Path) -> None:
    add_unusable(real_time)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        usable = load_sessions(real_time, workers=1)
        every = load_sessions(real_time, workers=1, include_unusable=True)
    assert usable.names == ["a", "b", "c"] and len(usable.left_out) == 8
    assert len(every) == 11 and not every.left_out.reasons


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def test_figures_are_the_same_after_unusable_runs_are_added(real_time: Path) -> None:
    """The issue's check: sped-up demos and a failed start added to the folder change no figure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        before = load_sessions(real_time, workers=1, cache=False)
        add_unusable(real_time)
        after = load_sessions(real_time, workers=1, cache=False)
    assert len(after.left_out) == 8
    assert _png(plot_latency(after)) == _png(plot_latency(before))
    assert _png(plot_assessment_gaps(after)) == _png(plot_assessment_gaps(before))
    pd.testing.assert_frame_equal(after.summary(), before.summary())
