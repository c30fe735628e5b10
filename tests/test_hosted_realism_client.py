"""Where the hosted Realtime service differs from our emulator, the client is right anyway (issue 9).

Each test runs a session in memory on a fast-forwarding loop (``looptime``) against a scripted server
(`Hosted`, a `session_helpers.FakeRealtime` that does what the hosted service does and the emulator does
not), or against the strict emulator where it already behaves that way:

1. transcripts of the candidate's answers come late, even after the ``end_interview`` call: the report
   waits (bounded by ``transcript_wait``) for every committed answer, and says what it was built from;
2. a transcription fails: the turn stays, untranscribed, and counts as an answer;
3. assessment lines are asked for with ``tool_choice: "none"`` (a model may otherwise call a tool again);
4. a response created after the flow stopped waiting for it is cancelled and never played;
5. a truncate is kept inside the audio the server counts, and none is sent for audio fully played;
6. ``session.expires_at`` is read and recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from session_helpers import (
    IN_MEMORY,
    DelayedAssessor,
    FakeRealtime,
    Run,
    assert_folder_complete,
    real_time,
    run_in_memory,
    when,
)

from interview_kit import protocol as proto
from interview_kit.assessment import AssessmentPrompt, AssessmentReport, HeuristicAssessor
from interview_kit.audio.format import BYTES_PER_MS
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryPeer

pytestmark = IN_MEMORY

SCENARIO = real_time("default")  # gives the config its speed (1) and language; the fake is the server
SHORT = real_time("default", questions=1)
TICK = 0.05


class Hosted(FakeRealtime):
    """A scripted server speaking as the hosted service does. `script(self)` runs once the client has
    asked for its greeting (answered at once, without audio); `expires_at` goes in ``session.created``
    and ``session.updated``; a truncate the hosted service would refuse (at or beyond its count of the
    item's audio, ~100 ms short of the bytes sent) is answered with its error."""

    SHORTFALL_MS = 100

    def __init__(self, script: Callable[[Hosted], Awaitable[None]] | None = None, *,
                 expires_at: int | None = None) -> None:
        super().__init__()
        self.script, self.expires_at = script, expires_at
        self.audio_ms: dict[str, int] = {}  # item id -> audio sent
        self.on_event = self._hosted
        self._started = False

    async def serve(self, peer: InMemoryPeer) -> None:
        self.ws = peer
        await self.send("session.created", session=self._session())
        await super().serve(peer)

    def _session(self) -> dict[str, Any]:
        session: dict[str, Any] = {"type": "realtime"}
        return {**session, "expires_at": self.expires_at} if self.expires_at else session

    async def _hosted(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "session.update" and self.expires_at:  # (FakeRealtime's own reply has no expiry)
            await self.send("session.updated", session=self._session())
        elif kind == "response.create" and not self._started and self.script is not None:
            self._started = True
            asyncio.get_running_loop().create_task(self.script(self))
        elif kind == "conversation.item.truncate":
            count = self.audio_ms.get(event["item_id"], 0) - self.SHORTFALL_MS
            if event["audio_end_ms"] >= count:
                await self.send("error", error={
                    "type": "invalid_request_error", "code": "invalid_value", "param": "audio_end_ms",
                    "message": f"audio_end_ms {event['audio_end_ms']} is greater than audio duration {count}",
                    "event_id": event.get("event_id")})

    async def _answer(self, message: str | bytes) -> None:
        event = json.loads(message)
        if self.expires_at and event["type"] == "session.update":  # answered with its expiry instead
            self.received.append(event)
            await self._hosted(event)
            return
        await super()._answer(message)

    # --- what the server says -------------------------------------------------------------------

    async def answer(self, item: str, text: str | None, *, start_ms: int, end_ms: int) -> None:
        """The candidate answered: speech, commit, the user item; its transcript only if `text`."""
        await self.send("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=item)
        await self.send("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item)
        await self.send("input_audio_buffer.committed", item_id=item, previous_item_id=None)
        user = {"id": item, "object": "realtime.item", "type": "message", "role": "user",
                "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}
        await self.send("conversation.item.added", item=user, previous_item_id=None)
        if text is not None:
            await self.transcript(item, text)

    async def transcript(self, item: str, text: str) -> None:
        await self.send("conversation.item.input_audio_transcription.completed", item_id=item,
                        content_index=0, transcript=text)

    async def transcription_failed(self, item: str) -> None:
        await self.send("conversation.item.input_audio_transcription.failed", item_id=item, content_index=0,
                        error={"type": "transcription_error", "code": "audio_unintelligible",
                               "message": "Audio could not be transcribed", "param": None})

    async def end_interview(self, rid: str) -> None:
        """The model's own response (no metadata: server VAD's) calling end_interview."""
        call = {"id": f"item_{rid}", "type": "function_call", "call_id": f"call_{rid}", "status": "completed",
                "name": "end_interview", "arguments": '{"reason": "all questions asked"}'}
        await self.send("response.created", response={"id": rid, "object": "realtime.response",
                                                       "status": "in_progress", "output": []})
        await self.send("response.function_call_arguments.done", response_id=rid, item_id=call["id"],
                        output_index=0, call_id=call["call_id"], name=call["name"],
                        arguments=call["arguments"])
        await self.send("response.done", response={"id": rid, "object": "realtime.response",
                                                    "status": "completed", "output": [call]})

    async def audio(self, rid: str, item: str, ms: int, *, finished: bool = True) -> None:
        """`ms` of audio for `rid` at once (the hosted service sends faster than real time)."""
        chunk = base64.b64encode(bytes(int(100 * BYTES_PER_MS))).decode()
        for _ in range(ms // 100):
            await self.send("response.output_audio.delta", response_id=rid, item_id=item, output_index=0,
                            content_index=0, delta=chunk)
            self.audio_ms[item] = self.audio_ms.get(item, 0) + 100
        if finished:
            await self.send("response.output_audio.done", response_id=rid, item_id=item, output_index=0,
                            content_index=0)


class Recording(HeuristicAssessor):
    """The heuristic report, keeping the turns it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[dict[str, str]] = []

    def assess_sync(self, turns: Any, prompt: AssessmentPrompt | str) -> AssessmentReport:
        self.turns = list(turns)
        return super().assess_sync(turns, prompt)


async def run_against(fake: Hosted, tmp_path: Path, **kwargs: Any) -> Run:
    return await run_in_memory(SCENARIO, tmp_path, serve=fake.serve, candidate=False, **kwargs)


def interview(last_transcript_after: float | None) -> Callable[[Hosted], Awaitable[None]]:
    """Two answers; the model ends the interview right after the second, whose transcript comes
    `last_transcript_after` seconds after the end_interview call (None: never)."""
    async def script(fake: Hosted) -> None:
        await asyncio.sleep(1.0)
        await fake.answer("item_a1", "I led the migration of our billing system.", start_ms=1000, end_ms=3000)
        await asyncio.sleep(1.0)
        await fake.answer("item_a2", None, start_ms=4000, end_ms=6000)
        await fake.end_interview("resp_end")
        if last_transcript_after is not None:
            await asyncio.sleep(last_transcript_after)
            await fake.transcript("item_a2", "And I mentor two junior engineers every week.")
    return script


def purposes_created(run: Run) -> dict[str, dict[str, Any]]:
    return {e["data"]["response"]["metadata"]["purpose"]: e for e in run.of("response.create")}


# --- 1. late transcripts ----------------------------------------------------------------------------


async def test_the_report_waits_for_the_transcript_that_comes_after_end_interview(tmp_path: Path) -> None:
    assessor = Recording()
    run = await run_against(Hosted(interview(last_transcript_after=2.0)), tmp_path, assessor=assessor)
    assert run.result.outcome == "complete" and run.result.trigger_source == "tool"
    trigger_t = run.of("assessment.trigger")[0]["t"]
    late = run.of("conversation.item.input_audio_transcription.completed")[-1]
    assert late["t"] - trigger_t == pytest.approx(2.0, abs=0.01)
    # the report started at the trigger, and was built once the last transcript was in
    started, built = run.of("report.started")[0], run.of("report.built")[0]
    assert started["t"] == trigger_t and built["t"] == late["t"]
    assert built["data"] == {"answers_assessed": 2, "answers_missing": [],
                             "waited_s": pytest.approx(2.0, abs=0.01)}
    assert "And I mentor two junior engineers every week." in [t["text"] for t in assessor.turns]
    report = run.json("report.json")
    assert report["error"] is None and report["answers_assessed"] == 2 and report["answers_missing"] == []
    # the acknowledgement did not wait for it
    assert purposes_created(run)["ack"]["t"] - trigger_t < 0.01
    assert not run.of("timeout")
    answers = [t["text"] for t in run.json("transcript.json")["turns"] if t["role"] == "candidate"]
    assert answers == ["I led the migration of our billing system.",
                       "And I mentor two junior engineers every week."]
    assert_folder_complete(run)


@pytest.mark.parametrize("wait", [None, 2.0], ids=["default-5s", "transcript_wait-2s"])
async def test_a_transcript_that_never_comes_is_waited_for_only_so_long(tmp_path: Path,
                                                                         wait: float | None) -> None:
    settings = {} if wait is None else {"transcript_wait": wait}
    run = await run_against(Hosted(interview(last_transcript_after=None)), tmp_path, **settings)
    assert run.result.outcome == "complete"
    expected = 5.0 if wait is None else wait
    trigger_t = run.of("assessment.trigger")[0]["t"]
    built = run.of("report.built")[0]
    assert built["t"] - trigger_t == pytest.approx(expected, abs=TICK + 0.01)
    assert built["data"]["answers_assessed"] == 1 and built["data"]["answers_missing"] == ["item_a2"]
    timeout = run.of("timeout")[0]
    assert timeout["data"] == {"waiting_for": "transcripts", "after_s": expected}
    assert "awaiting_report" in run.phases()  # the ack had played; the report waited out the rest
    report = run.json("report.json")
    assert report["error"] is None and report["answers_assessed"] == 1
    assert report["answers_missing"] == ["item_a2"]
    assert_folder_complete(run)


async def test_in_after_ack_mode_the_report_starts_after_the_ack_and_still_waits(tmp_path: Path) -> None:
    run = await run_against(Hosted(interview(last_transcript_after=3.0)), tmp_path,
                            assessment_mode="after-ack")
    assert run.result.outcome == "complete"
    started, built = run.of("report.started")[0], run.of("report.built")[0]
    late = run.of("conversation.item.input_audio_transcription.completed")[-1]
    ack_id = run.session.flow.response_id("ack")
    ack_played = next(e for e in run.of("response.done") if e["response_id"] == ack_id)  # (no audio)
    assert started["t"] >= ack_played["t"] and started["data"]["mode"] == "after-ack"
    assert built["t"] == late["t"] and built["data"]["answers_assessed"] == 2
    assert run.json("report.json")["answers_missing"] == []


# --- 2. a failed transcription ----------------------------------------------------------------------


async def test_a_failed_transcription_is_marked_and_counts_as_an_answer(tmp_path: Path) -> None:
    async def script(fake: Hosted) -> None:
        await asyncio.sleep(1.0)
        await fake.answer("item_a1", "I led the migration.", start_ms=1000, end_ms=3000)
        await asyncio.sleep(1.0)
        await fake.answer("item_a2", None, start_ms=4000, end_ms=6000)
        await asyncio.sleep(0.5)
        await fake.transcription_failed("item_a2")  # no end_interview: the question limit must end it

    run = await run_against(Hosted(script), tmp_path, max_questions=2, max_minutes=2.0)
    assert run.result.outcome == "complete" and run.result.trigger_source == "limit"
    failed = run.of("conversation.item.input_audio_transcription.failed")[0]
    assert run.of("assessment.trigger")[0]["t"] == failed["t"]  # the second answer reached the limit
    turns = [t for t in run.json("transcript.json")["turns"] if t["role"] == "candidate"]
    assert [(t["item_id"], t["text"], t.get("transcription_failed")) for t in turns] == [
        ("item_a1", "I led the migration.", None), ("item_a2", None, True)]
    assert turns[1]["start"] is not None and turns[1]["end"] is not None
    report = run.json("report.json")
    assert report["answers_assessed"] == 1 and report["answers_missing"] == ["item_a2"]
    assert run.of("report.built")[0]["t"] == failed["t"]  # nothing left to wait for
    assert_folder_complete(run)


# --- 3. assessment lines never offer the tools ---------------------------------------------------------


async def test_assessment_lines_are_asked_for_with_tool_choice_none(tmp_path: Path) -> None:
    fake = Hosted(interview(last_transcript_after=0.0))
    run = await run_against(fake, tmp_path)
    assert run.result.outcome == "complete"
    creates = [e for e in fake.received if e["type"] == "response.create"]
    choices = {e["response"]["metadata"]["purpose"]: e["response"].get("tool_choice") for e in creates}
    assert choices == {"question": None, "ack": "none", "summary": "none", "goodbye": "none"}


async def test_the_strict_emulator_takes_tool_choice_none(tmp_path: Path) -> None:
    run = await run_in_memory(SHORT, tmp_path)
    assert run.result.outcome == "complete"
    assert not [e for e in run.events() if e["type"] == "error"]
    for purpose in ("ack", "summary", "goodbye"):
        assert purposes_created(run)[purpose]["data"]["response"]["tool_choice"] == "none"


# --- 4. a response created after the flow stopped waiting for it -------------------------------------


async def test_a_late_ack_is_cancelled_and_never_played(tmp_path: Path) -> None:
    """The ack's response.created comes 2 s late, after the flow gave up on it (1 s) and went on to
    wait for the report. The hosted service would play it over whatever comes next."""
    fake = Hosted(interview(last_transcript_after=0.0))

    def on_create(purpose: str) -> bool:
        if purpose != "ack":
            return True

        async def late() -> None:
            await asyncio.sleep(2.0)
            await fake.created("resp_late_ack", "ack")
            await fake.audio("resp_late_ack", "item_late_ack", 1500)
            await fake.done("resp_late_ack", "ack")

        asyncio.get_running_loop().create_task(late())
        return False

    fake.on_create = on_create
    run = await run_against(fake, tmp_path, response_created_timeout=1.0, assessor=DelayedAssessor(5.0))
    assert run.result.outcome == "complete"
    discarded = run.of("response.discarded")
    assert [(e["response_id"], e["data"]["purpose"]) for e in discarded] == [("resp_late_ack", "ack")]
    created = next(e for e in run.of("response.created") if e["response_id"] == "resp_late_ack")
    cancel = [e for e in fake.received if e["type"] == "response.cancel"]
    assert [e.get("response_id") for e in cancel] == ["resp_late_ack"]
    assert run.of("response.cancel")[0]["t"] == created["t"]
    assert not [e for e in run.of("playback.started") if e["response_id"] == "resp_late_ack"]
    assert not [e for e in run.of("playback.ended") if e["response_id"] == "resp_late_ack"]
    turns = run.json("transcript.json")["turns"]
    assert "resp_late_ack" not in [t["response_id"] for t in turns]
    assert [p for p in fake.purposes() if p != "question"] == ["ack", "summary", "goodbye"]
    assert_folder_complete(run)


# --- 5. truncation near the end of a response ---------------------------------------------------------


@pytest.mark.parametrize(
    ("cut_ms", "finished", "expected"),
    [(500, True, 500), (950, True, None), (1000, False, 800)],
    ids=["mid-response", "last-50ms-of-a-finished-response", "caught-up-with-an-unfinished-one"],
)
async def test_a_truncate_stays_inside_the_audio_the_server_counts(
        tmp_path: Path, cut_ms: int, finished: bool, expected: int | None) -> None:
    """1 s of greeting arrives at once; the candidate starts speaking `cut_ms` into it. The hosted
    service refuses a truncate at or beyond its count of the item's audio (~100 ms short of the bytes)."""
    fake = Hosted()

    def on_create(purpose: str) -> bool:
        async def speak() -> None:
            await fake.created("resp_greet", "question")
            await fake.audio("resp_greet", "item_greet", 1000, finished=finished)
            if finished:
                await fake.done("resp_greet", "question")

        asyncio.get_running_loop().create_task(speak())
        return False

    fake.on_create = on_create

    tasks: list[asyncio.Task[None]] = []

    def barge_in(session: InterviewSession) -> None:
        def speech() -> None:
            tasks.append(asyncio.get_running_loop().create_task(
                fake.send("input_audio_buffer.speech_started", audio_start_ms=0, item_id="item_speech")))
        when(session, "playback.started", speech, cut_ms / 1000)
        when(session, "barge_in", session.stop, 0.5)

    run = await run_against(fake, tmp_path, during=barge_in)
    assert run.result.outcome == "stopped"
    barge = run.of("barge_in")[0]
    assert barge["data"]["played_ms"] == pytest.approx(min(cut_ms, 1000), abs=1)
    assert barge["data"]["audio_end_ms"] == expected
    truncates = [e for e in fake.received if e["type"] == "conversation.item.truncate"]
    assert [e["audio_end_ms"] for e in truncates] == ([] if expected is None else [expected])
    assert not [e for e in run.events() if e["type"] == "error"]  # nothing the server refused


def test_the_truncate_point() -> None:
    m = proto.TRUNCATE_MARGIN_MS
    assert proto.truncate_end_ms(500, 1000, finished=True) == 500
    assert proto.truncate_end_ms(1000 - m, 1000, finished=True) is None  # played to within the margin
    assert proto.truncate_end_ms(1000, 1000, finished=True) is None  # fully played: nothing to cut
    assert proto.truncate_end_ms(999, 1000, finished=False) == 1000 - m  # kept inside what arrived
    assert proto.truncate_end_ms(50, 120, finished=False) == 0  # the item is still growing
    assert proto.truncate_end_ms(50, 120, finished=True) is None  # too short to cut anywhere taken
    assert proto.truncate_end_ms(0, 0, finished=False) is None  # no audio at all


# --- 6. session.expires_at --------------------------------------------------------------------------


async def test_the_sessions_expiry_is_read_and_recorded(tmp_path: Path) -> None:
    expires_at = int(time.time()) + 1800

    def stop_soon(session: InterviewSession) -> None:
        asyncio.get_running_loop().call_later(1.0, session.stop)

    run = await run_against(Hosted(expires_at=expires_at), tmp_path, during=stop_soon)
    assert run.result.outcome == "stopped"
    records = run.of("session.expires")
    assert len(records) == 1  # session.created and session.updated say the same: recorded once
    assert records[0]["data"]["expires_at"] == expires_at
    assert records[0]["data"]["expires_in_s"] == pytest.approx(1800, abs=60)
    assert run.json("session.json")["expires_at"] == expires_at


async def test_no_expiry_is_recorded_when_the_server_gives_none(tmp_path: Path) -> None:
    def stop_soon(session: InterviewSession) -> None:
        asyncio.get_running_loop().call_later(1.0, session.stop)

    run = await run_against(Hosted(), tmp_path, during=stop_soon)
    assert not run.of("session.expires") and run.json("session.json")["expires_at"] is None
