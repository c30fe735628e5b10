"""When the candidate said it: input-audio positions mapped onto the session clock, defined once.

The server counts the candidate's audio in milliseconds of the input stream (``audio_start_ms``,
``audio_end_ms`` on ``input_audio_buffer.speech_started`` / ``speech_stopped``). The session knows
when it sent each ``input_audio_buffer.append`` and where in the stream that chunk ended: a chunk is
sent once its last sample has been recorded, so the stream reached ``audio_end_ms`` at the append's
``t``. Between two appends the position advances linearly; before the first append the first one's
time is used; past the last append the moment is not known yet (None).

This module is that rule, pure. The session's transcript and the panel use `InputClock` live; the
analysis applies the same rule to whole columns with ``numpy.interp`` (``analysis``), and a test holds
the two to the same answers.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def input_time(ends_ms: Sequence[float], times: Sequence[float], position_ms: float) -> float | None:
    """Session time (s) at which the input stream reached `position_ms`, given the appends' stream
    end positions `ends_ms` (ascending) and the session times they were sent at; None when no append
    reaches that far (or there are none)."""
    if isinstance(position_ms, bool) or not isinstance(position_ms, int | float) or not ends_ms:
        return None
    if position_ms != position_ms or position_ms > ends_ms[-1]:  # NaN, or not sent yet
        return None
    i = bisect.bisect_left(ends_ms, position_ms)
    if i == 0 or ends_ms[i] == position_ms:
        return float(times[i])
    e0, e1, t0, t1 = ends_ms[i - 1], ends_ms[i], times[i - 1], times[i]
    return float(t0 + (position_ms - e0) / (e1 - e0) * (t1 - t0))


class InputClock:
    """The appends sent so far, and `input_time` over them (appends arrive in stream order)."""

    def __init__(self) -> None:
        self._ends: list[float] = []
        self._times: list[float] = []

    def appended(self, end_ms: float, t: float) -> None:
        """The chunk ending at input position `end_ms` was sent at session time `t`."""
        if self._ends and end_ms <= self._ends[-1]:
            return  # a repeated or out-of-order position adds nothing to the mapping
        self._ends.append(float(end_ms))
        self._times.append(float(t))

    def to_session(self, position_ms: float | None) -> float | None:
        """Session time at which the stream reached `position_ms` (None if unknown)."""
        if position_ms is None:
            return None
        t = input_time(self._ends, self._times, position_ms)
        return None if t is None else round(t, 6)
