"""`BrowserAudio`'s kernel side, with the page played by `FakePage` (what browser.js does, in Python).

The page has a clock of its own (an offset from the kernel's and a one-way delay each way), buffers the
interviewer's audio before playing it, hears it an output latency later, and speaks the scenario's
answers into the microphone. The real browser is in test_browser_panel.py; here a whole interview runs
on looptime's fast-forwarding loop, so every time is exact and the test takes a second or two.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from session_helpers import FAKE_KEY, IN_MEMORY, Run, assert_folder_complete

from interview_kit.assessment import HeuristicAssessor
from interview_kit.audio import ScriptedVoiceInput
from interview_kit.audio.browser import BrowserAudio
from interview_kit.audio.format import BYTES_PER_SAMPLE, SAMPLE_RATE
from interview_kit.candidate import SimulatedCandidate
from interview_kit.config import SessionConfig
from interview_kit.emulator import serve_in_memory
from interview_kit.flow import Phase
from interview_kit.records import INTERVIEW_PURPOSES, Rec
from interview_kit.scenario import load_scenario
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryTransport

PAGE_OFFSET_MS = 1_700_000_000_000.0  # the page's clock (epoch ms) against the kernel's loop clock
ONE_WAY_S = 0.004  # comm delay, each way
OUTPUT_LATENCY_S = 0.025  # from the worklet's output to the speaker
JITTER_S = 0.06  # the page's jitter buffer


class FakePage:
    """The page's side of `BrowserAudio`: sync replies, the microphone (a scripted voice at 20 ms chunks),
    the jitter-buffered player and its "heard" reports, flushes. Messages go both ways with a delay."""

    def __init__(self, audio: BrowserAudio, *, mic: ScriptedVoiceInput | None = None) -> None:
        self.audio = audio
        self.loop = asyncio.get_running_loop()
        self.mic = mic or ScriptedVoiceInput(1.0, chunk_ms=20)
        self.received: list[dict[str, Any]] = []
        self.heard: dict[int, float] = {}  # seq -> kernel time its first sample was heard
        self.flushes = 0
        self._cursor = 0.0  # kernel time at which the page's player is free again
        self._pending: list[asyncio.TimerHandle] = []
        audio.send = self._from_kernel  # type: ignore[method-assign]  # the comm, in the test
        audio.owner = "page-1"
        audio.state = "live"
        self._mic_task = self.loop.create_task(self._speak())

    def page_ms(self) -> float:
        return self.loop.time() * 1000 + PAGE_OFFSET_MS

    def _to_kernel(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        self.loop.call_later(ONE_WAY_S, self.audio._on_page_msg, self.audio,
                             {**content, "owner": "page-1"}, buffers or [])

    def _from_kernel(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        if "type" not in content:
            return  # a state update of the widget's traits, not a message of the audio's
        self.loop.call_later(ONE_WAY_S, self._arrived, dict(content), list(buffers or []))

    def _arrived(self, msg: dict[str, Any], buffers: list[bytes]) -> None:
        self.received.append(msg)
        kind = msg["type"]
        if kind == "sync":
            self._to_kernel({"type": "sync", "k": msg["k"], "b": self.page_ms()})
        elif kind == "play":
            now = self.loop.time()
            start = self._cursor if self._cursor > now else now + JITTER_S  # idle: fill the buffer first
            self._cursor = start + len(buffers[0]) / BYTES_PER_SAMPLE / SAMPLE_RATE
            self._pending.append(self.loop.call_at(start, self._started, msg["seq"]))
        elif kind == "flush":
            self.flushes += 1
            for handle in self._pending:
                handle.cancel()
            self._pending.clear()
            self._cursor = self.loop.time()

    def _started(self, seq: int) -> None:
        heard_at = self.loop.time() + OUTPUT_LATENCY_S
        self.heard[seq] = heard_at
        self._to_kernel({"type": "heard", "seq": seq, "at": heard_at * 1000 + PAGE_OFFSET_MS})

    async def _speak(self) -> None:
        async for chunk in self.mic.chunks():
            self._to_kernel({"type": "mic", "t": self.page_ms()}, [chunk])

    def close(self) -> None:
        self._mic_task.cancel()
        self.mic.close()


def answer_after_questions(session: InterviewSession, candidate: SimulatedCandidate) -> None:
    """The person at the page answers once a question has been heard (as the session's own simulated
    candidate would), going by the session's ``playback.ended`` records: the page's "heard" reports."""

    def listen(record: dict[str, Any]) -> None:
        data = record.get("data") or {}
        if (record["type"] == Rec.PLAYBACK_ENDED and data.get("purpose") in INTERVIEW_PURPOSES
                and not data.get("truncated") and session.phase is Phase.INTERVIEWING):
            candidate.question_played()

    session.add_listener(listen)


def events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]


@IN_MEMORY
async def test_an_interview_through_the_browser_audio_completes_with_exact_playback(tmp_path: Path) -> None:
    scenario = load_scenario("default")
    notes: list[tuple[str, dict]] = []
    audio = BrowserAudio()
    page = FakePage(audio)
    mic, speakers = audio.new_interview(chunk_ms=40)
    config = SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path, language=scenario.language).with_overrides(
        scenario.client)
    session = InterviewSession(config, transport=InMemoryTransport(serve=serve_in_memory(scenario)),
                               assessor=HeuristicAssessor(), input=mic, output=speakers)
    answer_after_questions(session, SimulatedCandidate(scenario, page.mic.say))
    audio.on_note = lambda kind, data: (notes.append((kind, data)),
                                        session._record("local", kind, data=data))  # as the panel does
    result = await asyncio.wait_for(session.run(), 600)
    page.close()

    run = Run(result, session, session._transport)  # type: ignore[arg-type]
    assert result.outcome == "complete"
    assert_folder_complete(run)
    transcript = json.loads((run.folder / "transcript.json").read_text(encoding="utf-8"))
    said = " ".join(t.get("text", "") for t in transcript["turns"] if t.get("role") == "candidate")
    for answer in scenario.candidate.answers:
        assert answer.split()[0].lower() in said.lower()
    # every response was heard when the page heard it: started = first chunk's moment, on the kernel clock
    log = events(run.folder)
    started = [r for r in log if r["type"] == Rec.PLAYBACK_STARTED]
    assert started and all(not r["data"].get("truncated") for r in log if r["type"] == Rec.PLAYBACK_ENDED)
    first_heard = min(page.heard.values())
    assert started[0]["t"] == pytest.approx(first_heard - session._folder.log.t0, abs=2e-3)
    assert [r["data"] for r in log if r["type"] == Rec.AUDIO_LATENCY]  # in events.jsonl, via on_note -> panel
    # the latency figures: measured from the page's reports, logged as records
    assert audio.latency()["kernel_to_speaker_ms"] == pytest.approx(
        (ONE_WAY_S + JITTER_S + OUTPUT_LATENCY_S) * 1000, abs=2)
    assert audio.latency()["mic_to_kernel_ms"] == pytest.approx(ONE_WAY_S * 1000, abs=1.0)
    assert notes and notes[-1][0] == Rec.AUDIO_LATENCY and notes[-1][1]["mic_to_kernel_ms"] is not None


@IN_MEMORY
async def test_a_barge_in_truncates_at_what_the_page_has_played() -> None:
    audio = BrowserAudio()
    page = FakePage(audio)
    _mic, speakers = audio.new_interview()
    heard: list[tuple[str, str, float, dict]] = []
    speakers.tracker.on_event = lambda kind, rid, t, info: heard.append((kind, rid, t, info))
    await speakers.start()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.5)  # the clock offset is measured
    second = bytes(SAMPLE_RATE * BYTES_PER_SAMPLE)  # 1 s of audio
    speakers.enqueue("resp_1", second)
    speakers.enqueue("resp_1", second)
    sent_at = loop.time()
    await asyncio.sleep(1.3)
    rid, played_ms = speakers.interrupt()
    # heard from: sent + comm + jitter buffer + output latency; the page reported it, not a guess
    heard_from = sent_at + ONE_WAY_S + JITTER_S + OUTPUT_LATENCY_S
    assert rid == "resp_1"
    assert played_ms == pytest.approx((loop.time() - heard_from) * 1000, abs=2)
    await asyncio.sleep(0.1)
    assert page.flushes == 1
    assert [k for k, *_ in heard] == [Rec.PLAYBACK_STARTED, Rec.PLAYBACK_ENDED]
    assert heard[0][2] == pytest.approx(heard_from, abs=1e-3)
    assert heard[1][3] == {"played_ms": played_ms, "truncated": True}
    await speakers.close()
    page.close()


async def reading(mic: Any) -> tuple[list[bytes], asyncio.Task[None]]:
    """The chunks `mic` yields from now on (the list fills as they come), and the task reading them."""
    got: list[bytes] = []

    async def read() -> None:
        async for chunk in mic.chunks():
            got.append(chunk)

    task = asyncio.get_running_loop().create_task(read())
    await asyncio.sleep(0)
    return got, task


async def test_the_microphone_drops_what_arrives_while_no_interview_listens_and_mutes_on_the_page() -> None:
    audio = BrowserAudio()
    mic, _speakers = audio.new_interview(chunk_ms=40)
    tone = (b"\x10\x00" * 480)  # 20 ms
    audio._on_page_msg(audio, {"type": "mic", "t": 0.0}, [tone])  # nobody listening: the past
    got, task = await reading(mic)
    assert audio.activity == "listening"
    for _ in range(4):
        audio._on_page_msg(audio, {"type": "mic", "t": 0.0}, [tone])
    await asyncio.sleep(0.01)
    mic.muted = True
    assert audio.muted  # the page's trait: the page then sends silence itself
    for _ in range(2):
        audio._on_page_msg(audio, {"type": "mic", "t": 0.0}, [tone])
    await asyncio.sleep(0.01)
    mic.close()
    await asyncio.wait_for(task, 2)
    assert got == [tone * 2, tone * 2, bytes(len(tone) * 2)]  # 40 ms chunks; the muted one is silence
    assert mic.position_ms == 120
    assert audio.activity == ""


def test_a_second_view_of_the_widget_is_ignored_and_odd_messages_do_no_harm() -> None:
    audio = BrowserAudio()
    audio.owner = "page-1"
    for content in ({"type": "mic", "owner": "page-2", "t": 1.0}, {"type": "sync", "k": "x"}, {"no": "type"},
                    {"type": "heard", "seq": 99, "at": 5.0}, {"type": "mic"}):
        audio._on_page_msg(audio, content, [b"\x01\x00"])
    assert audio.input.chunks_received == 1  # only the owner's, well-formed one
    assert audio.latency() == {"mic_to_kernel_ms": None, "kernel_to_speaker_ms": None, "clock_rtt_ms": None}


def test_the_page_state_is_said_in_words() -> None:
    audio = BrowserAudio()
    assert "click" in audio.describe_state() and not audio.ready
    audio.state, audio.message = "insecure", "not a secure context"
    assert "localhost or over HTTPS" in audio.describe_state()
    audio.state = "live"
    assert audio.ready


def test_the_javascript_ships_in_the_package() -> None:
    """No build step and no CDN: the widget's module and its worklets are files of the package."""
    audio = BrowserAudio()
    source = str(audio._esm)
    assert "getUserMedia" in source and "echoCancellation: true" in source
    worklet = audio._worklet
    assert 'registerProcessor("ik-mic"' in worklet and 'registerProcessor("ik-player"' in worklet
    for code in (source, worklet):  # nothing fetched at run time
        assert not re.search(r"^\s*import\b|\bimport\(|fetch\(|https://", code, re.M)


def _from_a_subshell(call: Callable[[], None]) -> None:
    """`call` as JupyterLab 4.6's default "comms over subshells" makes ipykernel 7 make it: on another
    thread, inside that thread's own running loop."""
    async def deliver() -> None:
        call()

    thread = threading.Thread(target=asyncio.run, args=(deliver(),), name="subshell")
    thread.start()
    thread.join(5)


async def test_the_pages_messages_are_handled_on_the_interviews_loop_whichever_thread_receives_them() -> None:
    audio = BrowserAudio()
    mic, _speakers = audio.new_interview(chunk_ms=20)
    handled_on: list[int] = []
    received = mic._received
    mic._received = lambda pcm: (handled_on.append(threading.get_ident()), received(pcm))  # type: ignore[method-assign]
    got, task = await reading(mic)
    tone = bytearray(b"\x10\x00" * 480)
    _from_a_subshell(lambda: audio._on_page_msg(audio, {"type": "mic", "t": 0.0}, [memoryview(tone)]))
    tone[:] = bytes(len(tone))  # the receiving side reuses its frames: the chunk was copied
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    mic.close()
    await asyncio.wait_for(task, 2)
    assert handled_on == [threading.get_ident()]  # on this loop's thread, not the subshell's
    assert got == [b"\x10\x00" * 480]
