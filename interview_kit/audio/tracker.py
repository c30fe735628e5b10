"""What was heard, and when: the `PlaybackTracker` of every output.

The assessment flow needs to know when a response has been *heard*, not received: the tracker knows, per
response id, when its last sample is played (device latency included) and tells the session on its event
loop, each response starting at most once and ending exactly once (played out, or cut short).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from interview_kit.audio.format import SAMPLE_RATE, samples_to_ms
from interview_kit.records import Rec

log = logging.getLogger(__name__)

#: ``on_event(kind, response_id, t, info)``, called on the asyncio loop; `t` is ``time.monotonic()``.
PlaybackEvent = Callable[[str, str, float, dict], None]


class PlaybackTap(Protocol):
    """Told the audio itself as it is heard (the session recorder): `heard` when the output hands a
    response's samples over with the moment the first is heard (from the device thread for a sound
    card), `cut` when a response stops being heard at `at` (its audio after that never is)."""

    def heard(self, rid: str, pcm: bytes, at: float) -> None: ...

    def cut(self, rid: str, at: float) -> None: ...

PLAYBACK_STARTED = Rec.PLAYBACK_STARTED
PLAYBACK_ENDED = Rec.PLAYBACK_ENDED


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass
class _Response:
    rid: str
    queued: int = 0  # samples the server sent
    handed: int = 0  # samples handed to the output (heard from `first_at` on, back to back)
    first_at: float | None = None
    last_end: float = 0.0  # clock time at which the last handed sample has been heard
    finished: bool = False  # the server has sent its last audio
    ended_at: float | None = None  # t of the ended event (emitted or pending)
    end_delivered: bool = False  # the ended event has been handed to on_event: final
    played_ms: int = 0


@dataclass(order=True)
class _Pending:
    t: float
    rank: int  # ended (0) before started (1) at the same instant
    seq: int
    kind: str = field(compare=False)
    rid: str = field(compare=False)
    info: dict = field(compare=False)


class PlaybackTracker:
    """Per response id: samples queued, handed to the output, finished flag; emits started/ended events.

    Thread-safe: a device callback thread calls `played`; the loop calls the rest. Events are delivered on
    the bound asyncio loop at their moment (``playback.ended`` of audio still in the device buffer waits
    until its `t`), in order, each response ending exactly once. Without a loop (plain synchronous use)
    events are delivered at once, from the calling thread.
    """

    def __init__(
        self,
        on_event: PlaybackEvent | None,
        *,
        speed: float = 1.0,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.on_event = on_event
        self.tap: PlaybackTap | None = None  # told the audio heard and the cuts (the session recorder)
        self.rate = SAMPLE_RATE * speed  # samples heard per clock second
        self._loop = loop
        self._clock = clock
        self._lock = threading.RLock()
        self._responses: dict[str, _Response] = {}
        self._active: list[str] = []  # responses not yet over, in the order first seen
        self._pending: list[_Pending] = []
        self._seq = 0
        self._kicked = False
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on `loop` from now on."""
        self._loop = loop

    # -- inputs ----------------------------------------------------------------------------------
    def queued(self, rid: str, n: int) -> None:
        """`n` more samples of `rid` arrived from the server."""
        with self._lock:
            r = self._get(rid)
            if r.ended_at is None:
                r.queued += n

    def played(self, rid: str, n: int, at: float, pcm: bytes | None = None) -> None:
        """`n` samples of `rid` were handed to the output; the first of them is heard at clock time `at`.
        `pcm`: those samples, for the `tap` (outputs pass them; nothing is copied without a tap)."""
        if n <= 0:
            return
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None:
                return
            if r.handed == 0:
                r.first_at = at
                self._push(at, PLAYBACK_STARTED, rid, {})
            r.handed += n
            r.queued = max(r.queued, r.handed)
            r.last_end = at + n / self.rate
            self._maybe_end(r)
        tap = self.tap
        if tap is not None and pcm:
            tap.heard(rid, pcm, at)
        self._kick()

    def finished(self, rid: str) -> None:
        """The server has sent the last audio of `rid` (``response.output_audio.done``/``response.done``)."""
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None or r.finished:
                return
            r.finished = True
            self._maybe_end(r)
        self._kick()

    def truncate(self, rid: str, at: float) -> int:
        """Stop `rid` at clock time `at`: it ends there with truncated=True; returns the ms heard by then.

        A response already over by `at` keeps its ending and returns its played ms.
        """
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None and (r.end_delivered or r.ended_at <= at):
                return r.played_ms
            heard = self.heard_samples(rid, at)
            self._pending = [p for p in self._pending if not (p.rid == rid and (p.kind == PLAYBACK_ENDED
                                                                                 or p.t > at))]
            r.ended_at = at
            r.played_ms = samples_to_ms(heard)
            r.finished = True
            self._push(at, PLAYBACK_ENDED, rid, {"played_ms": r.played_ms, "truncated": True})
            with contextlib.suppress(ValueError):
                self._active.remove(rid)
        tap = self.tap
        if tap is not None:
            tap.cut(rid, at)
        self._kick()
        return r.played_ms

    # -- queries ---------------------------------------------------------------------------------
    def heard_samples(self, rid: str, at: float) -> int:
        """Samples of `rid` heard by clock time `at` (its handed samples play back to back)."""
        with self._lock:
            r = self._responses.get(rid)
            if r is None or r.handed == 0:
                return 0
            not_yet = max(0.0, r.last_end - at) * self.rate
            return max(0, min(r.handed, int(r.handed - not_yet)))

    def received_ms(self, rid: str) -> int:
        """Milliseconds of `rid`'s audio received from the server (until it ended): the most a
        ``conversation.item.truncate`` may keep, before `protocol.truncate_end_ms`'s margin."""
        with self._lock:
            r = self._responses.get(rid)
            return samples_to_ms(r.queued) if r is not None else 0

    def is_ended(self, rid: str) -> bool:
        """True once `rid` has an ending (played out, or truncated), even if its event is still due."""
        with self._lock:
            r = self._responses.get(rid)
            return r is not None and r.ended_at is not None

    def active(self, at: float | None = None) -> list[str]:
        """Responses not over at `at` (default now), in the order they were first seen."""
        at = self._clock() if at is None else at
        with self._lock:
            return [rid for rid in self._active if self._not_over(rid, at)]

    def current(self, at: float | None = None) -> str | None:
        """The response being played (or next to play) at `at`, or None when the output is idle."""
        active = self.active(at)
        return active[0] if active else None

    # -- internals -------------------------------------------------------------------------------
    def _not_over(self, rid: str, at: float) -> bool:
        r = self._responses[rid]
        return r.ended_at is None or r.ended_at > at

    def _get(self, rid: str) -> _Response:
        r = self._responses.get(rid)
        if r is None:
            r = self._responses[rid] = _Response(rid)
            self._active.append(rid)
        return r

    def _maybe_end(self, r: _Response) -> None:
        if not r.finished or r.handed < r.queued or r.ended_at is not None:
            return
        if r.handed == 0:
            r.ended_at = self._clock()
        else:
            r.ended_at = r.last_end
        r.played_ms = samples_to_ms(r.handed)
        self._push(r.ended_at, PLAYBACK_ENDED, r.rid, {"played_ms": r.played_ms, "truncated": False})
        if r.ended_at <= self._clock():
            with contextlib.suppress(ValueError):
                self._active.remove(r.rid)

    def _push(self, t: float, kind: str, rid: str, info: dict) -> None:
        self._seq += 1
        rank = 0 if kind == PLAYBACK_ENDED else 1
        bisect.insort(self._pending, _Pending(t, rank, self._seq, kind, rid, info))

    def _kick(self) -> None:
        loop = self._loop or _running_loop()
        if loop is None:
            self._deliver(self._take(everything=True))
            return
        with self._lock:
            if self._kicked or not self._pending:
                return
            self._kicked = True
        try:
            loop.call_soon_threadsafe(self._drain, loop)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            with self._lock:
                self._kicked = False

    def _take(self, *, everything: bool = False) -> list[_Pending]:
        with self._lock:
            if everything:
                due, self._pending = self._pending, []
            else:
                now = self._clock() + 1e-3
                i = 0
                while i < len(self._pending) and self._pending[i].t <= now:
                    i += 1
                due, self._pending = self._pending[:i], self._pending[i:]
            for p in due:
                if p.kind == PLAYBACK_ENDED:
                    self._responses[p.rid].end_delivered = True
                    with contextlib.suppress(ValueError):
                        self._active.remove(p.rid)
            return due

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._kicked = False
        self._deliver(self._take())
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending:
                delay = max(0.0, self._pending[0].t - self._clock())
                self._timer = loop.call_later(delay, self._drain, loop)

    def _deliver(self, events: list[_Pending]) -> None:
        if self.on_event is None:
            return
        for p in events:
            try:
                self.on_event(p.kind, p.rid, p.t, dict(p.info))
            except Exception:
                log.exception("playback event handler raised on %s %s", p.kind, p.rid)
