"""Where the interviewer's audio goes: an `AudioOutput` plays responses in order and its `PlaybackTracker`
reports, per response, when it was heard.

- `VirtualOutput`: no device; audio "plays" by the clock at real time / speed, optionally into a WAV.
- `SpeakerOutput`: the sound card, through ``sounddevice`` (imported when it starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interview_kit.audio.devices import (
    DEVICE_CLOSE_TIMEOUT,
    OUTPUT_FALLBACK,
    AudioDeviceError,
    check_output_device,
    import_sounddevice,
)
from interview_kit.audio.format import BYTES_PER_SAMPLE, CHANNELS, SAMPLE_DTYPE, SAMPLE_RATE
from interview_kit.audio.tracker import PlaybackEvent, PlaybackTracker
from interview_kit.audio.wav import HeardAudioWav
from interview_kit.clock import loop_time

log = logging.getLogger(__name__)


class AudioOutput:
    """Plays responses in the order their audio is enqueued and reports, per response, when it was heard."""

    def __init__(self, on_event: PlaybackEvent | None, *, speed: float = 1.0,
                 clock: Callable[[], float] = loop_time) -> None:
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

    def received_ms(self, response_id: str) -> int:
        """Milliseconds of this response's audio received (enqueued), heard or not."""
        return self.tracker.received_ms(response_id)

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
                 wav_path: Path | str | None = None, clock: Callable[[], float] = loop_time) -> None:
        super().__init__(on_event, speed=speed, clock=clock)
        self.wav_path = Path(wav_path) if wav_path is not None else None
        self._cursor = 0.0  # clock time at which the last scheduled sample has been heard
        self._recording: HeardAudioWav | None = None

    async def start(self) -> None:
        await super().start()
        if self.wav_path is not None and self._recording is None:
            self._recording = HeardAudioWav(self.wav_path, rate=self.tracker.rate, clock=self._clock)

    def enqueue(self, response_id: str, pcm: bytes) -> None:
        n = self._samples(response_id, pcm)
        if not n:
            return
        start = max(self._cursor, self._clock())
        self.tracker.queued(response_id, n)
        self.tracker.played(response_id, n, start, pcm)
        self._cursor = start + n / self.tracker.rate
        if self._recording is not None:
            self._recording.schedule(start, pcm[: n * BYTES_PER_SAMPLE])
            self._recording.write_heard(self._clock())

    def interrupt(self) -> tuple[str | None, int]:
        at = self._clock()
        result = self._truncate_active(at)
        self._cursor = at
        if self._recording is not None:
            self._recording.write_heard(at, drop_rest=True)
        return result

    async def close(self) -> None:
        if self._closed:
            return
        at = self._clock()
        self._truncate_active(at)  # whatever is still due is not heard any more
        if self._recording is not None:
            self._recording.close(at)
            self._recording = None
        await super().close()


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
            sd = import_sounddevice(OUTPUT_FALLBACK)
            check_output_device(self.device)
            factory = sd.RawOutputStream
        try:
            self._stream = factory(samplerate=SAMPLE_RATE, channels=CHANNELS, dtype=SAMPLE_DTYPE,
                                   device=self.device, blocksize=self.blocksize, latency=self.latency,
                                   callback=self._callback)
            self._stream.start()
        except AudioDeviceError:
            raise
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"could not open the audio output ({exc}); {OUTPUT_FALLBACK}") from None

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
        handed: list[tuple[str, int, int, bytes | None]] = []  # (response id, samples, offset, audio)
        tapped = self.tracker.tap is not None
        filled = 0
        with self._lock:
            while filled < want and self._chunks:
                chunk = self._chunks[0]
                rid, view, offset = chunk
                take = min(want - filled, len(view) - offset)
                outdata[filled: filled + take] = view[offset: offset + take]
                handed.append((rid, take // BYTES_PER_SAMPLE, filled // BYTES_PER_SAMPLE,
                               bytes(view[offset: offset + take]) if tapped else None))
                filled += take
                chunk[2] = offset + take
                if chunk[2] >= len(view):
                    self._chunks.popleft()
        if filled < want:
            outdata[filled:want] = bytes(want - filled)
        for rid, n, offset, pcm in handed:
            self.tracker.played(rid, n, heard_at + offset / SAMPLE_RATE, pcm)

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
                await asyncio.wait_for(asyncio.to_thread(_shut), timeout=DEVICE_CLOSE_TIMEOUT)
            except TimeoutError:
                log.warning("the audio output did not close within %.0f s", DEVICE_CLOSE_TIMEOUT)
        await super().close()
