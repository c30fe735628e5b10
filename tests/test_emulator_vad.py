"""Server VAD: the energy detector's positions, and turn-taking over the websocket."""

from __future__ import annotations

import pytest
from emulator_helpers import RealtimeTestClient, answer_audio, fast, of_type, transcript_of

from interview_kit import voice
from interview_kit.emulator import Emulator
from interview_kit.emulator.vad import EnergyVad


def _tone(seconds: float, amplitude: float) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * voice.SAMPLE_RATE)) / voice.SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * 200 * t) * 32767).astype("<i2").tobytes()


def test_positions_follow_the_stream_not_the_feeding():
    audio = voice.silence(1.0) + _tone(1.0, 0.3) + voice.silence(1.0)
    whole = EnergyVad(0.5, 300, 500).feed(audio)
    pieces = EnergyVad(0.5, 300, 500)
    split = []
    for i in range(0, len(audio), 4410):  # odd-sized appends, not frame aligned
        split += pieces.feed(audio[i : i + 4410])
    assert whole == split
    assert [(e.kind, e.at_ms) for e in whole] == [("started", 700), ("stopped", 2500)]


def test_threshold_maps_to_rms():
    # a sine of amplitude a has RMS a/sqrt(2): 0.06 -> 0.042, 0.09 -> 0.064; threshold 0.5 means RMS 0.05
    assert EnergyVad(0.5).feed(_tone(0.5, 0.06) + voice.silence(1)) == []
    assert [e.kind for e in EnergyVad(0.5).feed(_tone(0.5, 0.09) + voice.silence(1))] == [
        "started",
        "stopped",
    ]
    assert EnergyVad(0.9).feed(_tone(0.5, 0.09) + voice.silence(1)) == []


def test_silence_duration_and_prefix_padding():
    gap = voice.silence(0.3)
    audio = _tone(0.5, 0.3) + gap + _tone(0.5, 0.3) + voice.silence(1.0)
    assert [e.kind for e in EnergyVad(0.5, 0, 200).feed(audio)] == [
        "started",
        "stopped",
        "started",
        "stopped",
    ]
    events = EnergyVad(0.5, 0, 500).feed(audio)
    assert [(e.kind, e.at_ms) for e in events] == [("started", 0), ("stopped", 1300 + 500)]
    assert EnergyVad(0.5, 100, 500).feed(voice.silence(0.2) + audio)[0].at_ms == 100


def test_synthetic_voice_is_one_turn():
    text = "I led the rewrite of our data pipeline and cut the nightly run."
    events = EnergyVad().feed(answer_audio(text, lead=0.5, tail=0.8))
    assert [e.kind for e in events] == ["started", "stopped"]
    end_of_speech_ms = 500 + voice.speech_duration(text, 150) * 1000
    assert abs(events[1].at_ms - (end_of_speech_ms + 500)) <= 100


@pytest.fixture
async def emu():
    async with Emulator(fast("default", speed=40, timing="idealised")) as emulator:  # VAD, not timing
        yield emulator


async def _connect(emu) -> RealtimeTestClient:
    client = await RealtimeTestClient.connect(emu.realtime_url)
    await client.recv()
    return client


async def test_turns_by_voice(emu):
    async with await _connect(emu) as c:
        first = await c.create_response()
        assert transcript_of(first).endswith(emu.scenario.interviewer.questions[0])
        answers = emu.scenario.candidate.answers
        start = 0
        for i, answer in enumerate(answers[:2]):
            pcm = answer_audio(answer)
            await c.append_audio(pcm)
            events = await c.recv_until("response.done")
            started = of_type(events, "input_audio_buffer.speech_started")[0]
            stopped = of_type(events, "input_audio_buffer.speech_stopped")[0]
            assert abs(started["audio_start_ms"] - (start + 0)) <= 40  # 300 ms lead - 300 ms padding
            assert stopped["audio_end_ms"] > started["audio_start_ms"]
            committed = of_type(events, "input_audio_buffer.committed")[0]
            assert committed["item_id"] == started["item_id"] == stopped["item_id"]
            transcription = of_type(events, "conversation.item.input_audio_transcription.completed")[0]
            assert transcription["transcript"] == answer and transcription["item_id"] == committed["item_id"]
            types = [e["type"] for e in events]
            assert (
                types.index("input_audio_buffer.speech_stopped")
                < types.index("input_audio_buffer.committed")
                < types.index("conversation.item.input_audio_transcription.completed")
                < types.index("response.created")
            )
            assert transcript_of(events) == emu.scenario.interviewer.questions[i + 1]
            start += len(pcm) // 48


async def test_speech_interrupts_a_response(emu):
    async with await _connect(emu) as c:
        await c.send({"type": "response.create"})
        await c.recv_until("response.output_audio.delta")
        await c.append_audio(answer_audio("Sorry, may I ask something first?", lead=0.0))
        events = await c.recv_until("input_audio_buffer.speech_started")
        events += await c.recv_until("response.done")
        done = events[-1]["response"]
        assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
        events = await c.recv_until("response.done")  # after speech stops, the next scripted line
        assert of_type(events, "input_audio_buffer.speech_stopped")
        assert events[-1]["response"]["status"] == "completed"


async def test_no_interrupt_and_no_auto_response(emu):
    async with await _connect(emu) as c:
        await c.update_session(
            audio={
                "input": {
                    "turn_detection": {
                        "type": "server_vad",
                        "create_response": False,
                        "interrupt_response": False,
                    }
                }
            }
        )
        await c.send({"type": "response.create"})
        await c.recv_until("response.created")
        await c.append_audio(answer_audio("Hello there.", lead=0.0))
        events = await c.recv_until("conversation.item.input_audio_transcription.completed")
        assert of_type(events, "input_audio_buffer.speech_started")
        events = await c.recv_until("response.done")
        assert events[-1]["response"]["status"] == "completed"
        assert not of_type(events, "response.created")  # no second response was started


async def test_manual_commit_without_turn_detection(emu):
    async with await _connect(emu) as c:
        await c.update_session(audio={"input": {"turn_detection": None}})
        await c.append_audio(answer_audio(emu.scenario.candidate.answers[0]))
        await c.send({"type": "input_audio_buffer.commit"})
        events = await c.recv_until("conversation.item.input_audio_transcription.completed")
        assert not of_type(events, "input_audio_buffer.speech_started")
        assert of_type(events, "input_audio_buffer.committed")
        assert events[-1]["transcript"] == emu.scenario.candidate.answers[0]
        assert events[-1]["usage"]["seconds"] > 1.0
