"""Audio in and out: speakers, a virtual (clock-paced) output, microphone, files, silence, a scripted voice.

PCM16 little-endian mono at 24 kHz everywhere (`interview_kit.voice.SAMPLE_RATE`). The assessment flow
needs to know when a response has been *heard*, not received: the `PlaybackTracker` knows, per response
id, when its last sample is played (device latency included) and tells the session on its event loop.
``sounddevice`` is imported lazily, so that everything else runs on machines without PortAudio.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import threading
import time
import wave
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interview_kit.voice import BYTES_PER_SAMPLE, SAMPLE_RATE

log = logging.getLogger(__name__)

#: ``on_event(kind, response_id, t, info)``, called on the asyncio loop; `t` is ``time.monotonic()``.
PlaybackEvent = Callable[[str, str, float, dict], None]
#: ``on_speech(kind, position_ms)`` with kind "candidate.speech_started" / "candidate.speech_ended".
SpeechEvent = Callable[[str, float], None]

PLAYBACK_STARTED = "playback.started"
PLAYBACK_ENDED = "playback.ended"
SPEECH_STARTED = "candidate.speech_started"
SPEECH_ENDED = "candidate.speech_ended"

_INSTALL_HINT = (
    "install PortAudio: `apt-get install libportaudio2` (Debian/Ubuntu) or `brew install portaudio` (macOS)"
)
_OUTPUT_FALLBACK = "without a sound card, use --virtual (VirtualOutput) instead"
_INPUT_FALLBACK = "without a microphone, use a file (FileInput) or silence (SilenceInput) as input"


class AudioDeviceError(RuntimeError):
    """No usable sound device or no PortAudio; the message says what to install and what the fallback is."""


class AudioFormatError(ValueError):
    """An audio file that is not PCM16 mono 24 kHz; the message names the file and how to convert it."""


def samples_to_ms(samples: int) -> int:
    """Whole ms of `samples` at 24 kHz (the unit of ``conversation.item.truncate``'s audio_end_ms)."""
    return round(samples * 1000 / SAMPLE_RATE)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _import_sounddevice(fallback: str) -> Any:
    """Import sounddevice, turning a missing PortAudio into an `AudioDeviceError` that says what to do."""
    try:
        import sounddevice
    except OSError:
        raise AudioDeviceError(f"the PortAudio library was not found; {_INSTALL_HINT}; {fallback}") from None
    except ImportError:
        raise AudioDeviceError(
            f"the sounddevice package is not installed (`pip install sounddevice`), and it needs PortAudio: "
            f"{_INSTALL_HINT}; {fallback}"
        ) from None
    return sounddevice


def check_output_device(device: int | str | None = None) -> None:
    """Raise `AudioDeviceError` unless a PCM16 24 kHz mono output stream can be opened on `device`."""
    sd = _import_sounddevice(_OUTPUT_FALLBACK)
    try:
        sd.check_output_settings(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
    except Exception as exc:
        raise AudioDeviceError(f"no usable audio output device ({exc}); {_OUTPUT_FALLBACK}") from None


def check_input_device(device: int | str | None = None) -> None:
    """Raise `AudioDeviceError` unless a PCM16 24 kHz mono input stream can be opened on `device`."""
    sd = _import_sounddevice(_INPUT_FALLBACK)
    try:
        sd.check_input_settings(device=device, channels=1, dtype="int16", samplerate=SAMPLE_RATE)
    except Exception as exc:
        raise AudioDeviceError(f"no usable microphone ({exc}); {_INPUT_FALLBACK}") from None


# ---------------------------------------------------------------------------------------------
# Playback bookkeeping


@dataclass
class _Response:
    rid: str
    queued: int = 0  # samples the server sent
    handed: int = 0  # samples handed to the output (heard from `first_at` on, back to back)
    first_at: float | None = None
    last_end: float = 0.0  # clock time at which the last handed sample has been heard
    finished: bool = False  # the server has sent its last audio
    ended_at: float | None = None  # t of the ended event (emitted or pending)
    end_delivered: bool = False  # the ended event has been handed to on_event: final
    played_ms: int = 0


@dataclass(order=True)
class _Pending:
    t: float
    rank: int  # ended (0) before started (1) at the same instant
    seq: int
    kind: str = field(compare=False)
    rid: str = field(compare=False)
    info: dict = field(compare=False)


class PlaybackTracker:
    """Per response id: samples queued, handed to the output, finished flag; emits started/ended events.

    Thread-safe: a device callback thread calls `played`; the loop calls the rest. Events are delivered on
    the bound asyncio loop at their moment (``playback.ended`` of audio still in the device buffer waits
    until its `t`), in order, each response ending exactly once. Without a loop (plain synchronous use)
    events are delivered at once, from the calling thread.
    """

    def __init__(
        self,
        on_event: PlaybackEvent | None,
        *,
        speed: float = 1.0,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.on_event = on_event
        self.rate = SAMPLE_RATE * speed  # samples heard per clock second
        self._loop = loop
        self._clock = clock
        self._lock = threading.RLock()
        self._responses: dict[str, _Response] = {}
        self._active: list[str] = []  # responses not yet over, in the order first seen
        self._pending: list[_Pending] = []
        self._seq = 0
        self._kicked = False
        self._timer: asyncio.TimerHandle | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver events on `loop` from now on."""
        self._loop = loop

    # -- inputs ----------------------------------------------------------------------------------
    def queued(self, rid: str, n: int) -> None:
        """`n` more samples of `rid` arrived from the server."""
        with self._lock:
            r = self._get(rid)
            if r.ended_at is None:
                r.queued += n

    def played(self, rid: str, n: int, at: float) -> None:
        """`n` samples of `rid` were handed to the output; the first of them is heard at clock time `at`."""
        if n <= 0:
            return
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None:
                return
            if r.handed == 0:
                r.first_at = at
                self._push(at, PLAYBACK_STARTED, rid, {})
            r.handed += n
            r.queued = max(r.queued, r.handed)
            r.last_end = at + n / self.rate
            self._maybe_end(r)
        self._kick()

    def finished(self, rid: str) -> None:
        """The server has sent the last audio of `rid` (``response.output_audio.done``/``response.done``)."""
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None or r.finished:
                return
            r.finished = True
            self._maybe_end(r)
        self._kick()

    def truncate(self, rid: str, at: float) -> int:
        """Stop `rid` at clock time `at`: it ends there with truncated=True; returns the ms heard by then.

        A response already over by `at` keeps its ending and returns its played ms.
        """
        with self._lock:
            r = self._get(rid)
            if r.ended_at is not None and (r.end_delivered or r.ended_at <= at):
                return r.played_ms
            heard = self.heard_samples(rid, at)
            self._pending = [p for p in self._pending if not (p.rid == rid and (p.kind == PLAYBACK_ENDED
                                                                                 or p.t > at))]
            r.ended_at = at
            r.played_ms = samples_to_ms(heard)
            r.finished = True
            self._push(at, PLAYBACK_ENDED, rid, {"played_ms": r.played_ms, "truncated": True})
            with contextlib.suppress(ValueError):
                self._active.remove(rid)
        self._kick()
        return r.played_ms

    # -- queries ---------------------------------------------------------------------------------
    def heard_samples(self, rid: str, at: float) -> int:
        """Samples of `rid` heard by clock time `at` (its handed samples play back to back)."""
        with self._lock:
            r = self._responses.get(rid)
            if r is None or r.handed == 0:
                return 0
            not_yet = max(0.0, r.last_end - at) * self.rate
            return max(0, min(r.handed, int(r.handed - not_yet)))

    def is_ended(self, rid: str) -> bool:
        """True once `rid` has an ending (played out, or truncated), even if its event is still due."""
        with self._lock:
            r = self._responses.get(rid)
            return r is not None and r.ended_at is not None

    def active(self, at: float | None = None) -> list[str]:
        """Responses not over at `at` (default now), in the order they were first seen."""
        at = self._clock() if at is None else at
        with self._lock:
            return [rid for rid in self._active if self._not_over(rid, at)]

    def current(self, at: float | None = None) -> str | None:
        """The response being played (or next to play) at `at`, or None when the output is idle."""
        active = self.active(at)
        return active[0] if active else None

    # -- internals -------------------------------------------------------------------------------
    def _not_over(self, rid: str, at: float) -> bool:
        r = self._responses[rid]
        return r.ended_at is None or r.ended_at > at

    def _get(self, rid: str) -> _Response:
        r = self._responses.get(rid)
        if r is None:
            r = self._responses[rid] = _Response(rid)
            self._active.append(rid)
        return r

    def _maybe_end(self, r: _Response) -> None:
        if not r.finished or r.handed < r.queued or r.ended_at is not None:
            return
        if r.handed == 0:
            r.ended_at = self._clock()
        else:
            r.ended_at = r.last_end
        r.played_ms = samples_to_ms(r.handed)
        self._push(r.ended_at, PLAYBACK_ENDED, r.rid, {"played_ms": r.played_ms, "truncated": False})
        if r.ended_at <= self._clock():
            with contextlib.suppress(ValueError):
                self._active.remove(r.rid)

    def _push(self, t: float, kind: str, rid: str, info: dict) -> None:
        self._seq += 1
        rank = 0 if kind == PLAYBACK_ENDED else 1
        bisect.insort(self._pending, _Pending(t, rank, self._seq, kind, rid, info))

    def _kick(self) -> None:
        loop = self._loop or _running_loop()
        if loop is None:
            self._deliver(self._take(everything=True))
            return
        with self._lock:
            if self._kicked or not self._pending:
                return
            self._kicked = True
        try:
            loop.call_soon_threadsafe(self._drain, loop)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            with self._lock:
                self._kicked = False

    def _take(self, *, everything: bool = False) -> list[_Pending]:
        with self._lock:
            if everything:
                due, self._pending = self._pending, []
            else:
                now = self._clock() + 1e-3
                i = 0
                while i < len(self._pending) and self._pending[i].t <= now:
                    i += 1
                due, self._pending = self._pending[:i], self._pending[i:]
            for p in due:
                if p.kind == PLAYBACK_ENDED:
                    self._responses[p.rid].end_delivered = True
                    with contextlib.suppress(ValueError):
                        self._active.remove(p.rid)
            return due

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            self._kicked = False
        self._deliver(self._take())
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending:
                delay = max(0.0, self._pending[0].t - self._clock())
                self._timer = loop.call_later(delay, self._drain, loop)

    def _deliver(self, events: list[_Pending]) -> None:
        if self.on_event is None:
            return
        for p in events:
            try:
                self.on_event(p.kind, p.rid, p.t, dict(p.info))
            except Exception:
                log.exception("playback event handler raised on %s %s", p.kind, p.rid)


# ---------------------------------------------------------------------------------------------
# Outputs


class AudioOutput:
    """Plays responses in the order their audio is enqueued and reports, per response, when it was heard."""

    def __init__(self, on_event: PlaybackEvent | None, *, speed: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._clock = clock
        self.tracker = PlaybackTracker(on_event, speed=speed, clock=clock)
        self._closed = False

    async def start(self) -> None:
        """Bind to the running loop (and open the device, for real outputs)."""
        self.tracker.bind(asyncio.get_running_loop())

    async def close(self) -> None:
        """Stop playing; nothing more is heard. Safe to call more than once."""
        self._closed = True

    def enqueue(self, response_id: str, pcm: bytes) -> None:
        """Queue PCM16 audio of a response (a decoded ``response.output_audio.delta``)."""
        raise NotImplementedError

    def finish(self, response_id: str) -> None:
        """The server has sent the last audio of this response; it ends once all of it has been heard."""
        self.tracker.finished(response_id)

    def interrupt(self) -> tuple[str | None, int]:
        """Stop now and drop everything queued (barge-in).

        Returns the response that was playing and how many ms of it were heard: the `audio_end_ms` of
        ``conversation.item.truncate``. Every response cut short ends with truncated=True.
        """
        raise NotImplementedError

    @property
    def playing_response_id(self) -> str | None:
        """The response being heard (or about to be), None when idle."""
        return self.tracker.current()

    def _samples(self, response_id: str, pcm: bytes) -> int | None:
        """Sample count of `pcm`, or None if the chunk is to be dropped (closed, or response already over)."""
        if self._closed:
            log.debug("audio for %s after close: dropped", response_id)
            return None
        if self.tracker.is_ended(response_id):
            log.debug("audio for %s after it ended (interrupted): dropped", response_id)
            return None
        if len(pcm) % BYTES_PER_SAMPLE:
            log.warning("odd-length PCM16 chunk for %s (%d bytes): last byte dropped", response_id, len(pcm))
        return len(pcm) // BYTES_PER_SAMPLE

    def _truncate_active(self, at: float) -> tuple[str | None, int]:
        rid = self.tracker.current(at)
        played_ms = 0
        for other in self.tracker.active(at):
            ms = self.tracker.truncate(other, at)
            if other == rid:
                played_ms = ms
        return rid, played_ms


class VirtualOutput(AudioOutput):
    """No device: audio "plays" at real time by the clock (divided by `speed`), back to back.

    Each chunk is scheduled when enqueued at an absolute time (the end of the previous one, or now when
    idle), so no drift accumulates; the tracker's loop timers deliver the events at those times. With
    `wav_path`, what was heard is written as a WAV on the session's timeline (silence between responses).
    """

    def __init__(self, on_event: PlaybackEvent | None, *, speed: float = 1.0,
                 wav_path: Path | str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(on_event, speed=speed, clock=clock)
        self.wav_path = Path(wav_path) if wav_path is not None else None
        self._cursor = 0.0  # clock time at which the last scheduled sample has been heard
        self._wav: wave.Wave_write | None = None
        self._wav_origin: float | None = None  # clock time of the WAV's first sample
        self._wav_samples = 0
        self._scheduled: deque[tuple[float, bytes]] = deque()  # (start, pcm) not yet written to the WAV

    async def start(self) -> None:
        await super().start()
        if self.wav_path is not None and self._wav is None:
            self.wav_path.parent.mkdir(parents=True, exist_ok=True)
            wav = wave.open(str(self.wav_path), "wb")
            wav.setnchannels(1)
            wav.setsampwidth(BYTES_PER_SAMPLE)
            wav.setframerate(SAMPLE_RATE)
            self._wav = wav
            self._wav_origin = self._clock()

    def enqueue(self, response_id: str, pcm: bytes) -> None:
        n = self._samples(response_id, pcm)
        if not n:
            return
        start = max(self._cursor, self._clock())
        self.tracker.queued(response_id, n)
        self.tracker.played(response_id, n, start)
        self._cursor = start + n / self.tracker.rate
        if self._wav is not None:
            self._scheduled.append((start, bytes(pcm[: n * BYTES_PER_SAMPLE])))
            self._write_heard(self._clock())

    def interrupt(self) -> tuple[str | None, int]:
        at = self._clock()
        result = self._truncate_active(at)
        self._cursor = at
        if self._wav is not None:
            self._write_heard(at, drop_rest=True)
        return result

    async def close(self) -> None:
        if self._closed:
            return
        at = self._clock()
        self._truncate_active(at)  # whatever is still due is not heard any more
        if self._wav is not None:
            self._write_heard(at, drop_rest=True)
            self._wav.close()
            self._wav = None
        await super().close()

    def _write_heard(self, until: float, *, drop_rest: bool = False) -> None:
        """Append to the WAV every scheduled sample heard by `until` (with the silence before it)."""
        assert self._wav is not None and self._wav_origin is not None
        rate = self.tracker.rate
        while self._scheduled:
            start, pcm = self._scheduled[0]
            n = len(pcm) // BYTES_PER_SAMPLE
            end = start + n / rate
            if end <= until:
                take = n
            elif drop_rest:
                take = max(0, min(n, int((until - start) * rate)))
            else:
                break
            first = round((start - self._wav_origin) * rate)
            if first > self._wav_samples:
                self._wav.writeframes(bytes((first - self._wav_samples) * BYTES_PER_SAMPLE))
                self._wav_samples = first
            if take:
                self._wav.writeframes(pcm[: take * BYTES_PER_SAMPLE])
                self._wav_samples += take
            self._scheduled.popleft()
        if drop_rest:
            self._scheduled.clear()


class SpeakerOutput(AudioOutput):
    """The sound card, through a sounddevice ``RawOutputStream`` whose callback pulls queued audio.

    The callback thread tells the tracker what it handed to the device and when that will be heard
    (``stream.latency`` later), so ``playback.ended`` includes the device latency. `stream_factory`
    replaces ``sounddevice.RawOutputStream`` (same keyword arguments), for tests at the device boundary.
    """

    def __init__(self, on_event: PlaybackEvent | None, *, device: int | str | None = None,
                 blocksize: int = 0, latency: str | float = "low",
                 stream_factory: Callable[..., Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(on_event, speed=1.0, clock=clock)
        self.device = device
        self.blocksize = blocksize
        self.latency = latency
        self._stream_factory = stream_factory
        self._stream: Any = None
        self._lock = threading.Lock()
        self._chunks: deque[list[Any]] = deque()  # [response_id, memoryview, offset in bytes]
        self.underflows = 0

    async def start(self) -> None:
        await super().start()
        if self._stream is not None:
            return
        factory = self._stream_factory
        if factory is None:
            sd = _import_sounddevice(_OUTPUT_FALLBACK)
            check_output_device(self.device)
            factory = sd.RawOutputStream
        try:
            self._stream = factory(samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=self.device,
                                   blocksize=self.blocksize, latency=self.latency, callback=self._callback)
            self._stream.start()
        except AudioDeviceError:
            raise
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"could not open the audio output ({exc}); {_OUTPUT_FALLBACK}") from None

    def device_latency(self) -> float:
        """Seconds from handing a sample to the device to hearing it (``stream.latency``)."""
        lat = getattr(self._stream, "latency", 0.0) if self._stream is not None else 0.0
        if isinstance(lat, tuple | list):
            lat = lat[-1]
        try:
            return max(0.0, float(lat))
        except (TypeError, ValueError):
            return 0.0

    def enqueue(self, response_id: str, pcm: bytes) -> None:
        n = self._samples(response_id, pcm)
        if not n:
            return
        self.tracker.queued(response_id, n)
        with self._lock:
            self._chunks.append([response_id, memoryview(bytes(pcm[: n * BYTES_PER_SAMPLE])), 0])

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        """The device wants `frames` samples: hand over queued audio, pad with silence, tell the tracker."""
        if status:
            self.underflows += 1
            log.debug("audio output status: %s", status)
        want = frames * BYTES_PER_SAMPLE
        heard_at = self._clock() + self.device_latency()
        handed: list[tuple[str, int, int]] = []  # (response id, samples, offset in samples)
        filled = 0
        with self._lock:
            while filled < want and self._chunks:
                chunk = self._chunks[0]
                rid, view, offset = chunk
                take = min(want - filled, len(view) - offset)
                outdata[filled: filled + take] = view[offset: offset + take]
                handed.append((rid, take // BYTES_PER_SAMPLE, filled // BYTES_PER_SAMPLE))
                filled += take
                chunk[2] = offset + take
                if chunk[2] >= len(view):
                    self._chunks.popleft()
        if filled < want:
            outdata[filled:want] = bytes(want - filled)
        for rid, n, offset in handed:
            self.tracker.played(rid, n, heard_at + offset / SAMPLE_RATE)

    def interrupt(self) -> tuple[str | None, int]:
        with self._lock:
            self._chunks.clear()
        return self._truncate_active(self._clock())

    async def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._chunks.clear()
        self._truncate_active(self._clock())
        stream, self._stream = self._stream, None
        if stream is not None:
            def _shut() -> None:
                with contextlib.suppress(Exception):
                    stream.abort()
                with contextlib.suppress(Exception):
                    stream.close()
            try:
                await asyncio.wait_for(asyncio.to_thread(_shut), timeout=2.0)
            except TimeoutError:
                log.warning("the audio output did not close within 2 s")
        await super().close()


# ---------------------------------------------------------------------------------------------
# Inputs


DEVICE_CLOSE_TIMEOUT = 2.0  # seconds a device's abort/close may take (PortAudio can hang) before we move on


class _Closing:
    """What `AudioInput.close()` returns: awaiting it waits (bounded) until the device is shut, if any."""

    def __init__(self, shut: threading.Event | None = None) -> None:
        self._shut = shut

    def __await__(self) -> Generator[Any, None, None]:
        if self._shut is None or self._shut.is_set():
            return iter(())
        return self._wait().__await__()

    async def _wait(self) -> None:
        assert self._shut is not None
        if not await asyncio.to_thread(self._shut.wait, DEVICE_CLOSE_TIMEOUT):
            log.warning("the microphone did not close within %.0f s", DEVICE_CLOSE_TIMEOUT)


class AudioInput:
    """A source of PCM16 chunks of `chunk_ms`, paced at real time / `speed` on an absolute schedule.

    `chunks()` yields forever until `close()`. While `muted`, silence of the same length is yielded in
    place of the audio (the source still advances). `position_ms` is the input stream position: ms of
    audio yielded so far, the clock the server's ``audio_start_ms`` / ``audio_end_ms`` count in.
    """

    def __init__(self, *, speed: float = 1.0, chunk_ms: int = 40,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        if chunk_ms <= 0 or (chunk_ms * SAMPLE_RATE) % 1000:
            raise ValueError(f"chunk_ms must be a whole number of samples at 24 kHz, got {chunk_ms!r}")
        self.speed = speed
        self.chunk_ms = chunk_ms
        self.chunk_samples = chunk_ms * SAMPLE_RATE // 1000
        self.muted = False
        self._clock = clock
        self._samples_yielded = 0
        self._closed = False

    @property
    def position_ms(self) -> float:
        return self._samples_yielded * 1000 / SAMPLE_RATE

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> _Closing:
        """Stop `chunks()` (within one chunk period). Synchronous; awaiting the result is allowed too."""
        self._closed = True
        return _Closing()

    def _read(self, nbytes: int) -> bytes:
        """The next `nbytes` of audio (subclasses); called on the loop just before the chunk is yielded."""
        return bytes(nbytes)

    async def chunks(self) -> AsyncIterator[bytes]:
        nbytes = self.chunk_samples * BYTES_PER_SAMPLE
        period = self.chunk_ms / 1000 / self.speed
        origin = self._clock()
        k = 0
        while not self._closed:
            k += 1
            delay = origin + k * period - self._clock()  # a chunk is ready once its last sample is recorded
            if delay > 0:
                await asyncio.sleep(delay)
            if self._closed:
                break
            chunk = self._read(nbytes)
            self._samples_yielded += self.chunk_samples
            yield bytes(nbytes) if self.muted else chunk


class SilenceInput(AudioInput):
    """Digital silence at the pace of a microphone (an unattended run with nobody speaking)."""

    def __init__(self, speed: float = 1.0, *, chunk_ms: int = 40) -> None:
        super().__init__(speed=speed, chunk_ms=chunk_ms)


def read_pcm_file(path: Path | str) -> bytes:
    """PCM16 mono 24 kHz samples of a ``.wav`` or raw ``.pcm`` file, or a clear `AudioFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    convert = f"convert it with: ffmpeg -i {path.name} -ac 1 -ar {SAMPLE_RATE} -c:a pcm_s16le out.wav"
    suffix = path.suffix.lower()
    if suffix == ".pcm":
        data = path.read_bytes()
        if len(data) % BYTES_PER_SAMPLE:
            raise AudioFormatError(
                f"{path}: raw PCM16 ({SAMPLE_RATE} Hz mono) needs an even number of bytes, has {len(data)}"
            )
        return data
    if suffix != ".wav":
        raise AudioFormatError(f"{path}: expected a .wav or raw PCM16 24 kHz mono .pcm file; {convert}")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            if (channels, width, rate) != (1, BYTES_PER_SAMPLE, SAMPLE_RATE):
                raise AudioFormatError(
                    f"{path}: {rate} Hz, {channels} channel(s), {8 * width}-bit; need {SAMPLE_RATE} Hz mono "
                    f"16-bit PCM; {convert}"
                )
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc}); {convert}") from None


class FileInput(AudioInput):
    """A WAV (PCM16 mono 24 kHz) or raw ``.pcm`` file played as if into a microphone, then silence."""

    def __init__(self, path: Path | str, speed: float = 1.0, *, chunk_ms: int = 40) -> None:
        super().__init__(speed=speed, chunk_ms=chunk_ms)
        self.path = Path(path)
        self._data = read_pcm_file(self.path)
        self._offset = 0

    @property
    def finished(self) -> bool:
        """True once the whole file has been yielded (only silence follows)."""
        return self._offset >= len(self._data)

    def _read(self, nbytes: int) -> bytes:
        piece = self._data[self._offset: self._offset + nbytes]
        self._offset += len(piece)
        return piece + bytes(nbytes - len(piece))


class ScriptedVoiceInput(AudioInput):
    """The simulated candidate's microphone: silence until `say(pcm)`, then that speech, at the pace.

    `on_speech(kind, position_ms)` is called on the loop when speech starts and when it ends being
    yielded, with the input stream position of that exact sample. Speech queued while speaking continues
    the same utterance. `speaking` is True from `say()` until the last sample has been yielded.
    """

    def __init__(self, speed: float = 1.0, on_speech: SpeechEvent | None = None, *,
                 chunk_ms: int = 40) -> None:
        super().__init__(speed=speed, chunk_ms=chunk_ms)
        self.on_speech = on_speech
        self._speech: deque[bytes] = deque()
        self._head = 0  # bytes of _speech[0] already yielded
        self._in_speech = False

    @property
    def speaking(self) -> bool:
        return self._in_speech or bool(self._speech)

    def say(self, pcm: bytes) -> None:
        """Queue speech (PCM16 24 kHz mono); returns at once."""
        pcm = bytes(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE])
        if pcm:
            self._speech.append(pcm)

    def stop_speaking(self) -> None:
        """Drop the speech not yet yielded; an utterance in progress ends at the current position."""
        self._speech.clear()
        self._head = 0
        if self._in_speech:
            self._in_speech = False
            self._emit(SPEECH_ENDED, self.position_ms)

    def _emit(self, kind: str, position_ms: float) -> None:
        if self.on_speech is None:
            return
        try:
            self.on_speech(kind, position_ms)
        except Exception:
            log.exception("on_speech handler raised on %s", kind)

    def _read(self, nbytes: int) -> bytes:
        if not self._speech:
            return bytes(nbytes)
        out = bytearray()
        while self._speech and len(out) < nbytes:
            head = self._speech[0]
            piece = head[self._head: self._head + nbytes - len(out)]
            out += piece
            self._head += len(piece)
            if self._head >= len(head):
                self._speech.popleft()
                self._head = 0
        start_samples = self._samples_yielded
        if not self._in_speech:
            self._in_speech = True
            self._emit(SPEECH_STARTED, start_samples * 1000 / SAMPLE_RATE)
        if not self._speech:
            self._in_speech = False
            end_samples = start_samples + len(out) // BYTES_PER_SAMPLE
            self._emit(SPEECH_ENDED, end_samples * 1000 / SAMPLE_RATE)
        return bytes(out) + bytes(nbytes - len(out))


class MicrophoneInput(AudioInput):
    """The microphone, through a sounddevice ``RawInputStream``; the device paces it (speed must be 1)."""

    def __init__(self, device: int | str | None = None, speed: float = 1.0, *, chunk_ms: int = 40,
                 stream_factory: Callable[..., Any] | None = None) -> None:
        if speed != 1.0:
            raise ValueError("a microphone records in real time: speed must be 1.0")
        super().__init__(speed=speed, chunk_ms=chunk_ms)
        self.device = device
        self._stream_factory = stream_factory
        self._stream: Any = None
        self._shut: threading.Event | None = None  # set once the device is shut, after close()
        self.overflows = 0

    def close(self) -> _Closing:
        """Stop at once; the device's abort/close (blocking PortAudio calls) run in a thread of their own,
        never on the loop. Await the result to wait for them (at most 2 s)."""
        stream, self._stream = self._stream, None
        super().close()
        if stream is None:
            return _Closing(self._shut)  # closed already: awaiting still waits for that shutdown
        shut = self._shut = threading.Event()

        def _shut() -> None:
            with contextlib.suppress(Exception):
                stream.abort()
            with contextlib.suppress(Exception):
                stream.close()
            shut.set()

        threading.Thread(target=_shut, name="microphone-close", daemon=True).start()
        return _Closing(shut)

    def _open(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
        factory = self._stream_factory
        if factory is None:
            sd = _import_sounddevice(_INPUT_FALLBACK)
            check_input_device(self.device)
            factory = sd.RawInputStream

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                self.overflows += 1
            data = bytes(indata)
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(queue.put_nowait, data)

        try:
            self._stream = factory(samplerate=SAMPLE_RATE, channels=1, dtype="int16", device=self.device,
                                   blocksize=self.chunk_samples, callback=callback)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"could not open the microphone ({exc}); {_INPUT_FALLBACK}") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._open(asyncio.get_running_loop(), queue)
        nbytes = self.chunk_samples * BYTES_PER_SAMPLE
        buf = bytearray()
        silent_for = 0.0
        try:
            while not self._closed:
                try:
                    buf += await asyncio.wait_for(queue.get(), timeout=1.0)
                    silent_for = 0.0
                except TimeoutError:
                    silent_for += 1.0
                    if silent_for >= 3.0:
                        log.warning("the microphone delivered nothing for %.0f s", silent_for)
                    continue
                while len(buf) >= nbytes and not self._closed:
                    chunk, buf = bytes(buf[:nbytes]), buf[nbytes:]
                    self._samples_yielded += self.chunk_samples
                    yield bytes(nbytes) if self.muted else chunk
        finally:
            self.close()
