"""Audio adapters: what was heard and when, barge-in, paced inputs, files, and the device boundary."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
import types
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from interview_kit import audio
from interview_kit.audio import (
    PLAYBACK_ENDED,
    PLAYBACK_STARTED,
    SPEECH_ENDED,
    SPEECH_STARTED,
    AudioDeviceError,
    AudioFormatError,
    FileInput,
    MicrophoneInput,
    PlaybackTracker,
    ScriptedVoiceInput,
    SilenceInput,
    SpeakerOutput,
    VirtualOutput,
)
from interview_kit.voice import SAMPLE_RATE, silence, synthesize

SPEED = 20.0


class Recorder:
    """Collects playback events with the monotonic time each was delivered."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float, dict, float]] = []
        self.changed = asyncio.Event()

    def __call__(self, kind: str, rid: str, t: float, info: dict) -> None:
        self.events.append((kind, rid, t, info, time.monotonic()))
        self.changed.set()

    def of(self, kind: str, rid: str) -> list[tuple[str, str, float, dict, float]]:
        return [e for e in self.events if e[0] == kind and e[1] == rid]

    async def wait(self, kind: str, rid: str) -> tuple[str, str, float, dict, float]:
        async def until() -> None:
            while not self.of(kind, rid):
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), 5.0)
        return self.of(kind, rid)[0]


def chunks_of(pcm: bytes, size: int = 4800) -> list[bytes]:
    return [pcm[i:i + size] for i in range(0, len(pcm), size)]


def ramp(n: int, start: int = 1) -> bytes:
    """Distinct non-zero samples, so positions in a recording can be checked exactly."""
    return (np.arange(start, start + n) % 30000 + 1).astype("<i2").tobytes()


# ---------------------------------------------------------------------------------------------
# The format, declared once


def test_the_audio_format_is_declared_once() -> None:
    from interview_kit import voice
    from interview_kit.audio import format as fmt

    assert (fmt.SAMPLE_RATE, fmt.CHANNELS, fmt.BYTES_PER_SAMPLE, fmt.BYTES_PER_MS) == (24000, 1, 2, 48)
    assert voice.SAMPLE_RATE is fmt.SAMPLE_RATE and voice.BYTES_PER_SAMPLE is fmt.BYTES_PER_SAMPLE
    assert audio.SAMPLE_RATE is fmt.SAMPLE_RATE
    assert fmt.pcm_format() == {"type": "audio/pcm", "rate": 24000}
    assert fmt.pcm_format() is not fmt.pcm_format()  # a fresh dict: callers may change theirs
    assert fmt.samples_to_ms(24000) == 1000 and fmt.samples_to_ms(36) == 2  # whole ms, rounded
    assert fmt.DEFAULT_CHUNK_MS * fmt.SAMPLE_RATE % 1000 == 0


def test_the_format_imports_nothing_heavy() -> None:
    """The pure core may import the format: it must not pull in numpy, sounddevice or the adapters."""
    code = ("import sys; from interview_kit.audio.format import SAMPLE_RATE; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'sounddevice', 'asyncio') "
            "or m.startswith('interview_kit.audio.') and m != 'interview_kit.audio.format'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_record_names_are_the_vocabulary() -> None:
    from interview_kit.records import Rec

    assert PLAYBACK_STARTED is Rec.PLAYBACK_STARTED and PLAYBACK_ENDED is Rec.PLAYBACK_ENDED
    assert SPEECH_STARTED is Rec.CANDIDATE_SPEECH_STARTED and SPEECH_ENDED is Rec.CANDIDATE_SPEECH_ENDED
    assert PLAYBACK_ENDED == "playback.ended" and SPEECH_STARTED == "candidate.speech_started"


# ---------------------------------------------------------------------------------------------
# PlaybackTracker


def test_tracker_ends_each_response_once_after_its_last_sample() -> None:
    events: list[tuple] = []
    tracker = PlaybackTracker(lambda *e: events.append(e))  # no loop: delivered at once
    tracker.queued("r1", 2400)
    tracker.played("r1", 1200, at=10.0)
    tracker.finished("r1")
    assert [e[0] for e in events] == [PLAYBACK_STARTED]  # half of it is still to be played
    tracker.played("r1", 1200, at=10.05)
    tracker.finished("r1")
    tracker.played("r1", 100, at=11.0)  # stray audio after the end changes nothing
    assert events == [(PLAYBACK_STARTED, "r1", 10.0, {}),
                      (PLAYBACK_ENDED, "r1", pytest.approx(10.1), {"played_ms": 100, "truncated": False})]


def test_tracker_response_without_audio_ends_at_once_without_start() -> None:
    events: list[tuple] = []
    tracker = PlaybackTracker(lambda *e: events.append(e))
    before = time.monotonic()
    tracker.finished("text-only")
    assert len(events) == 1
    kind, rid, t, info = events[0]
    assert (kind, rid, info) == (PLAYBACK_ENDED, "text-only", {"played_ms": 0, "truncated": False})
    assert before <= t <= time.monotonic()


def test_tracker_truncate_counts_what_was_heard() -> None:
    events: list[tuple] = []
    tracker = PlaybackTracker(lambda *e: events.append(e))
    tracker.queued("r1", 24000)
    tracker.played("r1", 24000, at=5.0)  # one second of audio, heard from t=5
    assert tracker.heard_samples("r1", 5.25) == 6000
    assert tracker.truncate("r1", 5.25) == 250
    assert tracker.truncate("r1", 6.0) == 250  # once only
    assert events[-1] == (PLAYBACK_ENDED, "r1", 5.25, {"played_ms": 250, "truncated": True})
    assert sum(1 for e in events if e[0] == PLAYBACK_ENDED) == 1


# ---------------------------------------------------------------------------------------------
# VirtualOutput


async def test_virtual_output_plays_in_order_at_real_time_over_speed() -> None:
    rec = Recorder()
    out = VirtualOutput(rec, speed=SPEED)
    await out.start()
    first, second = synthesize("thank you, I am preparing your assessment", 160), synthesize("goodbye", 160)
    for c in chunks_of(first):
        out.enqueue("ack", c)
    out.finish("ack")
    assert out.playing_response_id == "ack"
    for c in chunks_of(second):
        out.enqueue("bye", c)
    out.finish("bye")
    await rec.wait(PLAYBACK_ENDED, "bye")
    assert [(e[0], e[1]) for e in rec.events] == [(PLAYBACK_STARTED, "ack"), (PLAYBACK_ENDED, "ack"),
                                                 (PLAYBACK_STARTED, "bye"), (PLAYBACK_ENDED, "bye")]
    (_, _, a0, _, _), (_, _, a1, info, _), (_, _, b0, _, _), (_, _, b1, _, _) = rec.events
    rate = SAMPLE_RATE * SPEED
    assert a1 - a0 == pytest.approx(len(first) / 2 / rate, abs=1e-6)
    assert b0 == pytest.approx(a1, abs=1e-6)  # back to back, on an absolute schedule
    assert b1 - b0 == pytest.approx(len(second) / 2 / rate, abs=1e-6)
    assert info == {"played_ms": round(len(first) / 2 / 24), "truncated": False}
    for _, _, t, _, delivered in rec.events:
        assert delivered >= t - 0.002  # never announced before its moment
    assert out.playing_response_id is None
    await out.close()


async def test_ended_waits_for_playback_not_for_the_server() -> None:
    rec = Recorder()
    out = VirtualOutput(rec, speed=SPEED)
    await out.start()
    out.enqueue("r1", synthesize("one two three four five six seven eight", 160))  # 3 s -> 0.15 s at 20x
    out.finish("r1")  # the server is done long before the audio has been heard
    await asyncio.sleep(0)
    assert rec.of(PLAYBACK_ENDED, "r1") == []
    ended = await rec.wait(PLAYBACK_ENDED, "r1")
    started = rec.of(PLAYBACK_STARTED, "r1")[0]
    assert ended[2] - started[2] == pytest.approx(3.0 / SPEED, abs=1e-6)
    await out.close()


async def test_audio_finished_after_it_was_heard_ends_at_its_last_sample() -> None:
    rec = Recorder()
    out = VirtualOutput(rec, speed=SPEED)
    await out.start()
    out.enqueue("r1", silence(0.5))
    await rec.wait(PLAYBACK_STARTED, "r1")
    await asyncio.sleep(0.5 / SPEED + 0.05)
    assert rec.of(PLAYBACK_ENDED, "r1") == []  # all heard, but more audio may still come
    out.finish("r1")
    ended = await rec.wait(PLAYBACK_ENDED, "r1")
    assert ended[2] == pytest.approx(rec.of(PLAYBACK_STARTED, "r1")[0][2] + 0.5 / SPEED, abs=1e-6)
    await out.close()


@pytest.mark.looptime
async def test_interrupt_stops_now_and_reports_what_was_heard() -> None:
    """On the loop's clock (the output's default), fast-forwarded: 50 ms in, at 20x, 1000 ms were heard."""
    loop = asyncio.get_running_loop()
    rec = Recorder()
    out = VirtualOutput(rec, speed=SPEED)
    await out.start()
    for c in chunks_of(silence(4.0)):  # 4 s of audio: 0.2 s at 20x
        out.enqueue("q2", c)
    out.enqueue("next", silence(1.0))
    started = await rec.wait(PLAYBACK_STARTED, "q2")
    await asyncio.sleep(0.05)
    heard_ms = (loop.time() - started[2]) * SPEED * 1000
    rid, played_ms = out.interrupt()
    assert rid == "q2"
    assert played_ms == pytest.approx(heard_ms, abs=1) and heard_ms == pytest.approx(1000, abs=1)
    ended = await rec.wait(PLAYBACK_ENDED, "q2")
    assert ended[3] == {"played_ms": played_ms, "truncated": True}
    nxt = await rec.wait(PLAYBACK_ENDED, "next")  # dropped unheard: it ends too, never started
    assert nxt[3] == {"played_ms": 0, "truncated": True} and rec.of(PLAYBACK_STARTED, "next") == []
    out.enqueue("q2", silence(1.0))  # the server's in-flight audio of the interrupted response
    out.finish("q2")
    assert out.playing_response_id is None
    await asyncio.sleep(0.1)
    assert len(rec.of(PLAYBACK_ENDED, "q2")) == 1 and len(rec.of(PLAYBACK_STARTED, "q2")) == 1
    assert out.interrupt() == (None, 0)
    await out.close()


async def test_virtual_output_writes_what_was_heard_as_wav(tmp_path: Path) -> None:
    rec = Recorder()
    wav_path = tmp_path / "out.wav"
    out = VirtualOutput(rec, speed=SPEED, wav_path=wav_path)
    await out.start()
    first = ramp(12000)
    out.enqueue("a", first)
    out.finish("a")
    await rec.wait(PLAYBACK_ENDED, "a")
    out.enqueue("b", ramp(48000, start=5))
    await rec.wait(PLAYBACK_STARTED, "b")
    await asyncio.sleep(0.02)
    _, played_ms = out.interrupt()
    await out.close()
    with wave.open(str(wav_path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    nonzero = np.flatnonzero(samples)
    a_start = nonzero[0]
    assert samples[a_start:a_start + 12000].tobytes() == first  # exactly what was played
    b_heard = samples[a_start + 12000:]
    b_heard = b_heard[np.flatnonzero(b_heard)[0]:]  # after the gap of silence between responses
    assert abs(len(b_heard) - played_ms * 24) <= 48  # only the part heard before the barge-in
    assert b_heard.tobytes() == ramp(48000, start=5)[: len(b_heard) * 2]


# ---------------------------------------------------------------------------------------------
# Inputs


async def collect(inp: audio.AudioInput, n: int) -> list[bytes]:
    out = []
    async for chunk in inp.chunks():
        out.append(chunk)
        if len(out) == n:
            break
    return out


async def test_scripted_voice_speaks_at_the_exact_positions_it_reports() -> None:
    speech_events: list[tuple[str, float]] = []
    voice = ScriptedVoiceInput(speed=SPEED, on_speech=lambda k, p: speech_events.append((k, p)))
    speech = ramp(int(0.5 * SAMPLE_RATE) + 100)  # 500 ms + 100 samples: ends mid-chunk
    got: list[bytes] = []
    async for chunk in voice.chunks():
        got.append(chunk)
        assert len(chunk) == 40 * 24 * 2
        if len(got) == 3:
            assert not voice.speaking
            voice.say(speech)
            assert voice.speaking
        if len(got) == 30:
            break
    assert voice.position_ms == 30 * 40
    assert not voice.speaking
    assert speech_events == [(SPEECH_STARTED, 120.0), (SPEECH_ENDED, 120.0 + 500 + 100 / 24)]
    stream = b"".join(got)
    offset = 120 * 24 * 2
    assert stream[offset:offset + len(speech)] == speech
    assert not any(stream[:offset]) and not any(stream[offset + len(speech):])


async def test_muted_input_yields_silence_but_keeps_time() -> None:
    speech_events: list[tuple[str, float]] = []
    voice = ScriptedVoiceInput(speed=SPEED, on_speech=lambda k, p: speech_events.append((k, p)))
    voice.say(ramp(2400))
    voice.muted = True
    got = await collect(voice, 5)
    assert not any(b"".join(got))
    assert [k for k, _ in speech_events] == [SPEECH_STARTED, SPEECH_ENDED]
    assert voice.position_ms == 200


async def test_input_is_paced_no_faster_than_real_time_over_speed() -> None:
    inp = SilenceInput(speed=SPEED)
    started = time.monotonic()
    got = await collect(inp, 25)  # 1 s of audio
    elapsed = time.monotonic() - started
    assert elapsed >= 1.0 / SPEED - 0.005
    assert inp.position_ms == 1000 and not any(b"".join(got))


async def test_close_ends_the_chunk_stream() -> None:
    inp = SilenceInput(speed=SPEED)

    async def consume() -> int:
        n = 0
        async for _ in inp.chunks():
            n += 1
            if n == 3:
                await inp.close()  # awaiting close() is allowed; so is calling it plainly
        return n

    assert await asyncio.wait_for(consume(), 5.0) == 3


def write_wav(path: Path, pcm: bytes, rate: int = SAMPLE_RATE, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


async def test_file_input_plays_the_file_then_silence(tmp_path: Path) -> None:
    pcm = ramp(2000)
    write_wav(tmp_path / "a.wav", pcm)
    (tmp_path / "a.pcm").write_bytes(pcm)
    for name in ("a.wav", "a.pcm"):
        inp = FileInput(tmp_path / name, speed=SPEED)
        stream = b"".join(await collect(inp, 4))
        assert stream[: len(pcm)] == pcm and not any(stream[len(pcm):])
        assert inp.finished


@pytest.mark.parametrize("make, message", [
    (lambda p: write_wav(p / "x.wav", bytes(400), rate=44100), "44100 Hz"),
    (lambda p: write_wav(p / "x.wav", bytes(400), channels=2), "2 channel"),
    (lambda p: (p / "x.wav").write_bytes(b"RIFF nonsense"), "not a PCM WAV"),
    (lambda p: (p / "x.pcm").write_bytes(bytes(3)), "even number of bytes"),
    (lambda p: (p / "x.mp3").write_bytes(bytes(4)), ".wav or raw PCM16"),
])
def test_file_input_wrong_format_is_a_clear_error(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(AudioFormatError, match=message) as err:
        FileInput(path)
    assert str(path) in str(err.value) and "24000" in str(err.value)


def test_file_input_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.wav"):
        FileInput(tmp_path / "nope.wav")


# ---------------------------------------------------------------------------------------------
# Devices: the error path on this machine, the callback logic at the device boundary


def portaudio_missing() -> bool:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        return True
    return False


@pytest.mark.skipif(not portaudio_missing(), reason="PortAudio is installed here")
async def test_without_portaudio_the_error_says_what_to_install_and_the_fallback() -> None:
    with pytest.raises(AudioDeviceError) as err:
        await SpeakerOutput(None).start()
    assert "apt-get install libportaudio2" in str(err.value) and "brew install portaudio" in str(err.value)
    assert "leave out --speakers" in str(err.value)
    with pytest.raises(AudioDeviceError, match="libportaudio2"):
        await collect(MicrophoneInput(), 1)


async def test_without_a_device_the_error_names_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_device(**kwargs) -> None:
        raise ValueError("No output device matching ''")

    fake = types.SimpleNamespace(check_output_settings=no_device, check_input_settings=no_device)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    with pytest.raises(AudioDeviceError, match=r"no usable audio output device .*leave out --speakers"):
        await SpeakerOutput(None).start()
    with pytest.raises(AudioDeviceError, match="no usable microphone"):
        await collect(MicrophoneInput(), 1)


class FakeStream:
    """Stands in for sounddevice's Raw*Stream: records its arguments; the test drives the callback."""

    def __init__(self, device_latency: float = 0.1, **kwargs) -> None:
        self.kwargs = kwargs
        self.callback = kwargs["callback"]
        self.latency = device_latency  # what PortAudio reports once the stream is open
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def abort(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


async def test_speaker_callback_plays_queued_audio_and_includes_device_latency() -> None:
    rec = Recorder()
    streams: list[FakeStream] = []

    def factory(**kwargs) -> FakeStream:
        streams.append(FakeStream(device_latency=0.1, **kwargs))
        return streams[-1]

    out = SpeakerOutput(rec, stream_factory=factory)
    await out.start()
    stream = streams[0]
    assert stream.started and stream.kwargs["samplerate"] == SAMPLE_RATE and stream.kwargs["dtype"] == "int16"
    a, b = ramp(1000), ramp(500, start=2000)
    out.enqueue("r1", a[:1200])
    out.enqueue("r1", a[1200:])
    out.finish("r1")
    out.enqueue("r2", b)

    block = bytearray(600 * 2)
    stream.callback(block, 600, None, None)
    assert bytes(block) == a[:1200]
    before = time.monotonic()
    stream.callback(block, 600, None, None)
    after = time.monotonic()
    assert bytes(block[:800]) == a[1200:] and bytes(block[800:]) == b[:400]
    stream.callback(block, 600, None, None)
    assert bytes(block[:600]) == b[400:] and not any(block[600:])  # padded with silence

    ended = await rec.wait(PLAYBACK_ENDED, "r1")
    # the last sample of r1 went out at the start of the 2nd block, 400 samples in, and is heard
    # a device latency later
    expected_lo, expected_hi = before + 0.1 + 400 / SAMPLE_RATE, after + 0.1 + 400 / SAMPLE_RATE
    assert expected_lo <= ended[2] <= expected_hi
    assert ended[4] >= ended[2] - 0.002  # announced when heard, not when handed to the device
    assert ended[3] == {"played_ms": round(1000 / 24), "truncated": False}
    assert rec.of(PLAYBACK_ENDED, "r2") == []  # not finished by the server yet
    await out.close()
    assert stream.closed


async def test_speaker_interrupt_drops_the_queue() -> None:
    rec = Recorder()
    streams: list[FakeStream] = []
    out = SpeakerOutput(rec, stream_factory=lambda **kw: streams.append(FakeStream(device_latency=0.0, **kw))
                        or streams[-1])
    await out.start()
    out.enqueue("r1", ramp(24000))
    block = bytearray(2400 * 2)
    streams[0].callback(block, 2400, None, None)
    await asyncio.sleep(0.15)  # 100 ms handed, all of it heard by now
    rid, played_ms = out.interrupt()
    assert (rid, played_ms) == ("r1", 100)
    streams[0].callback(block, 2400, None, None)
    assert not any(block)  # nothing more is played
    ended = await rec.wait(PLAYBACK_ENDED, "r1")
    assert ended[3] == {"played_ms": 100, "truncated": True}
    await out.close()


async def test_microphone_chunks_come_from_the_device_callback() -> None:
    streams: list[FakeStream] = []
    mic = MicrophoneInput(stream_factory=lambda **kw: streams.append(FakeStream(**kw)) or streams[-1])
    got: list[bytes] = []

    async def consume() -> None:
        async for chunk in mic.chunks():
            got.append(chunk)
            if len(got) == 3:
                break

    task = asyncio.create_task(consume())
    for _ in range(500):
        if streams:
            break
        await asyncio.sleep(0.005)
    assert streams[0].kwargs["blocksize"] == 960
    pcm = ramp(960 * 3)

    def device() -> None:  # the PortAudio thread
        for i in range(3):
            streams[0].callback(pcm[i * 1920:(i + 1) * 1920], 960, None, None)
            time.sleep(0.005)

    threading.Thread(target=device).start()
    await asyncio.wait_for(task, 5.0)
    assert b"".join(got) == pcm and mic.position_ms == 120
    await asyncio.wait_for(mic.close(), 5.0)  # waits for the device to be shut
    assert streams[0].closed  # leaving the loop closes the device


class SlowToCloseStream(FakeStream):
    """PortAudio's abort/close can block: it must happen off the event loop."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.closed_on: threading.Thread | None = None

    def abort(self) -> None:
        time.sleep(0.2)

    def close(self) -> None:
        self.closed_on = threading.current_thread()
        super().close()


async def test_microphone_close_shuts_the_device_off_the_loop() -> None:
    streams: list[SlowToCloseStream] = []
    mic = MicrophoneInput(stream_factory=lambda **kw: streams.append(SlowToCloseStream(**kw)) or streams[-1])
    chunks = mic.chunks()
    pending = asyncio.ensure_future(anext(chunks))
    for _ in range(500):
        if streams:
            break
        await asyncio.sleep(0.005)
    closing = mic.close()
    assert mic.closed and not streams[0].closed  # close() returned before the device finished
    await asyncio.wait_for(closing, 5.0)
    assert streams[0].closed and streams[0].closed_on is not threading.current_thread()
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await pending
    await chunks.aclose()


@given(st.lists(st.tuples(st.sampled_from(["queued", "played", "finished", "truncate"]),
                          st.sampled_from(["r1", "r2", "r3"]), st.integers(0, 4800)), max_size=40))
def test_tracker_never_ends_twice_nor_starts_after_the_end(ops: list[tuple[str, str, int]]) -> None:
    events: list[tuple] = []
    now = [0.0]
    tracker = PlaybackTracker(lambda *e: events.append(e), clock=lambda: now[0])
    for op, rid, n in ops:
        now[0] += 0.01
        t = now[0]
        if op == "queued":
            tracker.queued(rid, n)
        elif op == "played":
            tracker.played(rid, n, at=t)
        elif op == "finished":
            tracker.finished(rid)
        else:
            tracker.truncate(rid, at=t)
    for rid in ("r1", "r2", "r3"):
        kinds = [e[0] for e in events if e[1] == rid]
        assert kinds.count(PLAYBACK_ENDED) <= 1 and kinds.count(PLAYBACK_STARTED) <= 1
        if PLAYBACK_STARTED in kinds and PLAYBACK_ENDED in kinds:
            assert kinds.index(PLAYBACK_STARTED) < kinds.index(PLAYBACK_ENDED)
        if tracker.is_ended(rid):
            assert kinds.count(PLAYBACK_ENDED) == 1
        ended = [e for e in events if e[1] == rid and e[0] == PLAYBACK_ENDED]
        if ended:
            played = sum(n for op, r, n in ops if r == rid and op == "played")
            assert 0 <= ended[0][3]["played_ms"] <= round(played / 24)
