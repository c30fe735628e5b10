"""Which of a scenario's faults apply to a connection, a response or a chat call, and how often.

Timing rule: times on the conversation's own timeline (``at``, ``first_audio_delay`` seconds) are
divided by the scenario's ``speed``, like latencies and audio; times that model the network or the
report model (``stall`` seconds, ``chat_delay``, ``retry_after``) are real seconds, not divided by
``speed``. Both are measured on the event loop's clock (``loop.time()``, ``asyncio.sleep``), never
``time.monotonic``, so a fast-forwarding test loop compresses them alike.
"""

from __future__ import annotations

import threading

from interview_kit.scenario import Fault, Scenario

TIMED_KINDS = ("drop", "stall", "error_event")
CHAT_FAILURES = ("chat_429", "chat_500", "chat_malformed")


def matches(fault: Fault, purpose: str | None) -> bool:
    """A fault without `during` applies to every response; with it, only to that purpose's."""
    return fault.during is None or fault.during == purpose


class ConnectionFaults:
    """The realtime faults of one connection; each timed fault (drop, stall, error_event) fires at
    most `count` times. The other kinds apply to every matching response and ignore `count`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._fired: dict[int, int] = {}

    def take(self, fault: Fault) -> bool:
        """Count one firing; False once the fault has fired `count` times on this connection."""
        key = id(fault)
        n = self._fired.get(key, 0)
        if n >= fault.count:
            return False
        self._fired[key] = n + 1
        return True

    def at_connect(self) -> list[Fault]:
        """Timed faults counted from the connection's start."""
        return [f for f in self.scenario.faults if f.kind in TIMED_KINDS and f.during is None]

    def at_response(self, purpose: str | None) -> list[Fault]:
        """Timed faults counted from the start of a response with this purpose."""
        return [
            f
            for f in self.scenario.faults
            if f.kind in TIMED_KINDS and f.during is not None and f.during == purpose
        ]

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
