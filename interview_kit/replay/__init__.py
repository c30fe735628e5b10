"""Replay a recorded session folder through the real session, and say which decisions came out different.

A session folder's ``events.jsonl`` holds every frame the server sent, when the client read it, every
ping round trip and how the connection ended; ``report.json`` and the ``report.*`` records say what the
assessment returned and after how long. `replay` plays that back to a fresh `InterviewSession` built
from the recorded ``session.json`` config, on a `VirtualClockLoop` (a minute of interview in a fraction
of a second) unless ``real_time`` is set, into a folder of its own (never the recorded one; a temporary
one, removed at the end, unless ``out_dir`` or ``keep``). Then it compares the recording with the
replay: the phase sequence (by order and name; times side by side, flagged beyond a tolerance), the
outcome and the close, the trigger source, the requests the client sent (everything but input audio,
``response.create`` by purpose), and the report's success and time. See ``docs/replay.md``.

One module per part, lowest first:

- `summary`: what a folder records of the client's decisions (`Summary`, `summarize`);
- `differences`: where two summaries differ (`compare`, `Difference`);
- `recording`: a folder read and checked (`Recording`, `ReplayError`), and what a replay takes from it;
- `transport`: the recorded server played back (`ReplayTransport`);
- `assessor`: the recorded assessor played back (`ReplayAssessor`);
- `run`: a replay run and compared (`replay`, `replay_async`, `ReplayResult`);
- `printout` and `cli`: ``interview-kit replay`` (`format_result`).

The names below are imported on first use, so that importing this package (as the command line does
to build its parser) costs nothing until a replay runs.
"""

from __future__ import annotations

from interview_kit.lazy import lazy_exports

_EXPORTS = {
    "replay": "interview_kit.replay.run",
    "replay_async": "interview_kit.replay.run",
    "ReplayResult": "interview_kit.replay.run",
    "Recording": "interview_kit.replay.recording",
    "ReplayError": "interview_kit.replay.recording",
    "ReplayTransport": "interview_kit.replay.transport",
    "ReplayAssessor": "interview_kit.replay.assessor",
    "compare": "interview_kit.replay.differences",
    "Difference": "interview_kit.replay.differences",
    "summarize": "interview_kit.replay.summary",
    "Summary": "interview_kit.replay.summary",
    "format_result": "interview_kit.replay.printout",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
