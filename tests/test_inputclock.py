"""One input-position-to-session-time rule: the analysis's vectorised `input_times`/`AudioClock` give
`inputclock.input_time`'s answers (None as NaN), on edge cases and on random appends and positions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interview_kit.analysis.tables import AudioClock, input_times
from interview_kit.inputclock import InputClock, input_time
from interview_kit.records import Dir, Rec


def expected(ends: list[float], times: list[float], positions: list[float]) -> list[float]:
    """`input_time` of each position, None as NaN."""
    out = []
    for p in positions:
        t = input_time(ends, times, p)
        out.append(math.nan if t is None else t)
    return out


def same(got: np.ndarray, want: list[float]) -> bool:
    """Equal to the bit, NaN where `want` is NaN."""
    assert len(got) == len(want)
    return all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got.tolist(), want, strict=True))


ENDS = [100.0, 200.0, 200.0, 200.0, 400.0]
TIMES = [1.0, 1.1, 1.2, 1.3, 1.5]


@pytest.mark.parametrize(
    "position, answer",
    [
        (-50.0, 1.0),  # before the first append: the first append's time
        (0.0, 1.0),
        (100.0, 1.0),  # equal to the first end
        (150.0, 1.05),  # inside a chunk: interpolated
        (200.0, 1.1),  # equal to a repeated end: its first append's time
        (300.0, 1.4),  # after a repeated end: from its last append
        (400.0, 1.5),  # equal to the last end
        (400.000001, math.nan),  # past the last append: not sent yet
        (math.inf, math.nan),
        (-math.inf, 1.0),
        (math.nan, math.nan),
    ],
)
def test_edge_cases_agree_with_input_time(position: float, answer: float) -> None:
    got = input_times(ENDS, TIMES, [position])
    assert same(got, expected(ENDS, TIMES, [position]))
    assert same(got, [answer]) or got[0] == pytest.approx(answer)


def test_no_appends_and_one_append() -> None:
    assert same(input_times([], [], [0.0, 5.0, math.nan]), [math.nan] * 3)
    assert same(input_times([100.0], [2.0], [-1.0, 100.0, 101.0]), [2.0, 2.0, math.nan])
    assert same(input_times([100.0], [2.0], [-1.0, 100.0, 101.0]), expected([100.0], [2.0], [-1, 100, 101]))


def test_shape_and_scalars() -> None:
    assert input_times(ENDS, TIMES, np.array([[100.0, 500.0]])).shape == (1, 2)
    assert float(input_times(ENDS, TIMES, 150.0)) == pytest.approx(1.05)
    assert np.isnan(input_times(ENDS, TIMES, 500.0))


# Random appends: ascending stream ends (repeats allowed) and the times they were sent.
positions_ms = st.floats(min_value=-1e6, max_value=1e7, allow_nan=False, allow_infinity=False)
whole_ms = st.integers(min_value=-1000, max_value=10**6).map(float)


@st.composite
def appends(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    ends = sorted(draw(st.lists(st.one_of(positions_ms, whole_ms), max_size=30)))
    if ends and draw(st.booleans()):  # repeat some ends
        ends = sorted(ends + draw(st.lists(st.sampled_from(ends), max_size=5)))
    times = draw(
        st.lists(
            st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
            min_size=len(ends),
            max_size=len(ends),
        )
    )
    return ends, sorted(times) if draw(st.booleans()) else times


@st.composite
def appends_and_positions(draw: st.DrawFn) -> tuple[list[float], list[float], list[float]]:
    ends, times = draw(appends())
    near = [e + d for e in ends for d in (-1.0, -1e-9, 0.0, 1e-9, 1.0)]
    special = [math.nan, math.inf, -math.inf]
    if ends:
        special += [ends[0] - 1000.0, ends[-1] + 1e-6, ends[-1] * 2 + 1]
    pick = st.one_of(positions_ms, whole_ms, st.sampled_from(near + special))
    return ends, times, draw(st.lists(pick, max_size=40))


@settings(max_examples=400, deadline=None)
@given(appends_and_positions())
def test_vectorised_rule_is_input_time(case: tuple[list[float], list[float], list[float]]) -> None:
    ends, times, positions = case
    assert same(input_times(ends, times, positions), expected(ends, times, positions))


def events_frame(appends: list[tuple[float, float]]) -> pd.DataFrame:
    """An events frame (as `load_session` builds it) of one session with these (t, audio_end_ms) appends,
    a few other lines between them."""
    rows = []
    for t, end in appends:
        rows.append({"t": t, "dir": Dir.OUT, "type": Rec.INPUT_APPEND, "audio_end_ms": end})
        rows.append({"t": t, "dir": Dir.LOCAL, "type": Rec.PING, "audio_end_ms": math.nan})
    frame = pd.DataFrame(rows, columns=["t", "dir", "type", "audio_end_ms"]).astype({"t": float})
    frame.insert(0, "session", pd.Categorical(["s"] * len(frame)))
    for col in ("dir", "type"):
        frame[col] = pd.Categorical([str(v) for v in frame[col]])
    return frame


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 1e3), st.one_of(positions_ms, whole_ms)), max_size=30),
    st.lists(st.one_of(positions_ms, whole_ms), max_size=20),
)
def test_audio_clock_is_the_live_input_clock(sent: list[tuple[float, float]], positions: list[float]) -> None:
    """Appends in log order, repeated and out-of-order ends included: the analysis maps every position as
    the session's `InputClock` did live (which rounds to the microsecond)."""
    sent = sorted(sent, key=lambda x: x[0])  # a log is in time order; stream ends need not be
    live = InputClock()
    for t, end in sent:
        live.appended(end, t)
    clock = AudioClock(events_frame(sent))
    positions = positions + [end for _, end in sent] + [math.nan]
    got = clock.to_times("s", positions)
    for p, g in zip(positions, got.tolist(), strict=True):
        want = live.to_session(p)
        if want is None:
            assert math.isnan(g), p
        else:
            assert g == pytest.approx(want, abs=1e-6), p
        assert (math.isnan(g) and math.isnan(clock.to_t("s", p))) or clock.to_t("s", p) == g
    assert math.isnan(clock.to_t("s", True))  # not a position: input_time's None
    assert math.isnan(clock.to_t("no-such-session", 0.0))
