"""Which sessions can be compared: the run's conditions (speed, target) and whether it is usable.

A figure that mixes a sped-up emulator run with a real-time one, or a run that failed in its first
second with a finished interview, misleads without saying so. Each session row therefore carries the
conditions it was recorded under, and a `usable` flag with the reason when it is not:

- real time: `speed` 1 (the emulator and the simulated candidate run their audio clocks `speed` times
  faster; every latency then shrinks by that factor);
- reached the assessment: an `assessment.trigger` line, a `trigger_source` in session.json, or a phase
  after `interviewing` (a `complete_degraded` run counts: it was assessed);
- not a start-up failure: the server answered at least once (a `response.created` line);
- finished: an outcome in session.json or a `session.ended` line (a run still going, or killed, has none).

The loaders and the plots keep only usable sessions unless asked (`include_unusable=True`), and say
how many they left out and why (`LeftOut`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from interview_kit import flow

log = logging.getLogger(__name__)

HOSTED_HOST = "api.openai.com"
EMULATOR = "emulator"
HOSTED = "hosted"
REPLAY = "replay"
IN_MEMORY = "in-memory"  # `connected_to` of the in-process transport: always the emulator
# Phases that only an assessment reaches.
ASSESSMENT_PHASES = frozenset(
    str(p) for p in flow.PHASE_ORDER if p is not flow.Phase.INTERVIEWING and p not in flow.TERMINAL_PHASES
)

# Reasons a session is left out, in the order they are checked (the first that applies is given).
UNFINISHED = "unfinished (no outcome: still running, or killed)"
STARTUP_FAILURE = "start-up failure (the server never answered)"
NOT_REAL_TIME = "not real time (speed {speed:g})"
NO_ASSESSMENT = "did not reach the assessment (outcome {outcome})"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def run_speed(meta: Mapping[str, Any]) -> float:
    """The run's audio clock factor: session.json `speed`, else `config.speed`, else 1 (real time)."""
    for value in (meta.get("speed"), _map(meta.get("config")).get("speed")):
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return float(value)
    return 1.0


def run_target(meta: Mapping[str, Any]) -> str:
    """Where the session talked: `emulator`, `hosted`, `replay`, or the server's URL (scheme, host and
    path, no credentials or query) for any other server.

    From session.json `connected_to` (the transport's own description; `in-memory` is the emulator), else
    `config.base_url`. A local URL is the emulator when the run named a `scenario` (only the emulator
    plays one: a live run has none)."""
    connected = meta.get("connected_to")
    url = connected if isinstance(connected, str) and connected else _map(meta.get("config")).get("base_url")
    if not isinstance(url, str) or not url:
        return EMULATOR if meta.get("scenario") else "unknown"
    if url == IN_MEMORY:
        return EMULATOR
    if url.startswith(REPLAY + ":"):
        return REPLAY
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host == HOSTED_HOST:
        return HOSTED
    if meta.get("scenario") and host in ("127.0.0.1", "localhost", "::1"):
        return EMULATOR
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True)
class RunFacts:
    """What the event log says about a run, beyond session.json (see `run_facts`)."""

    answered: bool  # at least one `response.created`
    triggered: bool  # an `assessment.trigger` line
    phases: frozenset[str]  # every phase the flow entered
    ended_outcome: str | None  # `session.ended` data.outcome


def unusable_reason(meta: Mapping[str, Any], facts: RunFacts | None) -> str | None:
    """Why a session cannot be compared with real-time interviews (None when it can): see the module."""
    facts = facts or RunFacts(False, False, frozenset(), None)
    outcome = meta.get("outcome") or facts.ended_outcome
    if not outcome:
        return UNFINISHED
    if not facts.answered:
        return STARTUP_FAILURE
    speed = run_speed(meta)
    if speed != 1.0:
        return NOT_REAL_TIME.format(speed=speed)
    moved = {str(p.get("to")) for p in meta.get("phases") or () if isinstance(p, Mapping)}
    reached = (
        facts.triggered
        or bool(meta.get("trigger_source"))
        or bool((facts.phases | moved) & ASSESSMENT_PHASES)
    )
    if not reached:
        return NO_ASSESSMENT.format(outcome=outcome)
    return None


def reason_kind(reason: str) -> str:
    """A reason without its particulars (`not real time (speed 10)` -> `not real time`), for counting."""
    return reason.split(" (", 1)[0]


@dataclass
class LeftOut:
    """The sessions a loader or a plot left out, and why: `str()` is the line a notebook prints."""

    total: int = 0  # sessions there were before leaving any out
    reasons: dict[str, str] = field(default_factory=dict)  # session name -> reason
    metas: dict[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)  # their session.json

    def __len__(self) -> int:
        return len(self.reasons)

    def counts(self) -> Counter[str]:
        return Counter(self.reasons.values())

    def __str__(self) -> str:
        if not self.reasons:
            return f"using all {self.total} sessions (none left out)"
        why = "; ".join(f"{n} {reason}" for reason, n in sorted(self.counts().items(), key=lambda x: -x[1]))
        return (
            f"using {self.total - len(self.reasons)} of {self.total} sessions; left out {len(self.reasons)}: "
            f"{why} (include_unusable=True keeps them)"
        )

    def log(self, where: str) -> None:
        if self.reasons:
            log.info("%s: %s", where, self)
