"""Where the candidate's audio comes from: an `AudioInput` yields PCM16 chunks at the pace of a microphone.

- `SilenceInput`: nobody speaking (an unattended run).
- `FileInput`: a recording played as if into a microphone, then silence.
- `ScriptedVoiceInput`: the simulated candidate's microphone; it reports when its speech starts and ends.
- `MicrophoneInput`: the real microphone, through ``sounddevice`` (imported when it opens).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any

from interview_kit.audio.devices import (
    DEVICE_CLOSE_TIMEOUT,
    INPUT_FALLBACK,
    AudioDeviceError,
    check_input_device,
    import_sounddevice,
)
from interview_kit.audio.format import (
    BYTES_PER_SAMPLE,
    CHANNELS,
    DEFAULT_CHUNK_MS,
    SAMPLE_DTYPE,
    SAMPLE_RATE,
)
from interview_kit.audio.wav import read_pcm_file
from interview_kit.clock import loop_time
from interview_kit.records import Rec

log = logging.getLogger(__name__)

#: ``on_speech(kind, position_ms)`` with kind "candidate.speech_started" / "candidate.speech_ended".
SpeechEvent = Callable[[str, float], None]

SPEECH_STARTED = Rec.CANDIDATE_SPEECH_STARTED
SPEECH_ENDED = Rec.CANDIDATE_SPEECH_ENDED


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
    `tap(chunk)`, when set, is called with each chunk just before it is yielded (to be sent): the
    session recorder's candidate track. `origin`: the clock time of stream position 0 (when `chunks()`
    began; None before, or for a device that does not say), so that position p was recorded at
    origin + p / speed.
    """

    def __init__(self, *, speed: float = 1.0, chunk_ms: int = DEFAULT_CHUNK_MS,
                 clock: Callable[[], float] = loop_time) -> None:
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
        self.tap: Callable[[bytes], None] | None = None
        self.origin: float | None = None

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

    def _tapped(self, chunk: bytes) -> bytes:
        """`chunk`, after telling the `tap` (whose failure never stops the input)."""
        if self.tap is not None:
            try:
                self.tap(chunk)
            except Exception:
                log.exception("the input's tap raised")
        return chunk

    async def _chunks_from(self, queue: asyncio.Queue[bytes],
                           quiet: Callable[[float], None]) -> AsyncIterator[bytes]:
        """Whole chunks of what a capture callback puts in `queue` (a sound card, a browser), as they
        fill, muted as asked; `quiet(seconds)` hears each second in which nothing came."""
        nbytes = self.chunk_samples * BYTES_PER_SAMPLE
        buf = bytearray()
        quiet_for = 0.0
        while not self._closed:
            try:
                buf += await asyncio.wait_for(queue.get(), timeout=1.0)
                quiet_for = 0.0
            except TimeoutError:
                quiet_for += 1.0
                quiet(quiet_for)
                continue
            while len(buf) >= nbytes and not self._closed:
                chunk, buf = bytes(buf[:nbytes]), buf[nbytes:]
                self._samples_yielded += self.chunk_samples
                yield self._tapped(bytes(nbytes) if self.muted else chunk)

    async def chunks(self) -> AsyncIterator[bytes]:
        nbytes = self.chunk_samples * BYTES_PER_SAMPLE
        period = self.chunk_ms / 1000 / self.speed
        origin = self.origin = self._clock()
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
            yield self._tapped(bytes(nbytes) if self.muted else chunk)


class SilenceInput(AudioInput):
    """Digital silence at the pace of a microphone (an unattended run with nobody speaking)."""

    def __init__(self, speed: float = 1.0, *, chunk_ms: int = DEFAULT_CHUNK_MS) -> None:
        super().__init__(speed=speed, chunk_ms=chunk_ms)



class FileInput(AudioInput):
    """A WAV (PCM16 mono 24 kHz) or raw ``.pcm`` file played as if into a microphone, then silence."""

    def __init__(self, path: Path | str, speed: float = 1.0, *, chunk_ms: int = DEFAULT_CHUNK_MS) -> None:
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
                 chunk_ms: int = DEFAULT_CHUNK_MS) -> None:
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

    def __init__(self, device: int | str | None = None, speed: float = 1.0, *,
                 chunk_ms: int = DEFAULT_CHUNK_MS, stream_factory: Callable[..., Any] | None = None) -> None:
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
            sd = import_sounddevice(INPUT_FALLBACK)
            check_input_device(self.device)
            factory = sd.RawInputStream

        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status:
                self.overflows += 1
            data = bytes(indata)
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(queue.put_nowait, data)

        try:
            self._stream = factory(samplerate=SAMPLE_RATE, channels=CHANNELS, dtype=SAMPLE_DTYPE,
                                   device=self.device, blocksize=self.chunk_samples, callback=callback)
            self._stream.start()
        except Exception as exc:
            self._stream = None
            raise AudioDeviceError(f"could not open the microphone ({exc}); {INPUT_FALLBACK}") from None

    async def chunks(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._open(asyncio.get_running_loop(), queue)

        def quiet(seconds: float) -> None:
            if seconds >= 3.0:
                log.warning("the microphone delivered nothing for %.0f s", seconds)

        try:
            async for chunk in self._chunks_from(queue, quiet):
                yield chunk
        finally:
            self.close()
