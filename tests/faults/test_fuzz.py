"""A seeded fuzz of the session against mutated server frames: it never crashes, always ends, and always
leaves a complete folder.

The frames are a whole interview's, as `faults.hostile.Hostile` sends them (session.updated, questions
with their audio and transcripts, the candidate's answers, the end_interview call, the three assessment
lines); each goes out mutated with probability `RATE`: a field dropped, a field's type changed, the
text cut short, two frames swapped, a frame sent twice or not at all, garbage sent before it, its type
changed to another event's, an id of another response or item, the echo of another request's purpose.
Every connection is fuzzed, so reconnects are too. The CI run mutates a few hundred frames in a few
seconds; ``--long-fuzz`` (see conftest.py) runs thousands.

A failure names its seed and the mutations it made; ``fuzz(SEED, 1, ...)`` runs that session alone again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from session_helpers import FAKE_KEY, IN_MEMORY, Run, assert_folder_complete

from faults.hostile import Fault, Frame, Hostile
from interview_kit.assessment import HeuristicAssessor
from interview_kit.config import SessionConfig
from interview_kit.records import Outcome
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryTransport

RATE = 0.25  # the share of frames mutated
CI_FRAMES = 300  # mutated frames in the CI run
LONG_FRAMES = 5000  # ... in the long run
#: Short limits, so that whatever a mutation leaves the session waiting for ends soon on the virtual
#: clock; and fewer wake-ups of that clock (longer input chunks, a slower tick, no audio files).
CONFIG: dict[str, Any] = {
    "session_updated_timeout": 2.0, "response_created_timeout": 3.0, "speaking_timeout": 8.0,
    "sequencer_timeout": 4.0, "silence_timeout": 5.0, "report_timeout": 10.0, "transcript_wait": 1.0,
    "reconnect_attempts": 2, "reconnect_delay": 0.1, "max_minutes": 1.0,
    "chunk_ms": 200, "tick_interval": 0.1, "record_audio": False,
}
#: Loop seconds a fuzzed session may take: the interview limit, then an assessment in which every line
#: waits its longest (response.created, then speaking), the report's budget and every reconnect's
#: backoff; with room to spare.
BOUND = 60.0 + 3 * (3.0 + 8.0) + 10.0 + 2 * (0.1 + 0.2 + 2.0) + 60.0
OUTCOMES = {str(o) for o in Outcome} - {"stopped"}
TYPES = ("session.updated", "response.created", "response.done", "response.output_audio.delta",
         "response.output_audio.done", "response.output_audio_transcript.delta",
         "response.function_call_arguments.done", "input_audio_buffer.speech_started",
         "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
         "conversation.item.input_audio_transcription.completed",
         "conversation.item.input_audio_transcription.failed", "error", "session.created", "x.unknown")


@dataclass
class Fuzzer(Fault):
    """Every frame, on every connection, mutated with probability `rate` (see the module's docstring)."""

    seed: int = 0
    rate: float = RATE
    made: list[str] = field(default_factory=list)  # the mutations, in order: what a failure prints
    rng: random.Random = field(init=False)
    _held: list[Frame] = field(default_factory=list)
    _ids: list[str] = field(default_factory=list)  # response and item ids sent so far

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.connections = None

    def rewrite(self, event: dict[str, Any]) -> list[Frame]:
        out = [*self._held]
        self._held.clear()
        for key in ("response_id", "item_id"):
            if isinstance(event.get(key), str) and event[key] not in self._ids:
                self._ids.append(event[key])
        if self.rng.random() >= self.rate:
            return [*out, event]
        mutation = self.rng.choice(MUTATIONS)
        self.made.append(f"{event['type']}: {mutation.__name__}")
        return [*out, *mutation(self, json.loads(json.dumps(event)))]

    # --- the mutations ---

    def drop_field(self, event: dict[str, Any]) -> list[Frame]:
        parent, key = self._somewhere(event)
        parent.pop(key, None)
        return [event]

    def change_type(self, event: dict[str, Any]) -> list[Frame]:
        parent, key = self._somewhere(event)
        parent[key] = self._value()
        return [event]

    def truncate(self, event: dict[str, Any]) -> list[Frame]:
        text = json.dumps(event)
        return [text[:self.rng.randrange(len(text))]]

    def swap(self, event: dict[str, Any]) -> list[Frame]:
        self._held.append(event)  # goes out after the next frame
        return []

    def duplicate(self, event: dict[str, Any]) -> list[Frame]:
        return [event, event]

    def drop_frame(self, event: dict[str, Any]) -> list[Frame]:
        return []

    def garbage_before(self, event: dict[str, Any]) -> list[Frame]:
        rng = self.rng
        junk: Frame = rng.choice([
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))),
            json.dumps(self._value()),
            json.dumps({"type": rng.choice(TYPES), **{f"k{i}": self._value() for i in range(3)}}),
            "\ufeff" + json.dumps(event), '{"type": "' + "\\ud800" + '"}', "null", "1e999999",
        ])
        return [junk, event]

    def retype(self, event: dict[str, Any]) -> list[Frame]:
        event["type"] = self.rng.choice(TYPES)
        return [event]

    def other_id(self, event: dict[str, Any]) -> list[Frame]:
        """An id of another response or item the server sent earlier (or a made-up one)."""
        ids = [i for i in self._ids if i != event.get("response_id")] or ["resp_ghost"]
        target = event["response"] if isinstance(event.get("response"), dict) else event
        key = "id" if target is not event else self.rng.choice(["response_id", "item_id"])
        target[key] = self.rng.choice(ids)
        return [event]

    def other_purpose(self, event: dict[str, Any]) -> list[Frame]:
        """The echo of another request's purpose (or of none)."""
        response = event.get("response")
        if isinstance(response, dict):
            purposes = ("question", "ack", "summary", "fallback", "goodbye", "x")
            response["metadata"] = self.rng.choice([None, {}, *({"purpose": p} for p in purposes)])
        return [event]

    # --- helpers ---

    def _somewhere(self, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """A field of the event or of an object inside it (``type`` included), at random."""
        parent = event
        while True:
            key = self.rng.choice(list(parent))
            inner = parent[key]
            if isinstance(inner, list) and inner and isinstance(inner[0], dict):
                inner = inner[0]
            if isinstance(inner, dict) and inner and self.rng.random() < 0.6:
                parent = inner
                continue
            return parent, key

    def _value(self) -> Any:
        rng = self.rng
        return rng.choice([None, 0, -1, 2**70, 1.5, float("1e308"), True, "", "x" * rng.randrange(1, 2000),
                           [], [1, "a"], {}, {"id": 5}, "resp_ghost", "%%%not base64"])


MUTATIONS = (Fuzzer.drop_field, Fuzzer.change_type, Fuzzer.truncate, Fuzzer.swap, Fuzzer.duplicate,
             Fuzzer.drop_frame, Fuzzer.garbage_before, Fuzzer.retype, Fuzzer.other_id, Fuzzer.other_purpose)


async def fuzzed_session(seed: int, tmp_path: Path, rate: float = RATE) -> tuple[Run, Fuzzer]:
    fuzzer = Fuzzer(seed=seed, rate=rate)
    server = Hostile(fuzzer, speak_ms=300)
    config = SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path / f"seed-{seed}").with_overrides(CONFIG)
    session = InterviewSession(config, transport=InMemoryTransport(serve=server.serve),
                               assessor=HeuristicAssessor())
    result = await asyncio.wait_for(session.run(), BOUND + 1.0)
    return Run(result, session), fuzzer


async def fuzz(first_seed: int, frames: int, tmp_path: Path, caplog: pytest.LogCaptureFixture,
               rate: float = RATE) -> int:
    """Fuzzed sessions, seed after seed, until `frames` frames have been mutated; each must end cleanly
    with a complete folder. Returns the number of sessions."""
    mutated, seed = 0, first_seed
    while mutated < frames:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            try:
                run, fuzzer = await fuzzed_session(seed, tmp_path, rate)
            except TimeoutError:
                pytest.fail(f"seed {seed}: the session did not end within {BOUND:g} s")
        where = f"seed {seed}, mutations {fuzzer.made}"
        tracebacks = [r.getMessage() for r in caplog.records if r.exc_info] + \
            ["Traceback"] * ("Traceback" in caplog.text)
        assert not tracebacks, f"{where}: {tracebacks}"
        tripped = [e["data"] for e in run.of("error")
                   if e["dir"] == "local" and "dispatch" in e["data"]["where"]]
        assert not tripped, f"{where}: a handler tripped over a field: {tripped}"
        assert run.result.outcome in OUTCOMES, where
        try:
            assert_folder_complete(run)
            assert run.events()[-1]["t"] <= BOUND
            assert "turns" in run.json("transcript.json") and "error" in run.json("report.json")
        except (AssertionError, ValueError) as exc:
            raise AssertionError(f"{where}: {exc}") from exc
        mutated += len(fuzzer.made)
        seed += 1
    return seed - first_seed


@IN_MEMORY
async def test_a_few_hundred_mutated_frames_never_break_a_session(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sessions = await fuzz(1, CI_FRAMES, tmp_path, caplog)
    assert sessions >= 3  # (a fuzzer that mutates nothing would stop at once)


@IN_MEMORY
@pytest.mark.long_fuzz
async def test_thousands_of_mutated_frames_never_break_a_session(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    await fuzz(10_000, LONG_FRAMES, tmp_path, caplog)
