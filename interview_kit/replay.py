"""Replay a recorded session folder through the real session, and say which decisions came out different.

A session folder's ``events.jsonl`` holds every frame the server sent, when the client read it, every
ping round trip and how the connection ended; ``report.json`` and the ``report.*`` records say what the
assessment returned and after how long. `replay` plays that back to a fresh `InterviewSession` built
from the recorded ``session.json`` config:

- `ReplayTransport` (a `RealtimeTransport`) delivers the recorded server frames at their recorded
  times (audio deltas, logged without their audio, come back as silence of the logged length),
  answers pings as the recording did (the recorded round trip, or no pong where the recording shows
  a ping timeout), closes with the recorded code and reason at the recorded moment when the close was
  the server's (or the transport's own, as a keepalive timeout), and waits for the session's own
  close otherwise. It keeps what the session sent (`ReplayTransport.sent`).
- `ReplayAssessor` gives back the recorded report (or raises the recorded error) after the recorded
  time, waiting on the session's loop; in ``blocking`` mode it blocks the loop for that long.
- The session's clicks are replayed too: a *Trigger assessment* button press and a stop request at
  their recorded times.

The replay runs on a `VirtualClockLoop` (a minute of interview in a fraction of a second of wall time)
unless ``real_time`` is set, into a scratch folder (never into the recorded one). It then compares
the recording with the replay: the phase sequence (by order and name; times side by side, flagged
beyond a tolerance), the outcome and the close, the trigger source, the requests the client sent
(everything but input audio, ``response.create`` by purpose), and the report's success and time.
`interview-kit replay FOLDER` prints that comparison; see ``docs/replay.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import dataclasses
import difflib
import functools
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from interview_kit.assessment import AssessmentError, AssessmentPrompt, AssessmentReport, Assessor
from interview_kit.config import ConfigError, SessionConfig
from interview_kit.records import Dir, Rec
from interview_kit.transport import ABNORMAL_CLOSURE, CloseInfo, ConnectError, TransportClosed
from interview_kit.virtual_clock import VirtualClockLoop

log = logging.getLogger(__name__)

#: Seconds a replayed phase may be early or late before its time is flagged as a difference.
TOLERANCE = 0.25
#: Loop seconds the replay waits, after the recording's end, for the session to close by itself
#: before stopping it (its outcome is then ``stopped``: a difference).
END_GRACE = 10.0
#: Frames the client read within this long after a recorded loop stall had arrived during it.
STALL_SLACK = 0.05
#: Loop seconds a server frame waits for a request the recording had sent before reading it.
CAUSAL_WAIT = 1.0
#: Real seconds the virtual clock waits for the report's thread to hand its result back.
HANDOFF_LIMIT = 5.0

_SESSION, _EVENTS, _REPORT = "session.json", "events.jsonl", "report.json"
_CLOSED = object()  # the end-of-stream marker in the transport's inbox
# Errors the session itself settles a report on (it gave up waiting): the assessor never answered.
_GAVE_UP = ("report generation ", "the interview ended before the assessment")


class ReplayError(ValueError):
    """A folder that cannot be replayed; the message says why, on one line."""


# --- reading a folder -----------------------------------------------------------------------------


def _read_json(path: Path, *, required: bool = True) -> Any:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        if not required:
            return None
        raise ReplayError(f"{path.parent}: no {path.name} (not a session folder?)") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ReplayError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every record of an ``events.jsonl``; `ReplayError` on a line that is not one (a truncated last
    line included: a folder cut off mid-write cannot be replayed faithfully)."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise ReplayError(f"{path.parent}: no {path.name} (not a session folder?)") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read it: {exc.strerror or exc}") from None
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
        if (not isinstance(rec, dict) or not isinstance(rec.get("type"), str)
                or isinstance(rec.get("t"), bool) or not isinstance(rec.get("t"), int | float)
                or rec.get("dir") not in (Dir.IN, Dir.OUT, Dir.LOCAL)):
            raise ReplayError(f"{path}: line {n} is not an event record (it needs t, dir and type)")
        events.append(rec)
    if not events:
        raise ReplayError(f"{path}: no events")
    return events


def _data(rec: Mapping[str, Any]) -> dict[str, Any]:
    data = rec.get("data")
    return data if isinstance(data, dict) else {}


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
    kind, data = rec["type"], _data(rec)
    if kind == Rec.INVALID:
        frame = data.get("frame")
        return frame if isinstance(frame, str) else ""
    if kind == Rec.AUDIO_DELTA:
        nbytes = rec.get("bytes")
        event: dict[str, Any] = {
            "type": kind, "event_id": data.get("event_id"), "response_id": rec.get("response_id"),
            "item_id": rec.get("item_id"), "output_index": data.get("output_index"),
            "content_index": data.get("content_index"),
            "delta": _silence(nbytes if isinstance(nbytes, int) and not isinstance(nbytes, bool) else 0),
        }
        return orjson.dumps({k: v for k, v in event.items() if v is not None}).decode()
    if data:
        event = {**data, "type": kind}
    else:
        event = {"type": kind, "response_id": rec.get("response_id"), "item_id": rec.get("item_id")}
        event = {k: v for k, v in event.items() if v is not None}
    return orjson.dumps(event).decode()


def _request_label(event: Mapping[str, Any]) -> str:
    """A client event as a decision: ``response.create summary``, ``conversation.item.create
    function_call_output``, ``session.update``..."""
    kind = str(event.get("type"))
    if kind == Rec.RESPONSE_CREATE:
        response = event.get("response")
        metadata = response.get("metadata") if isinstance(response, dict) else None
        purpose = metadata.get("purpose") if isinstance(metadata, dict) else None
        return f"{kind} {purpose or '?'}"
    if kind == Rec.ITEM_CREATE:
        item = event.get("item")
        item_type = item.get("type") if isinstance(item, dict) else None
        return f"{kind} {item_type}" if item_type else kind
    return kind


# --- what a folder says happened ------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One moment of a sequence: a phase entered, or a request sent (`what`), at session time `t`."""

    t: float | None
    what: str
    detail: str = ""


@dataclass(frozen=True)
class Summary:
    """The decisions a session folder records, as `replay` compares them."""

    outcome: str | None
    close: CloseInfo | None
    trigger_source: str | None
    phases: tuple[Step, ...]
    requests: tuple[Step, ...]  # every client event but input audio, in order
    report_ok: bool | None  # None: no report.json
    report_error: str | None
    report_s: float | None  # report started -> ready or failed, as the session measured it
    duration_s: float  # the last record's time
    notes: tuple[Step, ...]  # flow.ignored, timeouts, sequencer notes, errors, stalls, ping timeouts


_NOTE_TYPES = frozenset({Rec.FLOW_IGNORED, Rec.TIMEOUT, Rec.SEQUENCER_TIMEOUT, Rec.SEQUENCER_RETRY,
                         Rec.SEQUENCER_DROPPED, Rec.LOOP_STALL, Rec.STOP_REQUESTED})


def summarize(session: Mapping[str, Any], events: list[dict[str, Any]],
              report: Mapping[str, Any] | None) -> Summary:
    """What a folder (its ``session.json``, ``events.jsonl`` records and ``report.json``) records."""
    phases: list[Step] = []
    raw_phases = session.get("phases")
    if isinstance(raw_phases, list):
        for p in raw_phases:
            if isinstance(p, dict) and isinstance(p.get("to"), str):
                phases.append(Step(_float(p.get("t")), p["to"], str(p.get("reason") or "")))
    else:  # an unfinished session.json: the phase records
        phases = [Step(r["t"], str(_data(r).get("to")), str(_data(r).get("reason") or ""))
                  for r in events if r["dir"] == Dir.LOCAL and r["type"] == Rec.PHASE]
    requests, notes = [], []
    report_s, started = None, False
    for r in events:
        kind = r["type"]
        if r["dir"] == Dir.OUT:
            if kind != Rec.INPUT_APPEND:
                requests.append(Step(r["t"], _request_label(_data(r) or {"type": kind})))
            continue
        if r["dir"] != Dir.LOCAL:
            continue
        if kind == Rec.REPORT_STARTED:
            started = True
        elif kind in (Rec.REPORT_READY, Rec.REPORT_FAILED) and started and report_s is None:
            report_s = _float(_data(r).get("duration_s"))
        elif kind in _NOTE_TYPES or (kind == Rec.PING and _data(r).get("timeout")) or kind == Rec.ERROR:
            detail = ", ".join(f"{k}={v}" for k, v in _data(r).items())
            notes.append(Step(r["t"], kind, detail))
    code = session.get("close_code")
    close = None
    if code is not None or session.get("closed_by") is not None:
        close = CloseInfo(code if isinstance(code, int) else None, session.get("close_reason"),
                          str(session.get("closed_by") or "unknown"))
    report_ok = report_error = None
    if isinstance(report, Mapping):
        report_error = report.get("error")
        report_ok = report_error is None
    return Summary(
        outcome=session.get("outcome"), close=close, trigger_source=session.get("trigger_source"),
        phases=tuple(phases), requests=tuple(requests), report_ok=report_ok,
        report_error=str(report_error) if report_error is not None else None, report_s=report_s,
        duration_s=max(r["t"] for r in events), notes=tuple(notes),
    )


# --- the recording --------------------------------------------------------------------------------


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


@dataclass
class Recording:
    """A session folder, read and checked: everything a replay needs of it."""

    folder: Path
    session: dict[str, Any]
    events: list[dict[str, Any]]
    report: dict[str, Any] | None
    config: SessionConfig
    notes: list[str] = field(default_factory=list)  # what the replay cannot take as recorded

    @classmethod
    def load(cls, folder: Path | str) -> Recording:
        """Read and check a session folder; `ReplayError` (one line) when it cannot be replayed."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ReplayError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
        session = _read_json(folder / _SESSION)
        if not isinstance(session, dict):
            raise ReplayError(f"{folder / _SESSION}: not a JSON object")
        events = read_events(folder / _EVENTS)
        report = _read_json(folder / _REPORT, required=False)
        if report is not None and not isinstance(report, dict):
            raise ReplayError(f"{folder / _REPORT}: not a JSON object")
        raw = session.get("config")
        if not isinstance(raw, dict):
            raise ReplayError(f"{folder / _SESSION}: no config object")
        known = {f.name for f in dataclasses.fields(SessionConfig)}
        notes = []
        unknown = sorted(set(raw) - known)
        if unknown:
            notes.append(f"settings this version does not know were left out: {', '.join(unknown)}")
        settings = {k: v for k, v in raw.items() if k in known and k != "out_dir"}
        try:
            config = SessionConfig().with_overrides(settings)
        except ConfigError as exc:
            raise ReplayError(f"{folder / _SESSION}: {exc}") from None
        return cls(folder, session, events, report, config, notes)

    @functools.cached_property
    def summary(self) -> Summary:
        return summarize(self.session, self.events, self.report)

    def _local(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.events if r["dir"] == Dir.LOCAL and r["type"] == kind]

    @functools.cached_property
    def opened_t(self) -> float:
        """When the connection opened (session time)."""
        opened = self._local(Rec.CONNECTION_OPENED)
        return opened[0]["t"] if opened else 0.0

    @functools.cached_property
    def connect_error(self) -> str | None:
        """The error of a connection that never opened."""
        if self._local(Rec.CONNECTION_OPENED):
            return None
        for r in self._local(Rec.ERROR):
            if _data(r).get("where") == "connect":
                return str(_data(r).get("message") or "could not connect")
        return None

    @functools.cached_property
    def stalls(self) -> list[tuple[float, float]]:
        """Recorded loop stalls: (start, end), session time."""
        out = []
        for r in self._local(Rec.LOOP_STALL):
            start, ms = _float(_data(r).get("started")), _float(_data(r).get("duration_ms"))
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

    def _requests_before(self) -> list[int]:
        """For each record, the client's requests (``out`` records but input audio) logged before it."""
        counts, n = [], 0
        for r in self.events:
            counts.append(n)
            if r["dir"] == Dir.OUT and r["type"] != Rec.INPUT_APPEND:
                n += 1
        return counts

    @functools.cached_property
    def server_items(self) -> list[ServerItem]:
        """Every server frame with the moment it reached the client, in the recorded order."""
        before = self._requests_before()
        return [ServerItem(self.arrival(r["t"]), frame_of(r), before[i])
                for i, r in enumerate(self.events) if r["dir"] == Dir.IN]

    @functools.cached_property
    def close(self) -> RecordedClose | None:
        at = next((i for i, r in enumerate(self.events)
                   if r["dir"] == Dir.LOCAL and r["type"] == Rec.CONNECTION_CLOSED), None)
        if at is None:
            return None
        closed = self.events[at]
        data = _data(closed)
        code = data.get("code")
        info = CloseInfo(code if isinstance(code, int) else ABNORMAL_CLOSURE,
                         data.get("reason") if isinstance(data.get("reason"), str) else None,
                         str(data.get("by") or "unknown"))
        heard = any(_data(r).get("to") == "disconnected" for r in self._local(Rec.PHASE))
        t = closed["t"] if info.by == "client" else self.arrival(closed["t"])  # the client's own: no stall
        return RecordedClose(t, info, heard, self._requests_before()[at])

    @functools.cached_property
    def pings(self) -> list[float | None]:
        """Recorded keepalive round trips in order, seconds (None: no pong in time)."""
        out: list[float | None] = []
        for r in self._local(Rec.PING):
            rtt = _float(_data(r).get("rtt_ms"))
            out.append(None if _data(r).get("timeout") or rtt is None else rtt / 1000)
        return out

    @functools.cached_property
    def actions(self) -> list[tuple[float, str]]:
        """The user's own inputs: (t, "button") for a Trigger-assessment press, (t, "stop") for a stop."""
        out = []
        for r in self.events:
            if r["dir"] != Dir.LOCAL:
                continue
            if r["type"] == Rec.TRIGGER and _data(r).get("source") == "button":
                out.append((r["t"], "button"))
            elif r["type"] == Rec.STOP_REQUESTED:
                out.append((r["t"], "stop"))
        return out

    @property
    def end_t(self) -> float:
        """The recording's last moment (session time)."""
        return self.summary.duration_s

    @functools.cached_property
    def report_plan(self) -> ReportPlan:
        assessor = self.session.get("assessor")
        model = assessor.get("model") if isinstance(assessor, dict) else None
        model = str(model or (self.report or {}).get("model") or "")
        started = next((i for i, r in enumerate(self.events)
                        if r["dir"] == Dir.LOCAL and r["type"] == Rec.REPORT_STARTED), None)
        if started is None:
            return ReportPlan(0.0, None, "ReplayError: the recording has no report to replay", model)
        later = [r for r in self.events[started + 1:] if r["dir"] == Dir.LOCAL]
        settled = next((r for r in later if r["type"] in (Rec.REPORT_READY, Rec.REPORT_FAILED)), None)
        late = next((r for r in later if r["type"] == Rec.REPORT_LATE), None)
        ok_report = self.report if self.report is not None and self.report.get("error") is None else None
        block_s = max(0.0, self.end_t - self.events[started]["t"])
        if settled is not None and settled["type"] == Rec.REPORT_READY:
            return ReportPlan(_float(_data(settled).get("duration_s")) or 0.0, ok_report, None, model)
        if late is not None:  # abandoned, then answered after all: that answer, at its time
            error = _data(late).get("error")
            return ReportPlan(_float(_data(late).get("duration_s")) or 0.0, None,
                              str(error) if error is not None else None, model)
        if settled is not None:
            error = str(_data(settled).get("error") or "")
            if not error.startswith(_GAVE_UP):  # the assessor's own failure
                return ReportPlan(_float(_data(settled).get("duration_s")) or 0.0, None, error, model)
        return ReportPlan(None, None, None, model, block_s=block_s)  # it never answered in time


# --- the transport --------------------------------------------------------------------------------


def _event_type(frame: str) -> str | None:
    try:
        event = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    return event.get("type") if isinstance(event, dict) else None


def _answer_pong(pong: asyncio.Future[float], start: float) -> None:
    if not pong.done():
        pong.set_result(asyncio.get_running_loop().time() - start)


class ReplayTransport:
    """A `RealtimeTransport` that plays a recording's server side back (see the module docstring).

    Frames are delivered at ``origin + t`` on the loop's clock, ``origin`` being the session's t = 0
    (`start_clock`; by default the connection opens at once and the recording's times count from it).
    `sent` holds ``(session time, frame)`` of everything the client sent.
    """

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.description = f"replay:{recording.folder.name}"
        self.sent: list[tuple[float, str]] = []
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.delivered = 0  # server frames handed over so far
        self._origin: float | None = None
        self._info: CloseInfo | None = None
        self._feeder: asyncio.Task[None] | None = None
        self._pings = 0
        self._unanswered: list[asyncio.Future[float]] = []
        self._requests = 0  # requests sent (client events but input audio)
        self._missing = 0  # recorded requests the replay did not send (found by waiting for them)
        self._request_sent = asyncio.Event()

    def start_clock(self, origin: float) -> None:
        """The session's t = 0, on the loop's clock (call before `connect`)."""
        self._origin = origin

    def now(self) -> float:
        """Session time on this transport's clock."""
        return asyncio.get_running_loop().time() - (self._origin or 0.0)

    @property
    def close_info(self) -> CloseInfo | None:
        return self._info

    async def connect(self) -> None:
        error = self.recording.connect_error
        if error is not None:
            raise ConnectError(error)
        loop = asyncio.get_running_loop()
        if self._origin is None:
            self._origin = loop.time() - self.recording.opened_t
        else:  # the connection takes as long to open as it did
            delay = self._origin + self.recording.opened_t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        self._feeder = loop.create_task(self._feed(), name="replay-server")

    async def _feed(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._origin is not None
        due = float("-inf")
        for item in self.recording.server_items:
            due = max(due, self._origin + item.t)  # in the recorded order, whatever the stall shifts
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._after_requests(item.after)
            if self._info is not None:
                return
            self.inbox.put_nowait(item.frame)
            self.delivered += 1
        close = self.recording.close
        if close is not None and close.heard:
            delay = max(due, self._origin + close.t) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._after_requests(close.after)
            log.debug("replay: the recorded close %s %s (%s)", close.info.code, close.info.reason,
                      close.info.by)
            self._end(close.info)
        # otherwise the session closed the recorded connection itself: wait for the replayed one to

    async def _after_requests(self, n: int) -> None:
        """Cause before effect: a frame the recording read after the client's n-th request is not
        delivered before the replayed client has sent as many (it may answer one of them: an
        ``error`` rejecting it, the ``response.created`` it asked for). A request the replay never
        sends is waited for `CAUSAL_WAIT` at most, once; the replay has diverged by then."""
        if self._requests >= n - self._missing:
            return
        try:
            async with asyncio.timeout(CAUSAL_WAIT):
                while self._requests < n - self._missing and self._info is None:
                    self._request_sent.clear()
                    await self._request_sent.wait()
        except TimeoutError:
            self._missing = n - self._requests
            log.debug("replay: %d recorded request(s) not sent by the replay", self._missing)

    async def send(self, text: str) -> None:
        if self._info is not None:
            raise TransportClosed(self._info)
        self.sent.append((round(self.now(), 6), text))
        if _event_type(text) != Rec.INPUT_APPEND:
            self._requests += 1
            self._request_sent.set()

    async def receive(self) -> str | bytes:
        item = await self.inbox.get()
        if item is _CLOSED:
            self.inbox.put_nowait(_CLOSED)
            assert self._info is not None
            raise TransportClosed(self._info)
        return item

    async def ping(self) -> asyncio.Future[float]:
        """The n-th ping is answered as the recording's n-th was: after its round trip, or never (a
        recorded timeout). Pings beyond the recording are answered like its last one."""
        if self._info is not None:
            raise TransportClosed(self._info)
        loop = asyncio.get_running_loop()
        pong: asyncio.Future[float] = loop.create_future()
        recorded = self.recording.pings
        rtt = recorded[min(self._pings, len(recorded) - 1)] if recorded else 0.0
        self._pings += 1
        if rtt is None:
            self._unanswered.append(pong)
        else:
            loop.call_later(rtt, _answer_pong, pong, loop.time())
        return pong

    async def close(self, code: int = 1000, reason: str = "") -> CloseInfo:
        self._end(CloseInfo(code, reason, "client"))
        assert self._info is not None
        return self._info

    def abort(self) -> None:
        self._end(CloseInfo(ABNORMAL_CLOSURE, "aborted", "client"))

    def _end(self, info: CloseInfo) -> None:
        if self._info is not None:
            return
        self._info = info
        self.inbox.put_nowait(_CLOSED)
        for pong in self._unanswered:
            if not pong.done():
                pong.set_exception(TransportClosed(info))
                pong.exception()  # retrieved: whoever still waits on it gets it, nobody is warned
        self._unanswered.clear()
        feeder = self._feeder
        if feeder is not None and not feeder.done() and feeder is not asyncio.current_task():
            feeder.cancel()


# --- the assessor ---------------------------------------------------------------------------------


def _recorded_error(text: str) -> Exception:
    """An exception whose ``f"{type(e).__name__}: {e}"`` is the recorded error text."""
    match = re.match(r"([A-Za-z_][\w.]*): (.*)\Z", text, re.S)
    if match is None:
        return AssessmentError(text)
    name = match.group(1).rsplit(".", 1)[-1]
    return type(name, (AssessmentError,), {"__module__": __name__})(match.group(2))


class ReplayAssessor(Assessor):
    """Gives back what the recorded assessor gave back, after as long as it took (see `ReportPlan`).

    It waits on the session's loop, so a virtual clock applies: `on_record` (a session listener) sees
    ``report.started`` and sets the answer's moment on the loop's clock; `assess`, which the session
    runs in a thread of its own, waits for that moment. The clock is held while the thread hands the
    result back, so the session sees it at exactly that moment. In ``blocking`` mode `assess_sync`
    runs on the loop and blocks it as long as the recorded call did (on a virtual clock, by moving
    the clock on while nothing runs). Call `close` when the session is over.
    """

    name = "replay"

    def __init__(self, plan: ReportPlan) -> None:
        self.plan = plan
        self.model = plan.model
        self._answer: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._hold: Any = None
        self._settled = False
        self._closed = False

    def on_record(self, rec: Mapping[str, Any]) -> None:
        kind = rec.get("type")
        if kind == Rec.REPORT_STARTED and self._loop is None:
            self._loop = asyncio.get_running_loop()
            if _data(rec).get("mode") != "blocking" and self.plan.seconds is not None:
                self._timer = self._loop.call_later(self.plan.seconds, self._due)
        elif kind in (Rec.REPORT_READY, Rec.REPORT_FAILED, Rec.REPORT_LATE):
            self._settled = True
            self._release()

    def _due(self) -> None:
        hold = getattr(self._loop, "hold", None)
        if hold is not None and not self._settled:  # nobody would hand a result back otherwise
            self._hold = hold("replay report hand-off", max_wall=HANDOFF_LIMIT)
        if not self._answer.done():
            self._answer.set_result(None)

    def _release(self) -> None:
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.release()

    def close(self) -> None:
        """The replay is over: a thread still waiting for its answer gives up."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._release()
        if not self._answer.done():
            self._answer.set_result(None)

    async def assess(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        if self._loop is None:  # not attached to a session's records: wait on this loop's clock
            if self.plan.seconds is None:
                await asyncio.Event().wait()
            await asyncio.sleep(self.plan.seconds or 0.0)
        else:
            await asyncio.wrap_future(self._answer)
        return self._result(prompt)

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        seconds = self.plan.seconds if self.plan.seconds is not None else self.plan.block_s
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if isinstance(loop, VirtualClockLoop):
            loop.advance(seconds)  # the loop stalls as long, in loop time
        else:
            time.sleep(seconds)
        if self.plan.seconds is None:
            raise AssessmentError("the recorded report never came")
        return self._result(prompt)

    def _result(self, prompt: AssessmentPrompt | str) -> AssessmentReport:
        if self._closed:
            raise AssessmentError("the replay is over")
        if self.plan.error is not None:
            raise _recorded_error(self.plan.error)
        prompt_name = prompt if isinstance(prompt, str) else prompt.name
        if self.plan.report is not None:
            try:
                return AssessmentReport.model_validate(self.plan.report)
            except ValueError as exc:
                log.warning("the recorded report.json does not load (%s); replaying an empty report", exc)
        return AssessmentReport(prompt=prompt_name, model=self.model)


# --- the replay -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way the replay decided differently: `kind` is phases, timing, outcome, close, trigger,
    requests or report."""

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass
class ReplayResult:
    """A replay and how it compares with its recording."""

    recording: Path
    folder: Path | None  # the replay's own session folder
    recorded: Summary
    replayed: Summary | None
    differences: list[Difference]
    tolerance: float
    real_time: bool
    wall_s: float = 0.0  # real seconds the replay took
    notes: list[str] = field(default_factory=list)
    sent: list[tuple[float, str]] = field(default_factory=list)  # every frame the replayed client sent

    @property
    def agree(self) -> bool:
        return not self.differences


def _default_out() -> Path:
    return Path(tempfile.mkdtemp(prefix="interview-kit-replay-"))


def _check_out(out_dir: Path, recording: Path) -> Path:
    out, rec = out_dir.resolve(), recording.resolve()
    if out == rec or rec in out.parents:
        raise ReplayError(f"{out_dir}: the replay must not write into the recorded folder")
    return out_dir


def replay(folder: Path | str, *, out_dir: Path | str | None = None, real_time: bool = False,
           tolerance: float = TOLERANCE, end_grace: float = END_GRACE,
           on_record: Callable[[dict[str, Any]], None] | None = None,
           overrides: Mapping[str, Any] | None = None) -> ReplayResult:
    """Replay a recorded session folder and compare the replay's decisions with the recording's.

    ``out_dir``: where the replay's own session folder goes (a new temporary folder by default; never
    the recorded folder). ``real_time``: pace by the wall clock instead of a fast-forwarding virtual
    clock. ``on_record(record)`` hears every record of the replay as it is written (to follow it, or
    stop in a debugger: on the virtual clock no time passes meanwhile). ``overrides`` changes settings
    of the recorded config (what-if; the server still does what it recorded). `ReplayError` for a
    folder that cannot be replayed.
    """
    recording = Recording.load(folder)
    out = _check_out(Path(out_dir), recording.folder) if out_dir is not None else _default_out()
    started = time.perf_counter()

    def run() -> ReplayResult:
        factory = None if real_time else VirtualClockLoop
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(replay_async(recording, out_dir=out, tolerance=tolerance, end_grace=end_grace,
                                           on_record=on_record, overrides=overrides, real_time=real_time))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = run()
    else:  # called from a running loop (a notebook): replay on a loop of its own, in a thread
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(_capture(run)), name="interview-replay")
        thread.start()
        thread.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        result = box[0]
    result.wall_s = round(time.perf_counter() - started, 3)
    return result


def _capture(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BaseException as exc:
        return exc


async def replay_async(recording: Recording | Path | str, *, out_dir: Path | str | None = None,
                       tolerance: float = TOLERANCE, end_grace: float = END_GRACE,
                       on_record: Callable[[dict[str, Any]], None] | None = None,
                       overrides: Mapping[str, Any] | None = None,
                       real_time: bool | None = None) -> ReplayResult:
    """`replay` on the running loop (whatever its clock: a `VirtualClockLoop` fast-forwards)."""
    from interview_kit.assessment import PromptError, load_prompt
    from interview_kit.session import InterviewSession

    if not isinstance(recording, Recording):
        recording = Recording.load(recording)
    out = _check_out(Path(out_dir), recording.folder) if out_dir is not None else _default_out()
    loop = asyncio.get_running_loop()
    if real_time is None:
        real_time = not isinstance(loop, VirtualClockLoop)
    notes = list(recording.notes)
    settings: dict[str, Any] = {"out_dir": out, **(overrides or {})}
    try:
        load_prompt(recording.config.prompt if "prompt" not in settings else settings["prompt"])
    except PromptError as exc:
        notes.append(f"prompt {recording.config.prompt!r} is not available here ({exc}); replayed with "
                     "'default' (the fallback summary's language may differ)")
        settings["prompt"] = "default"
    try:
        config = recording.config.with_overrides(settings)
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None

    transport = ReplayTransport(recording)
    assessor = ReplayAssessor(recording.report_plan)
    scenario = recording.session.get("scenario")
    session = InterviewSession(config, transport=transport, assessor=assessor,
                               scenario_name=scenario if isinstance(scenario, str) else None)
    timers: list[asyncio.TimerHandle] = []

    def user_action(kind: str) -> None:
        try:
            if kind == "button":
                session.trigger_assessment("button")
            else:
                session.stop()
        except RuntimeError:  # the replayed session is over already
            pass

    def end_of_recording() -> None:
        if transport.close_info is None:
            message = (f"the replay was still running {end_grace:g} s after the recording's end "
                       f"({recording.end_t:.3f} s): stopped")
            log.info("%s", message)
            notes.append(message)
            session.stop()

    def listen(rec: dict[str, Any]) -> None:
        if rec["type"] == Rec.SESSION_STARTED and not timers:
            origin = loop.time() - rec["t"]
            transport.start_clock(origin)
            for t, kind in recording.actions:
                timers.append(loop.call_at(origin + t, user_action, kind))
            timers.append(loop.call_at(origin + recording.end_t + end_grace, end_of_recording))
        assessor.on_record(rec)
        if on_record is not None:
            try:
                on_record(rec)
            except Exception:  # the caller's bug must not stop the replay (the log would drop us)
                log.exception("on_record raised")

    session.add_listener(listen)
    limit = recording.end_t + end_grace + config.report_timeout + 60.0
    try:
        await asyncio.wait_for(session.run(), limit)
    except TimeoutError:
        notes.append(f"the replay did not end within {limit:g} s of loop time")
    finally:
        for timer in timers:
            timer.cancel()
        assessor.close()
    replayed = None
    if session.folder is not None:
        try:
            replayed = Recording.load(session.folder).summary
        except ReplayError as exc:
            notes.append(f"the replay's own folder does not read back: {exc}")
    differences = compare(recording.summary, replayed, tolerance=tolerance)
    return ReplayResult(recording.folder, session.folder, recording.summary, replayed, differences,
                        tolerance=tolerance, real_time=bool(real_time), notes=notes, sent=transport.sent)


# --- comparing ------------------------------------------------------------------------------------


def _fmt_t(t: float | None) -> str:
    return "-" if t is None else f"{t:.3f} s"


def _close_text(close: CloseInfo | None) -> str:
    if close is None:
        return "not closed"
    reason = f" {close.reason}" if close.reason else ""
    return f"{close.code}{reason} (by {close.by})"


def _align(a: list[str], b: list[str]) -> list[tuple[str, int | None, int | None]]:
    """Rows (tag, index in a, index in b): "=" same, "~" replaced, "-" only in a, "+" only in b."""
    rows: list[tuple[str, int | None, int | None]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
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


def _names(steps: tuple[Step, ...] | list[Step]) -> str:
    return ", ".join(s.what for s in steps)


def _sequence_differences(kind: str, noun: str, a: tuple[Step, ...], b: tuple[Step, ...]) -> list[Difference]:
    """One difference per run of steps missing, added or replaced."""
    out = []
    matcher = difflib.SequenceMatcher(a=[s.what for s in a], b=[s.what for s in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        plural = "s" if max(i2 - i1, j2 - j1) > 1 else ""
        if tag == "delete":
            out.append(Difference(kind, f"{noun}{plural} {_names(a[i1:i2])} (recorded from "
                                        f"{_fmt_t(a[i1].t)}) did not happen in the replay"))
        elif tag == "insert":
            out.append(Difference(kind, f"the replay has {noun}{plural} {_names(b[j1:j2])} (from "
                                        f"{_fmt_t(b[j1].t)}), the recording does not"))
        elif tag == "replace":
            out.append(Difference(kind, f"{noun}{plural} {i1 + 1}-{i2}: recorded {_names(a[i1:i2])} "
                                        f"(from {_fmt_t(a[i1].t)}), replayed {_names(b[j1:j2])} "
                                        f"(from {_fmt_t(b[j1].t)})" if i2 - i1 > 1 else
                                  f"{noun} {i1 + 1}: recorded {_names(a[i1:i2])} at {_fmt_t(a[i1].t)}, "
                                  f"replayed {_names(b[j1:j2])} at {_fmt_t(b[j1].t)}"))
    return out


def compare(recorded: Summary, replayed: Summary | None, *, tolerance: float = TOLERANCE) -> list[Difference]:
    """Every decision of the replay that differs from the recording's."""
    if replayed is None:
        return [Difference("outcome", "the replay left no session folder to compare")]
    out = _sequence_differences("phases", "phase", recorded.phases, replayed.phases)
    for tag, i, j in _align([s.what for s in recorded.phases], [s.what for s in replayed.phases]):
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
        out.append(Difference("close", f"recorded {_close_text(a_close)}, replayed {_close_text(b_close)}"))
    if recorded.trigger_source != replayed.trigger_source:
        out.append(Difference("trigger", f"recorded {recorded.trigger_source or 'none'}, "
                                         f"replayed {replayed.trigger_source or 'none'}"))
    out += _sequence_differences("requests", "request", recorded.requests, replayed.requests)
    if recorded.report_ok is not None:
        if recorded.report_ok != replayed.report_ok or recorded.report_error != replayed.report_error:
            out.append(Difference("report", f"recorded {_report_text(recorded)}, "
                                            f"replayed {_report_text(replayed)}"))
        elif (recorded.report_s is not None and replayed.report_s is not None
              and abs(replayed.report_s - recorded.report_s) > tolerance):
            out.append(Difference("report", f"recorded after {recorded.report_s:.3f} s, replayed after "
                                            f"{replayed.report_s:.3f} s (beyond ±{tolerance:g} s)"))
    return out


def _report_text(s: Summary) -> str:
    if s.report_ok is None:
        return "no report"
    after = f" after {s.report_s:.3f} s" if s.report_s is not None else ""
    return f"ok{after}" if s.report_ok else f"failed{after}: {s.report_error}"


# --- printing -------------------------------------------------------------------------------------


def _steps_table(title: str, a: tuple[Step, ...], b: tuple[Step, ...], tolerance: float,
                 *, times: bool = True) -> list[str]:
    width = max([len(title), *(len(s.what) for s in (*a, *b))]) + 2
    lines = [f"  {'':2}{title:<{width}}{'recorded':>11}  {'replayed':>11}  {'Δ s':>8}"]
    for tag, i, j in _align([s.what for s in a], [s.what for s in b]):
        left, right = (a[i] if i is not None else None), (b[j] if j is not None else None)
        name = left.what if left is not None else right.what if right is not None else ""
        if tag == "~" and left is not None and right is not None:
            name = f"{left.what} / {right.what}"
        ta = _num(left.t if left else None)
        tb = _num(right.t if right else None)
        delta, mark = "", {"=": " ", "~": "≠", "-": "-", "+": "+"}[tag]
        if tag == "=" and left and right and left.t is not None and right.t is not None:
            delta = f"{round(right.t - left.t, 3) + 0.0:+.3f}"  # + 0.0: no "-0.000"
            if times and abs(right.t - left.t) > tolerance:
                mark = "!"
        lines.append(f"  {mark} {name:<{width}}{ta:>11}  {tb:>11}  {delta:>8}")
    return lines


def _num(t: float | None) -> str:
    return "-" if t is None else f"{t:.3f}"


def format_result(result: ReplayResult, *, verbose: int = 0) -> str:
    """The comparison, as `interview-kit replay` prints it."""
    rec, rep = result.recorded, result.replayed
    clock = "real time" if result.real_time else "virtual clock"
    lines = [f"replay of {result.recording}  ({rec.duration_s:.1f} s recorded; {clock}, "
             f"{result.wall_s:.2f} s wall)", f"replay folder: {result.folder}", ""]
    empty = Summary(None, None, None, (), (), None, None, None, 0.0, ())
    shown = rep or empty
    lines += _steps_table("phase", rec.phases, shown.phases, result.tolerance)
    lines.append("")
    rows = [
        ("outcome", rec.outcome or "- (the recording did not end)", shown.outcome or "-"),
        ("close", _close_text(rec.close), _close_text(shown.close)),
        ("trigger", rec.trigger_source or "-", shown.trigger_source or "-"),
        ("requests", f"{len(rec.requests)} sent", f"{len(shown.requests)} sent"),
        ("report", _report_text(rec), _report_text(shown)),
    ]
    width = max(len(r[1]) for r in rows) + 2
    lines.append(f"  {'':10}{'recorded':<{width}}replayed")
    lines += [f"  {label:<10}{a:<{width}}{b}" for label, a, b in rows]
    if verbose:
        lines.append("")
        lines += _steps_table("request", rec.requests, shown.requests, result.tolerance, times=False)
        for who, summary in (("recording", rec), ("replay", shown)):
            if summary.notes:
                lines += ["", f"  notes of the {who}:"]
                lines += [f"    {n.t:9.3f}  {n.what}  {n.detail}" for n in summary.notes]
    for note in result.notes:
        lines.append(f"note: {note}")
    lines.append("")
    if result.agree:
        lines.append(f"agree: same phases (within ±{result.tolerance:g} s), outcome, close, trigger, "
                     "requests and report")
    else:
        lines.append(f"{len(result.differences)} difference(s):")
        lines += [f"  - {d}" for d in result.differences]
    return "\n".join(lines)


# --- command line ---------------------------------------------------------------------------------


def add_arguments_replay(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="a recorded session folder")
    parser.add_argument("--real-time", action="store_true",
                        help="pace by the wall clock (default: a fast-forwarding virtual clock)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where the replay's own session folder goes (default: a new temporary folder)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, metavar="S",
                        help=f"seconds a phase may move before it is flagged (default {TOLERANCE:g})")
    parser.add_argument("-v", "--verbose", dest="replay_verbose", action="count", default=0,
                        help="also the requests side by side and the notes of both runs (-vv: debug log)")


def replay_main(args: argparse.Namespace) -> int:
    """Exit 0 when the replay agrees with the recording, 1 when it differs, 2 for a bad folder."""
    verbose = max(getattr(args, "verbose", 0), args.replay_verbose)
    if args.replay_verbose:
        logging.getLogger().setLevel(logging.DEBUG if args.replay_verbose > 1 else logging.INFO)
    if not args.tolerance >= 0:
        print("error: --tolerance must be 0 or more", file=sys.stderr)
        return 2
    try:
        result = replay(args.folder, out_dir=args.out, real_time=args.real_time, tolerance=args.tolerance)
    except ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_result(result, verbose=verbose), flush=True)
    return 0 if result.agree else 1
