"""Shared helpers for the session tests: run a whole interview against a thread-hosted emulator and
read back what the session folder holds."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interview_kit.assessment import (
    AssessmentError,
    AssessmentPrompt,
    AssessmentReport,
    Assessor,
    OpenAIAssessor,
)
from interview_kit.config import SessionConfig
from interview_kit.emulator import Emulator
from interview_kit.flow import PHASE_ORDER
from interview_kit.scenario import Scenario, load_scenario
from interview_kit.session import InterviewSession, SessionResult

FAKE_KEY = "sk-FAKE-session-42"
RUN_TIMEOUT = 60.0
FOLDER_FILES = ("session.json", "events.jsonl", "transcript.json", "report.json")


def fast(name: str | Scenario = "default", speed: float = 20.0, **changes: Any) -> Scenario:
    base = name if isinstance(name, Scenario) else load_scenario(name)
    return dataclasses.replace(base, speed=speed, **changes)


@dataclass
class Run:
    result: SessionResult
    session: InterviewSession

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
                               speed=scenario.speed, language=scenario.language)
        config = config.with_overrides({**scenario.client, **overrides})
        assessor = assessor or OpenAIAssessor(config.assessment_model, base_url=emu.base_url,
                                              api_key=FAKE_KEY, timeout=30.0)
        session = InterviewSession(config, assessor=assessor, candidate=scenario)
        if during is not None:
            during(session)
        result = await asyncio.wait_for(session.run(), RUN_TIMEOUT)
    return Run(result, session)


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
    for path in run.folder.iterdir():
        assert secret not in path.read_text(encoding="utf-8", errors="replace"), f"secret in {path.name}"


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

    async def created(self, rid: str, purpose: str) -> None:
        await self.send("response.created", response={"id": rid, "object": "realtime.response",
                                                       "status": "in_progress", "output": [],
                                                       "metadata": {"purpose": purpose}})

    async def done(self, rid: str, purpose: str) -> None:
        await self.send("response.done", response={"id": rid, "object": "realtime.response",
                                                    "status": "completed", "output": [],
                                                    "metadata": {"purpose": purpose}})

    async def handler(self, ws: Any) -> None:
        self.ws = ws
        async for message in ws:
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


class SlowAssessor(Assessor):
    """Never answers within the session's report timeout."""

    name = "slow"
    model = "slow-model"

    async def assess(self, turns: object, prompt: AssessmentPrompt | str) -> AssessmentReport:
        await asyncio.sleep(30)
        raise AssertionError("unreachable")

    def assess_sync(self, turns: object, prompt: AssessmentPrompt | str) -> AssessmentReport:
        raise AssertionError("the async path must be used")
