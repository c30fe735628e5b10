"""One response at a time: every ``response.create`` the session sends goes through here.

The hosted API rejects a ``response.create`` while another response is active
(``conversation_already_has_active_response``), and after an interruption it may send a
``response.done`` whose ``response.created`` never came. The sequencer waits for the active response's
``response.done`` (bounded by a timeout) before sending, waits for its own request's
``response.created``, and sends a rejected request again once the blocking response is done.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from interview_kit.protocol import Binding, ResponseRegistry
from interview_kit.records import Rec

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


class ResponseSequencer:
    """Serialises response requests. ``send`` queues a client event (never blocks).

    The session calls `on_created`, `on_done` and `on_rejected` from its dispatch as server events
    arrive; `request` is awaited by whoever wants a response.
    """

    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        registry: ResponseRegistry,
        *,
        done_timeout: float = 30.0,
        created_timeout: float = 15.0,
        on_note: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._send = send
        self._registry = registry
        self.done_timeout = done_timeout
        self.created_timeout = created_timeout
        self._note = on_note or (lambda _kind, _data: None)
        self._lock = asyncio.Lock()
        self._idle = asyncio.Event()
        self._idle.set()
        self._answered = asyncio.Event()  # our outstanding request got its created (or a rejection)
        self._outstanding: str | None = None  # purpose of the request sent, waiting for created
        self._event_id: str | None = None
        self._rejected = False
        self._closed = False
        self.active_id: str | None = None
        self._ids = itertools.count(1)

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def close(self) -> None:
        """The connection is gone: release every waiter."""
        self._closed = True
        self._idle.set()
        self._answered.set()

    async def request(self, purpose: str, event: dict[str, Any], *,
                      still_wanted: Callable[[], bool] | None = None) -> str | None:
        """Send `event` (a ``response.create`` for `purpose`) when no response is active.

        Returns the ``event_id`` it was sent with once its ``response.created`` arrived, or None when
        it could not be delivered (closed, no longer wanted, or no ``response.created`` in time: the
        caller's flow has its own timeout and moves on). `still_wanted` is asked right before each
        send: a request its caller gave up on while it waited is dropped (noted), never sent late.
        """
        async with self._lock:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                if self._closed:
                    return None
                try:
                    await asyncio.wait_for(self._idle.wait(), self.done_timeout)
                except TimeoutError:
                    log.warning("no response.done for %s after %.1f s; sending %s anyway",
                                self.active_id, self.done_timeout, purpose)
                    self._note(Rec.SEQUENCER_TIMEOUT, {"waiting_for": Rec.RESPONSE_DONE,
                                                     "after_s": self.done_timeout,
                                                     "active": self.active_id, "purpose": purpose})
                    self.active_id = None
                if self._closed:
                    return None
                if still_wanted is not None and not still_wanted():
                    log.info("response.create for %s no longer wanted; not sent", purpose)
                    self._note(Rec.SEQUENCER_DROPPED, {"purpose": purpose, "attempt": attempt})
                    return None
                event_id = f"req_{purpose}_{next(self._ids)}"
                self._outstanding, self._event_id, self._rejected = purpose, event_id, False
                self._answered.clear()
                self._idle.clear()
                self._registry.requested(purpose)
                self._send({**event, "event_id": event_id})
                try:
                    await asyncio.wait_for(self._answered.wait(), self.created_timeout)
                except asyncio.CancelledError:
                    self._forget(purpose)  # the caller gave up: the next request must not wait on it
                    raise
                except TimeoutError:
                    log.warning("no response.created for %s after %.1f s", purpose, self.created_timeout)
                    self._note(Rec.SEQUENCER_TIMEOUT, {"waiting_for": Rec.RESPONSE_CREATED,
                                                     "after_s": self.created_timeout, "purpose": purpose})
                    self._forget(purpose)
                    return None
                if self._rejected and not self._closed:
                    self._note(Rec.SEQUENCER_RETRY, {"purpose": purpose, "attempt": attempt})
                    continue  # wait for the blocking response's done, then send again
                return None if self._closed else event_id
            log.error("response.create for %s rejected %d times; giving up", purpose, MAX_ATTEMPTS)
            return None

    def _forget(self, purpose: str) -> None:
        """Stop waiting for our outstanding request's ``response.created``."""
        if self._outstanding is None:
            return
        self._registry.withdrawn(purpose)
        self._outstanding = None
        if self.active_id is None:
            self._idle.set()

    # --- fed by the session's dispatch ---------------------------------------------------------

    def on_created(self, binding: Binding) -> None:
        """A ``response.created``: that response is active, unless its ``response.done`` came first
        (a server that reorders them): then it only answers the request waiting for it."""
        finished = self._registry.finished(binding.response_id)
        if not finished:
            self.active_id = binding.response_id
            self._idle.clear()
        if self._outstanding is not None and binding.purpose == self._outstanding:
            self._outstanding = None
            self._answered.set()
            if finished and self.active_id is None:
                self._idle.set()

    def on_done(self, binding: Binding) -> None:
        if self.active_id in (None, binding.response_id):
            self.active_id = None
            if self._outstanding is None:
                self._idle.set()
            if self._outstanding is not None and binding.purpose == self._outstanding:
                # done without created for our own request (e.g. cancelled at once): it was answered
                self._outstanding = None
                self._answered.set()
                self._idle.set()

    def on_rejected(self, event_id: str | None) -> None:
        """An ``error`` with code ``conversation_already_has_active_response``."""
        if self._outstanding is None or (event_id is not None and event_id != self._event_id):
            return
        self._registry.withdrawn(self._outstanding)
        self._outstanding = None
        self._rejected = True
        self._idle.clear()  # some response we have not seen yet is active: wait for its done
        self._answered.set()
