"""Tables for reading in a notebook: units on the values, times to the millisecond, reports as tables.

A DataFrame printed as it is shows floats to six decimals, cuts wide tables off and prints a report
as a raw dict. `styled` gives a pandas `Styler` (rendered as HTML by Jupyter) with each column's unit
and a rounding that matches what the clock can tell; `report_table` lays a `report.json` out as rows.
Nothing here changes the data: the frames stay as they are for computing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

NA = "–"
# Columns in seconds that do not end in `_s`: times on the session clock and the medians tables.
SECONDS = frozenset(
    {
        "start",
        "end",
        "duration",
        "created",
        "first_audio",
        "detected",
        "stopped",
        "speech_end",
        "played",
        "t",
        "opened",
        "closed",
        "offline_from",
        "resumed",
        "trigger",
        "report_started",
        "report_done",
        "close_t",
        "median",
        "ci_low",
        "ci_high",
    }
)
# Whole numbers that pandas may hold as floats (NaN for a failed call).
COUNTS = frozenset({"count", "n", "summary_words", "strengths", "concerns", "calls", "failed", "repeats"})
# Unit-free numbers shown with two decimals (agreement coefficients, scores).
COEFFICIENTS = ("alpha", "icc", "rho", "overall", "score_", "mean_std", "max_range")


def _seconds(value: Any) -> str:
    return NA if _missing(value) else f"{value:.3f} s"


def _ms(value: Any) -> str:
    """Whole milliseconds, but two decimals below 10 ms (a local round trip takes a fraction of one)."""
    if _missing(value):
        return NA
    return f"{value:.0f} ms" if abs(value) >= 10 else f"{value:.2f} ms"


def _count(value: Any) -> str:
    return NA if _missing(value) else f"{value:.0f}"


def _plain(value: Any) -> str:
    return NA if _missing(value) else f"{value:.2f}"


def _missing(value: Any) -> bool:
    try:
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def formatters(frame: pd.DataFrame) -> dict[str, Callable[[Any], str]]:
    """A formatter per numeric column: seconds to the millisecond ("1.025 s"), `_ms` columns in whole
    ms (two decimals below 10 ms), speeds as "10x", counts whole, coefficients and scores to two
    decimals."""
    out: dict[str, Callable[[Any], str]] = {}
    for col in frame.columns:
        name = str(col)
        if not pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            continue
        if name in COUNTS or name.startswith("tokens"):
            out[col] = _count
        elif name.endswith("_ms"):
            out[col] = _ms
        elif name.endswith("_s") or name in SECONDS or name.startswith("phase:"):
            out[col] = _seconds
        elif name == "speed":
            out[col] = lambda v: NA if _missing(v) else f"{v:g}x"
        elif name.startswith(COEFFICIENTS) or pd.api.types.is_float_dtype(frame[col]):
            out[col] = _plain
    return out


def styled(frame: pd.DataFrame, *, caption: str | None = None) -> Styler:
    """`frame` as a `Styler` for a notebook: units and millisecond rounding (`formatters`), missing values
    as a dash, no index, and the `caption` above it (say what the table leaves out there)."""
    style = frame.style.format(formatters(frame), na_rep=NA).hide(axis="index")
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        style = style.set_properties(subset=text, **{"text-align": "left"})
    if caption:
        style = style.set_caption(caption)
    return style.set_table_styles(
        [{"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold;"}],
        overwrite=False,
    )


def report_table(report: Mapping[str, Any] | None) -> pd.DataFrame:
    """A `report.json` as rows of `field` and `value`: the scores one per row, then the overall score,
    summary, strengths and concerns (one per row), the model and how long the report took."""
    if not report:
        return pd.DataFrame({"field": ["report"], "value": ["none (the session ended before the report)"]})
    rows: list[tuple[str, Any]] = []
    for criterion, score in (report.get("scores") or {}).items():
        rows.append((f"score: {criterion}", score))
    rows.append(("overall", report.get("overall")))
    rows.append(("summary", report.get("summary")))
    rows += [("strength", s) for s in report.get("strengths") or ()]
    rows += [("concern", c) for c in report.get("concerns") or ()]
    rows.append(("prompt", report.get("prompt")))
    rows.append(("model", report.get("model")))
    duration = report.get("duration_s")
    rows.append(("took", _seconds(duration) if isinstance(duration, int | float) else NA))
    if report.get("error"):
        rows.append(("error", report["error"]))
    missing = report.get("answers_missing")
    if missing:
        rows.append(("answers without a transcript", ", ".join(map(str, missing))))
    return pd.DataFrame(
        {"field": [r[0] for r in rows], "value": [NA if _missing(r[1]) else str(r[1]) for r in rows]}
    )
