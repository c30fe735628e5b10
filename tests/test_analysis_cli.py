"""`interview-kit analyse` and `interview-kit compare-prompts` end to end through the real entry point."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from analysis_helpers import barge_in_session, complete_session, write_folder

from interview_kit.cli import main

pytestmark = pytest.mark.timeout(60)


def test_analyse_prints_the_summary_and_writes_csv_and_plot(tmp_path, capsys):
    sessions = tmp_path / "sessions"
    write_folder(sessions, "20261125-100000-aaaa", complete_session())
    write_folder(
        sessions, "20261125-110000-bbbb", barge_in_session(), meta={"outcome": "failed", "scenario": "korean"}
    )
    broken = write_folder(sessions, "20261125-120000-cccc", complete_session())
    (broken / "session.json").unlink()
    csv, png = tmp_path / "summary.csv", tmp_path / "plot.png"
    code = main(["analyse", str(sessions / "*"), "--csv", str(csv), "--plot", str(png), "--include-unusable"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["session", "scenario", "mode", "outcome"]
    assert "reply gap" in lines[0] and "q_turns" not in out and "ping_to" not in out  # words, not codes
    assert lines[1].split()[:4] == ["20261125-100000-aaaa", "default", "overlap", "complete"]
    assert "1.10" in lines[1]  # the hand-computed gap
    assert lines[2].split()[:4] == ["20261125-110000-bbbb", "korean", "overlap", "failed"]
    legend = " ".join(lines[3:])
    assert legend.startswith("times in seconds") and "reply gap: median silence" in legend
    assert "more columns with --wide" in legend
    assert max(len(line) for line in lines) <= 100
    assert "20261125-120000-cccc/session.json: missing" in err
    table = pd.read_csv(csv)
    assert list(table["session"]) == ["20261125-100000-aaaa", "20261125-110000-bbbb"]
    assert "stall_to_close_s" in table.columns
    seconds = [c for c in table.columns if c.endswith("_s")]
    text = csv.read_text()
    assert re.search(r"\d\.\d{4,}", text) is None  # no float written past the millisecond
    assert ((table[seconds].round(3) == table[seconds]) | table[seconds].isna()).all().all()
    assert table.loc[0, "gap_median_s"] == pytest.approx(1.10, abs=5e-4)
    assert png.read_bytes().startswith(b"\x89PNG")


def test_analyse_leaves_out_unusable_sessions_and_says_why(tmp_path, capsys):
    write_folder(tmp_path, "20261125-100000-aaaa", complete_session())
    write_folder(tmp_path, "20261125-110000-fast", complete_session(), meta={"speed": 10})
    assert main(["analyse", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:2]] == ["20261125-100000-aaaa"]
    assert "20261125-110000-fast" not in out
    assert "left out 1 of 2 sessions: 1 not real time (speed 10)" in err and "--include-unusable" in err
    assert main(["analyse", str(tmp_path / "20261125-110000-fast")]) == 1
    assert "no usable session" in capsys.readouterr().err


def test_analyse_fits_100_columns_unless_wide(tmp_path, capsys):
    """Long names and every column: the default table still fits; --wide shows all summary columns."""
    long_name = "20261125-100000-a-very-long-folder-name-indeed"
    write_folder(tmp_path, long_name, complete_session(), meta={"scenario": "drop-during-summary-x" * 3})
    assert main(["analyse", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert main(["analyse", str(tmp_path), "--wide"]) == 0
    wide = capsys.readouterr().out
    header = wide.splitlines()[0]
    for words in ("reply gap", "stall to close", "rtt median", "close reason"):
        assert words in header
    assert long_name in wide  # nothing cut in --wide


def test_analyse_one_session_plots_its_timeline(tmp_path, capsys):
    folder = write_folder(tmp_path, "one", complete_session())
    png = tmp_path / "timeline.png"
    assert main(["analyse", str(folder), "--plot", str(png)]) == 0
    assert png.stat().st_size > 10_000


def test_analyse_includes_a_killed_run(tmp_path, capsys):
    """kill -9 leaves events.jsonl and session.json only: the run is analysed, with a warning."""
    killed = write_folder(tmp_path, "20261125-130000-dddd", [x for x in barge_in_session() if x["t"] < 5.0])
    (killed / "transcript.json").unlink()
    (killed / "report.json").unlink()
    assert main(["analyse", str(killed)]) == 1  # by default: left out, and said why
    assert "left out 1 of 1 sessions: 1 " in capsys.readouterr().err
    assert main(["analyse", str(killed), "--include-unusable"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1].split()[:1] == ["20261125-130000-dddd"]
    assert "20261125-130000-dddd/transcript.json: missing" in err and "report.json: missing" in err


def test_analyse_nothing_loadable(tmp_path, capsys):
    assert main(["analyse", str(tmp_path / "missing")]) == 1
    assert "no session could be loaded" in capsys.readouterr().err


def test_compare_prompts_offline(tmp_path, capsys):
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    for name, answer in (
        ("a", "I led a rewrite. For example, I wrote the tests first."),
        ("b", "Um, not sure."),
    ):
        (transcripts / f"{name}.json").write_text(
            json.dumps(
                [{"role": "interviewer", "text": "Tell me more."}, {"role": "candidate", "text": answer}]
            )
        )
    scenario = tmp_path / "fast.toml"
    scenario.write_text('name = "fast"\nreport_delay = 0.0\n')
    out_csv, png = tmp_path / "calls.csv", tmp_path / "prompts.png"
    code = main(
        [
            "compare-prompts",
            "--prompts",
            "default",
            "strict",
            "--transcripts",
            str(transcripts),
            "--repeats",
            "2",
            "--out",
            str(out_csv),
            "--plot",
            str(png),
            "--scenario",
            str(scenario),
            "--no-progress",
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("scored by emulator-standin-") and "not a language model" in lines[0]
    assert lines[-1] == lines[0]  # said again under the tables
    assert lines[1].split()[:4] == ["prompt", "calls", "failed", "latency_median_s"]
    assert "Krippendorff's alpha" in out and "ICC [95 % CI]" in out and "rank agreement" in out
    calls = pd.read_csv(out_csv)
    assert len(calls) == 8 and calls["error"].isna().all()
    assert png.read_bytes().startswith(b"\x89PNG")


def test_compare_prompts_bad_input_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "t.json").write_text(json.dumps([{"role": "candidate", "text": "Hello."}]))
    assert main(["compare-prompts", "--prompts", "no-such-prompt", "--transcripts", str(tmp_path)]) == 2
    assert "no prompt named 'no-such-prompt'" in capsys.readouterr().err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert (
        main(
            [
                "compare-prompts",
                "--prompts",
                "default",
                "--transcripts",
                str(tmp_path),
                "--base-url",
                "http://127.0.0.1:9/v1",
            ]
        )
        == 2
    )
    assert "no API key: set OPENAI_API_KEY" in capsys.readouterr().err
