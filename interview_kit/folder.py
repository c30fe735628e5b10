"""The session folder a run leaves: created once, every file written atomically, secrets kept out.

`SessionFolder` owns ``data/sessions/<YYYYmmdd-HHMMSS>-<id>/``: the event log (``events.jsonl``,
appended as things happen) and the three JSON files (``session.json``, ``transcript.json``,
``report.json``), each replaced whole so that a reader never sees half a file. The format is
described in ``docs/session-folder.md``; its record names are ``interview_kit.records``.

A full disk is noticed at the first failed write (of the event log or of a JSON file), said once in
words ("No space left on device while writing events.jsonl"), and passed to `on_write_error` so that
the session can end the interview; no write raises. From then on the event log writes nothing more
(until its last lines at close), and the space the folder kept in reserve (`RESERVE_FILE`, created with
the folder) is given back, so that the small final files (the outcome in ``session.json``, the report,
the transcript) still fit.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import logging
import os
import platform
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import interview_kit
from interview_kit import log_redaction
from interview_kit.clock import loop_time
from interview_kit.eventlog import EventLog, write_error_message, write_json

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
EVENTS_FILE = "events.jsonl"
TRANSCRIPT_FILE = "transcript.json"
REPORT_FILE = "report.json"
RESERVE_FILE = ".reserve"  # space kept for the final files, given back on a write error and at close
RESERVE_BYTES = 64 * 1024


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
    """One run's folder. `log` is its event log, on the session's one clock (`loop_time`).

    ``on_write_error(message)`` (settable after creation too) is called once, at the first write that
    fails, from whichever thread wrote; `write_error` keeps the message. The folder's secrets are also
    kept out of log lines (`log_redaction.protect`).
    """

    def __init__(self, out_dir: Path, *, secrets: Iterable[str] = (),
                 on_write_error: Callable[[str], None] | None = None, reserve: int = RESERVE_BYTES) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.path = Path(out_dir) / f"{stamp}-{uuid.uuid4().hex[:6]}"
        self.path.mkdir(parents=True, exist_ok=False)
        self.secrets = [s for s in secrets if s]
        log_redaction.protect(self.secrets)
        self.on_write_error = on_write_error
        self.write_error: str | None = None  # the first failed write, in words
        self._lock = threading.Lock()
        self._reserve = self._keep_reserve(reserve)
        self.log = EventLog(self.path / EVENTS_FILE, secrets=self.secrets, clock=loop_time,
                            on_write_error=self._failed)
        self.started_wall = datetime.now(UTC).isoformat()

    @property
    def name(self) -> str:
        return self.path.name

    def write(self, filename: str, obj: Any) -> bool:
        """Replace `filename` with `obj` as JSON, atomically, secrets redacted. False when it could not be
        written (said once, see `on_write_error`): never raises for a full disk."""
        try:
            write_json(self.path / filename, obj, secrets=self.secrets)
        except OSError as exc:
            self.log.stop_writing(exc)  # what space is left is for the small files
            self._failed(write_error_message(exc, filename))
            return False
        return True

    def write_session(self, summary: dict[str, Any], *, ended: bool) -> bool:
        """``session.json``: `summary` (config, outcome, close, phases...) with the folder's own facts."""
        return self.write(SESSION_FILE, {
            "id": self.name,
            "started": self.started_wall,
            "ended": datetime.now(UTC).isoformat() if ended else None,
            **summary,
            "versions": versions(),
        })

    def close(self) -> None:
        self.log.close()
        self._give_back_reserve()

    # -- a full disk ------------------------------------------------------------------------------------
    def _failed(self, message: str) -> None:
        """The first failed write: give the reserve back, say it once, tell the owner."""
        with self._lock:
            if self.write_error is not None:
                log.debug("%s (again)", message)
                return
            self.write_error = message
        self._give_back_reserve()
        hook = self.on_write_error
        log.error("%s; %s", message, "the interview is ending" if hook else "later writes may be lost")
        if hook is not None:
            try:
                hook(message)
            except Exception as exc:
                log.error("on_write_error raised %s: %s", type(exc).__name__, exc)

    def _keep_reserve(self, size: int) -> Path | None:
        """Set `size` bytes aside in the folder (really allocated, not a sparse file); None if they are
        not there to take (the disk is nearly full already: the first write will say so)."""
        if size <= 0:
            return None
        path = self.path / RESERVE_FILE
        try:
            with path.open("wb") as f:
                try:
                    os.posix_fallocate(f.fileno(), 0, size)
                except (AttributeError, OSError) as exc:  # not on this OS or file system: write it
                    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
                        raise
                    f.write(os.urandom(size))  # (zeros might be compressed away)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        return path

    def _give_back_reserve(self) -> None:
        path, self._reserve = self._reserve, None
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
