"""The session folder a run leaves: created once, every file written atomically, secrets kept out.

`SessionFolder` owns ``data/sessions/<YYYYmmdd-HHMMSS>-<id>/``: the event log (``events.jsonl``,
appended as things happen) and the three JSON files (``session.json``, ``transcript.json``,
``report.json``), each replaced whole so that a reader never sees half a file. The format is
described in ``docs/session-folder.md``; its record names are ``interview_kit.records``.
"""

from __future__ import annotations

import importlib.metadata
import platform
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import interview_kit
from interview_kit.clock import loop_time
from interview_kit.eventlog import EventLog, write_json

SESSION_FILE = "session.json"
EVENTS_FILE = "events.jsonl"
TRANSCRIPT_FILE = "transcript.json"
REPORT_FILE = "report.json"


def versions() -> dict[str, str]:
    """Package versions from their metadata: importing ``openai`` here would block the loop ~0.35 s."""
    out = {"interview_kit": interview_kit.__version__, "python": platform.python_version()}
    for name in ("openai", "websockets"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


class SessionFolder:
    """One run's folder. `log` is its event log, on the session's one clock (`loop_time`)."""

    def __init__(self, out_dir: Path, *, secrets: Iterable[str] = ()) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.path = Path(out_dir) / f"{stamp}-{uuid.uuid4().hex[:6]}"
        self.path.mkdir(parents=True, exist_ok=False)
        self.secrets = [s for s in secrets if s]
        self.log = EventLog(self.path / EVENTS_FILE, secrets=self.secrets, clock=loop_time)
        self.started_wall = datetime.now(UTC).isoformat()

    @property
    def name(self) -> str:
        return self.path.name

    def write(self, filename: str, obj: Any) -> None:
        """Replace `filename` with `obj` as JSON, atomically, secrets redacted."""
        write_json(self.path / filename, obj, secrets=self.secrets)

    def write_session(self, summary: dict[str, Any], *, ended: bool) -> None:
        """``session.json``: `summary` (config, outcome, close, phases...) with the folder's own facts."""
        self.write(SESSION_FILE, {
            "id": self.name,
            "started": self.started_wall,
            "ended": datetime.now(UTC).isoformat() if ended else None,
            **summary,
            "versions": versions(),
        })

    def close(self) -> None:
        self.log.close()
