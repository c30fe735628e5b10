"""Notebook tables: units on the values, times to the millisecond, a report as readable rows."""

from __future__ import annotations

import math
import re

import pandas as pd

from interview_kit.analysis import report_table, styled
from interview_kit.analysis.display import formatters


def _cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>.*?</td>", html, flags=re.S)]


def test_styled_tables_carry_units_and_round_to_milliseconds() -> None:
    frame = pd.DataFrame(
        {
            "session": ["a", "b"],
            "gap_s": [1.0253081, math.nan],
            "silence_ms": [500.0, 0.4321],
            "speed": [1.0, 10.0],
            "duration": [104.47688, 3.0],
            "alpha": [0.8153875, -0.1],
            "close_code": pd.array([1000, None], dtype="Int64"),
            "usable": [True, False],
        }
    )
    cells = _cells(styled(frame, caption="left out 1").to_html())
    assert cells[:8] == ["a", "1.025 s", "500 ms", "1x", "104.477 s", "0.82", "1000", "True"]
    assert cells[8:12] == ["b", "–", "0.43 ms", "10x"]
    assert "left out 1" in styled(frame, caption="left out 1").to_html()
    assert set(formatters(frame)) == {"gap_s", "silence_ms", "speed", "duration", "alpha"}
    assert frame["gap_s"].iloc[0] == 1.0253081  # the data are not rounded, only shown so


def test_report_table_lays_a_report_out_as_rows() -> None:
    report = {
        "prompt": "default",
        "model": "emulator-standin-gpt-4o-mini",
        "scores": {"communication": 4, "examples": 1},
        "overall": 2.5,
        "summary": "Clear answers.",
        "strengths": ["Answered every question."],
        "concerns": ["Few examples.", "Short answers."],
        "duration_s": 0.6261,
        "error": None,
        "answers_missing": ["item_7"],
    }
    table = report_table(report)
    assert list(table.columns) == ["field", "value"]
    rows = dict(zip(table["field"], table["value"], strict=False))
    assert rows["score: communication"] == "4" and rows["overall"] == "2.5" and rows["took"] == "0.626 s"
    assert list(table[table["field"] == "concern"]["value"]) == ["Few examples.", "Short answers."]
    assert rows["answers without a transcript"] == "item_7" and "error" not in rows
    assert report_table(None)["value"].iloc[0].startswith("none")
