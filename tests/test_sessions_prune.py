"""`interview-kit sessions prune`: lists the unusable folders first, removes only when told, and never
a recorded sample or a folder it cannot read."""

from __future__ import annotations

import json

import pytest
from analysis_helpers import complete_session, ev, write_folder

from interview_kit.cli import main

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sessions(tmp_path):
    root = tmp_path / "sessions"
    write_folder(root, "a-good", complete_session())
    write_folder(root, "b-sped-up", complete_session(), meta={"speed": 10})
    write_folder(
        root,
        "c-failed-start",
        [
            ev(0.0, "local", "session.started", config={}),
            ev(0.02, "local", "connection.closed", code=1011, reason="server error", by="server"),
            ev(0.02, "local", "session.ended", outcome="disconnected"),
        ],
        meta={"outcome": "disconnected"},
    )
    early = [x for x in complete_session() if x["t"] < 9.0]
    killed = write_folder(root, "d-killed", early, meta={"outcome": None}, tail='{"t": 9')
    (killed / "report.json").unlink()
    (write_folder(root, "e-broken", complete_session()) / "session.json").unlink()
    write_folder(root, "f-sample", complete_session(), meta={"speed": 20})
    (root / ".samples.json").write_text(json.dumps({"samples": [{"folder": "f-sample"}]}))
    return root


def listed(out: str) -> dict[str, str]:
    """Folder name -> the rest of its line."""
    rows = {}
    for line in out.splitlines():
        first, _, rest = line.partition("  ")
        if "/" in first:
            rows[first.rsplit("/", 1)[-1]] = rest.strip()
    return rows


def test_dry_run_lists_with_reasons_and_removes_nothing(sessions, capsys):
    before = sorted(p.name for p in sessions.iterdir())
    assert main(["sessions", "prune", str(sessions)]) == 0
    out = capsys.readouterr().out
    rows = listed(out)
    assert set(rows) == {"b-sped-up", "c-failed-start", "d-killed", "e-broken", "f-sample"}
    assert rows["b-sped-up"] == "not real time (speed 10)  -> would remove"
    assert "start-up failure" in rows["c-failed-start"] and "would remove" in rows["c-failed-start"]
    assert rows["d-killed"].startswith("unfinished")
    assert "cannot be read" in rows["e-broken"] and "keep (unreadable" in rows["e-broken"]
    assert "keep (a recorded sample" in rows["f-sample"]
    assert "3 of 6 session folders can be removed" in out and "--delete" in out
    assert sorted(p.name for p in sessions.iterdir()) == before


def test_reason_narrows_the_list(sessions, capsys):
    assert main(["sessions", "prune", str(sessions), "--reason", "unfinished"]) == 0
    assert set(listed(capsys.readouterr().out)) == {"d-killed"}


def test_delete_removes_only_the_removable(sessions, capsys):
    assert main(["sessions", "prune", str(sessions), "--delete"]) == 0
    assert "removed 3 of 6 session folders" in capsys.readouterr().out
    assert sorted(p.name for p in sessions.iterdir()) == [".samples.json", "a-good", "e-broken", "f-sample"]
    assert main(["sessions", "prune", str(sessions)]) == 0
    assert "0 of 3 session folders can be removed" in capsys.readouterr().out
