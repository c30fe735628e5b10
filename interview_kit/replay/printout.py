"""A replay's comparison as `interview-kit replay` prints it: the phases side by side, the outcome,
close, trigger, requests and report, then every difference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from interview_kit.replay.differences import align, close_text, report_text
from interview_kit.replay.summary import Step, Summary

if TYPE_CHECKING:
    from interview_kit.replay.run import ReplayResult

_MARKS = {"=": " ", "~": "≠", "-": "-", "+": "+"}


def _num(t: float | None) -> str:
    return "-" if t is None else f"{t:.3f}"


def _steps_table(title: str, a: Sequence[Step], b: Sequence[Step], tolerance: float,
                 *, times: bool = True) -> list[str]:
    """Two sequences side by side with their times; with `times`, a step moved beyond `tolerance` is
    marked ``!``."""
    width = max([len(title), *(len(s.what) for s in (*a, *b))]) + 2
    lines = [f"  {'':2}{title:<{width}}{'recorded':>11}  {'replayed':>11}  {'Δ s':>8}"]
    for tag, i, j in align(a, b):
        left, right = (a[i] if i is not None else None), (b[j] if j is not None else None)
        name = left.what if left is not None else right.what if right is not None else ""
        if tag == "~" and left is not None and right is not None:
            name = f"{left.what} / {right.what}"
        delta, mark = "", _MARKS[tag]
        if tag == "=" and left and right and left.t is not None and right.t is not None:
            delta = f"{round(right.t - left.t, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000"
            if times and abs(right.t - left.t) > tolerance:
                mark = "!"
        ta, tb = _num(left.t if left else None), _num(right.t if right else None)
        lines.append(f"  {mark} {name:<{width}}{ta:>11}  {tb:>11}  {delta:>8}")
    return lines


def format_result(result: ReplayResult, *, verbose: int = 0) -> str:
    """The comparison, as `interview-kit replay` prints it."""
    rec, rep = result.recorded, result.replayed or Summary()
    clock = "real time" if result.real_time else "virtual clock"
    folder = "removed (a temporary one: --keep or --out DIR keeps it)" if result.removed else result.folder
    lines = [f"replay of {result.recording}  ({rec.duration_s:.1f} s recorded; {clock}, "
             f"{result.wall_s:.2f} s wall)", f"replay folder: {folder}", ""]
    lines += _steps_table("phase", rec.phases, rep.phases, result.tolerance)
    lines.append("")
    rows = [
        ("outcome", rec.outcome or "- (the recording did not end)", rep.outcome or "-"),
        ("close", close_text(rec.close), close_text(rep.close)),
        ("trigger", rec.trigger_source or "-", rep.trigger_source or "-"),
        ("requests", f"{len(rec.requests)} sent", f"{len(rep.requests)} sent"),
        ("report", report_text(rec), report_text(rep)),
    ]
    width = max(len(r[1]) for r in rows) + 2
    lines.append(f"  {'':10}{'recorded':<{width}}replayed")
    lines += [f"  {label:<10}{a:<{width}}{b}" for label, a, b in rows]
    if verbose:
        lines.append("")
        lines += _steps_table("request", rec.requests, rep.requests, result.tolerance, times=False)
        for who, summary in (("recording", rec), ("replay", rep)):
            if summary.notes:
                lines += ["", f"  notes of the {who}:"]
                lines += [f"    {n.t:9.3f}  {n.what}  {n.detail}" for n in summary.notes]
    lines += [f"note: {note}" for note in result.notes]
    lines.append("")
    if result.agree:
        lines.append(f"agree: same phases (within ±{result.tolerance:g} s), outcome, close, trigger, "
                     "requests and report")
    else:
        lines.append(f"{len(result.differences)} difference(s):")
        lines += [f"  - {d}" for d in result.differences]
    return "\n".join(lines)
