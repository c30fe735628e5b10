"""Shared helpers for the session tests: run a whole interview and read back what the session folder holds.

Two ways to run one:

- `run_in_memory`: the emulator's conversation over an ``InMemoryTransport`` (no socket, no port), with
  the audio at real time (speed 1) on the loop's clock. Under ``@pytest.mark.looptime`` the loop
  fast-forwards, so a whole interview takes a second or two of wall time, and every time in the event
  log is exact. Most session tests use it.
- `run_interview`: the end-to-end run, the emulator in a thread behind a real websocket (keepalive
  pings, close frames, HTTP handshake, the chat endpoint), on wall time. Kept for the few tests whose
  point is that real boundary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from interview_kit.assessment import (
    AssessmentError,
    AssessmentPrompt,
    AssessmentReport,
    Assessor,
    HeuristicAssessor,
    OpenAIAssessor,
)
from interview_kit.audio import AudioInput
from interview_kit.config import SessionConfig
from interview_kit.emulator import Emulator, serve_in_memory
from interview_kit.flow import PHASE_ORDER
from interview_kit.scenario import Scenario, load_scenario
from interview_kit.session import InterviewSession, SessionResult
from interview_kit.transport import InMemoryPeer, InMemoryTransport, Serve, TransportClosed

#: The mark of the in-memory session tests: looptime's fast-forwarding loop. Its clock jumps to the next
#: timer after `noop_cycles` idle passes of the loop (a grace for threads and I/O). In memory there is no
#: I/O, and the only threads are the report's (whose results are checked with lower bounds on the clock,
#: never exact times); 10 passes instead of the default 42 halve the wall time of an interview.
IN_MEMORY = pytest.mark.looptime(noop_cycles=10)

FAKE_KEY = "sk-FAKE-session-42"
#: A one-question scenario for command-line runs in a subprocess (write it to a .toml file).
TINY_SCENARIO = """
name = "tiny"
description = "one short question, fast"
language = "en"
speed = 20.0
report_delay = 0.1

[interviewer]
greeting = "Hello."
questions = ["What do you do?"]
closing = "Goodbye."

[candidate]
answers = ["I write software, mostly the parts that keep data pipelines running at night."]
"""
RUN_TIMEOUT = 60.0  # wall seconds an end-to-end interview may take
LOOP_RUN_TIMEOUT = 600.0  # seconds of the loop's clock an in-memory interview may take (real-time audio)
FOLDER_FILES = ("session.json", "events.jsonl", "transcript.json", "report.json")


def fast(name: str | Scenario = "default", speed: float = 20.0, *, questions: int | None = None,
         **changes: Any) -> Scenario:
    """A scenario with its audio clock sped up (for the end-to-end runs, on wall time). `questions`: only
    the first so many questions and answers (the interviewer still ends with its tool call), for tests
    whose point is the assessment at the end rather than the interview before it."""
    base = name if isinstance(name, Scenario) else load_scenario(name)
    if questions is not None:
        interviewer, candidate = base.interviewer, base.candidate
        base = dataclasses.replace(
            base, interviewer=dataclasses.replace(interviewer, questions=interviewer.questions[:questions]),
            candidate=dataclasses.replace(candidate, answers=candidate.answers[:questions]))
    return dataclasses.replace(base, speed=speed, **changes)


def real_time(name: str | Scenario = "default", *, questions: int | None = None, **changes: Any) -> Scenario:
    """A scenario at speed 1 (for the in-memory runs, where real-time audio costs no wall time)."""
    return fast(name, speed=1.0, questions=questions, **changes)


@dataclass
class Run:
    result: SessionResult
    session: InterviewSession
    transport: InMemoryTransport | None = None  # the in-memory connection (`.sent`: every frame sent)

    @property
    def folder(self) -> Path:
        return self.result.folder

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.folder / "events.jsonl").read_text().splitlines()]

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["type"] == type_]

    def json(self, name: str) -> dict[str, Any]:
        return json.loads((self.folder / name).read_text())

    def phases(self) -> list[str]:
        return [p["to"] for p in self.result.phases]


async def run_interview(
    scenario: Scenario,
    tmp_path: Path,
    *,
    assessor: Assessor | None = None,
    during: Callable[[InterviewSession], Any] | None = None,
    emulator_key: str | None = FAKE_KEY,
    **overrides: Any,
) -> Run:
    """One interview with the simulated candidate, the emulator in its own thread (so a blocked client
    loop does not block the server), the OpenAI assessor against the emulator's chat endpoint."""
    with Emulator.in_thread(scenario=scenario, api_key=emulator_key) as emu:
        config = SessionConfig(base_url=emu.base_url, api_key=FAKE_KEY, out_dir=tmp_path,
                               speed=scenario.speed, language=scenario.language, record_audio=False)
        config = config.with_overrides({**scenario.client, **overrides})
        assessor = assessor or OpenAIAssessor(config.assessment_model, base_url=emu.base_url,
                                              api_key=FAKE_KEY, timeout=30.0)
        session = InterviewSession(config, assessor=assessor, candidate=scenario)
        if during is not None:
            during(session)
        result = await asyncio.wait_for(session.run(), RUN_TIMEOUT)
    return Run(result, session)


async def run_in_memory(
    scenario: Scenario,
    tmp_path: Path,
    *,
    assessor: Assessor | None = None,
    during: Callable[[InterviewSession], Any] | None = None,
    serve: Serve | None = None,
    candidate: bool = True,
    input: AudioInput | None = None,
    transport: InMemoryTransport | None = None,
    **overrides: Any,
) -> Run:
    """One interview over an ``InMemoryTransport`` whose server is the emulator's conversation of
    `scenario` (or `serve`, e.g. a `FakeRealtime`), with the simulated candidate (unless `candidate` is
    False) and the heuristic assessor (there is no chat endpoint in memory). Everything runs on the loop's
    clock: use it in tests marked ``@pytest.mark.looptime``, with `real_time` scenarios.
    `input` replaces the candidate's voice (e.g. a `ScriptedVoiceInput` the test speaks into);
    `during(session)` runs before the session starts (to add listeners or schedule a button press);
    `overrides` are config settings. The audio recording is off unless asked for (``record_audio=True``):
    tests/test_audio_recording.py tests it; everywhere else it would only cost time."""
    transport = transport or InMemoryTransport(serve=serve or serve_in_memory(scenario))
    config = SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path, speed=scenario.speed,
                           language=scenario.language, record_audio=False,
                           ).with_overrides({**scenario.client, **overrides})
    session = InterviewSession(config, transport=transport, assessor=assessor or HeuristicAssessor(),
                               candidate=scenario if candidate else None, input=input)
    if during is not None:
        during(session)
    result = await asyncio.wait_for(session.run(), LOOP_RUN_TIMEOUT)
    return Run(result, session, transport)


def when(session: InterviewSession, type_: str, action: Any, delay: float = 0.0) -> None:
    """Call `action()` `delay` s (loop clock) after the session's first event-log record of `type_`."""
    fired = False

    def listen(record: dict[str, Any]) -> None:
        nonlocal fired
        if record["type"] == type_ and not fired:
            fired = True
            asyncio.get_running_loop().call_later(delay, action)

    session.add_listener(listen)


def assert_folder_complete(run: Run, secret: str = FAKE_KEY) -> None:
    """Every file present, every JSONL line valid JSON, session.json final, no secret anywhere."""
    for name in FOLDER_FILES:
        assert (run.folder / name).is_file(), f"{name} missing"
    events = run.events()  # raises on an invalid line
    assert events[0]["type"] == "session.started" and events[-1]["type"] == "session.ended"
    assert events[-1]["data"]["outcome"] == run.result.outcome
    session = run.json("session.json")
    assert session["outcome"] == run.result.outcome and session["ended"]
    assert session["close_code"] == run.result.close_code
    for path in run.folder.rglob("*"):  # (audio/: the recording's WAVs and recording.json)
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret in {path.relative_to(run.folder)}"


HAPPY_PATH = ["triggered", "ack_generating", "ack_speaking", "summary_sending", "summary_speaking",
              "goodbye_sending", "goodbye_speaking", "complete"]


def assert_happy_interview(run: Run, scenario: Scenario) -> None:
    """A whole interview ended by the model's tool call went through every phase in order and left a
    coherent record: ids from the protocol, turn-taking off before the ack, the report started at the
    trigger, the summary only after the ack was played, contiguous input, the transcript in order."""
    assert run.result.outcome == "complete"
    assert run.result.close_code == 1000
    assert run.result.trigger_source == "tool"
    phases = run.phases()
    assert_phases_in_order(phases)
    assert [p for p in phases if p != "awaiting_report"] == HAPPY_PATH
    events = run.events()
    # every response id comes from the protocol: never "unknown", never missing on response events
    for e in events:
        assert e.get("response_id") != "unknown"
        if e["dir"] == "in" and e["type"].startswith("response.") and e["type"] != "response.create":
            assert e.get("response_id"), e
    assert not run.of("flow.ignored") and not run.of("error") and not run.of("timeout")
    # the end_interview call got its output
    outputs = [e for e in run.of("conversation.item.create")
               if e["data"]["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1
    # barge-in and automatic responses off before the acknowledgement is requested
    updates = run.of("session.update")
    td = updates[-1]["data"]["session"]["audio"]["input"]["turn_detection"]
    assert td["create_response"] is False and td["interrupt_response"] is False
    creates = {e["data"]["response"]["metadata"]["purpose"]: e for e in run.of("response.create")}
    assert updates[-1]["t"] <= creates["ack"]["t"]
    # overlap: the report starts at the trigger, before the ack has even been created
    assert run.of("report.started")[0]["t"] <= run.of("response.created")[-3]["t"]
    # audio complete = played: the summary is requested only after the ack's last sample was played
    ack_id = run.session.flow.response_id("ack")
    ack_end = next(e for e in run.of("playback.ended") if e["response_id"] == ack_id)
    assert ack_end["data"]["purpose"] == "ack" and not ack_end["data"]["truncated"]
    assert creates["summary"]["t"] >= ack_end["t"]
    # appends carry their position in the input stream, contiguous from 0
    appends = run.of("input_audio_buffer.append")
    assert appends[0]["data"]["audio_start_ms"] == 0
    assert all(a["data"]["audio_end_ms"] == b["data"]["audio_start_ms"] for a, b in pairwise(appends))
    assert all("audio" not in a["data"] and a["bytes"] > 0 for a in appends)
    # transcript: the candidate's answers and the interviewer's lines, in time order
    turns = run.json("transcript.json")["turns"]
    answers = [t["text"] for t in turns if t["role"] == "candidate"]
    assert answers == list(scenario.candidate.answers)
    assert [t["purpose"] for t in turns if t["purpose"] in ("ack", "summary", "goodbye")] == \
        ["ack", "summary", "goodbye"]
    starts = [t["start"] for t in turns]
    assert starts == sorted(starts)
    report = run.json("report.json")
    assert report["error"] is None and report["prompt"] == "default" and report["scores"]


def assert_phases_in_order(phases: list[str]) -> None:
    order = [str(p) for p in PHASE_ORDER]
    positions = [order.index(p) for p in phases]
    assert positions == sorted(positions), phases


class FakeRealtime:
    """A scripted stand-in for a Realtime server, for what the emulator cannot be told to do (a response
    that never finishes, exact speech positions). By default it answers ``session.update`` and every
    ``response.create`` at once (created, then done, no audio); `on_create(purpose)` returning False
    leaves a request unanswered, and `on_event(event)` sees every client event first."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.on_create: Callable[[str], Any] = lambda purpose: True
        self.on_event: Callable[[dict[str, Any]], Any] | None = None
        self.ws: Any = None
        self._n = 0

    async def send(self, type_: str, **fields: Any) -> None:
        self._n += 1
        await self.ws.send(json.dumps({"type": type_, "event_id": f"ev_{self._n}", **fields}))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    async def created(self, rid: str, purpose: str) -> None:
        await self.send("response.created", response={"id": rid, "object": "realtime.response",
                                                       "status": "in_progress", "output": [],
                                                       "metadata": {"purpose": purpose}})

    async def done(self, rid: str, purpose: str) -> None:
        await self.send("response.done", response={"id": rid, "object": "realtime.response",
                                                    "status": "completed", "output": [],
                                                    "metadata": {"purpose": purpose}})

    async def handler(self, ws: Any) -> None:
        """Serve a websocket (``websockets.serve(fake.handler, ...)``)."""
        self.ws = ws
        async for message in ws:
            await self._answer(message)

    async def serve(self, peer: InMemoryPeer) -> None:
        """Serve an in-memory connection (``InMemoryTransport(serve=fake.serve)``)."""
        self.ws = peer
        try:
            while True:
                await self._answer(await peer.receive())
        except TransportClosed:
            pass

    async def _answer(self, message: str | bytes) -> None:
        event = json.loads(message)
        self.received.append(event)
        if self.on_event is not None:
            await self.on_event(event)
        if event["type"] == "session.update":
            await self.send("session.updated", session={"type": "realtime"})
        elif event["type"] == "response.create":
            purpose = event["response"]["metadata"]["purpose"]
            rid = f"resp_{purpose}_{self._n}"
            if self.on_create(purpose):
                await self.created(rid, purpose)
                await self.done(rid, purpose)

    def purposes(self) -> list[str]:
        return [e["response"]["metadata"]["purpose"] for e in self.received if e["type"] == "response.create"]


class RaisingAssessor(Assessor):
    """Every report fails, as a service that is down."""

    name = "raising"
    model = "broken-model"

    def assess_sync(self, turns: object, prompt: AssessmentPrompt | str) -> AssessmentReport:
        raise AssessmentError("the assessment service is down")


class DelayedAssessor(Assessor):
    """The heuristic report, `seconds` late on the clock of the loop it was made on: a slow model that a
    fast-forwarding loop (looptime) fast-forwards too.

    `ReportRunner` calls a synchronous assessor in a daemon thread of its own (and runs an async one on a
    private loop there), on wall time; this one waits in that thread for a sleep on the session's loop.
    When the test's loop closes first, that sleep is cancelled and the thread ends. Make it inside the
    test (where the session's loop runs); never with ``assessment_mode="blocking"`` (it would wait on the
    loop it blocks)."""

    name = "delayed"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.model = "delayed-heuristic"
        self._loop = asyncio.get_running_loop()
        self._inner = HeuristicAssessor()

    def _wait(self) -> None:
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            raise AssertionError("a DelayedAssessor cannot wait on the loop it runs on (blocking mode)")
        asyncio.run_coroutine_threadsafe(asyncio.sleep(self.seconds), self._loop).result()

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        self._wait()
        return self._inner.assess_sync(turns, prompt)


class SlowAssessor(DelayedAssessor):
    """Never answers within the session's report timeout (an hour on the loop's clock)."""

    name = "slow"

    def __init__(self) -> None:
        super().__init__(3600.0)
        self.model = "slow-model"

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        self._wait()
        raise AssertionError("unreachable: the session gave up on the report long before")
