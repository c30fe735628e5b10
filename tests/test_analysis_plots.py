"""Plots render to PNG without a display and say what they show."""

from __future__ import annotations

import io
import sys

import matplotlib
import pandas as pd
import pytest
from analysis_helpers import barge_in_session, complete_session, write_folder
from matplotlib.figure import Figure

from interview_kit.analysis import (
    load_sessions,
    plot_assessment_gaps,
    plot_latency,
    plot_prompt_scores,
    plot_timeline,
)

matplotlib.use("Agg")


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=50)
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000
    return data


@pytest.fixture
def sessions(tmp_path):
    write_folder(
        tmp_path, "a", complete_session(), meta={"scenario": "default", "assessment_mode": "overlap"}
    )
    write_folder(
        tmp_path, "b", barge_in_session(), meta={"scenario": "korean", "assessment_mode": "after-ack"}
    )
    write_folder(
        tmp_path, "c", complete_session(), meta={"scenario": "korean", "assessment_mode": "blocking"}
    )
    return load_sessions(tmp_path)


def test_timeline(sessions):
    fig = plot_timeline(sessions["a"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "session time (s)"
    assert "a: default, overlap mode, outcome complete" == ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for expected in (
        "candidate speech",
        "interviewer audio played",
        "ack_speaking",
        "loop stall",
        "ping timed out",
        "connection closed",
    ):
        assert expected in labels
    assert any("close 1000 bye" in t.get_text() for t in ax.texts)
    _png(fig)
    _png(plot_timeline(sessions["b"]))  # no close, a barge-in, an unfinished phase


def test_latency_ecdf_and_box(sessions):
    fig = plot_latency(sessions, by="scenario")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "gap_s (s)" and ax.get_title() == "gap_s by scenario"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["default (n=1)", "korean (n=2)"]
    _png(fig)
    box = plot_latency(sessions, by="assessment_mode", metric="server_audio_s", kind="box")
    assert box.axes[0].get_ylabel() == "server_audio_s (s)"
    _png(box)
    with pytest.raises(ValueError, match="no per-turn metric"):
        plot_latency(sessions, metric="nope")
    with pytest.raises(ValueError, match="cannot group by 'nope'"):
        plot_latency(sessions, by="nope")


def test_assessment_gaps_plot_has_a_panel_per_scenario(sessions):
    """Modes are compared within a scenario: the slow report of one scenario never lands in another's bar."""
    fig = plot_assessment_gaps(sessions)
    assert [ax.get_title() for ax in fig.axes] == ["scenario default", "scenario korean"]
    bottom = fig.axes[-1]
    assert [t.get_text() for t in bottom.get_xticklabels()] == [
        "trigger → ack",
        "ack → summary",
        "report generation",
        "summary → goodbye",
    ]
    assert "seconds" in bottom.get_ylabel()
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert legends == [["overlap (n=1)"], ["after-ack (n=1)", "blocking (n=1)"]]
    _png(fig)


def test_draw_into_own_axes(sessions):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_latency(sessions, ax=left) is fig
    assert plot_assessment_gaps(sessions, ax=right) is fig
    labels = [t.get_text() for t in right.get_legend().get_texts()]  # one axes: scenario in each group
    assert labels == ["default · overlap (n=1)", "korean · after-ack (n=1)", "korean · blocking (n=1)"]
    _png(fig)


def test_prompt_scores_plot():
    results = pd.DataFrame(
        {
            "prompt": ["default", "default", "strict", "strict"],
            "transcript": ["x", "y", "x", "y"],
            "repeat": [0, 0, 0, 0],
            "score_clarity": [4.0, 2.0, 3.0, None],
            "overall": [4.0, 2.0, 3.0, None],
            "error": [None, None, None, "HTTP 500"],
        }
    )
    fig = plot_prompt_scores(results)
    assert "1 failed calls not shown" in fig.axes[1].get_title()
    assert fig.axes[0].get_ylabel() == "mean score (1-5)"
    assert fig.get_suptitle() == "prompt comparison"  # a real model: no stand-in note
    _png(fig)
    # no legend covers a data point
    for ax in fig.axes:
        box = ax.get_legend().get_window_extent()
        for line in ax.lines:
            points = ax.transData.transform(line.get_xydata())
            assert not any(box.contains(x, y) for x, y in points)
    stand_in = results.assign(model="emulator-standin-gpt-4o-mini")
    assert "emulator-standin-gpt-4o-mini" in plot_prompt_scores(stand_in).get_suptitle()


def test_figures_display_as_images_in_ipython(monkeypatch, sessions):
    """In Jupyter a figure ending a cell must show as a PNG, though it was made without pyplot."""
    import types

    from IPython.core.formatters import PNGFormatter

    from interview_kit.analysis import plots

    png = PNGFormatter()

    class Shell:
        display_formatter = types.SimpleNamespace(formatters={"image/png": png})

    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert plots.show_in_ipython() is False  # a plain script: nothing registered
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=Shell))
    fig = plot_latency(sessions, by="assessment_mode")
    assert png(fig) is None  # what IPython shows without the formatter: text only
    assert plots.show_in_ipython() is True
    data = png(fig)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    mine = png.lookup_by_type(Figure)
    png.for_type(Figure, lambda f: b"inline backend")  # pyplot's inline backend got there first
    assert plots.show_in_ipython() is True and png(fig) == b"inline backend"
    png.for_type(Figure, mine)
