"""Reconnects in the analysis: one row per connection, the offline gaps drawn, and the server's audio
positions of a resumed connection mapped back onto the session's input clock."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from analysis_helpers import complete_session, ev, reconnect_session, write_folder

from interview_kit.analysis import load_session, plot_timeline, voice_to_voice

matplotlib.use("Agg")


@pytest.fixture
def resumed(tmp_path: Path):
    return load_session(
        write_folder(tmp_path, "r", reconnect_session(), meta={"reconnects": 1, "offline_s": 0.9})
    )


def test_connections_table_has_a_row_per_connection(resumed) -> None:
    c = resumed.connections
    assert list(c["connection"]) == [0, 1]
    first, second = c.iloc[0], c.iloc[1]
    assert (first["opened"], first["closed"], first["close_code"], first["close_by"]) == (
        0.2,
        8.0,
        1006,
        "unknown",
    )
    assert first["lost"] and not first["planned"] and first["lost_phase"] == "interviewing"
    assert np.isnan(first["offline_s"])  # nothing before the first connection
    assert (second["opened"], second["closed"], second["close_code"]) == (8.6, 23.0, 1000)
    assert (second["attempts"], second["items_replayed"], second["audio_offset_ms"]) == (1, 4, 8000.0)
    assert (second["offline_from"], second["resumed"], second["offline_s"]) == (8.0, 8.9, 0.9)
    assert not second["lost"]


def test_summary_counts_reconnects_and_time_offline(resumed, tmp_path: Path) -> None:
    row = resumed.summary().iloc[0]
    assert row["reconnects"] == 1 and row["offline_s"] == pytest.approx(0.9)
    assert row["close_code"] == 1000  # the session's end, not the dropped connection
    plain = load_session(write_folder(tmp_path, "c", complete_session())).summary().iloc[0]
    assert plain["reconnects"] == 0 and plain["offline_s"] == 0.0


def test_server_positions_after_a_resume_map_onto_the_session_input_clock(resumed, tmp_path: Path) -> None:
    """The new connection counts from 0; with the resume's audio_offset_ms the turn and its gap are
    those of the same interview without the drop (u2 would otherwise land at 2.1 s, before it began)."""
    plain = load_session(write_folder(tmp_path, "c", complete_session()))
    cols = ["item_id", "start", "end"]
    mine, theirs = resumed.turns, plain.turns
    got = mine[mine["role"] == "candidate"][cols].reset_index(drop=True)
    want = theirs[theirs["role"] == "candidate"][cols].reset_index(drop=True)
    assert got.equals(want) and got.loc[1, "start"] == pytest.approx(10.1)
    gaps = voice_to_voice(resumed).set_index("response_id")
    assert gaps.loc["r3", "vad_s"] == pytest.approx(0.5)  # u2's speech_stopped at 12.5, speech end at 12.0


def test_the_timeline_shades_the_offline_gap(resumed) -> None:
    fig = plot_timeline(resumed)
    ax = fig.axes[0]
    assert "1 reconnect(s)" in ax.get_title()
    assert "offline (reconnecting)" in [t.get_text() for t in ax.get_legend().get_texts()]
    hatched = [p for p in ax.patches if p.get_hatch() == "//"]
    assert len(hatched) == 1
    x0, x1 = hatched[0].get_x(), hatched[0].get_x() + hatched[0].get_width()
    assert (x0, x1) == pytest.approx((8.0, 8.9))
    assert any("close 1006" in t.get_text() for t in ax.texts)
    fig.savefig(io.BytesIO(), format="png", dpi=40)


def test_a_planned_move_keeps_its_late_close_on_the_old_connection(tmp_path: Path) -> None:
    """Before the session expires the client moves to a new connection between turns; the old one's
    close may be logged after the new one opened: it is the old one's, not the new one's."""
    lines = [x for x in complete_session() if x["type"] != "connection.closed" or x["t"] > 20]
    moved = ev(
        8.0, "local", "connection.lost", code=1000, reason="session expiring", by="client", planned=True
    )
    lines += [
        moved,
        ev(8.0, "local", "connection.reconnecting", attempt=0, delay_s=0.0),
        ev(8.3, "local", "connection.opened", url="ws://127.0.0.1/v1/realtime"),
        ev(8.35, "local", "connection.closed", code=1000, reason="session expiring", by="client"),
        ev(
            8.5,
            "local",
            "connection.resumed",
            attempt=0,
            items_replayed=4,
            offline_s=0.5,
            audio_offset_ms=7000,
        ),
    ]
    s = load_session(write_folder(tmp_path, "m", sorted(lines, key=lambda x: x["t"])))
    old, new = s.connections.iloc[0], s.connections.iloc[1]
    assert old["planned"] and old["closed"] == 8.0 and old["close_reason"] == "session expiring"
    assert new["closed"] == 23.0 and new["close_code"] == 1000 and new["close_reason"] == "bye"
    assert new["offline_s"] == 0.5 and s.summary().iloc[0]["reconnects"] == 1
