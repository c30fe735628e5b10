"""The session recorder: both sides' audio in the session folder, on the session clock, as sent and as
heard (a barge-in cuts the interviewer's track), readable after a crash, and a disk error reported once
without ever stopping the audio."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import struct
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from interview_kit.analysis.audio_gaps import audio_gaps, bland_altman, read_speech
from interview_kit.analysis.load import load_session
from interview_kit.audio import ScriptedVoiceInput, VirtualOutput
from interview_kit.audio import recorder as rec_mod
from interview_kit.audio.recorder import RecordingBacklogError, SessionRecorder, read_track
from interview_kit.clock import loop_time
from interview_kit.config import SessionConfig
from interview_kit.records import Rec
from interview_kit.session import InterviewSession
from interview_kit.transport import InMemoryTransport
from interview_kit.voice import SAMPLE_RATE, synthesize
from tests.session_helpers import FAKE_KEY, IN_MEMORY, LOOP_RUN_TIMEOUT, real_time, run_in_memory

R = SAMPLE_RATE


def tone(seconds: float, value: int = 1000) -> bytes:
    """A constant non-zero signal: every sample is recognisable in the file."""
    return np.full(round(seconds * R), value, dtype="<i2").tobytes()


def samples(path: Path) -> np.ndarray:
    return np.frombuffer(read_track(path), dtype="<i2")


def nonzero_runs(x: np.ndarray) -> list[tuple[int, int]]:
    edges = np.diff(np.concatenate(([0], (x != 0).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


async def pump(voice: ScriptedVoiceInput) -> None:
    async for _chunk in voice.chunks():
        pass


@IN_MEMORY
async def test_both_tracks_are_on_the_session_clock_and_a_barge_in_cuts_the_interviewer(
        tmp_path: Path) -> None:
    out = VirtualOutput(None, clock=loop_time)
    await out.start()
    voice = ScriptedVoiceInput(1.0)
    errors: list[OSError] = []
    recorder = SessionRecorder(tmp_path, t0=loop_time(), on_error=errors.append)
    recorder.attach(voice, out)
    t0 = recorder.t0
    task = asyncio.create_task(pump(voice))

    await asyncio.sleep(0.5 - (loop_time() - t0))
    out.enqueue("r1", tone(1.0, 1000))  # heard 0.5 .. 1.5
    out.finish("r1")
    await asyncio.sleep(2.01 - (loop_time() - t0))
    voice.say(tone(0.6, 2000))  # the chunk recorded over 2.00 .. 2.04 carries it from its start
    await asyncio.sleep(3.0 - (loop_time() - t0))
    out.enqueue("r2", tone(2.0, 3000))  # would be heard 3.0 .. 5.0
    await asyncio.sleep(3.5 - (loop_time() - t0))
    out.interrupt()  # barge-in: heard 3.0 .. 3.5 only
    await asyncio.sleep(4.01 - (loop_time() - t0))
    voice.close()
    await task
    await out.close()
    await recorder.aclose()

    assert errors == []
    heard = samples(tmp_path / "audio" / "interviewer.wav")
    assert nonzero_runs(heard) == [(round(0.5 * R), round(1.5 * R)), (round(3.0 * R), round(3.5 * R))]
    assert set(heard[round(0.5 * R): round(1.5 * R)]) == {1000}
    assert set(heard[round(3.0 * R): round(3.5 * R)]) == {3000}
    assert len(heard) == round(3.5 * R)  # what was never heard is not in the file
    sent = samples(tmp_path / "audio" / "candidate.wav")
    assert nonzero_runs(sent) == [(round(2.0 * R), round(2.6 * R))]
    assert len(sent) == round(4.0 * R)  # every chunk sent, up to the close
    info = json.loads((tmp_path / "audio" / "recording.json").read_text())
    assert info["closed"] is True and info["error"] is None
    assert info["samples"] == {"candidate": len(sent), "interviewer": len(heard)}
    with wave.open(str(tmp_path / "audio" / "interviewer.wav")) as w:  # a plain WAV for any player
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (R, 1, 2, len(heard))


@IN_MEMORY
async def test_at_speed_the_file_keeps_the_pitch_and_counts_speed_times_the_session_seconds(
        tmp_path: Path) -> None:
    out = VirtualOutput(None, speed=4.0, clock=loop_time)
    await out.start()
    recorder = SessionRecorder(tmp_path, t0=loop_time(), speed=4.0)
    recorder.attach(output=out)
    await asyncio.sleep(0.25)
    out.enqueue("r1", tone(1.0))  # one second of audio, heard in 0.25 session seconds
    out.finish("r1")
    await asyncio.sleep(1.0)
    await out.close()
    recorder.close()
    heard = samples(tmp_path / "audio" / "interviewer.wav")
    assert nonzero_runs(heard) == [(R, 2 * R)]  # starts at 0.25 s x 4 = 1 s of file
    info = json.loads((tmp_path / "audio" / "recording.json").read_text())
    assert info["samples_per_session_second"] == 4 * R and info["speed"] == 4.0


@IN_MEMORY
async def test_late_input_chunks_neither_open_a_hole_nor_shift_what_follows(tmp_path: Path) -> None:
    recorder = SessionRecorder(tmp_path, t0=loop_time())
    late = {5: 0.03, 12: 0.3, 13: 0.26, 14: 0.22}  # one chunk 30 ms late; a 300 ms stall, then a burst
    for k in range(1, 21):  # 40 ms chunks, the k-th due at k x 40 ms + 0.5 s
        await asyncio.sleep(0.5 + 0.04 * k + late.get(k, 0.0) - (loop_time() - recorder.t0))
        recorder.sent(tone(0.04, 100 * k))
    recorder.close()
    sent = samples(tmp_path / "audio" / "candidate.wav")
    assert nonzero_runs(sent) == [(round(0.5 * R), round(1.3 * R))]  # the stream, from where it began
    for k in range(1, 21):  # every chunk where the stream had it
        i = round((0.5 + 0.04 * (k - 1)) * R)
        assert set(sent[i: i + 960]) == {100 * k}


@IN_MEMORY
async def test_a_recorded_interview_matches_its_event_log_and_its_gaps(tmp_path: Path) -> None:
    """The session records both sides by default (`record_audio`): each playback is in the
    interviewer's file where the log has it, the candidate's speech where the input stream had it,
    and the turns table's `gap_audio_s` agrees with the event-derived `gap_s` within a frame."""
    run = await run_in_memory(real_time("default", questions=3), tmp_path, record_audio=True)
    folder = run.folder
    assert json.loads((folder / "audio" / "recording.json").read_text())["closed"] is True
    events = run.events()

    heard = samples(folder / "audio" / "interviewer.wav")
    started = {e["response_id"]: e["t"] for e in events if e["type"] == Rec.PLAYBACK_STARTED}
    ended = {e["response_id"]: (e["t"], e["data"]["played_ms"])
             for e in events if e["type"] == Rec.PLAYBACK_ENDED}
    assert started and set(started) == set(ended)
    for rid, t in started.items():  # each response's audio is in the file from its playback.started on
        first = round(t * R)
        end_t, played_ms = ended[rid]
        assert np.any(heard[first: first + R // 10] != 0), rid
        assert abs(end_t - t - played_ms / 1000) < 0.002
    assert len(heard) <= round(max(t for t, _ in ended.values()) * R) + 1

    sent = samples(folder / "audio" / "candidate.wav")
    appends = [e for e in events if e["type"] == Rec.INPUT_APPEND]
    assert len(sent) == round(appends[-1]["t"] * R)  # the last chunk ends at its send time
    spoke = [e["data"]["audio_ms"] / 1000 for e in events if e["type"] == Rec.CANDIDATE_SPEECH_STARTED]
    first_send = appends[0]["t"] - appends[0]["data"]["audio_end_ms"] / 1000  # stream position 0
    assert spoke
    for s in spoke:  # the candidate's speech is in the file where the input stream had it
        i = round((first_send + s) * R)
        assert not np.any(sent[i - 240: i]) and np.any(sent[i: i + 240])

    both = load_session(folder).turns  # gap_audio_s joined by the loader
    stats = bland_altman(both)
    answered = both[(both["role"] == "interviewer") & both["gap_s"].notna()]
    assert stats.n == len(answered) >= 2  # every answer's gap was measured from the audio too
    assert (answered["gap_audio_s"] - answered["gap_s"]).abs().max() <= 0.01  # within one frame
    candidate = both[both["role"] == "candidate"]  # and the candidate's replies, which no event times
    assert candidate["gap_audio_s"].notna().all() and (candidate["gap_audio_s"] > 0).all()
    assert read_speech(folder).status == "recorded"
    print(f"\nrecorded interview: {stats}")


@IN_MEMORY
async def test_record_audio_off_keeps_no_audio(tmp_path: Path) -> None:
    run = await run_in_memory(real_time("default", questions=1), tmp_path, record_audio=False)
    assert not (run.folder / "audio").exists()
    assert load_session(run.folder).turns["gap_audio_s"].isna().all()


class _FailingWav:
    """A wave writer whose disk fills up after `ok` writes."""

    def __init__(self, real: wave.Wave_write, ok: int, calls: list[int]) -> None:
        self._real, self._ok, self._calls = real, ok, calls

    def writeframesraw(self, data: bytes) -> None:
        self._calls.append(len(data))
        if len(self._calls) > self._ok:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._real.writeframesraw(data)

    def writeframes(self, data: bytes) -> None:
        self._real.writeframes(data)

    def close(self) -> None:
        self._real.close()


async def test_a_disk_error_is_reported_once_and_recording_stops_without_raising(tmp_path: Path) -> None:
    errors: list[OSError] = []
    recorder = SessionRecorder(tmp_path, t0=loop_time(), on_error=errors.append)
    calls: list[int] = []
    writer = recorder._writer
    writer._wavs = {k: _FailingWav(w, 3, calls) for k, w in writer._wavs.items()}  # type: ignore[misc]
    for _ in range(20):
        recorder.sent(tone(0.04))  # never raises, whatever the disk does
    await asyncio.sleep(0)
    for _ in range(50):  # the writer thread reports through the loop
        if errors:
            break
        await asyncio.sleep(0.01)
    recorder.sent(tone(0.04))
    recorder.close()
    await asyncio.sleep(0.01)
    assert len(errors) == 1 and errors[0].errno == errno.ENOSPC
    assert not recorder.recording
    info = json.loads((tmp_path / "audio" / "recording.json").read_text())
    assert "No space left" in info["error"]
    assert len(samples(tmp_path / "audio" / "candidate.wav")) == 3 * round(0.04 * R)  # what did get written


async def test_a_folder_that_cannot_be_written_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "session"
    blocker.mkdir()
    (blocker / "audio").write_text("not a folder")
    errors: list[OSError] = []
    recorder = SessionRecorder(blocker, t0=loop_time(), on_error=errors.append)
    recorder.sent(tone(0.04))
    recorder.heard("r1", tone(0.04), loop_time())
    recorder.close()
    assert len(errors) == 1 and not recorder.recording


async def test_a_disk_that_stalls_never_blocks_the_loop_and_ends_the_recording(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rec_mod, "MAX_BACKLOG_BYTES", 100_000)
    errors: list[OSError] = []
    recorder = SessionRecorder(tmp_path, t0=loop_time(), on_error=errors.append)
    stalled = threading.Event()
    real = recorder._writer._wavs["candidate"]

    class Stuck:
        def writeframesraw(self, data: bytes) -> None:
            stalled.wait(10)
            real.writeframesraw(data)

        def writeframes(self, data: bytes) -> None:
            real.writeframes(data)

        def close(self) -> None:
            real.close()

    recorder._writer._wavs["candidate"] = Stuck()  # type: ignore[assignment]
    for _ in range(100):  # 192 kB of audio for a disk that takes nothing: the loop goes on
        recorder.sent(tone(0.04))
    assert len(errors) == 1 and isinstance(errors[0], RecordingBacklogError)
    stalled.set()
    recorder.close()
    assert "did not keep up" in json.loads((tmp_path / "audio" / "recording.json").read_text())["error"]


def _write_some(folder: Path) -> SessionRecorder:
    recorder = SessionRecorder(folder, t0=0.0, clock=lambda: clock[0])
    for k in range(1, 26):
        clock[0] = 0.04 * k
        recorder.sent(synthesize("one two three", 150)[: 1920])
    return recorder


clock = [0.0]


def test_a_file_cut_by_a_crash_reads_up_to_the_cut(tmp_path: Path) -> None:
    recorder = _write_some(tmp_path / "a")
    for _ in range(200):  # let the writer thread catch up, as it does between two chunks
        if recorder._writer.backlog == 0 and recorder._writer.written["candidate"] == 25 * 960:
            break
        threading.Event().wait(0.01)
    crashed = tmp_path / "crashed.wav"
    shutil.copyfile(tmp_path / "a" / "audio" / "candidate.wav", crashed)  # the file as a kill leaves it
    recorder.close()
    assert len(samples(crashed)) == 25 * 960  # the header is patched after every write

    cut = tmp_path / "cut.wav"  # a power cut: data past the header's size, half a sample at the end
    data = bytearray(crashed.read_bytes()[:-1001])
    data[40:44] = struct.pack("<I", 0)  # the header never patched
    cut.write_bytes(bytes(data))
    x = samples(cut)
    assert len(x) == (25 * 960 * 2 - 1001) // 2
    assert np.array_equal(x, samples(crashed)[: len(x)])
    with pytest.raises(ValueError, match="no data chunk"):
        (tmp_path / "head.wav").write_bytes(crashed.read_bytes()[:36])
        read_track(tmp_path / "head.wav")


class _FakeSpeaker:
    """sounddevice's RawOutputStream as far as SpeakerOutput uses it; the test drives the callback."""

    latency = 0.1  # the device plays a sample 100 ms after it was handed over

    def __init__(self, **kwargs: object) -> None:
        self.callback = kwargs["callback"]

    def start(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_a_sound_card_track_holds_what_was_heard_after_the_device_latency(tmp_path: Path) -> None:
    from interview_kit.audio import SpeakerOutput

    now = [1.0]
    streams: list[_FakeSpeaker] = []
    out = SpeakerOutput(None, stream_factory=lambda **kw: streams.append(_FakeSpeaker(**kw)) or streams[-1],
                        clock=lambda: now[0])
    await out.start()
    recorder = SessionRecorder(tmp_path, t0=0.0, clock=lambda: now[0])
    recorder.attach(output=out)
    out.enqueue("r1", tone(1.0, 1000))
    block = bytearray(2400 * 2)
    streams[0].callback(block, 2400, None, None)  # handed at 1.0, heard 1.1 .. 1.2
    now[0] = 1.1
    streams[0].callback(block, 2400, None, None)  # handed at 1.1, would be heard 1.2 .. 1.3
    now[0] = 1.25
    _rid, played_ms = out.interrupt()  # a barge-in at 1.25: 150 ms were heard
    now[0] = 2.0
    await out.close()
    recorder.close()
    heard = samples(tmp_path / "audio" / "interviewer.wav")
    assert played_ms == 150
    assert nonzero_runs(heard) == [(round(1.1 * R), round(1.25 * R))]  # as the tracker says: 150 ms


@IN_MEMORY
async def test_an_input_restarted_later_is_placed_where_it_began_again(tmp_path: Path) -> None:
    voice = ScriptedVoiceInput(1.0)
    recorder = SessionRecorder(tmp_path, t0=loop_time())
    recorder.attach(voice)
    for start, stop, level in ((0.0, 0.4, 1000), (1.0, 1.4, 2000)):  # chunks() run twice, 0.6 s apart
        await asyncio.sleep(start - (loop_time() - recorder.t0))
        voice.say(tone(0.4, level))
        async for _chunk in voice.chunks():
            if loop_time() - recorder.t0 >= stop - 1e-9:
                break
    recorder.close()
    sent = samples(tmp_path / "audio" / "candidate.wav")
    assert nonzero_runs(sent) == [(0, round(0.4 * R)), (R, round(1.4 * R))]


@IN_MEMORY
async def test_a_barge_in_ends_the_interviewers_track_where_it_was_cut(tmp_path: Path) -> None:
    from interview_kit.assessment import HeuristicAssessor
    from interview_kit.emulator import serve_in_memory

    scenario = real_time("default")
    config = SessionConfig(api_key=FAKE_KEY, out_dir=tmp_path, speed=1.0, language=scenario.language,
                           record_audio=False).with_overrides(scenario.client)
    voice = ScriptedVoiceInput(1.0)
    output = VirtualOutput(None, clock=loop_time)
    session = InterviewSession(config, transport=InMemoryTransport(serve=serve_in_memory(scenario)),
                               assessor=HeuristicAssessor(), input=voice, output=output)
    made: list[SessionRecorder] = []
    question = synthesize("Sorry, one question first?", 150)

    def listen(record: dict) -> None:
        if record["type"] == Rec.SESSION_STARTED:
            assert session.folder is not None
            made.append(SessionRecorder(session.folder, t0=loop_time() - record["t"]))
            made[0].attach(voice, output)
        elif record["type"] == Rec.PLAYBACK_STARTED and not voice.speaking:  # talk over the greeting
            asyncio.get_running_loop().call_later(2.0, voice.say, question)
        elif record["type"] == "conversation.item.truncate":
            asyncio.get_running_loop().call_later(0.5, session.stop)

    session.add_listener(listen)
    result = await asyncio.wait_for(session.run(), LOOP_RUN_TIMEOUT)
    await made[0].aclose()
    events = [json.loads(line) for line in (result.folder / "events.jsonl").read_text().splitlines()]
    ended = next(e for e in events if e["type"] == Rec.PLAYBACK_ENDED)
    started = next(e for e in events if e["type"] == Rec.PLAYBACK_STARTED)
    assert ended["data"]["truncated"] is True
    heard = samples(result.folder / "audio" / "interviewer.wav")
    last = np.flatnonzero(heard)[-1] + 1
    assert last <= round(ended["t"] * R) + 1  # nothing after the cut
    assert abs(last / R - started["t"] - ended["data"]["played_ms"] / 1000) < 0.1  # up to it (bar a word gap)
    turns = load_session(result.folder).turns
    gaps = turns.assign(**audio_gaps(result.folder, turns))
    cut_in = gaps[(gaps["role"] == "candidate") & gaps["barge_in"]]
    assert len(cut_in) == 1 and cut_in["gap_audio_s"].iloc[0] < 0  # the candidate spoke over the interviewer


async def test_too_little_free_space_stops_the_recording_not_the_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[OSError] = []
    monkeypatch.setattr(rec_mod, "MIN_FREE_BYTES", 1 << 62)  # no disk has that much free
    recorder = SessionRecorder(tmp_path / "full", t0=loop_time(), on_error=errors.append)
    recorder.sent(tone(0.04))
    recorder.close()
    assert len(errors) == 1 and errors[0].errno == errno.ENOSPC and "kept for" in str(errors[0])
    assert not (tmp_path / "full" / "audio" / "candidate.wav").exists()
    assert read_speech(tmp_path / "full").status == "failed"

    monkeypatch.setattr(rec_mod, "MIN_FREE_BYTES", 0)  # room at the start, none after the first MB
    monkeypatch.setattr(rec_mod, "SPACE_CHECK_BYTES", 100_000)
    errors.clear()
    recorder = SessionRecorder(tmp_path / "filling", t0=loop_time(), on_error=errors.append)
    monkeypatch.setattr(rec_mod, "MIN_FREE_BYTES", 1 << 62)
    for _ in range(60):  # 115 kB: past the next check
        recorder.sent(tone(0.04))
    recorder.close()
    await asyncio.sleep(0)
    assert len(errors) == 1 and isinstance(errors[0], rec_mod.RecordingSpaceError)
    written = len(samples(tmp_path / "filling" / "audio" / "candidate.wav")) * 2
    assert 100_000 <= written < 60 * 1920  # stopped at the check, what was written kept
