"""Which of a scenario's faults apply to a connection, a response or a chat call, and how often.

Timing rule: times on the conversation's own timeline (``at``, ``first_audio_delay`` seconds) are
divided by the scenario's ``speed``, like latencies and audio; times that model the network or the
report model (``stall`` seconds, ``chat_delay``, ``retry_after``) are real seconds, not divided by
``speed``. Both are measured on the event loop's clock (``loop.time()``, ``asyncio.sleep``), never
``time.monotonic``, so a fast-forwarding test loop compresses them alike.
"""

from __future__ import annotations

import threading

from interview_kit.scenario import DURING_ANSWER, TIMED_KINDS, Fault, Scenario

CHAT_FAILURES = ("chat_429", "chat_500", "chat_malformed")


def matches(fault: Fault, purpose: str | None) -> bool:
    """A fault without `during` applies to every response; with it, only to that purpose's."""
    return fault.during is None or fault.during == purpose


class FaultCounts:
    """How often each `reconnectable` fault has fired, kept by one emulator (the aiohttp `Emulator`
    or an `InMemoryEmulator`) for all its connections: a client that reconnects meets the same
    scenario going on, with the faults it already met spent. Keyed by scenario name and the fault's
    place in it, so a scenario a connection names (``?scenario=``) and loads anew is counted too."""

    def __init__(self) -> None:
        self._fired: dict[tuple[str, int], int] = {}

    def fired(self, key: tuple[str, int]) -> int:
        return self._fired.get(key, 0)

    def count(self, key: tuple[str, int]) -> None:
        self._fired[key] = self._fired.get(key, 0) + 1


class ConnectionFaults:
    """The realtime faults of one connection; each timed fault (`scenario.TIMED_KINDS`) fires at
    most `count` times, on this connection or, when `reconnectable`, on all the connections that share
    `shared`. The other kinds apply to every matching response and ignore `count`."""

    def __init__(self, scenario: Scenario, shared: FaultCounts | None = None) -> None:
        self.scenario = scenario
        self._shared = shared if shared is not None else FaultCounts()
        self._own = FaultCounts()
        self._keys = {id(f): (scenario.name, i) for i, f in enumerate(scenario.faults)}

    def _counts(self, fault: Fault) -> FaultCounts:
        return self._shared if fault.reconnectable else self._own

    def available(self, fault: Fault) -> bool:
        """Whether the fault may still fire (without counting a firing)."""
        return self._counts(fault).fired(self._keys[id(fault)]) < fault.count

    def take(self, fault: Fault) -> bool:
        """Count one firing; False once the fault has fired `count` times (per connection, or per
        emulator when `reconnectable`)."""
        if not self.available(fault):
            return False
        self._counts(fault).count(self._keys[id(fault)])
        return True

    def _timed(self) -> list[Fault]:
        return [f for f in self.scenario.faults if f.kind in TIMED_KINDS]

    def at_connect(self) -> list[Fault]:
        """Timed faults counted from the connection's start (a session expiry is `expiry`'s)."""
        return [f for f in self._timed() if f.during is None and f.kind != "session_expiry"]

    def expiry(self) -> Fault | None:
        """The earliest `session_expiry` that may still fire on this connection, if any."""
        due = [f for f in self.scenario.faults_of("session_expiry") if self.available(f)]
        return min(due, key=lambda f: f.at or 0.0, default=None)

    def at_response(self, purpose: str | None) -> list[Fault]:
        """Timed faults counted from the start of a response with this purpose."""
        return [
            f
            for f in self._timed()
            if f.during is not None and f.during != DURING_ANSWER and f.during == purpose
        ]

    def at_answer(self, number: int) -> list[Fault]:
        """Timed faults counted from the speech start of the candidate's answer `number` (from 1)."""
        return [f for f in self._timed() if f.during == DURING_ANSWER and f.answer == number]

    def first_audio_delay(self, purpose: str | None) -> float:
        return sum(f.seconds for f in self.scenario.faults_of("first_audio_delay") if matches(f, purpose))

    def audio_rate(self, purpose: str | None) -> float:
        """Multiplier of real-time pacing: 0.5 sends audio at half real-time speed."""
        rate = 1.0
        for f in self.scenario.faults_of("slow_audio"):
            if matches(f, purpose) and f.factor > 0:
                rate *= f.factor
        return rate

    def echo_metadata(self, purpose: str | None) -> bool:
        return not any(matches(f, purpose) for f in self.scenario.faults_of("no_metadata_echo"))


class ChatFaults:
    """The chat-completion faults of one Emulator: calls are counted across all its clients."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._lock = threading.Lock()
        self._fired: dict[int, int] = {}
        self.calls = 0

    def next_call(self) -> tuple[float, Fault | None]:
        """Register a call; return its extra delay (real seconds, not divided by speed) and the
        failure it gets, if any.

        Failures fire in the order they are listed, each for its first `count` calls."""
        with self._lock:
            self.calls += 1
            delay = sum(f.seconds for f in self.scenario.faults_of("chat_delay"))
            for f in self.scenario.faults:
                if f.kind in CHAT_FAILURES and self._fired.get(id(f), 0) < f.count:
                    self._fired[id(f)] = self._fired.get(id(f), 0) + 1
                    return delay, f
            return delay, None
