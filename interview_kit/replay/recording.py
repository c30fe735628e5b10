"""A recorded session folder, read and checked, and what its replay takes from it: the server's frames
with the moments they reached the client, how the connection ended, the ping round trips, the user's
clicks and what the assessor answered. `ReplayError` says in one line why a folder cannot be replayed.

A session that reconnected recorded several connections (each attempt starts at its
``connection.reconnecting``); `next_connection` is the recording of the next attempt, so a replayed
session that reconnects where the recorded one did meets the same servers.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from interview_kit.config import ConfigError, SessionConfig
from interview_kit.folder import EVENTS_FILE, REPORT_FILE, SESSION_FILE
from interview_kit.records import Dir, Rec
from interview_kit.replay.summary import Summary, data_of, is_request, number, summarize
from interview_kit.transport import ABNORMAL_CLOSURE, CloseInfo

#: Frames the client read within this long after a recorded loop stall had arrived during it.
STALL_SLACK = 0.05
# Errors the session itself settles a report on (it gave up waiting): the assessor never answered.
_GAVE_UP = ("report generation ", "the interview ended before the assessment")


class ReplayError(ValueError):
    """A folder that cannot be replayed; the message says why, on one line."""


# --- reading a folder -----------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ReplayError(f"{path.parent}: no {path.name} (not a session folder?)") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _read_object(path: Path) -> dict[str, Any]:
    """A JSON file holding one object."""
    try:
        obj = orjson.loads(_read_bytes(path))
    except orjson.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(obj, dict):
        raise ReplayError(f"{path}: not a JSON object")
    return obj


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every record of an ``events.jsonl``; `ReplayError` on a line that is not one (a truncated last
    line included: a folder cut off mid-write cannot be replayed faithfully)."""
    lines = _read_bytes(path).split(b"\n")
    events: list[dict[str, Any]] = []
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError:
            last = not any(rest.strip() for rest in lines[n:])
            hint = " (a truncated last line: the recording was cut off mid-write)" if last else ""
            raise ReplayError(f"{path}: line {n} is not valid JSON{hint}") from None
        if (not isinstance(rec, dict) or not isinstance(rec.get("type"), str) or number(rec.get("t")) is None
                or rec.get("dir") not in (Dir.IN, Dir.OUT, Dir.LOCAL)):
            raise ReplayError(f"{path}: line {n} is not an event record (it needs t, dir and type)")
        events.append(rec)
    if not events:
        raise ReplayError(f"{path}: no events")
    return events


@functools.lru_cache(maxsize=64)
def _silence(nbytes: int) -> str:
    """Base64 of `nbytes` of silence (PCM16 zeros): the audio of a delta logged by its size."""
    return base64.b64encode(bytes(max(0, nbytes))).decode("ascii")


def frame_of(rec: Mapping[str, Any]) -> str:
    """The server frame an ``in`` record was logged from, as near as the log allows.

    An audio delta comes back with silence of its logged size (``bytes``) and its ids; a frame that
    did not parse comes back as the 200 characters the log kept of it (it still does not parse); any
    other event is its logged ``data`` (long strings cut at 500 characters, secrets redacted, audio
    fields left out, as the log wrote them), which still parses as the same event.
    """
    kind, data = rec["type"], data_of(rec)
    if kind == Rec.INVALID:
        frame = data.get("frame")
        return frame if isinstance(frame, str) else ""
    if kind == Rec.AUDIO_DELTA:
        nbytes = rec.get("bytes")
        event = {
            "type": kind, "event_id": data.get("event_id"), "response_id": rec.get("response_id"),
            "item_id": rec.get("item_id"), "output_index": data.get("output_index"),
            "content_index": data.get("content_index"),
            "delta": _silence(nbytes if isinstance(nbytes, int) and not isinstance(nbytes, bool) else 0),
        }
    elif data:
        return orjson.dumps({**data, "type": kind}).decode()
    else:
        event = {"type": kind, "response_id": rec.get("response_id"), "item_id": rec.get("item_id")}
    return orjson.dumps({k: v for k, v in event.items() if v is not None}).decode()


# --- what the replay takes from it ----------------------------------------------------------------


@dataclass(frozen=True)
class ServerItem:
    """A server frame, when (session time) it reached the client, and how many requests (client events
    but input audio) the client had sent by then: the server may have been answering any of them."""

    t: float
    frame: str
    after: int = 0


@dataclass(frozen=True)
class RecordedClose:
    """How the recorded connection ended. `heard`: the session learnt of it (the server, the network or
    the transport's own keepalive closed it, and the flow ended ``disconnected``); otherwise the
    session closed it itself, and a replay waits for the replayed session to do the same."""

    t: float
    info: CloseInfo
    heard: bool
    after: int = 0


@dataclass(frozen=True)
class ReportPlan:
    """What the recorded assessor did: answered after `seconds` (of the session's clock) with `report`
    (``report.json``) or by raising `error`; `seconds` None: it never answered in time."""

    seconds: float | None
    report: dict[str, Any] | None
    error: str | None
    model: str
    block_s: float = 0.0  # blocking mode, never answered: how long the call held the loop at most


def _duration(rec: Mapping[str, Any]) -> float:
    return number(data_of(rec).get("duration_s")) or 0.0


@dataclass
class Recording:
    """A session folder, read and checked: everything a replay needs of it."""

    folder: Path
    session: dict[str, Any]
    events: list[dict[str, Any]]
    report: dict[str, Any] | None
    config: SessionConfig
    notes: list[str] = field(default_factory=list)  # what the replay cannot take as recorded
    attempt: int = 0  # which connection attempt this is the recording of (0: the first connection)

    @classmethod
    def load(cls, folder: Path | str) -> Recording:
        """Read and check a session folder; `ReplayError` (one line) when it cannot be replayed."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ReplayError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
        session = _read_object(folder / SESSION_FILE)
        events = read_events(folder / EVENTS_FILE)
        report = _read_object(folder / REPORT_FILE) if (folder / REPORT_FILE).exists() else None
        raw = session.get("config")
        if not isinstance(raw, dict):
            raise ReplayError(f"{folder / SESSION_FILE}: no config object")
        known = {f.name for f in dataclasses.fields(SessionConfig)}
        unknown = ", ".join(sorted(set(raw) - known))
        notes = [f"settings this version does not know were left out: {unknown}"] if unknown else []
        settings = {k: v for k, v in raw.items() if k in known and k != "out_dir"}
        # Recorded before sessions reconnected: the replay must not reconnect either.
        settings.setdefault("reconnect", False)
        try:
            config = SessionConfig().with_overrides(settings)
        except ConfigError as exc:
            raise ReplayError(f"{folder / SESSION_FILE}: {exc}") from None
        return cls(folder, session, events, report, config, notes)

    @functools.cached_property
    def summary(self) -> Summary:
        return summarize(self.session, self.events, self.report)

    def wall_at(self, t: float) -> float:
        """The recording's wall clock (epoch seconds) at session time `t`: what its server's epoch
        times (``expires_at``) were read against."""
        first = next((r for r in self.events if isinstance(r.get("wall"), int | float)), None)
        return (first["wall"] - first["t"] if first is not None else 0.0) + t

    @property
    def end_t(self) -> float:
        """The recording's last moment (session time)."""
        return self.summary.duration_s

    def _local(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.events if r["dir"] == Dir.LOCAL and r["type"] == kind]

    def _first_local(self, kind: str, *, in_attempt: bool = False) -> int | None:
        """The index of the first local record of `kind` (in this connection attempt)."""
        start, end = self._span if in_attempt else (0, len(self.events))
        return next((i for i in range(start, end)
                     if self.events[i]["dir"] == Dir.LOCAL and self.events[i]["type"] == kind), None)

    def _span_local(self, kind: str) -> list[dict[str, Any]]:
        start, end = self._span
        return [r for r in self.events[start:end] if r["dir"] == Dir.LOCAL and r["type"] == kind]

    @functools.cached_property
    def _attempt_starts(self) -> list[int]:
        """Where each connection attempt's records start: the first at 0, each later one at its
        ``connection.reconnecting``."""
        return [0, *(i for i, r in enumerate(self.events)
                     if r["dir"] == Dir.LOCAL and r["type"] == Rec.CONNECTION_RECONNECTING)]

    @functools.cached_property
    def _span(self) -> tuple[int, int]:
        starts = [*self._attempt_starts, len(self.events)]
        if self.attempt >= len(starts) - 1:
            return len(self.events), len(self.events)
        return starts[self.attempt], starts[self.attempt + 1]

    def next_connection(self) -> Recording:
        """The recording of the next connection attempt (one the recording never made cannot connect)."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    @functools.cached_property
    def _requests_before(self) -> list[int]:
        """For each record, the client's requests (``out`` records but input audio) logged before it."""
        counts, n = [], 0
        for r in self.events:
            counts.append(n)
            if is_request(r):
                n += 1
        return counts

    @functools.cached_property
    def opened_t(self) -> float:
        """When the connection opened (session time)."""
        opened = self._span_local(Rec.CONNECTION_OPENED)
        return opened[0]["t"] if opened else 0.0

    @functools.cached_property
    def connect_error(self) -> str | None:
        """The error of a connection that never opened."""
        if self._span_local(Rec.CONNECTION_OPENED):
            return None
        for r in self._span_local(Rec.ERROR):
            if data_of(r).get("where") == "connect":
                return str(data_of(r).get("message") or "could not connect")
        if self.attempt >= len(self._attempt_starts):
            return "the recording made no further connection"
        return None

    @functools.cached_property
    def stalls(self) -> list[tuple[float, float]]:
        """Recorded loop stalls: (start, end), session time."""
        out = []
        for r in self._local(Rec.LOOP_STALL):
            start, ms = number(data_of(r).get("started")), number(data_of(r).get("duration_ms"))
            if start is not None and ms is not None:
                out.append((start, start + ms / 1000))
        return out

    def arrival(self, t: float) -> float:
        """When something the client read at `t` reached it. The client cannot read during a loop stall:
        what it read just after one (within `STALL_SLACK`) arrived during it, at its middle, as far as
        anyone can tell. A replay that stalls the same way then reads it at the same moment."""
        for start, end in self.stalls:
            if start <= t <= end + STALL_SLACK:
                return (start + end) / 2
        return t

    @functools.cached_property
    def server_items(self) -> list[ServerItem]:
        """Every server frame with the moment it reached the client, in the recorded order."""
        start, end = self._span
        before = self._requests_before[start] if start < len(self.events) else 0
        return [ServerItem(self.arrival(self.events[i]["t"]), frame_of(self.events[i]),
                           self._requests_before[i] - before)
                for i in range(start, end) if self.events[i]["dir"] == Dir.IN]

    @functools.cached_property
    def close(self) -> RecordedClose | None:
        at = self._first_local(Rec.CONNECTION_CLOSED, in_attempt=True)
        if at is None:
            return None
        closed = self.events[at]
        data = data_of(closed)
        code, reason = data.get("code"), data.get("reason")
        info = CloseInfo(code if isinstance(code, int) else ABNORMAL_CLOSURE,
                         reason if isinstance(reason, str) else None, str(data.get("by") or "unknown"))
        # Heard: the interview ended disconnected, or a server-side close was resumed from.
        heard = (any(data_of(r).get("to") == "disconnected" for r in self._local(Rec.PHASE))
                 or (info.by != "client" and bool(self._span_local(Rec.CONNECTION_LOST))))
        t = closed["t"] if info.by == "client" else self.arrival(closed["t"])  # the client's own: no stall
        return RecordedClose(t, info, heard, self._requests_before[at] - self._requests_before[self._span[0]])

    @functools.cached_property
    def pings(self) -> list[float | None]:
        """Recorded keepalive round trips in order, seconds (None: no pong in time)."""
        out: list[float | None] = []
        for r in self._span_local(Rec.PING):
            rtt = number(data_of(r).get("rtt_ms"))
            out.append(None if data_of(r).get("timeout") or rtt is None else rtt / 1000)
        return out

    @functools.cached_property
    def actions(self) -> list[tuple[float, str]]:
        """The user's own inputs: (t, "button") for a Trigger-assessment press, (t, "stop") for a stop."""
        out = []
        for r in self.events:
            if r["dir"] != Dir.LOCAL:
                continue
            if r["type"] == Rec.TRIGGER and data_of(r).get("source") == "button":
                out.append((r["t"], "button"))
            elif r["type"] == Rec.STOP_REQUESTED:
                out.append((r["t"], "stop"))
        return out

    @functools.cached_property
    def report_plan(self) -> ReportPlan:
        assessor = self.session.get("assessor")
        model = assessor.get("model") if isinstance(assessor, dict) else None
        model = str(model or (self.report or {}).get("model") or "")
        started = self._first_local(Rec.REPORT_STARTED)
        if started is None:
            return ReportPlan(0.0, None, "ReplayError: the recording has no report to replay", model)
        later = [r for r in self.events[started + 1:] if r["dir"] == Dir.LOCAL]
        settled = next((r for r in later if r["type"] in (Rec.REPORT_READY, Rec.REPORT_FAILED)), None)
        late = next((r for r in later if r["type"] == Rec.REPORT_LATE), None)
        if settled is not None and settled["type"] == Rec.REPORT_READY:
            ok = self.report if self.report is not None and self.report.get("error") is None else None
            return ReportPlan(_duration(settled), ok, None, model)
        if late is not None:  # abandoned, then answered after all: that answer, at its time
            error = data_of(late).get("error")
            return ReportPlan(_duration(late), None, str(error) if error is not None else None, model)
        if settled is not None:
            error = str(data_of(settled).get("error") or "")
            if not error.startswith(_GAVE_UP):  # the assessor's own failure
                return ReportPlan(_duration(settled), None, error, model)
        block_s = max(0.0, self.end_t - self.events[started]["t"])
        return ReportPlan(None, None, None, model, block_s=block_s)  # it never answered in time
