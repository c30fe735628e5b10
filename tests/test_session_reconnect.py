"""Keeping the interview alive: a lost connection is resumed in a new one, told the conversation so far.

Each test runs a whole session in memory on looptime's virtual clock against `Connections`, a scripted
server whose every connection (a reopened `InMemoryTransport` serves them all) is recorded apart, so a
test can say what the second connection was told. The emulator's own resumable faults are exercised in
tests/test_session_resume_emulator.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from session_helpers import IN_MEMORY, Run, assert_folder_complete, real_time, run_in_memory, when

from interview_kit.assessment import AssessmentPrompt, AssessmentReport, Assessor
from interview_kit.audio.format import BYTES_PER_MS
from interview_kit.replay import format_result, replay
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryPeer, InMemoryTransport, TransportClosed
from interview_kit.virtual_clock import run_virtual

SCENARIO = real_time("default")
pytestmark = IN_MEMORY

QUESTION = "Could you tell me about a project you are proud of?"
ANSWER = "I rebuilt our data pipeline."


class FixedSummary(Assessor):
    """A report whose spoken summary is exactly `summary` (no overall score to append)."""

    name = "fixed"
    model = "fixed-summary"

    def __init__(self, summary: str) -> None:
        self.summary = summary

    def assess_sync(self, turns: object, prompt: AssessmentPrompt | str) -> AssessmentReport:
        return AssessmentReport(prompt="default", model=self.model, summary=self.summary)


def audio(ms: int) -> str:
    """`ms` of (silent) PCM16 audio, base64: what the client plays is its length, not its sound."""
    return base64.b64encode(bytes(int(ms * BYTES_PER_MS))).decode()


class Connections:
    """A scripted Realtime server. Every connection answers ``session.update`` and each
    ``response.create`` (created, `speak_ms` of audio sent at once with its transcript, done);
    `on_event(n, event, conn)` sees each client event of connection `n` (0-based) first and may
    return False to leave a request unanswered. `received[n]` is what connection n got."""

    def __init__(self, speak_ms: int = 1000) -> None:
        self.received: list[list[dict[str, Any]]] = []
        self.peers: list[InMemoryPeer] = []
        self.speak_ms = speak_ms
        self.on_event: Callable[[int, dict[str, Any], Connections], Awaitable[bool | None]] | None = None
        self.on_connect: Callable[[int, InMemoryPeer], Awaitable[None]] | None = None
        self._n = 0

    async def send(self, peer: InMemoryPeer, type_: str, **fields: Any) -> None:
        self._n += 1
        await peer.send(json.dumps({"type": type_, "event_id": f"ev_{self._n}", **fields}))

    async def speak(self, peer: InMemoryPeer, purpose: str, text: str, *, done: bool = True,
                    ms: int | None = None) -> str:
        """One spoken response: created, its audio (in 100 ms deltas) and transcript, then done."""
        self._n += 1
        rid, item = f"resp_{purpose}_{self._n}", f"item_{purpose}_{self._n}"
        response = {"id": rid, "object": "realtime.response", "status": "in_progress", "output": [],
                    "metadata": {"purpose": purpose}}
        await self.send(peer, "response.created", response=response)
        await self.send(peer, "response.output_audio_transcript.delta", response_id=rid, item_id=item,
                        output_index=0, content_index=0, delta=text)
        for _ in range((ms or self.speak_ms) // 100):
            await self.send(peer, "response.output_audio.delta", response_id=rid, item_id=item,
                            output_index=0, content_index=0, delta=audio(100))
        if done:
            await self.send(peer, "response.output_audio.done", response_id=rid, item_id=item,
                            output_index=0, content_index=0)
            await self.send(peer, "response.done", response={**response, "status": "completed",
                                                              "output": [{"id": item, "type": "message"}]})
        return rid

    async def answer(self, peer: InMemoryPeer, item: str, text: str) -> None:
        """The candidate answered (as the server's VAD and transcription report it)."""
        await self.send(peer, "input_audio_buffer.speech_started", audio_start_ms=0, item_id=item)
        await self.send(peer, "input_audio_buffer.speech_stopped", audio_end_ms=500, item_id=item)
        await self.send(peer, "input_audio_buffer.committed", item_id=item)
        await self.send(peer, "conversation.item.input_audio_transcription.completed", item_id=item,
                        content_index=0, transcript=text)

    async def serve(self, peer: InMemoryPeer) -> None:
        n = len(self.received)
        self.received.append([])
        self.peers.append(peer)
        if self.on_connect is not None:
            await self.on_connect(n, peer)
        try:
            while True:
                event = json.loads(await peer.receive())
                self.received[n].append(event)
                if self.on_event is not None and await self.on_event(n, event, self) is False:
                    continue
                if event["type"] == "session.update":
                    await self.send(peer, "session.updated", session={"type": "realtime"})
                elif event["type"] == "response.create":
                    response = event["response"]
                    purpose = response["metadata"]["purpose"]
                    text = response.get("instructions", QUESTION).removeprefix("Say exactly the following: ")
                    await self.speak(peer, purpose, text)
        except TransportClosed:
            pass

    def types(self, n: int) -> list[str]:
        return [e["type"] for e in self.received[n] if e["type"] != "input_audio_buffer.append"]


async def interview(server: Connections, tmp_path: Path,
                    during: Callable[[InterviewSession], Any] | None = None, **overrides: Any) -> Run:
    return await run_in_memory(SCENARIO, tmp_path, serve=server.serve, candidate=False, during=during,
                               **overrides)


def trigger_after_resume(session: InterviewSession) -> None:
    when(session, "connection.resumed", session.trigger_assessment, 2.0)


def created_items(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        if e["type"] == "conversation.item.create":
            item = e["item"]
            text = item["content"][0]["text"] if item["type"] == "message" else item.get("name", item["type"])
            out.append((item.get("role", item["type"]), text))
    return out


def dropping_after_the_first_answer() -> Connections:
    """Connection 0 asks a question, hears the answer, then drops (1006); later ones go on."""
    server = Connections()

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if n == 0 and event["type"] == "response.create":
            peer = conn.peers[0]
            await conn.speak(peer, "question", QUESTION)
            await asyncio.sleep(1.5)  # played
            await conn.answer(peer, "item_answer_1", ANSWER)
            await asyncio.sleep(0.2)
            peer.abort()
            return False
        return None

    server.on_event = on_event
    return server


async def test_a_drop_while_interviewing_resumes_with_the_conversation_so_far(tmp_path: Path) -> None:
    """The first connection asks a question, hears the answer, then drops (1006). The second is given
    the settings (turn taking on), the question and the answer as items, then asked for the next
    question; the interview goes on to `complete` in one folder."""
    server = dropping_after_the_first_answer()
    run = await interview(server, tmp_path, during=trigger_after_resume)
    assert run.result.outcome == "complete" and run.result.reconnects == 1
    second = [e for e in server.received[1] if e["type"] != "input_audio_buffer.append"]
    assert server.types(1)[:4] == ["session.update", "conversation.item.create", "conversation.item.create",
                                   "response.create"]
    turn_detection = second[0]["session"]["audio"]["input"]["turn_detection"]
    assert turn_detection["create_response"] is True  # still interviewing: turn taking on
    assert created_items(second) == [("assistant", QUESTION), ("user", ANSWER)]
    assert second[3]["response"]["metadata"]["purpose"] == "question"
    lost, = run.of("connection.lost")
    assert lost["data"]["code"] == 1006 and lost["data"]["phase"] == "interviewing"
    assert not lost["data"]["planned"]
    reconnecting, = run.of("connection.reconnecting")
    assert reconnecting["data"] == {"attempt": 1, "delay_s": 0.5}
    resumed, = run.of("connection.resumed")
    assert resumed["data"]["items_replayed"] == 2
    assert resumed["data"]["offline_s"] == pytest.approx(0.5, abs=0.05)
    session = run.json("session.json")
    assert session["reconnects"] == 1 and session["offline_s"] == pytest.approx(0.5, abs=0.05)
    assert [t["text"] for t in run.json("transcript.json")["turns"]].count(ANSWER) == 1
    assert len(run.of("connection.opened")) == 2
    assert_folder_complete(run)


async def test_a_summary_cut_by_a_drop_is_asked_again_from_the_sentence_being_heard(tmp_path: Path) -> None:
    """The summary's audio (4 s, all received) is cut 2.5 s into playback, before its response.done.
    The new connection is asked for the rest of it, from the start of the sentence being heard; the
    transcript keeps what was heard (marked cut); the report runs once; the outcome is complete."""
    server = Connections()
    summary = "First sentence here. Second sentence comes now. Third one is the last."

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if event["type"] != "response.create":
            return None
        purpose = event["response"]["metadata"]["purpose"]
        if n == 0 and purpose == "summary":
            peer = conn.peers[0]
            await conn.speak(peer, "summary", summary, done=False, ms=4000)
            await asyncio.sleep(2.5)
            peer.abort()
            return False
        return None

    def set_up(session: InterviewSession) -> None:
        when(session, "response.done", session.trigger_assessment, 1.5)

    server.on_event = on_event
    run = await run_in_memory(SCENARIO, tmp_path, serve=server.serve, candidate=False, during=set_up,
                              assessor=FixedSummary(summary))
    assert run.result.outcome == "complete" and run.result.reconnects == 1
    asked = [e["response"]["instructions"] for e in server.received[1]
             if e["type"] == "response.create" and e["response"]["metadata"]["purpose"] == "summary"]
    # 2.5 s of 4 s heard: in the second sentence, which is said again whole
    assert asked == ["Say exactly the following: Second sentence comes now. Third one is the last."]
    assert ("assistant", "First sentence here.") in created_items(server.received[1])
    turns = run.json("transcript.json")["turns"]
    cut = [t for t in turns if t.get("cut")]
    assert len(cut) == 1 and cut[0]["text"] == "First sentence here." and cut[0]["purpose"] == "summary"
    assert len(run.of("report.started")) == 1
    lost, = run.of("connection.lost")
    assert lost["data"]["phase"] == "summary_speaking"
    assert lost["data"]["cut"]["played_ms"] == pytest.approx(2500, abs=60)
    assert "summary asked again after a reconnect" in [p["data"]["reason"] for p in run.of("phase")]
    assert_folder_complete(run)


def dropping_at_the_first_request() -> Connections:
    """A server that drops (1006) the first connection at the interview's first request."""
    server = Connections()

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if event["type"] == "response.create":
            conn.peers[0].abort()
            return False
        return None

    server.on_event = on_event
    return server


async def test_when_every_attempt_fails_the_interview_ends_disconnected_after_the_backoff(
        tmp_path: Path) -> None:
    server = dropping_at_the_first_request()

    class RefusedAfterTheFirst(InMemoryTransport):
        def reopen(self) -> InMemoryTransport:
            return InMemoryTransport(refuse="connection refused")

    transport = RefusedAfterTheFirst(serve=server.serve)
    run = await run_in_memory(SCENARIO, tmp_path, serve=server.serve, candidate=False, transport=transport,
                              reconnect_attempts=4)
    assert run.result.outcome == "disconnected" and run.result.reconnects == 0
    assert [r["data"]["delay_s"] for r in run.of("connection.reconnecting")] == [0.5, 1.0, 2.0, 4.0]
    assert len([e for e in run.of("error") if e["data"].get("where") == "connect"]) == 4
    assert run.json("session.json")["offline_s"] == pytest.approx(7.5, abs=0.1)
    assert run.phases()[-1] == "disconnected"
    assert_folder_complete(run)


async def test_blocking_mode_never_reconnects(tmp_path: Path) -> None:
    """Blocking mode exists to show the original failure: a drop ends it."""
    server = dropping_at_the_first_request()
    run = await interview(server, tmp_path, assessment_mode="blocking")
    assert run.result.outcome == "disconnected" and len(server.received) == 1
    assert not run.of("connection.lost")


@pytest.mark.parametrize("reconnect", [False, True])
async def test_a_server_that_stops_reading_is_found_dead_within_two_ping_timeouts(
        tmp_path: Path, reconnect: bool) -> None:
    """The server stops reading its socket after the first question: the client's frames fill the
    buffers, its sends block and its pings go unanswered. The connection is dropped here within
    2 x the ping timeout; then resumed (reconnect on) or the interview ends disconnected."""
    server = Connections()
    stopped: list[float] = []

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if n == 0 and event["type"] == "response.create":
            await conn.speak(conn.peers[0], "question", QUESTION)
            conn.peers[0].reading = False
            stopped.append(asyncio.get_running_loop().time())
            return False
        return None

    server.on_event = on_event
    during = trigger_after_resume if reconnect else None
    run = await interview(server, tmp_path, during=during, reconnect=reconnect, ping_interval=5.0,
                    ping_timeout=5.0)
    closed = run.of("connection.closed")[0]
    t0 = run.session._folder.log.t0  # type: ignore[union-attr]
    assert closed["t"] - (stopped[0] - t0) <= 2 * 5.0
    assert closed["data"]["by"] == "client"
    if reconnect:
        assert run.result.outcome == "complete" and run.result.reconnects == 1
    else:
        assert run.result.outcome == "disconnected"
        assert not run.of("connection.lost")
    assert_folder_complete(run)


async def test_a_server_silent_while_a_response_is_expected_is_found_dead(tmp_path: Path) -> None:
    """Connected, answering pings, but sending nothing after a request: dropped after the silence
    limit (not the 45-minute interview limit), then resumed."""
    server = Connections()

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if n == 0 and event["type"] == "response.create":
            return False  # ...and nothing ever again
        return None

    server.on_event = on_event
    run = await interview(server, tmp_path, during=trigger_after_resume, silence_timeout=20.0)
    lost, = run.of("connection.lost")
    request = run.of("response.create")[0]
    assert lost["t"] - request["t"] == pytest.approx(20.0, abs=0.2)
    assert lost["data"]["reason"] == "no server event for 20 s"
    assert run.result.outcome == "complete"


async def test_a_response_done_without_a_usable_id_does_not_end_the_response_playing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A done whose response is null is bound to no response: the question's audio, still arriving,
    plays to its end, and a protocol warning is logged."""
    server = Connections()

    async def on_event(n: int, event: dict[str, Any], conn: Connections) -> bool | None:
        if event["type"] == "response.create" and event["response"]["metadata"]["purpose"] == "question":
            peer = conn.peers[n]
            rid = await conn.speak(peer, "question", QUESTION, done=False, ms=1000)
            await conn.send(peer, "response.done", response=None)
            await asyncio.sleep(0.5)
            for _ in range(10):  # the rest of its audio
                await conn.send(peer, "response.output_audio.delta", response_id=rid, item_id="item_q",
                                output_index=0, content_index=0, delta=audio(100))
            await conn.send(peer, "response.output_audio.done", response_id=rid, item_id="item_q",
                            output_index=0, content_index=0)
            await conn.send(peer, "response.done", response={"id": rid, "status": "completed", "output": []})
            return False
        return None

    server.on_event = on_event

    def press(session: InterviewSession) -> None:
        when(session, "playback.ended", session.trigger_assessment, 0.5)

    with caplog.at_level(logging.WARNING):
        run = await interview(server, tmp_path, during=press)
    ended = next(e for e in run.of("playback.ended") if e["data"]["purpose"] == "question")
    assert not ended["data"].get("truncated")
    assert ended["data"]["played_ms"] == pytest.approx(2000, abs=50)
    assert "response.done without a usable response id" in caplog.text
    assert run.result.outcome == "complete"


async def test_the_session_moves_to_a_new_connection_ahead_of_its_expiry_between_turns(
        tmp_path: Path) -> None:
    """session.created says the session expires in 60 s: the client moves to a new connection a
    quarter of its life before (15 s), when nothing is being said, and the interview goes on."""
    server = Connections()

    async def on_connect(n: int, peer: InMemoryPeer) -> None:
        await server.send(peer, "session.created", session={"type": "realtime",
                                                            "expires_at": int(time.time()) + 60})

    server.on_connect = on_connect

    def press(session: InterviewSession) -> None:
        when(session, "connection.resumed", session.trigger_assessment, 1.0)

    run = await interview(server, tmp_path, during=press)
    lost, = run.of("connection.lost")
    assert lost["data"]["planned"] is True and lost["data"]["phase"] == "interviewing"
    assert 44.0 <= lost["t"] <= 46.0
    assert run.of("connection.reconnecting")[0]["data"]["delay_s"] == 0.0
    assert server.received[0][-1]["type"] != "response.create"  # not mid-turn
    assert run.result.outcome == "complete" and run.result.reconnects == 1
    assert_folder_complete(run)


def test_a_session_that_reconnected_replays_as_recorded(tmp_path: Path) -> None:
    """The replay meets the recorded connections in turn: the same drop, the same resume, the same
    decisions (`interview-kit replay` on a folder with a reconnect)."""
    server = dropping_after_the_first_answer()
    run_ = run_virtual(interview(server, tmp_path / "recorded", during=trigger_after_resume))
    assert run_.result.reconnects == 1
    result = replay(run_.folder, out_dir=tmp_path / "replayed")
    assert result.agree, format_result(result, verbose=1)
    replayed = json.loads((result.folder / "session.json").read_text())
    assert replayed["reconnects"] == 1 and replayed["outcome"] == "complete"
