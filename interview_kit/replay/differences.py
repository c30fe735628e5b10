"""Where a replay decided differently from its recording: `compare` two `Summary`s into `Difference`s.

Imports nothing heavy: the command line reads `TOLERANCE` from here to build its parser.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interview_kit.replay.summary import Step, Summary
    from interview_kit.transport import CloseInfo

#: Seconds a replayed phase (or the report) may be early or late before its time is a difference.
TOLERANCE = 0.25


@dataclass(frozen=True)
class Difference:
    """One way the replay decided differently: `kind` is phases, timing, outcome, close, trigger,
    requests or report."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def seconds(t: float | None) -> str:
    return "-" if t is None else f"{t:.3f} s"


def close_text(close: CloseInfo | None) -> str:
    if close is None:
        return "not closed"
    reason = f" {close.reason}" if close.reason else ""
    return f"{close.code}{reason} (by {close.by})"


def report_text(s: Summary) -> str:
    if s.report_ok is None:
        return "no report"
    after = f" after {s.report_s:.3f} s" if s.report_s is not None else ""
    return f"ok{after}" if s.report_ok else f"failed{after}: {s.report_error}"


def align(a: Sequence[Step], b: Sequence[Step]) -> list[tuple[str, int | None, int | None]]:
    """Two sequences side by side, by name: rows (tag, index in a, index in b), tag "=" same,
    "~" replaced, "-" only in a, "+" only in b."""
    rows: list[tuple[str, int | None, int | None]] = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            rows += [("=", i1 + k, j1 + k) for k in range(i2 - i1)]
        elif tag == "delete":
            rows += [("-", i, None) for i in range(i1, i2)]
        elif tag == "insert":
            rows += [("+", None, j) for j in range(j1, j2)]
        else:
            n, m = i2 - i1, j2 - j1
            for k in range(max(n, m)):
                rows.append(("~" if k < n and k < m else "-" if k < n else "+",
                             i1 + k if k < n else None, j1 + k if k < m else None))
    return rows


def _opcodes(a: Sequence[Step], b: Sequence[Step]) -> list[tuple[str, int, int, int, int]]:
    matcher = difflib.SequenceMatcher(a=[s.what for s in a], b=[s.what for s in b], autojunk=False)
    return matcher.get_opcodes()


def _names(steps: Sequence[Step]) -> str:
    return ", ".join(s.what for s in steps)


def _sequence_differences(kind: str, noun: str, a: Sequence[Step], b: Sequence[Step]) -> list[Difference]:
    """One difference per run of steps missing, added or replaced."""
    out = []
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        plural = "s" if max(i2 - i1, j2 - j1) > 1 else ""
        recorded, replayed = _names(a[i1:i2]), _names(b[j1:j2])
        if tag == "delete":
            message = (f"{noun}{plural} {recorded} (recorded from {seconds(a[i1].t)}) "
                       "did not happen in the replay")
        elif tag == "insert":
            message = (f"the replay has {noun}{plural} {replayed} (from {seconds(b[j1].t)}), "
                       "the recording does not")
        elif tag == "replace" and i2 - i1 > 1:
            message = (f"{noun}s {i1 + 1}-{i2}: recorded {recorded} (from {seconds(a[i1].t)}), "
                       f"replayed {replayed} (from {seconds(b[j1].t)})")
        elif tag == "replace":
            message = (f"{noun} {i1 + 1}: recorded {recorded} at {seconds(a[i1].t)}, "
                       f"replayed {replayed} at {seconds(b[j1].t)}")
        else:
            continue
        out.append(Difference(kind, message))
    return out


def compare(recorded: Summary, replayed: Summary | None, *, tolerance: float = TOLERANCE) -> list[Difference]:
    """Every decision of the replay that differs from the recording's."""
    if replayed is None:
        return [Difference("outcome", "the replay left no session folder to compare")]
    out = _sequence_differences("phases", "phase", recorded.phases, replayed.phases)
    for tag, i, j in align(recorded.phases, replayed.phases):
        if tag != "=":
            continue
        assert i is not None and j is not None
        a, b = recorded.phases[i].t, replayed.phases[j].t
        if a is not None and b is not None and abs(b - a) > tolerance:
            out.append(Difference("timing", f"{recorded.phases[i].what}: recorded at {a:.3f} s, replayed "
                                            f"at {b:.3f} s ({b - a:+.3f} s, beyond ±{tolerance:g} s)"))
    if recorded.outcome != replayed.outcome:
        unended = "none (the recording did not end)"
        out.append(Difference("outcome", f"recorded {recorded.outcome or unended}, "
                                         f"replayed {replayed.outcome or 'none'}"))
    a_close, b_close = recorded.close, replayed.close
    if (a_close and (a_close.code, a_close.by)) != (b_close and (b_close.code, b_close.by)):
        out.append(Difference("close", f"recorded {close_text(a_close)}, replayed {close_text(b_close)}"))
    if recorded.trigger_source != replayed.trigger_source:
        out.append(Difference("trigger", f"recorded {recorded.trigger_source or 'none'}, "
                                         f"replayed {replayed.trigger_source or 'none'}"))
    out += _sequence_differences("requests", "request", recorded.requests, replayed.requests)
    if recorded.report_ok is not None:
        if recorded.report_ok != replayed.report_ok or recorded.report_error != replayed.report_error:
            out.append(Difference("report", f"recorded {report_text(recorded)}, "
                                            f"replayed {report_text(replayed)}"))
        elif (recorded.report_s is not None and replayed.report_s is not None
              and abs(replayed.report_s - recorded.report_s) > tolerance):
            out.append(Difference("report", f"recorded after {recorded.report_s:.3f} s, replayed after "
                                            f"{replayed.report_s:.3f} s (beyond ±{tolerance:g} s)"))
    return out
